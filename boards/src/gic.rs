//! Arm Generic Interrupt Controller, versions 2 and 3 (IHI 0048B, IHI 0069).
//!
//! Only what a single-core kernel needs: enable the distributor and this CPU's interface,
//! route SPIs to CPU 0, enable individual interrupts, acknowledge and end them.

use crate::mmio::Mmio;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

/// Interrupt IDs at and above this value are special (1020..1023: spurious etc.).
pub const SPURIOUS: u32 = 1020;

register_structs! {
    #[allow(non_snake_case)]
    pub DistRegs {
        (0x0000 => CTLR: ReadWrite<u32>),
        (0x0004 => TYPER: ReadOnly<u32>),
        (0x0008 => IIDR: ReadOnly<u32>),
        (0x000c => _r0),
        (0x0080 => IGROUPR: [ReadWrite<u32>; 32]),
        (0x0100 => ISENABLER: [ReadWrite<u32>; 32]),
        (0x0180 => ICENABLER: [ReadWrite<u32>; 32]),
        (0x0200 => ISPENDR: [ReadWrite<u32>; 32]),
        (0x0280 => ICPENDR: [ReadWrite<u32>; 32]),
        (0x0300 => ISACTIVER: [ReadWrite<u32>; 32]),
        (0x0380 => ICACTIVER: [ReadWrite<u32>; 32]),
        (0x0400 => IPRIORITYR: [ReadWrite<u32>; 255]),
        (0x07fc => _r1),
        (0x0800 => ITARGETSR: [ReadWrite<u32>; 255]),
        (0x0bfc => _r2),
        (0x0c00 => ICFGR: [ReadWrite<u32>; 64]),
        (0x0d00 => _r3),
        (0x0f00 => SGIR: WriteOnly<u32>),
        (0x0f04 => _r5),
        (0x6000 => IROUTER: [ReadWrite<u64>; 988]),
        (0x7ee0 => _r4),
        (0x8000 => @END),
    }
}

register_structs! {
    #[allow(non_snake_case)]
    pub CpuRegs {
        (0x00 => CTLR: ReadWrite<u32>),
        (0x04 => PMR: ReadWrite<u32>),
        (0x08 => BPR: ReadWrite<u32>),
        (0x0c => IAR: ReadOnly<u32>),
        (0x10 => EOIR: WriteOnly<u32>),
        (0x14 => @END),
    }
}

register_structs! {
    #[allow(non_snake_case)]
    pub RedistRegs {
        (0x0000 => CTLR: ReadWrite<u32>),
        (0x0004 => IIDR: ReadOnly<u32>),
        (0x0008 => TYPER: ReadOnly<u64>),
        (0x0010 => _r0),
        (0x0014 => WAKER: ReadWrite<u32>),
        (0x0018 => _r1),
        (0x10080 => IGROUPR0: ReadWrite<u32>),
        (0x10084 => _r2),
        (0x10100 => ISENABLER0: ReadWrite<u32>),
        (0x10104 => _r3),
        (0x10180 => ICENABLER0: ReadWrite<u32>),
        (0x10184 => _r4),
        (0x10400 => IPRIORITYR: [ReadWrite<u32>; 8]),
        (0x10420 => _r5),
        (0x20000 => @END),
    }
}

/// Which GIC the board has, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicConfig {
    /// GICv2: distributor and CPU interface bases.
    V2 { dist: usize, cpu: usize },
    /// GICv3: distributor and redistributor region bases.
    V3 { dist: usize, redist: usize },
}

/// A GICv2 or GICv3.
pub enum Gic {
    /// GICv2.
    V2 {
        dist: Mmio<DistRegs>,
        cpu: Mmio<CpuRegs>,
    },
    /// GICv3.
    V3 {
        dist: Mmio<DistRegs>,
        redist: Mmio<RedistRegs>,
    },
}

macro_rules! sysreg_write {
    ($reg:literal, $v:expr) => {
        // SAFETY: writes a GICv3 CPU-interface system register; EL2 granted access at boot.
        unsafe { core::arch::asm!(concat!("msr ", $reg, ", {0}"), in(reg) $v as u64, options(nostack)) }
    };
}
macro_rules! sysreg_read {
    ($reg:literal) => {{
        let v: u64;
        // SAFETY: reads a GICv3 CPU-interface system register.
        unsafe { core::arch::asm!(concat!("mrs {0}, ", $reg), out(reg) v, options(nostack)) };
        v
    }};
}

impl Gic {
    /// # Safety
    /// The configured addresses must be the board's mapped GIC, owned by this driver.
    pub unsafe fn new(cfg: GicConfig) -> Gic {
        // SAFETY: forwarded to the caller's contract.
        unsafe {
            match cfg {
                GicConfig::V2 { dist, cpu } => Gic::V2 {
                    dist: Mmio::new(dist),
                    cpu: Mmio::new(cpu),
                },
                GicConfig::V3 { dist, redist } => Gic::V3 {
                    dist: Mmio::new(dist),
                    redist: Mmio::new(redist),
                },
            }
        }
    }

