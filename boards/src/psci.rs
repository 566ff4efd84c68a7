//! PSCI (Arm DEN 0022): system power-off and reset through the firmware (QEMU).

/// How to call the PSCI firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    /// `hvc #0` (QEMU virt without EL2 emulated, the default).
    Hvc,
    /// `smc #0` (when EL3 firmware, or EL2 is emulated).
    Smc,
}

const SYSTEM_OFF: u64 = 0x8400_0008;
const SYSTEM_RESET: u64 = 0x8400_0009;
const PSCI_VERSION: u64 = 0x8400_0000;

fn call(conduit: Conduit, fid: u64) -> u64 {
    let mut x0 = fid;
    // SAFETY: an SMCCC call into the firmware with no memory arguments; registers x0-x3 are
    // arguments/results and x4-x17 may be clobbered per SMCCC v1.0.
    unsafe {
        match conduit {
            Conduit::Hvc => {
                core::arch::asm!("hvc #0", inout("x0") x0, out("x1") _, out("x2") _, out("x3") _,
                out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _, out("x9") _, out("x10") _,
                out("x11") _, out("x12") _, out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _)
            }
            Conduit::Smc => {
                core::arch::asm!("smc #0", inout("x0") x0, out("x1") _, out("x2") _, out("x3") _,
                out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _, out("x9") _, out("x10") _,
                out("x11") _, out("x12") _, out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _)
            }
        }
    }
    x0
}

/// The PSCI version as (major, minor).
pub fn version(conduit: Conduit) -> (u16, u16) {
    let v = call(conduit, PSCI_VERSION);
    ((v >> 16) as u16, v as u16)
}

/// Powers the system off. Returns only if the firmware refused.
pub fn system_off(conduit: Conduit) {
    call(conduit, SYSTEM_OFF);
}

/// Resets the system. Returns only if the firmware refused.
pub fn system_reset(conduit: Conduit) {
    call(conduit, SYSTEM_RESET);
}
