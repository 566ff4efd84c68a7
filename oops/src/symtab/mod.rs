//! The compact embedded symbol + line table ("kallsyms" for this kernel).
//!
//! # Format (version 3, all integers little-endian)
//!
//! ```text
//! header (176 bytes)
//!   0  magic        b"RKSYMTAB"
//!   8  version      u16 (= 2)
//!  10  header_len   u16 (= 176)
//!  12  total_len    u32  bytes used by the table, header included
//!  16  base         u64  address every stored address is relative to
//!  24  nsyms        u32
//!  28  nrows        u32  line-table rows
//!  32  nfiles       u32
//!  36  ntokens      u32
//!  40  sym_block    u16  symbols per symbol block (1..=32)
//!  42  line_block   u16  rows per line block (1..=1024)
//!  44  line_shift   u8   line-table and inline address deltas are stored >> line_shift
//!  45  inline_block u8   inline transitions per inline block (1..=255)
//!  46  reserved     [u8; 2]
//!  48  ninline      u32  inline transitions
//!  52  nfuncs       u32  names of inlined functions
//!  56  nsites       u32  inline call sites
//!  60  nrecords     u32  DWARF inline ranges the table was built from (statistics)
//!  64  14 sections × (offset u32, length u32), offsets from the table start:
//!      0 build id      raw bytes
//!      1 tokens        ntokens × 3 bytes: two 12-bit fields (a, b);
//!                      a == 0xFFF: literal byte b, else the token expands to a then b
//!      2 symbol index  per block: first start u32, data offset u32, running max end u32
//!                      (all addresses relative to `base`)
//!      3 symbol data   per symbol: varint (delta << 2 | size_is_gap << 1 | is_func),
//!                      [varint size unless size_is_gap], [varint shared prefix length
//!                      with the previous name unless first of block], varint code length,
//!                      codes
//!      4 file index    (nfiles + 1) × u32 offsets into the file data
//!      5 file data     token codes of the file names
//!      6 line index    per block: first address u32, data offset u32
//!      7 line data     per block: varint file, varint line of the first row, then one
//!                      op per row. The decoder keeps a move-to-front list of the 32 most
//!                      recent locations (file, line) of the block, `R` (R[0] = newest).
//!                      Address deltas are in units of 1 << line_shift.
//!                      op < 192 (one byte): addr delta = op % 3 + 1, c = op / 3:
//!                        c < 16: location R[c]; c == 63: no line info;
//!                        else: file of R[0], line of R[0] + (c - 32).
//!                      op >= 192: kind = op >> 4 & 3, j = op & 15, varint addr delta,
//!                        then i = j, or 15 + varint when j == 15 (kinds 0 and 1):
//!                        kind 0: location R[i]; kind 1: file of R[i], its line +
//!                        zigzag varint; kind 2: varint file, varint line; 3: no info.
//!                      Every location with a line is then moved to the front of R.
//!      8 inline index  per block: first transition's address u32 (relative to `base`),
//!                      data offset u32
//!      9 inline data   The inline chain (the call sites of the functions inlined at an
//!                      address, outermost first) changes only at "transitions"; a block
//!                      holds up to `inline_block` of them: varint n, then n varint site
//!                      ids, the chain from the block's first address on; then per
//!                      further transition an op byte h. The address delta d from the
//!                      previous transition is in units of 1 << line_shift:
//!                        h < 8: varint d; the chain becomes entry h of the block's
//!                          last 8 chains, newest first (0 = the current one);
//!                        h < 0x80: the same for entry (h - 8) % 8, d = (h - 8) / 8 + 1;
//!                        else: varint d; keep k = h >> 4 & 7 outer levels (k == 7:
//!                          7 + varint), then push p = h & 15 (p == 15: 15 + varint)
//!                          varint site ids.
//!                      The chain is empty before the first transition of the table.
//!     10 func index    per 16 functions: u32 offset into the func data
//!     11 func data     the inlined functions' names, sorted: per name [varint shared
//!                      prefix length with the previous name unless first of its 16],
//!                      varint code length, token codes
//!     12 site index    per 16 sites: u32 offset into the site data
//!     13 site data     per site: zigzag varint function delta, varint call file,
//!                      zigzag varint call line delta (deltas from the previous site of
//!                      the same 16, the first from 0). Ids 0..127 are the most used
//!                      sites, the rest are sorted by function, file and line.
//! ```
//!
//! A site is one level of an inline chain: the inlined function, and the file and
//! line of its call in the function one level out (`llvm-addr2line -i`). DWARF gives
//! one `DW_TAG_inlined_subroutine` range per level; the builder turns the ranges into
//! the chain at each address, so that a range costs nothing where it begins or ends
//! together with another, and a call site is stored once however often it is inlined.
//!
//! Names are compressed in two steps: within a symbol block each name stores only
//! the part that differs from the previous name (front coding in address order:
//! neighbouring symbols usually share their module path), and the remainders are
//! encoded with a byte-pair-encoding token table of up to 4095 tokens (codes
//! below 0xF0 take one byte, the others two). A token is either a literal byte or
//! a pair of tokens, so the table costs 3 bytes per token.
//!
//! A row of the line table covers the addresses up to the next row; a row with
//! line 0 means "no line information" (ends of DWARF sequences, gaps).
//!
//! Everything here is allocation-free and never panics, even when the table is
//! garbage: every read is bounds-checked and every loop is bounded.

use core::fmt;

#[cfg(any(test, feature = "std"))]
mod builder;
#[cfg(any(test, feature = "std"))]
mod kallsyms;
#[cfg(test)]
mod tests;

#[cfg(any(test, feature = "std"))]
pub use builder::{BuildError, TableBuilder, TableStats};
#[cfg(any(test, feature = "std"))]
pub use kallsyms::{kallsyms_baseline, kallsyms_baseline_size, KallsymsSize};

/// Magic bytes at the start of a table.
pub const MAGIC: [u8; 8] = *b"RKSYMTAB";
/// Format version written and understood by this crate.
pub const VERSION: u16 = 3;
/// Size of the fixed header, section directory included.
pub const HEADER_LEN: usize = 176;
/// Deepest inline nesting stored (deeper records are dropped by the builder and
/// ignored by the decoder).
pub const MAX_INLINE_DEPTH: usize = 48;
/// Largest number of inline transitions per inline block.
pub const MAX_INLINE_BLOCK: usize = 255;
/// Largest number of symbols per symbol block.
pub const MAX_SYM_BLOCK: usize = 32;
/// Largest number of rows per line block.
pub const MAX_LINE_BLOCK: usize = 1024;
/// Largest number of tokens (ids 0..=0xFFE; 0xFFF marks a literal).
pub const MAX_TOKENS: usize = 0xFFF;
/// Deepest token nesting the decoder supports.
pub const MAX_TOKEN_DEPTH: usize = 30;
/// Names (and file names) are cut after this many bytes when decoding.
pub const MAX_NAME_LEN: usize = 4096;

