//! The serial console: formatted output to the PL011 and an interrupt-fed input ring.

use boards::pl011::Pl011;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use spin::Mutex;

static UART: Mutex<Option<Pl011>> = Mutex::new(None);
/// The UART base, for the lock-free emergency writer the oops path uses.
static UART_BASE: AtomicUsize = AtomicUsize::new(boards::virt::UART_BASE as usize);

/// Sets up the console UART at `base` (MMIO must be mapped, or the MMU off).
pub fn init(base: usize) {
    // SAFETY: `base` is the board's PL011 (from the device tree or the documented default),
    // mapped as device memory; the console owns it from here on.
    let uart = unsafe { Pl011::new(base) };
    uart.init();
    UART_BASE.store(base, Ordering::Relaxed);
    arch::cpu::without_irqs(|| *UART.lock() = Some(uart));
}

/// The console as a `core::fmt::Write` (the normal, locked path).
pub struct Writer;

impl Write for Writer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_bytes(s.as_bytes());
        Ok(())
    }
}

static MUTED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Discards normal console output while set (benchmarks silence module chatter with it).
/// Oops reports use the emergency writer and are never muted.
pub fn set_muted(muted: bool) {
    MUTED.store(muted, Ordering::Relaxed);
}

/// Whether the last byte written was a line break (or nothing was written yet).
static AT_LINE_START: AtomicBool = AtomicBool::new(true);

/// Starts a new line unless the output already is at the start of one (module output that
/// does not end with a line break must not swallow the next prompt).
pub fn fresh_line() {
    if !AT_LINE_START.load(Ordering::Relaxed) {
        write_bytes(b"\n");
    }
}

/// Writes raw bytes, translating `\n` to `\r\n`.
pub fn write_bytes(bytes: &[u8]) {
    if MUTED.load(Ordering::Relaxed) {
        return;
    }
    if let Some(&last) = bytes.last() {
        AT_LINE_START.store(last == b'\n', Ordering::Relaxed);
    }
    arch::cpu::without_irqs(|| {
        let guard = UART.lock();
        if let Some(u) = guard.as_ref() {
            for &b in bytes {
                if b == b'\n' {
                    u.put(b'\r');
                }
                u.put(b);
            }
        }
    });
}

/// Writes raw bytes without any translation (binary protocols).
pub fn write_raw(bytes: &[u8]) {
    arch::cpu::without_irqs(|| {
        if let Some(u) = UART.lock().as_ref() {
            for &b in bytes {
                u.put(b);
            }
        }
    });
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    let _ = Writer.write_fmt(args);
}

/// A writer that needs no lock and no allocation: used by the oops path, which may run
/// while the console lock is held by the code that faulted.
pub struct Emergency;

impl Write for Emergency {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: the console UART's base; concurrent use can at worst interleave output.
        let u = unsafe { Pl011::new(UART_BASE.load(Ordering::Relaxed)) };
        for &b in s.as_bytes() {
            if b == b'\n' {
                u.put(b'\r');
            }
            u.put(b);
        }
        Ok(())
    }
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::platform::console::_print(format_args!($($arg)*)));
}

/// Prints to the console, with a newline.
#[macro_export]
macro_rules! println {
    () => ($crate::print!("\n"));
    ($($arg:tt)*) => ($crate::platform::console::_print(format_args!("{}\n", format_args!($($arg)*))));
}

// ---- Receive ring -------------------------------------------------------------------------

const RX_SIZE: usize = 64 * 1024;
static RX_BUF: [AtomicU8; RX_SIZE] = [const { AtomicU8::new(0) }; RX_SIZE];
static RX_HEAD: AtomicUsize = AtomicUsize::new(0); // written by the IRQ handler
static RX_TAIL: AtomicUsize = AtomicUsize::new(0); // written by the reader
static RX_OVERRUNS: AtomicU64 = AtomicU64::new(0);
static RX_TOTAL: AtomicU64 = AtomicU64::new(0);

/// UART interrupt: drain the hardware FIFO into the ring.
pub fn on_irq() {
    if let Some(guard) = UART.try_lock() {
        if let Some(u) = guard.as_ref() {
            // Acknowledge first, then drain: a byte that arrives after the last read raises
            // the interrupt again. (Acknowledging after draining can clear the interrupt of
            // a byte that arrived in between, and receive then stalls with a full FIFO.)
            u.ack_rx();
            while let Some(b) = u.get() {
                push(b);
            }
        }
    }
}

/// Whether a Ctrl-C received now abandons the module call that is running.
static WATCH_BREAK: AtomicBool = AtomicBool::new(false);
/// A Ctrl-C arrived while watching.
static BREAK: AtomicBool = AtomicBool::new(false);

/// While on, a Ctrl-C (0x03) from the console is taken out of the input and raises the
/// break flag instead ([`break_pending`]). Switching on clears an old break.
pub fn watch_break(on: bool) {
    if on {
        BREAK.store(false, Ordering::Relaxed);
    }
    WATCH_BREAK.store(on, Ordering::Relaxed);
}

