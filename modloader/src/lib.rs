//! An AArch64 ELF relocatable-object linker for loadable kernel modules.
//!
//! `no_std` + `alloc`, no `unsafe`, no pointers: the caller hands in byte buffers and the
//! addresses they will live at, so the same code runs in the kernel and on the host
//! (`modlink`). Stages:
//!
//! 1. [`Object::parse`] validates an ELF64 little-endian `EM_AARCH64` `ET_REL` object.
//! 2. [`Object::plan`] computes one image [`Layout`] for a page size: text+veneers (RX),
//!    rodata+GOT (R), data+bss (RW), each group starting on a page boundary.
//! 3. The caller allocates `layout.size` bytes aligned to `layout.align` at address `base`.
//! 4. [`Object::link`] resolves undefined symbols through a [`Resolver`], computes every
//!    relocation (two-pass: nothing is written unless all succeed), writes the image and
//!    returns a [`LoadedModule`].
//!
//! ```no_run
//! use modloader::{Object, Region};
//! # fn alloc_pages(size: u64, align: u64) -> (Vec<u8>, u64) { (vec![0; size as usize], 0x4000_0000) }
//! # let bytes: &[u8] = &[];
//! let obj = Object::parse(bytes)?;
//! let layout = obj.plan(4096)?;
//! let (mut mem, base) = alloc_pages(layout.size, layout.align);
//! let kernel = |name: &str| (name == "printk").then_some(0xffff_8000_1000_0000u64);
//! let module = obj.link(&layout, &mut mem, base, &kernel)?;
//! for seg in layout.segments() { /* map seg.offset..+seg.size with seg.protection */ }
//! // clean D-cache / invalidate I-cache over the text region, then:
//! if let Some(init) = module.init { /* call init */ }
//! # Ok::<(), modloader::Error>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod error;
mod layout;
mod link;
mod object;
pub mod reloc;
pub mod signature;

pub use error::Error;
pub use layout::{
    Layout, Protection, Region, Segment, Span, GOT_SLOT_SIZE, MAX_IMAGE_SIZE, VENEER_SIZE,
};
pub use link::{
    veneer_code, ExportedSymbol, LoadedModule, ModuleSymbol, NoSymbols, PlacedRegion,
    PlacedSection, Resolver, SyntheticEntry,
};
pub use object::{
    Object, Rela, RelocSection, Section, SymDef, Symbol, MAX_ALIGN, MAX_SECTION_SIZE, MODEXPORTS,
    MODINFO,
};
pub use reloc::RelocError;

/// Parse, plan and link in one call: returns the image bytes and the module description.
/// Convenience for hosts and tests; the kernel uses the staged API to control allocation.
pub fn link_to_vec(
    bytes: &[u8],
    page_size: u64,
    base: u64,
    resolver: &dyn Resolver,
) -> Result<(alloc::vec::Vec<u8>, LoadedModule), Error> {
    let obj = Object::parse(bytes)?;
    let layout = obj.plan(page_size)?;
    let mut image = alloc::vec![0u8; layout.size as usize];
    let module = obj.link(&layout, &mut image, base, resolver)?;
    Ok((image, module))
}

/// `NT_GNU_BUILD_ID`.
pub const NT_GNU_BUILD_ID: u32 = 3;

/// The descriptor of the first `NT_GNU_BUILD_ID` note named `GNU` in the contents of a
/// note section (`.note.gnu.build-id`), if any; `None` on anything malformed.
pub fn gnu_build_id(notes: &[u8]) -> Option<&[u8]> {
    let rd = |at: usize| -> Option<u32> {
        let b = notes.get(at..at.checked_add(4)?)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut at = 0usize;
    // Every note is at least 12 bytes, so this loop is bounded by the data.
    while at.checked_add(12)? <= notes.len() {
        let namesz = rd(at)? as usize;
        let descsz = rd(at + 4)? as usize;
        let ty = rd(at + 8)?;
        let name_at = at + 12;
        let desc_at = name_at.checked_add(namesz.checked_add(3)? & !3)?;
        let end = desc_at.checked_add(descsz.checked_add(3)? & !3)?;
        let name = notes.get(name_at..name_at.checked_add(namesz)?)?;
        let desc = notes.get(desc_at..desc_at.checked_add(descsz)?)?;
        if ty == NT_GNU_BUILD_ID && name == b"GNU\0" && !desc.is_empty() {
            return Some(desc);
        }
        at = end;
    }
    None
}

#[cfg(test)]
mod note_tests {
    use super::gnu_build_id;

    fn note(name: &[u8], ty: u32, desc: &[u8]) -> alloc::vec::Vec<u8> {
        let mut n = alloc::vec::Vec::new();
        n.extend_from_slice(&(name.len() as u32).to_le_bytes());
        n.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        n.extend_from_slice(&ty.to_le_bytes());
        n.extend_from_slice(name);
        while n.len() % 4 != 0 {
            n.push(0);
        }
        n.extend_from_slice(desc);
        while n.len() % 4 != 0 {
            n.push(0);
        }
        n
    }

    #[test]
    fn finds_the_build_id_and_rejects_garbage() {
        let id = [0xab; 20];
        let mut n = note(b"XYZ\0", 3, &[1, 2, 3]);
        n.extend(note(b"GNU\0", 1, &[9; 16]));
        n.extend(note(b"GNU\0", 3, &id));
        assert_eq!(gnu_build_id(&n), Some(&id[..]));
        for cut in 0..n.len() {
            let _ = gnu_build_id(&n[..cut]);
        }
        assert_eq!(gnu_build_id(&n[..n.len() - 1]), None);
        let mut bad = n.clone();
        bad[4] = 0xff; // huge descsz
        assert_eq!(gnu_build_id(&bad), None);
    }
}
