//! The module ABI and the formats the kernel shares with its tools: one definition each,
//! used by the kernel, the SDK (`kmod`), xtask, the host console and the tests.
//!
//! - [`ffi`]: the C-ABI types every export and command handler uses (`KStr`, `CmdFn`);
//! - [`export`]: the `.kexports` record and the ABI hash modules carry as `abi=`;
//! - [`param`]: module parameter types and value validation;
//! - [`modinfo`]: reading `.modinfo` and `.modexports`, and `depends=` lists;
//! - [`archive`]: the built-in module archive in the `.kmodules` section;
//! - [`kx`]: the kx/1 serial transfer frame.
//!
//! `no_std`, no allocation except in [`archive::write`] (feature `alloc`, on by default),
//! and no `unsafe` outside [`ffi::KStr::bytes`].
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod archive;
pub mod export;
pub mod ffi;
pub mod kx;
pub mod modinfo;
pub mod param;
