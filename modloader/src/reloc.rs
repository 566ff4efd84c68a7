//! AArch64 static relocations as a pure function of (type, place bytes, P, S, A).
//!
//! Semantics and overflow rules follow the AAELF64 ABI as implemented by Linux's arm64
//! module loader (`arch/arm64/kernel/module.c`), plus the GOT relocation types. Every
//! instruction field is cleared before the new value is inserted.
//!
//! For the GOT types (`ADR_GOT_PAGE`, `LD64_GOT_LO12_NC`, `GOT_LD_PREL19`) the caller passes
//! the address of the GOT slot as `s` and `a = 0`: the addend is folded into the slot's
//! contents by the linker. For `CALL26`/`JUMP26` routed through a veneer the caller passes the
//! veneer address as `s` and `a = 0`.

use core::fmt;

/// `R_AARCH64_*` relocation type numbers.
#[allow(missing_docs)]
pub mod types {
    pub const R_AARCH64_NONE: u32 = 0;
    pub const R_AARCH64_NONE_256: u32 = 256;
    pub const R_AARCH64_ABS64: u32 = 257;
    pub const R_AARCH64_ABS32: u32 = 258;
    pub const R_AARCH64_ABS16: u32 = 259;
    pub const R_AARCH64_PREL64: u32 = 260;
    pub const R_AARCH64_PREL32: u32 = 261;
    pub const R_AARCH64_PREL16: u32 = 262;
    pub const R_AARCH64_MOVW_UABS_G0: u32 = 263;
    pub const R_AARCH64_MOVW_UABS_G0_NC: u32 = 264;
    pub const R_AARCH64_MOVW_UABS_G1: u32 = 265;
    pub const R_AARCH64_MOVW_UABS_G1_NC: u32 = 266;
    pub const R_AARCH64_MOVW_UABS_G2: u32 = 267;
    pub const R_AARCH64_MOVW_UABS_G2_NC: u32 = 268;
    pub const R_AARCH64_MOVW_UABS_G3: u32 = 269;
    pub const R_AARCH64_MOVW_SABS_G0: u32 = 270;
    pub const R_AARCH64_MOVW_SABS_G1: u32 = 271;
    pub const R_AARCH64_MOVW_SABS_G2: u32 = 272;
    pub const R_AARCH64_LD_PREL_LO19: u32 = 273;
    pub const R_AARCH64_ADR_PREL_LO21: u32 = 274;
    pub const R_AARCH64_ADR_PREL_PG_HI21: u32 = 275;
    pub const R_AARCH64_ADR_PREL_PG_HI21_NC: u32 = 276;
    pub const R_AARCH64_ADD_ABS_LO12_NC: u32 = 277;
    pub const R_AARCH64_LDST8_ABS_LO12_NC: u32 = 278;
    pub const R_AARCH64_TSTBR14: u32 = 279;
    pub const R_AARCH64_CONDBR19: u32 = 280;
    pub const R_AARCH64_JUMP26: u32 = 282;
    pub const R_AARCH64_CALL26: u32 = 283;
    pub const R_AARCH64_LDST16_ABS_LO12_NC: u32 = 284;
    pub const R_AARCH64_LDST32_ABS_LO12_NC: u32 = 285;
    pub const R_AARCH64_LDST64_ABS_LO12_NC: u32 = 286;
    pub const R_AARCH64_MOVW_PREL_G0: u32 = 287;
    pub const R_AARCH64_MOVW_PREL_G0_NC: u32 = 288;
    pub const R_AARCH64_MOVW_PREL_G1: u32 = 289;
    pub const R_AARCH64_MOVW_PREL_G1_NC: u32 = 290;
    pub const R_AARCH64_MOVW_PREL_G2: u32 = 291;
    pub const R_AARCH64_MOVW_PREL_G2_NC: u32 = 292;
    pub const R_AARCH64_MOVW_PREL_G3: u32 = 293;
    pub const R_AARCH64_LDST128_ABS_LO12_NC: u32 = 299;
    pub const R_AARCH64_GOT_LD_PREL19: u32 = 309;
    pub const R_AARCH64_ADR_GOT_PAGE: u32 = 311;
    pub const R_AARCH64_LD64_GOT_LO12_NC: u32 = 312;
}

use types::*;

