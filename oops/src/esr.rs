//! `ESR_EL1` (Exception Syndrome Register) decoding with Linux's names.
//!
//! Layout: EC = bits \[31:26\] (exception class), IL = bit 25 (32-bit
//! instruction), ISS = bits \[24:0\], ISS2 = bits \[36:32\].

use core::fmt;

/// Exception classes used by the report.
pub mod ec {
    /// Unknown reason (e.g. an undefined instruction).
    pub const UNKNOWN: u8 = 0x00;
    /// SVC from AArch64.
    pub const SVC64: u8 = 0x15;
    /// MSR/MRS/system instruction trap.
    pub const SYS64: u8 = 0x18;
    /// Instruction abort from a lower EL.
    pub const IABT_LOW: u8 = 0x20;
    /// Instruction abort from the current EL.
    pub const IABT_CUR: u8 = 0x21;
    /// PC alignment fault.
    pub const PC_ALIGN: u8 = 0x22;
    /// Data abort from a lower EL.
    pub const DABT_LOW: u8 = 0x24;
    /// Data abort from the current EL.
    pub const DABT_CUR: u8 = 0x25;
    /// SP alignment fault.
    pub const SP_ALIGN: u8 = 0x26;
    /// SError interrupt.
    pub const SERROR: u8 = 0x2F;
    /// BRK instruction (AArch64).
    pub const BRK64: u8 = 0x3C;
}

/// Linux's `esr_class_str[]`: the name of every exception class.
pub fn class_name(ec: u8) -> &'static str {
    match ec {
        0x00 => "Unknown/Uncategorized",
        0x01 => "WFI/WFE",
        0x03 => "CP15 MCR/MRC",
        0x04 => "CP15 MCRR/MRRC",
        0x05 => "CP14 MCR/MRC",
        0x06 => "CP14 LDC/STC",
        0x07 => "ASIMD",
        0x08 => "CP10 MRC/VMRS",
        0x09 => "PAC",
        0x0C => "CP14 MCRR/MRRC",
        0x0D => "BTI",
        0x0E => "PSTATE.IL",
        0x11 => "SVC (AArch32)",
        0x12 => "HVC (AArch32)",
        0x13 => "SMC (AArch32)",
        0x15 => "SVC (AArch64)",
        0x16 => "HVC (AArch64)",
        0x17 => "SMC (AArch64)",
        0x18 => "MSR/MRS (AArch64)",
        0x19 => "SVE",
        0x1A => "ERET/ERETAA/ERETAB",
        0x1C => "FPAC",
        0x1D => "SME",
        0x1F => "EL3 IMP DEF",
        0x20 => "IABT (lower EL)",
        0x21 => "IABT (current EL)",
        0x22 => "PC Alignment",
        0x24 => "DABT (lower EL)",
        0x25 => "DABT (current EL)",
        0x26 => "SP Alignment",
        0x27 => "MOPS",
        0x28 => "FP (AArch32)",
        0x2C => "FP (AArch64)",
        0x2D => "Guarded Control Stack",
        0x2F => "SError",
        0x30 => "Breakpoint (lower EL)",
        0x31 => "Breakpoint (current EL)",
        0x32 => "Software Step (lower EL)",
        0x33 => "Software Step (current EL)",
        0x34 => "Watchpoint (lower EL)",
        0x35 => "Watchpoint (current EL)",
        0x38 => "BKPT (AArch32)",
        0x3A => "Vector catch (AArch32)",
        0x3C => "BRK (AArch64)",
        _ => "UNRECOGNIZED EC",
    }
}

