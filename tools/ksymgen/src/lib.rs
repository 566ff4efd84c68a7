//! Builds the kernel's embedded symbol + line table and patches it into the
//! linked image.
//!
//! The kernel reserves a zero-filled `PROGBITS` section named `.kallsyms` of
//! fixed size. After linking, [`patch_file`] reads the ELF, builds an
//! [`oops::symtab`] table from it and overwrites that section's file bytes in
//! place, so no address in the image moves. The table holds:
//!
//! * every `STT_FUNC` and `STT_OBJECT` symbol (local and global) with its size,
//!   its name demangled with `rustc_demangle`'s alternate format (no hash);
//! * the build ID: the GNU build-id note when present, else the SHA-1 of the
//!   allocated sections (names, addresses and contents) except `.kallsyms`;
//! * the inline records from `.debug_info` (every address range of every
//!   `DW_TAG_inlined_subroutine`: depth, the inlined function's name as
//!   `llvm-addr2line -f -C` prints it, and the call's file and line);
//! * the line table from `.debug_line` (innermost locations), with paths made
//!   relative to the workspace (`kernel/src/main.rs`), the Rust sysroot
//!   (`core/src/fmt/mod.rs`) or the cargo registry (`spin-0.10.1/src/mutex.rs`).
//!
//! [`build_table`] also takes a module (`ET_REL`, every section at address 0): its
//! debug sections' relocations are applied first, code symbols and addresses are
//! offsets into `.text`, and DWARF of code `ld -r --gc-sections` dropped is left out.
#![forbid(unsafe_code)]

use object::{Object, ObjectSection, ObjectSymbol, SectionFlags, SectionKind, SymbolKind};
use oops::symtab::{kallsyms_baseline, BuildError, KallsymsSize, TableBuilder, TableStats};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};

/// Version of the table format written (`oops::symtab::VERSION`).
pub const TABLE_VERSION: u16 = oops::symtab::VERSION;

/// SHA-1 of `data` (the build ID when the image carries no GNU build-id note).
pub fn sha1(data: &[u8]) -> [u8; 20] {
    sha1_smol::Sha1::from(data).digest().bytes()
}

/// Name of the section the table is written into.
pub const SECTION: &str = ".kallsyms";

/// Everything that can go wrong.
#[derive(Debug)]
pub enum Error {
    /// Reading or writing a file failed.
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        err: std::io::Error,
    },
    /// The input is not a readable ELF file.
    Elf(String),
    /// The image has no `.kallsyms` section.
    NoSection,
    /// `.kallsyms` has no file bytes (`NOBITS`), so it cannot be patched.
    SectionNotInFile,
    /// The table does not fit in `.kallsyms`.
    TooBig {
        /// Bytes the table needs.
        needed: usize,
        /// Size of the section.
        available: usize,
    },
    /// The DWARF line information could not be read.
    Dwarf(String),
    /// The table could not be encoded.
    Build(BuildError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, err } => write!(f, "{}: {err}", path.display()),
            Error::Elf(e) => write!(f, "cannot read ELF: {e}"),
            Error::NoSection => write!(
                f,
                "the image has no `{SECTION}` section: reserve one in the linker script"
            ),
            Error::SectionNotInFile => write!(
                f,
                "`{SECTION}` has no file bytes (NOBITS): it must be PROGBITS, filled with zeros"
            ),
            Error::TooBig { needed, available } => write!(
                f,
                "symbol table needs {needed} bytes but `{SECTION}` has only {available}: enlarge the section by at least {} bytes",
                needed - available
            ),
            Error::Dwarf(e) => write!(f, "cannot read DWARF line info: {e}"),
            Error::Build(e) => write!(f, "cannot build the symbol table: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<BuildError> for Error {
    fn from(e: BuildError) -> Self {
        Error::Build(e)
    }
}

impl From<gimli::Error> for Error {
    fn from(e: gimli::Error) -> Self {
        Error::Dwarf(e.to_string())
    }
}

