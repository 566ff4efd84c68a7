//! Where a debugger learns about modules (Linux's `lx-symbols` breaks on the module
//! loader for the same purpose). After a module is linked and protected, and before its
//! init runs, insmod calls [`kmod_gdb_loaded`] with a [`GdbModule`] record: the module's
//! name and the address of every section it placed. rmmod calls [`kmod_gdb_unloaded`]
//! before the pages go. The gdb script `cargo xtask gdb` writes breaks on both (at their
//! first instruction, so `x0` holds the record), runs `add-symbol-file NAME.ko.debug`
//! or `remove-symbol-file`, and continues. The functions do nothing else.
//!
//! A debugger that attaches after modules were loaded finds them in
//! [`kmod_gdb_modules`]: one slot per loaded module, holding the address of its record
//! (null when free). The record carries the module's build ID, so the script can refuse
//! a `NAME.ko.debug` left over from another build.

use alloc::boxed::Box;
use core::sync::atomic::{AtomicPtr, Ordering};
use modloader::LoadedModule;

/// Sections listed per module (a module's `ld -r` output has about ten).
pub const MAX_SECTIONS: usize = 24;
/// Bytes of a name (NUL-padded; longer names are cut).
pub const NAME_LEN: usize = 56;
/// Bytes of the build ID field (its length is in `build_id_len`).
pub const BUILD_ID_LEN: usize = 32;
/// Slots of [`kmod_gdb_modules`]; modules beyond it are announced to an attached
/// debugger but not found by a late one.
pub const MAX_LISTED: usize = 64;

/// One placed section: NUL-padded name, address.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct GdbSection {
    /// Section name, e.g. `.text`.
    pub name: [u8; 32],
    /// Where it was placed.
    pub addr: u64,
}

/// The record the debugger reads (layout fixed: `repr(C)`, 64 + 24 * 40 + 40 bytes).
#[repr(C)]
pub struct GdbModule {
    /// Module name, NUL-padded.
    pub name: [u8; NAME_LEN],
    /// Number of valid entries in `sections`.
    pub nsections: u32,
    /// Layout version (2: with the build ID).
    pub version: u32,
    /// The sections.
    pub sections: [GdbSection; MAX_SECTIONS],
    /// Bytes of `build_id` in use (0: the module has none).
    pub build_id_len: u32,
    /// Reserved (0).
    pub reserved: u32,
    /// The module's GNU build ID.
    pub build_id: [u8; BUILD_ID_LEN],
}

/// The records of the loaded modules, for a debugger that attaches late (read by the
/// `cargo xtask gdb` script; written only here).
#[no_mangle]
pub static kmod_gdb_modules: [AtomicPtr<GdbModule>; MAX_LISTED] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_LISTED];

/// Lists `m` for late debuggers (ignored when every slot is taken).
pub fn list(m: &GdbModule) {
    let p = m as *const GdbModule as *mut GdbModule;
    for slot in &kmod_gdb_modules {
        if slot
            .compare_exchange(
                core::ptr::null_mut(),
                p,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
        {
            return;
        }
    }
}

/// Removes `m` from the list (before its memory is freed).
pub fn unlist(m: &GdbModule) {
    let p = m as *const GdbModule as *mut GdbModule;
    for slot in &kmod_gdb_modules {
        let _ = slot.compare_exchange(
            p,
            core::ptr::null_mut(),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }
}

fn copy(dst: &mut [u8], s: &str) {
    let n = s.len().min(dst.len() - 1);
    dst[..n].copy_from_slice(&s.as_bytes()[..n]);
}

impl GdbModule {
    /// The record for a linked module with build ID `build_id` (cut to 32 bytes).
    pub fn new(name: &str, linked: &LoadedModule, build_id: &[u8]) -> Box<GdbModule> {
        let mut m = Box::new(GdbModule {
            name: [0; NAME_LEN],
            nsections: 0,
            version: 2,
            sections: [GdbSection {
                name: [0; 32],
                addr: 0,
            }; MAX_SECTIONS],
            build_id_len: 0,
            reserved: 0,
            build_id: [0; BUILD_ID_LEN],
        });
        let n = build_id.len().min(BUILD_ID_LEN);
        m.build_id[..n].copy_from_slice(&build_id[..n]);
        m.build_id_len = n as u32;
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
