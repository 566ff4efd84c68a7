//! Heap memory a module allocates through the kernel API (`kmod_alloc` and friends),
//! recorded against the module so that unloading (rmmod, a failed init, after a fault)
//! returns every byte.
//!
//! A module may free or resize only blocks it allocated itself: a pointer the kernel did
//! not hand to that module is refused rather than passed to the allocator, so a module
//! cannot free kernel memory or another module's.

use super::MODULES;
use alloc::collections::BTreeMap;
use core::alloc::Layout;

/// The blocks one module holds.
#[derive(Debug, Default)]
pub struct Heap {
    blocks: BTreeMap<usize, Layout>,
    bytes: usize,
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

    fn insert(&mut self, ptr: *mut u8, l: Layout) {
        self.blocks.insert(ptr as usize, l);
        self.bytes += l.size();
    }

    fn remove(&mut self, ptr: *mut u8) -> Option<Layout> {
        let l = self.blocks.remove(&(ptr as usize))?;
        self.bytes -= l.size();
        Some(l)
    }

    /// Frees every block; returns (bytes, blocks) reclaimed.
    pub fn reclaim(&mut self) -> (usize, usize) {
        let got = (self.bytes, self.blocks.len());
        for (p, l) in core::mem::take(&mut self.blocks) {
            // SAFETY: every recorded block came from `alloc::alloc::alloc`/`realloc` with
            // this layout and was not freed since (frees remove the record first).
            unsafe { alloc::alloc::dealloc(p as *mut u8, l) };
        }
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
        // SAFETY: the layout has non-zero size.
        let p = unsafe { alloc::alloc::alloc(l) };
        if !p.is_null() {
            h.insert(p, l);
        }
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
            // SAFETY: the block was allocated with `l` for this module and is now
            // forgotten by its record.
            unsafe { alloc::alloc::dealloc(ptr, l) }
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
        // SAFETY: `ptr` is a live block of this module allocated with layout `l`.
        let p = unsafe { alloc::alloc::realloc(ptr, l, new_size) };
        if !p.is_null() {
            h.remove(ptr);
            h.insert(p, nl);
        }
        p
    })
    .unwrap_or(core::ptr::null_mut())
}
