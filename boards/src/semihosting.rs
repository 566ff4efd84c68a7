//! Arm semihosting (the "Semihosting for AArch32 and AArch64" specification), as QEMU
//! implements it with `-semihosting`.
//!
//! Calls trap with `hlt #0xf000`. Without `-semihosting` that instruction is undefined;
//! the call is registered in the exception fixup table so the kernel's handler turns the
//! fault into "semihosting unavailable" instead of an oops.

use core::sync::atomic::{AtomicU8, Ordering};

core::arch::global_asm!(
    r#"
    .section .text.semihosting, "ax"
    .global __semihost_call
    .type __semihost_call, %function
    // w0 = operation, x1 = parameter block. Returns x0 = result, x1 = 0, or x1 = 1 when
    // semihosting is not enabled (the hlt faulted and the fixup ran).
__semihost_call:
1:  hlt     #0xf000
    mov     x1, #0
    ret
2:  mov     x0, #-1
    mov     x1, #1
    ret
    .size __semihost_call, . - __semihost_call
    .section __ex_table, "a"
    .balign 8
    .quad 1b, 2b
"#
);

#[repr(C)]
struct CallResult {
    value: u64,
    unavailable: u64,
}

extern "C" {
    fn __semihost_call(op: u64, param: *const u64) -> CallResult;
}

const SYS_OPEN: u64 = 0x01;
const SYS_CLOSE: u64 = 0x02;
const SYS_WRITE: u64 = 0x05;
const SYS_READ: u64 = 0x06;
const SYS_FLEN: u64 = 0x0c;
const SYS_ERRNO: u64 = 0x13;
const SYS_GET_CMDLINE: u64 = 0x15;
const SYS_EXIT: u64 = 0x18;
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;

/// 0 = not probed yet, 1 = available, 2 = unavailable.
static STATE: AtomicU8 = AtomicU8::new(0);

/// Semihosting errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// QEMU was started without `-semihosting`.
    Unavailable,
    /// The host reported an error; the value is the host's errno.
    Host(u64),
    /// A path or argument could not be passed (too long, contains NUL).
    BadArgument,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Unavailable => {
                f.write_str("semihosting is not enabled (start QEMU with -semihosting)")
            }
            Error::Host(2) => f.write_str("no such file on the host (errno 2)"),
            Error::Host(13) => f.write_str("permission denied on the host (errno 13)"),
            Error::Host(e) => write!(f, "host error, errno {e}"),
            Error::BadArgument => f.write_str("bad argument"),
        }
    }
}

fn call(op: u64, param: *const u64) -> Result<u64, Error> {
    if STATE.load(Ordering::Relaxed) == 2 {
        return Err(Error::Unavailable);
    }
    // SAFETY: `param` points at a parameter block that lives across the call, laid out as
    // the specification requires for `op`; the trap is covered by a fixup entry.
    let r = unsafe { __semihost_call(op, param) };
    if r.unavailable != 0 {
        STATE.store(2, Ordering::Relaxed);
        return Err(Error::Unavailable);
    }
    STATE.store(1, Ordering::Relaxed);
    Ok(r.value)
}

fn errno() -> u64 {
    call(SYS_ERRNO, core::ptr::null()).unwrap_or(0)
}

/// Whether QEMU was started with semihosting enabled (probes once).
pub fn available() -> bool {
    if STATE.load(Ordering::Relaxed) == 0 {
        let _ = call(SYS_ERRNO, core::ptr::null());
    }
    STATE.load(Ordering::Relaxed) == 1
}

/// Ends the QEMU process with `status` as its exit code. Returns only when semihosting is
/// unavailable.
pub fn exit(status: u32) -> Error {
    let block = [ADP_STOPPED_APPLICATION_EXIT, status as u64];
    match call(SYS_EXIT, block.as_ptr()) {
        Err(e) => e,
        Ok(_) => Error::Unavailable,
    }
}

/// An open host file.
pub struct File {
    handle: u64,
}

impl File {
    /// Opens `path` on the host for binary reading.
    pub fn open(path: &str) -> Result<File, Error> {
        let mut buf = [0u8; 256];
        let bytes = path.as_bytes();
        if bytes.len() >= buf.len() || bytes.contains(&0) {
            return Err(Error::BadArgument);
        }
        buf[..bytes.len()].copy_from_slice(bytes);
        let block = [buf.as_ptr() as u64, 1 /* "rb" */, bytes.len() as u64];
        let h = call(SYS_OPEN, block.as_ptr())?;
        if h as i64 == -1 {
            return Err(Error::Host(errno()));
        }
        Ok(File { handle: h })
    }

    /// The file's length in bytes.
    pub fn len(&self) -> Result<u64, Error> {
        let block = [self.handle];
        let n = call(SYS_FLEN, block.as_ptr())?;
        if n as i64 == -1 {
            return Err(Error::Host(errno()));
        }
        Ok(n)
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> Result<bool, Error> {
        Ok(self.len()? == 0)
    }

    /// Reads up to `buf.len()` bytes; returns how many were read (0 at end of file).
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        let block = [self.handle, buf.as_mut_ptr() as u64, buf.len() as u64];
        let not_read = call(SYS_READ, block.as_ptr())?;
        if not_read > buf.len() as u64 {
            return Err(Error::Host(errno()));
        }
        Ok(buf.len() - not_read as usize)
    }
}

impl Drop for File {
    fn drop(&mut self) {
        let block = [self.handle];
        let _ = call(SYS_CLOSE, block.as_ptr());
    }
}

/// Writes bytes to the host's stdout.
pub fn write_stdout(bytes: &[u8]) -> Result<(), Error> {
    let block = [1u64, bytes.as_ptr() as u64, bytes.len() as u64];
    call(SYS_WRITE, block.as_ptr()).map(|_| ())
}

/// Copies the command line QEMU was given (`-append`) into `buf`; returns its length.
pub fn cmdline(buf: &mut [u8]) -> Result<usize, Error> {
    let block = [buf.as_mut_ptr() as u64, buf.len() as u64];
    let r = call(SYS_GET_CMDLINE, block.as_ptr())?;
    if r != 0 {
        return Err(Error::Host(errno()));
    }
    Ok(buf.iter().position(|&b| b == 0).unwrap_or(buf.len()))
}
