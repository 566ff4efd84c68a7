//! Stages 3–5: resolve symbols, compute every relocation, then write the image.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use elf::abi;

use crate::error::Error;
use crate::layout::{Layout, Region, GOT_SLOT_SIZE, VENEER_SIZE};
use crate::object::{Object, SymDef};
use crate::reloc::{self, Patch, RelocError};

/// Looks up the address of a symbol the module imports.
///
/// The caller composes the kernel's exports and other modules' exports. Closures
/// `Fn(&str) -> Option<u64>` implement this trait.
pub trait Resolver {
    /// Address of `name`, or `None` if unknown.
    fn resolve(&self, name: &str) -> Option<u64>;
}

impl<F: Fn(&str) -> Option<u64>> Resolver for F {
    fn resolve(&self, name: &str) -> Option<u64> {
        self(name)
    }
}

impl Resolver for BTreeMap<String, u64> {
    fn resolve(&self, name: &str) -> Option<u64> {
        self.get(name).copied()
    }
}

/// A resolver that knows no symbols.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoSymbols;

impl Resolver for NoSymbols {
    fn resolve(&self, _name: &str) -> Option<u64> {
        None
    }
}

/// A symbol defined by the module, at its final address (for oops symbolization).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleSymbol {
    /// Symbol name.
    pub name: String,
    /// Final address.
    pub addr: u64,
    /// `st_size`.
    pub size: u64,
    /// `STT_FUNC`, or an untyped label in executable code.
    pub is_func: bool,
    /// Global or weak binding.
    pub is_global: bool,
}

/// An exported symbol (listed in `.modexports`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportedSymbol {
    /// Symbol name.
    pub name: String,
    /// Final address.
    pub addr: u64,
}

/// Where an input section was placed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacedSection {
    /// ELF section index in the object.
    pub index: usize,
    /// Section name.
    pub name: String,
    /// Final address.
    pub addr: u64,
    /// Size in bytes.
    pub size: u64,
    /// Offset within the image.
    pub image_offset: u64,
    /// Region it belongs to.
    pub region: Region,
}

/// Where a region (including the synthetic GOT and veneer regions) was placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlacedRegion {
    /// Which region.
    pub region: Region,
    /// Final address.
    pub addr: u64,
    /// Size in bytes.
    pub size: u64,
    /// Offset within the image.
    pub image_offset: u64,
}

/// A GOT slot or veneer: where it is and what it reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntheticEntry {
    /// Symbol name (section name for section symbols, empty for symbol 0).
    pub symbol: String,
    /// Addend the entry was created for.
    pub addend: i64,
    /// Address of the slot or veneer.
    pub addr: u64,
    /// The value stored in the slot / the address the veneer branches to.
    pub target: u64,
}

/// Description of a linked module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedModule {
    /// Image base address.
    pub base: u64,
    /// Image size in bytes.
    pub size: u64,
    /// Address of `init_module`, if defined.
    pub init: Option<u64>,
    /// Address of `cleanup_module`, if defined.
    pub exit: Option<u64>,
    /// `.preinit_array` then `.init_array` entries (relocated), in call order.
    pub init_array: Vec<u64>,
    /// `.fini_array` entries (relocated), in array order; call them last to first.
    pub fini_array: Vec<u64>,
    /// The module's own symbols, sorted by address.
    pub symbols: Vec<ModuleSymbol>,
    /// Exported symbols, in `.modexports` order.
    pub exports: Vec<ExportedSymbol>,
    /// `.modinfo` metadata.
    pub modinfo: Vec<(String, String)>,
    /// Every loaded input section.
    pub sections: Vec<PlacedSection>,
    /// Every region, in image order (Text, Veneers, Rodata, Got, Data, Bss).
    pub regions: Vec<PlacedRegion>,
    /// GOT slots.
    pub got: Vec<SyntheticEntry>,
    /// Veneers.
    pub veneers: Vec<SyntheticEntry>,
}

impl LoadedModule {
    /// Placement of a region.
    pub fn region(&self, r: Region) -> Option<&PlacedRegion> {
        self.regions.iter().find(|p| p.region == r)
    }

