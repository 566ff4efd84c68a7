//! The MMU: an identity-mapped 39-bit address space with 4 KiB granules.
//!
//! TTBR0_EL1 holds a three-level table (L1 entries cover 1 GiB, L2 2 MiB, L3 4 KiB). Ranges
//! are mapped with the largest block that fits when the caller allows blocks, and with 4 KiB
//! pages otherwise, so that permissions can later be changed page by page (module memory,
//! guard pages). Table pages come from a fixed pool the kernel hands over at boot.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::*;

/// Page size.
pub const PAGE_SIZE: u64 = 4096;
const ENTRIES: usize = 512;
/// Size of the virtual address space (39 bits).
pub const VA_BITS: u64 = 39;

const VALID: u64 = 1 << 0;
const TABLE_OR_PAGE: u64 = 1 << 1;
const ATTR_NORMAL: u64 = 0 << 2;
const ATTR_DEVICE: u64 = 1 << 2;
const AP_RO: u64 = 1 << 7;
const SH_INNER: u64 = 3 << 8;
const AF: u64 = 1 << 10;
const PXN: u64 = 1 << 53;
const UXN: u64 = 1 << 54;
const ADDR_MASK: u64 = 0x0000_ffff_ffff_f000;

/// Memory type of a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemType {
    /// Normal write-back cacheable memory.
    Normal,
    /// Device-nGnRE memory for MMIO.
    Device,
}

/// Access permissions for EL1. EL0 never gets access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perm {
    /// Writable.
    pub write: bool,
    /// Executable.
    pub exec: bool,
}

impl Perm {
    /// Read + execute (text).
    pub const RX: Perm = Perm {
        write: false,
        exec: true,
    };
    /// Read only, never executable (rodata).
    pub const RO: Perm = Perm {
        write: false,
        exec: false,
    };
    /// Read + write, never executable (data, bss, heap, stacks, MMIO).
    pub const RW: Perm = Perm {
        write: true,
        exec: false,
    };
}

/// Why a mapping request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// The table pool is exhausted.
    OutOfTables,
    /// An address or length is not page aligned, or beyond the address space.
    BadRange,
    /// A page-granular change hit a block mapping.
    BlockInTheWay,
    /// The address is not mapped.
    NotMapped,
}

impl core::fmt::Display for MapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            MapError::OutOfTables => "page-table pool exhausted",
            MapError::BadRange => "address range not page aligned or out of range",
            MapError::BlockInTheWay => "range is mapped by a block, not pages",
            MapError::NotMapped => "address not mapped",
        })
    }
}

fn leaf_bits(mem: MemType, perm: Perm) -> u64 {
    let mut bits = VALID | AF | UXN;
    bits |= match mem {
        MemType::Normal => ATTR_NORMAL | SH_INNER,
        MemType::Device => ATTR_DEVICE,
    };
    if !perm.write {
        bits |= AP_RO;
    }
    if !perm.exec || mem == MemType::Device {
        bits |= PXN;
    }
    bits
}

/// The kernel's page tables.
pub struct PageTables {
    pool: *mut [u64; ENTRIES],
    pool_len: usize,
    used: usize,
    live: bool,
}

// SAFETY: the tables are plain memory owned by this value; the kernel keeps it behind a lock.
unsafe impl Send for PageTables {}

impl PageTables {
    /// Takes ownership of `pages` zeroed, page-aligned 4 KiB pages at `pool`.
    ///
    /// # Safety
    /// The memory must be valid, exclusively owned by the returned value for the life of
    /// the system, identity mapped (or the MMU off) and page aligned. Pages are zeroed as
    /// they are taken.
    pub unsafe fn new(pool: *mut u8, pages: usize) -> PageTables {
        let mut pt = PageTables {
            pool: pool as *mut [u64; ENTRIES],
            pool_len: pages,
            used: 0,
            live: false,
        };
        let _root = pt.alloc_table();
        pt
    }

    /// Table pages in use, and the pool size.
    pub fn usage(&self) -> (usize, usize) {
        (self.used, self.pool_len)
    }

    fn alloc_table(&mut self) -> Option<*mut [u64; ENTRIES]> {
        if self.used >= self.pool_len {
            return None;
        }
        // SAFETY: `used < pool_len`, so the pointer stays inside the pool given to `new`, and
        // the page is not yet referenced by any table, so zeroing it is unobservable.
        let t = unsafe {
            let t = self.pool.add(self.used);
            core::ptr::write_bytes(t as *mut u8, 0, PAGE_SIZE as usize);
            t
        };
        self.used += 1;
        Some(t)
    }

