//! AArch64 architecture layer.
//!
//! Everything that needs assembly or system registers lives here, behind small safe
//! interfaces: the boot entry (EL2→EL1 drop, BSS clearing, stacks), the exception vectors
//! and trap frame, the MMU, cache maintenance, the exception fixup table used for probing
//! memory safely, and the non-local recovery used to contain faults.
//!
//! The crate does not know about boards or the kernel's policy. The kernel provides two
//! symbols the assembly calls: `kernel_entry(dtb: usize, entry_el: u64) -> !` and
//! `kernel_trap(frame: &mut TrapFrame, kind: u64)`.
#![no_std]

#[cfg(not(target_arch = "aarch64"))]
compile_error!(
    "`arch` runs only on the kernel target: build the kernel with `cargo xtask build` (or run `cargo xtask test`), not `cargo build -p arch` for the host"
);

pub mod boot;
pub mod cache;
pub mod cpu;
pub mod exception;
pub mod mmu;
pub mod probe;
pub mod recover;

pub use exception::{TrapFrame, TrapKind};