impl From<object::Error> for Error {
    fn from(e: object::Error) -> Self {
        Error::Elf(e.to_string())
    }
}

/// Options for [`build_table_with`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Paths under this directory are printed relative to it. When `None`,
    /// each compilation unit's `DW_AT_comp_dir` is used (cargo compiles
    /// workspace members from the workspace root).
    pub workspace_root: Option<PathBuf>,
    /// Leave out the line table (and the inline records).
    pub no_lines: bool,
    /// Leave out the inline records.
    pub no_inline: bool,
}

/// What was built, for `ksymgen stats` and benchmarks.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Size breakdown of our table.
    pub table: TableStats,
    /// Linux kallsyms sizes for the same names (type letters included).
    pub kallsyms: KallsymsSize,
    /// Size of `.text` (all executable sections).
    pub text_bytes: u64,
    /// Size of `.kallsyms` (0 when unknown).
    pub section_bytes: u64,
    /// The build ID stored.
    pub build_id: Vec<u8>,
    /// Whether the build ID came from a GNU build-id note (else SHA-1).
    pub build_id_from_note: bool,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.table;
        let k = &self.kallsyms;
        let n = t.symbols.max(1) as f64;
        writeln!(f, "symbols:                {}", t.symbols)?;
        writeln!(
            f,
            "names, ours:            {:.2} bytes/symbol ({} bytes: {} codes + {} token table, {} tokens; raw {:.1} bytes/name)",
            t.names_section_bytes() as f64 / n,
            t.names_section_bytes(),
            t.name_bytes,
            t.token_bytes,
            t.tokens,
            t.raw_name_bytes as f64 / n
        )?;
        writeln!(
            f,
            "names, Linux kallsyms:  {:.2} bytes/symbol ({} bytes: {} names + {} markers + {} token table/index)",
            k.names_section() as f64 / n,
            k.names_section(),
            k.names,
            k.markers,
            k.token_table
        )?;
        writeln!(
            f,
            "symbols total, ours:    {:.2} bytes/symbol (names + address, size, kind, index)",
            t.bytes_per_symbol()
        )?;
        writeln!(
            f,
            "symbols total, Linux:   {:.2} bytes/symbol (names + offsets + seqs_of_names; no sizes)",
            k.total() as f64 / n
        )?;
        writeln!(
            f,
            "line table:             {} rows, {:.2} bytes/row ({} row bytes + {} file-name bytes, {} files)",
            t.line_rows,
            t.line_bytes_per_row(),
            t.line_bytes,
            t.file_bytes,
            t.files
        )?;
        writeln!(
            f,
            "inline records:         {} ranges -> {} transitions, {} call sites, {} functions; {} bytes ({} transitions, {} sites, {} names); lines + inline: {:.2} bytes/row",
            t.inline_records,
            t.inline_transitions,
            t.inline_sites,
            t.funcs,
            t.inline_bytes,
            t.inline_bytes - t.site_bytes - t.func_name_bytes,
            t.site_bytes,
            t.func_name_bytes,
            t.line_and_inline_bytes_per_row()
        )?;
        let pct = |b: usize| 100.0 * b as f64 / self.text_bytes.max(1) as f64;
        writeln!(
            f,
            "table:                  {} bytes = {:.1}% of .text ({} bytes){}",
            t.total_bytes,
            pct(t.total_bytes),
            self.text_bytes,
            if self.section_bytes > 0 {
                format!(
                    ", {:.1}% of the {}-byte {SECTION}",
                    100.0 * t.total_bytes as f64 / self.section_bytes as f64,
                    self.section_bytes
                )
            } else {
                String::new()
            }
        )?;
        write!(f, "build id:               ")?;
        for b in &self.build_id {
            write!(f, "{b:02x}")?;
        }
        writeln!(
            f,
            " ({})",
            if self.build_id_from_note {
                "GNU note"
            } else {
                "sha1 of allocated sections"
            }
        )
    }
}