/// Every relocation type this crate implements, in numeric order.
pub const SUPPORTED: &[u32] = &[
    R_AARCH64_NONE,
    R_AARCH64_NONE_256,
    R_AARCH64_ABS64,
    R_AARCH64_ABS32,
    R_AARCH64_ABS16,
    R_AARCH64_PREL64,
    R_AARCH64_PREL32,
    R_AARCH64_PREL16,
    R_AARCH64_MOVW_UABS_G0,
    R_AARCH64_MOVW_UABS_G0_NC,
    R_AARCH64_MOVW_UABS_G1,
    R_AARCH64_MOVW_UABS_G1_NC,
    R_AARCH64_MOVW_UABS_G2,
    R_AARCH64_MOVW_UABS_G2_NC,
    R_AARCH64_MOVW_UABS_G3,
    R_AARCH64_MOVW_SABS_G0,
    R_AARCH64_MOVW_SABS_G1,
    R_AARCH64_MOVW_SABS_G2,
    R_AARCH64_LD_PREL_LO19,
    R_AARCH64_ADR_PREL_LO21,
    R_AARCH64_ADR_PREL_PG_HI21,
    R_AARCH64_ADR_PREL_PG_HI21_NC,
    R_AARCH64_ADD_ABS_LO12_NC,
    R_AARCH64_LDST8_ABS_LO12_NC,
    R_AARCH64_TSTBR14,
    R_AARCH64_CONDBR19,
    R_AARCH64_JUMP26,
    R_AARCH64_CALL26,
    R_AARCH64_LDST16_ABS_LO12_NC,
    R_AARCH64_LDST32_ABS_LO12_NC,
    R_AARCH64_LDST64_ABS_LO12_NC,
    R_AARCH64_MOVW_PREL_G0,
    R_AARCH64_MOVW_PREL_G0_NC,
    R_AARCH64_MOVW_PREL_G1,
    R_AARCH64_MOVW_PREL_G1_NC,
    R_AARCH64_MOVW_PREL_G2,
    R_AARCH64_MOVW_PREL_G2_NC,
    R_AARCH64_MOVW_PREL_G3,
    R_AARCH64_LDST128_ABS_LO12_NC,
    R_AARCH64_GOT_LD_PREL19,
    R_AARCH64_ADR_GOT_PAGE,
    R_AARCH64_LD64_GOT_LO12_NC,
];

