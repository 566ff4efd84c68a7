//! Crash reports.

use crate::console::Emergency;
use arch::{TrapFrame, TrapKind};
use core::fmt::Write;

/// Reports an unhandled exception.
pub fn exception(frame: &TrapFrame, kind: TrapKind) {
    let mut w = Emergency;
    let _ = writeln!(
        w,
        "\nUnhandled exception: {} EC 0x{:02x} ESR 0x{:016x} FAR 0x{:016x} ELR 0x{:016x} SPSR 0x{:08x}",
        kind.name(),
        frame.ec(),
        frame.esr,
        frame.far,
        frame.elr,
        frame.spsr
    );
}

/// Reports a panic (message and location).
pub fn panic(info: &core::panic::PanicInfo<'_>) {
    let mut w = Emergency;
    let _ = write!(w, "\nKernel panic - not syncing: {}", info.message());
    if let Some(l) = info.location() {
        let _ = write!(w, "\n  at {}:{}:{}", l.file(), l.line(), l.column());
    }
    let _ = writeln!(w);
}

/// Stops after a fatal report: exit QEMU with status 1 under semihosting, else halt.
pub fn halt() -> ! {
    crate::irq::shutdown();
    let _ = boards::semihosting::exit(1);
    loop {
        arch::cpu::wait_for_interrupt();
    }
}
