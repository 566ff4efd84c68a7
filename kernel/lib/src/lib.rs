//! The kernel's pure pieces, tested on the host: no hardware, no `unsafe`, no globals.
//!
//! - [`area`]: the page-range allocator of the module area (next fit);
//! - [`editor`]: the shell's line editor (echo, history, escape sequences);
//! - [`ktap`]: writing KTAP version 1 test results;
//! - [`ymodem`]: YMODEM block checks and the header block;
//! - [`escape`]: untrusted text printed with control characters escaped, module names.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod area;
pub mod editor;
pub mod escape;
pub mod ktap;
pub mod ymodem;
