//! Stage 2: plan the image layout (sizes and offsets only, no addresses).

use alloc::vec;
use alloc::vec::Vec;

use crate::error::Error;
use crate::object::{Object, SymDef, MAX_SECTION_SIZE};
use crate::reloc;

/// Bytes per veneer: `movz/movk x16` ×4 + `br x16` always reaches any 64-bit target; when the
/// target is within ±4 GiB the shorter `adrp x16; add x16; br x16` form is used and padded.
pub const VENEER_SIZE: u64 = 20;
/// Bytes per GOT slot.
pub const GOT_SLOT_SIZE: u64 = 8;
/// Largest image the planner accepts.
pub const MAX_IMAGE_SIZE: u64 = MAX_SECTION_SIZE;

/// The parts of a module image, in image order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Region {
    /// Executable code (`SHF_EXECINSTR`). Final permission: read + execute.
    Text,
    /// Synthetic branch veneers (PLT), right after text. Read + execute.
    Veneers,
    /// Read-only data. Read-only.
    Rodata,
    /// Synthetic GOT, right after rodata. Read-only once linked.
    Got,
    /// Initialised writable data. Read + write.
    Data,
    /// Zero-initialised writable data, including COMMON symbols. Read + write.
    Bss,
}

impl Region {
    /// All regions in image order.
    pub const ALL: [Region; 6] = [
        Region::Text,
        Region::Veneers,
        Region::Rodata,
        Region::Got,
        Region::Data,
        Region::Bss,
    ];

    /// The permission the region's pages should have after linking.
    pub fn protection(self) -> Protection {
        match self {
            Region::Text | Region::Veneers => Protection::ReadExecute,
            Region::Rodata | Region::Got => Protection::ReadOnly,
            Region::Data | Region::Bss => Protection::ReadWrite,
        }
    }

    /// Short lowercase name (`"text"`, `"veneers"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Region::Text => "text",
            Region::Veneers => "veneers",
            Region::Rodata => "rodata",
            Region::Got => "got",
            Region::Data => "data",
            Region::Bss => "bss",
        }
    }

    fn idx(self) -> usize {
        self as usize
    }
}

/// Final page permissions of a part of the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// Read + execute (text, veneers).
    ReadExecute,
    /// Read only (rodata, GOT).
    ReadOnly,
    /// Read + write, never execute (data, bss).
    ReadWrite,
}

/// Offset and size of a region within the image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    /// Byte offset from the image start.
    pub offset: u64,
    /// Size in bytes (may be 0).
    pub size: u64,
}

/// A page-aligned range of the image with one final protection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Byte offset from the image start (page-aligned).
    pub offset: u64,
    /// Size in bytes (a multiple of the page size, may be 0).
    pub size: u64,
    /// Permission to apply after linking.
    pub protection: Protection,
}

/// The planned image: total size and alignment, and an offset for every region, loaded
/// section, COMMON symbol, GOT slot and veneer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Page size the plan was made for.
    pub page_size: u64,
    /// Total image size (a multiple of the page size).
    pub size: u64,
    /// Required alignment of the image base (at least the page size).
    pub align: u64,
    pub(crate) regions: [Span; 6],
    /// Image offset of each loaded section, indexed by ELF section index.
    pub(crate) section_offsets: Vec<Option<u64>>,
    /// (symbol index, image offset) of each COMMON symbol.
    pub(crate) commons: Vec<(u32, u64)>,
    /// GOT slot keys (canonical symbol, addend), sorted; slot i is at got.offset + 8 i.
    pub(crate) got: Vec<(u32, i64)>,
    /// Veneer keys (canonical symbol, addend), sorted; veneer i is at veneers.offset + 20 i.
    pub(crate) veneers: Vec<(u32, i64)>,
}

fn align_up(v: u64, a: u64) -> Result<u64, Error> {
    v.checked_add(a - 1)
        .map(|x| x & !(a - 1))
        .ok_or(Error::TooLarge {
            what: "image",
            size: v,
        })
}

fn add(a: u64, b: u64) -> Result<u64, Error> {
    a.checked_add(b)
        .filter(|&s| s <= MAX_IMAGE_SIZE)
        .ok_or(Error::TooLarge {
            what: "image",
            size: a.saturating_add(b),
        })
}

impl Layout {
    /// Offset and size of a region.
    pub fn region(&self, r: Region) -> Span {
        self.regions.get(r.idx()).copied().unwrap_or_default()
    }

    /// Image offset of the section with this ELF index, if it is loaded.
    pub fn section_offset(&self, index: usize) -> Option<u64> {
        self.section_offsets.get(index).copied().flatten()
    }

    /// Number of GOT slots.
    pub fn got_slots(&self) -> usize {
        self.got.len()
    }

    /// Number of veneers.
    pub fn veneer_slots(&self) -> usize {
        self.veneers.len()
    }

    /// The three page-aligned permission segments (RX, R, RW), in image order, covering the
    /// whole image.
    pub fn segments(&self) -> [Segment; 3] {
        let ro = self.region(Region::Rodata).offset;
        let rw = self.region(Region::Data).offset;
        [
            Segment {
                offset: 0,
                size: ro,
                protection: Protection::ReadExecute,
            },
            Segment {
                offset: ro,
                size: rw - ro,
                protection: Protection::ReadOnly,
            },
            Segment {
                offset: rw,
                size: self.size - rw,
                protection: Protection::ReadWrite,
            },
        ]
    }
}

