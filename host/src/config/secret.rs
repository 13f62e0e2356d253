//! Secrets and bearer-token hashes.
//!
//! A [`Secret`] never prints its contents (`Debug` shows `[redacted]`), so a secret cannot reach
//! a log line by accident. A [`TokenHash`] is what the host keeps of a connector's token: its
//! SHA-256, compared in constant time.

use std::fmt;
use std::path::Path;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Minimum token length; Entra requires at least 12 characters.
pub const MIN_TOKEN_LEN: usize = 12;

/// A secret value that does not print itself.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: String) -> Self {
        Secret(value)
    }
    /// The secret itself; call only where it is used, never to log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

pub(super) fn read_file(path: &Path, what: &str) -> Result<Secret, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{what}: cannot read {}: {e}", path.display()))?;
    let first = text.lines().next().unwrap_or_default().trim().to_owned();
    if first.is_empty() {
        return Err(format!("{what}: {} is empty", path.display()));
    }
    Ok(Secret(first))
}

pub(super) fn read_env(var: &str, what: &str) -> Result<Secret, String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Ok(Secret(v.trim().to_owned())),
        _ => Err(format!("{what}: environment variable {var} is not set")),
    }
}

/// The SHA-256 of a bearer token.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Hashes a token, refusing one shorter than [`MIN_TOKEN_LEN`].
    pub fn of_token(token: &str) -> Result<Self, String> {
        if token.chars().count() < MIN_TOKEN_LEN {
            return Err(format!(
                "the token must be at least {MIN_TOKEN_LEN} characters long (Entra requires it)"
            ));
        }
        Ok(Self::digest(token))
    }

    fn digest(token: &str) -> Self {
        TokenHash(Sha256::digest(token.as_bytes()).into())
    }

    /// Parses `sha256:<64 hex digits>`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let hex = text
            .strip_prefix("sha256:")
            .ok_or_else(|| "token hash must look like sha256:<64 hex digits>".to_owned())?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("token hash must look like sha256:<64 hex digits>".to_owned());
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            let pair = hex.get(2 * i..2 * i + 2).unwrap_or("00");
            *byte = u8::from_str_radix(pair, 16).map_err(|e| e.to_string())?;
        }
        Ok(TokenHash(out))
    }

    /// Whether `presented` is the token this is the hash of. Constant time in the hash.
    pub fn matches(&self, presented: &str) -> bool {
        bool::from(Self::digest(presented).0.ct_eq(&self.0))
    }

    /// `sha256:<hex>`, the form written into configuration files.
    pub fn to_config_string(&self) -> String {
        let mut s = String::from("sha256:");
        for b in self.0 {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(sha256:…)")
    }
}

/// A new random token: 32 bytes from the OS generator, URL-safe, 43 characters.
pub fn generate_token() -> String {
    use rand::RngCore;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = [0u8; 43];
    rand::rng().fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| char::from(ALPHABET.get(usize::from(b & 63)).copied().unwrap_or(b'A')))
        .collect()
}