/// Builds the table for an ELF image with default [`Options`].
pub fn build_table(elf: &[u8]) -> Result<(Vec<u8>, Stats), Error> {
    build_table_with(elf, &Options::default())
}

/// Builds the table for an ELF image.
pub fn build_table_with(elf: &[u8], opts: &Options) -> Result<(Vec<u8>, Stats), Error> {
    let file = object::File::parse(elf)?;
    let mut b = TableBuilder::new();
    let mut kall: Vec<(u8, String)> = Vec::new();

    // Symbols.
    for sym in file.symbols() {
        let is_func = match sym.kind() {
            SymbolKind::Text => true,
            SymbolKind::Data => false,
            _ => continue,
        };
        if sym.is_undefined() || sym.section_index().is_none() {
            continue;
        }
        // A module (relocatable object) keeps every section at address 0: only its
        // code symbols are addresses in `.text`.
        if file.kind() == object::ObjectKind::Relocatable
            && !sym
                .section_index()
                .and_then(|i| file.section_by_index(i).ok())
                .is_some_and(|s| s.kind() == SectionKind::Text)
        {
            continue;
        }
        let Ok(raw) = sym.name() else { continue };
        if raw.is_empty() {
            continue;
        }
        let name = format!("{:#}", rustc_demangle::demangle(raw));
        b.symbol(&name, sym.address(), sym.size(), is_func);
        let letter = match (is_func, sym.is_local()) {
            (true, true) => b't',
            (true, false) => b'T',
            (false, true) => b'd',
            (false, false) => b'D',
        };
        kall.push((letter, name));
    }

    // Build ID.
    let (build_id, from_note) = match file.build_id()? {
        Some(id) if !id.is_empty() => (id.to_vec(), true),
        _ => (hash_alloc_sections(&file)?, false),
    };
    b.build_id(&build_id);

    // Executable ranges: line sequences elsewhere (e.g. at 0 after
    // --gc-sections) are dropped.
    let text = exec_ranges(&file);
    let section_bytes = file.section_by_name(SECTION).map_or(0, |s| s.size());
    let text_bytes = text.iter().map(|(a, e)| e - a).sum();

    if !opts.no_lines {
        let mut rows = Vec::new();
        let mut inlines = Vec::new();
        add_debug_info(
            &file,
            opts,
            &text,
            &mut |a, f, l| rows.push((a, f.to_string(), l)),
            (!opts.no_inline).then_some(&mut |r: InlineRecord| inlines.push(r)),
        )?;
        for (a, f, l) in &rows {
            b.line_row(*a, f, *l);
        }
        for (lo, hi, d, func, f, l) in &inlines {
            b.inline(*lo, *hi, *d, func, f, *l);
        }
    }

    let (bytes, table) = b.build_with_stats()?;
    let kallsyms = kallsyms_baseline(kall.iter().map(|(t, n)| (*t, n.as_str())));
    Ok((
        bytes,
        Stats {
            table,
            kallsyms,
            text_bytes,
            section_bytes,
            build_id,
            build_id_from_note: from_note,
        },
    ))
}

/// SHA-1 over every allocated section except `.kallsyms`: name, address,
/// size and (for sections with file bytes) contents.
fn hash_alloc_sections(file: &object::File<'_>) -> Result<Vec<u8>, Error> {
    let mut buf = Vec::new();
    for s in file.sections() {
        let SectionFlags::Elf { sh_flags } = s.flags() else {
            continue;
        };
        if sh_flags & u64::from(object::elf::SHF_ALLOC) == 0 {
            continue;
        }
        let name = s.name().unwrap_or("");
        if name == SECTION {
            continue;
        }
        buf.extend_from_slice(name.as_bytes());
        buf.push(0);
        buf.extend_from_slice(&s.address().to_le_bytes());
        buf.extend_from_slice(&s.size().to_le_bytes());
        if s.kind() != SectionKind::UninitializedData && s.file_range().is_some() {
            buf.extend_from_slice(s.data()?);
        }
    }
    Ok(sha1(&buf).to_vec())
}

