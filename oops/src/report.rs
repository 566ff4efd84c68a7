//! The oops formatter: Linux arm64 style reports written to any
//! [`core::fmt::Write`], without allocating and without panicking.
//!
//! Layout for a kernel data abort (compare Linux's `die_kernel_fault`,
//! `mem_abort_decode`, `__die`, `__show_regs`, `dump_backtrace` and
//! `dump_kernel_instr`):
//!
//! ```text
//! Unable to handle kernel NULL pointer dereference at virtual address 0000000000000000
//! Mem abort info:
//!   ESR = 0x0000000096000045
//!   EC = 0x25: DABT (current EL), IL = 32 bits
//!   SET = 0, FnV = 0
//!   EA = 0, S1PTW = 0
//!   FSC = 0x05: level 1 translation fault
//! Data abort info:
//!   ISV = 0, ISS = 0x00000045
//!   CM = 0, WnR = 1
//! Internal error: Oops: 0000000096000045 [#1]
//! Modules linked in: hello(O)
//! CPU: 0 Tainted: G           O       0.1.0 build-id 5f3a...
//! Hardware name: linux,dummy-virt (DT)
//! pstate: 80000005 (Nzcv daif -PAN -UAO -TCO -DIT -SSBS BTYPE=--)
//! pc : kernel::shell::crash::null_write+0x14/0x30 (kernel/src/shell/crash.rs:41)
//! lr : kernel::shell::crash::run+0x88/0x1a0 (kernel/src/shell/crash.rs:17)
//! sp : 000000004011fd40
//! x29: 000000004011fd50 x28: 0000000000000000 x27: 0000000000000000
//! ...
//! x2 : 0000000000000012 x1 : 0000000000000000 x0 : 0000000000000000
//! Call trace:
//!  kernel::shell::crash::null_write+0x14/0x30 (kernel/src/shell/crash.rs:41)
//!     core::ptr::write_volatile::<u64> (core/src/ptr/mod.rs:2178) (inlined)
//!  kernel::shell::crash::run+0x88/0x1a0 (kernel/src/shell/crash.rs:17)
//!  kernel::main+0x1c4/0x200 (kernel/src/main.rs:52)
//! Code: d2800001 d2800000 f90003e1 aa0003e1 (b900003f)
//! ---[ end trace 0000000000000001 ]---
//! ```
//!
//! Call-trace marks (as in newer Linux kernels):
//! * the first line is the faulting `pc`, unmarked;
//! * ` (L)`: the saved link register, shown after the pc when it is neither in
//!   the faulting function nor equal to the first frame record's return
//!   address, i.e. when the faulting function is a leaf without a frame record
//!   and its caller would otherwise be missing; likewise after a ` (P)` frame
//!   when [`OopsInfo::trap_lr_offset`] tells where the trap frame keeps x30;
//! * ` (P)`: an exact interrupted pc recovered across an exception boundary
//!   (a frame record followed by [`EXCEPTION_FRAME_MARKER`](crate::unwind::EXCEPTION_FRAME_MARKER)).
//!
//! Each frame line shows the line in the frame's own function (the call site of the
//! outermost inlined callee, [`Table::frame_line`]); under it
//! [`Symbolizer::write_inlined`] prints one line per inlined level, innermost first.
//!
//! Return addresses are looked up at `address - 4` (so a call to a `noreturn`
//! function at the end of its caller still names the caller and its line) but
//! the printed offset is that of the real return address, like Linux.

use crate::esr::{ec, Esr};
use crate::symtab::Table;
use crate::unwind::{FrameKind, MemReader, StackRange, Unwinder};
use core::fmt::{self, Display, Write};

/// Saved CPU state of the failing context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Regs {
    /// x0..=x30 (x29 = frame pointer, x30 = link register).
    pub x: [u64; 31],
    /// Stack pointer.
    pub sp: u64,
    /// Program counter (ELR for exceptions).
    pub pc: u64,
    /// PSTATE (SPSR for exceptions).
    pub pstate: u64,
}

impl Regs {
    /// Frame pointer (x29).
    pub fn fp(&self) -> u64 {
        self.x[29]
    }
    /// Link register (x30).
    pub fn lr(&self) -> u64 {
        self.x[30]
    }
}

