//! Modules built into the boot image.
//!
//! The linker script reserves `.kmodules`; `cargo xtask build` fills it after linking with
//! an archive of `target/modules/*.ko` (no address moves). Format, little endian:
//! `"KMODARC1"`, u32 count, then per module: u16 name length, name, u32 size, the bytes,
//! padding to 8.

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
    let a = archive();
    let ok = a.get(..8) == Some(b"KMODARC1");
    let count = if ok {
        a.get(8..12)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .unwrap_or(0)
    } else {
        0
    };
    let mut off = 12usize;
    (0..count).map_while(move |_| {
        let nl = a
            .get(off..off + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)?;
        let name = core::str::from_utf8(a.get(off + 2..off + 2 + nl)?).ok()?;
        let p = off + 2 + nl;
        let size = a
            .get(p..p + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)?;
        let bytes = a.get(p + 4..p + 4 + size)?;
        off = (p + 4 + size + 7) & !7;
        Some((name, bytes))
    })
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