/// Linux's `fault_info[]` names, indexed by the 6-bit DFSC/IFSC.
pub fn fault_name(fsc: u8) -> &'static str {
    const NAMES: [&str; 64] = [
        "ttbr address size fault",
        "level 1 address size fault",
        "level 2 address size fault",
        "level 3 address size fault",
        "level 0 translation fault",
        "level 1 translation fault",
        "level 2 translation fault",
        "level 3 translation fault",
        "level 0 access flag fault",
        "level 1 access flag fault",
        "level 2 access flag fault",
        "level 3 access flag fault",
        "level 0 permission fault",
        "level 1 permission fault",
        "level 2 permission fault",
        "level 3 permission fault",
        "synchronous external abort",
        "synchronous tag check fault",
        "unknown 18",
        "level -1 (translation table walk)",
        "level 0 (translation table walk)",
        "level 1 (translation table walk)",
        "level 2 (translation table walk)",
        "level 3 (translation table walk)",
        "synchronous parity or ECC error",
        "unknown 25",
        "unknown 26",
        "level -1 synchronous parity error (translation table walk)",
        "level 0 synchronous parity error (translation table walk)",
        "level 1 synchronous parity error (translation table walk)",
        "level 2 synchronous parity error (translation table walk)",
        "level 3 synchronous parity error (translation table walk)",
        "unknown 32",
        "alignment fault",
        "unknown 34",
        "Granule Protection Fault at level -1",
        "Granule Protection Fault at level 0",
        "Granule Protection Fault at level 1",
        "Granule Protection Fault at level 2",
        "Granule Protection Fault at level 3",
        "Granule Protection Fault not on table walk",
        "level -1 address size fault",
        "unknown 42",
        "level -1 translation fault",
        "unknown 44",
        "unknown 45",
        "unknown 46",
        "unknown 47",
        "TLB conflict abort",
        "Unsupported atomic hardware update fault",
        "unknown 50",
        "unknown 51",
        "implementation fault (lockdown abort)",
        "implementation fault (unsupported exclusive)",
        "unknown 54",
        "unknown 55",
        "unknown 56",
        "unknown 57",
        "unknown 58",
        "unknown 59",
        "unknown 60",
        "section domain fault",
        "page domain fault",
        "unknown 63",
    ];
    NAMES
        .get(usize::from(fsc & 0x3F))
        .copied()
        .unwrap_or("unknown")
}

/// A decoded view of an `ESR_EL1` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Esr(pub u64);