pub(crate) const NSECT: usize = 14;
pub(crate) const S_BUILD_ID: usize = 0;
pub(crate) const S_TOKENS: usize = 1;
pub(crate) const S_SYM_INDEX: usize = 2;
pub(crate) const S_SYM_DATA: usize = 3;
pub(crate) const S_FILE_INDEX: usize = 4;
pub(crate) const S_FILE_DATA: usize = 5;
pub(crate) const S_LINE_INDEX: usize = 6;
pub(crate) const S_LINE_DATA: usize = 7;
pub(crate) const S_INLINE_INDEX: usize = 8;
pub(crate) const S_INLINE_DATA: usize = 9;
pub(crate) const S_FUNC_INDEX: usize = 10;
pub(crate) const S_FUNC_DATA: usize = 11;
pub(crate) const S_SITE_INDEX: usize = 12;
pub(crate) const S_SITE_DATA: usize = 13;
/// Sites per site-index entry.
pub(crate) const SITE_BLOCK: usize = 16;
/// Site ids below this are ordered by use (one-byte varints); the rest are sorted.
#[cfg(any(test, feature = "std"))]
pub(crate) const SITE_HEAD: usize = 128;
/// Function names per func-index entry.
pub(crate) const FUNC_BLOCK: usize = 16;
/// How many recent chains (the current one included) an inline op can refer to.
pub(crate) const CHAIN_MTF: usize = 8;
/// Inline op bytes from here on are keep/push ops.
pub(crate) const OP_PUSH: u8 = 0x80;
pub(crate) const INLINE_INDEX_ENTRY: usize = 8;
/// Offset of the section directory in the header.
pub(crate) const DIR_OFF: usize = 64;
pub(crate) const SYM_INDEX_ENTRY: usize = 12;
pub(crate) const LINE_INDEX_ENTRY: usize = 8;
pub(crate) const LITERAL: u16 = 0xFFF;
pub(crate) const ONE_BYTE_CODES: usize = 0xF0;
/// Line-table ops below this are short ops (one byte).
pub(crate) const OP_LONG: u8 = 192;
/// Address deltas 1..=SHORT_ADDR fit a short op.
pub(crate) const SHORT_ADDR: u64 = 3;
/// Short-op location codes below this are hits in the recent-location list.
pub(crate) const SHORT_HITS: u8 = 16;
/// Short-op location code meaning "no line information".
pub(crate) const SHORT_NOINFO: u8 = 63;
/// Smallest line delta of a short op (relative to the most recent location).
pub(crate) const SHORT_DLO: i64 = -16;
/// Length of the recent-location (move-to-front) list of the line decoder.
pub(crate) const RECENT: usize = 32;

/// The move-to-front list of recent `(file, line)` locations shared by the
/// line-table encoder and decoder (reset at each block). Locations stay in their
/// slots; only the one-byte `order` list moves.
#[derive(Clone, Copy)]
pub(crate) struct Recent {
    locs: [(u32, u32); RECENT],
    /// Slot of list entry i.
    order: [u8; RECENT],
    len: usize,
}

impl Recent {
    pub(crate) fn new() -> Self {
        let mut order = [0u8; RECENT];
        for (i, o) in order.iter_mut().enumerate() {
            *o = i as u8;
        }
        Recent {
            locs: [(0, 0); RECENT],
            order,
            len: 0,
        }
    }

    pub(crate) fn get(&self, i: usize) -> Option<(u32, u32)> {
        if i < self.len {
            self.locs.get(usize::from(*self.order.get(i)?)).copied()
        } else {
            None
        }
    }

    #[cfg(any(test, feature = "std"))]
    pub(crate) fn position(&self, loc: (u32, u32)) -> Option<usize> {
        (0..self.len).find(|&i| self.get(i) == Some(loc))
    }

    /// Moves entry `i` to the front.
    pub(crate) fn touch_at(&mut self, i: usize) {
        if i < self.len {
            if let Some(o) = self.order.get_mut(..=i) {
                o.rotate_right(1);
            }
        }
    }

    /// Moves `loc` to the front (inserting it, in the least recent slot, if absent).
    pub(crate) fn touch(&mut self, loc: (u32, u32)) {
        let at = match (0..self.len).find(|&i| self.get(i) == Some(loc)) {
            Some(i) => i,
            None => {
                if self.len < RECENT {
                    self.len += 1;
                }
                let i = self.len - 1;
                let slot = usize::from(self.order.get(i).copied().unwrap_or(0));
                if let Some(l) = self.locs.get_mut(slot) {
                    *l = loc;
                }
                i
            }
        };
        if let Some(o) = self.order.get_mut(..=at) {
            o.rotate_right(1);
        }
    }
}

/// Why a byte buffer is not a valid table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatError {
    /// The buffer is all zeros: the image's `.kallsyms` section was never patched
    /// by `ksymgen`.
    Unpatched,
    /// The buffer is shorter than the header or than the length it declares.
    Truncated {
        /// Bytes the table needs.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// The magic bytes are wrong.
    BadMagic,
    /// The format version is not supported.
    UnsupportedVersion(u16),
    /// A header field is out of its valid range.
    BadHeader(&'static str),
    /// A section lies outside the table or has the wrong length.
    BadSection(&'static str),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Unpatched => {
                f.write_str("symbol table is all zeros (image not patched by ksymgen)")
            }
            FormatError::Truncated { needed, available } => write!(
                f,
                "symbol table truncated: needs {needed} bytes, {available} available"
            ),
            FormatError::BadMagic => f.write_str("symbol table has a bad magic number"),
            FormatError::UnsupportedVersion(v) => {
                write!(
                    f,
                    "symbol table version {v} is not supported (expected {VERSION})"
                )
            }
            FormatError::BadHeader(what) => write!(f, "symbol table header: bad {what}"),
            FormatError::BadSection(what) => write!(f, "symbol table section {what} is invalid"),
        }
    }
}

// ---------------------------------------------------------------------------
// Small readers

fn rd_u16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

fn rd_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(s);
    Some(u32::from_le_bytes(a))
}