/// The ABI name of a relocation type (`"R_AARCH64_CALL26"`), or `None` if unknown.
pub fn name(rtype: u32) -> Option<&'static str> {
    Some(match rtype {
        R_AARCH64_NONE | R_AARCH64_NONE_256 => "R_AARCH64_NONE",
        R_AARCH64_ABS64 => "R_AARCH64_ABS64",
        R_AARCH64_ABS32 => "R_AARCH64_ABS32",
        R_AARCH64_ABS16 => "R_AARCH64_ABS16",
        R_AARCH64_PREL64 => "R_AARCH64_PREL64",
        R_AARCH64_PREL32 => "R_AARCH64_PREL32",
        R_AARCH64_PREL16 => "R_AARCH64_PREL16",
        R_AARCH64_MOVW_UABS_G0 => "R_AARCH64_MOVW_UABS_G0",
        R_AARCH64_MOVW_UABS_G0_NC => "R_AARCH64_MOVW_UABS_G0_NC",
        R_AARCH64_MOVW_UABS_G1 => "R_AARCH64_MOVW_UABS_G1",
        R_AARCH64_MOVW_UABS_G1_NC => "R_AARCH64_MOVW_UABS_G1_NC",
        R_AARCH64_MOVW_UABS_G2 => "R_AARCH64_MOVW_UABS_G2",
        R_AARCH64_MOVW_UABS_G2_NC => "R_AARCH64_MOVW_UABS_G2_NC",
        R_AARCH64_MOVW_UABS_G3 => "R_AARCH64_MOVW_UABS_G3",
        R_AARCH64_MOVW_SABS_G0 => "R_AARCH64_MOVW_SABS_G0",
        R_AARCH64_MOVW_SABS_G1 => "R_AARCH64_MOVW_SABS_G1",
        R_AARCH64_MOVW_SABS_G2 => "R_AARCH64_MOVW_SABS_G2",
        R_AARCH64_LD_PREL_LO19 => "R_AARCH64_LD_PREL_LO19",
        R_AARCH64_ADR_PREL_LO21 => "R_AARCH64_ADR_PREL_LO21",
        R_AARCH64_ADR_PREL_PG_HI21 => "R_AARCH64_ADR_PREL_PG_HI21",
        R_AARCH64_ADR_PREL_PG_HI21_NC => "R_AARCH64_ADR_PREL_PG_HI21_NC",
        R_AARCH64_ADD_ABS_LO12_NC => "R_AARCH64_ADD_ABS_LO12_NC",
        R_AARCH64_LDST8_ABS_LO12_NC => "R_AARCH64_LDST8_ABS_LO12_NC",
        R_AARCH64_TSTBR14 => "R_AARCH64_TSTBR14",
        R_AARCH64_CONDBR19 => "R_AARCH64_CONDBR19",
        R_AARCH64_JUMP26 => "R_AARCH64_JUMP26",
        R_AARCH64_CALL26 => "R_AARCH64_CALL26",
        R_AARCH64_LDST16_ABS_LO12_NC => "R_AARCH64_LDST16_ABS_LO12_NC",
        R_AARCH64_LDST32_ABS_LO12_NC => "R_AARCH64_LDST32_ABS_LO12_NC",
        R_AARCH64_LDST64_ABS_LO12_NC => "R_AARCH64_LDST64_ABS_LO12_NC",
        R_AARCH64_MOVW_PREL_G0 => "R_AARCH64_MOVW_PREL_G0",
        R_AARCH64_MOVW_PREL_G0_NC => "R_AARCH64_MOVW_PREL_G0_NC",
        R_AARCH64_MOVW_PREL_G1 => "R_AARCH64_MOVW_PREL_G1",
        R_AARCH64_MOVW_PREL_G1_NC => "R_AARCH64_MOVW_PREL_G1_NC",
        R_AARCH64_MOVW_PREL_G2 => "R_AARCH64_MOVW_PREL_G2",
        R_AARCH64_MOVW_PREL_G2_NC => "R_AARCH64_MOVW_PREL_G2_NC",
        R_AARCH64_MOVW_PREL_G3 => "R_AARCH64_MOVW_PREL_G3",
        R_AARCH64_LDST128_ABS_LO12_NC => "R_AARCH64_LDST128_ABS_LO12_NC",
        R_AARCH64_GOT_LD_PREL19 => "R_AARCH64_GOT_LD_PREL19",
        R_AARCH64_ADR_GOT_PAGE => "R_AARCH64_ADR_GOT_PAGE",
        R_AARCH64_LD64_GOT_LO12_NC => "R_AARCH64_LD64_GOT_LO12_NC",
        _ => return None,
    })
}

/// Displays a relocation type by ABI name, or as a number if unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelocName(pub u32);

impl fmt::Display for RelocName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match name(self.0) {
            Some(n) => f.write_str(n),
            None => write!(f, "unknown relocation type {}", self.0),
        }
    }
}

/// Number of bytes a relocation type patches at the place (0 for `NONE`), or `None` if the
/// type is unknown.
pub fn place_size(rtype: u32) -> Option<usize> {
    match rtype {
        R_AARCH64_NONE | R_AARCH64_NONE_256 => Some(0),
        R_AARCH64_ABS64 | R_AARCH64_PREL64 => Some(8),
        R_AARCH64_ABS16 | R_AARCH64_PREL16 => Some(2),
        // Every other named type patches one instruction or word (no call to `name`: this
        // runs once per relocation while parsing).
        R_AARCH64_ABS32
        | R_AARCH64_PREL32
        | R_AARCH64_MOVW_UABS_G0..=R_AARCH64_CONDBR19
        | R_AARCH64_JUMP26..=R_AARCH64_MOVW_PREL_G3
        | R_AARCH64_LDST128_ABS_LO12_NC
        | R_AARCH64_GOT_LD_PREL19
        | R_AARCH64_ADR_GOT_PAGE
        | R_AARCH64_LD64_GOT_LO12_NC => Some(4),
        _ => None,
    }
}

/// True for the types that branch (`CALL26`/`JUMP26`) and may need a veneer.
pub fn is_branch26(rtype: u32) -> bool {
    matches!(rtype, R_AARCH64_CALL26 | R_AARCH64_JUMP26)
}

