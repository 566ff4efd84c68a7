//! Golden vectors for every relocation type, at the exact overflow boundaries (last value that
//! fits and first that does not), starting from instructions with stale non-zero immediates.
//! The expected encodings in `golden/vectors.rs` are GNU assembler output (see
//! `fixtures/gen_golden.py`); `vectors_are_assembler_output` regenerates and compares them.

mod common;

use modloader::reloc::{self, RelocError, RelocName};

#[derive(Debug)]
pub enum Expect {
    Insn(u32, &'static str),
    Overflow,
    Misaligned,
}

#[derive(Debug)]
pub struct Vector {
    pub rtype: u32,
    pub p: u64,
    pub s: u64,
    pub a: i64,
    pub init: u32,
    pub init_asm: &'static str,
    pub expect: Expect,
}

#[derive(Debug)]
pub struct DataVector {
    pub rtype: u32,
    pub p: u64,
    pub s: u64,
    pub a: i64,
    pub init: &'static [u8],
    pub expect: Option<&'static [u8]>,
}

#[rustfmt::skip]
#[path = "golden/vectors.rs"]
mod vectors;

#[test]
fn instruction_vectors() {
    let mut failures = Vec::new();
    for v in vectors::INSN {
        let mut place = v.init.to_le_bytes();
        let r = reloc::apply(v.rtype, &mut place, v.p, v.s, v.a);
        let got = u32::from_le_bytes(place);
        let ok = match (&v.expect, r) {
            (Expect::Insn(e, _), Ok(())) => got == *e,
            (Expect::Overflow, Err(RelocError::Overflow { .. })) => got == v.init,
            (Expect::Misaligned, Err(RelocError::Misaligned { .. })) => got == v.init,
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{} P={:#x} S={:#x} A={:#x} on `{}`: expected {:?}, got {:?} / {:#010x}",
                RelocName(v.rtype),
                v.p,
                v.s,
                v.a,
                v.init_asm,
                v.expect,
                r,
                got
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn data_vectors() {
    let mut failures = Vec::new();
    for v in vectors::DATA {
        let mut place = v.init.to_vec();
        let r = reloc::apply(v.rtype, &mut place, v.p, v.s, v.a);
        let ok = match (v.expect, r) {
            (Some(e), Ok(())) => place == e,
            (None, Err(RelocError::Overflow { .. })) => place == v.init,
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "{} P={:#x} S={:#x} A={:#x}: expected {:?}, got {:?} / {:02x?}",
                RelocName(v.rtype),
                v.p,
                v.s,
                v.a,
                v.expect,
                r,
                place
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_type_has_vectors() {
    for &t in reloc::SUPPORTED {
        if matches!(t, 0 | 256) {
            continue;
        }
        let n = vectors::INSN.iter().filter(|v| v.rtype == t).count()
            + vectors::DATA.iter().filter(|v| v.rtype == t).count();
        assert!(n > 0, "no golden vector for {}", RelocName(t));
    }
}

#[test]
fn field_is_cleared_not_ored() {
    // All-ones immediates in, zero out: catches OR-into-old-bits bugs for every field shape.
    let cases: &[(u32, u32)] = &[
        (reloc::types::R_AARCH64_CALL26, 0x97ff_ffff),
        (reloc::types::R_AARCH64_CONDBR19, 0x54ff_ffe1),
        (reloc::types::R_AARCH64_TSTBR14, 0x3607_ffe3),
        (reloc::types::R_AARCH64_ADR_PREL_LO21, 0x70ff_ffe3),
        (reloc::types::R_AARCH64_ADR_PREL_PG_HI21, 0xf0ff_ffe3),
        (reloc::types::R_AARCH64_ADD_ABS_LO12_NC, 0x913f_fc83),
        (reloc::types::R_AARCH64_MOVW_UABS_G0_NC, 0xf29f_ffe3),
    ];
    for &(t, insn) in cases {
        let mut place = insn.to_le_bytes();
        // P = S = page-aligned, A = 0: X is 0 for every field.
        reloc::apply(t, &mut place, 0x4000_0000, 0x4000_0000, 0).unwrap();
        let got = u32::from_le_bytes(place);
        let mask: u32 = match t {
            reloc::types::R_AARCH64_CALL26 => 0x03ff_ffff,
            reloc::types::R_AARCH64_CONDBR19 => 0x7ffff << 5,
            reloc::types::R_AARCH64_TSTBR14 => 0x3fff << 5,
            reloc::types::R_AARCH64_ADR_PREL_LO21 | reloc::types::R_AARCH64_ADR_PREL_PG_HI21 => {
                (3 << 29) | (0x7ffff << 5)
            }
            reloc::types::R_AARCH64_ADD_ABS_LO12_NC => 0xfff << 10,
            _ => 0xffff << 5,
        };
        assert_eq!(got & mask, 0, "{}: {got:#010x}", RelocName(t));
        assert_eq!(
            got & !mask,
            insn & !mask,
            "{}: other bits changed",
            RelocName(t)
        );
    }
}

#[test]
fn unknown_type_is_unsupported() {
    let mut place = [0u8; 8];
    for t in [1u32, 281, 300, 1024, 0xffff_ffff] {
        assert_eq!(
            reloc::apply(t, &mut place, 0, 0, 0),
            Err(RelocError::Unsupported),
            "{t}"
        );
    }
}

/// Regenerates the vectors from the assembler and checks the committed file matches, so the
/// expected encodings provably come from GNU as (and ld for ADRP), not from modloader.
#[test]
fn vectors_are_assembler_output() {
    common::require("aarch64-linux-gnu-as");
    common::require("aarch64-linux-gnu-ld");
    common::require("aarch64-linux-gnu-objcopy");
    let py = common::require("python3");
    let out =
        common::run(std::process::Command::new(py).arg(common::fixtures().join("gen_golden.py")));
    let committed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/vectors.rs"),
    )
    .unwrap();
    assert!(
        String::from_utf8_lossy(&out) == committed,
        "tests/golden/vectors.rs is stale: regenerate with tests/fixtures/gen_golden.py"
    );
}
