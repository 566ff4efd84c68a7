//! Helpers shared by the integration tests: locating external tools (failing loudly with the
//! Debian package to install) and running them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian package that provides a tool.
pub fn package_for(tool: &str) -> &'static str {
    match tool {
        "aarch64-linux-gnu-as" | "aarch64-linux-gnu-ld" | "aarch64-linux-gnu-objcopy" => {
            "binutils-aarch64-linux-gnu"
        }
        "aarch64-linux-gnu-gcc" => "gcc-aarch64-linux-gnu",
        "clang" => "clang",
        "ld.lld" => "lld",
        "qemu-system-aarch64" => "qemu-system-arm",
        "python3" => "python3",
        _ => "(unknown package)",
    }
}

/// Panics (fails the test) with the Debian package name if `tool` is not on PATH.
pub fn require(tool: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(tool);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "required tool `{tool}` not found on PATH: install the Debian package `{}` (apt-get install {})",
        package_for(tool),
        package_for(tool)
    );
}

/// Run a command, panicking with its stderr if it fails.
pub fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.stdout
}

/// A fresh scratch directory under the target directory.
pub fn scratch(name: &str) -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let d = base.join(format!("modloader-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create scratch dir");
    d
}

/// `modloader/tests/fixtures`, from either crate's tests.
pub fn fixtures() -> PathBuf {
    let m = Path::new(env!("CARGO_MANIFEST_DIR"));
    if m.join("tests/fixtures").is_dir() {
        m.join("tests/fixtures")
    } else {
        m.join("../../modloader/tests/fixtures")
    }
}

/// Assemble an AArch64 source file with GNU as.
pub fn assemble(src: &Path, out: &Path) {
    let as_ = require("aarch64-linux-gnu-as");
    run(Command::new(as_).arg(src).arg("-o").arg(out));
}
