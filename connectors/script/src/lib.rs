//! The script connector: a connector written as a script in any language, spoken to over a
//! versioned JSON protocol on the script's stdin and stdout (`PROTOCOL.md`).
//!
//! This first step holds the configuration and the wire format; workers follow.
#![allow(dead_code)]

pub mod config;
mod protocol;

pub use config::{ScriptConfig, SecretParameter};
pub use protocol::PROTOCOL_VERSION;
