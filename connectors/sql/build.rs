//! Lets the vendored unixODBC driver manager find drivers registered by file name.
//!
//! Debian's and Ubuntu's driver packages register their driver in `/etc/odbcinst.ini` by bare file name
//! (`Driver=psqlodbcw.so`, `Driver=libmaodbc.so`) and install it in `/usr/lib/<multiarch>/odbc`.
//! The system unixODBC looks there because it was configured with that module directory; the
//! driver manager that odbc-api's `vendored-unix-odbc` compiles in has no module directory and
//! opens a driver with a plain `dlopen(name)`, which only searches the run path of the
//! executable that calls it, `LD_LIBRARY_PATH`, `ld.so.cache` and `/lib`, `/usr/lib`. So every
//! executable of this workspace that talks ODBC is linked with the driver directories as its
//! run path (`DT_RUNPATH`): `connector-host` itself and the test, bench and tool executables
//! of the crates that share this script (`build = "…/connectors/sql/build.rs"` in host,
//! testkit, tests and bench).
//!
//! The run path only changes where a `dlopen()` called from the executable itself looks, which
//! only the vendored driver manager does: with the system libodbc (`system-odbc`), libodbc's own
//! search path applies and this is inert. A driver registered by absolute path (Microsoft's
//! msodbcsql18, Red Hat's packages) needs none of it.

use std::env;

fn main() {
    // Cargo reruns this script when the script itself changes; nothing else matters to it.
    println!("cargo:rerun-if-changed=Cargo.toml");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let libc = env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if let Some(multiarch) = debian_multiarch(&arch, &libc) {
        println!("cargo:rustc-link-arg=-Wl,-rpath,/usr/lib/{multiarch}/odbc");
    }
}

/// Debian's multiarch tuple for a Rust target (the `/usr/lib/<tuple>` directory name); `None`
/// for targets without an unambiguous one, whose drivers then need an absolute path or
/// `LD_LIBRARY_PATH`.
fn debian_multiarch(arch: &str, libc: &str) -> Option<&'static str> {
    match (arch, libc) {
        ("x86_64", "gnu") => Some("x86_64-linux-gnu"),
        ("aarch64", "gnu") => Some("aarch64-linux-gnu"),
        ("x86", "gnu") => Some("i386-linux-gnu"),
        ("s390x", "gnu") => Some("s390x-linux-gnu"),
        ("riscv64", "gnu") => Some("riscv64-linux-gnu"),
        _ => None,
    }
}
