//! `mimservice-sim`: runs the Lithnet REST API v2 simulator until interrupted.
//!
//! ```text
//! mimservice-sim [--listen 127.0.0.1:8080] [--tls] [--user NAME:PASSWORD]... [--approve TYPE.ATTRIBUTE=VALUE]...
//! ```
//! With `--tls` the generated CA is written to `mimservice-sim-ca.pem` in the working directory.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::SocketAddr;

use mimservice_sim::{ApprovalRule, Operation, SimOptions, SimUser, serve};

fn usage() -> ! {
    eprintln!(
        "usage: mimservice-sim [--listen ADDR] [--tls] [--user NAME:PASSWORD]... [--approver NAME:PASSWORD]... [--approve TYPE.ATTRIBUTE[=VALUE]]..."
    );
    std::process::exit(2)
}

fn main() {
    let mut options = SimOptions::default();
    let mut listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8080));
    let mut users = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--listen" => listen = value().parse().unwrap_or_else(|_| usage()),
            "--tls" => options.tls = true,
            "--user" | "--approver" => {
                let v = value();
                let (name, password) = v.split_once(':').unwrap_or_else(|| usage());
                users.push(SimUser::new(name, password, arg == "--approver"));
            }
            "--approve" => {
                let v = value();
                let (target, wanted) = match v.split_once('=') {
                    Some((t, w)) => (t.to_owned(), Some(w.to_owned())),
                    None => (v.clone(), None),
                };
                let (object_type, attribute) = target.split_once('.').unwrap_or_else(|| usage());
                options.approvals.push(ApprovalRule {
                    object_type: object_type.into(),
                    operations: vec![Operation::Create, Operation::Update],
                    attribute: Some(attribute.into()),
                    value: wanted,
                });
            }
            _ => usage(),
        }
    }
    if !users.is_empty() {
        options.users = users;
    }
    let handle = match serve(listen, options) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("mimservice-sim: cannot listen on {listen}: {e}");
            std::process::exit(1);
        }
    };
    if let Some(ca) = handle.ca_pem() {
        if let Err(e) = std::fs::write("mimservice-sim-ca.pem", ca) {
            eprintln!("mimservice-sim: cannot write mimservice-sim-ca.pem: {e}");
        } else {
            println!("CA written to mimservice-sim-ca.pem");
        }
    }
    println!("Lithnet REST API v2 simulator at {}v2/", handle.base_url());
    // Serve until the process is interrupted.
    loop {
        std::thread::park();
    }
}
