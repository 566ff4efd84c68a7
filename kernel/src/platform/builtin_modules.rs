//! Modules built into the boot image.
//!
//! The linker script reserves `.kmodules`; `cargo xtask build` fills it after linking with
//! an archive of `target/modules/*.ko` (no address moves), in the format of
//! [`kabi::archive`].

use alloc::string::String;
use alloc::vec::Vec;

extern "C" {
    static __kmodules_start: u8;
    static __kmodules_end: u8;
}

fn archive() -> &'static [u8] {
    // SAFETY: the linker script brackets the reserved, read-only `.kmodules` section.
    unsafe {
        let s = core::ptr::addr_of!(__kmodules_start);
        let e = core::ptr::addr_of!(__kmodules_end);
        core::slice::from_raw_parts(s, e as usize - s as usize)
    }
}

fn entries() -> impl Iterator<Item = (&'static str, &'static [u8])> {
    kabi::archive::entries(archive())
}

/// A built-in module's bytes by name.
pub fn find(name: &str) -> Option<&'static [u8]> {
    entries().find(|(n, _)| *n == name).map(|(_, b)| b)
}

/// Names of the built-in modules.
pub fn names() -> Vec<String> {
    entries().map(|(n, _)| String::from(n)).collect()
}

/// Space reserved for the archive.
pub const RESERVED: usize = 1 << 20;

#[link_section = ".kmodules"]
#[used]
static RESERVE: [u8; RESERVED] = [0; RESERVED];
