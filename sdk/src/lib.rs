//! `kmod`: the module SDK. Write a loadable kernel module in Rust.
//!
//! A module is a `no_std` crate of type `staticlib` that depends on this crate and invokes
//! [`module!`] once. `cargo xtask modules` builds it for `aarch64-unknown-none-softfloat`
//! and turns the archive into one relocatable object, `target/modules/NAME.ko`, that the
//! kernel links at `insmod` time.
//!
//! ```ignore
//! #![no_std]
//! use kmod::prelude::*;
//!
//! kmod::module! {
//!     name: "hello",
//!     version: "0.1.0",
//!     license: "MIT",
//!     author: "Jane Doe",
//!     description: "Prints a greeting",
//!     params: {
//!         /// What to print.
//!         greeting: str = "Hello",
//!     },
//!     init: init,
//!     exit: exit,
//! }
//!
//! fn init() -> Result<(), i32> {
//!     println!("hello: {}", params::greeting());
//!     Ok(())
//! }
//!
//! fn exit() {
//!     println!("hello: bye");
//! }
//! ```
//!
//! What this crate provides:
//! - [`ffi`]: the raw kernel exports, exactly as `sdk/include/kmod.h` declares them;
//! - [`print!`]/[`println!`] over `kmod_print` (formatted on the stack, no allocation);
//! - a global allocator over `kmod_alloc`/`kmod_free`/`kmod_realloc`, so `alloc` works;
//! - a panic handler that formats the message and location and calls `kmod_panic` (the
//!   kernel prints an oops, abandons the module call and marks the module faulted);
//! - [`param`] for `insmod` parameters, [`command!`] / [`unregister_command`] for shell
//!   commands, [`uptime_us`] and [`delay_us`];
//! - [`module!`] (metadata + `init_module`/`cleanup_module`) and [`export!`] (symbols for
//!   later modules).

#![no_std]

#[cfg(test)]
extern crate std;

pub extern crate alloc;

pub mod ffi;
mod heap;
mod macros;
mod modinfo;
mod panic;
pub mod param;
mod print;

pub use ffi::KStr;
pub use heap::KernelAllocator;
pub use param::{param, Param};
#[doc(hidden)]
pub use print::_print as __print;
pub use print::{print_str, Console};

use alloc::string::String;
use alloc::vec::Vec;

/// `-EPERM`-style error numbers for [`module!`] init functions (return `Err(kmod::EINVAL)`).
pub const EPERM: i32 = 1;
/// No such entry.
pub const ENOENT: i32 = 2;
/// I/O error.
pub const EIO: i32 = 5;
/// Out of memory.
pub const ENOMEM: i32 = 12;
/// Resource busy.
pub const EBUSY: i32 = 16;
/// Already exists.
pub const EEXIST: i32 = 17;
/// Invalid argument.
pub const EINVAL: i32 = 22;

/// Common imports for module code: `print!`, `println!`, `format!`, `vec!`, `Vec`,
/// `String`, `ToString`, `Box`, `BTreeMap`.
pub mod prelude {
    pub use crate::{print, println};
    pub use alloc::boxed::Box;
    pub use alloc::collections::BTreeMap;
    pub use alloc::string::{String, ToString};
    pub use alloc::vec::Vec;
    pub use alloc::{format, vec};
}

/// Microseconds since boot.
pub fn uptime_us() -> u64 {
    // SAFETY: kernel export without preconditions.
    unsafe { ffi::kmod_uptime_us() }
}

/// Busy-waits `us` microseconds (the kernel caps one call at 10 s).
pub fn delay_us(us: u64) {
    // SAFETY: kernel export without preconditions.
    unsafe { ffi::kmod_delay_us(us) }
}

/// A shell command implemented in Rust: gets the arguments after the command name.
/// An `Err` is printed as `NAME: message` and reported to the shell as status 1.
pub type Handler = fn(&[&str]) -> Result<(), String>;

/// Registers a shell command. Prefer [`command!`], which generates the `extern "C"` shim.
/// Errors are the kernel's negative errno (`-EEXIST` when the name is taken).
pub fn register_command(name: &str, help: &str, shim: ffi::CmdFn) -> Result<(), i32> {
    // SAFETY: both strings are readable for the call; the kernel copies them.
    match unsafe { ffi::kmod_register_command(KStr::new(name), KStr::new(help), shim) } {
        0 => Ok(()),
        e => Err(e),
    }
}

/// Removes a shell command this module registered (`Err(-ENOENT)` if there is none).
pub fn unregister_command(name: &str) -> Result<(), i32> {
    // SAFETY: the string is readable for the call.
    match unsafe { ffi::kmod_unregister_command(KStr::new(name)) } {
        0 => Ok(()),
        e => Err(e),
    }
}

/// Support code the macros expand to. Not a stable interface.
#[doc(hidden)]
pub mod __private {
    pub use crate::modinfo::{encode, encoded_len, Piece};
    pub use crate::param::Param;

    /// One `.kmod_tests` record, as `struct kmod_test` in `kmod.h`.
    #[repr(C)]
    pub struct TestRecord {
        /// The test's name.
        pub name: crate::KStr,
        /// The test.
        pub func: extern "C" fn(),
        /// Where it is declared (tests run in source order).
        pub line: u32,
        /// Zero.
        pub reserved: u32,
    }

    // SAFETY: records are immutable statics whose name points at a string literal.
    unsafe impl Sync for TestRecord {}

    /// Reports a failed assertion to the kernel (the message is cut at 240 bytes).
    pub fn test_fail(file: &str, line: u32, msg: core::fmt::Arguments<'_>) {
        use core::fmt::Write;
        let mut buf = crate::print::StackBuf::<240>::new();
        let _ = buf.write_fmt(msg);
        // SAFETY: both strings are readable for the call.
        unsafe {
            crate::ffi::kmod_test_fail(
                crate::KStr::new(file),
                line,
                crate::KStr::new(buf.as_str()),
                0,
                0,
                0,
            )
        }
    }

    /// The `extern "C"` side of a [`command!`](crate::command): converts the arguments and
    /// calls the Rust handler.
    ///
    /// # Safety
    /// `argv` must point to `argc` readable [`KStr`](crate::KStr)s (or `argc` is 0).
    pub unsafe fn run_command(
        name: &str,
        argc: usize,
        argv: *const crate::KStr,
        handler: crate::Handler,
    ) -> i32 {
        let raw: &[crate::KStr] = if argc == 0 || argv.is_null() {
            &[]
        } else {
            // SAFETY: guaranteed by the caller (the kernel's command ABI).
            unsafe { core::slice::from_raw_parts(argv, argc) }
        };
        let args: super::Vec<&str> = raw
            .iter()
            // SAFETY: each argument is readable for the duration of the call.
            .map(|a| core::str::from_utf8(unsafe { a.bytes() }).unwrap_or("\u{fffd}"))
            .collect();
        match handler(&args) {
            Ok(()) => 0,
            Err(msg) => {
                crate::println!("{name}: {msg}");
                1
            }
        }
    }

    /// Maps an init result to the C convention: 0, or a negative errno.
    pub fn init_status(r: Result<(), i32>) -> i32 {
        match r {
            Ok(()) => 0,
            Err(0) => -crate::EPERM,
            Err(e) if e > 0 => -e,
            Err(e) => e,
        }
    }
}

#[cfg(test)]
mod mock;

#[cfg(test)]
mod tests;