/// True for the types that refer to a GOT slot instead of the symbol itself.
pub fn is_got(rtype: u32) -> bool {
    matches!(
        rtype,
        R_AARCH64_GOT_LD_PREL19 | R_AARCH64_ADR_GOT_PAGE | R_AARCH64_LD64_GOT_LO12_NC
    )
}

/// Why a single relocation could not be applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelocError {
    /// The relocation type is not implemented.
    Unsupported,
    /// The computed value X does not fit the field.
    Overflow {
        /// The value X (before shifting into the field).
        value: i64,
    },
    /// The computed value X violates the field's alignment (branches, literal loads,
    /// scaled 12-bit offsets).
    Misaligned {
        /// The value X.
        value: i64,
        /// Required alignment in bytes.
        align: u8,
    },
    /// The place slice is shorter than the field.
    PlaceTooSmall,
}

impl fmt::Display for RelocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RelocError::Unsupported => f.write_str("unsupported relocation type"),
            RelocError::Overflow { value } => {
                write!(f, "relocation overflow (value {value:#x})")
            }
            RelocError::Misaligned { value, align } => {
                write!(f, "value {value:#x} is not {align}-byte aligned")
            }
            RelocError::PlaceTooSmall => f.write_str("place is outside the section"),
        }
    }
}

/// The bytes to store at a place: the low `width` bytes of `value`, little-endian.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patch {
    /// Number of bytes (0, 2, 4 or 8).
    pub width: u8,
    /// New contents of the place.
    pub value: u64,
}

impl Patch {
    /// Write the patch into `place` (which must be at least `width` bytes).
    pub fn write(&self, place: &mut [u8]) -> Result<(), RelocError> {
        let w = self.width as usize;
        let dst = place.get_mut(..w).ok_or(RelocError::PlaceTooSmall)?;
        dst.copy_from_slice(&self.value.to_le_bytes()[..w]);
        Ok(())
    }
}

/// Apply relocation `rtype` to `place` (the bytes at address `p`), with symbol value `s` and
/// addend `a`. On error `place` is unchanged.
///
/// ```
/// use modloader::reloc::{apply, types::R_AARCH64_CALL26};
/// let mut insn = 0x9400_0000u32.to_le_bytes(); // bl .
/// apply(R_AARCH64_CALL26, &mut insn, 0x1000, 0x2000, 0).unwrap();
/// assert_eq!(u32::from_le_bytes(insn), 0x9400_0400); // bl .+0x1000
/// ```
pub fn apply(rtype: u32, place: &mut [u8], p: u64, s: u64, a: i64) -> Result<(), RelocError> {
    let patch = compute(rtype, place, p, s, a)?;
    patch.write(place)
}

fn read32(place: &[u8]) -> Result<u32, RelocError> {
    let b = place.get(..4).ok_or(RelocError::PlaceTooSmall)?;
    let mut w = [0u8; 4];
    w.copy_from_slice(b);
    Ok(u32::from_le_bytes(w))
}

/// Signed field check in Linux's style: `x >> lsb` must fit a `len`-bit two's-complement
/// field. Returns the field bits.
fn signed_field(x: i64, lsb: u32, len: u32) -> Result<u32, RelocError> {
    let v = x >> lsb;
    let lim = 1i64 << (len - 1);
    if v < -lim || v >= lim {
        return Err(RelocError::Overflow { value: x });
    }
    Ok((v as u64 & ((1u64 << len) - 1)) as u32)
}

fn nc_field(x: i64, lsb: u32, len: u32) -> u32 {
    (((x as u64) >> lsb) & ((1u64 << len) - 1)) as u32
}

fn check_align(x: i64, align: u8) -> Result<(), RelocError> {
    if (x as u64) & (align as u64 - 1) != 0 {
        return Err(RelocError::Misaligned { value: x, align });
    }
    Ok(())
}

const MASK_IMM26: u32 = 0x03ff_ffff;
const MASK_IMM19: u32 = 0x7ffff << 5;
const MASK_IMM16: u32 = 0xffff << 5;
const MASK_IMM14: u32 = 0x3fff << 5;
const MASK_IMM12: u32 = 0xfff << 10;
const MASK_ADR: u32 = (3 << 29) | (0x7ffff << 5);

fn insn(width_patch: u32) -> Patch {
    Patch {
        width: 4,
        value: width_patch as u64,
    }
}

