//! Recovery points: run code so that a fault, panic or timeout abandons it instead of
//! stopping the kernel. Used by the in-kernel test runner (and by module containment).

use arch::recover::{self, JumpBuf};
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

/// How an abandoned call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abandoned {
    /// A synchronous exception (or SError) in thread context.
    Fault {
        /// ESR_EL1.
        esr: u64,
        /// FAR_EL1.
        far: u64,
        /// Faulting pc.
        pc: u64,
    },
    /// A Rust panic.
    Panic,
    /// The deadline passed.
    Timeout,
    /// Ctrl-C on the console (module calls only).
    Interrupted,
}

/// An armed recovery point.
pub struct Point {
    jb: JumpBuf,
    prev: *mut Point,
    /// Print the full oops before recovering.
    pub report: bool,
    /// Tick count at which the call is abandoned (0: never).
    pub deadline: u64,
    /// A module call: only faults in module code and panics raised by modules are
    /// contained; a fault in the kernel's own code still stops the kernel.
    pub module: bool,
    result: Option<Abandoned>,
}

static CURRENT: AtomicPtr<Point> = AtomicPtr::new(core::ptr::null_mut());
static RECOVERED: AtomicU64 = AtomicU64::new(0);
/// How deep the CPU is in kernel code entered from a module through an export.
static EXPORT_DEPTH: AtomicU32 = AtomicU32::new(0);

/// Marks kernel code entered from a module (every export body runs inside one, as its
/// first local, so it is dropped last). While it lives, a timeout or Ctrl-C waits (the
/// export may hold kernel locks), and a fault is not contained: it is in kernel code whose
/// state cannot be trusted after it. When the outermost one is dropped, a call that
/// became due meanwhile is abandoned right there: a module that spends nearly all its
/// time inside exports (printing in a loop) would otherwise rarely be interrupted in its
/// own code, and could outlive its deadline indefinitely.
pub struct InExport(());

/// Module stack an export may need (its own frames and, for `kmod_panic`, a whole panic
/// report). A module that calls an export with less left is abandoned at the call: a
/// fault inside the export, on the module stack's guard page, could not be contained.
pub const EXPORT_STACK: u64 = 16 << 10;

impl InExport {
    /// Enters an export (or abandons the module call when it left the export too little
    /// stack: see [`EXPORT_STACK`]).
    pub fn enter() -> InExport {
        if EXPORT_DEPTH.load(Ordering::Relaxed) == 0 {
            let (_, _, sp) = arch::cpu::current_frame();
            let (_, lo, hi) = crate::platform::mem::stacks()[2];
            if (lo..hi).contains(&sp) && sp - lo < EXPORT_STACK {
                crate::println!(
                    "module: an export was called with {} bytes of module stack left (it needs {}); call abandoned",
                    sp - lo,
                    EXPORT_STACK
                );
                abandon_from_thread(Abandoned::Panic);
            }
        }
        EXPORT_DEPTH.fetch_add(1, Ordering::Relaxed);
        InExport(())
    }
}

impl Drop for InExport {
    fn drop(&mut self) {
        let was = EXPORT_DEPTH
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
                Some(d.saturating_sub(1))
            })
            .unwrap_or(0);
        if was == 1 {
            if let Some(why) = abandon_due() {
                if why == Abandoned::Interrupted {
                    crate::platform::console::take_break();
                }
                // The export's own work is done and its other locals are gone: nothing
                // kernel-side is held here.
                abandon_from_thread(why);
            }
        }
    }
}

/// Whether kernel code entered through an export is running.
pub fn in_export() -> bool {
    EXPORT_DEPTH.load(Ordering::Relaxed) > 0
}

/// Runs `f`; returns `Err` with the reason when it was abandoned.
pub fn run<F: FnMut()>(report: bool, timeout_ticks: u64, f: F) -> Result<(), Abandoned> {
    run_point(report, timeout_ticks, false, f)
}

/// Runs module code: any fault or panic while it runs, outside kernel code it entered
/// through an export, is reported and contained; after `timeout_ticks` (0: never), or on
/// Ctrl-C on the console, the call is abandoned.
pub fn run_module<F: FnMut()>(timeout_ticks: u64, f: F) -> Result<(), Abandoned> {
    crate::platform::console::watch_break(true);
    let r = run_point(true, timeout_ticks, true, f);
    crate::platform::console::watch_break(false);
    r
}