/// The line rows `ksymgen` stores for an ELF image, before normalization:
/// `(address, file, line)`, with line 0 marking the end of a sequence.
pub fn line_rows(elf: &[u8], opts: &Options) -> Result<Vec<(u64, String, u32)>, Error> {
    let file = object::File::parse(elf)?;
    let text = exec_ranges(&file);
    let mut out = Vec::new();
    add_lines(&file, opts, &text, &mut |a, f, l| {
        out.push((a, f.to_string(), l))
    })?;
    Ok(out)
}

fn exec_ranges(file: &object::File<'_>) -> Vec<(u64, u64)> {
    let mut text = Vec::new();
    for s in file.sections() {
        if let SectionFlags::Elf { sh_flags } = s.flags() {
            let alloc = sh_flags & u64::from(object::elf::SHF_ALLOC) != 0;
            let exec = sh_flags & u64::from(object::elf::SHF_EXECINSTR) != 0;
            if alloc && exec && s.size() > 0 {
                text.push((s.address(), s.address() + s.size()));
            }
        }
    }
    text
}

/// Loads a DWARF section of `file`; in a relocatable object (a module) the section's
/// relocations are applied first (every section sits at address 0 there, so a code
/// address is an offset into `.text`).
/// Offset added to code addresses when reading the DWARF of a relocatable object, so
/// that code that `ld -r --gc-sections` dropped (its DWARF stays, without relocations,
/// so its addresses read as small offsets from 0) cannot be mistaken for live code.
const RELOC_BIAS: u64 = 1 << 44;

/// Loads a DWARF section of `file`; in a relocatable object (a module) the section's
/// relocations are applied first: every section sits at address 0 there, so a code
/// address is an offset into `.text` (plus [`RELOC_BIAS`]).
fn load_dwarf_section<'d>(
    file: &object::File<'d>,
    id: gimli::SectionId,
) -> Result<Cow<'d, [u8]>, Error> {
    let Some(sec) = file.section_by_name(id.name()) else {
        return Ok(Cow::Borrowed(&[][..]));
    };
    let data = sec.uncompressed_data()?;
    if file.kind() != object::ObjectKind::Relocatable {
        return Ok(data);
    }
    let mut bytes = data.into_owned();
    for (off, r) in sec.relocations() {
        if r.kind() != object::RelocationKind::Absolute {
            continue;
        }
        let target = match r.target() {
            object::RelocationTarget::Symbol(i) => file.symbol_by_index(i).ok().map(|s| {
                let sec = s
                    .section_index()
                    .and_then(|i| file.section_by_index(i).ok());
                (s.address(), sec.map(|s| s.kind()))
            }),
            object::RelocationTarget::Section(i) => file
                .section_by_index(i)
                .ok()
                .map(|s| (s.address(), Some(s.kind()))),
            _ => None,
        };
        let Some((base, kind)) = target else { continue };
        let v = match kind {
            // References into DWARF sections are section offsets.
            Some(SectionKind::Debug) => r.addend() as u64,
            Some(SectionKind::Text) => base
                .wrapping_add(r.addend() as u64)
                .wrapping_add(RELOC_BIAS),
            _ => base.wrapping_add(r.addend() as u64),
        };
        let size = usize::from(r.size() / 8);
        let at = usize::try_from(off).map_err(|_| Error::Dwarf("relocation offset".into()))?;
        let Some(slot) = at.checked_add(size).and_then(|end| bytes.get_mut(at..end)) else {
            return Err(Error::Dwarf(format!(
                "{}: relocation at {off:#x} outside the section",
                id.name()
            )));
        };
        match size {
            4 => slot.copy_from_slice(&(v as u32).to_le_bytes()),
            8 => slot.copy_from_slice(&v.to_le_bytes()),
            _ => {}
        }
    }
    Ok(Cow::Owned(bytes))
}