/// Turns addresses into text.
pub trait Symbolizer {
    /// Writes the symbol for `addr`, found by looking up `lookup_addr` (which
    /// is `addr - 4` for return addresses), as `name+0xoff/0xsize (file:line)`
    /// or `name+0xoff/0xsize [module]`, the offset being `addr - start`.
    /// Returns `Ok(false)` without writing anything when the address is unknown.
    fn symbolize(
        &self,
        addr: u64,
        lookup_addr: u64,
        w: &mut dyn fmt::Write,
    ) -> Result<bool, fmt::Error>;

    /// `[start, end)` of the function containing `addr`, if known. Used to
    /// decide whether the link register adds information to a call trace.
    fn function_range(&self, addr: u64) -> Option<(u64, u64)> {
        let _ = addr;
        None
    }

    /// Writes one line per function inlined at `lookup_addr`, innermost first, each
    /// `{INLINE_INDENT}name (file:line) (inlined)` and a newline (nothing when no
    /// inline information is known).
    fn write_inlined(&self, lookup_addr: u64, w: &mut dyn fmt::Write) -> fmt::Result {
        let _ = (lookup_addr, w);
        Ok(())
    }
}

/// Indentation of the `(inlined)` lines under a call-trace frame.
pub const INLINE_INDENT: &str = "    ";

impl Symbolizer for Table<'_> {
    fn symbolize(
        &self,
        addr: u64,
        lookup_addr: u64,
        w: &mut dyn fmt::Write,
    ) -> Result<bool, fmt::Error> {
        let Some(sym) = self.lookup(lookup_addr) else {
            return Ok(false);
        };
        write!(
            w,
            "{}+{:#x}/{:#x}",
            sym.name(),
            addr.wrapping_sub(sym.start),
            sym.size
        )?;
        self.write_frame_line(lookup_addr, w)?;
        Ok(true)
    }

    fn function_range(&self, addr: u64) -> Option<(u64, u64)> {
        let s = self.lookup(addr)?;
        Some((s.start, s.start.saturating_add(s.size.max(1))))
    }

    fn write_inlined(&self, lookup_addr: u64, w: &mut dyn fmt::Write) -> fmt::Result {
        if self.lookup(lookup_addr).is_none() {
            return Ok(());
        }
        Table::write_inlined(self, lookup_addr, INLINE_INDENT, w)
    }
}

/// Tries each symbolizer in turn (e.g. the kernel table, then each module).
impl Symbolizer for [&dyn Symbolizer] {
    fn symbolize(
        &self,
        addr: u64,
        lookup_addr: u64,
        w: &mut dyn fmt::Write,
    ) -> Result<bool, fmt::Error> {
        for s in self {
            if s.symbolize(addr, lookup_addr, w)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn function_range(&self, addr: u64) -> Option<(u64, u64)> {
        self.iter().find_map(|s| s.function_range(addr))
    }

    fn write_inlined(&self, lookup_addr: u64, w: &mut dyn fmt::Write) -> fmt::Result {
        for s in self {
            let mut probe = Probe(false);
            if s.symbolize(lookup_addr, lookup_addr, &mut probe)? && probe.0 {
                return s.write_inlined(lookup_addr, w);
            }
        }
        Ok(())
    }
}

/// A writer that only notes whether anything was written.
struct Probe(bool);

impl fmt::Write for Probe {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 |= !s.is_empty();
        Ok(())
    }
}

/// A symbolizer that knows nothing (every address prints as hex).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSymbols;

impl Symbolizer for NoSymbols {
    fn symbolize(&self, _: u64, _: u64, _: &mut dyn fmt::Write) -> Result<bool, fmt::Error> {
        Ok(false)
    }
}

/// Where a Rust panic happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PanicLocation<'a> {
    /// Source file, as in `core::panic::Location::file`.
    pub file: &'a str,
    /// Line.
    pub line: u32,
    /// Column.
    pub column: u32,
}

impl<'a> From<&'a core::panic::Location<'a>> for PanicLocation<'a> {
    fn from(l: &'a core::panic::Location<'a>) -> Self {
        PanicLocation {
            file: l.file(),
            line: l.line(),
            column: l.column(),
        }
    }
}

