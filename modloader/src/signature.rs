//! Module signatures: the trailer appended to a signed `.ko`, the kernel's key ring, and
//! verification (Ed25519 through `ed25519-dalek`; no cryptography is written here).
//!
//! A signed module is the module's ELF file followed by a trailer, laid out as Linux's
//! `MODULE_SIG` does (`include/linux/module_signature.h`), so the file stays a valid ELF
//! for every tool:
//!
//! ```text
//! ELF bytes                 the signed message: every byte before the key ID
//! key ID        8 bytes     first 8 bytes of SHA-512(public key)
//! signature    64 bytes     Ed25519 over the ELF bytes
//! info         12 bytes     algo=1 (Ed25519), hash=0 (none: Ed25519 hashes itself),
//!                           id_type=3 (raw key ID), signer_len=0, key_id_len=8,
//!                           3 zero bytes, sig_len=64 (u32 big endian)
//! marker       28 bytes     "~Module signature appended~\n"
//! ```
//!
//! Every byte of the trailer is checked: a changed key ID names an unknown key, a changed
//! signature fails verification, and any other changed byte is a malformed trailer.
//!
//! The key ring is what the kernel image embeds (section `.modkeys`, filled in by the
//! build): `"KMODKEY1"`, u32 flags (bit 0: refuse unsigned modules by default), u32 key
//! count, then per key a 128-byte entry: the 32-byte Ed25519 public key, a u8 name length
//! and up to [`MAX_KEY_NAME`] bytes of UTF-8 name, zero padded.

use alloc::vec::Vec;
use core::fmt;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha512};

/// The marker that ends a signed module.
pub const MARKER: &[u8; 28] = b"~Module signature appended~\n";
/// `algo` of an Ed25519 signature.
pub const ALGO_ED25519: u8 = 1;
/// `hash` of an Ed25519 signature: none (Ed25519 hashes the message itself, with SHA-512).
pub const HASH_NONE: u8 = 0;
/// `id_type` of a raw key ID.
pub const ID_TYPE_KEY_ID: u8 = 3;
/// Bytes of a key ID.
pub const KEY_ID_LEN: usize = 8;
/// Bytes of an Ed25519 signature.
pub const SIG_LEN: usize = 64;
/// Bytes of the fixed `module_signature` record.
pub const INFO_LEN: usize = 12;
/// Bytes the trailer adds to a module.
pub const TRAILER_LEN: usize = KEY_ID_LEN + SIG_LEN + INFO_LEN + MARKER.len();

/// Magic of the embedded key ring.
pub const RING_MAGIC: &[u8; 8] = b"KMODKEY1";
/// Bytes of one key-ring entry.
pub const RING_ENTRY: usize = 128;
/// Longest key name in the ring.
pub const MAX_KEY_NAME: usize = RING_ENTRY - 32 - 1;
/// Key-ring flag: refuse modules that are not signed by a known key (`MODULE_SIG_FORCE`).
pub const FLAG_ENFORCE: u32 = 1;

/// A key ID: the first 8 bytes of SHA-512 of the Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct KeyId(pub [u8; KEY_ID_LEN]);

