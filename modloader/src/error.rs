//! The crate's error type.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::reloc::{RelocError, RelocName};

/// Everything that can go wrong while parsing, planning or linking a module.
///
/// Malformed input of any kind produces one of these; the crate never panics on input.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The `elf` crate rejected the file's structure.
    Elf(elf::ParseError),
    /// The ELF header is not an AArch64 little-endian ELF64 relocatable object.
    BadHeader(&'static str),
    /// A section header is inconsistent.
    BadSection {
        /// ELF section index.
        index: usize,
        /// Section name if known (may be empty).
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A symbol table entry is inconsistent.
    BadSymbol {
        /// Symbol table index.
        index: usize,
        /// Symbol name if known (may be empty).
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A relocation entry is malformed (before its value is computed).
    BadRelocation {
        /// Relocation type.
        rtype: u32,
        /// Name of the target section.
        section: String,
        /// Offset of the place within that section.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// A relocation could not be applied (overflow, misalignment, unknown type).
    Reloc {
        /// Relocation type.
        rtype: u32,
        /// Symbol name (or the section name for section symbols).
        symbol: String,
        /// Name of the section holding the place.
        section: String,
        /// Offset of the place within that section.
        offset: u64,
        /// The underlying failure.
        kind: RelocError,
    },
    /// Undefined, non-weak symbols the resolver did not know: every name is listed.
    UnknownSymbols(Vec<String>),
    /// Two definitions of the same global symbol.
    DuplicateSymbol(String),
    /// A name in `.modexports` is not a defined global symbol, or is listed twice.
    BadExport {
        /// The exported name.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A `.modinfo` entry is not `key=value`, or a `.modexports`/`.modinfo` string is not UTF-8.
    BadModinfo(String),
    /// The object uses a feature this loader does not support (TLS, IFUNC, ...).
    Unsupported(&'static str),
    /// A size exceeds the loader's cap.
    TooLarge {
        /// What is too large.
        what: &'static str,
        /// The offending size.
        size: u64,
    },
    /// The page size given to the planner is not a power of two in 4 KiB..=64 KiB.
    BadPageSize(u64),
    /// The caller's image buffer does not have the planned size.
    ImageSize {
        /// Planned size.
        expected: u64,
        /// Buffer length supplied.
        actual: u64,
    },
    /// The base address is not aligned to the layout's alignment, or the image would wrap.
    BadBase {
        /// The base address.
        base: u64,
        /// Required alignment.
        align: u64,
    },
    /// The layout passed to `link` was not produced by this object's `plan`.
    LayoutMismatch,
    /// `init_module`/`cleanup_module` is defined outside executable sections.
    BadEntry(&'static str),
}

impl From<elf::ParseError> for Error {
    fn from(e: elf::ParseError) -> Self {
        Error::Elf(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Elf(e) => write!(f, "malformed ELF: {e}"),
            Error::BadHeader(r) => write!(f, "bad ELF header: {r}"),
            Error::BadSection {
                index,
                name,
                reason,
            } => write!(f, "bad section [{index}] `{name}`: {reason}"),
            Error::BadSymbol {
                index,
                name,
                reason,
            } => write!(f, "bad symbol [{index}] `{name}`: {reason}"),
            Error::BadRelocation {
                rtype,
                section,
                offset,
                reason,
            } => write!(
                f,
                "bad relocation {} at {section}+{offset:#x}: {reason}",
                RelocName(*rtype)
            ),
            Error::Reloc {
                rtype,
                symbol,
                section,
                offset,
                kind,
            } => write!(
                f,
                "relocation {} against `{symbol}` at {section}+{offset:#x}: {kind}",
                RelocName(*rtype)
            ),
            Error::UnknownSymbols(names) => {
                write!(f, "Unknown symbol")?;
                if names.len() > 1 {
                    write!(f, "s")?;
                }
                for (i, n) in names.iter().enumerate() {
                    write!(f, "{}{n}", if i == 0 { " " } else { ", " })?;
                }
                Ok(())
            }
            Error::DuplicateSymbol(n) => write!(f, "duplicate definition of symbol `{n}`"),
            Error::BadExport { name, reason } => write!(f, "bad export `{name}`: {reason}"),
            Error::BadModinfo(s) => write!(f, "bad .modinfo/.modexports entry: {s}"),
            Error::Unsupported(what) => write!(f, "unsupported: {what}"),
            Error::TooLarge { what, size } => write!(f, "{what} too large ({size:#x} bytes)"),
            Error::BadPageSize(p) => write!(f, "bad page size {p:#x}"),
            Error::ImageSize { expected, actual } => write!(
                f,
                "image buffer is {actual:#x} bytes, layout needs exactly {expected:#x}"
            ),
            Error::BadBase { base, align } => {
                write!(f, "base {base:#x} is not {align:#x}-aligned or wraps")
            }
            Error::LayoutMismatch => f.write_str("layout was not planned for this object"),
            Error::BadEntry(what) => write!(f, "{what} is not defined in an executable section"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