fn rd_u64(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

/// A forward cursor over a byte slice; every read is checked.
#[derive(Clone)]
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(b: &'a [u8], pos: usize) -> Self {
        Cursor { b, pos }
    }

    fn byte(&mut self) -> Option<u8> {
        let v = *self.b.get(self.pos)?;
        self.pos += 1;
        Some(v)
    }

    /// Unsigned LEB128, at most 10 bytes.
    fn varint(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        let mut shift = 0u32;
        loop {
            let byte = self.byte()?;
            if shift < 64 {
                v |= u64::from(byte & 0x7F) << shift;
            }
            if byte & 0x80 == 0 {
                return Some(v);
            }
            shift += 7;
            if shift >= 70 {
                return None;
            }
        }
    }

    fn zigzag(&mut self) -> Option<i64> {
        let v = self.varint()?;
        Some(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.b.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
}

// ---------------------------------------------------------------------------
// The table

/// A parsed, validated view of an embedded table. Cheap to copy.
#[derive(Clone, Copy)]
pub struct Table<'a> {
    bytes: &'a [u8],
    base: u64,
    nsyms: u32,
    nrows: u32,
    nfiles: u32,
    ntokens: u32,
    sym_block: usize,
    line_block: usize,
    line_shift: u8,
    ninline: u32,
    nfuncs: u32,
    nsites: u32,
    nrecords: u32,
    inline_block: usize,
    sect: [(usize, usize); NSECT],
}

impl fmt::Debug for Table<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("len", &self.bytes.len())
            .field("nsyms", &self.nsyms)
            .field("nrows", &self.nrows)
            .field("nfiles", &self.nfiles)
            .field("ntokens", &self.ntokens)
            .finish()
    }
}

/// One decoded symbol record (internal).
#[derive(Clone, Copy, Default)]
struct RawSym {
    start: u64,
    size: u64,
    is_func: bool,
    prefix: u32,
    code_off: usize,
    code_len: usize,
}

type Block = [RawSym; MAX_SYM_BLOCK];

impl<'a> Table<'a> {
    /// Parses and validates a table. `bytes` may be longer than the table (the
    /// rest of the reserved section is ignored).
    pub fn parse(bytes: &'a [u8]) -> Result<Table<'a>, FormatError> {
        let head = bytes.get(..HEADER_LEN).ok_or(FormatError::Truncated {
            needed: HEADER_LEN,
            available: bytes.len(),
        })?;
        if head.iter().all(|&b| b == 0) {
            return Err(FormatError::Unpatched);
        }
        if head.get(..8) != Some(&MAGIC[..]) {
            return Err(FormatError::BadMagic);
        }
        let bad = FormatError::BadHeader;
        let version = rd_u16(head, 8).ok_or(bad("version"))?;
        if version != VERSION {
            return Err(FormatError::UnsupportedVersion(version));
        }
        if rd_u16(head, 10) != Some(HEADER_LEN as u16) {
            return Err(bad("header length"));
        }
        let total = rd_u32(head, 12).ok_or(bad("total length"))? as usize;
        if total < HEADER_LEN {
            return Err(bad("total length"));
        }
        if total > bytes.len() {
            return Err(FormatError::Truncated {
                needed: total,
                available: bytes.len(),
            });
        }
        let bytes = bytes.get(..total).ok_or(bad("total length"))?;
        let base = rd_u64(head, 16).ok_or(bad("base"))?;
        let nsyms = rd_u32(head, 24).ok_or(bad("symbol count"))?;
        let nrows = rd_u32(head, 28).ok_or(bad("row count"))?;
        let nfiles = rd_u32(head, 32).ok_or(bad("file count"))?;
        let ntokens = rd_u32(head, 36).ok_or(bad("token count"))?;
        let sym_block = rd_u16(head, 40).ok_or(bad("symbol block size"))? as usize;
        let line_block = rd_u16(head, 42).ok_or(bad("line block size"))? as usize;
        let line_shift = *head.get(44).ok_or(bad("line shift"))?;
        if sym_block == 0 || sym_block > MAX_SYM_BLOCK {
            return Err(bad("symbol block size"));
        }
        if line_block == 0 || line_block > MAX_LINE_BLOCK {
            return Err(bad("line block size"));
        }
        if line_shift > 8 {
            return Err(bad("line shift"));
        }
        let inline_block = usize::from(*head.get(45).ok_or(bad("inline block size"))?);
        if inline_block == 0 {
            return Err(bad("inline block size"));
        }
        let ninline = rd_u32(head, 48).ok_or(bad("inline count"))?;
        let nfuncs = rd_u32(head, 52).ok_or(bad("function count"))?;
        let nsites = rd_u32(head, 56).ok_or(bad("site count"))?;
        let nrecords = rd_u32(head, 60).ok_or(bad("record count"))?;
        if ntokens as usize > MAX_TOKENS {
            return Err(bad("token count"));
        }
        let mut sect = [(0usize, 0usize); NSECT];
        for (i, s) in sect.iter_mut().enumerate() {
            let off = rd_u32(head, DIR_OFF + 8 * i).ok_or(bad("section directory"))? as usize;
            let len = rd_u32(head, DIR_OFF + 4 + 8 * i).ok_or(bad("section directory"))? as usize;
            match off.checked_add(len) {
                Some(end) if off >= HEADER_LEN && end <= total => *s = (off, len),
                _ => return Err(FormatError::BadSection(SECTION_NAMES[i])),
            }
        }
        let nblocks = (nsyms as usize).div_ceil(sym_block);
        let nlblocks = (nrows as usize).div_ceil(line_block);
        let want = [
            (S_TOKENS, (ntokens as usize).checked_mul(3)),
            (S_SYM_INDEX, nblocks.checked_mul(SYM_INDEX_ENTRY)),
            (
                S_FILE_INDEX,
                (nfiles as usize)
                    .checked_add(1)
                    .and_then(|n| n.checked_mul(4)),
            ),
            (S_LINE_INDEX, nlblocks.checked_mul(LINE_INDEX_ENTRY)),
            (
                S_INLINE_INDEX,
                (ninline as usize)
                    .div_ceil(inline_block)
                    .checked_mul(INLINE_INDEX_ENTRY),
            ),
            (
                S_FUNC_INDEX,
                (nfuncs as usize).div_ceil(FUNC_BLOCK).checked_mul(4),
            ),
            (
                S_SITE_INDEX,
                (nsites as usize).div_ceil(SITE_BLOCK).checked_mul(4),
            ),
        ];
        for (s, len) in want {
            if Some(sect[s].1) != len {
                return Err(FormatError::BadSection(SECTION_NAMES[s]));
            }
        }
        Ok(Table {
            bytes,
            base,
            nsyms,
            nrows,
            nfiles,
            ntokens,
            sym_block,
            line_block,
            line_shift,
            ninline,
            nfuncs,
            nsites,
            nrecords,
            inline_block,
            sect,
        })
    }

    fn section(&self, s: usize) -> &'a [u8] {
        let (off, len) = self.sect.get(s).copied().unwrap_or((0, 0));
        self.bytes.get(off..off.saturating_add(len)).unwrap_or(&[])
    }