fn add_lines(
    file: &object::File<'_>,
    opts: &Options,
    text: &[(u64, u64)],
    b: &mut dyn FnMut(u64, &str, u32),
) -> Result<(), Error> {
    add_debug_info(file, opts, text, b, None)
}

/// One inline record for [`TableBuilder::inline`]: `(lo, hi, depth, function, call
/// file, call line)`.
pub type InlineRecord = (u64, u64, usize, String, String, u32);

fn add_debug_info(
    file: &object::File<'_>,
    opts: &Options,
    text: &[(u64, u64)],
    b: &mut dyn FnMut(u64, &str, u32),
    inl: Option<&mut dyn FnMut(InlineRecord)>,
) -> Result<(), Error> {
    let sections = gimli::DwarfSections::load(|id| load_dwarf_section(file, id))?;
    let endian = if file.is_little_endian() {
        gimli::RunTimeEndian::Little
    } else {
        gimli::RunTimeEndian::Big
    };
    let dwarf = sections.borrow(|s| gimli::EndianSlice::new(s, endian));
    let bias = if file.kind() == object::ObjectKind::Relocatable {
        RELOC_BIAS
    } else {
        0
    };
    let in_text = |a: u64| {
        a.checked_sub(bias)
            .is_some_and(|a| text.iter().any(|&(lo, hi)| lo <= a && a < hi))
    };
    let mut b = |a: u64, f: &str, l: u32| b(a.wrapping_sub(bias), f, l);
    let mut inl = inl.map(|cb| {
        move |(lo, hi, d, func, f, l): InlineRecord| {
            cb((lo.wrapping_sub(bias), hi.wrapping_sub(bias), d, func, f, l))
        }
    });

    let mut all = Vec::new();
    let mut headers = dwarf.units();
    while let Some(header) = headers.next()? {
        all.push(dwarf.unit(header)?);
    }
    let units = Units {
        dwarf: &dwarf,
        all: &all,
    };
    for unit in &all {
        let comp_dir: PathBuf = unit
            .comp_dir
            .map(|d| PathBuf::from(d.to_string_lossy().into_owned()))
            .unwrap_or_default();
        let root = opts
            .workspace_root
            .clone()
            .unwrap_or_else(|| comp_dir.clone());
        if let Some(cb) = inl.as_mut() {
            add_unit_inlines(&units, unit, &comp_dir, &root, &in_text, cb)?;
        }
        let Some(program) = unit.line_program.clone() else {
            continue;
        };
        let mut names: HashMap<u64, String> = HashMap::new();
        let mut seq: Vec<(u64, u64, u32)> = Vec::new();
        let mut rows = program.rows();
        while let Some((header, row)) = rows.next_row()? {
            if row.end_sequence() {
                if let Some(&(start, _, _)) = seq.first() {
                    if in_text(start) {
                        for &(addr, fi, line) in &seq {
                            let name = names.entry(fi).or_insert_with(|| {
                                let p = file_path(&dwarf, unit, header, fi, &comp_dir)
                                    .unwrap_or_else(|| "??".into());
                                shorten_path(&p, &root)
                            });
                            b(addr, name, line);
                        }
                        b(row.address(), "", 0);
                    }
                }
                seq.clear();
                continue;
            }
            let line = row
                .line()
                .map(|l| u32::try_from(l.get()).unwrap_or(u32::MAX))
                .unwrap_or(0);
            seq.push((row.address(), row.file_index(), line));
        }
    }
    Ok(())
}

/// Every unit of a DWARF file, for references across units.
struct Units<'a, 'd> {
    dwarf: &'a gimli::Dwarf<Slice<'d>>,
    all: &'a [gimli::Unit<Slice<'d>>],
}

