//! The platform layer: the board description, the console, memory, the sections the
//! build fills into the image (kernel exports, built-in modules, the symbol table), and
//! power. Depends on no other part of the kernel.

pub mod builtin_modules;
pub mod console;
pub mod exports;
pub mod kallsyms;
pub mod mem;

use boards::virt::BoardInfo;

/// Kernel release.
pub const RELEASE: &str = env!("CARGO_PKG_VERSION");

/// What the board probe found, set once at boot.
pub static BOARD: spin::Once<BoardInfo> = spin::Once::new();

/// The board description (fallback defaults before the probe ran).
pub fn board() -> BoardInfo {
    BOARD.get().copied().unwrap_or_else(BoardInfo::fallback)
}

/// Finds the device tree: the loader's x0 if it points at one, else the start of RAM,
/// where QEMU's `-kernel` puts it for ELF images.
pub fn find_dtb(x0: usize) -> Option<&'static [u8]> {
    for candidate in [x0 as u64, boards::virt::RAM_BASE] {
        if candidate == 0 || candidate % 8 != 0 {
            continue;
        }
        let lo = boards::virt::RAM_BASE;
        if candidate < lo || candidate >= mem::sym::__kernel_start() {
            continue;
        }
        let head = arch::probe::read_u64(candidate)?;
        if let Some(size) = boards::virt::fdt_size(head.to_le_bytes()) {
            if candidate + size as u64 <= mem::sym::__kernel_start() {
                // SAFETY: the range is mapped RAM below the kernel image that nothing else
                // uses, and holds a blob with a valid FDT header of this size.
                return Some(unsafe { core::slice::from_raw_parts(candidate as *const u8, size) });
            }
        }
    }
    None
}

/// The device tree the kernel booted with, if any.
pub fn boot_dtb() -> Option<&'static [u8]> {
    find_dtb(0)
}

/// Powers off through PSCI (QEMU exits with status 0).
pub fn poweroff() -> ! {
    arch::cpu::irq_disable();
    boards::psci::system_off(board().psci);
    let _ = boards::semihosting::exit(0);
    loop {
        arch::cpu::wait_for_interrupt();
    }
}

/// Resets through PSCI.
pub fn reboot() -> ! {
    arch::cpu::irq_disable();
    boards::psci::system_reset(board().psci);
    loop {
        arch::cpu::wait_for_interrupt();
    }
}

/// After a module call was abandoned: the console, heap and page-table locks can then
/// only be held by the abandoned code (one CPU; callers of module code hold none of
/// them), which never runs again. Releases them; returns their names.
pub fn release_abandoned_locks() -> alloc::vec::Vec<&'static str> {
    let mut released = alloc::vec::Vec::new();
    if console::uart_locked() {
        // SAFETY: see above.
        unsafe { console::force_unlock_uart() };
        released.push("console");
    }
    if mem::HEAP.is_locked() {
        // SAFETY: see above.
        unsafe { mem::HEAP.force_unlock() };
        released.push("heap");
    }
    if mem::page_tables_locked() {
        // SAFETY: see above.
        unsafe { mem::force_unlock_page_tables() };
        released.push("page tables");
    }
    released
}