fn enc_adr(old: u32, imm21: u32) -> u32 {
    (old & !MASK_ADR) | ((imm21 & 3) << 29) | (((imm21 >> 2) & 0x7ffff) << 5)
}

enum Movw {
    /// Unsigned, checked: X >> lsb must be < 2^16.
    UnsignedChecked,
    /// No check, no opcode change.
    Nc,
    /// MOVZ/MOVN rewrite, optionally checked.
    Signed { check: bool },
}

fn movw(old: u32, x: i64, lsb: u32, kind: Movw) -> Result<u32, RelocError> {
    let (opc_bits, imm) = match kind {
        Movw::UnsignedChecked => {
            let v = (x as u64) >> lsb;
            if v > 0xffff {
                return Err(RelocError::Overflow { value: x });
            }
            (old & (3 << 29), v as u32)
        }
        Movw::Nc => (old & (3 << 29), nc_field(x, lsb, 16)),
        Movw::Signed { check } => {
            let v = x >> lsb;
            let (opc, imm) = if v >= 0 {
                (2u32 << 29, v as u64) // MOVZ
            } else {
                (0u32, !(v as u64)) // MOVN with inverted immediate
            };
            if check && imm > 0xffff {
                return Err(RelocError::Overflow { value: x });
            }
            (opc, (imm & 0xffff) as u32)
        }
    };
    Ok((old & !(MASK_IMM16 | (3 << 29))) | opc_bits | (imm << 5))
}

