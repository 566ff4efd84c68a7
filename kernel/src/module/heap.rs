//! Heap memory a module allocates through the kernel API (`kmod_alloc` and friends),
//! recorded against the module so that unloading (rmmod, a failed init, after a fault)
//! returns every byte.
//!
//! A module's blocks do not come from the kernel heap: each module has arenas of its own,
//! pages taken from the module area with an unmapped guard page after each, and their
//! bookkeeping lives in the kernel heap, outside the arenas. A module that writes past a
//! block therefore damages only its own memory (or faults on a guard page, which is
//! contained), never the kernel's allocator or data; unloading unmaps the arenas whole,
//! without reading anything the module could have written.
//!
//! A module may free or resize only blocks it allocated itself: a pointer the kernel did
//! not hand to that module is refused rather than passed to the allocator, so a module
//! cannot free kernel memory or another module's.

use super::{area, MODULES};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use arch::mmu::PAGE_SIZE;
use core::alloc::Layout;
use klib::area::Area;

/// Usable bytes of a new arena (more when one block needs more).
const ARENA: u64 = 64 << 10;
/// Block sizes and alignments are rounded up to this.
const GRAIN: u64 = 16;

/// Pages of the module area a module's blocks are carved from.
#[derive(Debug)]
struct Arena {
    /// First byte (page aligned).
    base: u64,
    /// Mapped bytes plus the guard page after them.
    size: u64,
    /// Free ranges inside `[base, base + size - PAGE_SIZE)`.
    free: Area,
}

/// The blocks one module holds.
#[derive(Debug, Default)]
pub struct Heap {
    blocks: BTreeMap<usize, Layout>,
    bytes: usize,
    arenas: Vec<Arena>,
}

fn rounded(l: Layout) -> (u64, u64) {
    let size = (l.size() as u64).div_ceil(GRAIN) * GRAIN;
    (size, (l.align() as u64).max(GRAIN))
}

impl Heap {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Blocks held.
    pub fn blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Whether `[start, end)` lies inside one block.
    pub fn covers(&self, start: u64, end: u64) -> bool {
        self.blocks
            .range(..=start as usize)
            .next_back()
            .is_some_and(|(&p, l)| end <= p as u64 + l.size() as u64)
    }

    /// A block for `l` from the module's arenas (a new arena when none has room).
    fn carve(&mut self, l: Layout) -> Option<*mut u8> {
        let (size, align) = rounded(l);
        if let Some(p) = self
            .arenas
            .iter_mut()
            .find_map(|a| a.free.alloc(size, align))
        {
            return Some(p as *mut u8);
        }
        let usable = ARENA.max((size + align).div_ceil(PAGE_SIZE) * PAGE_SIZE);
        let (base, mapped) = area::allocate(usable.checked_add(PAGE_SIZE)?, PAGE_SIZE).ok()?;
        // The last page stays unmapped: a write that runs off the arena faults there.
        let _ = crate::platform::mem::unmap_pages(base + mapped - PAGE_SIZE, PAGE_SIZE);
        let mut free = Area::new(base, mapped - PAGE_SIZE);
        let p = free.alloc(size, align);
        self.arenas.push(Arena {
            base,
            size: mapped,
            free,
        });
        p.map(|p| p as *mut u8)
    }

    /// Gives a block back to the arena it came from.
    fn uncarve(&mut self, p: *mut u8, l: Layout) {
        let (size, _) = rounded(l);
        let at = p as u64;
        if let Some(a) = self
            .arenas
            .iter_mut()
            .find(|a| (a.base..a.base + a.size).contains(&at))
        {
            a.free.free(at, size);
        }
    }

    fn insert(&mut self, ptr: *mut u8, l: Layout) {
        self.blocks.insert(ptr as usize, l);
        self.bytes += l.size();
    }

    fn remove(&mut self, ptr: *mut u8) -> Option<Layout> {
        let l = self.blocks.remove(&(ptr as usize))?;
        self.bytes -= l.size();
        Some(l)
    }

    /// Frees every block (unmapping the arenas whole); returns (bytes, blocks) reclaimed.
    pub fn reclaim(&mut self) -> (usize, usize) {
        let got = (self.bytes, self.blocks.len());
        for a in core::mem::take(&mut self.arenas) {
            area::release(a.base, a.size);
        }
        self.blocks = BTreeMap::new();
        self.bytes = 0;
        got
    }
}

/// Runs `f` on the heap record of the module whose code is running.
fn with_current<R>(f: impl FnOnce(&mut Heap) -> R) -> Option<R> {
    let owner = super::CURRENT.lock();
    let (name, _) = owner.as_ref()?;
    let mut mods = MODULES.lock();
    let m = mods.iter_mut().find(|m| &m.name == name)?;
    Some(f(&mut m.heap))
}

/// `kmod_alloc`: a block for the running module, recorded against it. Null on failure,
/// for a bad layout, or when no module code is running.
pub fn alloc(size: usize, align: usize) -> *mut u8 {
    let Ok(l) = Layout::from_size_align(size.max(1), align.max(1)) else {
        return core::ptr::null_mut();
    };
    with_current(|h| {
        let Some(p) = h.carve(l) else {
            return core::ptr::null_mut();
        };
        h.insert(p, l);
        p
    })
    .unwrap_or(core::ptr::null_mut())
}

/// `kmod_free`: frees the block at `addr` if the running module holds it. Anything else
/// is ignored (the address is only compared, never followed, until it is found).
pub fn free(addr: usize) {
    let ptr = addr as *mut u8;
    if ptr.is_null() {
        return;
    }
    let _ = with_current(|h| {
        if let Some(l) = h.remove(ptr) {
            h.uncarve(ptr, l);
        }
    });
}

/// `kmod_realloc`: resizes the block at `addr` if the running module holds it (null, with
/// the old block still valid, on failure or for an address it does not hold).
pub fn realloc(addr: usize, new_size: usize) -> *mut u8 {
    let ptr = addr as *mut u8;
    if ptr.is_null() || new_size == 0 {
        return core::ptr::null_mut();
    }
    with_current(|h| {
        let Some(&l) = h.blocks.get(&(ptr as usize)) else {
            return core::ptr::null_mut();
        };
        let Ok(nl) = Layout::from_size_align(new_size, l.align()) else {
            return core::ptr::null_mut();
        };
        let Some(p) = h.carve(nl) else {
            return core::ptr::null_mut();
        };
        // SAFETY: both blocks lie in this module's mapped arenas and do not overlap (the
        // old one is still held while the new one is carved).
        unsafe { core::ptr::copy_nonoverlapping(ptr, p, l.size().min(new_size)) };
        h.remove(ptr);
        h.uncarve(ptr, l);
        h.insert(p, nl);
        p
    })
    .unwrap_or(core::ptr::null_mut())
}
