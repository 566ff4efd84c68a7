//! Stage 1: parse and validate an ELF64 AArch64 relocatable object.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use elf::abi;
use elf::endian::LittleEndian;
use elf::file::Class;
use elf::string_table::StringTable;
use elf::symbol::SymbolTable;
use elf::ElfBytes;

use crate::error::Error;
use crate::reloc;
use crate::Region;

/// Largest size accepted for any single section (including NOBITS) and for the whole image.
pub const MAX_SECTION_SIZE: u64 = 256 << 20;
/// Largest section or COMMON alignment accepted.
pub const MAX_ALIGN: u64 = 64 << 10;

const EHDR_SIZE: u64 = 64;
const SHDR_SIZE: u64 = 64;
const SYM_SIZE: u64 = 24;
const RELA_SIZE: u64 = 24;
const GRP_COMDAT: u32 = 1;
const SHF_WRITE: u64 = abi::SHF_WRITE as u64;
const SHF_ALLOC: u64 = abi::SHF_ALLOC as u64;
const SHF_EXEC: u64 = abi::SHF_EXECINSTR as u64;
const SHF_TLS: u64 = abi::SHF_TLS as u64;
const SHF_COMPRESSED: u64 = abi::SHF_COMPRESSED as u64;

/// Name of the section listing exported symbol names (NUL-separated).
pub const MODEXPORTS: &str = ".modexports";
/// Name of the section holding `key=value` metadata strings (NUL-separated).
pub const MODINFO: &str = ".modinfo";

/// One section of the input object.
#[derive(Clone, Debug)]
pub struct Section<'a> {
    /// ELF section index.
    pub index: usize,
    /// Section name.
    pub name: &'a str,
    /// `sh_type`.
    pub sh_type: u32,
    /// `sh_flags`.
    pub flags: u64,
    /// Size in memory.
    pub size: u64,
    /// Alignment (at least 1, a power of two).
    pub align: u64,
    /// File contents (empty for NOBITS).
    pub data: &'a [u8],
    /// Region the section is loaded into, or `None` if it is not loaded.
    pub region: Option<Region>,
}

/// Where a symbol is defined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SymDef {
    /// `SHN_UNDEF`.
    Undefined,
    /// `SHN_ABS`: the value is the address.
    Absolute,
    /// `SHN_COMMON`: allocated by the loader in the bss region.
    Common {
        /// Required alignment.
        align: u64,
    },
    /// Defined in the section with this ELF index.
    Section(usize),
}

/// One symbol table entry.
#[derive(Clone, Debug)]
pub struct Symbol<'a> {
    /// Name (for section symbols, the section's name).
    pub name: &'a str,
    /// `st_value` (offset within the section; alignment for COMMON).
    pub value: u64,
    /// `st_size`.
    pub size: u64,
    /// `STB_*` binding (`STB_GNU_UNIQUE` is reported as `STB_GLOBAL`).
    pub bind: u8,
    /// `STT_*` type.
    pub sym_type: u8,
    /// Definition.
    pub def: SymDef,
}

impl Symbol<'_> {
    /// Global or weak binding.
    pub fn is_global(&self) -> bool {
        self.bind != abi::STB_LOCAL
    }
    /// Weak binding.
    pub fn is_weak(&self) -> bool {
        self.bind == abi::STB_WEAK
    }
}

/// One relocation (RELA) entry.
#[derive(Clone, Copy, Debug)]
pub struct Rela {
    /// Offset of the place within the target section.
    pub offset: u64,
    /// `R_AARCH64_*` type.
    pub rtype: u32,
    /// Symbol table index.
    pub sym: u32,
    /// Addend.
    pub addend: i64,
}

/// The relocations that apply to one loaded section.
#[derive(Clone, Debug)]
pub struct RelocSection {
    /// ELF index of the section being patched.
    pub target: usize,
    /// Entries.
    pub relas: Vec<Rela>,
}

/// A parsed, validated relocatable object. Borrows the input bytes.
#[derive(Clone, Debug)]
pub struct Object<'a> {
    pub(crate) sections: Vec<Section<'a>>,
    pub(crate) symbols: Vec<Symbol<'a>>,
    /// For each symbol: the symbol whose definition it stands for (itself, or for a global
    /// defined in a discarded COMDAT copy, the kept definition of the same name).
    pub(crate) canon: Vec<u32>,
    pub(crate) relocs: Vec<RelocSection>,
    pub(crate) exports: Vec<&'a str>,
    pub(crate) modinfo: Vec<(String, String)>,
    pub(crate) globals: BTreeMap<&'a str, u32>,
    pub(crate) num_relocs: usize,
}

