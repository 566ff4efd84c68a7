//! The kernel's taint (Linux's `add_taint`): flags that stay set once something happened
//! that a report reader should know about.

use core::sync::atomic::{AtomicU32, Ordering};
pub use oops::Taint;

static TAINT: AtomicU32 = AtomicU32::new(0);

/// Sets taint flags ([`Taint`]'s constants).
pub fn add(flags: u32) {
    TAINT.fetch_or(flags, Ordering::Relaxed);
}

/// The flags set so far.
pub fn get() -> Taint {
    Taint(TAINT.load(Ordering::Relaxed))
}