/// Why the report is printed.
#[derive(Clone, Copy)]
pub enum Cause<'a> {
    /// A synchronous exception taken from the kernel: `ESR_EL1` and `FAR_EL1`.
    Exception {
        /// `ESR_EL1`.
        esr: u64,
        /// `FAR_EL1` (meaningful for aborts).
        far: u64,
    },
    /// A Rust panic.
    Panic {
        /// The panic message.
        message: &'a dyn Display,
        /// Where it happened.
        location: Option<PanicLocation<'a>>,
    },
    /// An IRQ arrived that nothing handles.
    UnexpectedIrq,
    /// An FIQ arrived (never used by this kernel).
    UnexpectedFiq,
    /// Any other exception vector the kernel does not handle, e.g.
    /// `"64-bit el1h sync"` or `"32-bit el0 irq"`.
    Unhandled {
        /// Name of the vector.
        vector: &'a str,
        /// `ESR_EL1` at the time.
        esr: u64,
    },
}

impl fmt::Debug for Cause<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Exception { esr, far } => {
                write!(f, "Exception {{ esr: {esr:#x}, far: {far:#x} }}")
            }
            Cause::Panic { message, location } => {
                write!(
                    f,
                    "Panic {{ message: \"{message}\", location: {location:?} }}"
                )
            }
            Cause::UnexpectedIrq => f.write_str("UnexpectedIrq"),
            Cause::UnexpectedFiq => f.write_str("UnexpectedFiq"),
            Cause::Unhandled { vector, esr } => {
                write!(f, "Unhandled {{ vector: {vector:?}, esr: {esr:#x} }}")
            }
        }
    }
}

/// Linux taint flags (same bit numbers and letters as Linux 6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Taint(pub u32);

impl Taint {
    /// `P`: proprietary module loaded (unset prints `G`).
    pub const PROPRIETARY_MODULE: u32 = 1 << 0;
    /// `F`: module force-loaded.
    pub const FORCED_MODULE: u32 = 1 << 1;
    /// `S`: CPU out of spec.
    pub const CPU_OUT_OF_SPEC: u32 = 1 << 2;
    /// `R`: module force-unloaded.
    pub const FORCED_RMMOD: u32 = 1 << 3;
    /// `M`: machine check.
    pub const MACHINE_CHECK: u32 = 1 << 4;
    /// `B`: bad page.
    pub const BAD_PAGE: u32 = 1 << 5;
    /// `U`: tainted by the user.
    pub const USER: u32 = 1 << 6;
    /// `D`: the kernel died before (an earlier oops).
    pub const DIE: u32 = 1 << 7;
    /// `A`: overridden firmware tables.
    pub const OVERRIDDEN_ACPI_TABLE: u32 = 1 << 8;
    /// `W`: a warning was issued.
    pub const WARN: u32 = 1 << 9;
    /// `C`: staging driver loaded.
    pub const CRAP: u32 = 1 << 10;
    /// `I`: firmware workaround.
    pub const FIRMWARE_WORKAROUND: u32 = 1 << 11;
    /// `O`: out-of-tree module loaded.
    pub const OOT_MODULE: u32 = 1 << 12;
    /// `E`: unsigned module loaded.
    pub const UNSIGNED_MODULE: u32 = 1 << 13;
    /// `L`: soft lockup.
    pub const SOFTLOCKUP: u32 = 1 << 14;
    /// `K`: live patched.
    pub const LIVEPATCH: u32 = 1 << 15;
    /// `X`: auxiliary taint.
    pub const AUX: u32 = 1 << 16;
    /// `T`: struct randomization plugin.
    pub const RANDSTRUCT: u32 = 1 << 17;
    /// `N`: test module loaded.
    pub const TEST: u32 = 1 << 18;

    const LETTERS: [u8; 19] = *b"PFSRMBUDAWCIOELKXTN";

    /// True when any flag is set.
    pub fn any(self) -> bool {
        self.0 & ((1 << Self::LETTERS.len()) - 1) != 0
    }
}

/// `Not tainted` or `Tainted: G           O      ` (one column per flag).
impl Display for Taint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.any() {
            return f.write_str("Not tainted");
        }
        f.write_str("Tainted: ")?;
        for (i, &c) in Self::LETTERS.iter().enumerate() {
            let set = self.0 & (1 << i) != 0;
            let ch = match (i, set) {
                (_, true) => char::from(c),
                (0, false) => 'G',
                (_, false) => ' ',
            };
            f.write_char(ch)?;
        }
        Ok(())
    }
}

