//! `.modinfo` (NUL-separated `key=value` strings) and `.modexports` (NUL-separated export
//! names), and the `depends=` list.

/// Why a `.modinfo` entry is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryError {
    /// Not UTF-8.
    NotUtf8,
    /// No `=`, or nothing before it.
    NoEquals,
}

impl core::fmt::Display for EntryError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            EntryError::NotUtf8 => "entry is not UTF-8",
            EntryError::NoEquals => "entry is not key=value",
        })
    }
}

/// The non-empty NUL-separated strings of a section.
pub fn strings(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|&b| b == 0).filter(|s| !s.is_empty())
}

/// One `key=value` entry.
pub fn entry(raw: &[u8]) -> Result<(&str, &str), EntryError> {
    let text = core::str::from_utf8(raw).map_err(|_| EntryError::NotUtf8)?;
    text.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .ok_or(EntryError::NoEquals)
}

/// The `key=value` entries of a `.modinfo` section, in order.
pub fn entries(data: &[u8]) -> impl Iterator<Item = Result<(&str, &str), EntryError>> {
    strings(data).map(entry)
}

/// The export names of a `.modexports` section (entries that are not UTF-8 are skipped).
pub fn exports(data: &[u8]) -> impl Iterator<Item = &str> {
    strings(data).filter_map(|s| core::str::from_utf8(s).ok())
}

/// The module names of a `depends=` value: comma separated, blanks trimmed, empty
/// entries dropped.
pub fn depends(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sections() {
        let mi = b"name=hello\0\0depends= a, b,,\0bad\0";
        let e: alloc::vec::Vec<_> = entries(mi).collect();
        assert_eq!(e[0], Ok(("name", "hello")));
        assert_eq!(e[1], Ok(("depends", " a, b,,")));
        assert_eq!(e[2], Err(EntryError::NoEquals));
        assert_eq!(entries(b"\xff=1").next(), Some(Err(EntryError::NotUtf8)));
        assert_eq!(entry(b"=v"), Err(EntryError::NoEquals));
        let d: alloc::vec::Vec<_> = depends(" a, b,,").collect();
        assert_eq!(d, ["a", "b"]);
        assert_eq!(depends("").count(), 0);
        let x: alloc::vec::Vec<_> = exports(b"pair_add\0pair_calls\0").collect();
        assert_eq!(x, ["pair_add", "pair_calls"]);
    }
}
