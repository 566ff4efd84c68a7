//! The C-ABI types of the module interface (`sdk/include/kmod.h`).

/// A byte string passed by value (two registers): `struct kmod_str`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct KStr {
    /// First byte (need not be NUL-terminated; UTF-8 expected, not required).
    pub ptr: *const u8,
    /// Length in bytes.
    pub len: usize,
}

impl KStr {
    /// An empty string (null pointer, length 0).
    pub const EMPTY: KStr = KStr {
        ptr: core::ptr::null(),
        len: 0,
    };

    /// Borrows `s` (valid as long as `s` is).
    pub const fn new(s: &str) -> KStr {
        KStr {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// The bytes.
    ///
    /// # Safety
    /// `ptr..ptr+len` must be readable for `'a` (or `len` is 0 or `ptr` null).
    #[allow(unsafe_code)]
    pub unsafe fn bytes<'a>(&self) -> &'a [u8] {
        if self.ptr.is_null() || self.len == 0 {
            return &[];
        }
        // SAFETY: guaranteed by the caller.
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// A shell command handler (`kmod_cmd_fn`): `argv[0..argc)` are the arguments after the
/// command name. Returns 0, or a non-zero status the shell reports.
pub type CmdFn = extern "C" fn(argc: usize, argv: *const KStr) -> i32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kstr_layout_and_bytes() {
        assert_eq!(core::mem::size_of::<KStr>(), 16);
        let s = KStr::new("abc");
        #[allow(unsafe_code)]
        // SAFETY: borrows a live literal.
        let b = unsafe { s.bytes() };
        assert_eq!(b, b"abc");
        #[allow(unsafe_code)]
        // SAFETY: the empty string has no bytes to read.
        let e = unsafe { KStr::EMPTY.bytes() };
        assert!(e.is_empty());
    }
}
