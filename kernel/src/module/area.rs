//! Pages in the module area: [`klib::area`] over the window the memory map reserves, plus
//! mapping and unmapping.

use arch::mmu::{MapError, Perm, PAGE_SIZE};
use klib::area::Area;
use spin::Mutex;

static AREA: Mutex<Option<Area>> = Mutex::new(None);

/// After an abandoned call: releases the area's lock if the abandoned code held it (one
/// CPU; callers of module code hold no area lock). Returns whether it was held.
pub fn release_abandoned_lock() -> bool {
    let held = AREA.is_locked();
    if held {
        // SAFETY: see above: the holder was abandoned and never runs again.
        unsafe { AREA.force_unlock() };
    }
    held
}

/// Takes the module area from the memory map.
pub fn init(layout: &crate::platform::mem::Layout) {
    *AREA.lock() = Some(Area::new(
        layout.modules_start,
        layout.modules_end - layout.modules_start,
    ));
}

/// Whether `addr` lies in the module area.
pub fn contains(addr: u64) -> bool {
    crate::platform::mem::LAYOUT
        .get()
        .map(|l| (l.modules_start..l.modules_end).contains(&addr))
        .unwrap_or(false)
}

/// Why pages could not be had.
#[derive(Debug)]
pub enum AreaError {
    /// No free range fits.
    Full,
    /// The page tables refused.
    Map(MapError),
}

/// `size` bytes (rounded up to pages) aligned to `align`, mapped read-write.
pub fn allocate(size: u64, align: u64) -> Result<(u64, u64), AreaError> {
    let size = (size.max(1) + PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
    let base = AREA
        .lock()
        .as_mut()
        .and_then(|a| a.alloc(size, align.max(PAGE_SIZE)))
        .ok_or(AreaError::Full)?;
    if let Err(e) = crate::platform::mem::map_pages(base, size, Perm::RW) {
        free(base, size);
        return Err(AreaError::Map(e));
    }
    Ok((base, size))
}

fn free(base: u64, size: u64) {
    if let Some(a) = AREA.lock().as_mut() {
        a.free(base, size);
    }
}

/// Unmaps pages from [`allocate`] and gives them back.
pub fn release(base: u64, size: u64) {
    let _ = crate::platform::mem::protect(base, size, Perm::RW);
    let _ = crate::platform::mem::unmap_pages(base, size);
    free(base, size);
}
