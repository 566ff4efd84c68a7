//! Installing what the commands need, or saying exactly what to install.

use std::process::{Command, Stdio};

fn have(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Makes sure the Rust target is installed.
pub fn ensure_target() -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match installed {
        Ok(o) if String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == crate::TARGET) => Ok(()),
        Ok(_) => {
            println!("==> installing the Rust target {}", crate::TARGET);
            crate::run(Command::new("rustup").args(["target", "add", crate::TARGET]))
                .map_err(|e| format!("{e}\nInstall it with: rustup target add {}", crate::TARGET))
        }
        Err(_) => Err(format!(
            "rustup not found. Install Rust with rustup (https://rustup.rs), then: rustup target add {}",
            crate::TARGET
        )),
    }
}

/// Makes sure the file at `path` exists, installing Debian `package` when root.
pub fn ensure_file(path: &str, package: &str) -> Result<(), String> {
    if std::path::Path::new(path).exists() {
        return Ok(());
    }
    if !is_root() {
        return Err(format!(
            "{path} is missing. Install it with: sudo apt-get install {package}"
        ));
    }
    println!("==> installing {package} with apt-get");
    let _ = Command::new("apt-get").args(["update", "-qq"]).status();
    let mut c = Command::new("apt-get");
    c.args(["install", "-y", "-qq", "--no-install-recommends", package])
        .env("DEBIAN_FRONTEND", "noninteractive");
    crate::run(&mut c).map_err(|e| format!("{e}\nInstall by hand: apt-get install {package}"))
}

/// Makes sure `program` exists, installing Debian `package` with apt-get when root.
pub fn ensure_apt(program: &str, package: &str) -> Result<(), String> {
    ensure_apt_many(&[(program, package)])
}

/// As [`ensure_apt`] for several programs at once (one apt-get run).
pub fn ensure_apt_many(items: &[(&str, &str)]) -> Result<(), String> {
    let missing: Vec<&str> = items
        .iter()
        .filter(|(prog, _)| !have(prog, "--version"))
        .map(|(_, pkg)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    if !is_root() || !have("apt-get", "--version") {
        return Err(format!(
            "missing tools. Install them with: sudo apt-get install {list}"
        ));
    }
    println!("==> installing {list} with apt-get");
    let update = Command::new("apt-get").args(["update", "-qq"]).status();
    if !matches!(update, Ok(s) if s.success()) {
        return Err(format!(
            "apt-get update failed. Install by hand: apt-get install {list}"
        ));
    }
    let mut c = Command::new("apt-get");
    c.args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive");
    crate::run(&mut c).map_err(|e| format!("{e}\nInstall by hand: apt-get install {list}"))
}

/// QEMU for AArch64.
pub fn ensure_qemu() -> Result<(), String> {
    ensure_apt("qemu-system-aarch64", "qemu-system-arm")
}

/// Cross tools used by the linker's differential tests and module builds.
pub fn ensure_test_tools() -> Result<(), String> {
    ensure_apt_many(&[
        ("aarch64-linux-gnu-ld", "binutils-aarch64-linux-gnu"),
        ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"),
        ("clang", "clang"),
        ("ld.lld", "lld"),
    ])
}
