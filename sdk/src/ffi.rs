//! The kernel's exports, exactly as `sdk/include/kmod.h` declares them.
//!
//! Every function here is resolved when the kernel links the module; calling one is
//! `unsafe` only because it is foreign code. The safe wrappers live at the crate root.

pub use kabi::ffi::{CmdFn, KStr};

extern "C" {
    /// Writes bytes to the console: 0, -14 (EFAULT: unreadable bytes; those before them
    /// are written) or -22 (more than 64 KiB).
    pub fn kmod_print(bytes: *const u8, len: usize) -> i32;
    /// Allocates from the kernel heap; null on failure.
    pub fn kmod_alloc(size: usize, align: usize) -> *mut u8;
    /// Frees memory from `kmod_alloc` (only blocks the calling module holds).
    pub fn kmod_free(ptr: *mut u8, size: usize, align: usize);
    /// Resizes memory from `kmod_alloc`; null on failure (the old block stays valid).
    pub fn kmod_realloc(ptr: *mut u8, size: usize, align: usize, new_size: usize) -> *mut u8;
    /// Microseconds since boot.
    pub fn kmod_uptime_us() -> u64;
    /// Busy-waits.
    pub fn kmod_delay_us(us: u64);
    /// Registers a shell command owned by the calling module: 0, -17 (exists), -22 (bad
    /// name, or a handler outside the module's text) or -14 (unreadable strings).
    pub fn kmod_register_command(name: KStr, help: KStr, handler: CmdFn) -> i32;
    /// Removes a shell command the calling module registered: 0, -2 (no such command),
    /// -1 (the kernel's or another module's: it stays) or -14 (bad pointer).
    pub fn kmod_unregister_command(name: KStr) -> i32;
    /// The value given for parameter `name` at insmod time (valid during the current call
    /// into the module only). 0 and fills `*out`, -2 when the parameter was not given,
    /// -14 (EFAULT) when `name` is unreadable or `out` is not memory the module may write
    /// (its data, its heap blocks, the stack).
    pub fn kmod_param(name: KStr, out: *mut KStr) -> i32;
    /// Reports a failed test assertion: file, line, the expression and, when `has_values`
    /// is non-zero, both values (the Rust macros put formatted values into `expr`).
    pub fn kmod_test_fail(
        file: KStr,
        line: u32,
        expr: KStr,
        left: i64,
        right: i64,
        has_values: i32,
    );
    /// Raises the kernel's oops path with a message. Does not return.
    pub fn kmod_panic(message: KStr) -> !;
}

/// Names of every kernel export declared above (checked against `kmod.h` by a test).
pub const EXPORTS: &[&str] = &[
    "kmod_alloc",
    "kmod_delay_us",
    "kmod_free",
    "kmod_panic",
    "kmod_param",
    "kmod_print",
    "kmod_realloc",
    "kmod_register_command",
    "kmod_test_fail",
    "kmod_unregister_command",
    "kmod_uptime_us",
];
