//! Interrupts: the GIC, the periodic tick, and a table of registered handlers. This layer
//! knows no clients: drivers and tests register what they need.

use boards::gic::{Gic, GicConfig, SPURIOUS};
use boards::timer::{Timer, VIRTUAL_TIMER_INTID};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use spin::Mutex;

/// Tick frequency.
pub const HZ: u64 = 100;

/// An interrupt handler, run in the IRQ exception with IRQs masked.
pub type Handler = fn();

/// Room in the handler table and the tick-hook list (fixed, so registering allocates
/// nothing).
const MAX_HANDLERS: usize = 8;
const MAX_TICK_HOOKS: usize = 4;

static GIC: spin::Once<Gic> = spin::Once::new();
static TIMER: spin::Once<Timer> = spin::Once::new();
static TICKS: AtomicU64 = AtomicU64::new(0);
static SPURIOUS_COUNT: AtomicU64 = AtomicU64::new(0);
static HANDLERS: Mutex<[Option<(u32, Handler)>; MAX_HANDLERS]> = Mutex::new([None; MAX_HANDLERS]);
static TICK_HOOKS: Mutex<[Option<Handler>; MAX_TICK_HOOKS]> = Mutex::new([None; MAX_TICK_HOOKS]);
static TICK_HOOK_COUNT: AtomicUsize = AtomicUsize::new(0);

/// Why a handler could not be registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterError {
    /// The table is full.
    Full,
    /// The interrupt already has a handler.
    Taken(u32),
}

impl core::fmt::Display for RegisterError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RegisterError::Full => f.write_str("interrupt handler table full"),
            RegisterError::Taken(id) => write!(f, "INTID {id} already has a handler"),
        }
    }
}

/// Brings up the GIC and the tick, then unmasks IRQs. Devices add their interrupts with
/// [`register`].
pub fn init(cfg: GicConfig) {
    // SAFETY: the configuration comes from the device tree (or the documented `virt`
    // defaults) and the GIC region is mapped as device memory.
    let gic = GIC.call_once(|| unsafe { Gic::new(cfg) });
    gic.init();
    gic.enable(VIRTUAL_TIMER_INTID, 0x80);
    let timer = TIMER.call_once(|| Timer::new(HZ));
    timer.start();
    arch::cpu::irq_enable();
}

/// Routes interrupt `intid` to `handler` and enables it at the GIC.
pub fn register(intid: u32, handler: Handler) -> Result<(), RegisterError> {
    // IRQs masked while the table is locked, so the IRQ path never finds it busy.
    arch::cpu::without_irqs(|| {
        let mut t = HANDLERS.lock();
        if t.iter().flatten().any(|(id, _)| *id == intid) {
            return Err(RegisterError::Taken(intid));
        }
        let slot = t
            .iter_mut()
            .find(|s| s.is_none())
            .ok_or(RegisterError::Full)?;
        *slot = Some((intid, handler));
        Ok(())
    })?;
    if let Some(gic) = GIC.get() {
        gic.enable(intid, 0x80);
    }
    Ok(())
}

/// Adds a hook run on every tick (in the IRQ exception).
pub fn add_tick_hook(hook: Handler) -> Result<(), RegisterError> {
    arch::cpu::without_irqs(|| add_tick_hook_locked(hook))
}

fn add_tick_hook_locked(hook: Handler) -> Result<(), RegisterError> {
    let mut t = TICK_HOOKS.lock();
    if t.iter().flatten().any(|h| core::ptr::fn_addr_eq(*h, hook)) {
        return Ok(());
    }
    let slot = t
        .iter_mut()
        .find(|s| s.is_none())
        .ok_or(RegisterError::Full)?;
    *slot = Some(hook);
    TICK_HOOK_COUNT.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Removes a tick hook.
pub fn remove_tick_hook(hook: Handler) {
    arch::cpu::without_irqs(|| {
        let mut t = TICK_HOOKS.lock();
        for s in t.iter_mut() {
            if s.is_some_and(|h| core::ptr::fn_addr_eq(h, hook)) {
                *s = None;
                TICK_HOOK_COUNT.fetch_sub(1, Ordering::Relaxed);
            }
        }
    })
}

/// The controller's name, for the banner.
pub fn controller_name() -> &'static str {
    GIC.get().map(|g| g.name()).unwrap_or("none")
}

/// Ticks since the tick started.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// What an IRQ turned out to be.
pub enum Handled {
    /// Nothing further to do.
    Done,
    /// The tick fired (the caller checks deadlines).
    Tick,
    /// An interrupt nobody expects.
    Unexpected(u32),
}

/// Acknowledges and handles one interrupt.
pub fn handle() -> Handled {
    let Some(gic) = GIC.get() else {
        return Handled::Unexpected(SPURIOUS);
    };
    let id = gic.ack();
    if id >= SPURIOUS {
        SPURIOUS_COUNT.fetch_add(1, Ordering::Relaxed);
        return Handled::Done;
    }
    let r = if id == VIRTUAL_TIMER_INTID {
        TICKS.fetch_add(1, Ordering::Relaxed);
        if let Some(t) = TIMER.get() {
            t.rearm();
        }
        if TICK_HOOK_COUNT.load(Ordering::Relaxed) > 0 {
            // Copied out so a hook that faults does not leave the list locked; thread code
            // holds the lock only with IRQs masked.
            let hooks = TICK_HOOKS
                .try_lock()
                .map(|t| *t)
                .unwrap_or([None; MAX_TICK_HOOKS]);
            for h in hooks.into_iter().flatten() {
                h();
            }
        }
        Handled::Tick
    } else if let Some(h) = lookup(id) {
        h();
        Handled::Done
    } else {
        gic.disable(id);
        Handled::Unexpected(id)
    };
    gic.eoi(id);
    r
}

fn lookup(id: u32) -> Option<Handler> {
    // Thread code holds the lock only with IRQs masked (see `register`), so `try_lock`
    // cannot fail here.
    let t = HANDLERS.try_lock()?;
    t.iter().flatten().find(|(i, _)| *i == id).map(|(_, h)| *h)
}

/// Stops the tick and masks IRQs (before power-off or a fatal report).
pub fn shutdown() {
    arch::cpu::irq_disable();
    if let Some(t) = TIMER.get() {
        t.stop();
    }
}

/// Raises an interrupt nobody handles (SGI 1), for `crash unexpected-irq`.
pub fn raise_unexpected() {
    if let Some(gic) = GIC.get() {
        gic.enable(1, 0x80);
        gic.send_sgi_to_self(1);
    }
}
