//! Cache maintenance.

/// Cache line size used for maintenance loops (the architectural minimum is read from
/// CTR_EL0; 64 bytes on every core QEMU emulates).
fn dcache_line() -> u64 {
    let ctr: u64;
    // SAFETY: reads CTR_EL0; no side effects.
    unsafe { core::arch::asm!("mrs {0}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    4 << ((ctr >> 16) & 0xf)
}

fn icache_line() -> u64 {
    let ctr: u64;
    // SAFETY: reads CTR_EL0; no side effects.
    unsafe { core::arch::asm!("mrs {0}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    4 << (ctr & 0xf)
}

/// Makes freshly written instructions in `[start, start+len)` visible to instruction fetch:
/// D-cache clean to the point of unification, then I-cache invalidate, with the barriers the
/// architecture requires (`dc cvau; dsb ish; ic ivau; dsb ish; isb`).
pub fn sync_icache(start: u64, len: u64) {
    if len == 0 {
        return;
    }
    let end = start + len;
    let dline = dcache_line();
    let mut a = start & !(dline - 1);
    while a < end {
        // SAFETY: cache maintenance by VA on memory the caller just wrote; no data change.
        unsafe { core::arch::asm!("dc cvau, {0}", in(reg) a, options(nostack)) };
        a += dline;
    }
    // SAFETY: barrier only.
    unsafe { core::arch::asm!("dsb ish", options(nostack)) };
    let iline = icache_line();
    let mut a = start & !(iline - 1);
    while a < end {
        // SAFETY: invalidates I-cache lines; no data change.
        unsafe { core::arch::asm!("ic ivau, {0}", in(reg) a, options(nostack)) };
        a += iline;
    }
    // SAFETY: barriers only.
    unsafe { core::arch::asm!("dsb ish", "isb", options(nostack)) };
}
