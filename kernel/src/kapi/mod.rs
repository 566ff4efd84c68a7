//! The kernel API exported to modules (C ABI). The C view is `sdk/include/kmod.h`.
//!
//! Nothing a module hands in is trusted. Every body runs inside a
//! [`recovery::InExport`] marker (a timeout or Ctrl-C waits until the export returns; a
//! fault in it is not contained). So no body may fault on a module's input: strings are
//! copied in through the fault-safe [`arch::probe::copy_from`], and memory the kernel
//! writes for a module is first checked against what that module may write
//! ([`module::current_may`]) and then written fault-safely. A bad pointer makes the
//! export return an error ([`ExportError::errno`]) and print one line saying so.

use crate::fault::recovery::{self, InExport};
use crate::kexport;
use crate::module::{self, Access};
use core::fmt;
use kabi::ffi::KStr;

pub use kabi::ffi::CmdFn;

/// Longest string an export copies in for a name.
const NAME_MAX: usize = 64;
/// Longest help text or panic message.
const TEXT_MAX: usize = 256;
/// Most bytes one `kmod_print` writes.
const PRINT_MAX: usize = 64 << 10;

/// Why an export refused what a module handed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportError {
    /// `[addr, addr+len)` cannot be read.
    Unreadable {
        /// Start.
        addr: u64,
        /// Length.
        len: usize,
    },
    /// `[addr, addr+len)` is not memory the module may have the kernel write.
    NotWritable {
        /// Start.
        addr: u64,
        /// Length.
        len: usize,
    },
    /// A string longer than the export takes.
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A name that is not UTF-8.
    NotUtf8,
    /// A code pointer outside the module's text.
    NotCode(u64),
}

impl ExportError {
    /// The negative errno the export returns.
    pub fn errno(&self) -> i32 {
        match self {
            ExportError::Unreadable { .. } | ExportError::NotWritable { .. } => -14,
            ExportError::TooLong { .. } | ExportError::NotUtf8 | ExportError::NotCode(_) => -22,
        }
    }
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Unreadable { addr, len } => {
                write!(f, "unreadable pointer {addr:#x} ({len} bytes)")
            }
            ExportError::NotWritable { addr, len } => write!(
                f,
                "pointer {addr:#x} ({len} bytes) is not the module's data, heap or stack"
            ),
            ExportError::TooLong { len, max } => {
                write!(f, "{len} bytes is longer than the {max}-byte limit")
            }
            ExportError::NotUtf8 => f.write_str("not UTF-8"),
            ExportError::NotCode(a) => write!(f, "{a:#x} is not in the module's text"),
        }
    }
}

/// Prints why `export` refused the running module's input; returns the errno.
fn refuse(export: &str, e: ExportError) -> i32 {
    let who = module::current().unwrap_or_default();
    crate::println!("{who}: {export}: {e}; returning {}", e.errno());
    e.errno()
}

/// Copies a module string into `buf`; `TooLong` when it does not fit.
fn copy_in(s: KStr, buf: &mut [u8]) -> Result<&[u8], ExportError> {
    if s.len == 0 {
        return Ok(&[]);
    }
    if s.len > buf.len() {
        return Err(ExportError::TooLong {
            len: s.len,
            max: buf.len(),
        });
    }
    let dst = &mut buf[..s.len];
    if !arch::probe::copy_from(s.ptr as u64, dst) {
        return Err(ExportError::Unreadable {
            addr: s.ptr as u64,
            len: s.len,
        });
    }
    Ok(dst)
}

/// Copies a module string in as UTF-8.
fn copy_str(s: KStr, buf: &mut [u8]) -> Result<&str, ExportError> {
    core::str::from_utf8(copy_in(s, buf)?).map_err(|_| ExportError::NotUtf8)
}