/// Whether the innermost point should be abandoned now (deadline passed, or Ctrl-C during
/// a module call): long-running exports poll this and return early.
pub fn abandon_due() -> Option<Abandoned> {
    let p = CURRENT.load(Ordering::Acquire);
    if p.is_null() {
        return None;
    }
    // SAFETY: as in `current`.
    let (deadline, module) = unsafe { ((*p).deadline, (*p).module) };
    if deadline != 0 && crate::irq::ticks() >= deadline {
        return Some(Abandoned::Timeout);
    }
    if module && crate::platform::console::break_pending() {
        return Some(Abandoned::Interrupted);
    }
    None
}

/// From the interrupt handler: abandons the innermost point if it is due (see
/// [`abandon_due`]), unless kernel code entered through an export is running (it then
/// happens when the export returns: see [`InExport`]).
pub fn abandon_if_due(frame: &mut arch::TrapFrame) {
    if in_export() || !frame.from_thread() {
        return;
    }
    if let Some(why) = abandon_due() {
        if why == Abandoned::Interrupted {
            crate::platform::console::take_break();
        }
        redirect(frame, why);
    }
}

fn run_point<F: FnMut()>(
    report: bool,
    timeout_ticks: u64,
    module: bool,
    f: F,
) -> Result<(), Abandoned> {
    let deadline = if timeout_ticks == 0 {
        0
    } else {
        crate::irq::ticks() + timeout_ticks
    };
    let mut point = Point {
        jb: JumpBuf::default(),
        prev: CURRENT.load(Ordering::Acquire),
        report,
        deadline,
        module,
        result: None,
    };
    let p: *mut Point = &mut point;
    let depth = EXPORT_DEPTH.load(Ordering::Relaxed);
    CURRENT.store(p, Ordering::Release);
    // SAFETY: `p` points at `point`, which outlives the catch call; the pointer is removed
    // from CURRENT before `point` goes out of scope.
    let code = recover::catch(unsafe { &mut (*p).jb }, f);
    // SAFETY: as above; `p` is still valid here.
    let prev = unsafe { (*p).prev };
    CURRENT.store(prev, Ordering::Release);
    // Exports abandoned inside the call never left.
    EXPORT_DEPTH.store(depth, Ordering::Relaxed);
    if code == 0 {
        Ok(())
    } else {
        // SAFETY: as above.
        Err(unsafe { (*p).result }.unwrap_or(Abandoned::Panic))
    }
}

/// The innermost armed point, if any: whether it wants a report, and its deadline.
pub fn current() -> Option<(bool, u64)> {
    let p = CURRENT.load(Ordering::Acquire);
    // SAFETY: a non-null CURRENT points at a live `Point` on a stack below us (see `run`).
    (!p.is_null()).then(|| unsafe { ((*p).report, (*p).deadline) })
}

/// Whether the innermost armed point contains module code only.
pub fn current_is_module() -> bool {
    let p = CURRENT.load(Ordering::Acquire);
    // SAFETY: as in `current`.
    !p.is_null() && unsafe { (*p).module }
}

/// Recoveries so far.
pub fn recovered() -> u64 {
    RECOVERED.load(Ordering::Relaxed)
}

/// From the trap handler: abandon the innermost point by redirecting `frame`.
/// Returns false when no point is armed or the frame is not from thread context.
pub fn redirect(frame: &mut arch::TrapFrame, why: Abandoned) -> bool {
    let p = CURRENT.load(Ordering::Acquire);
    if p.is_null() || !frame.from_thread() {
        return false;
    }
    // SAFETY: `p` is live (see `run`) and belongs to a catch call on the interrupted
    // thread's stack; the frame is from thread context, as checked.
    unsafe {
        (*p).result = Some(why);
        recover::redirect(frame, &(*p).jb, 1);
    }
    RECOVERED.fetch_add(1, Ordering::Relaxed);
    true
}

/// From the panic handler (thread context): abandon the innermost point.
pub fn longjmp_from_panic() {
    abandon_from_thread(Abandoned::Panic);
}

/// From thread context: abandons the innermost point for `why` (returns only when none
/// is armed).
fn abandon_from_thread(why: Abandoned) {
    let p = CURRENT.load(Ordering::Acquire);
    if p.is_null() {
        return;
    }
    RECOVERED.fetch_add(1, Ordering::Relaxed);
    // SAFETY: `p` is live and its catch call is running below us on this stack.
    unsafe {
        (*p).result = Some(why);
        recover::longjmp(&(*p).jb, 1);
    }
}