impl KeyId {
    /// The ID of a public key.
    pub fn of(public: &[u8; 32]) -> KeyId {
        let h = Sha512::digest(public);
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&h[..KEY_ID_LEN]);
        KeyId(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Which field of a trailer is wrong.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Malformed {
    /// `algo` is not Ed25519.
    Algorithm(u8),
    /// `hash` is not "none".
    Hash(u8),
    /// `id_type` is not a raw key ID.
    IdType(u8),
    /// A signer name is present (this format has none).
    SignerLen(u8),
    /// `key_id_len` is not 8.
    KeyIdLen(u8),
    /// The padding is not zero.
    Padding,
    /// `sig_len` is not 64.
    SigLen(u32),
    /// The file ends inside a trailer (a cut-off marker).
    Truncated,
    /// The marker appears, but not at the end of the file.
    TrailingData(usize),
    /// The trailer is longer than the file.
    TooShort(usize),
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Algorithm(a) => write!(f, "unknown algorithm {a} (expected 1, Ed25519)"),
            Malformed::Hash(h) => write!(f, "unknown hash {h} (expected 0)"),
            Malformed::IdType(t) => write!(f, "unknown key ID type {t} (expected 3)"),
            Malformed::SignerLen(n) => write!(f, "signer length {n} (expected 0)"),
            Malformed::KeyIdLen(n) => write!(f, "key ID length {n} (expected 8)"),
            Malformed::Padding => f.write_str("non-zero padding"),
            Malformed::SigLen(n) => write!(f, "signature length {n} (expected 64)"),
            Malformed::Truncated => f.write_str("the file ends inside the signature trailer"),
            Malformed::TrailingData(n) => {
                write!(f, "{n} bytes after the signature marker")
            }
            Malformed::TooShort(n) => write!(
                f,
                "a {n}-byte file cannot hold a {TRAILER_LEN}-byte signature trailer"
            ),
        }
    }
}

/// Why a module's signature was not accepted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SigError {
    /// No signature trailer at all.
    Unsigned,
    /// A trailer that cannot be parsed.
    Malformed(Malformed),
    /// Signed by a key the kernel does not hold.
    UnknownKey(KeyId),
    /// The signature does not match the bytes (or the key).
    BadSignature(KeyId),
}

impl SigError {
    /// Whether permissive mode may still load the module (tainted), as Linux does for
    /// unsigned modules and unknown keys. Unparseable and failed signatures are always
    /// refused.
    pub fn permissible(&self) -> bool {
        matches!(self, SigError::Unsigned | SigError::UnknownKey(_))
    }
}

impl fmt::Display for SigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SigError::Unsigned => f.write_str("no signature"),
            SigError::Malformed(m) => write!(f, "malformed signature trailer: {m}"),
            SigError::UnknownKey(id) => write!(f, "signed with unknown key {id}"),
            SigError::BadSignature(id) => write!(f, "bad signature (key {id})"),
        }
    }
}

/// A parsed trailer.
#[derive(Clone, Copy, Debug)]
pub struct Trailer<'a> {
    /// The signed bytes: the module's ELF file.
    pub message: &'a [u8],
    /// Who signed.
    pub key_id: KeyId,
    /// The Ed25519 signature.
    pub signature: [u8; SIG_LEN],
}

/// Finds and parses the trailer of `file`. `Err(Unsigned)` when there is none.
pub fn parse(file: &[u8]) -> Result<Trailer<'_>, SigError> {
    if !file.ends_with(MARKER) {
        return Err(unsigned_or_damaged(file));
    }
    if file.len() < TRAILER_LEN {
        return Err(SigError::Malformed(Malformed::TooShort(file.len())));
    }
    let t = &file[file.len() - TRAILER_LEN..];
    let info = &t[KEY_ID_LEN + SIG_LEN..KEY_ID_LEN + SIG_LEN + INFO_LEN];
    let bad = |m| Err(SigError::Malformed(m));
    if info[0] != ALGO_ED25519 {
        return bad(Malformed::Algorithm(info[0]));
    }
    if info[1] != HASH_NONE {
        return bad(Malformed::Hash(info[1]));
    }
    if info[2] != ID_TYPE_KEY_ID {
        return bad(Malformed::IdType(info[2]));
    }
    if info[3] != 0 {
        return bad(Malformed::SignerLen(info[3]));
    }
    if info[4] as usize != KEY_ID_LEN {
        return bad(Malformed::KeyIdLen(info[4]));
    }
    if info[5..8] != [0, 0, 0] {
        return bad(Malformed::Padding);
    }
    let sig_len = u32::from_be_bytes([info[8], info[9], info[10], info[11]]);
    if sig_len as usize != SIG_LEN {
        return bad(Malformed::SigLen(sig_len));
    }
    let mut key_id = [0u8; KEY_ID_LEN];
    key_id.copy_from_slice(&t[..KEY_ID_LEN]);
    let mut signature = [0u8; SIG_LEN];
    signature.copy_from_slice(&t[KEY_ID_LEN..KEY_ID_LEN + SIG_LEN]);
    Ok(Trailer {
        message: &file[..file.len() - TRAILER_LEN],
        key_id: KeyId(key_id),
        signature,
    })
}