    fn root(&self) -> *mut [u64; ENTRIES] {
        self.pool
    }

    /// Physical (= virtual) address of the root table, for TTBR0.
    pub fn root_address(&self) -> u64 {
        self.pool as u64
    }

    fn entry(table: *mut [u64; ENTRIES], index: usize) -> *mut u64 {
        // SAFETY: `index < 512` by construction of every caller (derived from 9-bit fields).
        unsafe { (table as *mut u64).add(index & (ENTRIES - 1)) }
    }

    fn read(e: *mut u64) -> u64 {
        // SAFETY: `e` points into a table page owned by this value.
        unsafe { e.read_volatile() }
    }

    fn write(&self, e: *mut u64, v: u64) {
        // SAFETY: `e` points into a table page owned by this value.
        unsafe { e.write_volatile(v) };
    }

    /// Returns the next-level table under entry `e`, creating it if needed.
    fn next_table(&mut self, e: *mut u64) -> Result<*mut [u64; ENTRIES], MapError> {
        let v = Self::read(e);
        if v & VALID != 0 {
            if v & TABLE_OR_PAGE == 0 {
                return Err(MapError::BlockInTheWay);
            }
            return Ok((v & ADDR_MASK) as *mut [u64; ENTRIES]);
        }
        let t = self.alloc_table().ok_or(MapError::OutOfTables)?;
        self.write(e, (t as u64) | VALID | TABLE_OR_PAGE);
        Ok(t)
    }

    /// Maps `[va, va+len)` to `[pa, pa+len)`.
    pub fn map(
        &mut self,
        va: u64,
        pa: u64,
        len: u64,
        mem: MemType,
        perm: Perm,
        blocks: bool,
    ) -> Result<(), MapError> {
        if !va.is_multiple_of(PAGE_SIZE)
            || !pa.is_multiple_of(PAGE_SIZE)
            || !len.is_multiple_of(PAGE_SIZE)
            || va + len > (1 << VA_BITS)
        {
            return Err(MapError::BadRange);
        }
        let (start, mut replaced) = (va, false);
        let bits = leaf_bits(mem, perm);
        let (mut va, mut pa, end) = (va, pa, va + len);
        while va < end {
            let l1e = Self::entry(self.root(), ((va >> 30) & 511) as usize);
            if blocks
                && va % (1 << 30) == 0
                && pa % (1 << 30) == 0
                && end - va >= 1 << 30
                && Self::read(l1e) & VALID == 0
            {
                self.write(l1e, pa | bits);
                va += 1 << 30;
                pa += 1 << 30;
                continue;
            }
            let l2 = self.next_table(l1e)?;
            let l2e = Self::entry(l2, ((va >> 21) & 511) as usize);
            if blocks
                && va % (1 << 21) == 0
                && pa % (1 << 21) == 0
                && end - va >= 1 << 21
                && Self::read(l2e) & VALID == 0
            {
                self.write(l2e, pa | bits);
                va += 1 << 21;
                pa += 1 << 21;
                continue;
            }
            let l3 = self.next_table(l2e)?;
            let l3e = Self::entry(l3, ((va >> 12) & 511) as usize);
            replaced |= Self::read(l3e) & VALID != 0;
            self.write(l3e, pa | bits | TABLE_OR_PAGE);
            va += PAGE_SIZE;
            pa += PAGE_SIZE;
        }
        if replaced {
            self.flush_range(start, len);
        } else {
            // Only invalid entries became valid: no TLB entry can be stale, so barriers
            // suffice.
            self.publish();
        }
        Ok(())
    }

    fn leaf(&self, va: u64) -> Result<*mut u64, MapError> {
        let l1e = Self::entry(self.root(), ((va >> 30) & 511) as usize);
        let v = Self::read(l1e);
        if v & VALID == 0 {
            return Err(MapError::NotMapped);
        }
        if v & TABLE_OR_PAGE == 0 {
            return Err(MapError::BlockInTheWay);
        }
        let l2e = Self::entry((v & ADDR_MASK) as *mut _, ((va >> 21) & 511) as usize);
        let v = Self::read(l2e);
        if v & VALID == 0 {
            return Err(MapError::NotMapped);
        }
        if v & TABLE_OR_PAGE == 0 {
            return Err(MapError::BlockInTheWay);
        }
        Ok(Self::entry(
            (v & ADDR_MASK) as *mut _,
            ((va >> 12) & 511) as usize,
        ))
    }

