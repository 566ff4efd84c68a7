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
pub mod testrun;

use crate::fault::recovery::{self, Abandoned};
use crate::println;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kabi::ffi::KStr;
use klib::escape::Escaped;
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
    /// What a debugger reads about it (listed in `gdbhook::kmod_gdb_modules`).
    pub gdb: alloc::boxed::Box<gdbhook::GdbModule>,
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
/// Deadline of a call into a module, in milliseconds (0: none).
static DEFAULT_TIMEOUT_MS: AtomicU64 = AtomicU64::new(10_000);

/// Reads `module.timeout=MS` from the kernel command line.
pub fn init_timeout(bootargs: &str) {
    for a in bootargs.split_whitespace() {
        if let Some(ms) = a
            .strip_prefix("module.timeout=")
            .and_then(|v| v.parse().ok())
        {
            DEFAULT_TIMEOUT_MS.store(ms, Ordering::Relaxed);
        }
    }
}

/// The default deadline of a call into a module, in milliseconds (0: none).
pub fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS.load(Ordering::Relaxed)
}

/// Calls module code at `addr` with up to three arguments through the trampoline that
/// restores everything the kernel relies on, whatever the module does to it.
///
/// # Safety
/// `addr` must be code of a loaded module (or a value taken from its relocated image),
/// and the call must run under [`call_contained`], which contains whatever it does.
pub unsafe fn call(addr: u64, a0: u64, a1: u64, a2: u64) -> u64 {
    let outer = CALL_DEPTH.fetch_add(1, Ordering::Relaxed) == 0;
    let stack = match crate::platform::mem::MODULE_STACK.get() {
        Some(&(_, top)) if outer => top,
        _ => 0,
    };
    // `module_call` saves and restores x19..x30, sp and the interrupt masks; the module
    // stack is mapped RW and used only by the outermost module call.
    // SAFETY: `addr` is module code, guaranteed by the caller.
    let r = unsafe { arch::recover::module_call(addr, a0, a1, a2, stack) };
    CALL_DEPTH.fetch_sub(1, Ordering::Relaxed);
    r
}

/// Nesting of calls into modules (only the outermost switches stacks).
static CALL_DEPTH: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