    /// Bytes the table occupies (header included).
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// The build ID recorded by `ksymgen`.
    pub fn build_id(&self) -> &'a [u8] {
        self.section(S_BUILD_ID)
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.nsyms as usize
    }

    /// True when the table holds no symbols.
    pub fn is_empty(&self) -> bool {
        self.nsyms == 0
    }

    /// Number of line-table rows.
    pub fn line_rows(&self) -> usize {
        self.nrows as usize
    }

    /// Number of distinct source file names.
    pub fn file_count(&self) -> usize {
        self.nfiles as usize
    }

    /// Byte sizes of the table's parts (for in-guest statistics).
    pub fn sizes(&self) -> TableSizes {
        let len = |s: usize| self.sect.get(s).map_or(0, |&(_, l)| l);
        TableSizes {
            total: self.bytes.len(),
            tokens: len(S_TOKENS),
            symbols: len(S_SYM_INDEX) + len(S_SYM_DATA),
            files: len(S_FILE_INDEX) + len(S_FILE_DATA),
            lines: len(S_LINE_INDEX) + len(S_LINE_DATA),
            inline: len(S_INLINE_INDEX)
                + len(S_INLINE_DATA)
                + len(S_FUNC_INDEX)
                + len(S_FUNC_DATA)
                + len(S_SITE_INDEX)
                + len(S_SITE_DATA),
        }
    }

    fn nblocks(&self) -> usize {
        (self.nsyms as usize).div_ceil(self.sym_block)
    }

    /// (first start, data offset, running max end) of a symbol block; addresses absolute.
    fn block_index(&self, b: usize) -> Option<(u64, usize, u64)> {
        let idx = self.section(S_SYM_INDEX);
        let at = b.checked_mul(SYM_INDEX_ENTRY)?;
        let start = self.base.checked_add(u64::from(rd_u32(idx, at)?))?;
        let data = rd_u32(idx, at + 4)? as usize;
        let max_end = self.base.checked_add(u64::from(rd_u32(idx, at + 8)?))?;
        Some((start, data, max_end))
    }

    /// Decodes symbol block `b` into `out`; returns the number of symbols.
    fn decode_block(&self, b: usize, out: &mut Block) -> Option<usize> {
        let (first, data_off, _) = self.block_index(b)?;
        let count = if b + 1 == self.nblocks() {
            (self.nsyms as usize).checked_sub(b.checked_mul(self.sym_block)?)?
        } else {
            self.sym_block
        };
        let count = count.min(MAX_SYM_BLOCK);
        let next_start = if b + 1 < self.nblocks() {
            Some(self.block_index(b + 1)?.0)
        } else {
            None
        };
        let data = self.section(S_SYM_DATA);
        let mut c = Cursor::new(data, data_off);
        let mut addr = first;
        let mut pending_gap: Option<usize> = None;
        for i in 0..count {
            let h = c.varint()?;
            addr = addr.checked_add(h >> 2)?;
            if i == 0 && h >> 2 != 0 {
                return None;
            }
            if let Some(p) = pending_gap.take() {
                out[p].size = addr - out[p].start;
            }
            let is_func = h & 1 != 0;
            let size = if h & 2 != 0 {
                pending_gap = Some(i);
                0
            } else {
                c.varint()?
            };
            let prefix = if i == 0 { 0 } else { c.varint()? };
            let code_len = c.varint()?;
            let code_len = usize::try_from(code_len).ok()?;
            let code_off = c.pos;
            c.take(code_len)?;
            out[i] = RawSym {
                start: addr,
                size,
                is_func,
                prefix: u32::try_from(prefix).ok()?,
                code_off,
                code_len,
            };
        }
        if let Some(p) = pending_gap {
            out[p].size = next_start?.checked_sub(out[p].start)?;
        }
        Some(count)
    }

    /// Finds the symbol for `addr`: the covering sized symbol with the greatest
    /// start (the first of several aliases, functions sorted first), else the
    /// nearest preceding zero-size symbol (not past the last symbol).
    pub fn lookup(&self, addr: u64) -> Option<Symbol<'a>> {
        let nblocks = self.nblocks();
        if nblocks == 0 {
            return None;
        }
        // Last block whose first start <= addr.
        let (mut lo, mut hi) = (0usize, nblocks);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.block_index(mid)?.0 <= addr {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let j = lo.checked_sub(1)?;
        let mut blk: Block = [RawSym::default(); MAX_SYM_BLOCK];
        // Nearest preceding symbol (only used when nothing covers addr).
        let mut nearest: Option<(usize, usize, RawSym)> = None;
        let mut best: Option<(usize, usize, RawSym)> = None;
        let mut k = j;
        loop {
            let n = self.decode_block(k, &mut blk)?;
            for (i, s) in blk.iter().enumerate().take(n) {
                if s.start > addr {
                    break;
                }
                if k == j && nearest.is_none_or(|(_, _, p)| s.start > p.start) {
                    nearest = Some((k, i, *s));
                }
                let covers = s.size > 0 && addr - s.start < s.size;
                if covers && best.is_none_or(|(_, _, b)| s.start > b.start) {
                    best = Some((k, i, *s));
                } else if covers {
                    if let Some((bk, bi, b)) = best {
                        // Same start in an earlier block: earlier in order wins.
                        if s.start == b.start && (k, i) < (bk, bi) {
                            best = Some((k, i, *s));
                        }
                    }
                }
            }
            if k == 0 {
                break;
            }
            let (first, _, _) = self.block_index(k)?;
            let (_, _, prev_max_end) = self.block_index(k - 1)?;
            let go_on = match best {
                Some((_, _, b)) => first == b.start,
                None => prev_max_end > addr,
            };
            if !go_on {
                break;
            }
            k -= 1;
        }
        let (bk, bi, s) = match best {
            Some(b) => b,
            None => {
                let (nk, ni, n) = nearest?;
                let is_last = nk * self.sym_block + ni + 1 >= self.nsyms as usize;
                if n.size != 0 || is_last {
                    return None;
                }
                (nk, ni, n)
            }
        };
        Some(Symbol {
            start: s.start,
            size: s.size,
            offset: addr - s.start,
            is_func: s.is_func,
            name: SymbolName {
                table: *self,
                block: bk as u32,
                index: bi as u8,
            },
        })
    }

    /// Iterates over all symbols in address order.
    pub fn symbols(&self) -> Symbols<'a> {
        Symbols {
            table: *self,
            block: 0,
            index: 0,
            count: 0,
            buf: [RawSym::default(); MAX_SYM_BLOCK],
        }
    }

    /// Finds a symbol by its (demangled) name; returns its address.
    pub fn find(&self, name: &str) -> Option<u64> {
        let want = name.as_bytes();
        let mut blk: Block = [RawSym::default(); MAX_SYM_BLOCK];
        for b in 0..self.nblocks() {
            let n = self.decode_block(b, &mut blk)?;
            for i in 0..n {
                let mut pos = 0usize;
                let mut ok = true;
                let _ = self.emit_name::<()>(&blk, n, i, &mut |c| {
                    if want.get(pos) == Some(&c) {
                        pos += 1;
                        Ok(true)
                    } else {
                        ok = false;
                        Ok(false)
                    }
                });
                if ok && pos == want.len() {
                    return blk.get(i).map(|s| s.start);
                }
            }
        }
        None
    }

    // -- token decoding --------------------------------------------------------

    fn token(&self, id: u16) -> Option<(u16, u16)> {
        if u32::from(id) >= self.ntokens {
            return None;
        }
        let t = self.section(S_TOKENS);
        let at = usize::from(id) * 3;
        let s = t.get(at..at + 3)?;
        let v = u32::from(s[0]) | u32::from(s[1]) << 8 | u32::from(s[2]) << 16;
        Some(((v & 0xFFF) as u16, (v >> 12) as u16))
    }

    /// Expands token codes, feeding at most `limit` bytes to `sink`. The sink
    /// returns `Ok(false)` to stop early. Returns the number of bytes fed.
    fn expand<E>(
        &self,
        codes: &[u8],
        limit: usize,
        sink: &mut impl FnMut(u8) -> Result<bool, E>,
    ) -> Result<Option<usize>, E> {
        let mut emitted = 0usize;
        let mut c = Cursor::new(codes, 0);
        while emitted < limit {
            let Some(b0) = c.byte() else { break };
            let id = if usize::from(b0) < ONE_BYTE_CODES {
                u16::from(b0)
            } else {
                let Some(b1) = c.byte() else { return Ok(None) };
                ONE_BYTE_CODES as u16 + (u16::from(b0 & 0x0F) << 8 | u16::from(b1))
            };
            let mut stack = [0u16; MAX_TOKEN_DEPTH + 2];
            let mut sp = 1usize;
            stack[0] = id;
            while sp > 0 {
                sp -= 1;
                let Some((a, b)) = self.token(stack[sp]) else {
                    return Ok(None);
                };
                if a == LITERAL {
                    if emitted >= limit {
                        return Ok(Some(emitted));
                    }
                    emitted += 1;
                    if !sink(b as u8)? {
                        return Ok(Some(emitted));
                    }
                } else {
                    if sp + 2 > stack.len() {
                        return Ok(None);
                    }
                    stack[sp] = b;
                    stack[sp + 1] = a;
                    sp += 2;
                }
            }
        }
        Ok(Some(emitted))
    }

    /// Feeds the name of symbol `idx` of block `blk` to `sink`.
    fn emit_name<E>(
        &self,
        blk: &Block,
        n: usize,
        idx: usize,
        sink: &mut impl FnMut(u8) -> Result<bool, E>,
    ) -> Result<(), E> {
        self.emit_front_coded(S_SYM_DATA, blk, n, idx, sink)
    }

    /// Feeds name `idx` of the front-coded block `blk` (codes in section `sect`) to
    /// `sink`, taking from each earlier name only the bytes the later ones share.
    fn emit_front_coded<E>(
        &self,
        sect: usize,
        blk: &Block,
        n: usize,
        idx: usize,
        sink: &mut impl FnMut(u8) -> Result<bool, E>,
    ) -> Result<(), E> {
        if idx >= n || idx >= blk.len() {
            return Ok(());
        }
        let data = self.section(sect);
        // want[k]: how many bytes of name k are needed (front coding chain).
        let mut want = [0usize; MAX_SYM_BLOCK];
        want[idx] = MAX_NAME_LEN;
        let mut k = idx;
        while k > 0 {
            want[k - 1] = want[k].min(blk[k].prefix as usize);
            k -= 1;
        }
        let stop = core::cell::Cell::new(false);
        let mut wrap = |b: u8| -> Result<bool, E> {
            let go = sink(b)?;
            if !go {
                stop.set(true);
            }
            Ok(go)
        };
        for k in 0..=idx {
            let s = &blk[k];
            let prefix = if k == 0 { 0 } else { s.prefix as usize };
            let need = want[k].saturating_sub(prefix);
            if need == 0 {
                continue;
            }
            let codes = data
                .get(s.code_off..s.code_off.saturating_add(s.code_len))
                .unwrap_or(&[]);
            self.expand(codes, need, &mut wrap)?;
            if stop.get() {
                return Ok(());
            }
        }
        Ok(())
    }

    // -- line table ------------------------------------------------------------

    fn line_block_index(&self, b: usize) -> Option<(u64, usize)> {
        let idx = self.section(S_LINE_INDEX);
        let at = b.checked_mul(LINE_INDEX_ENTRY)?;
        let addr = self.base.checked_add(u64::from(rd_u32(idx, at)?))?;
        Some((addr, rd_u32(idx, at + 4)? as usize))
    }

    /// Source location (innermost, i.e. after inlining) of the instruction at
    /// `addr`: file name and line.
    pub fn line(&self, addr: u64) -> Option<(FileName<'a>, u32)> {
        let nblocks = (self.nrows as usize).div_ceil(self.line_block);
        let (mut lo, mut hi) = (0usize, nblocks);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.line_block_index(mid)?.0 <= addr {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let b = lo.checked_sub(1)?;
        let (first, off) = self.line_block_index(b)?;
        let count = if b + 1 == nblocks {
            (self.nrows as usize).checked_sub(b.checked_mul(self.line_block)?)?
        } else {
            self.line_block
        };
        let mut c = Cursor::new(self.section(S_LINE_DATA), off);
        let file = u32::try_from(c.varint()?).ok()?;
        let line = u32::try_from(c.varint()?).ok()?;
        let mut recent = Recent::new();
        let mut cur = (file, line);
        if line != 0 {
            recent.touch(cur);
        }
        let mut row_addr = first;
        for _ in 1..count {
            let op = c.byte()?;
            let (adelta, loc);
            // Set when `loc` is entry `hit` of `recent` (no search to move it up).
            let mut hit = None;
            if op < OP_LONG {
                adelta = u64::from(op % SHORT_ADDR as u8) + 1;
                let code = op / SHORT_ADDR as u8;
                loc = if code < SHORT_HITS {
                    hit = Some(usize::from(code));
                    recent.get(usize::from(code))?
                } else if code == SHORT_NOINFO {
                    (0, 0)
                } else {
                    let (f, l) = recent.get(0)?;
                    let d = i64::from(code - SHORT_HITS) + SHORT_DLO;
                    (f, u32::try_from(i64::from(l) + d).ok()?)
                };
            } else {
                let kind = (op >> 4) & 3;
                let j = op & 15;
                adelta = c.varint()?;
                let mut idx = || -> Option<usize> {
                    let extra = if j == 15 { c.varint()? } else { 0 };
                    usize::try_from(u64::from(j).checked_add(extra)?).ok()
                };
                loc = match kind {
                    0 => {
                        let i = idx()?;
                        hit = Some(i);
                        recent.get(i)?
                    }
                    1 => {
                        let (f, l) = recent.get(idx()?)?;
                        let d = c.zigzag()?;
                        (f, u32::try_from(i64::from(l).checked_add(d)?).ok()?)
                    }
                    2 => (
                        u32::try_from(c.varint()?).ok()?,
                        u32::try_from(c.varint()?).ok()?,
                    ),
                    _ => (0, 0),
                };
            }
            row_addr = row_addr.checked_add(adelta.checked_shl(u32::from(self.line_shift))?)?;
            if row_addr > addr {
                break;
            }
            match hit {
                Some(i) => recent.touch_at(i),
                None if loc.1 != 0 => recent.touch(loc),
                None => {}
            }
            cur = loc;
        }
        let (cur_file, cur_line) = cur;
        if cur_line == 0 || cur_file >= self.nfiles {
            return None;
        }
        Some((
            FileName {
                table: *self,
                index: cur_file,
            },
            cur_line,
        ))
    }

    fn emit_file<E>(
        &self,
        index: u32,
        sink: &mut impl FnMut(u8) -> Result<bool, E>,
    ) -> Result<(), E> {
        let idx = self.section(S_FILE_INDEX);
        let at = index as usize * 4;
        let (Some(a), Some(b)) = (rd_u32(idx, at), rd_u32(idx, at + 4)) else {
            return Ok(());
        };
        let codes = self
            .section(S_FILE_DATA)
            .get(a as usize..b as usize)
            .unwrap_or(&[]);
        self.expand(codes, MAX_NAME_LEN, sink)?;
        Ok(())
    }

    fn emit_func<E>(
        &self,
        index: u32,
        sink: &mut impl FnMut(u8) -> Result<bool, E>,
    ) -> Result<(), E> {
        if index >= self.nfuncs {
            return Ok(());
        }
        let index = index as usize;
        let Some(off) = rd_u32(self.section(S_FUNC_INDEX), index / FUNC_BLOCK * 4) else {
            return Ok(());
        };
        let mut blk: Block = [RawSym::default(); MAX_SYM_BLOCK];
        let mut c = Cursor::new(self.section(S_FUNC_DATA), off as usize);
        let n = index % FUNC_BLOCK + 1;
        for (k, e) in blk.iter_mut().take(n).enumerate() {
            let prefix = if k == 0 { Some(0) } else { c.varint() };
            let (Some(prefix), Some(len)) = (prefix, c.varint()) else {
                return Ok(());
            };
            let (Ok(prefix), Ok(len)) = (u32::try_from(prefix), usize::try_from(len)) else {
                return Ok(());
            };
            let code_off = c.pos;
            if c.take(len).is_none() {
                return Ok(());
            }
            *e = RawSym {
                prefix,
                code_off,
                code_len: len,
                ..RawSym::default()
            };
        }
        self.emit_front_coded(S_FUNC_DATA, &blk, n, n - 1, sink)
    }

    // -- inline chains ---------------------------------------------------------

    /// Number of DWARF inline ranges the table was built from.
    pub fn inline_records(&self) -> usize {
        self.nrecords as usize
    }

    /// Number of inline transitions (addresses where the inline chain changes).
    pub fn inline_transitions(&self) -> usize {
        self.ninline as usize
    }

    /// Number of distinct inline call sites.
    pub fn inline_sites(&self) -> usize {
        self.nsites as usize
    }

    /// Site `id` of the site dictionary.
    fn site(&self, id: u32) -> Option<RawInline> {
        if id >= self.nsites {
            return None;
        }
        let id = id as usize;
        let off = rd_u32(
            self.section(S_SITE_INDEX),
            (id / SITE_BLOCK).checked_mul(4)?,
        )? as usize;
        let mut c = Cursor::new(self.section(S_SITE_DATA), off);
        let mut site = RawInline::default();
        for _ in 0..=id % SITE_BLOCK {
            let func = i64::from(site.func).checked_add(c.zigzag()?)?;
            let file = c.varint()?;
            let line = i64::from(site.line).checked_add(c.zigzag()?)?;
            site = RawInline {
                func: u32::try_from(func).ok()?,
                file: u32::try_from(file).ok()?,
                line: u32::try_from(line).ok()?,
            };
        }
        (site.func < self.nfuncs && site.file < self.nfiles).then_some(site)
    }

    fn inline_block_index(&self, b: usize) -> Option<(u64, usize)> {
        let idx = self.section(S_INLINE_INDEX);
        let at = b.checked_mul(INLINE_INDEX_ENTRY)?;
        let addr = self.base.checked_add(u64::from(rd_u32(idx, at)?))?;
        Some((addr, rd_u32(idx, at + 4)? as usize))
    }

    /// The functions inlined at `addr`, outermost first (see [`InlineChain`]). Empty
    /// when nothing is inlined there or the table has no (valid) inline data.
    pub fn inline_chain(&self, addr: u64) -> InlineChain<'a> {
        let mut chain = InlineChain {
            table: *self,
            levels: [RawInline::default(); MAX_INLINE_DEPTH],
            len: 0,
        };
        let _ = self.fill_chain(addr, &mut chain);
        chain
    }

    fn fill_chain(&self, addr: u64, chain: &mut InlineChain<'a>) -> Option<()> {
        let nblocks = (self.ninline as usize).div_ceil(self.inline_block);
        let (mut lo, mut hi) = (0usize, nblocks);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.inline_block_index(mid)?.0 <= addr {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let b = lo.checked_sub(1)?;
        let (first, off) = self.inline_block_index(b)?;
        let own = if b + 1 == nblocks {
            (self.ninline as usize).checked_sub(b.checked_mul(self.inline_block)?)?
        } else {
            self.inline_block
        };
        let mut c = Cursor::new(self.section(S_INLINE_DATA), off);
        let shift = u32::from(self.line_shift);
        let mut cur = [0u32; MAX_INLINE_DEPTH];
        let n = usize::try_from(c.varint()?).ok()?;
        if n > MAX_INLINE_DEPTH {
            return None;
        }
        for slot in cur.iter_mut().take(n) {
            *slot = u32::try_from(c.varint()?).ok()?;
        }
        let mut len = n;
        let mut chains = Chains::new();
        chains.push(cur.get(..len)?);
        let mut at = first;
        for _ in 1..own {
            let h = c.byte()?;
            let d = if h >= OP_PUSH || usize::from(h) < CHAIN_MTF {
                c.varint()?
            } else {
                u64::from((h - CHAIN_MTF as u8) / CHAIN_MTF as u8 + 1)
            };
            at = at.checked_add(d.checked_shl(shift)?)?;
            if at > addr {
                break;
            }
            if h < OP_PUSH {
                let i = if usize::from(h) < CHAIN_MTF {
                    usize::from(h)
                } else {
                    usize::from(h - CHAIN_MTF as u8) % CHAIN_MTF
                };
                len = chains.get(i, &mut cur)?;
            } else {
                let mut keep = usize::from(h >> 4 & 7);
                if keep == 7 {
                    keep = keep.checked_add(usize::try_from(c.varint()?).ok()?)?;
                }
                let mut push = usize::from(h & 15);
                if push == 15 {
                    push = push.checked_add(usize::try_from(c.varint()?).ok()?)?;
                }
                let end = keep.checked_add(push)?;
                if keep > len || end > MAX_INLINE_DEPTH {
                    return None;
                }
                for slot in cur.get_mut(keep..end)? {
                    *slot = u32::try_from(c.varint()?).ok()?;
                }
                len = end;
            }
            chains.push(cur.get(..len)?);
        }
        for (slot, &id) in chain.levels.iter_mut().zip(cur.iter().take(len)) {
            match self.site(id) {
                Some(site) => {
                    *slot = site;
                    chain.len += 1;
                }
                // A bad id ends the chain: what is outside it is valid.
                None => break,
            }
        }
        Some(())
    }

    /// The location of `addr` in its symbol's own function: the call site of the
    /// outermost inlined function when code was inlined there, else the line of the
    /// instruction itself.
    pub fn frame_line(&self, addr: u64) -> Option<(FileName<'a>, u32)> {
        self.frame_line_in(&self.inline_chain(addr), addr)
    }

    /// [`Table::frame_line`] with the chain of `addr` already decoded.
    pub fn frame_line_in(&self, chain: &InlineChain<'a>, addr: u64) -> Option<(FileName<'a>, u32)> {
        match chain.get(0) {
            Some(f) => Some((f.call_file, f.call_line)),
            None => self.line(addr),
        }
    }

    /// Writes ` (file:line)` for [`Table::frame_line`] (nothing when unknown).
    pub fn write_frame_line(&self, addr: u64, w: &mut dyn fmt::Write) -> fmt::Result {
        self.write_frame_line_in(&self.inline_chain(addr), addr, w)
    }

    /// [`Table::write_frame_line`] with the chain of `addr` already decoded.
    pub fn write_frame_line_in(
        &self,
        chain: &InlineChain<'a>,
        addr: u64,
        w: &mut dyn fmt::Write,
    ) -> fmt::Result {
        if let Some((file, line)) = self.frame_line_in(chain, addr) {
            write!(w, " ({file}:{line})")?;
        }
        Ok(())
    }

    /// Writes one line per inlined level at `addr`, innermost first (the order of
    /// `llvm-addr2line -i`, without its last entry, which is the frame itself):
    /// `{indent}name (file:line) (inlined)`.
    pub fn write_inlined(&self, addr: u64, indent: &str, w: &mut dyn fmt::Write) -> fmt::Result {
        self.write_inlined_in(&self.inline_chain(addr), addr, indent, w)
    }

    /// [`Table::write_inlined`] with the chain of `addr` already decoded.
    pub fn write_inlined_in(
        &self,
        chain: &InlineChain<'a>,
        addr: u64,
        indent: &str,
        w: &mut dyn fmt::Write,
    ) -> fmt::Result {
        let n = chain.len();
        for k in (0..n).rev() {
            let Some(f) = chain.get(k) else { continue };
            write!(w, "{indent}{}", f.func)?;
            let loc = match chain.get(k + 1) {
                Some(inner) => Some((inner.call_file, inner.call_line)),
                None => self.line(addr),
            };
            if let Some((file, line)) = loc {
                write!(w, " ({file}:{line})")?;
            }
            w.write_str(" (inlined)\n")?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Default, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct RawInline {
    pub(crate) func: u32,
    pub(crate) file: u32,
    pub(crate) line: u32,
}

/// The last [`CHAIN_MTF`] inline chains (site ids, outermost first), newest first,
/// shared by the inline encoder and decoder (reset at each block): a ring, so the
/// decoder never compares chains.
pub(crate) struct Chains {
    c: [[u32; MAX_INLINE_DEPTH]; CHAIN_MTF],
    n: [usize; CHAIN_MTF],
    /// Slot of the newest chain.
    head: usize,
    len: usize,
}

impl Chains {
    pub(crate) fn new() -> Self {
        Chains {
            c: [[0; MAX_INLINE_DEPTH]; CHAIN_MTF],
            n: [0; CHAIN_MTF],
            head: 0,
            len: 0,
        }
    }

    fn chain(&self, i: usize) -> Option<&[u32]> {
        if i >= self.len {
            return None;
        }
        let slot = (self.head + CHAIN_MTF - i) % CHAIN_MTF;
        self.c.get(slot)?.get(..*self.n.get(slot)?)
    }

    /// Copies entry `i` (0 = newest) into `out`; returns its length.
    pub(crate) fn get(&self, i: usize, out: &mut [u32; MAX_INLINE_DEPTH]) -> Option<usize> {
        let c = self.chain(i)?;
        out.get_mut(..c.len())?.copy_from_slice(c);
        Some(c.len())
    }

    #[cfg(any(test, feature = "std"))]
    pub(crate) fn position(&self, x: &[u32]) -> Option<usize> {
        (0..self.len).find(|&i| self.chain(i) == Some(x))
    }

    /// Records `x` as the newest chain (chains longer than [`MAX_INLINE_DEPTH`] are
    /// not stored).
    pub(crate) fn push(&mut self, x: &[u32]) {
        if x.len() > MAX_INLINE_DEPTH {
            return;
        }
        self.head = (self.head + 1) % CHAIN_MTF;
        self.len = (self.len + 1).min(CHAIN_MTF);
        if let (Some(dst), Some(n)) = (
            self.c.get_mut(self.head).and_then(|c| c.get_mut(..x.len())),
            self.n.get_mut(self.head),
        ) {
            dst.copy_from_slice(x);
            *n = x.len();
        }
    }
}

/// The inlined functions covering one address, outermost (depth 0) first. Every
/// index it holds was checked against the table's counts.
#[derive(Clone, Copy)]
pub struct InlineChain<'a> {
    table: Table<'a>,
    levels: [RawInline; MAX_INLINE_DEPTH],
    len: usize,
}

/// One level of an [`InlineChain`].
#[derive(Clone, Copy, Debug)]
pub struct InlineFrame<'a> {
    /// The inlined function.
    pub func: FuncName<'a>,
    /// Where it was called, in the function one level out.
    pub call_file: FileName<'a>,
    /// Line of the call.
    pub call_line: u32,
}

impl<'a> InlineChain<'a> {
    /// Number of inlined levels.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is inlined at the address.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Level `i` (0 = outermost).
    pub fn get(&self, i: usize) -> Option<InlineFrame<'a>> {
        if i >= self.len {
            return None;
        }
        let r = self.levels.get(i)?;
        Some(InlineFrame {
            func: FuncName {
                table: self.table,
                index: r.func,
            },
            call_file: FileName {
                table: self.table,
                index: r.file,
            },
            call_line: r.line,
        })
    }
}

