//! Heap memory a module allocates through the kernel API (`kmod_alloc` and friends),
//! recorded against the module so that unloading (rmmod, a failed init, after a fault)
//! returns every byte.
//!
//! A module's blocks do not come from the kernel heap, and no bookkeeping lives beside
//! them: blocks are carved from pages of the module area that belong to that module, and
//! the free lists, block records and mappings are kept in the kernel heap. A module that
//! writes past a block therefore damages only its own memory, never the kernel's
//! allocator or data, and unloading unmaps its pages whole without reading anything the
//! module could have written.
//!
//! - Small blocks (up to [`SMALL_MAX`] bytes, rounded up to a power of two) come from
//!   64 KiB arenas, each followed by an unmapped guard page, split page by page into
//!   blocks of one size.
//! - Larger blocks get pages of their own, placed so that the block ends where an
//!   unmapped guard page begins: running off its end faults at once, in module code,
//!   where the fault is contained.
//!
//! A module may free or resize only blocks it allocated itself: a pointer the kernel did
//! not hand to that module is refused rather than passed to the allocator, so a module
//! cannot free kernel memory or another module's.

use super::{area, MODULES};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use arch::mmu::PAGE_SIZE;
use core::alloc::Layout;

/// Bytes of a small-block arena (an unmapped guard page follows it).
const ARENA: u64 = 64 << 10;
/// The smallest block.
const GRAIN: u64 = 16;
/// The largest small block; anything larger gets pages of its own.
pub const SMALL_MAX: u64 = 2048;
/// Most blocks one module may hold at once. Their records (and free lists) live in the
/// kernel heap, about 100 bytes a block: without a cap, a module allocating tiny blocks in
/// a loop would exhaust the kernel heap before its own pages, and the kernel cannot
/// survive that inside an export. 128 Ki blocks cost at most about 13 MiB of records.
pub const MAX_BLOCKS: usize = 1 << 17;
/// Small size classes: 16, 32, ..., [`SMALL_MAX`].
const CLASSES: usize = (SMALL_MAX.trailing_zeros() - GRAIN.trailing_zeros() + 1) as usize;

/// The small size class of `l` (index into the free lists), or `None` for a large block.
fn class(l: Layout) -> Option<usize> {
    let need = (l.size() as u64).max(l.align() as u64).max(GRAIN);
    (need <= SMALL_MAX)
        .then(|| (need.next_power_of_two().trailing_zeros() - GRAIN.trailing_zeros()) as usize)
}

/// Kernel heap a module's allocation must leave free (the block records live there, and
/// several modules at [`MAX_BLOCKS`] could otherwise exhaust it together).
const KERNEL_HEAP_RESERVE: usize = 8 << 20;

/// Whether the kernel heap is too close to full for another module block's records.
fn kernel_heap_low() -> bool {
    let (_, used, total) = crate::platform::mem::heap_stats();
    total.saturating_sub(used) < KERNEL_HEAP_RESERVE
}

/// Takes `bytes` (a whole number of pages) plus one guard page from the module area and
/// unmaps the guard page. Returns the base of the whole range and its size, guard included.
fn map_with_guard(bytes: u64, align: u64) -> Option<(u64, u64)> {
    let (base, size) = area::allocate(bytes.checked_add(PAGE_SIZE)?, align).ok()?;
    // The last page stays unmapped: a write that runs off the end faults there.
    let _ = crate::platform::mem::unmap_pages(base + size - PAGE_SIZE, PAGE_SIZE);
    Some((base, size))
}

/// The blocks one module holds.
#[derive(Debug, Default)]
pub struct Heap {
    /// Every live block: address and the layout it was asked with.
    blocks: BTreeMap<usize, Layout>,
    bytes: usize,
    /// Free small blocks, by size class.
    free: [Vec<u64>; CLASSES],
    /// Unused pages of the newest arena: `[next, end)`.
    spare: (u64, u64),
    /// Small-block arenas: (base, size with the guard page).
    arenas: Vec<(u64, u64)>,
    /// Large blocks: address -> (base, size with the guard page) of their pages.
    large: BTreeMap<u64, (u64, u64)>,
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

    /// A block for `l` from the module's own pages (none past [`MAX_BLOCKS`]).
    fn carve(&mut self, l: Layout) -> Option<*mut u8> {
        if self.blocks.len() >= MAX_BLOCKS || kernel_heap_low() {
            return None;
        }
        let Some(c) = class(l) else {
            return self.carve_large(l);
        };
        if let Some(p) = self.free[c].pop() {
            return Some(p as *mut u8);
        }
        if self.spare.0 >= self.spare.1 {
            let (base, size) = map_with_guard(ARENA, PAGE_SIZE)?;
            self.arenas.push((base, size));
            self.spare = (base, base + ARENA);
        }
        // One page split into blocks of this class; the lowest is handed out first.
        let page = self.spare.0;
        self.spare.0 += PAGE_SIZE;
        let bsize = GRAIN << c;
        let list = &mut self.free[c];
        list.extend((1..PAGE_SIZE / bsize).rev().map(|i| page + i * bsize));
        Some(page as *mut u8)
    }

    /// A large block on pages of its own, ending at the guard page.
    fn carve_large(&mut self, l: Layout) -> Option<*mut u8> {
        let size = l.size() as u64;
        // The alignment asked for, not more: the block then ends exactly at the guard
        // page whenever its size is a multiple of it (always, for byte alignment).
        let align = (l.align() as u64).max(1);
        let pages = size.checked_add(PAGE_SIZE - 1)? / PAGE_SIZE * PAGE_SIZE;
        // Alignments above a page are had by aligning the mapping itself.
        let (base, mapped) = map_with_guard(pages, align.max(PAGE_SIZE))?;
        let end = base + mapped - PAGE_SIZE;
        let at = (end - size) & !(align - 1);
        self.large.insert(at, (base, mapped));
        Some(at as *mut u8)
    }

    /// Gives a block back.
    fn uncarve(&mut self, p: *mut u8, l: Layout) {
        let at = p as u64;
        match class(l) {
            Some(c) => self.free[c].push(at),
            None => {
                if let Some((base, size)) = self.large.remove(&at) {
                    area::release(base, size);
                }
            }
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

    /// Frees every block (unmapping the module's heap pages whole); returns (bytes,
    /// blocks) reclaimed.
    pub fn reclaim(&mut self) -> (usize, usize) {
        let got = (self.bytes, self.blocks.len());
        let old = core::mem::take(self);
        for (base, size) in old.arenas.into_iter().chain(old.large.into_values()) {
            area::release(base, size);
        }
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
        if class(l).is_some() && class(l) == class(nl) {
            // The block already has room: only its record changes.
            h.remove(ptr);
            h.insert(ptr, nl);
            return ptr;
        }
        let Some(p) = h.carve(nl) else {
            return core::ptr::null_mut();
        };
        // SAFETY: both blocks lie in this module's mapped heap pages and do not overlap
        // (the old one is still held while the new one is carved).
        unsafe { core::ptr::copy_nonoverlapping(ptr, p, l.size().min(new_size)) };
        h.remove(ptr);
        h.uncarve(ptr, l);
        h.insert(p, nl);
        p
    })
    .unwrap_or(core::ptr::null_mut())
}
