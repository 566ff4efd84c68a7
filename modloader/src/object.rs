//! Stage 1: parse and validate an ELF64 AArch64 relocatable object.

use alloc::collections::BTreeSet;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use elf::abi;
use elf::endian::LittleEndian;
use elf::section::SectionHeaderTable;
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
    pub(crate) globals: Names<'a>,
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

/// Little-endian field readers for fixed-size records (0 if out of range; never panic).
#[inline(always)]
fn le16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at.wrapping_add(2)) {
        Some(&[x0, x1]) => u16::from_le_bytes([x0, x1]),
        _ => 0,
    }
}

#[inline(always)]
fn le32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at.wrapping_add(4)) {
        Some(&[x0, x1, x2, x3]) => u32::from_le_bytes([x0, x1, x2, x3]),
        _ => 0,
    }
}

#[inline(always)]
fn le64(b: &[u8], at: usize) -> u64 {
    match b.get(at..at.wrapping_add(8)) {
        Some(&[x0, x1, x2, x3, x4, x5, x6, x7]) => {
            u64::from_le_bytes([x0, x1, x2, x3, x4, x5, x6, x7])
        }
        _ => 0,
    }
}

/// Position of the first NUL byte, eight bytes at a time.
#[inline]
fn nul_position(b: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut chunks = b.chunks_exact(8);
    let mut at = 0usize;
    for c in &mut chunks {
        let w = le64(c, 0);
        // Exact for the lowest zero byte (false positives only above a real zero).
        let z = w.wrapping_sub(LO) & !w & HI;
        if z != 0 {
            return Some(at + (z.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&x| x == 0)
        .map(|p| at + p)
}

/// True if the non-empty ranges `[start, end)` are shown pairwise disjoint cheaply. Objects
/// lay sections out in a few runs of ascending offsets (contents, relocations, ...): split the
/// ranges greedily into at most `CHAINS` runs with ascending starts, merge the runs in start
/// order and compare neighbours. `false` means an overlap or too many runs; the caller then
/// sorts, which also finds the overlap to report.
fn disjoint(ranges: &[(u64, u64, usize)]) -> bool {
    const CHAINS: usize = 8;
    const NONE: u8 = u8::MAX;
    let mut tails = [0u64; CHAINS];
    let mut used = 0usize;
    let mut chain = vec![NONE; ranges.len()];
    for (&(s, _, _), c) in ranges.iter().zip(chain.iter_mut()) {
        // Best fit: the run whose last start is the largest one not above `s`.
        let mut best: Option<(usize, u64)> = None;
        for (k, &t) in tails.iter().enumerate().take(used) {
            if t <= s && best.is_none_or(|(_, bt)| bt < t) {
                best = Some((k, t));
            }
        }
        let k = match best {
            Some((k, _)) => k,
            None if used < CHAINS => {
                used += 1;
                used - 1
            }
            None => return false,
        };
        if let Some(t) = tails.get_mut(k) {
            *t = s;
        }
        *c = k as u8;
    }
    // Merge: `next[k]` is the index of run k's next range (ranges.len() when exhausted).
    let mut next = [0usize; CHAINS];
    let mut prev_end = 0u64;
    loop {
        let mut best: Option<(usize, u64)> = None;
        for (k, n) in next.iter_mut().enumerate().take(used) {
            while chain.get(*n).is_some_and(|&c| usize::from(c) != k) {
                *n += 1;
            }
            if let Some(&(s, _, _)) = ranges.get(*n) {
                if best.is_none_or(|(_, bs)| s < bs) {
                    best = Some((k, s));
                }
            }
        }
        let Some((k, s)) = best else {
            return true;
        };
        let Some(n) = next.get_mut(k) else {
            return false;
        };
        let Some(&(_, e, _)) = ranges.get(*n) else {
            return false;
        };
        if s < prev_end {
            return false;
        }
        prev_end = e;
        *n += 1;
    }
}

/// The fields of an ELF64 section header this crate uses.
#[derive(Clone, Copy)]
struct Hdr {
    name: u32,
    sh_type: u32,
    flags: u64,
    offset: u64,
    size: u64,
    link: u32,
    info: u32,
    addralign: u64,
    entsize: u64,
}

impl Hdr {
    #[inline(always)]
    fn decode(e: &[u8]) -> Hdr {
        Hdr {
            name: le32(e, 0),
            sh_type: le32(e, 4),
            flags: le64(e, 8),
            offset: le64(e, 24),
            size: le64(e, 32),
            link: le32(e, 40),
            info: le32(e, 44),
            addralign: le64(e, 48),
            entsize: le64(e, 56),
        }
    }
}

/// The raw section header table (already bounds-checked), decoded on access.
#[derive(Clone, Copy)]
struct Shdrs<'a>(&'a [u8]);

impl<'a> Shdrs<'a> {
    fn get(&self, i: usize) -> Option<Hdr> {
        let at = i.checked_mul(SHDR_SIZE as usize)?;
        self.0
            .get(at..at.checked_add(SHDR_SIZE as usize)?)
            .map(Hdr::decode)
    }

    fn len(&self) -> usize {
        self.0.len() / SHDR_SIZE as usize
    }

    fn iter(&self) -> impl Iterator<Item = Hdr> + 'a {
        self.0.chunks_exact(SHDR_SIZE as usize).map(Hdr::decode)
    }
}

/// A string table. When the whole table is valid UTF-8 (the normal case) it is validated
/// once and each lookup only checks that the name starts on a character boundary; otherwise
/// each name is validated on its own. Either way a lookup succeeds exactly when the bytes
/// from `offset` to the next NUL exist and are UTF-8.
struct StrTab<'a> {
    data: &'a [u8],
    text: Option<&'a str>,
}

