//! Non-local recovery: run a function and get control back if it faults or panics.
//!
//! [`catch`] records the callee-saved registers, the stack pointer and the interrupt masks
//! in a [`JumpBuf`] and calls the function. If the function faults (in thread context),
//! the trap handler can redirect the trap frame with [`redirect`] so that `eret` lands in
//! `__recover_longjmp`, which restores all of them and makes `catch` return the given
//! code. A panic handler can call [`longjmp`] directly.
//!
//! Nothing on the abandoned stack frames is dropped: memory they owned is leaked and locks
//! they held stay held. The kernel uses this for tests that expect a fault and for
//! containing faults in loadable modules.

/// Saved registers of a [`catch`] call: x19..x30, sp and the interrupt masks (DAIF).
#[repr(C)]
#[derive(Default, Debug)]
pub struct JumpBuf {
    regs: [u64; 13],
    daif: u64,
}

core::arch::global_asm!(
    r#"
    // Call-frame information for debuggers (gdb cannot analyse these hand-written
    // prologues): kept in the non-allocated .debug_frame of kernel.elf only.
    .cfi_sections .debug_frame
    .section .text.recover, "ax"
    .global __recover_catch
    .type __recover_catch, %function
    // x0 = fn(arg), x1 = arg, x2 = &mut JumpBuf. Returns 0, or the longjmp code.
__recover_catch:
    .cfi_startproc
    stp     x19, x20, [x2, #0]
    stp     x21, x22, [x2, #16]
    stp     x23, x24, [x2, #32]
    stp     x25, x26, [x2, #48]
    stp     x27, x28, [x2, #64]
    stp     x29, x30, [x2, #80]
    mov     x3, sp
    str     x3, [x2, #96]
    mrs     x3, daif
    str     x3, [x2, #104]
    stp     x29, x30, [sp, #-16]!
    .cfi_def_cfa_offset 16
    .cfi_offset x29, -16
    .cfi_offset x30, -8
    mov     x29, sp
    .cfi_def_cfa x29, 16
    mov     x3, x0
    mov     x0, x1
    blr     x3
    ldp     x29, x30, [sp], #16
    .cfi_def_cfa sp, 0
    .cfi_restore x29
    .cfi_restore x30
    mov     x0, #0
    ret
    .cfi_endproc
    .size __recover_catch, . - __recover_catch

    .global __recover_longjmp
    .type __recover_longjmp, %function
    // x0 = &JumpBuf, x1 = code (non-zero).
__recover_longjmp:
    // Abandoned code may have left SP_EL1 selected or moved: back to SP_EL0, SP_EL1 at the
    // top of the exception stack (interrupts masked until DAIF is reloaded below).
    msr     daifset, #0xf
    msr     spsel, #1
    adrp    x2, __exception_stack_top
    add     x2, x2, :lo12:__exception_stack_top
    mov     sp, x2
    msr     spsel, #0
    ldp     x19, x20, [x0, #0]
    ldp     x21, x22, [x0, #16]
    ldp     x23, x24, [x0, #32]
    ldp     x25, x26, [x0, #48]
    ldp     x27, x28, [x0, #64]
    ldp     x29, x30, [x0, #80]
    ldr     x2, [x0, #96]
    mov     sp, x2
    // The interrupt masks of the catch call: code abandoned with interrupts masked (a
    // module that masked them, then panicked) must not leave the kernel deaf.
    ldr     x2, [x0, #104]
    msr     daif, x2
    mov     x0, x1
    ret
    .size __recover_longjmp, . - __recover_longjmp
"#
);

extern "C" {
    fn __recover_catch(f: extern "C" fn(*mut u8), arg: *mut u8, jb: *mut JumpBuf) -> u64;
    fn __recover_longjmp(jb: *const JumpBuf, code: u64) -> !;
}

extern "C" fn trampoline<F: FnMut()>(arg: *mut u8) {
    // SAFETY: `arg` is the `&mut F` that `catch` passed, alive for the whole call.
    let f = unsafe { &mut *(arg as *mut F) };
    f();
}

/// Runs `f`. Returns 0 when it returns normally, or the non-zero code passed to
/// [`longjmp`] / [`redirect`] when it was abandoned.
///
/// `jb` must stay registered (by the caller's policy) only while this call runs.
pub fn catch<F: FnMut()>(jb: &mut JumpBuf, mut f: F) -> u64 {
    // `__recover_catch` saves callee-saved state into `jb`, calls the trampoline with a pointer
    // to `f` (valid for the call), and returns normally or via `__recover_longjmp`, which
    // restores exactly the state saved here, i.e. a normal return from this call.
    let chain = call_chain();
    // SAFETY: see above.
    let code = unsafe { __recover_catch(trampoline::<F>, &mut f as *mut F as *mut u8, jb) };
    // Module calls abandoned inside `f` never unlinked their save areas.
    set_call_chain(chain);
    code
}

/// Abandons the running [`catch`] call from thread context and makes it return `code`.
///
/// # Safety
/// `jb` must belong to a [`catch`] call that is still running on the current stack.
pub unsafe fn longjmp(jb: &JumpBuf, code: u64) -> ! {
    // SAFETY: guaranteed by the caller: the registers in `jb` describe a live frame.
    unsafe { __recover_longjmp(jb, code.max(1)) }
}

/// Rewrites a thread-context trap frame so that `eret` abandons the running [`catch`] call,
/// which then returns `code`. IRQs are unmasked at the landing point.
///
/// # Safety
/// `jb` must belong to a [`catch`] call still running on the interrupted thread's stack,
/// and the frame must come from thread context (see [`crate::TrapFrame::from_thread`]).
pub unsafe fn redirect(frame: &mut crate::TrapFrame, jb: &JumpBuf, code: u64) {
    frame.x[0] = jb as *const JumpBuf as u64;
    frame.x[1] = code.max(1);
    frame.elr = __recover_longjmp as *const () as u64;
    frame.spsr = 0b0100; // EL1t, DAIF clear
}

/// Registers a module call may not change: x19..x30, sp and DAIF, saved by
/// [`module_call`] before it enters a module and reloaded when the module returns.
#[repr(C)]
#[derive(Default, Debug)]
pub struct CallSave {
    regs: [u64; 13],
    daif: u64,
    prev: u64,
    _pad: u64,
}

core::arch::global_asm!(
    r#"
    .section .text.recover, "ax"
    .global __module_call
    .type __module_call, %function
    // x0 = function, x1..x3 = its first three arguments, x4 = &mut CallSave, x5 = the top
    // of the stack to run it on (0: this one).
    // The callee is not trusted to follow the procedure-call standard: everything the
    // caller relies on (x19..x30, sp, DAIF) is reloaded from the save area, which is found
    // again through the global `__module_call_save`, not through any register the callee
    // could have changed. Every other general register is cleared before the call.
    // Returns the callee's x0.
__module_call:
    .cfi_startproc
    stp     x19, x20, [x4, #0]
    stp     x21, x22, [x4, #16]
    stp     x23, x24, [x4, #32]
    stp     x25, x26, [x4, #48]
    stp     x27, x28, [x4, #64]
    stp     x29, x30, [x4, #80]
    mov     x6, sp
    str     x6, [x4, #96]
    mrs     x6, daif
    str     x6, [x4, #104]
    mov     x7, x5
    adrp    x5, __module_call_save
    ldr     x6, [x5, :lo12:__module_call_save]
    str     x6, [x4, #112]
    str     x4, [x5, :lo12:__module_call_save]
    // A frame record, so that oops call traces run from the module back into the kernel.
    stp     x29, x30, [sp, #-16]!
    .cfi_def_cfa_offset 16
    .cfi_offset x29, -16
    .cfi_offset x30, -8
    mov     x29, sp
    // From here the frame is found through x29 alone: sp moves to the module stack.
    .cfi_def_cfa x29, 16
    cbz     x7, 1f
    mov     sp, x7
1:  mov     x16, x0
    mov     x0, x1
    mov     x1, x2
    mov     x2, x3
    // The callee gets no kernel values but its arguments, its stack and the frame record:
    // a module that reads a register it never set (a miscompiled or corrupted one) finds
    // zero, not a pointer into the kernel's stack it could write through.
    mov     x3, xzr
    mov     x4, xzr
    mov     x5, xzr
    mov     x6, xzr
    mov     x7, xzr
    mov     x8, xzr
    mov     x9, xzr
    mov     x10, xzr
    mov     x11, xzr
    mov     x12, xzr
    mov     x13, xzr
    mov     x14, xzr
    mov     x15, xzr
    mov     x17, xzr
    mov     x18, xzr
    mov     x19, xzr
    mov     x20, xzr
    mov     x21, xzr
    mov     x22, xzr
    mov     x23, xzr
    mov     x24, xzr
    mov     x25, xzr
    mov     x26, xzr
    mov     x27, xzr
    mov     x28, xzr
    blr     x16
    // A module that selected SP_EL1 (msr spsel, #1) must not leave the kernel on it, nor
    // SP_EL1 anywhere but the top of the exception stack (no exception is in progress
    // here). Interrupts stay masked until DAIF is reloaded below.
    msr     daifset, #0xf
    msr     spsel, #1
    adrp    x6, __exception_stack_top
    add     x6, x6, :lo12:__exception_stack_top
    mov     sp, x6
    msr     spsel, #0
    adrp    x5, __module_call_save
    ldr     x4, [x5, :lo12:__module_call_save]
    ldr     x6, [x4, #112]
    str     x6, [x5, :lo12:__module_call_save]
    ldr     x6, [x4, #104]
    msr     daif, x6
    ldr     x6, [x4, #96]
    mov     sp, x6
    ldp     x19, x20, [x4, #0]
    ldp     x21, x22, [x4, #16]
    ldp     x23, x24, [x4, #32]
    ldp     x25, x26, [x4, #48]
    ldp     x27, x28, [x4, #64]
    ldp     x29, x30, [x4, #80]
    .cfi_def_cfa sp, 0
    .cfi_restore x29
    .cfi_restore x30
    ret
    .cfi_endproc
    .size __module_call, . - __module_call

    .section .bss.__module_call_save, "aw", %nobits
    .balign 8
    .global __module_call_save
__module_call_save:
    .quad 0
"#
);

extern "C" {
    fn __module_call(f: u64, a0: u64, a1: u64, a2: u64, save: *mut CallSave, stack: u64) -> u64;
    static mut __module_call_save: u64;
}

/// Calls untrusted code at `f` with up to three arguments, on the stack whose top is
/// `stack` (16-byte aligned; 0: the current one), and returns its x0. Whatever
/// the callee does to x19..x30, sp or the interrupt masks before it returns, the caller
/// gets its own values back.
///
/// # Safety
/// `stack`, when not 0, must be the top of a mapped stack nothing else uses during the
/// call. `f` must be mapped executable code the caller accepts to run (a fault in it must be
/// contained by the caller, i.e. run under [`catch`], which also puts the chain of save
/// areas back when the call is abandoned by [`longjmp`]/[`redirect`].
pub unsafe fn module_call(f: u64, a0: u64, a1: u64, a2: u64, stack: u64) -> u64 {
    let mut save = CallSave::default();
    // SAFETY: `save` lives for the whole call; the assembly restores the chain head before
    // it returns. The callee's behaviour and the stack are the caller's responsibility.
    unsafe { __module_call(f, a0, a1, a2, &mut save, stack) }
}

/// The head of the chain of module calls in progress.
fn call_chain() -> u64 {
    // SAFETY: a plain read of a word only this module and its assembly touch, on one CPU.
    unsafe { core::ptr::addr_of!(__module_call_save).read_volatile() }
}

/// Puts back the chain head saved with [`call_chain`] after abandoned module calls.
fn set_call_chain(token: u64) {
    // SAFETY: as for `call_chain`; the token came from `call_chain` on this CPU.
    unsafe { core::ptr::addr_of_mut!(__module_call_save).write_volatile(token) }
}
