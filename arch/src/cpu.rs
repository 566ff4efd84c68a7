//! Small CPU helpers over system registers.

use aarch64_cpu::asm;
use aarch64_cpu::registers::*;

/// Waits for an interrupt.
#[inline]
pub fn wait_for_interrupt() {
    asm::wfi();
}

/// Unmasks IRQs.
#[inline]
pub fn irq_enable() {
    DAIF.modify(DAIF::I::Unmasked);
}

/// Masks IRQs, returning whether they were unmasked before.
#[inline]
pub fn irq_disable() -> bool {
    let was = !DAIF.is_set(DAIF::I);
    DAIF.modify(DAIF::I::Masked);
    was
}

/// Restores the IRQ mask saved by [`irq_disable`].
#[inline]
pub fn irq_restore(was_enabled: bool) {
    if was_enabled {
        irq_enable();
    }
}

/// Runs `f` with IRQs masked.
pub fn without_irqs<R>(f: impl FnOnce() -> R) -> R {
    let was = irq_disable();
    let r = f();
    irq_restore(was);
    r
}

/// The CPU number (MPIDR Aff0).
pub fn cpu_id() -> u64 {
    MPIDR_EL1.get() & 0xff
}

/// MIDR_EL1: implementer, part number, revision.
pub fn midr() -> u64 {
    MIDR_EL1.get()
}

/// A human-readable CPU model from MIDR, e.g. `"Cortex-A72 r0p3"`.
pub fn cpu_model() -> (&'static str, u64, u64) {
    let midr = MIDR_EL1.get();
    let implementer = (midr >> 24) & 0xff;
    let part = (midr >> 4) & 0xfff;
    let variant = (midr >> 20) & 0xf;
    let revision = midr & 0xf;
    let name = match (implementer, part) {
        (0x41, 0xd03) => "Cortex-A53",
        (0x41, 0xd04) => "Cortex-A35",
        (0x41, 0xd05) => "Cortex-A55",
        (0x41, 0xd07) => "Cortex-A57",
        (0x41, 0xd08) => "Cortex-A72",
        (0x41, 0xd09) => "Cortex-A73",
        (0x41, 0xd0b) => "Cortex-A76",
        (0x41, 0xd0c) => "Neoverse-N1",
        (0x41, 0xd40) => "Neoverse-V1",
        (0x41, 0xd49) => "Neoverse-N2",
        (0x00, _) => "QEMU max",
        (0x41, _) => "Arm (unknown part)",
        _ => "unknown",
    };
    (name, variant, revision)
}

/// The current exception level (1 after boot).
pub fn current_el() -> u64 {
    CurrentEL.read(CurrentEL::EL)
}

/// Reads the frame pointer, link register and stack pointer of the caller's context.
#[inline(always)]
pub fn current_frame() -> (u64, u64, u64) {
    let fp: u64;
    let lr: u64;
    let sp: u64;
    // SAFETY: reads three registers; no memory access, no side effects.
    unsafe {
        core::arch::asm!("mov {0}, x29", "mov {1}, x30", "mov {2}, sp",
            out(reg) fp, out(reg) lr, out(reg) sp, options(nomem, nostack, preserves_flags));
    }
    (fp, lr, sp)
}

/// Reads all general-purpose registers x0..x30 as they are at this point, plus sp and the pc
/// of this sequence. Used by the panic path to build a register dump.
#[inline(always)]
pub fn snapshot_registers(x: &mut [u64; 31]) -> (u64, u64) {
    let sp: u64;
    let pc: u64;
    let base = x.as_mut_ptr();
    // SAFETY: stores 31 registers into the 31-element array `x`, which we borrow mutably.
    unsafe {
        core::arch::asm!(
            "stp x0, x1, [{b}, #0]", "stp x2, x3, [{b}, #16]", "stp x4, x5, [{b}, #32]",
            "stp x6, x7, [{b}, #48]", "stp x8, x9, [{b}, #64]", "stp x10, x11, [{b}, #80]",
            "stp x12, x13, [{b}, #96]", "stp x14, x15, [{b}, #112]",
            "stp x16, x17, [{b}, #128]", "stp x18, x19, [{b}, #144]",
            "stp x20, x21, [{b}, #160]", "stp x22, x23, [{b}, #176]",
            "stp x24, x25, [{b}, #192]", "stp x26, x27, [{b}, #208]",
            "stp x28, x29, [{b}, #224]", "str x30, [{b}, #240]",
            "mov {sp}, sp", "adr {pc}, .",
            b = in(reg) base, sp = out(reg) sp, pc = out(reg) pc,
            options(nostack, preserves_flags));
    }
    (sp, pc)
}

/// Reads the current PSTATE fields (NZCV, DAIF, CurrentEL, SPSel) in SPSR layout.
pub fn pstate() -> u64 {
    let nzcv: u64;
    // SAFETY: reads the NZCV flags; no side effects.
    unsafe { core::arch::asm!("mrs {0}, nzcv", out(reg) nzcv, options(nomem, nostack)) };
    nzcv | DAIF.get() | CurrentEL.get() | SPSel.get()
}

/// Counter frequency in Hz.
pub fn counter_frequency() -> u64 {
    CNTFRQ_EL0.get()
}

/// The virtual counter.
#[inline]
pub fn counter() -> u64 {
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
    CNTVCT_EL0.get()
}

/// Executes `brk #imm` (used by tests).
#[inline(never)]
pub fn breakpoint() {
    // SAFETY: raises a synchronous BRK exception that the kernel's handler resumes past.
    unsafe { core::arch::asm!("brk #0x1234") };
}

/// Executes `svc #imm` (used by tests).
#[inline(never)]
pub fn supervisor_call() -> u64 {
    let r: u64;
    // SAFETY: raises an SVC exception; the kernel's handler sets x0 and returns.
    unsafe { core::arch::asm!("mov x0, #0", "svc #0x42", out("x0") r) };
    r
}

/// Turns strict alignment checking of data accesses (SCTLR_EL1.A) on or off.
pub fn set_alignment_check(on: bool) {
    if on {
        SCTLR_EL1.modify(SCTLR_EL1::A::Enable);
    } else {
        SCTLR_EL1.modify(SCTLR_EL1::A::Disable);
    }
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}
