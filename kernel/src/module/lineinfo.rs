//! A module's line table and build ID.
//!
//! The module build writes a compact symbol, line and inline table (`oops::symtab`, the
//! kernel's own format, addresses relative to `.text`) into an allocated read-only
//! `.modlines` section, which the linker places in the module's read-only pages like
//! any rodata (freed with the module), and a `.note.gnu.build-id` note. At insmod the
//! table is validated once; a module without one, or with one that does not parse,
//! loads all the same and its frames fall back to `name+offset`. Each use parses the
//! header again (cheap) and reads only what the decoder validates, so a table that
//! passes the header check but lies inside can produce wrong lines, never a fault.

use core::fmt;
use modloader::{LoadedModule, Object};

/// Name of the table section.
pub const MODLINES: &str = ".modlines";
/// Name of the build-ID note section.
pub const BUILD_ID_NOTE: &str = ".note.gnu.build-id";
/// Longest build ID kept.
pub const MAX_BUILD_ID: usize = 32;

/// Where a module's table lives, and its build ID.
#[derive(Clone, Copy, Default)]
pub struct LineInfo {
    /// `(address, length)` of a table that parsed at insmod.
    table: Option<(u64, usize)>,
    /// Address of `.text` (table addresses are relative to it).
    text: u64,
    build_id: [u8; MAX_BUILD_ID],
    build_id_len: u8,
}

/// Why a module has no usable table (printed at insmod).
#[derive(Clone, Copy, Debug)]
pub enum LineInfoError {
    /// The `.ko` has no `.modlines` section.
    Missing,
    /// The module has `.modlines` but no `.text`.
    NoText,
    /// The table does not parse.
    Format(oops::FormatError),
}

impl fmt::Display for LineInfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineInfoError::Missing => write!(f, "no {MODLINES} section"),
            LineInfoError::NoText => write!(f, "{MODLINES} but no .text"),
            LineInfoError::Format(e) => write!(f, "{MODLINES}: {e}"),
        }
    }
}

impl LineInfo {
    /// Finds the table and the build ID of a module just linked (its pages already
    /// have their final permissions).
    pub fn find(obj: &Object<'_>, linked: &LoadedModule) -> (LineInfo, Option<LineInfoError>) {
        let mut li = LineInfo::default();
        if let Some(id) = obj
            .sections()
            .iter()
            .find(|s| s.name == BUILD_ID_NOTE)
            .and_then(|s| modloader::gnu_build_id(s.data))
        {
            let n = id.len().min(MAX_BUILD_ID);
            li.build_id[..n].copy_from_slice(&id[..n]);
            li.build_id_len = n as u8;
        }
        let placed = |name: &str| linked.sections.iter().find(|s| s.name == name);
        let Some(t) = placed(MODLINES) else {
            return (li, Some(LineInfoError::Missing));
        };
        let Some(text) = placed(".text") else {
            return (li, Some(LineInfoError::NoText));
        };
        li.text = text.addr;
        li.table = Some((t.addr, t.size as usize));
        match li.table() {
            Some(Ok(_)) => (li, None),
            Some(Err(e)) => {
                li.table = None;
                (li, Some(LineInfoError::Format(e)))
            }
            None => (li, Some(LineInfoError::Missing)),
        }
    }

    fn table(&self) -> Option<Result<oops::Table<'_>, oops::FormatError>> {
        let (addr, len) = self.table?;
        // `addr..addr+len` is the module's `.modlines`, inside its image, read-only after
        // insmod and mapped while the module is in MODULES, whose lock callers hold.
        // SAFETY: the range is mapped, immutable and outlives every use (see above).
        let bytes = unsafe { core::slice::from_raw_parts(addr as *const u8, len) };
        Some(oops::Table::parse(bytes))
    }

    /// The build ID (empty when the module has none).
    pub fn build_id(&self) -> &[u8] {
        &self.build_id[..usize::from(self.build_id_len).min(MAX_BUILD_ID)]
    }

    /// Writes ` (file:line)` for the frame at `lookup` (nothing when unknown).
    pub fn write_frame_line(&self, lookup: u64, w: &mut dyn fmt::Write) -> fmt::Result {
        match self.table() {
            Some(Ok(t)) => t.write_frame_line(lookup.wrapping_sub(self.text), w),
            _ => Ok(()),
        }
    }

    /// Writes the `(inlined)` lines for `lookup`.
    pub fn write_inlined(&self, lookup: u64, w: &mut dyn fmt::Write) -> fmt::Result {
        match self.table() {
            Some(Ok(t)) => t.write_inlined(lookup.wrapping_sub(self.text), oops::INLINE_INDENT, w),
            _ => Ok(()),
        }
    }

    /// Writes the build ID in hex.
    pub fn write_build_id(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        for b in self.build_id() {
            write!(w, "{b:02x}")?;
        }
        Ok(())
    }
}

/// `build-id: HEX  lines: N rows, M inline records` (modinfo).
impl fmt::Display for LineInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("build-id: ")?;
        if self.build_id().is_empty() {
            f.write_str("none")?;
        } else {
            self.write_build_id(f)?;
        }
        match self.table() {
            Some(Ok(t)) => write!(
                f,
                "  lines: {} bytes, {} rows, {} inline records",
                t.byte_len(),
                t.line_rows(),
                t.inline_records()
            ),
            _ => f.write_str("  lines: none"),
        }
    }
}
