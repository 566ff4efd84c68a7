//! Exception vectors and the trap frame.
//!
//! All 16 vectors are installed. Each saves the full register state into a [`TrapFrame`] on
//! the exception stack (SP_EL1) and calls the kernel's `kernel_trap(frame, kind)`. On return
//! the (possibly modified) frame is restored and `eret` resumes at `frame.elr`.
//!
//! Every trap frame also holds a frame record `{x29, elr}` followed by
//! [`EXCEPTION_FRAME_MARKER`], and x29 points at that record while the handler runs. A
//! frame-pointer unwinder therefore walks from the handler's frames into the interrupted
//! code and can tell that it crossed an exception boundary.

/// Marker stored right after the frame record inside a trap frame ("EXCFRAME").
pub const EXCEPTION_FRAME_MARKER: u64 = 0x4558_4346_5241_4d45;

/// The register state saved on exception entry. Layout is shared with the assembly below.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TrapFrame {
    /// x0..x30.
    pub x: [u64; 31],
    /// The interrupted stack pointer (SP_EL0 for thread context, SP_EL1 when nested).
    pub sp: u64,
    /// Exception link register: where `eret` resumes.
    pub elr: u64,
    /// Saved program status.
    pub spsr: u64,
    /// Exception syndrome.
    pub esr: u64,
    /// Fault address.
    pub far: u64,
    /// Frame record for unwinding: saved x29 and the interrupted pc.
    pub record: [u64; 2],
    /// [`EXCEPTION_FRAME_MARKER`].
    pub marker: u64,
    _pad: u64,
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == 320);

/// Which of the 16 vectors was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrapKind(pub u64);

/// The type of exception within a vector group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exception {
    /// Synchronous exception.
    Sync,
    /// IRQ.
    Irq,
    /// FIQ.
    Fiq,
    /// SError.
    SError,
}

/// Where the exception came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// EL1 running on SP_EL0: kernel thread context.
    CurrentElSp0,
    /// EL1 running on SP_EL1: inside an exception handler (nested).
    CurrentElSpx,
    /// EL0 in AArch64 state.
    LowerEl64,
    /// EL0 in AArch32 state.
    LowerEl32,
}

impl TrapKind {
    /// The exception type.
    pub fn exception(self) -> Exception {
        match self.0 & 3 {
            0 => Exception::Sync,
            1 => Exception::Irq,
            2 => Exception::Fiq,
            _ => Exception::SError,
        }
    }

    /// The vector group.
    pub fn origin(self) -> Origin {
        match (self.0 >> 2) & 3 {
            0 => Origin::CurrentElSp0,
            1 => Origin::CurrentElSpx,
            2 => Origin::LowerEl64,
            _ => Origin::LowerEl32,
        }
    }

    /// A short name, e.g. `"EL1t sync"`.
    pub fn name(self) -> &'static str {
        const NAMES: [&str; 16] = [
            "EL1t sync",
            "EL1t IRQ",
            "EL1t FIQ",
            "EL1t SError",
            "EL1h sync",
            "EL1h IRQ",
            "EL1h FIQ",
            "EL1h SError",
            "EL0 64-bit sync",
            "EL0 64-bit IRQ",
            "EL0 64-bit FIQ",
            "EL0 64-bit SError",
            "EL0 32-bit sync",
            "EL0 32-bit IRQ",
            "EL0 32-bit FIQ",
            "EL0 32-bit SError",
        ];
        NAMES[(self.0 & 15) as usize]
    }
}

impl TrapFrame {
    /// Exception class, ESR[31:26].
    pub fn ec(&self) -> u64 {
        (self.esr >> 26) & 0x3f
    }

    /// Whether `eret` from this frame returns to thread context (EL1t), where the kernel
    /// can redirect execution (see [`crate::recover`]).
    pub fn from_thread(&self) -> bool {
        self.spsr & 0xf == 0b0100
    }
}

core::arch::global_asm!(
    r#"
.macro VECTOR kind
    .balign 0x80
    sub     sp, sp, #320
    stp     x0, x1, [sp, #0]
    mov     x0, #\kind
    b       __trap_common
.endm

    .section .text.vectors, "ax"
    .balign 0x800
    .global __vectors
    .type __vectors, %function
__vectors:
    VECTOR 0
    VECTOR 1
    VECTOR 2
    VECTOR 3
    VECTOR 4
    VECTOR 5
    VECTOR 6
    VECTOR 7
    VECTOR 8
    VECTOR 9
    VECTOR 10
    VECTOR 11
    VECTOR 12
    VECTOR 13
    VECTOR 14
    VECTOR 15
    .size __vectors, . - __vectors

    .type __trap_common, %function
__trap_common:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    // x30 and the interrupted SP: SP_EL0 for vectors 0-3, else SP_EL1 before this frame.
    add     x2, sp, #320
    cmp     x0, #4
    b.hs    1f
    mrs     x2, sp_el0
1:  stp     x30, x2, [sp, #240]
    mrs     x3, elr_el1
    mrs     x4, spsr_el1
    stp     x3, x4, [sp, #256]
    mrs     x5, esr_el1
    mrs     x6, far_el1
    stp     x5, x6, [sp, #272]
    stp     x29, x3, [sp, #288]     // frame record: x29, elr
    movz    x7, #0x4d45
    movk    x7, #0x5241, lsl #16
    movk    x7, #0x4346, lsl #32
    movk    x7, #0x4558, lsl #48
    str     x7, [sp, #304]
    add     x29, sp, #288
    mov     x1, x0
    mov     x0, sp
    mov     x19, x1
    bl      kernel_trap
    // Restore. The handler may have changed elr, spsr, sp (thread context) or registers.
    ldp     x3, x4, [sp, #256]
    msr     elr_el1, x3
    msr     spsr_el1, x4
    cmp     x19, #4
    b.hs    2f
    ldr     x2, [sp, #248]
    msr     sp_el0, x2
2:  ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    ldr     x30, [sp, #240]
    add     sp, sp, #320
    eret
    .size __trap_common, . - __trap_common
"#
);

/// An entry of the exception fixup table: a faulting instruction and where to resume.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct FixupEntry {
    /// Address of the instruction that may fault.
    pub insn: u64,
    /// Address to continue at when it does.
    pub fixup: u64,
}

extern "C" {
    static __extable_start: FixupEntry;
    static __extable_end: FixupEntry;
}

/// Looks `pc` up in the exception fixup table (section `__ex_table`).
pub fn fixup_for(pc: u64) -> Option<u64> {
    // SAFETY: the linker script brackets the `__ex_table` section with these two symbols;
    // the section holds only `FixupEntry` records emitted by this crate's assembly.
    let table = unsafe {
        let start = core::ptr::addr_of!(__extable_start);
        let end = core::ptr::addr_of!(__extable_end);
        let len = (end as usize - start as usize) / core::mem::size_of::<FixupEntry>();
        core::slice::from_raw_parts(start, len)
    };
    table.iter().find(|e| e.insn == pc).map(|e| e.fixup)
}

/// Applies a fixup to `frame` if its faulting pc has one. Returns whether it did.
pub fn try_fixup(frame: &mut TrapFrame) -> bool {
    match fixup_for(frame.elr) {
        Some(to) => {
            frame.elr = to;
            true
        }
        None => false,
    }
}
