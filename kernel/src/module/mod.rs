//! The module manager: the registry of loaded modules and everything each one holds.
//!
//! The ELF work is `modloader`'s (pure and host-tested). This layer supplies what only the
//! kernel can, one concern per file:
//!
//! - [`load`]: insmod as a list of named steps with one rollback;
//! - [`area`]: pages in the module area (near kernel text, so direct branches reach);
//! - [`heap`]: the heap blocks a module allocated, reclaimed when it goes;
//! - [`params`]: `param=value` checks against the declared types;
//! - [`signing`]: the signature check every source goes through first;
//! - [`symbolize`]: module frames and the module list for oops reports;
//! - [`error`]: why a load or unload failed.
//!
//! A module owns its pages, its exports, its shell commands, its parameters and its heap
//! blocks. [`teardown`] releases all of them, whether the module is removed by rmmod,
//! after a failed init, or after it faulted, so the heap returns exactly to its baseline.

pub mod area;
pub mod error;
pub mod gdbhook;
pub mod heap;
pub mod lineinfo;
pub mod load;
pub mod params;
pub mod signing;
pub mod symbolize;

use crate::fault::recovery::{self, Abandoned};
use crate::println;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use kabi::ffi::KStr;
use modloader::{LoadedModule, Region};
use spin::Mutex;

pub use error::{InitFailure, LoadError, ParamError, UnloadError};
pub use load::{insmod, insmod_timed, Loaded, Timings};

/// Module state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Running init.
    Coming,
    /// Loaded and healthy.
    Live,
    /// Faulted or panicked after loading; still loaded, marked, its commands disabled.
    Faulted,
}

/// A loaded module.
pub struct Module {
    /// Name from `.modinfo`.
    pub name: String,
    /// Image base in the module area.
    pub base: u64,
    /// Page-rounded size.
    pub size: u64,
    /// The linker's description.
    pub info: LoadedModule,
    /// Modules this one uses.
    pub deps: Vec<String>,
    /// How many loaded modules use this one.
    pub users: usize,
    /// State.
    pub state: State,
    /// Parameters given at insmod, NUL-free, stable addresses while loaded.
    pub params: Vec<(String, String)>,
    /// What signature checking found.
    pub signature: signing::Verdict,
    /// Heap blocks it allocated through the kernel API.
    pub heap: heap::Heap,
    /// Its line table and build ID (`.modlines`, `.note.gnu.build-id`).
    pub lines: lineinfo::LineInfo,
}