/// The name of an inlined function, decompressed when formatted.
#[derive(Clone, Copy)]
pub struct FuncName<'a> {
    table: Table<'a>,
    index: u32,
}

impl fmt::Display for FuncName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Utf8Out::new(f);
        self.table
            .emit_func(self.index, &mut |b| out.push(b).map(|()| true))?;
        out.flush()
    }
}

impl fmt::Debug for FuncName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// Byte sizes of a table's parts, see [`Table::sizes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSizes {
    /// Whole table, header included.
    pub total: usize,
    /// Token table.
    pub tokens: usize,
    /// Symbol index and data (addresses, sizes, compressed names).
    pub symbols: usize,
    /// File-name index and data.
    pub files: usize,
    /// Line index and data.
    pub lines: usize,
    /// Inline index and data, call sites, and the inlined functions' names.
    pub inline: usize,
}

const SECTION_NAMES: [&str; NSECT] = [
    "build id",
    "tokens",
    "symbol index",
    "symbol data",
    "file index",
    "file data",
    "line index",
    "line data",
    "inline index",
    "inline data",
    "function index",
    "function data",
    "site index",
    "site data",
];

// ---------------------------------------------------------------------------
// Symbols and names

/// A symbol found by [`Table::lookup`] or listed by [`Table::symbols`].
#[derive(Clone, Copy, Debug)]
pub struct Symbol<'a> {
    /// Start address.
    pub start: u64,
    /// Size in bytes (0 for symbols without a size).
    pub size: u64,
    /// Looked-up address minus `start` (0 when iterating).
    pub offset: u64,
    /// True for functions (`STT_FUNC`), false for data objects.
    pub is_func: bool,
    name: SymbolName<'a>,
}

