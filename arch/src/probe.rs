//! Reads that may fault, made safe by the exception fixup table.
//!
//! Each probe is one load instruction registered in `__ex_table`. When the load faults, the
//! kernel's trap handler finds the entry and resumes at the fixup, which reports failure.
//! This is what lets the oops path read arbitrary addresses (frame records, the `Code:`
//! words) without ever faulting again.

core::arch::global_asm!(
    r#"
    .section .text.probe, "ax"
    .global __probe_read_u64
    .type __probe_read_u64, %function
    // x0 = address; returns x0 = value, x1 = 0 on success, x1 = 1 on fault.
__probe_read_u64:
1:  ldr     x0, [x0]
    mov     x1, #0
    ret
2:  mov     x0, #0
    mov     x1, #1
    ret
    .size __probe_read_u64, . - __probe_read_u64
    .global __probe_read_u32
    .type __probe_read_u32, %function
__probe_read_u32:
3:  ldr     w0, [x0]
    mov     x1, #0
    ret
4:  mov     x0, #0
    mov     x1, #1
    ret
    .size __probe_read_u32, . - __probe_read_u32
    .global __probe_write_u8
    .type __probe_write_u8, %function
    // x0 = address, w1 = byte; returns x0 = 0 on success, 1 on fault.
__probe_write_u8:
5:  strb    w1, [x0]
    mov     x0, #0
    ret
6:  mov     x0, #1
    ret
    .size __probe_write_u8, . - __probe_write_u8

    .global __probe_copy
    .type __probe_copy, %function
    // x0 = destination, x1 = source, x2 = length; returns x0 = 0 on success, 1 when a load
    // or a store faulted (the bytes before it are copied).
__probe_copy:
    cbz     x2, 9f
7:  ldrb    w3, [x1], #1
8:  strb    w3, [x0], #1
    subs    x2, x2, #1
    b.ne    7b
9:  mov     x0, #0
    ret
10: mov     x0, #1
    ret
    .size __probe_copy, . - __probe_copy

    .section __ex_table, "a"
    .balign 8
    .quad 1b, 2b
    .quad 3b, 4b
    .quad 5b, 6b
    .quad 7b, 10b
    .quad 8b, 10b
"#
);

#[repr(C)]
struct ProbeResult {
    value: u64,
    failed: u64,
}

extern "C" {
    fn __probe_read_u64(addr: u64) -> ProbeResult;
    fn __probe_read_u32(addr: u64) -> ProbeResult;
    fn __probe_write_u8(addr: u64, byte: u8) -> u64;
    fn __probe_copy(dst: u64, src: u64, len: u64) -> u64;
}

/// Reads a u64 at `addr`, or `None` if it is misaligned or the read faults.
pub fn read_u64(addr: u64) -> Option<u64> {
    if !addr.is_multiple_of(8) {
        return None;
    }
    // SAFETY: the load is covered by a fixup entry: a fault resumes at the fixup, which
    // returns failure. Reading any mapped address has no side effect on normal memory.
    let r = unsafe { __probe_read_u64(addr) };
    (r.failed == 0).then_some(r.value)
}

/// Reads a u32 at `addr`, or `None` if it is misaligned or the read faults.
pub fn read_u32(addr: u64) -> Option<u32> {
    if !addr.is_multiple_of(4) {
        return None;
    }
    // SAFETY: as for `read_u64`.
    let r = unsafe { __probe_read_u32(addr) };
    (r.failed == 0).then_some(r.value as u32)
}

/// Writes one byte at `addr`, returning whether the store succeeded.
///
/// # Safety
/// A successful store changes memory: the caller must own `addr` or accept the effect
/// (tests use it to check that read-only mappings refuse writes).
pub unsafe fn write_u8(addr: u64, byte: u8) -> bool {
    // SAFETY: the store is covered by a fixup entry; the caller vouches for the address.
    unsafe { __probe_write_u8(addr, byte) == 0 }
}

/// Copies `dst.len()` bytes from `src` into `dst`; false (with `dst` partly written) if
/// any read faults or the range wraps. For pointers handed in by untrusted code.
pub fn copy_from(src: u64, dst: &mut [u8]) -> bool {
    if src.checked_add(dst.len() as u64).is_none() {
        return false;
    }
    // Stores go to `dst` (borrowed mutably, mapped); a bad `src` makes the copy fail.
    // SAFETY: every load of the copy is covered by a fixup entry.
    unsafe { __probe_copy(dst.as_mut_ptr() as u64, src, dst.len() as u64) == 0 }
}

/// Copies `src` to `dst`; false if any store faults or the range wraps (the bytes before
/// the fault are written).
///
/// # Safety
/// A successful store changes memory: the caller must have checked that the destination
/// range may be written by whoever handed it in.
pub unsafe fn copy_to(dst: u64, src: &[u8]) -> bool {
    if dst.checked_add(src.len() as u64).is_none() {
        return false;
    }
    // SAFETY: the loads read `src`, which we borrow; the stores are covered by fixup
    // entries; the caller vouches for the destination.
    unsafe { __probe_copy(dst, src.as_ptr() as u64, src.len() as u64) == 0 }
}
