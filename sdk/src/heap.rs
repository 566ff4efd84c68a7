//! The global allocator: every `alloc` allocation goes to the kernel heap.

use crate::ffi;
use core::alloc::{GlobalAlloc, Layout};

/// Forwards to `kmod_alloc` / `kmod_free` / `kmod_realloc`. Installed as the
/// `#[global_allocator]` of every module built for the kernel target.
pub struct KernelAllocator;

// SAFETY: the kernel heap returns blocks of at least the requested size and alignment (or
// null), and frees/resizes blocks given the layout they were allocated with.
unsafe impl GlobalAlloc for KernelAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: kernel export; any size/alignment is accepted (bad ones give null).
        unsafe { ffi::kmod_alloc(layout.size(), layout.align()) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc`/`realloc` with this layout (GlobalAlloc contract).
        unsafe { ffi::kmod_free(ptr, layout.size(), layout.align()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout` (GlobalAlloc contract).
        unsafe { ffi::kmod_realloc(ptr, layout.size(), layout.align(), new_size) }
    }
}

#[cfg(all(target_os = "none", not(test)))]
#[global_allocator]
static ALLOCATOR: KernelAllocator = KernelAllocator;