impl<'a> Symbol<'a> {
    /// The symbol's (demangled) name, decompressed when displayed.
    pub fn name(&self) -> SymbolName<'a> {
        self.name
    }
}

/// A symbol name that decompresses itself when formatted (no allocation).
#[derive(Clone, Copy)]
pub struct SymbolName<'a> {
    table: Table<'a>,
    block: u32,
    index: u8,
}

impl SymbolName<'_> {
    fn feed<E>(&self, sink: &mut impl FnMut(u8) -> Result<bool, E>) -> Result<(), E> {
        let mut blk: Block = [RawSym::default(); MAX_SYM_BLOCK];
        let Some(n) = self.table.decode_block(self.block as usize, &mut blk) else {
            return Ok(());
        };
        self.table.emit_name(&blk, n, usize::from(self.index), sink)
    }

    /// Compares the name with `s` without allocating.
    pub fn eq_str(&self, s: &str) -> bool {
        let want = s.as_bytes();
        let mut pos = 0usize;
        let mut ok = true;
        let _ = self.feed::<()>(&mut |b| {
            if want.get(pos) == Some(&b) {
                pos += 1;
                Ok(true)
            } else {
                ok = false;
                Ok(false)
            }
        });
        ok && pos == want.len()
    }

    /// Copies the name into `buf`, returning the bytes written (cut at `buf.len()`).
    pub fn copy_to(&self, buf: &mut [u8]) -> usize {
        let mut n = 0usize;
        let _ = self.feed::<()>(&mut |b| match buf.get_mut(n) {
            Some(slot) => {
                *slot = b;
                n += 1;
                Ok(true)
            }
            None => Ok(false),
        });
        n
    }
}