impl<'a, 'd> Units<'a, 'd> {
    /// The unit holding `off` and the offset inside it.
    fn resolve(
        &self,
        off: gimli::DebugInfoOffset,
    ) -> Option<(&'a gimli::Unit<Slice<'d>>, gimli::UnitOffset)> {
        let i = self.all.partition_point(|u| {
            u.header
                .offset()
                .as_debug_info_offset()
                .is_some_and(|o| o <= off)
        });
        let u = self.all.get(i.checked_sub(1)?)?;
        Some((u, off.to_unit_offset(&u.header)?))
    }
}

/// The name `llvm-addr2line -f -C` prints for a subprogram DIE: its linkage name,
/// demangled (Rust without the hash), else its plain name, following
/// `DW_AT_abstract_origin` / `DW_AT_specification`, across units too.
fn die_name(
    units: &Units<'_, '_>,
    unit: &gimli::Unit<Slice<'_>>,
    offset: gimli::UnitOffset,
) -> Option<String> {
    let (mut unit, mut off) = (unit, offset);
    let dwarf = units.dwarf;
    for _ in 0..8 {
        let e = unit.entry(off).ok()?;
        for at in [gimli::DW_AT_linkage_name, gimli::DW_AT_MIPS_linkage_name] {
            if let Ok(Some(v)) = e.attr_value(at) {
                if let Ok(n) = dwarf.attr_string(unit, v) {
                    let n = n.to_string_lossy();
                    return Some(demangle(&n));
                }
            }
        }
        if let Ok(Some(v)) = e.attr_value(gimli::DW_AT_name) {
            if let Ok(n) = dwarf.attr_string(unit, v) {
                return Some(n.to_string_lossy().into_owned());
            }
        }
        let next = [gimli::DW_AT_abstract_origin, gimli::DW_AT_specification]
            .into_iter()
            .find_map(|at| match e.attr_value(at) {
                Ok(Some(gimli::AttributeValue::UnitRef(o))) => Some((unit, o)),
                Ok(Some(gimli::AttributeValue::DebugInfoRef(o))) => units.resolve(o),
                _ => None,
            })?;
        (unit, off) = next;
    }
    None
}

/// Demangles a linkage name the way the tables store symbol names.
pub fn demangle(raw: &str) -> String {
    format!("{:#}", rustc_demangle::demangle(raw))
}