/// Compute the new contents of the place without writing it. `place` holds the current bytes
/// (the instruction or data being relocated).
pub fn compute(rtype: u32, place: &[u8], p: u64, s: u64, a: i64) -> Result<Patch, RelocError> {
    let abs = s.wrapping_add(a as u64) as i64;
    let prel = s.wrapping_add(a as u64).wrapping_sub(p) as i64;
    let page = |v: u64| v & !0xfff;
    let data = |width: u8, value: u64| -> Result<Patch, RelocError> {
        if place.len() < width as usize {
            return Err(RelocError::PlaceTooSmall);
        }
        Ok(Patch { width, value })
    };
    match rtype {
        R_AARCH64_NONE | R_AARCH64_NONE_256 => Ok(Patch { width: 0, value: 0 }),
        R_AARCH64_ABS64 => data(8, abs as u64),
        R_AARCH64_PREL64 => data(8, prel as u64),
        R_AARCH64_ABS32 => {
            if !(0..=u32::MAX as i64).contains(&abs) {
                return Err(RelocError::Overflow { value: abs });
            }
            data(4, abs as u64)
        }
        R_AARCH64_ABS16 => {
            if !(0..=u16::MAX as i64).contains(&abs) {
                return Err(RelocError::Overflow { value: abs });
            }
            data(2, abs as u64)
        }
        R_AARCH64_PREL32 => {
            if i32::try_from(prel).is_err() {
                return Err(RelocError::Overflow { value: prel });
            }
            data(4, prel as u64 & 0xffff_ffff)
        }
        R_AARCH64_PREL16 => {
            if i16::try_from(prel).is_err() {
                return Err(RelocError::Overflow { value: prel });
            }
            data(2, prel as u64 & 0xffff)
        }
        _ => {
            let old = read32(place)?;
            let new = match rtype {
                R_AARCH64_MOVW_UABS_G0 => movw(old, abs, 0, Movw::UnsignedChecked)?,
                R_AARCH64_MOVW_UABS_G1 => movw(old, abs, 16, Movw::UnsignedChecked)?,
                R_AARCH64_MOVW_UABS_G2 => movw(old, abs, 32, Movw::UnsignedChecked)?,
                R_AARCH64_MOVW_UABS_G0_NC => movw(old, abs, 0, Movw::Nc)?,
                R_AARCH64_MOVW_UABS_G1_NC => movw(old, abs, 16, Movw::Nc)?,
                R_AARCH64_MOVW_UABS_G2_NC => movw(old, abs, 32, Movw::Nc)?,
                R_AARCH64_MOVW_UABS_G3 => movw(old, abs, 48, Movw::Nc)?,
                R_AARCH64_MOVW_SABS_G0 => movw(old, abs, 0, Movw::Signed { check: true })?,
                R_AARCH64_MOVW_SABS_G1 => movw(old, abs, 16, Movw::Signed { check: true })?,
                R_AARCH64_MOVW_SABS_G2 => movw(old, abs, 32, Movw::Signed { check: true })?,
                R_AARCH64_MOVW_PREL_G0 => movw(old, prel, 0, Movw::Signed { check: true })?,
                R_AARCH64_MOVW_PREL_G1 => movw(old, prel, 16, Movw::Signed { check: true })?,
                R_AARCH64_MOVW_PREL_G2 => movw(old, prel, 32, Movw::Signed { check: true })?,
                R_AARCH64_MOVW_PREL_G3 => movw(old, prel, 48, Movw::Signed { check: false })?,
                R_AARCH64_MOVW_PREL_G0_NC => movw(old, prel, 0, Movw::Nc)?,
                R_AARCH64_MOVW_PREL_G1_NC => movw(old, prel, 16, Movw::Nc)?,
                R_AARCH64_MOVW_PREL_G2_NC => movw(old, prel, 32, Movw::Nc)?,
                R_AARCH64_LD_PREL_LO19 | R_AARCH64_GOT_LD_PREL19 | R_AARCH64_CONDBR19 => {
                    check_align(prel, 4)?;
                    let f = signed_field(prel, 2, 19)?;
                    (old & !MASK_IMM19) | (f << 5)
                }
                R_AARCH64_TSTBR14 => {
                    check_align(prel, 4)?;
                    let f = signed_field(prel, 2, 14)?;
                    (old & !MASK_IMM14) | (f << 5)
                }
                R_AARCH64_JUMP26 | R_AARCH64_CALL26 => {
                    check_align(prel, 4)?;
                    let f = signed_field(prel, 2, 26)?;
                    (old & !MASK_IMM26) | f
                }
                R_AARCH64_ADR_PREL_LO21 => enc_adr(old, signed_field(prel, 0, 21)?),
                R_AARCH64_ADR_PREL_PG_HI21 | R_AARCH64_ADR_GOT_PAGE => {
                    let x = page(abs as u64).wrapping_sub(page(p)) as i64;
                    enc_adr(old, signed_field(x, 12, 21)?)
                }
                R_AARCH64_ADR_PREL_PG_HI21_NC => {
                    let x = page(abs as u64).wrapping_sub(page(p)) as i64;
                    enc_adr(old, nc_field(x, 12, 21))
                }
                R_AARCH64_ADD_ABS_LO12_NC | R_AARCH64_LDST8_ABS_LO12_NC => {
                    (old & !MASK_IMM12) | (nc_field(abs, 0, 12) << 10)
                }
                R_AARCH64_LDST16_ABS_LO12_NC => {
                    check_align(abs, 2)?;
                    (old & !MASK_IMM12) | (nc_field(abs, 1, 11) << 10)
                }
                R_AARCH64_LDST32_ABS_LO12_NC => {
                    check_align(abs, 4)?;
                    (old & !MASK_IMM12) | (nc_field(abs, 2, 10) << 10)
                }
                R_AARCH64_LDST64_ABS_LO12_NC | R_AARCH64_LD64_GOT_LO12_NC => {
                    check_align(abs, 8)?;
                    (old & !MASK_IMM12) | (nc_field(abs, 3, 9) << 10)
                }
                R_AARCH64_LDST128_ABS_LO12_NC => {
                    check_align(abs, 16)?;
                    (old & !MASK_IMM12) | (nc_field(abs, 4, 8) << 10)
                }
                _ => return Err(RelocError::Unsupported),
            };
            Ok(insn(new))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_type_has_name_and_size() {
        for &t in SUPPORTED {
            assert!(name(t).is_some(), "{t}");
            assert!(place_size(t).is_some(), "{t}");
        }
        assert_eq!(name(281), None);
        assert_eq!(place_size(1000), None);
    }

    #[test]
    fn place_size_exactly_for_named_types() {
        for t in 0..2048 {
            assert_eq!(place_size(t).is_some(), name(t).is_some(), "{t}");
        }
        assert_eq!(place_size(u32::MAX), None);
    }

    #[test]
    fn short_place_is_an_error() {
        for &t in SUPPORTED {
            let sz = place_size(t).unwrap_or(0);
            if sz == 0 {
                continue;
            }
            let buf = [0u8; 8];
            assert_eq!(
                compute(t, &buf[..sz - 1], 0, 0, 0),
                Err(RelocError::PlaceTooSmall),
                "{}",
                RelocName(t)
            );
        }
    }
}
