//! Console output: `print!`/`println!` format into a stack buffer and hand the bytes to
//! `kmod_print`. No allocation, so they work in out-of-memory and panic paths too.

use crate::ffi;
use core::fmt;

/// Writes `s` to the console as is.
pub fn print_str(s: &str) {
    if !s.is_empty() {
        // SAFETY: the bytes are readable for the call.
        unsafe { ffi::kmod_print(s.as_ptr(), s.len()) };
    }
}

/// A fixed-capacity UTF-8 buffer on the stack. Writes past the end are truncated at a
/// character boundary and never fail. (Only the kernel-target panic handler uses it.)
pub(crate) struct StackBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackBuf<N> {
    pub(crate) const fn new() -> Self {
        StackBuf {
            buf: [0; N],
            len: 0,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only whole UTF-8 sequences are ever copied in.
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> fmt::Write for StackBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = N - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}

/// A `fmt::Write` over the console that batches output in a 256-byte stack buffer and
/// flushes when full and on drop.
pub struct Console {
    buf: [u8; 256],
    len: usize,
}

impl Console {
    /// An empty buffer.
    pub const fn new() -> Self {
        Console {
            buf: [0; 256],
            len: 0,
        }
    }

    /// Sends the buffered bytes to the console.
    pub fn flush(&mut self) {
        if self.len > 0 {
            // SAFETY: the bytes are readable for the call.
            unsafe { ffi::kmod_print(self.buf.as_ptr(), self.len) };
            self.len = 0;
        }
    }
}

impl Default for Console {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut bytes = s.as_bytes();
        while !bytes.is_empty() {
            if self.len == self.buf.len() {
                self.flush();
            }
            let n = bytes.len().min(self.buf.len() - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
            self.len += n;
            bytes = &bytes[n..];
        }
        Ok(())
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.flush();
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    use fmt::Write;
    let mut c = Console::new();
    let _ = c.write_fmt(args);
}

/// Prints to the console, like `std::print!`.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::__print(::core::format_args!($($arg)*))
    };
}

/// Prints to the console with a newline, like `std::println!`. A line up to 256 bytes
/// reaches the kernel in one `kmod_print` call.
#[macro_export]
macro_rules! println {
    () => {
        $crate::print_str("\n")
    };
    ($($arg:tt)*) => {
        $crate::__print(::core::format_args!("{}\n", ::core::format_args!($($arg)*)))
    };
}
