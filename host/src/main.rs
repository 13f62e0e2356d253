//! The `connector-host` binary: a thin wrapper around [`connector_host::cli`].

fn main() -> std::process::ExitCode {
    match connector_host::cli::main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