    /// The symbol containing `addr` and the offset into it (nearest preceding function or
    /// object whose size covers `addr`; zero-sized symbols match only exactly).
    pub fn symbolize(&self, addr: u64) -> Option<(&ModuleSymbol, u64)> {
        let idx = self.symbols.partition_point(|s| s.addr <= addr);
        self.symbols
            .get(..idx)?
            .iter()
            .rev()
            .take(64)
            .find(|s| addr - s.addr < s.size.max(1))
            .map(|s| (s, addr - s.addr))
    }

    /// Address of a module symbol by name (globals preferred).
    pub fn symbol(&self, name: &str) -> Option<u64> {
        let mut found = None;
        for s in self.symbols.iter().filter(|s| s.name == name) {
            if s.is_global {
                return Some(s.addr);
            }
            found.get_or_insert(s.addr);
        }
        found
    }
}

const NOP: u32 = 0xd503_201f;
const BR_X16: u32 = 0xd61f_0200;

/// Encode a veneer at `at` that branches to `target` through x16.
pub fn veneer_code(at: u64, target: u64) -> [u8; VENEER_SIZE as usize] {
    let mut words = [NOP; 5];
    let delta = (target & !0xfff).wrapping_sub(at & !0xfff) as i64;
    if (-(1i64 << 32)..(1i64 << 32)).contains(&delta) {
        let imm = ((delta >> 12) as u32) & 0x1f_ffff;
        words[0] = 0x9000_0010 | ((imm & 3) << 29) | (((imm >> 2) & 0x7ffff) << 5); // adrp x16
        words[1] = 0x9100_0210 | (((target & 0xfff) as u32) << 10); // add x16, x16, #lo12
        words[2] = BR_X16;
    } else {
        for hw in 0..4u32 {
            let imm = ((target >> (16 * hw)) & 0xffff) as u32;
            let op = if hw == 0 { 0xd280_0010 } else { 0xf280_0010 }; // movz / movk x16
            words[hw as usize] = op | (hw << 21) | (imm << 5);
        }
        words[4] = BR_X16;
    }
    let mut out = [0u8; VENEER_SIZE as usize];
    for (chunk, w) in out.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    out
}

struct PendingPatch {
    offset: usize,
    patch: Patch,
    section: usize,
    rtype: u32,
    place: u64,
}

