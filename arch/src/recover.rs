//! Non-local recovery: run a function and get control back if it faults or panics.
//!
//! [`catch`] records the callee-saved registers and the stack pointer in a [`JumpBuf`] and
//! calls the function. If the function faults (in thread context), the trap handler can
//! redirect the trap frame with [`redirect`] so that `eret` lands in `__recover_longjmp`,
//! which restores the registers and makes `catch` return the given code. A panic handler
//! can call [`longjmp`] directly.
//!
//! Nothing on the abandoned stack frames is dropped: memory they owned is leaked and locks
//! they held stay held. The kernel uses this for tests that expect a fault and for
//! containing faults in loadable modules.

/// Saved registers of a [`catch`] call: x19..x30 and sp.
#[repr(C)]
#[derive(Default, Debug)]
pub struct JumpBuf {
    regs: [u64; 13],
    _pad: u64,
}

core::arch::global_asm!(
    r#"
    .section .text.recover, "ax"
    .global __recover_catch
    .type __recover_catch, %function
    // x0 = fn(arg), x1 = arg, x2 = &mut JumpBuf. Returns 0, or the longjmp code.
__recover_catch:
    stp     x19, x20, [x2, #0]
    stp     x21, x22, [x2, #16]
    stp     x23, x24, [x2, #32]
    stp     x25, x26, [x2, #48]
    stp     x27, x28, [x2, #64]
    stp     x29, x30, [x2, #80]
    mov     x3, sp
    str     x3, [x2, #96]
    stp     x29, x30, [sp, #-16]!
    mov     x29, sp
    mov     x3, x0
    mov     x0, x1
    blr     x3
    ldp     x29, x30, [sp], #16
    mov     x0, #0
    ret
    .size __recover_catch, . - __recover_catch

    .global __recover_longjmp
    .type __recover_longjmp, %function
    // x0 = &JumpBuf, x1 = code (non-zero).
__recover_longjmp:
    ldp     x19, x20, [x0, #0]
    ldp     x21, x22, [x0, #16]
    ldp     x23, x24, [x0, #32]
    ldp     x25, x26, [x0, #48]
    ldp     x27, x28, [x0, #64]
    ldp     x29, x30, [x0, #80]
    ldr     x2, [x0, #96]
    mov     sp, x2
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
    // SAFETY: see above.
    unsafe { __recover_catch(trampoline::<F>, &mut f as *mut F as *mut u8, jb) }
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
