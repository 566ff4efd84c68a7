//! The one MMIO pointer type.
//!
//! [`Mmio<T>`] is a typed pointer to a `tock-registers` register block at a fixed device
//! address. It derefs to `T`, so drivers write `self.regs.CR.write(...)`. Creating one is
//! `unsafe` because the caller asserts that the address really is a mapped device of that
//! type; everything after that is safe register access.

use core::marker::PhantomData;
use core::ops::Deref;

/// A register block of type `T` at a fixed MMIO address.
pub struct Mmio<T> {
    base: usize,
    _t: PhantomData<fn() -> T>,
}

impl<T> Mmio<T> {
    /// # Safety
    /// `base` must be the address of a device-memory mapping of a register block laid out
    /// as `T`, valid for the life of the system, with no other owner doing conflicting
    /// read-modify-write sequences.
    pub const unsafe fn new(base: usize) -> Self {
        Mmio {
            base,
            _t: PhantomData,
        }
    }

    /// The block's base address.
    pub fn base(&self) -> usize {
        self.base
    }
}

impl<T> Deref for Mmio<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: guaranteed by the contract of `new`: `base` points at a live register block.
        unsafe { &*(self.base as *const T) }
    }
}

// SAFETY: an MMIO block is a fixed hardware resource; the register types use volatile
// accesses, and drivers serialise read-modify-write sequences with their own locks.
unsafe impl<T> Send for Mmio<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for Mmio<T> {}
