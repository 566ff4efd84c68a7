//! Compile-time construction of `.modinfo` / `.modexports` entries: NUL-terminated byte
//! arrays built by `const fn` from string pieces, so values can come from `env!` and
//! doc comments as well as literals.

/// One piece of an entry.
#[derive(Clone, Copy)]
pub enum Piece {
    /// Copied as is.
    Raw(&'static str),
    /// A list element: joined to a directly preceding `Item` with `,`.
    Item(&'static str),
    /// A doc-comment line: trimmed, joined to a directly preceding `Doc` with a space.
    Doc(&'static str),
}

const fn bytes_of(p: &Piece, prev: Option<&Piece>) -> (&'static [u8], bool) {
    match (p, prev) {
        (Piece::Raw(s), _) => (s.as_bytes(), false),
        (Piece::Item(s), Some(Piece::Item(_))) => (s.as_bytes(), true),
        (Piece::Item(s), _) => (s.as_bytes(), false),
        (Piece::Doc(s), prev) => {
            let t = s.trim_ascii();
            let sep = matches!(prev, Some(Piece::Doc(_))) && !t.is_empty();
            (t.as_bytes(), sep)
        }
    }
}

const fn sep_of(p: &Piece) -> u8 {
    match p {
        Piece::Item(_) => b',',
        _ => b' ',
    }
}

/// Length of the encoded entry including its terminating NUL.
pub const fn encoded_len(pieces: &[Piece]) -> usize {
    let mut n = 1;
    let mut i = 0;
    while i < pieces.len() {
        let prev = if i == 0 { None } else { Some(&pieces[i - 1]) };
        let (b, sep) = bytes_of(&pieces[i], prev);
        n += b.len() + sep as usize;
        i += 1;
    }
    n
}

/// The encoded entry. Fails to compile (const panic) if a piece contains a NUL byte or
/// `N` is not [`encoded_len`].
pub const fn encode<const N: usize>(pieces: &[Piece]) -> [u8; N] {
    assert!(N == encoded_len(pieces), "modinfo: length mismatch");
    let mut out = [0u8; N];
    let mut at = 0;
    let mut i = 0;
    while i < pieces.len() {
        let prev = if i == 0 { None } else { Some(&pieces[i - 1]) };
        let (b, sep) = bytes_of(&pieces[i], prev);
        if sep {
            out[at] = sep_of(&pieces[i]);
            at += 1;
        }
        let mut j = 0;
        while j < b.len() {
            assert!(b[j] != 0, "modinfo: strings must not contain NUL bytes");
            out[at] = b[j];
            at += 1;
            j += 1;
        }
        i += 1;
    }
    out
}