/// Gives the module area to the allocator, and the module stack (64 KiB between guard
/// pages, reserved in the image below the kernel's own stack) to module calls: module code
/// runs on its own stack, so that a module that overruns its frames cannot reach the
/// kernel's frames (or the recovery point on them).
pub fn init(layout: &crate::platform::mem::Layout) {
    area::init(layout);
    crate::platform::mem::MODULE_STACK.call_once(crate::platform::mem::module_stack);
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

/// Runs module code (`what`: init, exit or a command) for `owner` under containment: a
/// fault or panic prints the oops, a deadline (`timeout_ms`, `None`: the default) or
/// Ctrl-C prints a message; either way the call is abandoned and the module marked.
pub fn call_contained(
    owner: &str,
    what: &str,
    params: params::Params,
    timeout_ms: Option<u64>,
    f: impl FnMut(),
) -> Result<(), Abandoned> {
    let ms = timeout_ms.unwrap_or_else(default_timeout_ms);
    let ticks = if ms == 0 {
        0
    } else {
        (ms * crate::irq::HZ).div_ceil(1000).max(1)
    };
    let prev = CURRENT.lock().replace((owner.to_string(), params));
    MODULE_PANIC.store(false, Ordering::Relaxed);
    let depth = CALL_DEPTH.load(Ordering::Relaxed);
    let r = recovery::run_module(ticks, f);
    // What the module printed may not end its line; the kernel's next words start one.
    crate::platform::console::fresh_line();
    // Calls abandoned inside never counted themselves out.
    CALL_DEPTH.store(depth, Ordering::Relaxed);
    if r.is_err() {
        release_abandoned_locks();
    }
    *CURRENT.lock() = prev;
    match r {
        Err(Abandoned::Timeout) => {
            println!("{owner}: {what} did not return within {ms} ms; call abandoned")
        }
        Err(Abandoned::Interrupted) => {
            println!("{owner}: {what} interrupted by Ctrl-C; call abandoned")
        }
        _ => {}
    }
    if r.is_err() {
        if let Some(m) = MODULES.lock().iter_mut().find(|m| m.name == owner) {
            m.state = State::Faulted;
        }
    }
    r
}

/// After an abandoned call: nothing but the abandoned code can hold the module manager's
/// locks (callers of [`call_contained`] hold none, and there is one CPU), so a lock still
/// held was taken by code the module jumped into and will never be released. Release it.
fn release_abandoned_locks() {
    for l in crate::platform::release_abandoned_locks() {
        println!("module: released the {l} lock held by the abandoned call");
    }
    for (name, locked, unlock) in [
        (
            "module list",
            MODULES.is_locked(),
            (|| {
                // SAFETY: see above: the holder was abandoned and never runs again.
                unsafe { MODULES.force_unlock() }
            }) as fn(),
        ),
        ("module exports", EXPORTS.is_locked(), || {
            // SAFETY: as above.
            unsafe { EXPORTS.force_unlock() }
        }),
        ("running module", CURRENT.is_locked(), || {
            // SAFETY: as above.
            unsafe { CURRENT.force_unlock() }
        }),
    ] {
        if locked {
            println!("module: released the {name} lock held by the abandoned call");
            unlock();
        }
    }
    crate::cmd::release_abandoned_lock();
    if area::release_abandoned_lock() {
        println!("module: released the module area lock held by the abandoned call");
    }
    if testrun::release_abandoned_lock() {
        println!("module: released the test failure list lock held by the abandoned call");
    }
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
pub fn teardown(name: &str, run_exit: bool, timeout_ms: Option<u64>) -> Reclaimed {
    if run_exit {
        let (exit, fini, params) = {
            let mods = MODULES.lock();
            match mods.iter().find(|m| m.name == name) {
                Some(m) => (m.info.exit, m.info.fini_array.clone(), m.params.clone()),
                None => return Reclaimed::default(),
            }
        };
        let _ = call_contained(name, "exit", params, timeout_ms, || {
            if let Some(exit) = exit {
                // SAFETY: `cleanup_module` of a loaded module, contained by call_contained.
                unsafe { call(exit, 0, 0, 0) };
            }
            for &f in fini.iter().rev() {
                // SAFETY: relocated destructor addresses of the module, contained.
                unsafe { call(f, 0, 0, 0) };
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
    {
        let mut exp = EXPORTS.lock();
        exp.retain(|_, (_, owner)| owner != name);
        if exp.is_empty() {
            // An emptied map keeps its root node: drop it, so the heap is back at baseline.
            *exp = BTreeMap::new();
        }
    }
    let (bytes, blocks) = m.heap.reclaim();
    gdbhook::unlist(&m.gdb);
    gdbhook::kmod_gdb_unloaded(&m.gdb);
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
pub fn rmmod(name: &str, timeout_ms: Option<u64>) -> Result<Reclaimed, UnloadError> {
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
    Ok(teardown(name, !faulted, timeout_ms))
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
    // Every string but the (validated) name comes from the module: escape it.
    let one = |k: &str| alloc::format!("{}", Escaped(m.modinfo(k).next().unwrap_or("")));
    let params: Vec<String> = params::decls(&m.info.modinfo)
        .iter()
        .map(|p| alloc::format!("{} ({})", Escaped(p.name), Escaped(p.type_name())))
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
            println!(
                "sig_id: ed25519  sig_key: {key}  signer: {}",
                Escaped(signer)
            )
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
            .map(|e| alloc::format!("{}", Escaped(&e.name)))
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

/// What an export checks a module pointer against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Memory the module may write: its data and bss, its heap blocks, the task stack.
    Write,
    /// Code of the module: its text (and veneers).
    Code,
}

/// Whether `[addr, addr+len)` is memory the running module may use for `access`.
pub fn current_may(access: Access, addr: u64, len: u64) -> bool {
    let Some(end) = addr.checked_add(len.max(1)) else {
        return false;
    };
    let inside = |start: u64, size: u64| addr >= start && end <= start.saturating_add(size);
    if access == Access::Write {
        // The module's own stack frames: on the module stack (every outermost module call
        // switches to it, so module frames are never on the kernel's task stack), above
        // the stack pointer of the export asking (below it is free space; the export's own
        // frames lie just above it, the module's above those).
        let (_, lo, hi) = crate::platform::mem::stacks()[2];
        let (_, _, sp) = arch::cpu::current_frame();
        if addr >= lo.max(sp) && end <= hi {
            return true;
        }
    }
    let cur = CURRENT.lock();
    let Some((name, _)) = cur.as_ref() else {
        return false;
    };
    let mods = MODULES.lock();
    let Some(m) = mods.iter().find(|m| &m.name == name) else {
        return false;
    };
    let regions: &[Region] = match access {
        Access::Write => &[Region::Data, Region::Bss],
        Access::Code => &[Region::Text, Region::Veneers],
    };
    regions
        .iter()
        .filter_map(|&r| m.info.region(r))
        .any(|p| inside(p.addr, p.size))
        || (access == Access::Write && m.heap.covers(addr, end))
}