    /// "GICv2" or "GICv3".
    pub fn name(&self) -> &'static str {
        match self {
            Gic::V2 { .. } => "GICv2",
            Gic::V3 { .. } => "GICv3",
        }
    }

    /// Number of interrupt lines the distributor implements.
    pub fn lines(&self) -> u32 {
        let d = match self {
            Gic::V2 { dist, .. } | Gic::V3 { dist, .. } => dist,
        };
        ((d.TYPER.get() & 0x1f) + 1) * 32
    }

    /// Brings up the distributor and this CPU's interface with all interrupts disabled.
    pub fn init(&self) {
        match self {
            Gic::V2 { dist, cpu } => {
                dist.CTLR.set(0);
                for r in dist.ICENABLER.iter() {
                    r.set(u32::MAX);
                }
                dist.CTLR.set(1);
                cpu.PMR.set(0xff);
                cpu.BPR.set(0);
                cpu.CTLR.set(1);
            }
            Gic::V3 { dist, redist } => {
                dist.CTLR.set(0);
                for r in dist.ICENABLER.iter() {
                    r.set(u32::MAX);
                }
                dist.CTLR.set((1 << 4) | (1 << 1)); // ARE, EnableGrp1
                                                    // Wake this CPU's redistributor.
                let w = redist.WAKER.get();
                redist.WAKER.set(w & !(1 << 1));
                while redist.WAKER.get() & (1 << 2) != 0 {
                    core::hint::spin_loop();
                }
                redist.IGROUPR0.set(u32::MAX);
                redist.ICENABLER0.set(u32::MAX);
                let sre = sysreg_read!("S3_0_C12_C12_5"); // ICC_SRE_EL1
                sysreg_write!("S3_0_C12_C12_5", sre | 1);
                // SAFETY: synchronise the SRE change.
                unsafe { core::arch::asm!("isb", options(nostack)) };
                sysreg_write!("S3_0_C4_C6_0", 0xffu64); // ICC_PMR_EL1
                sysreg_write!("S3_0_C12_C12_3", 0u64); // ICC_BPR1_EL1
                sysreg_write!("S3_0_C12_C12_7", 1u64); // ICC_IGRPEN1_EL1
                                                       // SAFETY: synchronise.
                unsafe { core::arch::asm!("isb", options(nostack)) };
            }
        }
    }

    /// Enables interrupt `intid` at `priority`, routed to CPU 0, level triggered.
    pub fn enable(&self, intid: u32, priority: u8) {
        let (word, bit) = ((intid / 32) as usize, intid % 32);
        let (pword, pshift) = ((intid / 4) as usize, (intid % 4) * 8);
        match self {
            Gic::V2 { dist, .. } => {
                if let Some(p) = dist.IPRIORITYR.get(pword) {
                    p.set((p.get() & !(0xff << pshift)) | ((priority as u32) << pshift));
                }
                if intid >= 32 {
                    if let Some(t) = dist.ITARGETSR.get(pword) {
                        t.set((t.get() & !(0xff << pshift)) | (1 << pshift));
                    }
                }
                if let Some(e) = dist.ISENABLER.get(word) {
                    e.set(1 << bit);
                }
            }
            Gic::V3 { dist, redist } => {
                if intid < 32 {
                    if let Some(p) = redist.IPRIORITYR.get(pword) {
                        p.set((p.get() & !(0xff << pshift)) | ((priority as u32) << pshift));
                    }
                    redist.ISENABLER0.set(1 << bit);
                } else {
                    if let Some(g) = dist.IGROUPR.get(word) {
                        g.set(g.get() | (1 << bit));
                    }
                    if let Some(p) = dist.IPRIORITYR.get(pword) {
                        p.set((p.get() & !(0xff << pshift)) | ((priority as u32) << pshift));
                    }
                    if let Some(r) = dist.IROUTER.get(intid as usize - 32) {
                        r.set(0);
                    }
                    if let Some(e) = dist.ISENABLER.get(word) {
                        e.set(1 << bit);
                    }
                }
            }
        }
    }

    /// Disables interrupt `intid`.
    pub fn disable(&self, intid: u32) {
        let (word, bit) = ((intid / 32) as usize, intid % 32);
        match self {
            Gic::V3 { redist, .. } if intid < 32 => redist.ICENABLER0.set(1 << bit),
            Gic::V2 { dist, .. } | Gic::V3 { dist, .. } => {
                if let Some(e) = dist.ICENABLER.get(word) {
                    e.set(1 << bit);
                }
            }
        }
    }

    /// Sends software-generated interrupt `intid` (0..15) to this CPU.
    pub fn send_sgi_to_self(&self, intid: u32) {
        match self {
            // TargetListFilter = 0b10: the requesting CPU only.
            Gic::V2 { dist, .. } => dist.SGIR.set((0b10 << 24) | (intid & 0xf)),
            // ICC_SGI1R_EL1: INTID[27:24], target list bit 0 = Aff0 0 (this CPU).
            Gic::V3 { .. } => sysreg_write!("S3_0_C12_C11_5", (((intid & 0xf) as u64) << 24) | 1),
        }
    }

    /// Acknowledges the highest-priority pending interrupt; returns its ID (>= 1020 when
    /// none was pending).
    pub fn ack(&self) -> u32 {
        match self {
            Gic::V2 { cpu, .. } => cpu.IAR.get() & 0x3ff,
            Gic::V3 { .. } => (sysreg_read!("S3_0_C12_C12_0") & 0xffffff) as u32, // ICC_IAR1_EL1
        }
    }

    /// Signals the end of interrupt `intid`.
    pub fn eoi(&self, intid: u32) {
        match self {
            Gic::V2 { cpu, .. } => cpu.EOIR.set(intid),
            Gic::V3 { .. } => sysreg_write!("S3_0_C12_C12_1", intid), // ICC_EOIR1_EL1
        }
    }
}
