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
        // One pass over the tree, and one over each node's properties: under QEMU's
        // TCG the first run of each piece of code costs far more than running it, so
        // boot time follows how much distinct code this takes (see the README).
        let mut cpus = 0;
        let mut gic_found = false;
        let mut ram_found = false;
        let mut uart_found = false;
        for node in fdt.all_nodes() {
            let p = Props::of(&node);
            let name = node.name;
            let kind = p.kind(name);
            match kind {
                Kind::Root => {
                    if let Some(m) = p.model {
                        info.model = SmallStr::from(m);
                    }
                }
                Kind::Memory if !ram_found => {
                    if let Some(r) = first_reg(&node).filter(|r| r.size > 0) {
                        info.ram = r;
                        ram_found = true;
                    }
                }
                Kind::Uart if !uart_found => {
                    if let Some(r) = first_reg(&node) {
                        info.uart = r.base;
                        uart_found = true;
                    }
                    if let Some(id) = p.interrupts.and_then(intid) {
                        info.uart_intid = id;
                    }
                }
                Kind::GicV3 | Kind::GicV2 if !gic_found => {
                    let mut regs = node.reg().into_iter().flatten();
                    if let (Some(d), Some(r)) = (regs.next(), regs.next()) {
                        let (d, r) = (d.starting_address as usize, r.starting_address as usize);
                        info.gic = if kind == Kind::GicV3 {
                            GicConfig::V3 { dist: d, redist: r }
                        } else {
                            GicConfig::V2 { dist: d, cpu: r }
                        };
                        gic_found = true;
                    }
                }
                Kind::Psci => {
                    if let Some(m) = p.method {
                        info.psci = if m == b"smc\0" || m == b"smc" {
                            Conduit::Smc
                        } else {
                            Conduit::Hvc
                        };
                    }
                }
                Kind::Chosen => {
                    if let Some(args) = p.bootargs {
                        info.bootargs = SmallStr::from(args);
                    }
                }
                Kind::Cpu => {
                    if cpus == 0 {
                        if let Some(c) = first_str(p.compatible) {
                            info.cpu_compatible = SmallStr::from(c);
                        }
                    }
                    cpus += 1;
                }
                _ => {}
            }
        }
        info.cpus = cpus.max(1);
        Some(info)
    }
}

/// What a node is, for [`BoardInfo::from_fdt`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Root,
    Memory,
    Uart,
    GicV3,
    GicV2,
    Psci,
    Chosen,
    Cpu,
    Other,
}

/// The properties [`BoardInfo::from_fdt`] reads, found in one pass over a node.
#[derive(Default)]
struct Props<'a> {
    compatible: &'a [u8],
    device_type: &'a [u8],
    model: Option<&'a str>,
    bootargs: Option<&'a str>,
    method: Option<&'a [u8]>,
    interrupts: Option<&'a [u8]>,
}

impl<'a> Props<'a> {
    #[inline(never)]
    fn of(node: &fdt::node::FdtNode<'_, 'a>) -> Props<'a> {
        let mut p = Props::default();
        for prop in node.properties() {
            match prop.name {
                "compatible" => p.compatible = prop.value,
                "device_type" => p.device_type = prop.value,
                "model" => p.model = prop.as_str(),
                "bootargs" => p.bootargs = prop.as_str(),
                "method" => p.method = Some(prop.value),
                "interrupts" => p.interrupts = Some(prop.value),
                _ => {}
            }
        }
        p
    }

    #[inline(never)]
    fn kind(&self, name: &str) -> Kind {
        let has = |c: &[u8]| has_compatible(self.compatible, c);
        if name.is_empty() || name == "/" {
            Kind::Root
        } else if name.starts_with("memory") {
            Kind::Memory
        } else if has(b"arm,pl011") {
            Kind::Uart
        } else if has(b"arm,gic-v3") {
            Kind::GicV3
        } else if has(b"arm,cortex-a15-gic") || has(b"arm,gic-400") {
            Kind::GicV2
        } else if name == "psci" || has(b"arm,psci-0.2") || has(b"arm,psci-1.0") {
            Kind::Psci
        } else if name == "chosen" {
            Kind::Chosen
        } else if name.starts_with("cpu@") && self.device_type == b"cpu\0" {
            Kind::Cpu
        } else {
            Kind::Other
        }
    }
}

/// Whether the NUL-separated string list `list` holds `c`.
#[inline(never)]
fn has_compatible(list: &[u8], c: &[u8]) -> bool {
    list.split(|&b| b == 0).any(|s| s == c)
}

/// The first string of a NUL-separated list.
fn first_str(list: &[u8]) -> Option<&str> {
    let s = list.split(|&b| b == 0).next()?;
    core::str::from_utf8(s).ok().filter(|s| !s.is_empty())
}

/// The first `reg` entry of `node`, with its size (0 when the node has none).
#[inline(never)]
fn first_reg(node: &fdt::node::FdtNode<'_, '_>) -> Option<Range> {
    let r = node.reg()?.next()?;
    Some(Range {
        base: r.starting_address as u64,
        size: r.size.unwrap_or(0) as u64,
    })
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