/// Everything a report needs. Build it with [`OopsInfo::new`] and set the
/// other fields as needed.
#[derive(Clone, Copy)]
pub struct OopsInfo<'a> {
    /// Saved registers of the failing context.
    pub regs: &'a Regs,
    /// Why.
    pub cause: Cause<'a>,
    /// Number of this oops since boot (the `[#N]`), starting at 1.
    pub oops_count: u32,
    /// The loaded modules, e.g. `hello(O) scull(O)`; empty for none.
    pub modules: &'a dyn Display,
    /// Taint flags.
    pub taint: Taint,
    /// Kernel release, e.g. `0.1.0`.
    pub release: &'a str,
    /// Kernel build ID (printed in hex after the release; empty to omit).
    pub build_id: &'a [u8],
    /// Machine name, e.g. `linux,dummy-virt (DT)`.
    pub hardware: &'a str,
    /// CPU number.
    pub cpu: u32,
    /// Known stacks for the unwinder.
    pub stacks: &'a [StackRange],
    /// Fault-free memory reader (frame records, `Code:`).
    pub mem: &'a dyn MemReader,
    /// Address → text.
    pub symbolizer: &'a dyn Symbolizer,
    /// Most frame records to print in the call trace.
    pub max_frames: usize,
    /// Where the exception entry saves the interrupted x30, relative to the
    /// frame record inside the trap frame (for this kernel's `TrapFrame`:
    /// x30 at +240, record at +288, so `Some(-48)`). When set, the call trace
    /// also shows the interrupted link register (marked ` (L)`) after an
    /// exception-boundary frame, so a leaf function's caller is not lost.
    pub trap_lr_offset: Option<i64>,
}

struct Empty;

impl Display for Empty {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

impl<'a> OopsInfo<'a> {
    /// A report for `cause` with defaults: oops #1, no modules, not tainted,
    /// no release/build ID/hardware name, CPU 0, no stacks, 64 frames.
    pub fn new(
        regs: &'a Regs,
        cause: Cause<'a>,
        mem: &'a dyn MemReader,
        symbolizer: &'a dyn Symbolizer,
    ) -> Self {
        OopsInfo {
            regs,
            cause,
            oops_count: 1,
            modules: &Empty,
            taint: Taint(0),
            release: "",
            build_id: &[],
            hardware: "",
            cpu: 0,
            stacks: &[],
            mem,
            symbolizer,
            max_frames: 64,
            trap_lr_offset: None,
        }
    }
}

const PAGE_SIZE: u64 = 4096;

/// `sym+0xoff/0xsize (file:line)` or `0x<hex>` when unknown.
struct Sym<'a> {
    s: &'a dyn Symbolizer,
    addr: u64,
    lookup: u64,
}

impl Display for Sym<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.s.symbolize(self.addr, self.lookup, f)? {
            write!(f, "{:#x}", self.addr)?;
        }
        Ok(())
    }
}

/// Writes `Modules linked in:` and a leading space only if the list is not empty.
struct LeadingSpace<'w> {
    w: &'w mut dyn fmt::Write,
    started: bool,
}

impl fmt::Write for LeadingSpace<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if !s.is_empty() && !self.started {
            self.started = true;
            self.w.write_char(' ')?;
        }
        self.w.write_str(s)
    }
}

fn hex_bytes(w: &mut dyn fmt::Write, b: &[u8]) -> fmt::Result {
    for x in b {
        write!(w, "{x:02x}")?;
    }
    Ok(())
}

/// Linux's `print_pstate` for AArch64.
fn write_pstate(w: &mut dyn fmt::Write, p: u64) -> fmt::Result {
    let bit = |n: u32| p & (1 << n) != 0;
    let flag = |n: u32, up: char, low: char| if bit(n) { up } else { low };
    let pm = |n: u32| if bit(n) { '+' } else { '-' };
    const BTYPES: [&str; 4] = ["--", "jc", "-c", "j-"];
    writeln!(
        w,
        "pstate: {:08x} ({}{}{}{} {}{}{}{} {}PAN {}UAO {}TCO {}DIT {}SSBS BTYPE={})",
        p,
        flag(31, 'N', 'n'),
        flag(30, 'Z', 'z'),
        flag(29, 'C', 'c'),
        flag(28, 'V', 'v'),
        flag(9, 'D', 'd'),
        flag(8, 'A', 'a'),
        flag(7, 'I', 'i'),
        flag(6, 'F', 'f'),
        pm(22),
        pm(23),
        pm(25),
        pm(24),
        pm(12),
        BTYPES
            .get(((p >> 10) & 3) as usize)
            .copied()
            .unwrap_or("--"),
    )
}

