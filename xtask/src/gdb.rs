//! `cargo xtask gdb`: attach gdb-multiarch to a kernel started with `cargo xtask run --gdb`.

use crate::kernel_elf;
use std::process::Command;

pub fn cmd_gdb(port: u16) -> Result<(), String> {
    crate::deps::ensure(&["gdb-multiarch"])?;
    let k = kernel_elf();
    let status = Command::new("gdb-multiarch")
        .arg(&k)
        .args([
            "-ex",
            "set architecture aarch64",
            "-ex",
            &format!("target remote :{port}"),
        ])
        .status()
        .map_err(|e| format!("cannot start gdb-multiarch: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("gdb exited with {status}"))
}