    /// Changes the permissions of page-mapped `[va, va+len)`.
    pub fn protect(&mut self, va: u64, len: u64, perm: Perm) -> Result<(), MapError> {
        if !va.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) {
            return Err(MapError::BadRange);
        }
        let mut a = va;
        while a < va + len {
            let e = self.leaf(a)?;
            let v = Self::read(e);
            if v & VALID == 0 {
                return Err(MapError::NotMapped);
            }
            let mem = if v & (7 << 2) == ATTR_DEVICE {
                MemType::Device
            } else {
                MemType::Normal
            };
            self.write(e, (v & ADDR_MASK) | leaf_bits(mem, perm) | TABLE_OR_PAGE);
            a += PAGE_SIZE;
        }
        self.flush_range(va, len);
        Ok(())
    }

    /// Removes page-mapped `[va, va+len)` (guard pages).
    pub fn unmap(&mut self, va: u64, len: u64) -> Result<(), MapError> {
        if !va.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) {
            return Err(MapError::BadRange);
        }
        let mut a = va;
        while a < va + len {
            let e = self.leaf(a)?;
            self.write(e, 0);
            a += PAGE_SIZE;
        }
        self.flush_range(va, len);
        Ok(())
    }

    fn publish(&self) {
        // SAFETY: barriers only: make the descriptor writes visible to the table walker.
        unsafe { core::arch::asm!("dsb ishst", "isb", options(nostack)) };
    }

    /// Invalidates the TLB entries of `[va, va+len)` (page by page for small ranges).
    fn flush_range(&self, va: u64, len: u64) {
        if !self.live {
            return;
        }
        let pages = len / PAGE_SIZE;
        if pages > 64 {
            return self.flush();
        }
        // SAFETY: TLB maintenance by VA after descriptor writes; no memory is changed.
        unsafe { core::arch::asm!("dsb ishst", options(nostack)) };
        for p in 0..pages {
            let arg = (va + p * PAGE_SIZE) >> 12;
            // SAFETY: as above.
            unsafe { core::arch::asm!("tlbi vaae1is, {0}", in(reg) arg, options(nostack)) };
        }
        // SAFETY: as above.
        unsafe { core::arch::asm!("dsb ish", "isb", options(nostack)) };
    }

    fn flush(&self) {
        if self.live {
            // SAFETY: TLB maintenance after descriptor writes; no memory is changed.
            unsafe {
                core::arch::asm!(
                    "dsb ishst",
                    "tlbi vmalle1is",
                    "dsb ish",
                    "isb",
                    options(nostack)
                )
            };
        }
    }

    /// Programs MAIR/TCR/TTBR0 and turns on the MMU, caches and SP alignment checking.
    ///
    /// # Safety
    /// The tables must identity-map all code, data and stacks in use, including this call.
    pub unsafe fn activate(&mut self) {
        MAIR_EL1.write(
            MAIR_EL1::Attr0_Normal_Outer::WriteBack_NonTransient_ReadWriteAlloc
                + MAIR_EL1::Attr0_Normal_Inner::WriteBack_NonTransient_ReadWriteAlloc
                + MAIR_EL1::Attr1_Device::nonGathering_nonReordering_EarlyWriteAck,
        );
        TCR_EL1.write(
            TCR_EL1::TBI0::Used
                + TCR_EL1::IPS::Bits_40
                + TCR_EL1::TG0::KiB_4
                + TCR_EL1::SH0::Inner
                + TCR_EL1::ORGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
                + TCR_EL1::IRGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
                + TCR_EL1::EPD0::EnableTTBR0Walks
                + TCR_EL1::EPD1::DisableTTBR1Walks
                + TCR_EL1::T0SZ.val(64 - VA_BITS),
        );
        TTBR0_EL1.set_baddr(self.root_address());
        // SAFETY: barriers and a full local TLB invalidation before enabling translation.
        unsafe {
            core::arch::asm!(
                "dsb ish",
                "tlbi vmalle1",
                "dsb ish",
                "isb",
                options(nostack)
            )
        };
        SCTLR_EL1.modify(
            SCTLR_EL1::M::Enable
                + SCTLR_EL1::C::Cacheable
                + SCTLR_EL1::I::Cacheable
                + SCTLR_EL1::SA::Enable,
        );
        barrier::isb(barrier::SY);
        self.live = true;
    }
}