/// `x29: ... x28: ... x27: ...` down to `x2 : ... x1 : ... x0 : ...`.
fn write_gprs(w: &mut dyn fmt::Write, regs: &Regs) -> fmt::Result {
    for row in 0..10usize {
        let top = 29 - 3 * row;
        for (k, r) in [top, top - 1, top - 2].into_iter().enumerate() {
            let v = regs.x.get(r).copied().unwrap_or(0);
            let sep = if k == 0 { "" } else { " " };
            write!(w, "{sep}x{r:<2}: {v:016x}")?;
        }
        w.write_char('\n')?;
    }
    Ok(())
}

fn write_code(w: &mut dyn fmt::Write, mem: &dyn MemReader, pc: u64) -> fmt::Result {
    w.write_str("Code:")?;
    for i in (0..=4u64).rev() {
        let addr = pc.wrapping_sub(4 * i);
        let word = if addr & 3 == 0 {
            mem.read_u32(addr)
        } else {
            None
        };
        let (open, close) = if i == 0 { ("(", ")") } else { ("", "") };
        match word {
            Some(v) => write!(w, " {open}{v:08x}{close}")?,
            None => write!(w, " {open}????????{close}")?,
        }
    }
    w.write_char('\n')
}

fn write_headline(w: &mut dyn fmt::Write, info: &OopsInfo<'_>) -> fmt::Result {
    let n = info.oops_count;
    match info.cause {
        Cause::Exception { esr, far } => {
            let e = Esr(esr);
            if e.is_mem_abort() {
                let what = if e.is_permission_fault() {
                    if e.wnr() && e.is_data_abort() {
                        "write to read-only memory"
                    } else if e.is_instruction_abort() {
                        "execute from non-executable memory"
                    } else {
                        "read from unreadable memory"
                    }
                } else if far < PAGE_SIZE {
                    "NULL pointer dereference"
                } else {
                    "paging request"
                };
                writeln!(
                    w,
                    "Unable to handle kernel {what} at virtual address {far:016x}"
                )?;
                e.write_decode(w)?;
                writeln!(w, "Internal error: Oops: {esr:016x} [#{n}]")
            } else {
                let what = match e.ec() {
                    ec::UNKNOWN => "Undefined instruction",
                    ec::BRK64 => {
                        writeln!(w, "Unexpected kernel BRK exception at EL1")?;
                        "BRK"
                    }
                    ec::SP_ALIGN | ec::PC_ALIGN => "SP/PC alignment exception",
                    ec::SERROR => {
                        writeln!(
                            w,
                            "SError Interrupt on CPU{}, code {esr:#018x} -- SError",
                            info.cpu
                        )?;
                        "SError Interrupt"
                    }
                    _ => e.class_name(),
                };
                e.write_decode(w)?;
                writeln!(w, "Internal error: Oops - {what}: {esr:016x} [#{n}]")
            }
        }
        Cause::Panic { message, location } => {
            writeln!(w, "Kernel panic - not syncing: {message}")?;
            if let Some(l) = location {
                writeln!(w, "  at {}:{}:{}", l.file, l.line, l.column)?;
            }
            Ok(())
        }
        Cause::UnexpectedIrq | Cause::UnexpectedFiq | Cause::Unhandled { .. } => {
            let (vector, esr) = match info.cause {
                Cause::UnexpectedIrq => ("IRQ", 0),
                Cause::UnexpectedFiq => ("FIQ", 0),
                Cause::Unhandled { vector, esr } => (vector, esr),
                _ => ("", 0),
            };
            writeln!(
                w,
                "Unhandled {vector} exception on CPU{}, ESR {esr:#018x} -- {}",
                info.cpu,
                Esr(esr).class_name()
            )?;
            writeln!(
                w,
                "Internal error: Oops - Unhandled {vector} exception: {esr:016x} [#{n}]"
            )
        }
    }
}

