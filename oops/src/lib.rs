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
//! With the `std` feature, [`symtab::TableBuilder`] builds tables on the host and
//! [`symtab::kallsyms_baseline_size`] measures Linux's kallsyms compression on
//! the same names for comparison.
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
    write_raw_hex_report, write_report, Cause, OopsInfo, PanicLocation, Regs, Symbolizer, Taint,
};
pub use symtab::{FormatError, Table};
pub use unwind::{Frame, FrameKind, MemReader, StackRange, Unwinder, EXCEPTION_FRAME_MARKER};