impl Object<'_> {
    fn sym_display(&self, sym: u32) -> String {
        match self.symbols.get(sym as usize) {
            Some(s) if !s.name.is_empty() => s.name.to_string(),
            _ => alloc::format!("<symbol {sym}>"),
        }
    }

    /// Link the object into `image`, which will live at address `base`.
    ///
    /// `layout` must come from [`Object::plan`] on this object; `image.len()` must equal
    /// `layout.size` and `base` must be aligned to `layout.align`. Undefined symbols are
    /// looked up through `resolver`; weak ones it does not know resolve to 0.
    ///
    /// Two passes: every relocation, GOT slot and veneer is computed and checked first; the
    /// image is written only when all succeeded. On `Err` the image is untouched.
    pub fn link(
        &self,
        layout: &Layout,
        image: &mut [u8],
        base: u64,
        resolver: &dyn Resolver,
    ) -> Result<LoadedModule, Error> {
        if self.plan(layout.page_size)? != *layout {
            return Err(Error::LayoutMismatch);
        }
        if image.len() as u64 != layout.size {
            return Err(Error::ImageSize {
                expected: layout.size,
                actual: image.len() as u64,
            });
        }
        if base & (layout.align - 1) != 0 || base.checked_add(layout.size).is_none() {
            return Err(Error::BadBase {
                base,
                align: layout.align,
            });
        }
        let sec_addr = |i: usize| layout.section_offset(i).map(|o| base + o);

        // --- symbol values ---
        let mut values: Vec<u64> = Vec::with_capacity(self.symbols.len());
        let mut missing: Vec<String> = Vec::new();
        let mut missing_seen: alloc::collections::BTreeSet<&str> = Default::default();
        let mut weak_unresolved: Vec<bool> = alloc::vec![false; self.symbols.len()];
        for (i, s) in self.symbols.iter().enumerate() {
            let v = match s.def {
                SymDef::Undefined if i == 0 => 0,
                SymDef::Undefined => match resolver.resolve(s.name) {
                    Some(v) => v,
                    None if s.is_weak() => {
                        if let Some(w) = weak_unresolved.get_mut(i) {
                            *w = true;
                        }
                        0
                    }
                    None => {
                        if missing_seen.insert(s.name) {
                            missing.push(s.name.to_string());
                        }
                        0
                    }
                },
                SymDef::Absolute => s.value,
                SymDef::Common { .. } => layout
                    .commons
                    .binary_search_by_key(&(i as u32), |c| c.0)
                    .ok()
                    .and_then(|k| layout.commons.get(k))
                    .map(|c| base + c.1)
                    .unwrap_or(0),
                // Symbols in sections that are not loaded (debug info, discarded COMDAT
                // copies) get 0; parse() guarantees no loaded relocation uses them directly.
                SymDef::Section(n) => sec_addr(n).map(|a| a + s.value).unwrap_or(0),
            };
            values.push(v);
        }
        if !missing.is_empty() {
            return Err(Error::UnknownSymbols(missing));
        }
        let value_of = |sym: u32| -> u64 {
            let c = self.canon.get(sym as usize).copied().unwrap_or(sym);
            values.get(c as usize).copied().unwrap_or(0)
        };

        // --- GOT and veneers ---
        let got_span = layout.region(Region::Got);
        let ven_span = layout.region(Region::Veneers);
        let got: Vec<SyntheticEntry> = layout
            .got
            .iter()
            .enumerate()
            .map(|(i, &(sym, addend))| SyntheticEntry {
                symbol: self.sym_display(sym),
                addend,
                addr: base + got_span.offset + i as u64 * GOT_SLOT_SIZE,
                target: value_of(sym).wrapping_add(addend as u64),
            })
            .collect();
        let veneers: Vec<SyntheticEntry> = layout
            .veneers
            .iter()
            .enumerate()
            .map(|(i, &(sym, addend))| SyntheticEntry {
                symbol: self.sym_display(sym),
                addend,
                addr: base + ven_span.offset + i as u64 * VENEER_SIZE,
                target: value_of(sym).wrapping_add(addend as u64),
            })
            .collect();

        // --- pass 1: compute every patch ---
        let mut patches: Vec<PendingPatch> = Vec::with_capacity(self.num_relocs);
        for rs in &self.relocs {
            let sec = self.sections.get(rs.target).ok_or(Error::LayoutMismatch)?;
            let sec_off = layout
                .section_offset(rs.target)
                .ok_or(Error::LayoutMismatch)?;
            for r in &rs.relas {
                let err = |kind: RelocError| Error::Reloc {
                    rtype: r.rtype,
                    symbol: self.sym_display(r.sym),
                    section: sec.name.to_string(),
                    offset: r.offset,
                    kind,
                };
                let place = usize::try_from(r.offset)
                    .ok()
                    .and_then(|o| sec.data.get(o..))
                    .ok_or_else(|| err(RelocError::PlaceTooSmall))?;
                let img_off = sec_off + r.offset;
                let p = base + img_off;
                let canon = self.canon.get(r.sym as usize).copied().unwrap_or(r.sym);
                let patch = if reloc::is_got(r.rtype) {
                    let slot = layout
                        .got
                        .binary_search(&(canon, r.addend))
                        .map_err(|_| Error::LayoutMismatch)?;
                    let s = base + got_span.offset + slot as u64 * GOT_SLOT_SIZE;
                    reloc::compute(r.rtype, place, p, s, 0).map_err(err)?
                } else if reloc::is_branch26(r.rtype)
                    && weak_unresolved.get(canon as usize) == Some(&true)
                {
                    // A call to an absent weak function becomes a NOP ("branch to the next
                    // instruction"), as GNU ld does; callers guard such calls anyway.
                    Patch {
                        width: 4,
                        value: NOP as u64,
                    }
                } else {
                    let s = value_of(r.sym);
                    match reloc::compute(r.rtype, place, p, s, r.addend) {
                        Err(e @ RelocError::Overflow { .. }) if reloc::is_branch26(r.rtype) => {
                            let slot = layout
                                .veneers
                                .binary_search(&(canon, r.addend))
                                .map_err(|_| err(e))?;
                            let v = base + ven_span.offset + slot as u64 * VENEER_SIZE;
                            reloc::compute(r.rtype, place, p, v, 0).map_err(err)?
                        }
                        other => other.map_err(err)?,
                    }
                };
                if patch.width > 0 {
                    patches.push(PendingPatch {
                        offset: img_off as usize,
                        patch,
                        section: rs.target,
                        rtype: r.rtype,
                        place: r.offset,
                    });
                }
            }
        }
        // Relocations are never stacked on AArch64; refuse overlapping places rather than
        // silently losing one of them. Patches usually come out in image order already (then
        // their index order is the sorted order and no copy is needed).
        let span = |p: &PendingPatch| (p.offset, p.offset + p.patch.width as usize);
        let in_order = patches.windows(2).all(|w| match w {
            [a, b] => span(a) <= span(b),
            _ => true,
        });
        let mut spans: Vec<(usize, usize, usize)> = Vec::new();
        if !in_order {
            spans = patches
                .iter()
                .enumerate()
                .map(|(i, p)| (p.offset, p.offset + p.patch.width as usize, i))
                .collect();
            spans.sort_unstable();
        }
        let first_overlap = if in_order {
            patches
                .windows(2)
                .position(|w| matches!(w, [a, b] if b.offset < span(a).1))
                .map(|k| k + 1)
        } else {
            spans
                .windows(2)
                .find(|w| matches!(w, [a, b] if b.0 < a.1))
                .and_then(|w| w.get(1))
                .map(|b| b.2)
        };
        if let Some(i) = first_overlap {
            let p = patches.get(i).ok_or(Error::LayoutMismatch)?;
            return Err(Error::BadRelocation {
                rtype: p.rtype,
                section: self
                    .sections
                    .get(p.section)
                    .map(|s| s.name.to_string())
                    .unwrap_or_default(),
                offset: p.place,
                reason: "another relocation patches overlapping bytes",
            });
        }

        // --- entry points ---
        let entry = |name: &'static str| -> Result<Option<u64>, Error> {
            let Some(&i) = self.globals.get(name) else {
                return Ok(None);
            };
            let sym = self.symbols.get(i as usize).ok_or(Error::LayoutMismatch)?;
            match sym.def {
                SymDef::Section(n)
                    if self.sections.get(n).and_then(|s| s.region) == Some(Region::Text) =>
                {
                    Ok(Some(value_of(i)))
                }
                _ => Err(Error::BadEntry(name)),
            }
        };
        let init = entry("init_module")?;
        let exit = entry("cleanup_module")?;

        // --- pass 2: write (nothing below can fail on a layout that passed the checks) ---
        image.fill(0);
        for s in &self.sections {
            if let (Some(off), false) = (layout.section_offset(s.index), s.data.is_empty()) {
                let off = off as usize;
                if let Some(dst) = image.get_mut(off..off + s.data.len()) {
                    dst.copy_from_slice(s.data);
                }
            }
        }
        for (i, g) in got.iter().enumerate() {
            let off = (got_span.offset + i as u64 * GOT_SLOT_SIZE) as usize;
            if let Some(dst) = image.get_mut(off..off + 8) {
                dst.copy_from_slice(&g.target.to_le_bytes());
            }
        }
        for (i, v) in veneers.iter().enumerate() {
            let off = (ven_span.offset + i as u64 * VENEER_SIZE) as usize;
            if let Some(dst) = image.get_mut(off..off + VENEER_SIZE as usize) {
                dst.copy_from_slice(&veneer_code(v.addr, v.target));
            }
        }
        for p in &patches {
            if let Some(dst) = image.get_mut(p.offset..) {
                // Width was checked against the section bounds in pass 1.
                let _ = p.patch.write(dst);
            }
        }

        // --- description ---
        let read_array = |types: &[u32]| -> Vec<u64> {
            let mut secs: Vec<&crate::object::Section<'_>> = self
                .sections
                .iter()
                .filter(|s| s.region.is_some() && types.contains(&s.sh_type))
                .collect();
            secs.sort_by_key(|s| {
                let kind = types.iter().position(|&t| t == s.sh_type).unwrap_or(0);
                (kind, crate::object::init_priority(s.name), s.index)
            });
            let mut out = Vec::new();
            for s in secs {
                let Some(off) = layout.section_offset(s.index) else {
                    continue;
                };
                let off = off as usize;
                if let Some(bytes) = image.get(off..off + s.size as usize) {
                    for c in bytes.chunks_exact(8) {
                        let mut w = [0u8; 8];
                        w.copy_from_slice(c);
                        out.push(u64::from_le_bytes(w));
                    }
                }
            }
            out
        };
        let init_array = read_array(&[abi::SHT_PREINIT_ARRAY, abi::SHT_INIT_ARRAY]);
        let fini_array = read_array(&[abi::SHT_FINI_ARRAY]);

        // Sort small (address, name, index, region) keys, then build the owned entries once,
        // in their final order.
        let mut keys: Vec<(u64, &str, usize, Region)> = Vec::with_capacity(self.symbols.len());
        for (i, s) in self.symbols.iter().enumerate().skip(1) {
            if matches!(s.sym_type, abi::STT_SECTION | abi::STT_FILE)
                || s.name.is_empty()
                || s.name.starts_with('$')
                || s.name.starts_with(".L")
            {
                continue;
            }
            let region = match s.def {
                SymDef::Section(n) => match self.sections.get(n).and_then(|x| x.region) {
                    Some(r) if self.canon.get(i) == Some(&(i as u32)) => r,
                    _ => continue,
                },
                SymDef::Common { .. } => Region::Bss,
                _ => continue,
            };
            keys.push((values.get(i).copied().unwrap_or(0), s.name, i, region));
        }
        // Stable, like sorting the entries themselves by (address, name).
        keys.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let mut symbols = Vec::with_capacity(keys.len());
        for (addr, name, i, region) in keys {
            let Some(s) = self.symbols.get(i) else {
                continue;
            };
            symbols.push(ModuleSymbol {
                name: name.to_string(),
                addr,
                size: s.size,
                is_func: s.sym_type == abi::STT_FUNC
                    || (s.sym_type == abi::STT_NOTYPE && region == Region::Text),
                is_global: s.is_global(),
            });
        }

        let exports = self
            .exports
            .iter()
            .map(|&name| ExportedSymbol {
                name: name.to_string(),
                addr: self.globals.get(name).map(|&i| value_of(i)).unwrap_or(0),
            })
            .collect();

        let mut placed: Vec<(u64, &crate::object::Section<'_>, Region)> = self
            .sections
            .iter()
            .filter_map(|s| Some((layout.section_offset(s.index)?, s, s.region?)))
            .collect();
        placed.sort_by_key(|p| p.0);
        let sections: Vec<PlacedSection> = placed
            .into_iter()
            .map(|(off, s, region)| PlacedSection {
                index: s.index,
                name: s.name.to_string(),
                addr: base + off,
                size: s.size,
                image_offset: off,
                region,
            })
            .collect();

        let regions = Region::ALL
            .iter()
            .map(|&r| {
                let sp = layout.region(r);
                PlacedRegion {
                    region: r,
                    addr: base + sp.offset,
                    size: sp.size,
                    image_offset: sp.offset,
                }
            })
            .collect();

        Ok(LoadedModule {
            base,
            size: layout.size,
            init,
            exit,
            init_array,
            fini_array,
            symbols,
            exports,
            modinfo: self.modinfo.clone(),
            sections,
            regions,
            got,
            veneers,
        })
    }
}