impl<'a> StrTab<'a> {
    fn new(data: &'a [u8]) -> Self {
        StrTab {
            data,
            text: core::str::from_utf8(data).ok(),
        }
    }

    #[inline]
    fn get(&self, offset: usize) -> Option<&'a str> {
        let rest = self.data.get(offset..)?;
        let len = nul_position(rest)?;
        match self.text {
            Some(t) => t.get(offset..offset.checked_add(len)?),
            None => core::str::from_utf8(rest.get(..len)?).ok(),
        }
    }
}

/// A 64-bit hash of a name (FxHash-style, 8 bytes per step). Only used to order names
/// cheaply; equal hashes fall back to comparing the names, so collisions cost time
/// (bounded: sorting stays O(n log n)), never correctness.
fn name_hash(s: &str) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let b = s.as_bytes();
    let mut h = b.len() as u64;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        h = (h.rotate_left(5) ^ le64(c, 0)).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    let tail = match rest.len() {
        0 => 0,
        n @ 1..=3 => {
            let last = rest.get(n - 1).copied().unwrap_or(0);
            let first = rest.first().copied().unwrap_or(0);
            let mid = rest.get(n / 2).copied().unwrap_or(0);
            u64::from(first) | u64::from(mid) << 8 | u64::from(last) << 16
        }
        n => u64::from(le32(rest, 0)) | u64::from(le32(rest, n - 4)) << 32,
    };
    (h.rotate_left(5) ^ tail).wrapping_mul(K)
}

/// Output of [`read_symbols`].
struct SymbolTable<'a> {
    symbols: Vec<Symbol<'a>>,
    /// Named global definitions (candidates for the global table).
    defs: Vec<NameEntry<'a>>,
    /// Per symbol: the defining section's index, or [`NO_SECTION`].
    sym_sec: Vec<u32>,
}

const NO_SECTION: u32 = u32::MAX;

/// `(name_hash(name), name, index)`.
type NameEntry<'a> = (u64, &'a str, u32);

/// An immutable name → symbol index map: entries sorted by (hash, name), looked up by binary
/// search. Building it is O(n log n) with mostly integer comparisons, and no per-entry
/// allocation.
#[derive(Clone, Debug, Default)]
pub(crate) struct Names<'a> {
    entries: Vec<NameEntry<'a>>,
}

