//! The built-in module archive: the `.kmodules` section the build fills after linking.
//!
//! Little endian: `"KMODARC1"`, u32 count, then per module: u16 name length, the name,
//! u32 size, the bytes, zero padding to a multiple of 8.

/// The archive's magic.
pub const MAGIC: &[u8; 8] = b"KMODARC1";

/// The `(name, bytes)` entries of an archive. A damaged archive ends the iteration at the
/// first entry that does not fit; one without the magic has no entries.
pub fn entries(a: &[u8]) -> impl Iterator<Item = (&str, &[u8])> {
    let count = if a.get(..8) == Some(MAGIC) {
        a.get(8..12)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .unwrap_or(0)
    } else {
        0
    };
    let mut off = 12usize;
    (0..count).map_while(move |_| {
        let nl = a
            .get(off..off.checked_add(2)?)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)?;
        let name_end = off.checked_add(2 + nl)?;
        let name = core::str::from_utf8(a.get(off + 2..name_end)?).ok()?;
        let size = a
            .get(name_end..name_end.checked_add(4)?)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)?;
        let start = name_end + 4;
        let bytes = a.get(start..start.checked_add(size)?)?;
        off = (start + size).checked_add(7)? & !7;
        Some((name, bytes))
    })
}

/// Writes an archive of `(name, bytes)` modules.
#[cfg(feature = "alloc")]
pub fn write<'a>(
    modules: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Result<alloc::vec::Vec<u8>, WriteError> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[0; 4]);
    let mut n = 0u32;
    for (name, bytes) in modules {
        let nl = u16::try_from(name.len()).map_err(|_| WriteError::NameTooLong)?;
        let size = u32::try_from(bytes.len()).map_err(|_| WriteError::TooLarge)?;
        out.extend_from_slice(&nl.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(bytes);
        while !out.len().is_multiple_of(8) {
            out.push(0);
        }
        n += 1;
    }
    out[8..12].copy_from_slice(&n.to_le_bytes());
    Ok(out)
}

/// Why an archive cannot be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteError {
    /// A name longer than 65,535 bytes.
    NameTooLong,
    /// A module of 4 GiB or more.
    TooLarge,
}

impl core::fmt::Display for WriteError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            WriteError::NameTooLong => "module name longer than 65535 bytes",
            WriteError::TooLarge => "module of 4 GiB or more",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn round_trip_and_damage() {
        let a = write([("hello", &b"abc"[..]), ("x", &[7u8; 9][..])]).unwrap();
        assert_eq!(a.len() % 8, 0);
        let e: Vec<_> = entries(&a).collect();
        assert_eq!(e, [("hello", &b"abc"[..]), ("x", &[7u8; 9][..])]);
        // Truncated anywhere: a prefix of the entries, never a panic.
        for cut in 0..a.len() {
            assert!(entries(&a[..cut]).count() <= 2);
        }
        let mut huge = a.clone();
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(entries(&huge).count(), 2);
        assert_eq!(entries(&[0u8; 64]).count(), 0);
        assert_eq!(write([]).unwrap(), b"KMODARC1\0\0\0\0");
    }
}