/// A file without the marker at its end: plainly unsigned, or a damaged trailer (a
/// cut-off marker, or bytes after it).
fn unsigned_or_damaged(file: &[u8]) -> SigError {
    // The end of the file is a proper prefix of the marker of at least 8 bytes: cut off.
    for n in (8..MARKER.len()).rev() {
        if file.ends_with(&MARKER[..n]) {
            return SigError::Malformed(Malformed::Truncated);
        }
    }
    // The marker near the end, with bytes after it.
    let tail_from = file.len().saturating_sub(4096);
    let tail = &file[tail_from..];
    if let Some(p) = tail.windows(MARKER.len()).rposition(|w| w == MARKER) {
        return SigError::Malformed(Malformed::TrailingData(tail.len() - p - MARKER.len()));
    }
    SigError::Unsigned
}

/// The bytes of `file` without a well-formed trailer (the whole file if it has none).
pub fn strip(file: &[u8]) -> &[u8] {
    match parse(file) {
        Ok(t) => t.message,
        Err(_) => file,
    }
}

/// Signs `elf` with the Ed25519 key whose 32-byte seed is `secret`: returns the file with
/// its trailer. A trailer already present is replaced.
pub fn sign(elf: &[u8], secret: &[u8; 32]) -> Vec<u8> {
    let message = strip(elf);
    let key = SigningKey::from_bytes(secret);
    let public = key.verifying_key().to_bytes();
    let signature = key.sign(message).to_bytes();
    let mut out = Vec::with_capacity(message.len() + TRAILER_LEN);
    out.extend_from_slice(message);
    out.extend_from_slice(&KeyId::of(&public).0);
    out.extend_from_slice(&signature);
    out.extend_from_slice(&[
        ALGO_ED25519,
        HASH_NONE,
        ID_TYPE_KEY_ID,
        0,
        KEY_ID_LEN as u8,
        0,
        0,
        0,
    ]);
    out.extend_from_slice(&(SIG_LEN as u32).to_be_bytes());
    out.extend_from_slice(MARKER);
    out
}

/// The public key of a 32-byte secret seed.
pub fn public_key(secret: &[u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(secret).verifying_key().to_bytes()
}

/// One trusted key.
#[derive(Clone, Copy, Debug)]
pub struct Key<'a> {
    /// The Ed25519 public key.
    pub public: [u8; 32],
    /// Its ID.
    pub id: KeyId,
    /// A name for people (`modinfo` shows it as the signer).
    pub name: &'a str,
}

/// Why an embedded key ring is unusable.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RingError {
    /// No `KMODKEY1` magic: the image was not given keys by the build.
    NoMagic,
    /// The ring claims more entries than it holds.
    Truncated,
    /// A key name is longer than its entry or not UTF-8.
    BadName(usize),
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::NoMagic => f.write_str("no key ring (image not given keys by the build)"),
            RingError::Truncated => f.write_str("key ring truncated"),
            RingError::BadName(i) => write!(f, "key {i} has a bad name"),
        }
    }
}

/// The trusted keys and the build's enforcement default.
#[derive(Clone, Debug, Default)]
pub struct KeyRing<'a> {
    /// The keys.
    pub keys: Vec<Key<'a>>,
    /// [`FLAG_ENFORCE`] and friends.
    pub flags: u32,
}

