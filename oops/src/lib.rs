//! Crash reporting for the unikernel, Linux arm64 "oops" style.
//!
//! The runtime half of this crate is `no_std`, allocation-free, `unsafe`-free and
//! never panics on any input, so it can run inside an exception handler with a
//! possibly corrupted kernel image:
//!
//! * [`symtab`]: the compact embedded symbol + line table ([`symtab::Table`]),
//!   written into the kernel image by the host tool `ksymgen`.
//! * [`unwind`]: a frame-pointer unwinder over a [`unwind::MemReader`] that can
//!   never fault, loop or run away.
//! * [`esr`]: an `ESR_EL1` decoder with Linux's names.
//! * [`report`]: the oops formatter writing to any [`core::fmt::Write`].
//!
//! With the `std` feature, `symtab::TableBuilder` builds tables on the host and
//! `symtab::kallsyms_baseline_size` measures Linux's kallsyms compression on
//! the same names for comparison.
//!
//! # Use in an exception handler
//!
//! ```
//! use oops::{Cause, MemReader, OopsInfo, Regs, StackRange, Table, Taint};
//!
//! /// Reads memory without faulting (a real kernel probes the page tables or
//! /// uses an exception-table fixup).
//! struct Probe;
//! impl MemReader for Probe {
//!     fn read_u64(&self, _addr: u64) -> Option<u64> { None }
//!     fn read_u32(&self, _addr: u64) -> Option<u32> { None }
//! }
//!
//! fn on_fault(kallsyms: &[u8], regs: &Regs, esr: u64, far: u64, out: &mut dyn core::fmt::Write) {
//!     let table = match Table::parse(kallsyms) {
//!         Ok(t) => t,
//!         Err(e) => {
//!             let _ = writeln!(out, "no symbols: {e}");
//!             let _ = oops::write_raw_hex_report(out, regs, esr, far);
//!             return;
//!         }
//!     };
//!     let stacks = [StackRange::new(0x4100_0000, 0x4101_0000)];
//!     let mut info = OopsInfo::new(regs, Cause::Exception { esr, far }, &Probe, &table);
//!     info.oops_count = 1;
//!     info.modules = &"hello(O)";
//!     info.taint = Taint(Taint::OOT_MODULE);
//!     info.release = "0.1.0";
//!     info.build_id = table.build_id();
//!     info.hardware = "linux,dummy-virt (DT)";
//!     info.stacks = &stacks;
//!     let _ = oops::write_report(out, &info);
//! }
//!
//! let mut s = String::new();
//! on_fault(&[0u8; 4096], &Regs::default(), 0x9600_0045, 0, &mut s);
//! assert!(s.starts_with("no symbols: symbol table is all zeros"));
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod esr;
pub mod report;
pub mod symtab;
pub mod unwind;

pub use report::{
    write_raw_hex_report, write_report, Cause, NoSymbols, OopsInfo, PanicLocation, Regs,
    Symbolizer, Taint, INLINE_INDENT,
};
pub use symtab::{FormatError, FuncName, InlineChain, InlineFrame, Table, TableSizes};
pub use unwind::{Frame, FrameKind, MemReader, StackRange, Unwinder, EXCEPTION_FRAME_MARKER};
