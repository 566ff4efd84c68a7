//! Kernel exports: the `.kexports` record `kexport!` emits, and the ABI hash.
//!
//! The ABI version ("vermagic") is the kernel release plus a 64-bit FNV-1a hash over every
//! export's `name:signature\n`, in name order. The kernel computes it at boot from its own
//! records; `cargo xtask modules` reads the same records out of `target/kernel.elf` and
//! builds the value into every module as `abi=`.

/// One export record, as laid out in `.kexports`: `{ name: &str, addr, signature: &str }`,
/// five little-endian 64-bit words (name pointer, name length, address, signature
/// pointer, signature length).
#[repr(C)]
pub struct Export {
    /// Symbol name.
    pub name: &'static str,
    /// Address.
    pub addr: *const (),
    /// The Rust signature, stringified, for the ABI hash.
    pub signature: &'static str,
}

// SAFETY: records are immutable statics; the address is only used as a number.
#[allow(unsafe_code)]
unsafe impl Sync for Export {}

/// Bytes of one [`Export`] record.
pub const RECORD_SIZE: usize = 40;
const _: () = assert!(
    core::mem::size_of::<Export>() == RECORD_SIZE || cfg!(not(target_pointer_width = "64"))
);

/// The fields of one raw record: (name pointer, name length, address, signature pointer,
/// signature length).
pub fn record_words(rec: &[u8; RECORD_SIZE]) -> [u64; 5] {
    let mut w = [0u64; 5];
    for (i, x) in w.iter_mut().enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(&rec[i * 8..i * 8 + 8]);
        *x = u64::from_le_bytes(b);
    }
    w
}

/// FNV-1a 64 over `name:signature\n` of `records`, which must be sorted by name.
pub fn abi_hash_sorted<'a>(records: impl IntoIterator<Item = (&'a str, &'a str)>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, sig) in records {
        for b in name.bytes().chain(*b":").chain(sig.bytes()).chain(*b"\n") {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// FNV-1a 64 over `name:signature\n` for every `(name, signature)`, in name order.
#[cfg(feature = "alloc")]
pub fn abi_hash<'a>(records: impl IntoIterator<Item = (&'a str, &'a str)>) -> u64 {
    let mut v: alloc::vec::Vec<(&str, &str)> = records.into_iter().collect();
    v.sort_unstable_by(|a, b| a.0.cmp(b.0));
    abi_hash_sorted(v)
}

/// Writes the `abi=` string of `hash`: 16 lowercase hex digits.
pub fn abi_string(hash: u64) -> AbiString {
    AbiString(hash)
}

/// [`abi_string`]'s value; `Display` writes the 16 digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbiString(pub u64);

impl core::fmt::Display for AbiString {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FNV-1a 64 written out independently.
    fn fnv_reference(text: &str) -> u64 {
        let mut h = 14695981039346656037u64;
        for b in text.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(1099511628211);
        }
        h
    }

    #[test]
    fn known_answers_and_order() {
        assert_eq!(abi_hash_sorted([]), 0xcbf2_9ce4_8422_2325);
        // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c (the published test vector).
        assert_eq!(fnv_reference("a"), 0xaf63_dc4c_8601_ec8c);
        let recs = [("b", "fn()"), ("a", "fn(u64) -> i32")];
        let want = fnv_reference("a:fn(u64) -> i32\nb:fn()\n");
        assert_eq!(abi_hash(recs), want);
        assert_eq!(
            alloc::format!("{}", abi_string(want)),
            alloc::format!("{want:016x}")
        );
    }

    #[test]
    fn record_words_read_little_endian() {
        let mut rec = [0u8; RECORD_SIZE];
        rec[8] = 3;
        rec[16..24].copy_from_slice(&0x4020_1000u64.to_le_bytes());
        assert_eq!(record_words(&rec), [0, 3, 0x4020_1000, 0, 0]);
    }
}
