//! Symbols the kernel exports to loadable modules: the counterpart of `EXPORT_SYMBOL`.
//!
//! [`kexport!`](crate::kexport) defines an `extern "C"` function and records
//! `{name, address, signature}` in the `.kexports` linker section. At boot the records are
//! sorted by name into the table modules are linked against; a module may reference only
//! these names plus other modules' exports.
//!
//! The ABI version ("vermagic") is the kernel release plus the hash of
//! [`kabi::export`] over every export's `name:signature`, in name order. `cargo xtask
//! modules` reads the same records out of `target/kernel.elf`, so a module built against
//! a kernel whose export signatures differ is refused with a message saying so.
//!
//! The C view of this ABI is `sdk/include/kmod.h`.

use crate::println;
use alloc::string::String;
use alloc::vec::Vec;

pub use kabi::export::Export;
pub use kabi::ffi::KStr;

/// Defines and exports an `extern "C"` function.
#[macro_export]
macro_rules! kexport {
    ($(#[$m:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        // Raw pointers come from modules under the contract documented in kmod.h.
        #[allow(clippy::not_unsafe_ptr_arg_deref)]
        #[no_mangle]
        pub extern "C" fn $name($($arg: $ty),*) $(-> $ret)? $body
        const _: () = {
            #[link_section = ".kexports"]
            #[used]
            static EXPORT: ::kabi::export::Export = ::kabi::export::Export {
                name: stringify!($name),
                addr: $name as *const (),
                signature: stringify!(fn($($ty),*) $(-> $ret)?),
            };
        };
    };
}

extern "C" {
    static __kexports_start: u8;
    static __kexports_end: u8;
}

fn records() -> &'static [Export] {
    // SAFETY: the linker script brackets `.kexports`, which holds only `Export` records
    // emitted by `kexport!`, contiguous and 8-byte aligned.
    unsafe {
        let start = core::ptr::addr_of!(__kexports_start) as *const Export;
        let end = core::ptr::addr_of!(__kexports_end) as *const Export;
        core::slice::from_raw_parts(
            start,
            (end as usize - start as usize) / core::mem::size_of::<Export>(),
        )
    }
}

/// The sorted export table: (name, address).
static TABLE: spin::Once<Vec<(&'static str, u64)>> = spin::Once::new();
static ABI: spin::Once<u64> = spin::Once::new();

/// Sorted (name, address) pairs.
pub fn table() -> &'static [(&'static str, u64)] {
    TABLE.call_once(|| {
        let mut t: Vec<(&'static str, u64)> =
            records().iter().map(|e| (e.name, e.addr as u64)).collect();
        t.sort_unstable_by(|a, b| a.0.cmp(b.0));
        t
    })
}

/// Looks up a kernel export by name (binary search).
pub fn lookup(name: &str) -> Option<u64> {
    let t = table();
    t.binary_search_by(|e| e.0.cmp(name)).ok().map(|i| t[i].1)
}

/// FNV-1a 64 over `name:signature\n` of every export in name order.
pub fn abi_hash() -> u64 {
    *ABI.call_once(|| {
        let mut recs: Vec<&Export> = records().iter().collect();
        recs.sort_unstable_by(|a, b| a.name.cmp(b.name));
        kabi::export::abi_hash_sorted(recs.iter().map(|r| (r.name, r.signature)))
    })
}

/// The ABI string modules must carry in `.modinfo` as `abi=`.
pub fn abi_string() -> String {
    alloc::format!("{}", kabi::export::abi_string(abi_hash()))
}

/// Prints the export table (shell `kexports`).
pub fn print_table() {
    println!(
        "{} kernel exports, ABI {} {}",
        table().len(),
        crate::platform::RELEASE,
        abi_string()
    );
    for (name, addr) in table() {
        println!("  {addr:016x} {name}");
    }
}
