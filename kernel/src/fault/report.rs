//! Oops reports: the `oops` crate's formatter fed with this kernel's state.
//!
//! Every unhandled exception, unexpected interrupt and panic comes here. The report is
//! written with the lock-free emergency console writer; memory is read only through
//! fault-safe probes; symbols come from the embedded table and the loaded modules (never
//! blocking on their lock). A fault while printing a report falls back to a raw hex dump.

use crate::platform::console::Emergency;
use arch::exception::Exception;
use arch::{TrapFrame, TrapKind};
use core::cell::Cell;
use core::fmt::{self, Display, Write};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use oops::{Cause, MemReader, OopsInfo, PanicLocation, Regs, StackRange, Symbolizer, Taint};

static OOPS_COUNT: AtomicU32 = AtomicU32::new(0);
static IN_REPORT: AtomicBool = AtomicBool::new(false);
/// Set by `crash report-fault`: the next report faults after its first lines, to exercise
/// the nested-fault fallback.
pub static FAULT_WHILE_REPORTING: AtomicBool = AtomicBool::new(false);

/// Reads memory through the fault-safe probes.
pub struct Probe;

impl MemReader for Probe {
    fn read_u64(&self, addr: u64) -> Option<u64> {
        arch::probe::read_u64(addr)
    }
    fn read_u32(&self, addr: u64) -> Option<u32> {
        arch::probe::read_u32(addr)
    }
}

/// The kernel's table, then every loaded module.
pub struct KernelSymbols {
    table: Option<oops::Table<'static>>,
    /// The inline chain last decoded (a frame line and its `(inlined)` lines share it).
    last: Cell<Option<(u64, oops::InlineChain<'static>)>>,
}

impl KernelSymbols {
    /// Parses the embedded table (cheap: a header check).
    pub fn new() -> Self {
        KernelSymbols {
            table: crate::platform::kallsyms::table().ok(),
            last: Cell::new(None),
        }
    }

    fn chain(&self, t: &oops::Table<'static>, lookup: u64) -> oops::InlineChain<'static> {
        if let Some((a, c)) = self.last.get() {
            if a == lookup {
                return c;
            }
        }
        let c = t.inline_chain(lookup);
        self.last.set(Some((lookup, c)));
        c
    }
}

impl Default for KernelSymbols {
    fn default() -> Self {
        Self::new()
    }
}

impl Symbolizer for KernelSymbols {
    fn symbolize(
        &self,
        addr: u64,
        lookup: u64,
        w: &mut dyn fmt::Write,
    ) -> Result<bool, fmt::Error> {
        if super::modules().in_module_area(lookup) {
            return super::modules().symbolize(addr, lookup, w);
        }
        let Some(t) = &self.table else {
            return Ok(false);
        };
        let Some(sym) = t.lookup(lookup) else {
            return Ok(false);
        };
        write!(
            w,
            "{}+{:#x}/{:#x}",
            sym.name(),
            addr.wrapping_sub(sym.start),
            sym.size
        )?;
        t.write_frame_line_in(&self.chain(t, lookup), lookup, w)?;
        Ok(true)
    }

    fn function_range(&self, addr: u64) -> Option<(u64, u64)> {
        if super::modules().in_module_area(addr) {
            return super::modules().function_range(addr);
        }
        self.table.as_ref()?.function_range(addr)
    }

    fn write_inlined(&self, lookup: u64, w: &mut dyn fmt::Write) -> fmt::Result {
        if super::modules().in_module_area(lookup) {
            return super::modules().write_inlined(lookup, w);
        }
        match &self.table {
            Some(t) => t.write_inlined_in(&self.chain(t, lookup), lookup, oops::INLINE_INDENT, w),
            None => Ok(()),
        }
    }
}

struct Linked;

impl Display for Linked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::modules().write_linked(f)
    }
}

/// Number of oopses so far.
pub fn count() -> u32 {
    OOPS_COUNT.load(Ordering::Relaxed)
}

fn stacks() -> [StackRange; 3] {
    crate::platform::mem::stacks().map(|(_, lo, hi)| StackRange::new(lo, hi))
}