impl<'a> KeyRing<'a> {
    /// Reads an embedded key ring.
    pub fn parse(bytes: &'a [u8]) -> Result<KeyRing<'a>, RingError> {
        if bytes.get(..8) != Some(RING_MAGIC) {
            return Err(RingError::NoMagic);
        }
        let word = |at: usize| -> Result<u32, RingError> {
            let b = bytes.get(at..at + 4).ok_or(RingError::Truncated)?;
            Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let flags = word(8)?;
        let count = word(12)? as usize;
        let mut keys = Vec::new();
        for i in 0..count {
            let at = 16usize
                .checked_add(i.checked_mul(RING_ENTRY).ok_or(RingError::Truncated)?)
                .ok_or(RingError::Truncated)?;
            let e = bytes
                .get(at..at.saturating_add(RING_ENTRY))
                .ok_or(RingError::Truncated)?;
            let mut public = [0u8; 32];
            public.copy_from_slice(&e[..32]);
            let nl = e[32] as usize;
            let name = e
                .get(33..33 + nl)
                .filter(|_| nl <= MAX_KEY_NAME)
                .and_then(|n| core::str::from_utf8(n).ok())
                .ok_or(RingError::BadName(i))?;
            keys.push(Key {
                public,
                id: KeyId::of(&public),
                name,
            });
        }
        Ok(KeyRing { keys, flags })
    }

    /// Encodes a key ring: `(public key, name)` pairs. Names are cut to [`MAX_KEY_NAME`]
    /// bytes at a character boundary.
    pub fn encode(keys: &[([u8; 32], &str)], flags: u32) -> Vec<u8> {
        let mut out = RING_MAGIC.to_vec();
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&(keys.len() as u32).to_le_bytes());
        for (public, name) in keys {
            let mut n = name.len().min(MAX_KEY_NAME);
            while !name.is_char_boundary(n) {
                n -= 1;
            }
            let mut e = [0u8; RING_ENTRY];
            e[..32].copy_from_slice(public);
            e[32] = n as u8;
            e[33..33 + n].copy_from_slice(&name.as_bytes()[..n]);
            out.extend_from_slice(&e);
        }
        out
    }

    /// Whether the build asked for unsigned modules to be refused.
    pub fn enforce_by_default(&self) -> bool {
        self.flags & FLAG_ENFORCE != 0
    }

    /// Checks the signature of `file`: the module's ELF bytes and the key that signed them.
    pub fn verify<'f>(&self, file: &'f [u8]) -> Result<(&'f [u8], Key<'a>), SigError> {
        let t = parse(file)?;
        let key = *self
            .keys
            .iter()
            .find(|k| k.id == t.key_id)
            .ok_or(SigError::UnknownKey(t.key_id))?;
        let vk =
            VerifyingKey::from_bytes(&key.public).map_err(|_| SigError::BadSignature(key.id))?;
        vk.verify_strict(t.message, &Signature::from_bytes(&t.signature))
            .map_err(|_| SigError::BadSignature(key.id))?;
        Ok((t.message, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: [u8; 32] = [7; 32];
    const OTHER: [u8; 32] = [9; 32];

    fn ring_bytes() -> Vec<u8> {
        KeyRing::encode(&[(public_key(&SEED), "test key")], FLAG_ENFORCE)
    }

    fn elf() -> Vec<u8> {
        let mut v = b"\x7fELF".to_vec();
        v.extend((0..1000u32).map(|i| (i * 31 % 251) as u8));
        v
    }

    #[test]
    fn sign_then_verify() {
        let rb = ring_bytes();
        let ring = KeyRing::parse(&rb).unwrap();
        assert!(ring.enforce_by_default());
        assert_eq!(ring.keys[0].name, "test key");
        let e = elf();
        let s = sign(&e, &SEED);
        assert_eq!(s.len(), e.len() + TRAILER_LEN);
        let (msg, key) = ring.verify(&s).unwrap();
        assert_eq!(msg, &e[..]);
        assert_eq!(key.id, KeyId::of(&public_key(&SEED)));
        // Re-signing replaces the trailer.
        assert_eq!(sign(&s, &SEED), s);
        assert_eq!(strip(&s), &e[..]);
    }

    #[test]
    fn every_changed_byte_is_refused() {
        let rb = ring_bytes();
        let ring = KeyRing::parse(&rb).unwrap();
        let s = sign(&elf(), &SEED);
        for i in 0..s.len() {
            let mut m = s.clone();
            m[i] ^= 0x01;
            let e = ring.verify(&m).expect_err("flipped byte accepted");
            let in_trailer = i >= s.len() - TRAILER_LEN;
            match e {
                SigError::BadSignature(_) => {}
                SigError::UnknownKey(_) => assert!(in_trailer && i < s.len() - TRAILER_LEN + 8),
                SigError::Malformed(_) | SigError::Unsigned => assert!(in_trailer, "{i}: {e}"),
            }
        }
    }

    #[test]
    fn unsigned_unknown_truncated() {
        let rb = ring_bytes();
        let ring = KeyRing::parse(&rb).unwrap();
        assert_eq!(ring.verify(&elf()).unwrap_err(), SigError::Unsigned);
        let other = sign(&elf(), &OTHER);
        assert!(matches!(ring.verify(&other), Err(SigError::UnknownKey(_))));
        assert!(SigError::UnknownKey(KeyId([0; 8])).permissible());
        let s = sign(&elf(), &SEED);
        for cut in 1..s.len() {
            let r = ring.verify(&s[..s.len() - cut]);
            assert!(r.is_err(), "cut {cut} accepted");
            if (1..=20).contains(&cut) {
                assert_eq!(r.unwrap_err(), SigError::Malformed(Malformed::Truncated));
            }
        }
        let mut extra = s.clone();
        extra.extend_from_slice(b"junk");
        assert_eq!(
            ring.verify(&extra).unwrap_err(),
            SigError::Malformed(Malformed::TrailingData(4))
        );
        assert_eq!(
            ring.verify(&MARKER[..]).unwrap_err(),
            SigError::Malformed(Malformed::TooShort(28))
        );
    }

    #[test]
    fn rings() {
        assert_eq!(KeyRing::parse(&[0; 64]).unwrap_err(), RingError::NoMagic);
        let mut rb = ring_bytes();
        rb.truncate(100);
        assert_eq!(KeyRing::parse(&rb).unwrap_err(), RingError::Truncated);
        let mut rb = ring_bytes();
        rb[16 + 32] = 200;
        assert_eq!(KeyRing::parse(&rb).unwrap_err(), RingError::BadName(0));
        let mut huge = RING_MAGIC.to_vec();
        huge.extend_from_slice(&[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(KeyRing::parse(&huge).unwrap_err(), RingError::Truncated);
        let long = "é".repeat(80);
        let rb = KeyRing::encode(&[(public_key(&SEED), &long)], 0);
        let r = KeyRing::parse(&rb).unwrap();
        assert!(r.keys[0].name.len() <= MAX_KEY_NAME && !r.enforce_by_default());
    }

    /// Random trailers and random tails never panic and are never accepted.
    #[test]
    fn fuzzed_trailers_never_crash() {
        let rb = ring_bytes();
        let ring = KeyRing::parse(&rb).unwrap();
        let s = sign(&elf(), &SEED);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let mut m = s.clone();
            let base = m.len() - TRAILER_LEN;
            let flips = 1 + next() % 6;
            for _ in 0..flips {
                let at = base + (next() % TRAILER_LEN as u64) as usize;
                m[at] = next() as u8;
            }
            if next() % 4 == 0 {
                let cut = (next() % 120) as usize;
                m.truncate(m.len().saturating_sub(cut));
            }
            if m != s {
                assert!(ring.verify(&m).is_err());
            }
        }
        for len in 0..200 {
            let v: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let mut w = v.clone();
            w.extend_from_slice(MARKER);
            assert!(ring.verify(&v).is_err() && ring.verify(&w).is_err());
        }
    }
}