kexport!(
    /// Writes bytes to the console: 0, -14 (unreadable; the bytes before are written) or
    /// -22 (more than 64 KiB).
    fn kmod_print(ptr: *const u8, len: usize) -> i32 {
        let _in = InExport::enter();
        if len > PRINT_MAX {
            return refuse(
                "kmod_print",
                ExportError::TooLong {
                    len,
                    max: PRINT_MAX,
                },
            );
        }
        let mut buf = [0u8; TEXT_MAX];
        let mut done = 0;
        while done < len {
            let n = (len - done).min(buf.len());
            let chunk = KStr {
                ptr: (ptr as u64).wrapping_add(done as u64) as *const u8,
                len: n,
            };
            match copy_in(chunk, &mut buf) {
                Ok(b) => crate::platform::console::write_bytes(b),
                Err(_) => {
                    let e = ExportError::Unreadable {
                        addr: ptr as u64,
                        len,
                    };
                    return refuse("kmod_print", e);
                }
            }
            done += n;
        }
        0
    }
);

kexport!(
    /// Allocates from the kernel heap (null on failure or a bad layout).
    fn kmod_alloc(size: usize, align: usize) -> *mut u8 {
        let _in = InExport::enter();
        crate::module::heap::alloc(size, align)
    }
);

kexport!(
    /// Frees memory from `kmod_alloc` (only blocks the calling module holds; the size and
    /// alignment are those recorded at allocation).
    fn kmod_free(ptr: *mut u8, _size: usize, _align: usize) {
        let _in = InExport::enter();
        crate::module::heap::free(ptr as usize)
    }
);

kexport!(
    /// Resizes memory from `kmod_alloc`.
    fn kmod_realloc(ptr: *mut u8, _size: usize, _align: usize, new_size: usize) -> *mut u8 {
        let _in = InExport::enter();
        crate::module::heap::realloc(ptr as usize, new_size)
    }
);

kexport!(
    /// Microseconds since boot.
    fn kmod_uptime_us() -> u64 {
        boards::timer::uptime_us()
    }
);

kexport!(
    /// Busy-waits (at most 10 s; returns early when the call is due to be abandoned, so
    /// that a timeout or Ctrl-C is not held up).
    fn kmod_delay_us(us: u64) {
        let _in = InExport::enter();
        let mut left = us.min(10_000_000);
        while left > 0 && recovery::abandon_due().is_none() {
            let step = left.min(1000);
            boards::timer::delay_us(step);
            left -= step;
        }
    }
);

kexport!(
    /// Registers a shell command owned by the calling module. 0, -17 (exists), -28 (the
    /// module has 64 commands already), -22 or -14.
    fn kmod_register_command(name: KStr, help: KStr, handler: CmdFn) -> i32 {
        let _in = InExport::enter();
        let (mut nb, mut hb) = ([0u8; NAME_MAX], [0u8; TEXT_MAX]);
        let (name, help) = match (copy_str(name, &mut nb), copy_str(help, &mut hb)) {
            (Ok(n), Ok(h)) => (n, h),
            (Err(e), _) | (_, Err(e)) => return refuse("kmod_register_command", e),
        };
        let code = handler as usize as u64;
        if !module::current_may(Access::Code, code, 4) {
            return refuse("kmod_register_command", ExportError::NotCode(code));
        }
        let Some(owner) = crate::module::current() else {
            return -1;
        };
        match crate::cmd::register_module_command(name, help, handler, &owner) {
            Ok(()) => 0,
            Err(crate::cmd::RegisterError::Exists) => -17,
            Err(crate::cmd::RegisterError::TooMany) => -28,
            Err(_) => -22,
        }
    }
);

