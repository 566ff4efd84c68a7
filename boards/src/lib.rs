//! Device drivers and boards.
//!
//! The drivers ("the chip provides") know one device each: the PL011 UART, the GICv2 and
//! GICv3 interrupt controllers, the Arm generic timer, PSCI and Arm semihosting. A board
//! module ("the board picks") discovers which devices exist and where, from the device tree
//! with documented fallbacks. Only QEMU's `virt` board exists today.
#![no_std]

#[cfg(not(target_arch = "aarch64"))]
compile_error!(
    "`boards` runs only on the kernel target: build the kernel with `cargo xtask build` (or run `cargo xtask test`), not `cargo build -p boards` for the host"
);

pub mod gic;
pub mod mmio;
pub mod pl011;
pub mod psci;
pub mod semihosting;
pub mod timer;
pub mod virt;
