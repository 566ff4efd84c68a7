//! Memory: the kernel's address-space layout, page tables and heap.

use arch::mmu::{MapError, MemType, PageTables, Perm, PAGE_SIZE};
use buddy_system_allocator::LockedHeap;
use spin::Mutex;

/// The global allocator: a buddy allocator over all free RAM.
#[global_allocator]
pub static HEAP: LockedHeap<32> = LockedHeap::new();

/// The kernel page tables (installed by [`init_mmu`]).
pub static PAGE_TABLES: Mutex<Option<PageTables>> = Mutex::new(None);

macro_rules! linker_addr {
    ($($name:ident),*) => {
        extern "C" { $(static $name: u8;)* }
        /// Addresses of linker-script symbols.
        #[allow(non_snake_case, missing_docs)]
        pub mod sym {
            $(
                #[inline]
                pub fn $name() -> u64 {
                    core::ptr::addr_of!(super::$name) as u64
                }
            )*
        }
    };
}

linker_addr!(
    __kernel_start,
    __text_end,
    __rodata_start,
    __rodata_end,
    __data_start,
    __data_end,
    __module_stack_guard,
    __module_stack_bottom,
    __module_stack_top,
    __boot_stack_guard,
    __boot_stack_bottom,
    __boot_stack_top,
    __exception_stack_guard,
    __exception_stack_bottom,
    __exception_stack_top,
    __pt_pool_start,
    __pt_pool_end,
    __kernel_end,
    __kallsyms_start,
    __kallsyms_end
);

/// Size reserved for the module area, right after the kernel image.
pub const MODULE_AREA_SIZE: u64 = 64 << 20;

/// The memory map decided at boot.
#[derive(Clone, Copy, Debug, Default)]
pub struct Layout {
    /// RAM base and size.
    pub ram_base: u64,
    /// RAM size.
    pub ram_size: u64,
    /// The module area (page mapped, permissions set per module).
    pub modules_start: u64,
    /// End of the module area.
    pub modules_end: u64,
    /// Heap start.
    pub heap_start: u64,
    /// Heap end.
    pub heap_end: u64,
}

/// The layout, set once by [`init_mmu`].
pub static LAYOUT: spin::Once<Layout> = spin::Once::new();

/// The stack module code runs on, `[low, high)` (set once by the module manager).
pub static MODULE_STACK: spin::Once<(u64, u64)> = spin::Once::new();

/// The module stack reserved in the image: `[low, high)`, an unmapped guard page below
/// it and the boot stack's guard page above it.
pub fn module_stack() -> (u64, u64) {
    (sym::__module_stack_bottom(), sym::__module_stack_top())
}