kexport!(
    /// Removes a shell command the calling module registered: 0, -2 (no such command),
    /// -1 (not the caller's: the kernel's own commands and other modules' stay) or -14.
    fn kmod_unregister_command(name: KStr) -> i32 {
        let _in = InExport::enter();
        let mut nb = [0u8; NAME_MAX];
        let n = match copy_in(name, &mut nb) {
            Ok(n) => n,
            Err(ExportError::TooLong { .. }) => return -2,
            Err(e) => return refuse("kmod_unregister_command", e),
        };
        let (Ok(n), Some(owner)) = (core::str::from_utf8(n), crate::module::current()) else {
            return -2;
        };
        match crate::cmd::unregister(n, &owner) {
            Ok(()) => 0,
            Err(crate::cmd::UnregisterError::NotFound) => -2,
            Err(crate::cmd::UnregisterError::NotOwner) => -1,
        }
    }
);

kexport!(
    /// The value of an insmod parameter of the module being initialised. 0, -2, -14 or
    /// -22.
    fn kmod_param(name: KStr, out: *mut KStr) -> i32 {
        let _in = InExport::enter();
        let mut nb = [0u8; NAME_MAX];
        let name = match copy_str(name, &mut nb) {
            Ok(n) => n,
            Err(ExportError::TooLong { .. }) => return -2,
            Err(e) => return refuse("kmod_param", e),
        };
        let size = core::mem::size_of::<KStr>();
        let addr = out as u64;
        if !addr.is_multiple_of(8) || !module::current_may(Access::Write, addr, size as u64) {
            return refuse("kmod_param", ExportError::NotWritable { addr, len: size });
        }
        let Some((ptr, len)) = crate::module::current_param(name) else {
            return -2;
        };
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&(ptr as u64).to_ne_bytes());
        bytes[8..].copy_from_slice(&(len as u64).to_ne_bytes());
        // The value lives in the kernel's copy of the parameters for the running call
        // (valid during that call only, as the SDK says).
        // SAFETY: the range is the module's own writable memory or its stack (checked above).
        if !unsafe { arch::probe::copy_to(addr, &bytes) } {
            return refuse("kmod_param", ExportError::NotWritable { addr, len: size });
        }
        0
    }
);

kexport!(
    /// Records a failed test assertion of the running test (`KASSERT`, `kassert!`): the
    /// file, the line, the expression and, when `has_values` is set, both values.
    fn kmod_test_fail(file: KStr, line: u32, expr: KStr, left: i64, right: i64, has_values: i32) {
        let _in = InExport::enter();
        let (mut fb, mut eb) = ([0u8; TEXT_MAX], [0u8; TEXT_MAX]);
        let cut = |s: KStr| KStr {
            ptr: s.ptr,
            len: s.len.min(TEXT_MAX),
        };
        let show = |r: Result<&[u8], ExportError>| match r {
            Ok(b) => alloc::format!(
                "{}",
                klib::escape::Escaped(&alloc::string::String::from_utf8_lossy(b))
            ),
            Err(e) => alloc::format!("<{e}>"),
        };
        let file = show(copy_in(cut(file), &mut fb));
        let expr = show(copy_in(cut(expr), &mut eb));
        let text = if has_values != 0 {
            alloc::format!("{file}:{line}: {expr} failed: left {left}, right {right}")
        } else {
            alloc::format!("{file}:{line}: {expr} failed")
        };
        if !crate::module::testrun::record_failure(text) {
            crate::println!("kmod_test_fail: no test is running ({file}:{line})");
        }
    }
);

kexport!(
    /// Raises the oops path with a message; never returns.
    fn kmod_panic(msg: KStr) -> ! {
        let _in = InExport::enter();
        let mut buf = [0u8; TEXT_MAX];
        let shown = KStr {
            ptr: msg.ptr,
            len: msg.len.min(TEXT_MAX),
        };
        crate::module::note_module_panic();
        match copy_in(shown, &mut buf) {
            Ok(b) => {
                let valid = match core::str::from_utf8(b) {
                    Ok(t) => t,
                    // A message cut at the limit inside a character: keep what is whole.
                    Err(e) => core::str::from_utf8(&b[..e.valid_up_to()]).unwrap_or(""),
                };
                panic!("{valid}")
            }
            Err(e) => panic!("<kmod_panic message: {e}>"),
        }
    }
);