impl Module {
    fn modinfo(&self, key: &str) -> impl Iterator<Item = &str> {
        let key = key.to_string();
        self.info
            .modinfo
            .iter()
            .filter(move |(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Taint letters, Linux style: O = out-of-tree (every loadable module), E = not
    /// signed by a trusted key, D = died (faulted or panicked after loading).
    pub fn taint(&self) -> &'static str {
        let unsigned = matches!(self.signature, signing::Verdict::Unverified(_));
        match (unsigned, self.state == State::Faulted) {
            (false, false) => "O",
            (true, false) => "OE",
            (false, true) => "OD",
            (true, true) => "OED",
        }
    }

    fn size_of(&self, r: Region) -> u64 {
        self.info.region(r).map(|p| p.size).unwrap_or(0)
    }
}

/// Every loaded module, in load order.
pub static MODULES: Mutex<Vec<Module>> = Mutex::new(Vec::new());
/// Symbols exported by modules: name → (address, owner).
static EXPORTS: Mutex<BTreeMap<String, (u64, String)>> = Mutex::new(BTreeMap::new());
/// The module whose code is running (init, exit or a command), and its parameters.
static CURRENT: Mutex<Option<(String, params::Params)>> = Mutex::new(None);
static MODULE_PANIC: AtomicBool = AtomicBool::new(false);

/// Gives the module area to the allocator.
pub fn init(layout: &crate::platform::mem::Layout) {
    area::init(layout);
}

/// Tells the fault layer how to name module frames and list modules.
pub fn init_hooks() {
    crate::fault::set_module_hooks(&symbolize::Hooks);
}

/// The module whose code is running, if any.
pub fn current() -> Option<String> {
    CURRENT.lock().as_ref().map(|(n, _)| n.clone())
}

/// Looks up a parameter of the module being initialised: (pointer, length) of its value.
pub fn current_param(name: &str) -> Option<(*const u8, usize)> {
    let cur = CURRENT.lock();
    let (_, params) = cur.as_ref()?;
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| (v.as_ptr(), v.len()))
}

/// Called by `kmod_panic`: the panic comes from module code.
pub fn note_module_panic() {
    MODULE_PANIC.store(true, Ordering::Relaxed);
}

/// Whether the panic in progress was raised by module code through `kmod_panic`.
pub fn panic_is_from_module() -> bool {
    MODULE_PANIC.load(Ordering::Relaxed)
}

/// Whether module `name` is loaded and marked as faulted.
pub fn is_faulted(name: &str) -> bool {
    MODULES
        .lock()
        .iter()
        .any(|m| m.name == name && m.state == State::Faulted)
}

/// Runs module code (init, exit or a command) for `owner` under containment. A fault or
/// panic in module code prints the oops, abandons the call and marks the module.
pub fn call_contained(
    owner: &str,
    params: params::Params,
    f: impl FnMut(),
) -> Result<(), Abandoned> {
    let prev = CURRENT.lock().replace((owner.to_string(), params));
    MODULE_PANIC.store(false, Ordering::Relaxed);
    let r = recovery::run_module(f);
    *CURRENT.lock() = prev;
    if r.is_err() {
        if let Some(m) = MODULES.lock().iter_mut().find(|m| m.name == owner) {
            m.state = State::Faulted;
        }
    }
    r
}

/// What unloading gave back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reclaimed {
    /// Heap bytes the module still held.
    pub bytes: usize,
    /// In how many blocks.
    pub blocks: usize,
}

/// Removes a module and everything it holds: its exit code first when `run_exit`, then
/// its commands, its record, its exports, its heap blocks and its pages. The one teardown
/// path for rmmod, a failed init and a faulted module. Says what heap it reclaimed.
pub fn teardown(name: &str, run_exit: bool) -> Reclaimed {
    if run_exit {
        let (exit, fini, params) = {
            let mods = MODULES.lock();
            match mods.iter().find(|m| m.name == name) {
                Some(m) => (m.info.exit, m.info.fini_array.clone(), m.params.clone()),
                None => return Reclaimed::default(),
            }
        };
        let _ = call_contained(name, params, || {
            if let Some(exit) = exit {
                // SAFETY: `cleanup_module` of a loaded module, in its RX text.
                let f: extern "C" fn() = unsafe { core::mem::transmute(exit as usize) };
                f();
            }
            for &f in fini.iter().rev() {
                // SAFETY: relocated destructor addresses inside the module's RX text.
                let f: extern "C" fn() = unsafe { core::mem::transmute(f as usize) };
                f();
            }
        });
    }
    crate::cmd::unregister_owned_by(name);
    let mut m = {
        let mut mods = MODULES.lock();
        let Some(i) = mods.iter().position(|m| m.name == name) else {
            return Reclaimed::default();
        };
        let m = mods.remove(i);
        mods.shrink_to_fit();
        for other in mods.iter_mut().filter(|o| m.deps.contains(&o.name)) {
            other.users = other.users.saturating_sub(1);
        }
        m
    };
    EXPORTS.lock().retain(|_, (_, owner)| owner != name);
    let (bytes, blocks) = m.heap.reclaim();
    gdbhook::kmod_gdb_unloaded(&gdbhook::GdbModule::new(&m.name, &m.info));
    area::release(m.base, m.size);
    if blocks > 0 {
        println!(
            "{name}: reclaimed {bytes} bytes in {blocks} allocation{}",
            if blocks == 1 { "" } else { "s" }
        );
    }
    Reclaimed { bytes, blocks }
}