impl fmt::Display for SymbolName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Utf8Out::new(f);
        self.feed(&mut |b| out.push(b).map(|()| true))?;
        out.flush()
    }
}

impl fmt::Debug for SymbolName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// A source file name from the line table, decompressed when formatted.
#[derive(Clone, Copy)]
pub struct FileName<'a> {
    table: Table<'a>,
    index: u32,
}

impl FileName<'_> {
    /// Index of the file in the table's file list.
    pub fn index(&self) -> u32 {
        self.index
    }
}

impl fmt::Display for FileName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Utf8Out::new(f);
        self.table
            .emit_file(self.index, &mut |b| out.push(b).map(|()| true))?;
        out.flush()
    }
}

impl fmt::Debug for FileName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// Buffers bytes and writes them as UTF-8 (invalid sequences become U+FFFD).
struct Utf8Out<'f, 'g> {
    f: &'f mut fmt::Formatter<'g>,
    buf: [u8; 64],
    len: usize,
}

impl<'f, 'g> Utf8Out<'f, 'g> {
    fn new(f: &'f mut fmt::Formatter<'g>) -> Self {
        Utf8Out {
            f,
            buf: [0; 64],
            len: 0,
        }
    }

    fn push(&mut self, b: u8) -> fmt::Result {
        if self.len == self.buf.len() {
            self.drain(false)?;
        }
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
        Ok(())
    }