fn emit(regs: &Regs, cause: Cause<'_>, esr: u64, far: u64) {
    let n = OOPS_COUNT.fetch_add(1, Ordering::Relaxed) + 1;
    let mut w = Emergency;
    if IN_REPORT.swap(true, Ordering::Acquire) {
        // A fault while printing a report: no symbols, no memory reads, no recursion.
        let _ = oops::write_raw_hex_report(&mut w, regs, esr, far);
        return;
    }
    let board = crate::platform::board();
    let mut hw = boards::virt::SmallStr::<80>::from(board.model.as_str());
    if board.from_dt {
        hw.push_str(" (DT)");
    }
    let syms = KernelSymbols::new();
    let build_id = syms.table.as_ref().map(|t| t.build_id()).unwrap_or(&[]);
    let mut taint = super::taint::get().0;
    if n > 1 {
        taint |= Taint::DIE;
    }
    let stacks = stacks();
    let mut info = OopsInfo::new(regs, cause, &Probe, &syms);
    info.oops_count = n;
    info.modules = &Linked;
    info.taint = Taint(taint);
    info.release = crate::platform::RELEASE;
    info.build_id = build_id;
    info.hardware = hw.as_str();
    info.cpu = arch::cpu::cpu_id() as u32;
    info.stacks = &stacks;
    // x30 sits at +240 in the trap frame and the frame record at +288.
    info.trap_lr_offset = Some(240 - 288);
    let _ = writeln!(w);
    if FAULT_WHILE_REPORTING.swap(false, Ordering::Relaxed) {
        let _ = writeln!(w, "(crash report-fault: faulting inside the report)");
        // SAFETY: deliberately reads the unmapped page 0 while a report is being printed.
        let v = unsafe { core::ptr::read_volatile(core::hint::black_box(16usize) as *const u64) };
        core::hint::black_box(v);
    }
    let _ = oops::write_report(&mut w, &info);
    IN_REPORT.store(false, Ordering::Release);
}

/// Whether the ESR is an abort whose FAR holds the faulting address (FAR is stale for
/// other exception classes).
fn is_data_or_insn_abort(esr: u64) -> bool {
    matches!(esr >> 26, 0x20 | 0x21 | 0x24 | 0x25)
}

/// Reports an unhandled exception or unexpected interrupt.
pub fn exception(frame: &TrapFrame, kind: TrapKind) {
    let regs = Regs {
        x: frame.x,
        sp: frame.sp,
        pc: frame.elr,
        pstate: frame.spsr,
    };
    for (name, guard) in [
        ("task", crate::platform::mem::sym::__boot_stack_guard()),
        (
            "exception",
            crate::platform::mem::sym::__exception_stack_guard(),
        ),
    ] {
        // An overflow faults just below the stack pointer as the next frame is pushed; an
        // address in a guard page far from sp is a stray pointer, not an overflow.
        if kind.exception() == Exception::Sync
            && is_data_or_insn_abort(frame.esr)
            && (guard..guard + arch::mmu::PAGE_SIZE).contains(&frame.far)
            && frame.sp.abs_diff(frame.far) < arch::mmu::PAGE_SIZE
        {
            let _ = writeln!(
                Emergency,
                "\nKernel stack overflow: the {name} stack hit its guard page at {:016x}",
                frame.far
            );
        }
    }
    let cause = match kind.exception() {
        Exception::Sync => Cause::Exception {
            esr: frame.esr,
            far: frame.far,
        },
        Exception::Irq => Cause::UnexpectedIrq,
        Exception::Fiq => Cause::UnexpectedFiq,
        Exception::SError => Cause::Unhandled {
            vector: kind.name(),
            esr: frame.esr,
        },
    };
    emit(&regs, cause, frame.esr, frame.far);
}

/// Reports a panic: message and location first, then registers and the call trace from
/// the panic handler's own frame.
#[inline(never)]
pub fn panic(info: &core::panic::PanicInfo<'_>) {
    let mut x = [0u64; 31];
    let (sp, pc) = arch::cpu::snapshot_registers(&mut x);
    let regs = Regs {
        x,
        sp,
        pc,
        pstate: arch::cpu::pstate(),
    };
    let msg = info.message();
    let location = info.location().map(|l| PanicLocation {
        file: l.file(),
        line: l.line(),
        column: l.column(),
    });
    emit(
        &regs,
        Cause::Panic {
            message: &msg,
            location,
        },
        0,
        0,
    );
}

/// Stops after a fatal report: exit QEMU with status 1 under semihosting, else halt.
pub fn halt() -> ! {
    crate::irq::shutdown();
    let _ = boards::semihosting::exit(1);
    loop {
        arch::cpu::wait_for_interrupt();
    }
}
