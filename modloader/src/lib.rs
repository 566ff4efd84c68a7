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