    /// Writes out what can be written; keeps an incomplete trailing sequence
    /// unless `all`.
    fn drain(&mut self, all: bool) -> fmt::Result {
        let mut start = 0usize;
        while start < self.len {
            let chunk = self.buf.get(start..self.len).unwrap_or(&[]);
            match core::str::from_utf8(chunk) {
                Ok(s) => {
                    self.f.write_str(s)?;
                    start = self.len;
                }
                Err(e) => {
                    let good = e.valid_up_to();
                    if let Some(s) = chunk.get(..good) {
                        // Cannot fail: `good` bytes were validated.
                        self.f
                            .write_str(core::str::from_utf8(s).unwrap_or_default())?;
                    }
                    start += good;
                    match e.error_len() {
                        Some(bad) => {
                            self.f.write_str("\u{FFFD}")?;
                            start += bad;
                        }
                        None if all => {
                            self.f.write_str("\u{FFFD}")?;
                            start = self.len;
                        }
                        None => break,
                    }
                }
            }
        }
        let rest = self.len - start.min(self.len);
        self.buf.copy_within(start.min(self.len)..self.len, 0);
        self.len = rest;
        Ok(())
    }

    fn flush(&mut self) -> fmt::Result {
        self.drain(true)
    }
}

/// Iterator over all symbols of a table, in address order.
pub struct Symbols<'a> {
    table: Table<'a>,
    block: usize,
    index: usize,
    count: usize,
    buf: Block,
}

impl<'a> Iterator for Symbols<'a> {
    type Item = Symbol<'a>;

    fn next(&mut self) -> Option<Symbol<'a>> {
        while self.index >= self.count {
            if self.block >= self.table.nblocks() {
                return None;
            }
            let b = self.block;
            self.block += 1;
            self.index = 0;
            self.count = match self.table.decode_block(b, &mut self.buf) {
                Some(n) => n,
                None => {
                    // Corrupt block: stop iterating.
                    self.block = usize::MAX;
                    return None;
                }
            };
        }
        let s = self.buf.get(self.index)?;
        let i = self.index;
        self.index += 1;
        Some(Symbol {
            start: s.start,
            size: s.size,
            offset: 0,
            is_func: s.is_func,
            name: SymbolName {
                table: self.table,
                block: (self.block - 1) as u32,
                index: i as u8,
            },
        })
    }
}
