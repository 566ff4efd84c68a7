//! The kernel's export table as read from `target/kernel.elf`, and the ABI hash.

#[allow(unused_imports)]
use super::*;

/// Size of one `.kexports` record.
pub(super) const KEXPORT_RECORD: usize = kabi::export::RECORD_SIZE;

/// The kernel's export table as read from its image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelAbi {
    /// FNV-1a 64 over `name:signature\n` in name order (what modules carry as `abi=`).
    pub hash: u64,
    /// Export name → address.
    pub exports: BTreeMap<String, u64>,
}

impl KernelAbi {
    /// The `abi=` string: 16 lowercase hex digits.
    pub fn abi_string(&self) -> String {
        kabi::export::abi_string(self.hash).to_string()
    }
}

/// The ABI hash ([`kabi::export::abi_hash`]) of `(name, signature)` records.
pub fn abi_hash(records: &[(String, String)]) -> u64 {
    kabi::export::abi_hash(records.iter().map(|(n, s)| (n.as_str(), s.as_str())))
}

/// Reads the `.kexports` records of a kernel image (an executable ELF whose pointers are
/// virtual addresses into its loaded sections).
pub fn read_kernel_abi(elf: &[u8]) -> Result<KernelAbi, String> {
    let file = object::File::parse(elf).map_err(|e| format!("not an ELF file: {e}"))?;
    let table = file
        .section_by_name(".kexports")
        .ok_or("no .kexports section (is this the kernel image, target/kernel.elf?)")?;
    let data = table
        .data()
        .map_err(|e| format!(".kexports: cannot read: {e}"))?;
    if data.len() % KEXPORT_RECORD != 0 {
        return Err(format!(
            ".kexports is {} bytes, not a multiple of the {KEXPORT_RECORD}-byte record",
            data.len()
        ));
    }
    // Loaded sections with file contents: (address, bytes).
    let mut sections: Vec<(u64, &[u8])> = Vec::new();
    for s in file.sections() {
        if s.address() != 0 && s.size() != 0 {
            if let Ok(d) = s.data() {
                if d.len() as u64 == s.size() {
                    sections.push((s.address(), d));
                }
            }
        }
    }
    let string_at = |ptr: u64, len: u64, what: &str, i: usize| -> Result<String, String> {
        let bytes = sections
            .iter()
            .find(|(a, d)| ptr >= *a && ptr.saturating_add(len) <= a + d.len() as u64)
            .map(|(a, d)| &d[(ptr - a) as usize..(ptr - a + len) as usize])
            .ok_or_else(|| {
                format!(".kexports record {i}: {what} at {ptr:#x}+{len} is not in a loaded section")
            })?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| format!(".kexports record {i}: {what} is not UTF-8"))
    };
    let mut records = Vec::new();
    let mut exports = BTreeMap::new();
    for (i, rec) in data.chunks_exact(KEXPORT_RECORD).enumerate() {
        let rec: &[u8; KEXPORT_RECORD] = rec.try_into().map_err(|_| "short record")?;
        let [name_ptr, name_len, addr, sig_ptr, sig_len] = kabi::export::record_words(rec);
        let name = string_at(name_ptr, name_len, "name", i)?;
        let sig = string_at(sig_ptr, sig_len, "signature", i)?;
        if exports.insert(name.clone(), addr).is_some() {
            return Err(format!(".kexports: '{name}' is exported twice"));
        }
        records.push((name, sig));
    }
    Ok(KernelAbi {
        hash: abi_hash(&records),
        exports,
    })
}
