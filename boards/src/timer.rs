//! The Arm generic timer (EL1 virtual timer), used for the periodic tick.

use aarch64_cpu::registers::*;
use tock_registers::interfaces::{Readable, Writeable};

/// The virtual timer's PPI, as an interrupt ID (PPI 11).
pub const VIRTUAL_TIMER_INTID: u32 = 27;

/// The periodic tick source.
pub struct Timer {
    interval: u64,
}

impl Timer {
    /// A timer firing `hz` times per second.
    pub fn new(hz: u64) -> Timer {
        Timer {
            interval: CNTFRQ_EL0.get() / hz.max(1),
        }
    }

    /// Arms the next tick and enables the timer.
    pub fn start(&self) {
        CNTV_TVAL_EL0.set(self.interval);
        CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
    }

    /// Re-arms after a tick.
    pub fn rearm(&self) {
        CNTV_TVAL_EL0.set(self.interval);
    }

    /// Stops the timer.
    pub fn stop(&self) {
        CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::CLEAR);
    }
}

/// Counter ticks since boot, and the counter frequency.
pub fn now() -> (u64, u64) {
    (CNTVCT_EL0.get(), CNTFRQ_EL0.get())
}

/// Microseconds since the counter started.
pub fn uptime_us() -> u64 {
    let (c, f) = now();
    ((c as u128 * 1_000_000) / f.max(1) as u128) as u64
}

/// Busy-waits `us` microseconds.
pub fn delay_us(us: u64) {
    let start = uptime_us();
    while uptime_us().wrapping_sub(start) < us {
        core::hint::spin_loop();
    }
}