/// Prints the saved link register ` (L)` when it adds information: it is not
/// the next frame record's return address and not inside the function of `pc`
/// (i.e. `pc` is in a leaf function without a frame record).
fn write_lr_if_useful(
    w: &mut dyn fmt::Write,
    sym: &dyn Symbolizer,
    pc: u64,
    lr: u64,
    next_ret: Option<u64>,
) -> fmt::Result {
    let same_function = match sym.function_range(pc) {
        Some((lo, hi)) => {
            let l = lr.wrapping_sub(4);
            lo <= l && l < hi
        }
        None => false,
    };
    if lr != 0 && Some(lr) != next_ret && !same_function {
        writeln!(
            w,
            " {} (L)",
            Sym {
                s: sym,
                addr: lr,
                lookup: lr.wrapping_sub(4)
            }
        )?;
        sym.write_inlined(lr.wrapping_sub(4), w)?;
    }
    Ok(())
}

/// Writes the full report (see the [module documentation](self)).
pub fn write_report(w: &mut dyn fmt::Write, info: &OopsInfo<'_>) -> fmt::Result {
    let regs = info.regs;
    let sym = info.symbolizer;
    write_headline(w, info)?;

    w.write_str("Modules linked in:")?;
    write!(
        LeadingSpace {
            w: &mut *w,
            started: false
        },
        "{}",
        info.modules
    )?;
    w.write_char('\n')?;

    write!(w, "CPU: {} {}", info.cpu, info.taint)?;
    if !info.release.is_empty() {
        write!(w, " {}", info.release)?;
    }
    if !info.build_id.is_empty() {
        w.write_str(" build-id ")?;
        hex_bytes(w, info.build_id)?;
    }
    w.write_char('\n')?;
    if !info.hardware.is_empty() {
        writeln!(w, "Hardware name: {}", info.hardware)?;
    }

    write_pstate(w, regs.pstate)?;
    let (pc, lr) = (regs.pc, regs.lr());
    writeln!(
        w,
        "pc : {}",
        Sym {
            s: sym,
            addr: pc,
            lookup: pc
        }
    )?;
    writeln!(
        w,
        "lr : {}",
        Sym {
            s: sym,
            addr: lr,
            lookup: lr.wrapping_sub(4)
        }
    )?;
    writeln!(w, "sp : {:016x}", regs.sp)?;
    write_gprs(w, regs)?;

    writeln!(w, "Call trace:")?;
    writeln!(
        w,
        " {}",
        Sym {
            s: sym,
            addr: pc,
            lookup: pc
        }
    )?;
    sym.write_inlined(pc, w)?;
    let mut frames = Unwinder::new(info.mem, info.stacks, regs.fp(), info.max_frames).peekable();
    let first_ret = frames.peek().map(|f| f.pc);
    write_lr_if_useful(w, sym, pc, lr, first_ret)?;
    while let Some(f) = frames.next() {
        let mark = match f.kind {
            FrameKind::Normal => "",
            FrameKind::Exception => " (P)",
        };
        writeln!(
            w,
            " {}{mark}",
            Sym {
                s: sym,
                addr: f.pc,
                lookup: f.lookup_pc()
            }
        )?;
        sym.write_inlined(f.lookup_pc(), w)?;
        if let (FrameKind::Exception, Some(off)) = (f.kind, info.trap_lr_offset) {
            if let Some(lr) = info.mem.read_u64(f.fp.wrapping_add_signed(off)) {
                let next_ret = frames.peek().map(|n| n.pc);
                write_lr_if_useful(w, sym, f.pc, lr, next_ret)?;
            }
        }
    }

    match info.cause {
        Cause::Panic { message, .. } => {
            writeln!(w, "---[ end Kernel panic - not syncing: {message} ]---")
        }
        _ => {
            write_code(w, info.mem, pc)?;
            writeln!(w, "---[ end trace {:016x} ]---", info.oops_count)
        }
    }
}

/// Minimal fallback when a fault happens while printing a report: raw
/// registers in hex, no memory reads, no symbolization.
pub fn write_raw_hex_report(
    w: &mut dyn fmt::Write,
    regs: &Regs,
    esr: u64,
    far: u64,
) -> fmt::Result {
    writeln!(w, "Nested fault while reporting an oops; raw state:")?;
    writeln!(w, "ESR: {esr:016x} FAR: {far:016x}")?;
    writeln!(
        w,
        "pc : {:016x} lr : {:016x} sp : {:016x} pstate: {:08x}",
        regs.pc,
        regs.lr(),
        regs.sp,
        regs.pstate
    )?;
    write_gprs(w, regs)?;
    writeln!(w, "---[ end trace (raw) ]---")
}

#[cfg(test)]
mod tests;