impl Object<'_> {
    /// Plan the image for a given page size (a power of two, 4 KiB to 64 KiB).
    ///
    /// Order: text, veneers | rodata, GOT | data, bss (+COMMON), where `|` is a page boundary.
    /// The veneer and GOT counts are computed from the relocations here, before memory exists.
    pub fn plan(&self, page_size: u64) -> Result<Layout, Error> {
        if !page_size.is_power_of_two() || !(4096..=65536).contains(&page_size) {
            return Err(Error::BadPageSize(page_size));
        }
        let text_symbol = |sym: u32| -> bool {
            let canon = self.canon.get(sym as usize).copied().unwrap_or(sym);
            match self.symbols.get(canon as usize).map(|s| s.def) {
                Some(SymDef::Section(n)) => self
                    .sections
                    .get(n)
                    .is_some_and(|s| s.region == Some(Region::Text)),
                _ => false,
            }
        };
        let mut got = Vec::new();
        let mut veneers = Vec::new();
        for rs in &self.relocs {
            for r in &rs.relas {
                let canon = self.canon.get(r.sym as usize).copied().unwrap_or(r.sym);
                if reloc::is_got(r.rtype) {
                    got.push((canon, r.addend));
                } else if reloc::is_branch26(r.rtype) && !text_symbol(r.sym) {
                    veneers.push((canon, r.addend));
                }
            }
        }
        // Sorted, unique keys.
        for keys in [&mut got, &mut veneers] {
            keys.sort_unstable();
            keys.dedup();
        }

        // Loaded sections of each region, in ELF order (one pass over the sections).
        let mut by_region: [Vec<usize>; 6] = Default::default();
        for s in &self.sections {
            if let Some(list) = s.region.and_then(|r| by_region.get_mut(r.idx())) {
                list.push(s.index);
            }
        }

        let mut regions = [Span::default(); 6];
        let mut section_offsets = vec![None; self.sections.len()];
        let mut align = page_size;
        let mut off = 0u64;

        let mut place = |region: Region, off: &mut u64, align: &mut u64| -> Result<(), Error> {
            let secs = by_region
                .get_mut(region.idx())
                .map(core::mem::take)
                .unwrap_or_default();
            // init/fini arrays in GNU ld's priority order; everything else in ELF order.
            let pri = |i: usize| {
                self.sections
                    .get(i)
                    .filter(|s| {
                        matches!(
                            s.sh_type,
                            elf::abi::SHT_INIT_ARRAY | elf::abi::SHT_FINI_ARRAY
                        )
                    })
                    .map(|s| crate::object::init_priority(s.name))
                    .unwrap_or(0)
            };
            let mut secs = secs;
            if secs.iter().any(|&i| pri(i) != 0) {
                secs.sort_by_key(|&i| (pri(i), i));
            }
            for i in secs {
                let Some(s) = self.sections.get(i) else {
                    continue;
                };
                *off = align_up(*off, s.align)?;
                *align = (*align).max(s.align);
                if let Some(slot) = section_offsets.get_mut(i) {
                    *slot = Some(*off);
                }
                *off = add(*off, s.size)?;
            }
            Ok(())
        };

        // RX: text + veneers
        place(Region::Text, &mut off, &mut align)?;
        regions[Region::Text.idx()] = Span {
            offset: 0,
            size: off,
        };
        off = align_up(off, 4)?;
        let vsize = (veneers.len() as u64)
            .checked_mul(VENEER_SIZE)
            .ok_or(Error::TooLarge {
                what: "veneers",
                size: u64::MAX,
            })?;
        regions[Region::Veneers.idx()] = Span {
            offset: off,
            size: vsize,
        };
        off = add(off, vsize)?;

        // R: rodata + GOT
        off = align_up(off, page_size)?;
        let ro_start = off;
        place(Region::Rodata, &mut off, &mut align)?;
        regions[Region::Rodata.idx()] = Span {
            offset: ro_start,
            size: off - ro_start,
        };
        off = align_up(off, GOT_SLOT_SIZE)?;
        let gsize = (got.len() as u64)
            .checked_mul(GOT_SLOT_SIZE)
            .ok_or(Error::TooLarge {
                what: "GOT",
                size: u64::MAX,
            })?;
        regions[Region::Got.idx()] = Span {
            offset: off,
            size: gsize,
        };
        off = add(off, gsize)?;

        // RW: data + bss + COMMON
        off = align_up(off, page_size)?;
        let data_start = off;
        place(Region::Data, &mut off, &mut align)?;
        regions[Region::Data.idx()] = Span {
            offset: data_start,
            size: off - data_start,
        };
        let bss_start = off;
        place(Region::Bss, &mut off, &mut align)?;
        let mut commons = Vec::new();
        for (i, s) in self.symbols.iter().enumerate() {
            if let SymDef::Common { align: a } = s.def {
                off = align_up(off, a)?;
                align = align.max(a);
                commons.push((i as u32, off));
                off = add(off, s.size)?;
            }
        }
        regions[Region::Bss.idx()] = Span {
            offset: bss_start,
            size: off - bss_start,
        };
        let size = align_up(off, page_size)?;
        if size > MAX_IMAGE_SIZE {
            return Err(Error::TooLarge {
                what: "image",
                size,
            });
        }
        Ok(Layout {
            page_size,
            size,
            align,
            regions,
            section_offsets,
            commons,
            got,
            veneers,
        })
    }
}