/// Unloads a module: refuses while others use it; runs its exit code (not for a module
/// that faulted: its code is not trusted to run again).
pub fn rmmod(name: &str) -> Result<Reclaimed, UnloadError> {
    let faulted = {
        let mods = MODULES.lock();
        let Some(m) = mods.iter().find(|m| m.name == name) else {
            return Err(UnloadError::NotLoaded(name.into()));
        };
        if m.users > 0 {
            let users: Vec<String> = mods
                .iter()
                .filter(|o| o.deps.iter().any(|d| d == name))
                .map(|o| o.name.clone())
                .collect();
            return Err(UnloadError::InUse {
                name: name.into(),
                users,
            });
        }
        m.state == State::Faulted
    };
    if faulted {
        println!("{name}: faulted earlier; not running its exit code");
    }
    Ok(teardown(name, !faulted))
}

/// Prints the module list in Linux's `lsmod` layout, with each module's heap use.
pub fn lsmod() {
    let mods = MODULES.lock();
    println!("{:<19} {:>8} {:>9}  Used by", "Module", "Size", "Heap");
    for m in mods.iter() {
        let users: Vec<&str> = mods
            .iter()
            .filter(|o| o.deps.contains(&m.name))
            .map(|o| o.name.as_str())
            .collect();
        let state = match m.state {
            State::Live => "",
            State::Coming => " [loading]",
            State::Faulted => " [faulted]",
        };
        let sep = if users.is_empty() { "" } else { " " };
        println!(
            "{:<19} {:>8} {:>9}  {}{}{} ({}){}",
            m.name,
            m.size,
            m.heap.bytes(),
            m.users,
            sep,
            users.join(","),
            m.taint(),
            state
        );
    }
}

/// Prints a module's metadata.
pub fn modinfo(name: &str) -> Result<(), UnloadError> {
    let mods = MODULES.lock();
    let m = mods
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| UnloadError::NotLoaded(name.into()))?;
    let one = |k: &str| m.modinfo(k).next().unwrap_or("").to_string();
    let params: Vec<String> = params::decls(&m.info.modinfo)
        .iter()
        .map(|p| alloc::format!("{} ({})", p.name, p.type_name()))
        .collect();
    println!(
        "name: {}  version: {}  license: {}  author: {}  description: {}  depends: {}  params: {}",
        m.name,
        one("version"),
        one("license"),
        one("author"),
        one("description"),
        one("depends"),
        params.join(", ")
    );
    println!(
        "vermagic: {}  abi: {}  state: {:?}  base: {:#x}  size: {:#x}  heap: {} bytes in {} blocks",
        one("vermagic"),
        one("abi"),
        m.state,
        m.base,
        m.size,
        m.heap.bytes(),
        m.heap.blocks()
    );
    println!("{}", m.lines);
    match &m.signature {
        signing::Verdict::Signed { key, signer } => {
            println!("sig_id: ed25519  sig_key: {key}  signer: {signer}")
        }
        signing::Verdict::Unverified(why) => {
            println!("sig_id: none  ({why}; taint E)")
        }
    }
    println!(
        "text {:#x}  rodata {:#x}  data {:#x}  bss {:#x}  got {}  veneers {}  exports: {}",
        m.size_of(Region::Text),
        m.size_of(Region::Rodata),
        m.size_of(Region::Data),
        m.size_of(Region::Bss),
        m.info.got.len(),
        m.info.veneers.len(),
        m.info
            .exports
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// Module args: `KStr`s over the given strings (for command handlers).
pub fn kstrs(args: &[&str]) -> Vec<KStr> {
    args.iter().map(|a| KStr::new(a)).collect()
}

/// Number of loaded modules.
pub fn count() -> usize {
    MODULES.lock().len()
}

/// Number of module exports.
pub fn export_count() -> usize {
    EXPORTS.lock().len()
}
