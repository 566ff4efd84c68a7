//! Where a debugger learns about modules (Linux's `lx-symbols` breaks on the module
//! loader for the same purpose). After a module is linked and protected, and before its
//! init runs, insmod calls [`kmod_gdb_loaded`] with a [`GdbModule`] record: the module's
//! name and the address of every section it placed. rmmod calls [`kmod_gdb_unloaded`]
//! before the pages go. The gdb script `cargo xtask gdb` writes breaks on both (at their
//! first instruction, so `x0` holds the record), runs `add-symbol-file NAME.ko.debug`
//! or `remove-symbol-file`, and continues. The functions do nothing else.

use modloader::LoadedModule;

/// Sections listed per module (a module's `ld -r` output has about ten).
pub const MAX_SECTIONS: usize = 24;
/// Bytes of a name (NUL-padded; longer names are cut).
pub const NAME_LEN: usize = 56;

/// One placed section: NUL-padded name, address.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct GdbSection {
    /// Section name, e.g. `.text`.
    pub name: [u8; 32],
    /// Where it was placed.
    pub addr: u64,
}

/// The record the debugger reads (layout fixed: `repr(C)`, 64 + 24 * 40 bytes).
#[repr(C)]
pub struct GdbModule {
    /// Module name, NUL-padded.
    pub name: [u8; NAME_LEN],
    /// Number of valid entries in `sections`.
    pub nsections: u32,
    /// Layout version (1).
    pub version: u32,
    /// The sections.
    pub sections: [GdbSection; MAX_SECTIONS],
}

fn copy(dst: &mut [u8], s: &str) {
    let n = s.len().min(dst.len() - 1);
    dst[..n].copy_from_slice(&s.as_bytes()[..n]);
}

impl GdbModule {
    /// The record for a linked module.
    pub fn new(name: &str, linked: &LoadedModule) -> GdbModule {
        let mut m = GdbModule {
            name: [0; NAME_LEN],
            nsections: 0,
            version: 1,
            sections: [GdbSection {
                name: [0; 32],
                addr: 0,
            }; MAX_SECTIONS],
        };
        copy(&mut m.name, name);
        for (slot, s) in m.sections.iter_mut().zip(&linked.sections) {
            copy(&mut slot.name, &s.name);
            slot.addr = s.addr;
            m.nsections += 1;
        }
        m
    }
}

/// Called after a module is linked and before its init runs.
#[no_mangle]
#[inline(never)]
pub extern "C" fn kmod_gdb_loaded(m: &GdbModule) {
    // Distinct bodies: identical functions would be folded into one address.
    core::hint::black_box((m, 1u32));
}

/// Called before a module's pages are released.
#[no_mangle]
#[inline(never)]
pub extern "C" fn kmod_gdb_unloaded(m: &GdbModule) {
    core::hint::black_box((m, 2u32));
}
