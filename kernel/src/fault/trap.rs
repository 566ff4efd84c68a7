//! The kernel's exception handler: fixups, expected traps, recovery, and oops reports.

use super::recovery::{self, Abandoned};
use arch::exception::{Exception, Origin};
use arch::{TrapFrame, TrapKind};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use oops::esr::{ec, Esr};

/// Immediate of the kernel's own handled `brk` (tests): execution resumes after it.
pub const BRK_TEST_IMM: u64 = 0x1234;
/// `svc` immediate answered by the handler (tests): x0 becomes [`SVC_REPLY`].
pub const SVC_TEST_IMM: u64 = 0x42;
/// The value the handler puts in x0 for the test `svc`.
pub const SVC_REPLY: u64 = 0x5ec0_0042;

/// Handled `brk`s so far.
pub static BRK_COUNT: AtomicU64 = AtomicU64::new(0);
/// Nesting depth of the trap handler (0: thread context).
static DEPTH: AtomicU32 = AtomicU32::new(0);

/// Whether the CPU is running an exception handler.
pub fn in_exception() -> bool {
    DEPTH.load(Ordering::Relaxed) > 0
}

/// Called by the vector code for every exception.
#[no_mangle]
extern "C" fn kernel_trap(frame: &mut TrapFrame, kind: u64) {
    DEPTH.fetch_add(1, Ordering::Relaxed);
    // Compiled Rust may make unaligned accesses; strict checking is only ever switched on
    // briefly by `crash misaligned-sp`.
    let esr = Esr(frame.esr);
    if esr.ec() == ec::DABT_CUR && esr.iss() & 0x3f == 0x21 {
        arch::cpu::set_alignment_check(false);
    }
    let kind = TrapKind(kind);
    match kind.exception() {
        Exception::Irq => irq(frame, kind),
        Exception::Sync => sync(frame, kind),
        Exception::Fiq | Exception::SError => fatal(frame, kind),
    }
    DEPTH.fetch_sub(1, Ordering::Relaxed);
}

fn irq(frame: &mut TrapFrame, kind: TrapKind) {
    match crate::irq::handle() {
        crate::irq::Handled::Done | crate::irq::Handled::Tick => {
            // A deadline that passed, or Ctrl-C during a module call (the UART interrupt
            // sets the break flag), abandons the interrupted thread code.
            if kind.origin() == Origin::CurrentElSp0 {
                recovery::abandon_if_due(frame);
            }
        }
        crate::irq::Handled::Unexpected(id) => {
            use core::fmt::Write;
            let _ = write!(
                crate::platform::console::Emergency,
                "\nUnexpected interrupt: INTID {id} has no handler"
            );
            fatal(frame, kind)
        }
    }
}

fn sync(frame: &mut TrapFrame, kind: TrapKind) {
    if arch::exception::try_fixup(frame) {
        return;
    }
    let esr = Esr(frame.esr);
    let imm = u64::from(esr.iss() & 0xffff);
    match esr.ec() {
        ec::BRK64 if imm == BRK_TEST_IMM => {
            BRK_COUNT.fetch_add(1, Ordering::Relaxed);
            frame.elr += 4;
            return;
        }
        ec::SVC64 if imm == SVC_TEST_IMM => {
            frame.x[0] = SVC_REPLY;
            return;
        }
        _ => {}
    }
    fatal(frame, kind)
}

/// An exception nobody handles: report it, then recover if a recovery point covers the
/// interrupted thread code, else stop.
fn fatal(frame: &mut TrapFrame, kind: TrapKind) {
    let mut recoverable = kind.origin() == Origin::CurrentElSp0 && recovery::current().is_some();
    // Module containment covers whatever runs during a module call, wherever the pc is (a
    // NULL call, a wild jump into kernel memory), except kernel code the module entered
    // through an export: that code may hold kernel locks or be half-way through changing
    // kernel state, so a fault there halts. (Exports check or fault-safely copy every
    // pointer a module hands them, so a bad pointer does not get that far.)
    let mut why_halt = None;
    if recoverable && recovery::current_is_module() && recovery::in_export() {
        recoverable = false;
        why_halt = Some(
            "the fault is in kernel code a module called through an export; kernel state \
             may be inconsistent, so it cannot be contained",
        );
    }
    let report = recovery::current().map(|(r, _)| r).unwrap_or(true);
    if !recoverable || report {
        super::report::exception(frame, kind);
    }
    if let Some(why) = why_halt {
        use core::fmt::Write;
        let _ = writeln!(crate::platform::console::Emergency, "Kernel halted: {why}");
    }
    if recoverable {
        let why = Abandoned::Fault {
            esr: frame.esr,
            far: frame.far,
            pc: frame.elr,
        };
        if recovery::redirect(frame, why) {
            return;
        }
    }
    super::report::halt();
}