/// The known stacks, for the unwinder: (name, low, high).
pub fn stacks() -> [(&'static str, u64, u64); 3] {
    let (mlo, mhi) = MODULE_STACK.get().copied().unwrap_or((0, 0));
    [
        ("task", sym::__boot_stack_bottom(), sym::__boot_stack_top()),
        (
            "exception",
            sym::__exception_stack_bottom(),
            sym::__exception_stack_top(),
        ),
        ("module", mlo, mhi),
    ]
}

fn align_up(x: u64, a: u64) -> u64 {
    (x + a - 1) & !(a - 1)
}

/// Builds the identity map and turns the MMU on.
///
/// Phase one maps MMIO, the start of RAM up to the end of the kernel image (device tree,
/// image) so the device tree can be parsed with caches on.
pub fn init_mmu() -> Result<(), MapError> {
    let pool = sym::__pt_pool_start();
    let pages = ((sym::__pt_pool_end() - pool) / PAGE_SIZE) as usize;
    // SAFETY: the linker script reserves this pool for page tables only; the MMU is off.
    let mut pt = unsafe { PageTables::new(pool as *mut u8, pages) };
    // MMIO: the whole low GiB except page 0 (so NULL faults).
    pt.map(
        PAGE_SIZE,
        PAGE_SIZE,
        (2 << 20) - PAGE_SIZE,
        MemType::Device,
        Perm::RW,
        false,
    )?;
    pt.map(
        2 << 20,
        2 << 20,
        (1 << 30) - (2 << 20),
        MemType::Device,
        Perm::RW,
        true,
    )?;
    let ram = boards::virt::RAM_BASE;
    let k = sym::__kernel_start();
    // Device tree area below the image.
    pt.map(ram, ram, k - ram, MemType::Normal, Perm::RW, true)?;
    pt.map(
        k,
        k,
        sym::__text_end() - k,
        MemType::Normal,
        Perm::RX,
        false,
    )?;
    pt.map(
        sym::__rodata_start(),
        sym::__rodata_start(),
        sym::__rodata_end() - sym::__rodata_start(),
        MemType::Normal,
        Perm::RO,
        false,
    )?;
    pt.map(
        sym::__data_start(),
        sym::__data_start(),
        sym::__data_end() - sym::__data_start(),
        MemType::Normal,
        Perm::RW,
        false,
    )?;
    // Stacks, each with an unmapped guard page below it.
    let (m0, m1) = (sym::__module_stack_bottom(), sym::__module_stack_top());
    pt.map(m0, m0, m1 - m0, MemType::Normal, Perm::RW, false)?;
    let (b0, b1) = (sym::__boot_stack_bottom(), sym::__boot_stack_top());
    pt.map(b0, b0, b1 - b0, MemType::Normal, Perm::RW, false)?;
    let (e0, e1) = (
        sym::__exception_stack_bottom(),
        sym::__exception_stack_top(),
    );
    pt.map(e0, e0, e1 - e0, MemType::Normal, Perm::RW, false)?;
    let (p0, p1) = (sym::__pt_pool_start(), sym::__pt_pool_end());
    pt.map(p0, p0, p1 - p0, MemType::Normal, Perm::RW, false)?;
    // SAFETY: everything in use (code, data, stacks, tables, console) is mapped above.
    unsafe { pt.activate() };
    *PAGE_TABLES.lock() = Some(pt);
    Ok(())
}

/// Maps the rest of RAM once its size is known, reserves the module area and starts the heap.
pub fn init_ram(ram_base: u64, ram_size: u64) -> Result<Layout, MapError> {
    let end = ram_base + ram_size;
    let kend = align_up(sym::__kernel_end(), 2 << 20);
    let modules_start = kend;
    let modules_end = modules_start + MODULE_AREA_SIZE;
    let heap_start = modules_end;
    if heap_start + (16 << 20) > end {
        return Err(MapError::BadRange);
    }
    let mut guard = PAGE_TABLES.lock();
    let pt = guard.as_mut().ok_or(MapError::NotMapped)?;
    // The tail of the kernel image's last 2 MiB.
    let tail = sym::__kernel_end();
    if kend > tail {
        pt.map(tail, tail, kend - tail, MemType::Normal, Perm::RW, false)?;
    }
    // The module area stays unmapped until a module is loaded into it (see `map_pages`).
    pt.map(
        heap_start,
        heap_start,
        end - heap_start,
        MemType::Normal,
        Perm::RW,
        true,
    )?;
    drop(guard);
    // SAFETY: [heap_start, end) is RAM mapped just above, used by nothing else.
    unsafe {
        HEAP.lock()
            .init(heap_start as usize, (end - heap_start) as usize)
    };
    let layout = Layout {
        ram_base,
        ram_size,
        modules_start,
        modules_end,
        heap_start,
        heap_end: end,
    };
    LAYOUT.call_once(|| layout);
    Ok(layout)
}

/// Heap statistics: (bytes in use, bytes allocated including rounding, total).
pub fn heap_stats() -> (usize, usize, usize) {
    let h = HEAP.lock();
    (
        h.stats_alloc_user(),
        h.stats_alloc_actual(),
        h.stats_total_bytes(),
    )
}

/// Maps page-granular normal memory (module area) with `perm`.
pub fn map_pages(va: u64, len: u64, perm: Perm) -> Result<(), MapError> {
    PAGE_TABLES.lock().as_mut().ok_or(MapError::NotMapped)?.map(
        va,
        va,
        len,
        MemType::Normal,
        perm,
        false,
    )
}

/// Unmaps page-granular memory (module area).
pub fn unmap_pages(va: u64, len: u64) -> Result<(), MapError> {
    PAGE_TABLES
        .lock()
        .as_mut()
        .ok_or(MapError::NotMapped)?
        .unmap(va, len)
}

/// Changes permissions of page-mapped memory (the module area).
pub fn protect(va: u64, len: u64, perm: Perm) -> Result<(), MapError> {
    PAGE_TABLES
        .lock()
        .as_mut()
        .ok_or(MapError::NotMapped)?
        .protect(va, len, perm)
}

/// Page-table pool usage: (used, total).
pub fn table_usage() -> (usize, usize) {
    PAGE_TABLES
        .lock()
        .as_ref()
        .map(|p| p.usage())
        .unwrap_or((0, 0))
}

/// Whether the page-table lock is held.
pub fn page_tables_locked() -> bool {
    PAGE_TABLES.is_locked()
}

/// Releases the page-table lock.
///
/// # Safety
/// Its holder must never run again (it was abandoned); see
/// [`super::release_abandoned_locks`].
pub unsafe fn force_unlock_page_tables() {
    // SAFETY: guaranteed by the caller.
    unsafe { PAGE_TABLES.force_unlock() }
}