impl Esr {
    /// Exception class, bits \[31:26\].
    pub fn ec(self) -> u8 {
        ((self.0 >> 26) & 0x3F) as u8
    }
    /// Instruction length bit: true for a 32-bit instruction.
    pub fn il(self) -> bool {
        self.0 & (1 << 25) != 0
    }
    /// Instruction-specific syndrome, bits \[24:0\].
    pub fn iss(self) -> u32 {
        (self.0 & 0x01FF_FFFF) as u32
    }
    /// ISS2, bits \[36:32\] (FEAT_LS64 and later).
    pub fn iss2(self) -> u32 {
        ((self.0 >> 32) & 0x1F) as u32
    }
    /// Name of the exception class (Linux's `esr_get_class_string`).
    pub fn class_name(self) -> &'static str {
        class_name(self.ec())
    }
    /// True for data aborts (current or lower EL).
    pub fn is_data_abort(self) -> bool {
        matches!(self.ec(), ec::DABT_CUR | ec::DABT_LOW)
    }
    /// True for instruction aborts (current or lower EL).
    pub fn is_instruction_abort(self) -> bool {
        matches!(self.ec(), ec::IABT_CUR | ec::IABT_LOW)
    }
    /// True for data or instruction aborts.
    pub fn is_mem_abort(self) -> bool {
        self.is_data_abort() || self.is_instruction_abort()
    }
    /// Fault status code (DFSC/IFSC), bits \[5:0\].
    pub fn fsc(self) -> u8 {
        (self.0 & 0x3F) as u8
    }
    /// Linux's name for the fault status code.
    pub fn fault_name(self) -> &'static str {
        fault_name(self.fsc())
    }
    /// Translation fault at any level (FSC 0b0001xx, or level -1).
    pub fn is_translation_fault(self) -> bool {
        matches!(self.fsc(), 0x04..=0x07 | 0x2B)
    }
    /// Permission fault at any level.
    pub fn is_permission_fault(self) -> bool {
        matches!(self.fsc(), 0x0C..=0x0F)
    }
    /// Access flag fault at any level.
    pub fn is_access_flag_fault(self) -> bool {
        matches!(self.fsc(), 0x08..=0x0B)
    }
    /// ISV: the syndrome fields SAS/SSE/SRT/SF/AR are valid.
    pub fn isv(self) -> bool {
        self.0 & (1 << 24) != 0
    }
    /// SAS: access size is `1 << sas` bytes.
    pub fn sas(self) -> u8 {
        ((self.0 >> 22) & 3) as u8
    }
    /// SSE: sign-extended load.
    pub fn sse(self) -> bool {
        self.0 & (1 << 21) != 0
    }
    /// SRT: transfer register number.
    pub fn srt(self) -> u8 {
        ((self.0 >> 16) & 0x1F) as u8
    }
    /// SF: 64-bit register transfer.
    pub fn sf(self) -> bool {
        self.0 & (1 << 15) != 0
    }
    /// AR: acquire/release semantics.
    pub fn ar(self) -> bool {
        self.0 & (1 << 14) != 0
    }
    /// SET: synchronous error type, bits \[12:11\].
    pub fn set(self) -> u8 {
        ((self.0 >> 11) & 3) as u8
    }
    /// FnV: FAR is not valid.
    pub fn fnv(self) -> bool {
        self.0 & (1 << 10) != 0
    }
    /// EA: external abort type.
    pub fn ea(self) -> bool {
        self.0 & (1 << 9) != 0
    }
    /// CM: fault on a cache maintenance instruction.
    pub fn cm(self) -> bool {
        self.0 & (1 << 8) != 0
    }
    /// S1PTW: fault on a stage-2 walk for a stage-1 walk.
    pub fn s1ptw(self) -> bool {
        self.0 & (1 << 7) != 0
    }
    /// WnR: the abort was caused by a write.
    pub fn wnr(self) -> bool {
        self.0 & (1 << 6) != 0
    }
    /// BRK immediate (comment), for EC = BRK64.
    pub fn brk_comment(self) -> u16 {
        (self.0 & 0xFFFF) as u16
    }

    /// Writes the `Mem abort info:` / `Data abort info:` block for aborts
    /// (Linux's `mem_abort_decode`), or an `Exception info:` block with the
    /// class-specific fields (BRK comment, raw ISS) for other classes.
    pub fn write_decode(self, w: &mut dyn fmt::Write) -> fmt::Result {
        let b = |v: bool| u8::from(v);
        if self.is_mem_abort() {
            writeln!(w, "Mem abort info:")?;
        } else {
            writeln!(w, "Exception info:")?;
        }
        writeln!(w, "  ESR = {:#018x}", self.0)?;
        writeln!(
            w,
            "  EC = {:#04x}: {}, IL = {} bits",
            self.ec(),
            self.class_name(),
            if self.il() { 32 } else { 16 }
        )?;
        if !self.is_mem_abort() {
            return match self.ec() {
                ec::BRK64 => writeln!(w, "  Comment = {:#06x}", self.brk_comment()),
                _ => writeln!(w, "  ISS = {:#010x}", self.iss()),
            };
        }
        writeln!(w, "  SET = {}, FnV = {}", self.set(), b(self.fnv()))?;
        writeln!(w, "  EA = {}, S1PTW = {}", b(self.ea()), b(self.s1ptw()))?;
        writeln!(w, "  FSC = {:#04x}: {}", self.fsc(), self.fault_name())?;
        if self.is_data_abort() {
            writeln!(w, "Data abort info:")?;
            if self.isv() {
                writeln!(w, "  Access size = {} byte(s)", 1u32 << self.sas())?;
                writeln!(w, "  SSE = {}, SRT = {}", b(self.sse()), self.srt())?;
                writeln!(w, "  SF = {}, AR = {}", b(self.sf()), b(self.ar()))?;
            } else {
                writeln!(w, "  ISV = 0, ISS = {:#010x}", self.iss())?;
            }
            writeln!(w, "  CM = {}, WnR = {}", b(self.cm()), b(self.wnr()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    fn decode(v: u64) -> String {
        let mut s = String::new();
        Esr(v).write_decode(&mut s).unwrap();
        s
    }

    #[test]
    fn null_write_level1() {
        // Recorded from Linux 6.1 on QEMU virt (LDD3 faulty module).
        let e = Esr(0x9600_0045);
        assert_eq!(e.ec(), 0x25);
        assert!(e.il() && e.wnr() && e.is_data_abort() && e.is_translation_fault());
        assert_eq!(e.fsc(), 0x05);
        assert_eq!(
            decode(0x9600_0045),
            "Mem abort info:\n  ESR = 0x0000000096000045\n  EC = 0x25: DABT (current EL), IL = 32 bits\n  SET = 0, FnV = 0\n  EA = 0, S1PTW = 0\n  FSC = 0x05: level 1 translation fault\nData abort info:\n  ISV = 0, ISS = 0x00000045\n  CM = 0, WnR = 1\n"
        );
        assert!(decode(0x9600_0046).contains("FSC = 0x06: level 2 translation fault"));
        // Read: WnR = 0.
        assert!(decode(0x9600_0006).contains("CM = 0, WnR = 0"));
    }

    #[test]
    fn permission_faults() {
        let e = Esr(0x9600_004f);
        assert!(e.is_permission_fault() && e.wnr());
        assert_eq!(e.fault_name(), "level 3 permission fault");
        let i = Esr(0x8600_000f);
        assert_eq!(i.ec(), ec::IABT_CUR);
        assert!(i.is_instruction_abort() && i.is_permission_fault());
        let d = decode(0x8600_000f);
        assert!(d.contains("EC = 0x21: IABT (current EL), IL = 32 bits"));
        assert!(d.contains("FSC = 0x0f: level 3 permission fault"));
        assert!(!d.contains("Data abort info"));
    }

    #[test]
    fn isv_fields() {
        // ISV=1, SAS=2 (4 bytes), SSE=0, SRT=3, SF=0, AR=0, WnR=1, DFSC=7.
        let v = 0x9600_0000 | 1 << 24 | 2 << 22 | 3 << 16 | 1 << 6 | 7;
        let d = decode(v);
        assert!(d.contains("  Access size = 4 byte(s)\n  SSE = 0, SRT = 3\n  SF = 0, AR = 0\n"));
        assert!(d.contains("FSC = 0x07: level 3 translation fault"));
    }

    #[test]
    fn other_classes() {
        assert_eq!(Esr(0x0200_0000).ec(), ec::UNKNOWN);
        assert_eq!(Esr(0x0200_0000).class_name(), "Unknown/Uncategorized");
        let brk = Esr(0xf200_0001);
        assert_eq!(brk.ec(), ec::BRK64);
        assert_eq!(brk.brk_comment(), 1);
        assert!(decode(0xf200_0800)
            .contains("EC = 0x3c: BRK (AArch64), IL = 32 bits\n  Comment = 0x0800"));
        assert_eq!(Esr(0x9a00_0000).ec(), ec::SP_ALIGN);
        assert_eq!(Esr(0x9a00_0000).class_name(), "SP Alignment");
        assert_eq!(Esr(0x8a00_0000).class_name(), "PC Alignment");
        assert_eq!(Esr(0xbe00_0000).ec(), ec::SERROR);
        assert_eq!(Esr(0x5600_0000).class_name(), "SVC (AArch64)");
        assert!(decode(0xbe00_0011).contains("ISS = 0x00000011"));
        // 16-bit instruction length.
        assert!(decode(0x0000_0000).contains("IL = 16 bits"));
        assert_eq!(class_name(0x3f), "UNRECOGNIZED EC");
        for ec in 0..64u8 {
            assert!(!class_name(ec).is_empty());
            assert!(!fault_name(ec).is_empty());
        }
        assert_eq!(fault_name(0x21), "alignment fault");
        assert_eq!(fault_name(0x10), "synchronous external abort");
    }
}
