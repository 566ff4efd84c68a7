//! Shared helpers for the end-to-end tests (run by `cargo xtask test`, which builds the
//! kernel first and points `KERNEL_ELF` at it).

use qemu_harness::{kernel_elf, Guest, Qemu};
use std::time::Duration;

/// Generous timeout for one interaction (TCG on a loaded 2-core machine).
pub const T: Duration = Duration::from_secs(20);

/// A default guest.
pub fn qemu() -> Qemu {
    let k = kernel_elf();
    assert!(
        k.exists(),
        "{} is missing: run `cargo xtask build` (or `cargo xtask test`)",
        k.display()
    );
    Qemu::new(k)
}

/// Boots the default guest and waits for the shell prompt.
pub fn boot() -> Guest {
    boot_with(qemu())
}

/// Boots `q` and waits for the shell prompt.
pub fn boot_with(q: Qemu) -> Guest {
    let mut g = q.spawn().expect("cannot start qemu-system-aarch64");
    if let Err(e) = g.expect("\n> ", T) {
        panic!("no prompt: {e}");
    }
    g
}

/// Runs a command and returns its output (without the echo and the next prompt).
pub fn cmd(g: &mut Guest, line: &str) -> String {
    match g.run(line, T) {
        Ok(s) => s,
        Err(e) => panic!("command {line:?}: {e}"),
    }
}
