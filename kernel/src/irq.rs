//! Interrupts: the GIC, the periodic tick and dispatch.

use boards::gic::{Gic, GicConfig, SPURIOUS};
use boards::timer::{Timer, VIRTUAL_TIMER_INTID};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Tick frequency.
pub const HZ: u64 = 100;

static GIC: spin::Once<Gic> = spin::Once::new();
static TIMER: spin::Once<Timer> = spin::Once::new();
static UART_INTID: AtomicU32 = AtomicU32::new(33);
static TICKS: AtomicU64 = AtomicU64::new(0);
static SPURIOUS_COUNT: AtomicU64 = AtomicU64::new(0);

/// Brings up the GIC, the UART receive interrupt and the tick, then unmasks IRQs.
pub fn init(cfg: GicConfig, uart_intid: u32) {
    // SAFETY: the configuration comes from the device tree (or the documented `virt`
    // defaults) and the GIC region is mapped as device memory.
    let gic = GIC.call_once(|| unsafe { Gic::new(cfg) });
    gic.init();
    gic.enable(VIRTUAL_TIMER_INTID, 0x80);
    gic.enable(uart_intid, 0x80);
    UART_INTID.store(uart_intid, Ordering::Relaxed);
    let timer = TIMER.call_once(|| Timer::new(HZ));
    timer.start();
    arch::cpu::irq_enable();
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
        crate::shell::crash::maybe_fault_in_irq();
        Handled::Tick
    } else if id == UART_INTID.load(Ordering::Relaxed) {
        crate::console::on_irq();
        Handled::Done
    } else {
        gic.disable(id);
        Handled::Unexpected(id)
    };
    gic.eoi(id);
    r
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