impl<'a> Names<'a> {
    /// Build from `(name_hash(name), name, index)` entries in any order. A name given twice
    /// is an error; the one reported is the name whose second occurrence has the lowest
    /// index (what inserting them one by one in index order would report first).
    fn new(mut entries: Vec<NameEntry<'a>>) -> Result<Self, &'a str> {
        entries.sort_unstable();
        let mut dup: Option<(u32, &'a str)> = None;
        for w in entries.windows(2) {
            if let [(_, a, _), (_, b, j)] = w {
                if a == b && dup.is_none_or(|(k, _)| *j < k) {
                    dup = Some((*j, b));
                }
            }
        }
        match dup {
            Some((_, name)) => Err(name),
            None => Ok(Names { entries }),
        }
    }

    /// The index stored for `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&u32> {
        let key = (name_hash(name), name);
        let i = self
            .entries
            .binary_search_by(|&(h, n, _)| (h, n).cmp(&key))
            .ok()?;
        self.entries.get(i).map(|e| &e.2)
    }
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
        // The elf crate checked that the table (e_shentsize 64) lies inside the file; decode
        // its entries directly instead of through its per-call parser.
        let hdrs = usize::try_from(eh.e_shoff)
            .ok()
            .zip(shnum.checked_mul(SHDR_SIZE as usize))
            .and_then(|(o, n)| bytes.get(o..)?.get(..n))
            .map(Shdrs)
            .ok_or(Error::BadHeader("section table"))?;

        let mut sections = read_sections(bytes, hdrs, eh.e_shoff)?;
        name_sections(&file, &shdrs, hdrs, eh.e_shstrndx, &mut sections)?;
        classify_sections(&mut sections, hdrs)?;
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
        let SymbolTable {
            symbols,
            defs,
            sym_sec,
        } = read_symbols(&sections, hdrs, symtab_index)?;
        let discarded = comdat_groups(&mut sections, hdrs, &symbols, symtab_index)?;
        let (globals, canon) = global_table(&symbols, defs, &discarded)?;
        let (relocs, num_relocs) = read_relocs(
            (&file, &shdrs),
            hdrs,
            &sections,
            &symbols,
            &sym_sec,
            &canon,
            symtab_index,
        )?;

        // --- .modexports / .modinfo ---
        let mut exports: Vec<&'a str> = Vec::new();
        let mut export_set: BTreeSet<&'a str> = BTreeSet::new();
        let mut modinfo = Vec::new();
        for s in &sections {
            if s.sh_type == abi::SHT_NOBITS || s.index == 0 {
                continue;
            }
            if s.name == MODEXPORTS {
                for raw in kabi::modinfo::strings(s.data) {
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
                for raw in kabi::modinfo::strings(s.data) {
                    let (k, v) = kabi::modinfo::entry(raw).map_err(|e| match e {
                        kabi::modinfo::EntryError::NotUtf8 => {
                            Error::BadModinfo(".modinfo entry is not UTF-8".into())
                        }
                        kabi::modinfo::EntryError::NoEquals => {
                            Error::BadModinfo(String::from_utf8_lossy(raw).into_owned())
                        }
                    })?;
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

/// Section headers → sections (no names yet), checking sizes, bounds and overlap.
#[inline(never)]
fn read_sections<'a>(
    bytes: &'a [u8],
    hdrs: Shdrs<'a>,
    e_shoff: u64,
) -> Result<Vec<Section<'a>>, Error> {
    let shnum = hdrs.len();
    let file_len = bytes.len() as u64;
    // --- section bounds and overlap ---
    let mut ranges: Vec<(u64, u64, usize)> = Vec::with_capacity(shnum + 2);
    ranges.push((0, EHDR_SIZE, usize::MAX));
    let shtab_size = (shnum as u64).saturating_mul(SHDR_SIZE);
    ranges.push((e_shoff, e_shoff.saturating_add(shtab_size), usize::MAX));
    let mut sections = Vec::with_capacity(shnum);
    for (i, h) in hdrs.iter().enumerate() {
        let mut data = &[][..];
        if i != 0 {
            if h.size > MAX_SECTION_SIZE {
                return Err(Error::TooLarge {
                    what: "section",
                    size: h.size,
                });
            }
            if h.sh_type != abi::SHT_NOBITS && h.sh_type != abi::SHT_NULL {
                data = h
                    .offset
                    .checked_add(h.size)
                    .filter(|&e| e <= file_len)
                    .and_then(|e| {
                        bytes.get(usize::try_from(h.offset).ok()?..usize::try_from(e).ok()?)
                    })
                    .ok_or_else(|| sec_err(i, "", "contents extend past end of file"))?;
                if h.size > 0 {
                    ranges.push((h.offset, h.offset + h.size, i));
                }
            }
        }
        sections.push(Section {
            index: i,
            name: "",
            sh_type: h.sh_type,
            flags: h.flags,
            size: h.size,
            align: 1,
            data,
            region: None,
        });
    }
    // Fast path: mark every range in a bitmap of the file. Only if that finds a collision
    // (or cannot run) sort the ranges to report the overlap exactly as before.
    if !disjoint(&ranges) {
        ranges.sort_unstable();
        for w in ranges.windows(2) {
            if let [a, b] = w {
                if b.0 < a.1 {
                    let idx = if b.2 == usize::MAX { a.2 } else { b.2 };
                    return Err(sec_err(idx, "", "overlaps another section or a header"));
                }
            }
        }
    }
    drop(ranges);
    Ok(sections)
}

/// Look up every section's name in the section name string table.
#[inline(never)]
fn name_sections<'a>(
    file: &ElfBytes<'a, LittleEndian>,
    shdrs: &SectionHeaderTable<'a, LittleEndian>,
    hdrs: Shdrs<'a>,
    e_shstrndx: u16,
    sections: &mut [Section<'a>],
) -> Result<(), Error> {
    let shnum = hdrs.len();
    // --- section names ---
    let shstrndx = if e_shstrndx == abi::SHN_XINDEX {
        hdrs.get(0).map(|h| h.link as usize).unwrap_or(0)
    } else {
        e_shstrndx as usize
    };
    if shstrndx == 0 || shstrndx >= shnum {
        return Err(Error::BadHeader("bad section name string table index"));
    }
    let shstr_hdr = shdrs.get(shstrndx)?;
    if shstr_hdr.sh_type != abi::SHT_STRTAB {
        return Err(Error::Elf(elf::ParseError::UnexpectedSectionType((
            shstr_hdr.sh_type,
            abi::SHT_STRTAB,
        ))));
    }
    let shstrtab = StrTab::new(file.section_data(&shstr_hdr)?.0);
    for (s, h) in sections.iter_mut().zip(hdrs.iter()).skip(1) {
        s.name = shstrtab
            .get(h.name as usize)
            .ok_or_else(|| sec_err(s.index, "", "bad name"))?;
    }
    Ok(())
}

/// Check section types and flags; assign regions and alignment to loaded sections.
#[inline(never)]
fn classify_sections(sections: &mut [Section<'_>], hdrs: Shdrs<'_>) -> Result<(), Error> {
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
        s.align = check_align(h.addralign, MAX_ALIGN)
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
    Ok(())
}

/// Decode and validate the symbol table.
#[inline(never)]
fn read_symbols<'a>(
    sections: &[Section<'a>],
    hdrs: Shdrs<'a>,
    symtab_index: Option<usize>,
) -> Result<SymbolTable<'a>, Error> {
    let shnum = hdrs.len();
    let mut symbols = Vec::new();
    // Section index of each symbol's definition (NO_SECTION if none), compact for the
    // relocation checks.
    let mut sym_sec: Vec<u32> = Vec::new();
    // Candidate global definitions, hashed while the name is in cache.
    let mut defs: Vec<NameEntry<'a>> = Vec::new();
    if let Some(si) = symtab_index {
        let h = hdrs.get(si).ok_or(Error::BadHeader("section table"))?;
        let sname = sections.get(si).map(|s| s.name).unwrap_or("");
        if h.entsize != SYM_SIZE || h.size % SYM_SIZE != 0 {
            return Err(sec_err(si, sname, "bad symbol table entry size"));
        }
        let strtab_hdr = hdrs
            .get(h.link as usize)
            .filter(|_| h.link != 0)
            .ok_or_else(|| sec_err(si, sname, "bad string table link"))?;
        if strtab_hdr.sh_type != abi::SHT_STRTAB {
            return Err(sec_err(si, sname, "linked string table is not SHT_STRTAB"));
        }
        let sym_data = sections.get(si).map(|s| s.data).unwrap_or(&[]);
        let str_data = sections.get(h.link as usize).map(|s| s.data).unwrap_or(&[]);
        let strtab = StrTab::new(str_data);
        symbols.reserve_exact(sym_data.len() / SYM_SIZE as usize);
        sym_sec.reserve_exact(sym_data.len() / SYM_SIZE as usize);
        for (i, ent) in sym_data.chunks_exact(SYM_SIZE as usize).enumerate() {
            let st_name = le32(ent, 0);
            let st_info = ent.get(4).copied().unwrap_or(0);
            let st_shndx = le16(ent, 6);
            let st_value = le64(ent, 8);
            let st_size = le64(ent, 16);
            let bind = match st_info >> 4 {
                abi::STB_GNU_UNIQUE => abi::STB_GLOBAL,
                b @ (abi::STB_LOCAL | abi::STB_GLOBAL | abi::STB_WEAK) => b,
                _ => return Err(sym_err(i, "", "unknown binding")),
            };
            let sym_type = st_info & 0xf;
            let def = match st_shndx {
                abi::SHN_UNDEF => SymDef::Undefined,
                abi::SHN_ABS => SymDef::Absolute,
                abi::SHN_COMMON => SymDef::Common {
                    align: check_align(st_value, MAX_ALIGN)
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
            } else if st_name == 0 {
                ""
            } else {
                strtab
                    .get(st_name as usize)
                    .ok_or_else(|| sym_err(i, "", "bad name"))?
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
            match def {
                SymDef::Common { .. } => {
                    if st_size > MAX_SECTION_SIZE {
                        return Err(Error::TooLarge {
                            what: "COMMON symbol",
                            size: st_size,
                        });
                    }
                    if bind == abi::STB_LOCAL {
                        return Err(sym_err(i, name, "local COMMON symbol"));
                    }
                }
                SymDef::Section(n) => {
                    let sec = sections
                        .get(n)
                        .ok_or_else(|| sym_err(i, name, "bad section"))?;
                    if sec.region.is_some() && st_value > sec.size {
                        return Err(sym_err(i, name, "value lies outside its section"));
                    }
                }
                SymDef::Undefined if bind == abi::STB_LOCAL && i != 0 => {
                    return Err(sym_err(i, name, "undefined local symbol"));
                }
                _ => {}
            }
            if bind != abi::STB_LOCAL && def != SymDef::Undefined && !name.is_empty() {
                defs.push((name_hash(name), name, i as u32));
            }
            sym_sec.push(match def {
                SymDef::Section(n) => n as u32,
                _ => NO_SECTION,
            });
            symbols.push(Symbol {
                name,
                value: st_value,
                size: st_size,
                bind,
                sym_type,
                def,
            });
        }
    }
    Ok(SymbolTable {
        symbols,
        defs,
        sym_sec,
    })
}

/// Validate section groups and discard the members of repeated COMDAT groups. Returns
/// which sections were discarded.
#[inline(never)]
fn comdat_groups<'a>(
    sections: &mut [Section<'a>],
    hdrs: Shdrs<'a>,
    symbols: &[Symbol<'a>],
    symtab_index: Option<usize>,
) -> Result<Vec<bool>, Error> {
    let shnum = hdrs.len();
    // --- COMDAT groups: keep the first copy of each signature ---
    // Pass 1 validates every group in index order; pass 2 discards the members of
    // every COMDAT group whose signature already appeared in an earlier group.
    let mut discarded = vec![false; shnum];
    let mut in_group = vec![false; shnum];
    let mut comdats: Vec<(u64, &'a str, u32)> = Vec::new();
    for (gi, s) in sections.iter().enumerate() {
        if s.sh_type != abi::SHT_GROUP {
            continue;
        }
        let (gname, gdata) = (s.name, s.data);
        let h = hdrs.get(gi).ok_or(Error::BadHeader("section table"))?;
        if Some(h.link as usize) != symtab_index {
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
            .get(h.info as usize)
            .ok_or_else(|| sec_err(gi, gname, "bad group signature symbol"))?
            .name;
        if le32(gdata, 0) & GRP_COMDAT != 0 {
            comdats.push((name_hash(sig), sig, gi as u32));
        }
        for m in gdata.chunks_exact(4).skip(1) {
            let m = le32(m, 0) as usize;
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
        }
    }
    if comdats.len() > 1 {
        comdats.sort_unstable();
        for w in comdats.windows(2) {
            let [(_, a, _), (_, b, dup)] = w else {
                continue;
            };
            if a != b {
                continue;
            }
            let gdata = sections.get(*dup as usize).map(|s| s.data).unwrap_or(&[]);
            for m in gdata.chunks_exact(4).skip(1) {
                let m = le32(m, 0) as usize;
                if let Some(d) = discarded.get_mut(m) {
                    *d = true;
                }
                if let Some(s) = sections.get_mut(m) {
                    s.region = None;
                }
            }
        }
    }
    drop(comdats);
    Ok(discarded)
}

/// The global symbol table (unique definitions) and each symbol's canonical symbol.
#[inline(never)]
fn global_table<'a>(
    symbols: &[Symbol<'a>],
    mut defs: Vec<NameEntry<'a>>,
    discarded: &[bool],
) -> Result<(Names<'a>, Vec<u32>), Error> {
    // --- global symbol table: unique definitions, COMDAT duplicates map to kept copy ---
    // `defs` holds every defined global with a name; drop those in discarded sections.
    let any_discarded = discarded.contains(&true);
    if any_discarded {
        defs.retain(|&(_, _, i)| match symbols.get(i as usize).map(|s| s.def) {
            Some(SymDef::Section(n)) => !discarded.get(n).copied().unwrap_or(false),
            _ => true,
        });
    }
    let globals = Names::new(defs).map_err(|n| Error::DuplicateSymbol(n.to_string()))?;
    let mut canon: Vec<u32> = (0..symbols.len() as u32).collect();
    if !any_discarded {
        return Ok((globals, canon));
    }
    for (s, c) in symbols.iter().zip(canon.iter_mut()) {
        if let SymDef::Section(n) = s.def {
            if s.is_global() && discarded.get(n).copied().unwrap_or(false) {
                if let Some(&k) = globals.get(s.name) {
                    *c = k;
                }
            }
        }
    }
    Ok((globals, canon))
}

/// Decode and validate the relocations against loaded sections.
#[inline(never)]
fn read_relocs<'a>(
    (file, shdrs): (
        &ElfBytes<'a, LittleEndian>,
        &SectionHeaderTable<'a, LittleEndian>,
    ),
    hdrs: Shdrs<'a>,
    sections: &[Section<'a>],
    symbols: &[Symbol<'a>],
    sym_sec: &[u32],
    canon: &[u32],
    symtab_index: Option<usize>,
) -> Result<(Vec<RelocSection>, usize), Error> {
    // --- relocations ---
    let mut relocs = Vec::new();
    let mut num_relocs = 0usize;
    // Which sections are loaded (computed on first use): with `sym_sec` and `canon`, small
    // tables instead of random reads of the symbols and sections per relocation.
    let mut loaded: Vec<bool> = Vec::new();
    for (ri, h) in hdrs.iter().enumerate() {
        if h.sh_type != abi::SHT_RELA && h.sh_type != abi::SHT_REL {
            continue;
        }
        let rname = sections.get(ri).map(|s| s.name).unwrap_or("");
        let target = h.info as usize;
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
        if Some(h.link as usize) != symtab_index {
            return Err(sec_err(
                ri,
                rname,
                "relocations do not link to the symbol table",
            ));
        }
        if h.entsize != RELA_SIZE || h.size % RELA_SIZE != 0 {
            return Err(sec_err(ri, rname, "bad relocation entry size"));
        }
        if tsec.sh_type == abi::SHT_NOBITS {
            return Err(sec_err(ri, rname, "relocations against a NOBITS section"));
        }
        let data = if h.flags & SHF_COMPRESSED != 0 {
            // Rare and always rejected below; keep the elf crate's exact behaviour.
            file.section_data(&shdrs.get(ri)?)?.0
        } else {
            sections.get(ri).map(|s| s.data).unwrap_or(&[])
        };
        if loaded.is_empty() {
            loaded = sections.iter().map(|s| s.region.is_some()).collect();
        }
        let mut relas = Vec::with_capacity((h.size / RELA_SIZE) as usize);
        for ent in data.chunks_exact(RELA_SIZE as usize) {
            let info = le64(ent, 8);
            let r = Rela {
                offset: le64(ent, 0),
                rtype: info as u32,
                sym: (info >> 32) as u32,
                addend: le64(ent, 16) as i64,
            };
            let bad = |reason| Error::BadRelocation {
                rtype: r.rtype,
                section: tsec.name.to_string(),
                offset: r.offset,
                reason,
            };
            let width = reloc::place_size(r.rtype).ok_or_else(|| Error::Reloc {
                rtype: r.rtype,
                symbol: symbols
                    .get(r.sym as usize)
                    .map(|s| s.name.to_string())
                    .unwrap_or_default(),
                section: tsec.name.to_string(),
                offset: r.offset,
                kind: reloc::RelocError::Unsupported,
            })?;
            let end = r.offset.checked_add(width as u64);
            if end.is_none_or(|e| e > tsec.size) {
                return Err(bad("place lies outside the section"));
            }
            let n = *sym_sec
                .get(r.sym as usize)
                .ok_or_else(|| bad("bad symbol index"))?;
            if n != NO_SECTION {
                let placed = loaded.get(n as usize) == Some(&true);
                let redirected = canon.get(r.sym as usize) != Some(&r.sym);
                if !placed && !redirected {
                    return Err(bad("refers to a symbol in a section that is not loaded"));
                }
            }
            relas.push(r);
        }
        if relas.len() as u64 != h.size / RELA_SIZE {
            return Err(sec_err(ri, rname, "truncated relocation table"));
        }
        num_relocs += relas.len();
        relocs.push(RelocSection { target, relas });
    }
    Ok((relocs, num_relocs))
}