fn add_unit_inlines(
    units: &Units<'_, '_>,
    unit: &gimli::Unit<Slice<'_>>,
    comp_dir: &Path,
    root: &Path,
    in_text: &dyn Fn(u64) -> bool,
    cb: &mut dyn FnMut(InlineRecord),
) -> Result<(), Error> {
    let dwarf = units.dwarf;
    let header = unit.line_program.as_ref().map(|p| p.header().clone());
    let mut files: HashMap<u64, String> = HashMap::new();
    let mut names: HashMap<gimli::UnitOffset, String> = HashMap::new();
    // (tree depth, inline depth of the children)
    let mut stack: Vec<(isize, usize)> = Vec::new();
    let mut depth = 0isize;
    let mut entries = unit.entries();
    while let Some((delta, e)) = entries.next_dfs()? {
        depth += delta;
        while stack.last().is_some_and(|&(d, _)| d >= depth) {
            stack.pop();
        }
        match e.tag() {
            gimli::DW_TAG_subprogram => stack.push((depth, 0)),
            gimli::DW_TAG_inlined_subroutine => {
                let Some(&(_, level)) = stack.last() else {
                    continue;
                };
                stack.push((depth, level + 1));
                let func = names
                    .entry(e.offset())
                    .or_insert_with(|| {
                        die_name(units, unit, e.offset()).unwrap_or_else(|| "??".into())
                    })
                    .clone();
                let call_file = match (e.attr_value(gimli::DW_AT_call_file)?, &header) {
                    (Some(gimli::AttributeValue::FileIndex(fi)), Some(h)) => files
                        .entry(fi)
                        .or_insert_with(|| {
                            let p = file_path(dwarf, unit, h, fi, comp_dir)
                                .unwrap_or_else(|| "??".into());
                            shorten_path(&p, root)
                        })
                        .clone(),
                    _ => "??".into(),
                };
                let call_line = match e.attr_value(gimli::DW_AT_call_line)? {
                    Some(v) => v
                        .udata_value()
                        .and_then(|l| u32::try_from(l).ok())
                        .unwrap_or(0),
                    None => 0,
                };
                let mut ranges = dwarf.die_ranges(unit, e)?;
                while let Some(r) = ranges.next()? {
                    if r.end > r.begin && in_text(r.begin) {
                        cb((
                            r.begin,
                            r.end,
                            level,
                            func.clone(),
                            call_file.clone(),
                            call_line,
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

type Slice<'a> = gimli::EndianSlice<'a, gimli::RunTimeEndian>;

fn file_path(
    dwarf: &gimli::Dwarf<Slice<'_>>,
    unit: &gimli::Unit<Slice<'_>>,
    header: &gimli::LineProgramHeader<Slice<'_>>,
    index: u64,
    comp_dir: &Path,
) -> Option<PathBuf> {
    let fe = header.file(index)?;
    let name = dwarf.attr_string(unit, fe.path_name()).ok()?;
    let name = PathBuf::from(name.to_string_lossy().into_owned());
    if name.is_absolute() {
        return Some(name);
    }
    let mut p = comp_dir.to_path_buf();
    if let Some(dir) = fe.directory(header) {
        if let Ok(d) = dwarf.attr_string(unit, dir) {
            p.push(d.to_string_lossy().into_owned());
        }
    }
    p.push(name);
    Some(p)
}

/// Makes a source path short and stable:
/// * `/rustc/<hash>/library/core/src/x.rs` and `.../rustlib/src/rust/library/core/src/x.rs`
///   become `core/src/x.rs`;
/// * `.../registry/src/<index>/spin-0.10.1/src/x.rs` becomes `spin-0.10.1/src/x.rs`;
/// * `.../git/checkouts/<repo>/<rev>/src/x.rs` becomes `<repo>/src/x.rs`;
/// * paths under `root` become relative to it.
pub fn shorten_path(path: &Path, root: &Path) -> String {
    // Lexical normalization (no file system access).
    let mut parts: Vec<String> = Vec::new();
    let absolute = path.is_absolute();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                parts.pop();
            }
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    let find = |name: &str| parts.iter().position(|p| p == name);
    if let Some(i) = find("library") {
        let sysroot = (i >= 2 && parts[0] == "rustc")
            || (i >= 3
                && parts[i - 1] == "rust"
                && parts[i - 2] == "src"
                && parts[i - 3] == "rustlib");
        if sysroot && i + 1 < parts.len() {
            return parts[i + 1..].join("/");
        }
    }
    if let Some(i) = find("registry") {
        if parts.get(i + 1).map(String::as_str) == Some("src") && i + 3 < parts.len() {
            return parts[i + 3..].join("/");
        }
    }
    if let Some(i) = find("checkouts") {
        if i > 0 && parts[i - 1] == "git" && i + 3 < parts.len() {
            let mut v = vec![parts[i + 1].clone()];
            v.extend_from_slice(&parts[i + 3..]);
            return v.join("/");
        }
    }
    let joined = parts.join("/");
    let full = if absolute {
        format!("/{joined}")
    } else {
        joined
    };
    let root = root.to_string_lossy();
    let root = root.trim_end_matches('/');
    if !root.is_empty() {
        if let Some(rest) = full.strip_prefix(root) {
            if let Some(rest) = rest.strip_prefix('/') {
                return rest.to_string();
            }
        }
    }
    full
}

/// Finds the file range of `.kallsyms`: `(offset, size)`.
pub fn section_range(elf: &[u8]) -> Result<(usize, usize), Error> {
    let file = object::File::parse(elf)?;
    let s = file.section_by_name(SECTION).ok_or(Error::NoSection)?;
    if s.kind() == SectionKind::UninitializedData {
        return Err(Error::SectionNotInFile);
    }
    let (off, size) = s.file_range().ok_or(Error::SectionNotInFile)?;
    let off = usize::try_from(off).map_err(|_| Error::Elf("section offset too large".into()))?;
    let size = usize::try_from(size).map_err(|_| Error::Elf("section size too large".into()))?;
    if off.checked_add(size).is_none_or(|end| end > elf.len()) {
        return Err(Error::Elf(format!("`{SECTION}` lies outside the file")));
    }
    Ok((off, size))
}

/// Builds the table and writes it into the `.kallsyms` bytes of `elf` (the
/// rest of the section is zeroed).
pub fn patch_bytes(elf: &mut [u8]) -> Result<Stats, Error> {
    let (off, size) = section_range(elf)?;
    let (table, stats) = build_table(elf)?;
    if table.len() > size {
        return Err(Error::TooBig {
            needed: table.len(),
            available: size,
        });
    }
    let dst = &mut elf[off..off + size];
    dst[..table.len()].copy_from_slice(&table);
    dst[table.len()..].fill(0);
    Ok(stats)
}

/// Builds the table for the ELF file at `path` and writes it into its
/// `.kallsyms` section in place (only those bytes of the file change).
pub fn patch_file(path: &Path) -> Result<Stats, Error> {
    let io = |err| Error::Io {
        path: path.to_path_buf(),
        err,
    };
    let elf = std::fs::read(path).map_err(io)?;
    let (off, size) = section_range(&elf)?;
    let (table, stats) = build_table(&elf)?;
    if table.len() > size {
        return Err(Error::TooBig {
            needed: table.len(),
            available: size,
        });
    }
    let mut bytes = table;
    bytes.resize(size, 0);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io)?;
    f.seek(SeekFrom::Start(off as u64)).map_err(io)?;
    f.write_all(&bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten() {
        let root = Path::new("/work/main");
        let s = |p: &str| shorten_path(Path::new(p), root);
        assert_eq!(s("/work/main/kernel/src/main.rs"), "kernel/src/main.rs");
        assert_eq!(
            s("/work/main/./kernel/src/../src/main.rs"),
            "kernel/src/main.rs"
        );
        assert_eq!(
            s("/rustc/59807616e1b5d3a7b6b2a0a1f5e4d3c2b1a09876/library/core/src/fmt/mod.rs"),
            "core/src/fmt/mod.rs"
        );
        assert_eq!(
            s("/root/.rustup/toolchains/1.95.0-x86_64-unknown-linux-gnu/lib/rustlib/src/rust/library/alloc/src/vec/mod.rs"),
            "alloc/src/vec/mod.rs"
        );
        assert_eq!(
            s("/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/spin-0.10.1/src/mutex.rs"),
            "spin-0.10.1/src/mutex.rs"
        );
        assert_eq!(
            s("/root/.cargo/git/checkouts/foo-1234/abcdef0/src/lib.rs"),
            "foo-1234/src/lib.rs"
        );
        assert_eq!(s("/elsewhere/x.rs"), "/elsewhere/x.rs");
        assert_eq!(s("/work/mainly/x.rs"), "/work/mainly/x.rs");
        assert_eq!(s("kernel/src/main.rs"), "kernel/src/main.rs");
    }

    #[test]
    fn errors_display() {
        let e = Error::TooBig {
            needed: 2000,
            available: 1000,
        };
        assert!(e.to_string().contains("needs 2000 bytes"));
        assert!(e.to_string().contains("only 1000"));
        assert!(build_table(b"not an elf").is_err());
    }
}