fn sec_err(index: usize, name: &str, reason: &'static str) -> Error {
    Error::BadSection {
        index,
        name: name.to_string(),
        reason,
    }
}

fn sym_err(index: usize, name: &str, reason: &'static str) -> Error {
    Error::BadSymbol {
        index,
        name: name.to_string(),
        reason,
    }
}

fn check_align(a: u64, max: u64) -> Option<u64> {
    let a = a.max(1);
    (a.is_power_of_two() && a <= max).then_some(a)
}

fn split_strings(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|&b| b == 0).filter(|s| !s.is_empty())
}

/// Sort key for `.init_array.NNNNN`-style names (lower priority number runs first; plain
/// `.init_array` after all numbered ones, as GNU ld's `SORT_BY_INIT_PRIORITY`).
pub(crate) fn init_priority(name: &str) -> u32 {
    name.rsplit_once('.')
        .and_then(|(_, n)| n.parse::<u32>().ok())
        .unwrap_or(65536)
}

impl<'a> Object<'a> {
    /// Parse and validate an ELF64 little-endian AArch64 `ET_REL` object.
    ///
    /// Checks everything that can be checked without addresses: header, section bounds and
    /// overlap, string tables, symbols, COMDAT groups, relocation entries (known type, place
    /// inside the section, valid symbol), `.modexports` and `.modinfo`.
    pub fn parse(bytes: &'a [u8]) -> Result<Object<'a>, Error> {
        // --- header ---
        let ident = bytes.get(..16).ok_or(Error::BadHeader("truncated"))?;
        if ident.get(..4) != Some(&b"\x7fELF"[..]) {
            return Err(Error::BadHeader("not an ELF file"));
        }
        if ident.get(4) != Some(&2) {
            return Err(Error::BadHeader("not ELF64"));
        }
        if ident.get(5) != Some(&1) {
            return Err(Error::BadHeader("not little-endian"));
        }
        let file = ElfBytes::<LittleEndian>::minimal_parse(bytes)?;
        let eh = &file.ehdr;
        if eh.e_type != abi::ET_REL {
            return Err(Error::BadHeader("not a relocatable object (ET_REL)"));
        }
        if eh.e_machine != abi::EM_AARCH64 {
            return Err(Error::BadHeader("not AArch64 (EM_AARCH64)"));
        }
        if eh.version != 1 {
            return Err(Error::BadHeader("bad ELF version"));
        }
        let shdrs = file
            .section_headers()
            .ok_or(Error::BadHeader("no section headers"))?;
        let shnum = shdrs.len();
        if shnum == 0 {
            return Err(Error::BadHeader("no section headers"));
        }
        let mut hdrs = Vec::with_capacity(shnum);
        for i in 0..shnum {
            hdrs.push(shdrs.get(i)?);
        }
        let file_len = bytes.len() as u64;

        // --- section bounds and overlap ---
        let mut ranges: Vec<(u64, u64, usize)> = Vec::with_capacity(shnum + 2);
        ranges.push((0, EHDR_SIZE, usize::MAX));
        let shtab_size = (shnum as u64).saturating_mul(SHDR_SIZE);
        ranges.push((
            eh.e_shoff,
            eh.e_shoff.saturating_add(shtab_size),
            usize::MAX,
        ));
        for (i, h) in hdrs.iter().enumerate().skip(1) {
            if h.sh_size > MAX_SECTION_SIZE {
                return Err(Error::TooLarge {
                    what: "section",
                    size: h.sh_size,
                });
            }
            if h.sh_type == abi::SHT_NOBITS || h.sh_type == abi::SHT_NULL {
                continue;
            }
            let end = h
                .sh_offset
                .checked_add(h.sh_size)
                .filter(|&e| e <= file_len)
                .ok_or_else(|| sec_err(i, "", "contents extend past end of file"))?;
            if h.sh_size > 0 {
                ranges.push((h.sh_offset, end, i));
            }
        }
        ranges.sort_unstable();
        for w in ranges.windows(2) {
            if let [a, b] = w {
                if b.0 < a.1 {
                    let idx = if b.2 == usize::MAX { a.2 } else { b.2 };
                    return Err(sec_err(idx, "", "overlaps another section or a header"));
                }
            }
        }

        // --- section names ---
        let shstrndx = if eh.e_shstrndx == abi::SHN_XINDEX {
            hdrs.first().map(|h| h.sh_link as usize).unwrap_or(0)
        } else {
            eh.e_shstrndx as usize
        };
        let shstr_hdr = hdrs
            .get(shstrndx)
            .filter(|_| shstrndx != 0)
            .ok_or(Error::BadHeader("bad section name string table index"))?;
        let shstrtab = file.section_data_as_strtab(shstr_hdr)?;
        let mut sections = Vec::with_capacity(shnum);
        for (i, h) in hdrs.iter().enumerate() {
            let name = if i == 0 {
                ""
            } else {
                shstrtab
                    .get(h.sh_name as usize)
                    .map_err(|_| sec_err(i, "", "bad name"))?
            };
            let data = if i == 0 || h.sh_type == abi::SHT_NOBITS || h.sh_type == abi::SHT_NULL {
                &[][..]
            } else {
                let end = h
                    .sh_offset
                    .checked_add(h.sh_size)
                    .ok_or_else(|| sec_err(i, name, "contents extend past end of file"))?;
                usize::try_from(h.sh_offset)
                    .ok()
                    .zip(usize::try_from(end).ok())
                    .and_then(|(a, b)| bytes.get(a..b))
                    .ok_or_else(|| sec_err(i, name, "contents extend past end of file"))?
            };
            sections.push(Section {
                index: i,
                name,
                sh_type: h.sh_type,
                flags: h.sh_flags,
                size: h.sh_size,
                align: 1,
                data,
                region: None,
            });
        }

        // --- classify sections ---
        for s in sections.iter_mut().skip(1) {
            let alloc = s.flags & SHF_ALLOC != 0;
            match s.sh_type {
                abi::SHT_SYMTAB_SHNDX => {
                    return Err(Error::Unsupported(
                        "extended section indices (SHT_SYMTAB_SHNDX)",
                    ))
                }
                abi::SHT_REL if alloc => {
                    return Err(sec_err(s.index, s.name, "SHT_REL is allocatable"))
                }
                abi::SHT_PROGBITS
                | abi::SHT_NOBITS
                | abi::SHT_INIT_ARRAY
                | abi::SHT_FINI_ARRAY
                | abi::SHT_PREINIT_ARRAY
                | abi::SHT_NOTE => {}
                _ if alloc => {
                    return Err(sec_err(
                        s.index,
                        s.name,
                        "allocatable section of unsupported type",
                    ))
                }
                _ => continue,
            }
            if !alloc || s.name == MODEXPORTS || s.name == MODINFO {
                continue;
            }
            if s.flags & SHF_TLS != 0 {
                return Err(Error::Unsupported("thread-local storage sections"));
            }
            if s.flags & SHF_COMPRESSED != 0 {
                return Err(sec_err(s.index, s.name, "compressed allocatable section"));
            }
            if s.flags & SHF_WRITE != 0 && s.flags & SHF_EXEC != 0 {
                return Err(sec_err(
                    s.index,
                    s.name,
                    "section is both writable and executable",
                ));
            }
            let h = hdrs.get(s.index).ok_or(Error::BadHeader("section table"))?;
            s.align = check_align(h.sh_addralign, MAX_ALIGN)
                .ok_or_else(|| sec_err(s.index, s.name, "bad or excessive alignment"))?;
            let is_array = matches!(
                s.sh_type,
                abi::SHT_INIT_ARRAY | abi::SHT_FINI_ARRAY | abi::SHT_PREINIT_ARRAY
            );
            if is_array && s.size % 8 != 0 {
                return Err(sec_err(
                    s.index,
                    s.name,
                    "array size is not a multiple of 8",
                ));
            }
            s.region = Some(if s.flags & SHF_EXEC != 0 {
                Region::Text
            } else if s.flags & SHF_WRITE != 0 {
                if s.sh_type == abi::SHT_NOBITS {
                    Region::Bss
                } else {
                    Region::Data
                }
            } else {
                Region::Rodata
            });
        }

        // --- symbol table ---
        let mut symtab_index = None;
        for s in &sections {
            if s.sh_type == abi::SHT_SYMTAB {
                if symtab_index.is_some() {
                    return Err(sec_err(s.index, s.name, "more than one symbol table"));
                }
                symtab_index = Some(s.index);
            }
        }
        let mut symbols = Vec::new();
        if let Some(si) = symtab_index {
            let h = hdrs.get(si).ok_or(Error::BadHeader("section table"))?;
            let sname = sections.get(si).map(|s| s.name).unwrap_or("");
            if h.sh_entsize != SYM_SIZE || h.sh_size % SYM_SIZE != 0 {
                return Err(sec_err(si, sname, "bad symbol table entry size"));
            }
            let strtab_hdr = hdrs
                .get(h.sh_link as usize)
                .filter(|_| h.sh_link != 0)
                .ok_or_else(|| sec_err(si, sname, "bad string table link"))?;
            if strtab_hdr.sh_type != abi::SHT_STRTAB {
                return Err(sec_err(si, sname, "linked string table is not SHT_STRTAB"));
            }
            let sym_data = sections.get(si).map(|s| s.data).unwrap_or(&[]);
            let str_data = sections
                .get(h.sh_link as usize)
                .map(|s| s.data)
                .unwrap_or(&[]);
            let symtab = SymbolTable::new(LittleEndian, Class::ELF64, sym_data);
            let strtab = StringTable::new(str_data);
            let count = symtab.len();
            symbols.reserve_exact(count);
            for i in 0..count {
                let sym = symtab.get(i)?;
                let bind = match sym.st_bind() {
                    abi::STB_GNU_UNIQUE => abi::STB_GLOBAL,
                    b @ (abi::STB_LOCAL | abi::STB_GLOBAL | abi::STB_WEAK) => b,
                    _ => return Err(sym_err(i, "", "unknown binding")),
                };
                let sym_type = sym.st_symtype();
                let def = match sym.st_shndx {
                    abi::SHN_UNDEF => SymDef::Undefined,
                    abi::SHN_ABS => SymDef::Absolute,
                    abi::SHN_COMMON => SymDef::Common {
                        align: check_align(sym.st_value, MAX_ALIGN)
                            .ok_or_else(|| sym_err(i, "", "bad COMMON alignment"))?,
                    },
                    abi::SHN_XINDEX => {
                        return Err(Error::Unsupported("extended section indices (SHN_XINDEX)"))
                    }
                    n if n >= abi::SHN_LORESERVE => {
                        return Err(sym_err(i, "", "reserved section index"))
                    }
                    n if (n as usize) < shnum => SymDef::Section(n as usize),
                    _ => return Err(sym_err(i, "", "section index out of range")),
                };
                let name = if sym_type == abi::STT_SECTION {
                    match def {
                        SymDef::Section(n) => sections.get(n).map(|s| s.name).unwrap_or(""),
                        _ => return Err(sym_err(i, "", "section symbol without a section")),
                    }
                } else if sym.st_name == 0 {
                    ""
                } else {
                    strtab
                        .get(sym.st_name as usize)
                        .map_err(|_| sym_err(i, "", "bad name"))?
                };
                if i == 0 && def != SymDef::Undefined {
                    return Err(sym_err(i, name, "symbol 0 is not the null symbol"));
                }
                if sym_type == abi::STT_TLS {
                    return Err(Error::Unsupported("thread-local symbols"));
                }
                if sym_type == abi::STT_GNU_IFUNC {
                    return Err(Error::Unsupported("IFUNC symbols"));
                }
                if let SymDef::Common { .. } = def {
                    if sym.st_size > MAX_SECTION_SIZE {
                        return Err(Error::TooLarge {
                            what: "COMMON symbol",
                            size: sym.st_size,
                        });
                    }
                    if bind == abi::STB_LOCAL {
                        return Err(sym_err(i, name, "local COMMON symbol"));
                    }
                }
                if let SymDef::Section(n) = def {
                    let sec = sections
                        .get(n)
                        .ok_or_else(|| sym_err(i, name, "bad section"))?;
                    if sec.region.is_some() && sym.st_value > sec.size {
                        return Err(sym_err(i, name, "value lies outside its section"));
                    }
                }
                if bind == abi::STB_LOCAL && def == SymDef::Undefined && i != 0 {
                    return Err(sym_err(i, name, "undefined local symbol"));
                }
                symbols.push(Symbol {
                    name,
                    value: sym.st_value,
                    size: sym.st_size,
                    bind,
                    sym_type,
                    def,
                });
            }
        }

        // --- COMDAT groups: keep the first copy of each signature ---
        let mut seen_groups: BTreeMap<&str, usize> = BTreeMap::new();
        let mut discarded = vec![false; shnum];
        let mut in_group = vec![false; shnum];
        for gi in 0..shnum {
            let (gname, gdata) = match sections.get(gi) {
                Some(s) if s.sh_type == abi::SHT_GROUP => (s.name, s.data),
                _ => continue,
            };
            let h = hdrs.get(gi).ok_or(Error::BadHeader("section table"))?;
            if Some(h.sh_link as usize) != symtab_index {
                return Err(sec_err(
                    gi,
                    gname,
                    "group does not link to the symbol table",
                ));
            }
            if gdata.len() < 4 || gdata.len() % 4 != 0 {
                return Err(sec_err(gi, gname, "bad group size"));
            }
            let sig = symbols
                .get(h.sh_info as usize)
                .ok_or_else(|| sec_err(gi, gname, "bad group signature symbol"))?
                .name;
            let mut words = gdata
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
            let flags = words.next().unwrap_or(0);
            let duplicate = flags & GRP_COMDAT != 0 && seen_groups.contains_key(sig);
            if flags & GRP_COMDAT != 0 && !duplicate {
                seen_groups.insert(sig, gi);
            }
            for m in words {
                let m = m as usize;
                if m == 0 || m >= shnum || m == gi {
                    return Err(sec_err(gi, gname, "bad group member index"));
                }
                let flag = in_group
                    .get_mut(m)
                    .ok_or_else(|| sec_err(gi, gname, "bad group member index"))?;
                if *flag {
                    return Err(sec_err(gi, gname, "section is a member of two groups"));
                }
                *flag = true;
                if duplicate {
                    if let Some(d) = discarded.get_mut(m) {
                        *d = true;
                    }
                    if let Some(s) = sections.get_mut(m) {
                        s.region = None;
                    }
                }
            }
        }

        // --- global symbol table: unique definitions, COMDAT duplicates map to kept copy ---
        let mut globals: BTreeMap<&str, u32> = BTreeMap::new();
        let mut canon: Vec<u32> = (0..symbols.len() as u32).collect();
        for (i, s) in symbols.iter().enumerate() {
            if !s.is_global() || s.def == SymDef::Undefined || s.name.is_empty() {
                continue;
            }
            if let SymDef::Section(n) = s.def {
                if discarded.get(n).copied().unwrap_or(false) {
                    continue;
                }
            }
            if globals.insert(s.name, i as u32).is_some() {
                return Err(Error::DuplicateSymbol(s.name.to_string()));
            }
        }
        for (i, s) in symbols.iter().enumerate() {
            if let SymDef::Section(n) = s.def {
                if discarded.get(n).copied().unwrap_or(false) && s.is_global() {
                    if let (Some(&k), Some(c)) = (globals.get(s.name), canon.get_mut(i)) {
                        *c = k;
                    }
                }
            }
        }

        // --- relocations ---
        let mut relocs = Vec::new();
        let mut num_relocs = 0usize;
        for (ri, h) in hdrs.iter().enumerate() {
            if h.sh_type != abi::SHT_RELA && h.sh_type != abi::SHT_REL {
                continue;
            }
            let rname = sections.get(ri).map(|s| s.name).unwrap_or("");
            let target = h.sh_info as usize;
            let tsec = sections
                .get(target)
                .filter(|_| target != 0)
                .ok_or_else(|| sec_err(ri, rname, "bad relocation target section"))?;
            if tsec.region.is_none() {
                continue; // non-alloc, discarded, or .modinfo/.modexports: skipped
            }
            if h.sh_type == abi::SHT_REL {
                return Err(Error::Unsupported(
                    "SHT_REL relocations (AArch64 uses RELA)",
                ));
            }
            if Some(h.sh_link as usize) != symtab_index {
                return Err(sec_err(
                    ri,
                    rname,
                    "relocations do not link to the symbol table",
                ));
            }
            if h.sh_entsize != RELA_SIZE || h.sh_size % RELA_SIZE != 0 {
                return Err(sec_err(ri, rname, "bad relocation entry size"));
            }
            if tsec.sh_type == abi::SHT_NOBITS {
                return Err(sec_err(ri, rname, "relocations against a NOBITS section"));
            }
            let iter = file.section_data_as_relas(h)?;
            let mut relas = Vec::with_capacity((h.sh_size / RELA_SIZE) as usize);
            for r in iter {
                let bad = |reason| Error::BadRelocation {
                    rtype: r.r_type,
                    section: tsec.name.to_string(),
                    offset: r.r_offset,
                    reason,
                };
                let width = reloc::place_size(r.r_type).ok_or_else(|| Error::Reloc {
                    rtype: r.r_type,
                    symbol: symbols
                        .get(r.r_sym as usize)
                        .map(|s| s.name.to_string())
                        .unwrap_or_default(),
                    section: tsec.name.to_string(),
                    offset: r.r_offset,
                    kind: reloc::RelocError::Unsupported,
                })?;
                let end = r.r_offset.checked_add(width as u64);
                if end.is_none_or(|e| e > tsec.size) {
                    return Err(bad("place lies outside the section"));
                }
                let sym = symbols
                    .get(r.r_sym as usize)
                    .ok_or_else(|| bad("bad symbol index"))?;
                if let SymDef::Section(n) = sym.def {
                    let placed = sections.get(n).is_some_and(|s| s.region.is_some());
                    let redirected = canon.get(r.r_sym as usize) != Some(&r.r_sym);
                    if !placed && !redirected {
                        return Err(bad("refers to a symbol in a section that is not loaded"));
                    }
                }
                relas.push(Rela {
                    offset: r.r_offset,
                    rtype: r.r_type,
                    sym: r.r_sym,
                    addend: r.r_addend,
                });
            }
            if relas.len() as u64 != h.sh_size / RELA_SIZE {
                return Err(sec_err(ri, rname, "truncated relocation table"));
            }
            num_relocs += relas.len();
            relocs.push(RelocSection { target, relas });
        }

        // --- .modexports / .modinfo ---
        let mut exports: Vec<&'a str> = Vec::new();
        let mut export_set: BTreeSet<&'a str> = BTreeSet::new();
        let mut modinfo = Vec::new();
        for s in &sections {
            if s.sh_type == abi::SHT_NOBITS || s.index == 0 {
                continue;
            }
            if s.name == MODEXPORTS {
                for raw in split_strings(s.data) {
                    let name = core::str::from_utf8(raw)
                        .map_err(|_| Error::BadModinfo(".modexports name is not UTF-8".into()))?;
                    if !export_set.insert(name) {
                        return Err(Error::BadExport {
                            name: name.to_string(),
                            reason: "listed twice",
                        });
                    }
                    let ok = globals.get(name).and_then(|&i| symbols.get(i as usize));
                    match ok {
                        Some(sym) if sym.def != SymDef::Undefined => {}
                        _ => {
                            return Err(Error::BadExport {
                                name: name.to_string(),
                                reason: "not a defined global symbol of the module",
                            })
                        }
                    }
                    exports.push(name);
                }
            } else if s.name == MODINFO {
                for raw in split_strings(s.data) {
                    let text = core::str::from_utf8(raw)
                        .map_err(|_| Error::BadModinfo(".modinfo entry is not UTF-8".into()))?;
                    let (k, v) = text
                        .split_once('=')
                        .filter(|(k, _)| !k.is_empty())
                        .ok_or_else(|| Error::BadModinfo(text.to_string()))?;
                    modinfo.push((k.to_string(), v.to_string()));
                }
            }
        }

        Ok(Object {
            sections,
            symbols,
            canon,
            relocs,
            exports,
            modinfo,
            globals,
            num_relocs,
        })
    }

    /// All sections, indexed by ELF section index.
    pub fn sections(&self) -> &[Section<'a>] {
        &self.sections
    }

    /// All symbols, indexed by symbol table index.
    pub fn symbols(&self) -> &[Symbol<'a>] {
        &self.symbols
    }

    /// Relocations against loaded sections.
    pub fn relocations(&self) -> &[RelocSection] {
        &self.relocs
    }

    /// Number of relocations that will be applied.
    pub fn num_relocations(&self) -> usize {
        self.num_relocs
    }

    /// Names listed in `.modexports`.
    pub fn exports(&self) -> &[&'a str] {
        &self.exports
    }

    /// `key=value` pairs from `.modinfo`.
    pub fn modinfo(&self) -> &[(String, String)] {
        &self.modinfo
    }

    /// Names of undefined symbols (the module's imports). Weak ones are flagged `true`.
    pub fn imports(&self) -> impl Iterator<Item = (&'a str, bool)> + '_ {
        self.symbols
            .iter()
            .skip(1)
            .filter(|s| s.def == SymDef::Undefined && !s.name.is_empty())
            .map(|s| (s.name, s.is_weak()))
    }
}
