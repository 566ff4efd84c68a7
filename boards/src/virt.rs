//! QEMU's `virt` machine: which devices exist and where.
//!
//! [`BoardInfo::from_fdt`] reads the device tree QEMU generates; [`BoardInfo::fallback`]
//! holds the documented QEMU 7.x `virt` defaults used when there is no usable tree.

use crate::gic::GicConfig;
use crate::psci::Conduit;

/// A fixed-capacity string copied out of the device tree.
#[derive(Clone, Copy)]
pub struct SmallStr<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> SmallStr<N> {
    /// An empty string.
    pub const fn new() -> Self {
        SmallStr {
            buf: [0; N],
            len: 0,
        }
    }

    /// Copies `s`, truncated at a character boundary to fit.
    pub fn from(s: &str) -> Self {
        let mut out = Self::new();
        let mut end = s.len().min(N);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        out.buf[..end].copy_from_slice(&s.as_bytes()[..end]);
        out.len = end;
        out
    }

    /// Appends `s`, truncated at a character boundary to fit.
    pub fn push_str(&mut self, s: &str) {
        let mut end = s.len().min(N - self.len);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.buf[self.len..self.len + end].copy_from_slice(&s.as_bytes()[..end]);
        self.len += end;
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> Default for SmallStr<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// A physical memory range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Range {
    /// Start address.
    pub base: u64,
    /// Length in bytes.
    pub size: u64,
}

/// What the kernel needs to know about the machine.
#[derive(Clone, Copy)]
pub struct BoardInfo {
    /// `model` of the root node, e.g. `linux,dummy-virt`.
    pub model: SmallStr<64>,
    /// The first RAM bank.
    pub ram: Range,
    /// PL011 base address.
    pub uart: u64,
    /// PL011 interrupt ID.
    pub uart_intid: u32,
    /// Interrupt controller.
    pub gic: GicConfig,
    /// PSCI conduit.
    pub psci: Conduit,
    /// `/chosen/bootargs`.
    pub bootargs: SmallStr<256>,
    /// Number of CPU nodes.
    pub cpus: usize,
    /// `compatible` of the first CPU node.
    pub cpu_compatible: SmallStr<48>,
    /// Whether these values came from a device tree (false: fallback defaults).
    pub from_dt: bool,
}

/// QEMU `virt` RAM base.
pub const RAM_BASE: u64 = 0x4000_0000;
/// QEMU `virt` PL011 base (fallback).
pub const UART_BASE: u64 = 0x0900_0000;

impl BoardInfo {
    /// The documented QEMU `virt` layout with 128 MiB of RAM and a GICv2.
    pub fn fallback() -> BoardInfo {
        BoardInfo {
            model: SmallStr::from("qemu-virt (no device tree)"),
            ram: Range {
                base: RAM_BASE,
                size: 128 << 20,
            },
            uart: UART_BASE,
            uart_intid: 33,
            gic: GicConfig::V2 {
                dist: 0x0800_0000,
                cpu: 0x0801_0000,
            },
            psci: Conduit::Hvc,
            bootargs: SmallStr::new(),
            cpus: 1,
            cpu_compatible: SmallStr::new(),
            from_dt: false,
        }
    }

    /// Reads the machine description from a flattened device tree. Anything missing keeps
    /// its fallback value. Returns `None` when the blob is not a device tree at all.
    ///
    /// The `fdt` crate can panic on some malformed trees; callers that must survive any
    /// input run this inside the kernel's panic recovery.
    pub fn from_fdt(blob: &[u8]) -> Option<BoardInfo> {
        let fdt = fdt::Fdt::new(blob).ok()?;
        let mut info = BoardInfo::fallback();
        info.from_dt = true;
        info.model = SmallStr::from("unknown");
        if let Some(root) = fdt.find_node("/") {
            if let Some(m) = root.property("model").and_then(|p| p.as_str()) {
                info.model = SmallStr::from(m);
            }
        }
        // One pass over the tree: every lookup below would otherwise walk it again.
        let mut cpus = 0;
        let mut gic_found = false;
        for node in fdt.all_nodes() {
            let name = node.name;
            let compat = node.property("compatible").map(|p| p.value).unwrap_or(&[]);
            let is = |c: &str| compat.split(|&b| b == 0).any(|s| s == c.as_bytes());
            if name.starts_with("memory") && info.ram.size == BoardInfo::fallback().ram.size {
                if let Some(r) = node.reg().and_then(|mut r| r.next()) {
                    if let Some(size) = r.size {
                        info.ram = Range {
                            base: r.starting_address as u64,
                            size: size as u64,
                        };
                    }
                }
            } else if is("arm,pl011") && info.uart == UART_BASE {
                if let Some(r) = node.reg().and_then(|mut r| r.next()) {
                    info.uart = r.starting_address as u64;
                }
                if let Some(id) = node.property("interrupts").and_then(|p| intid(p.value)) {
                    info.uart_intid = id;
                }
            } else if is("arm,gic-v3") && !gic_found {
                let mut regs = node.reg().into_iter().flatten();
                if let (Some(d), Some(r)) = (regs.next(), regs.next()) {
                    info.gic = GicConfig::V3 {
                        dist: d.starting_address as usize,
                        redist: r.starting_address as usize,
                    };
                    gic_found = true;
                }
            } else if (is("arm,cortex-a15-gic") || is("arm,gic-400")) && !gic_found {
                let mut regs = node.reg().into_iter().flatten();
                if let (Some(d), Some(c)) = (regs.next(), regs.next()) {
                    info.gic = GicConfig::V2 {
                        dist: d.starting_address as usize,
                        cpu: c.starting_address as usize,
                    };
                    gic_found = true;
                }
            } else if name == "psci" || is("arm,psci-0.2") || is("arm,psci-1.0") {
                if let Some(m) = node.property("method").and_then(|p| p.as_str()) {
                    info.psci = if m == "smc" {
                        Conduit::Smc
                    } else {
                        Conduit::Hvc
                    };
                }
            } else if name == "chosen" {
                if let Some(args) = node.property("bootargs").and_then(|p| p.as_str()) {
                    info.bootargs = SmallStr::from(args);
                }
            } else if name.starts_with("cpu@")
                && node.property("device_type").and_then(|p| p.as_str()) == Some("cpu")
            {
                if cpus == 0 {
                    if let Some(c) = node.property("compatible").and_then(|p| p.as_str()) {
                        info.cpu_compatible = SmallStr::from(c);
                    }
                }
                cpus += 1;
            }
        }
        info.cpus = cpus.max(1);
        Some(info)
    }
}

/// Decodes the first GIC `interrupts` specifier (type, number, flags) into an interrupt ID.
fn intid(cells: &[u8]) -> Option<u32> {
    let cell = |i: usize| {
        cells
            .get(i * 4..i * 4 + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let (kind, num) = (cell(0)?, cell(1)?);
    match kind {
        0 => Some(32 + num),
        1 => Some(16 + num),
        _ => None,
    }
}

/// Checks the FDT header at the start of `bytes`: magic and a plausible total size.
/// Returns the blob's total size.
pub fn fdt_size(header: [u8; 8]) -> Option<usize> {
    let magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    (magic == 0xd00d_feed && (64..=(2 << 20)).contains(&size)).then_some(size)
}