/// Whether a Ctrl-C arrived while watching.
pub fn break_pending() -> bool {
    BREAK.load(Ordering::Relaxed)
}

/// Consumes the break flag.
pub fn take_break() -> bool {
    BREAK.swap(false, Ordering::Relaxed)
}

fn push(b: u8) {
    if b == 0x03 && WATCH_BREAK.load(Ordering::Relaxed) {
        BREAK.store(true, Ordering::Relaxed);
        return;
    }
    let head = RX_HEAD.load(Ordering::Relaxed);
    let next = (head + 1) % RX_SIZE;
    if next == RX_TAIL.load(Ordering::Acquire) {
        RX_OVERRUNS.fetch_add(1, Ordering::Relaxed);
        return;
    }
    RX_BUF[head].store(b, Ordering::Relaxed);
    RX_HEAD.store(next, Ordering::Release);
    RX_TOTAL.fetch_add(1, Ordering::Relaxed);
}

/// Polled receive: while set, the UART's receive interrupts are masked and readers drain
/// the FIFO themselves. A transfer takes bytes as fast as the line delivers them this way,
/// without an interrupt (and an exception entry and exit) per byte.
static POLLED: AtomicBool = AtomicBool::new(false);

/// Switches polled receive on or off (see [`POLLED`]); returns the previous mode. Every
/// byte still goes through the ring, so nothing is lost across a switch and Ctrl-C is
/// still seen.
pub fn set_polled(on: bool) -> bool {
    let was = POLLED.swap(on, Ordering::AcqRel);
    arch::cpu::without_irqs(|| {
        if let Some(u) = UART.lock().as_ref() {
            u.set_rx_interrupts(!on);
            if !on {
                // Bytes that arrived while polling without being read.
                while let Some(b) = u.get() {
                    push(b);
                }
            }
        }
    });
    was
}

/// In polled mode: moves what the FIFO holds into the ring.
fn poll_fifo() {
    if !POLLED.load(Ordering::Relaxed) {
        return;
    }
    arch::cpu::without_irqs(|| {
        if let Some(guard) = UART.try_lock() {
            if let Some(u) = guard.as_ref() {
                while let Some(b) = u.get() {
                    push(b);
                }
            }
        }
    });
}

/// Takes one received byte, if any.
pub fn try_getc() -> Option<u8> {
    if RX_TAIL.load(Ordering::Relaxed) == RX_HEAD.load(Ordering::Acquire) {
        poll_fifo();
    }
    let tail = RX_TAIL.load(Ordering::Relaxed);
    if tail == RX_HEAD.load(Ordering::Acquire) {
        return None;
    }
    let b = RX_BUF[tail].load(Ordering::Relaxed);
    RX_TAIL.store((tail + 1) % RX_SIZE, Ordering::Release);
    Some(b)
}

/// Waits for a received byte, sleeping in `wfi` between interrupts.
pub fn getc() -> u8 {
    loop {
        if let Some(b) = try_getc() {
            return b;
        }
        if POLLED.load(Ordering::Relaxed) {
            core::hint::spin_loop();
            continue;
        }
        // Mask IRQs while checking, so an interrupt between the check and `wfi` still wakes
        // us: `wfi` wakes on a pending interrupt even when it is masked.
        let was = arch::cpu::irq_disable();
        if RX_HEAD.load(Ordering::Acquire) == RX_TAIL.load(Ordering::Relaxed) {
            arch::cpu::wait_for_interrupt();
        }
        arch::cpu::irq_restore(was);
    }
}

/// Waits up to `timeout_us` microseconds for a received byte, sleeping in `wfi` between
/// interrupts (the periodic tick bounds each sleep).
pub fn getc_timeout(timeout_us: u64) -> Option<u8> {
    let deadline = boards::timer::uptime_us().saturating_add(timeout_us);
    loop {
        if let Some(b) = try_getc() {
            return Some(b);
        }
        if boards::timer::uptime_us() >= deadline {
            return None;
        }
        if POLLED.load(Ordering::Relaxed) {
            core::hint::spin_loop();
            continue;
        }
        let was = arch::cpu::irq_disable();
        if RX_HEAD.load(Ordering::Acquire) == RX_TAIL.load(Ordering::Relaxed) {
            arch::cpu::wait_for_interrupt();
        }
        arch::cpu::irq_restore(was);
    }
}

/// Received-byte counters: total and dropped for lack of space.
pub fn rx_stats() -> (u64, u64) {
    (
        RX_TOTAL.load(Ordering::Relaxed),
        RX_OVERRUNS.load(Ordering::Relaxed),
    )
}

/// Whether the UART lock is held.
pub fn uart_locked() -> bool {
    UART.is_locked()
}

/// Releases the UART lock.
///
/// # Safety
/// Its holder must never run again (it was abandoned); see
/// [`super::release_abandoned_locks`].
pub unsafe fn force_unlock_uart() {
    // SAFETY: guaranteed by the caller.
    unsafe { UART.force_unlock() }
}
