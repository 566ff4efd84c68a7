//! Loadable modules: insmod, rmmod, lsmod, modinfo.
//!
//! The ELF work is `modloader`'s (pure and host-tested). This file supplies what only the
//! kernel can: memory in the module area (near kernel text, so direct branches reach),
//! symbol resolution against the kernel's exports and other modules' exports, W^X
//! permissions, cache maintenance, running init/exit under containment, dependency
//! reference counts, and a complete rollback when anything fails.

use crate::exports::KStr;
use crate::recovery::{self, Abandoned};
use crate::{mem, println};
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use arch::mmu::{Perm, PAGE_SIZE};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use modloader::{LoadedModule, Object, Protection, Region};
use spin::Mutex;

/// Module state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Running init.
    Coming,
    /// Loaded and healthy.
    Live,
    /// Faulted or panicked after loading; still loaded, marked.
    Faulted,
}

/// A declared module parameter.
#[derive(Clone, Debug)]
pub struct ParamDecl {
    /// Name.
    pub name: String,
    /// Type: str, u32, i32, u64, bool.
    pub ty: String,
    /// Description.
    pub desc: String,
}

/// A loaded module.
pub struct Module {
    /// Name from `.modinfo`.
    pub name: String,
    /// Image base and page-rounded size in the module area.
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
    pub signature: crate::signing::Verdict,
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
        let unsigned = matches!(self.signature, crate::signing::Verdict::Unverified(_));
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
/// Free page ranges of the module area.
static AREA: Mutex<Vec<(u64, u64)>> = Mutex::new(Vec::new());
/// The module whose code is running (init, exit or a command), and its parameters.
static CURRENT: Mutex<Option<(String, Params)>> = Mutex::new(None);

/// `param=value` pairs given at insmod.
pub type Params = Vec<(String, String)>;
static MODULE_PANIC: AtomicBool = AtomicBool::new(false);
/// Set once any module has been loaded (kernel taint O).
pub static TAINT_OOT: AtomicBool = AtomicBool::new(false);

/// Gives the module area to the allocator.
pub fn init(layout: &mem::Layout) {
    *AREA.lock() = alloc::vec![(
        layout.modules_start,
        layout.modules_end - layout.modules_start
    )];
}

/// Where the next module allocation starts looking (next fit). Rotating through the area
/// keeps a reloaded module off the pages its predecessor just used, which is cheap for
/// hardware and spares QEMU's TCG from invalidating translated code on every reload.
static AREA_NEXT: AtomicU64 = AtomicU64::new(0);

fn area_alloc(size: u64, align: u64) -> Option<u64> {
    let mut area = AREA.lock();
    let cursor = AREA_NEXT.load(Ordering::Relaxed);
    let fit = |start: u64, len: u64, from: u64| -> Option<u64> {
        let at = (start.max(from) + align - 1) & !(align - 1);
        (at + size <= start + len).then_some(at)
    };
    let pick = area
        .iter()
        .enumerate()
        .find_map(|(i, &(s, l))| fit(s, l, cursor).map(|at| (i, at)))
        .or_else(|| {
            area.iter()
                .enumerate()
                .find_map(|(i, &(s, l))| fit(s, l, 0).map(|at| (i, at)))
        });
    let (i, at) = pick?;
    let (start, len) = area.remove(i);
    if at > start {
        area.push((start, at - start));
    }
    if at + size < start + len {
        area.push((at + size, start + len - at - size));
    }
    area.sort_unstable();
    AREA_NEXT.store(at + size, Ordering::Relaxed);
    Some(at)
}

fn area_free(base: u64, size: u64) {
    let mut area = AREA.lock();
    area.push((base, size));
    area.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(area.len());
    for &(s, l) in area.iter() {
        match merged.last_mut() {
            Some((ms, ml)) if *ms + *ml == s => *ml += l,
            _ => merged.push((s, l)),
        }
    }
    // Give back grown capacity, so that load/unload cycles leave the heap exactly as found.
    merged.shrink_to_fit();
    *area = merged;
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

/// Whether `pc` is inside the module area.
pub fn in_module_area(pc: u64) -> bool {
    mem::LAYOUT
        .get()
        .map(|l| (l.modules_start..l.modules_end).contains(&pc))
        .unwrap_or(false)
}

/// Runs module code (init, exit or a command) for `owner` under containment. A fault or
/// panic in module code prints the oops, abandons the call and marks the module.
pub fn call_contained(
    owner: &str,
    params: Vec<(String, String)>,
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

/// Whether the panic in progress was raised by module code through `kmod_panic`.
pub fn panic_is_from_module() -> bool {
    MODULE_PANIC.load(Ordering::Relaxed)
}

fn parse_params(decls: &[ParamDecl], given: &[(String, String)], name: &str) -> Result<(), String> {
    for (k, v) in given {
        let Some(d) = decls.iter().find(|d| &d.name == k) else {
            let known: Vec<&str> = decls.iter().map(|d| d.name.as_str()).collect();
            return Err(format!(
                "{name}: unknown parameter '{k}' (parameters: {})",
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            ));
        };
        let ok = match d.ty.as_str() {
            "str" => true,
            "u32" => v.parse::<u32>().is_ok(),
            "i32" => v.parse::<i32>().is_ok(),
            "u64" => v.parse::<u64>().is_ok(),
            "bool" => matches!(v.as_str(), "0" | "1" | "y" | "n" | "true" | "false"),
            _ => false,
        };
        if !ok {
            return Err(format!(
                "{name}: parameter '{k}': '{v}' is not a valid {}",
                d.ty
            ));
        }
    }
    Ok(())
}

fn param_decls(modinfo: &[(String, String)]) -> Vec<ParamDecl> {
    modinfo
        .iter()
        .filter(|(k, _)| k == "parm")
        .filter_map(|(_, v)| {
            let mut it = v.splitn(3, ':');
            Some(ParamDecl {
                name: it.next()?.into(),
                ty: it.next()?.into(),
                desc: it.next().unwrap_or("").into(),
            })
        })
        .collect()
}

/// Loads a module from its ELF bytes with `param=value` arguments. Returns a summary line.
pub fn insmod(bytes: &[u8], args: &[&str]) -> Result<String, String> {
    insmod_timed(bytes, args).map(|(s, _)| s)
}

/// Where an insmod spent its time, in counter ticks.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timings {
    /// Signature verification.
    pub verify: u64,
    /// ELF parsing and validation.
    pub parse: u64,
    /// Checks, layout planning, module-area allocation and mapping.
    pub plan: u64,
    /// Symbol resolution and relocation.
    pub link: u64,
    /// Final permissions and cache maintenance.
    pub protect: u64,
    /// Constructors and `init_module`.
    pub init: u64,
    /// Relocations in allocated sections.
    pub relocs: usize,
    /// Bytes of the loaded image.
    pub image: u64,
}

fn ticks() -> u64 {
    boards::timer::now().0
}

/// [`insmod`], also returning where the time went.
pub fn insmod_timed(bytes: &[u8], args: &[&str]) -> Result<(String, Timings), String> {
    let mut tm = Timings::default();
    let t0 = boards::timer::uptime_us();
    let cv = ticks();
    // Signature first, for every source: nothing is parsed before the bytes are trusted.
    let (bytes, verdict) =
        crate::signing::check(bytes).map_err(|e| format!("module refused: {e}"))?;
    let c0 = ticks();
    tm.verify = c0 - cv;
    let obj = Object::parse(bytes).map_err(|e| format!("invalid module: {e}"))?;
    let c1 = ticks();
    tm.parse = c1 - c0;
    tm.relocs = obj.num_relocations();
    let info = obj.modinfo();
    let get = |key: &str| info.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let name = get("name").ok_or("invalid module: no name in .modinfo")?;
    if MODULES.lock().iter().any(|m| m.name == name) {
        return Err(format!("{name}: already loaded (rmmod it first)"));
    }
    // ABI version (vermagic).
    let want_abi = crate::exports::abi_string();
    match (get("vermagic"), get("abi")) {
        (Some(rel), Some(abi)) if rel == crate::RELEASE && abi == want_abi => {}
        (Some(rel), Some(abi)) => {
            let mut what = Vec::new();
            if rel != crate::RELEASE {
                what.push(format!("release {rel} vs kernel {}", crate::RELEASE));
            }
            if abi != want_abi {
                what.push(format!(
                    "export ABI {abi} vs kernel {want_abi} (export signatures differ)"
                ));
            }
            return Err(format!(
                "{name}: ABI mismatch: {}; rebuild the module with `cargo xtask modules`",
                what.join(", ")
            ));
        }
        _ => {
            return Err(format!(
                "{name}: no ABI version (vermagic/abi) in .modinfo; build it with the module SDK"
            ))
        }
    }
    // Dependencies must be loaded.
    let declared_deps: Vec<String> = get("depends")
        .map(|d| {
            d.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    {
        let mods = MODULES.lock();
        let missing: Vec<&String> = declared_deps
            .iter()
            .filter(|d| !mods.iter().any(|m| &m.name == *d))
            .collect();
        if !missing.is_empty() {
            let list: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
            return Err(format!(
                "{name}: missing dependency: {} (load it first)",
                list.join(", ")
            ));
        }
    }
    // Parameters.
    let mut params = Vec::new();
    for a in args {
        let (k, v) = a
            .split_once('=')
            .ok_or_else(|| format!("{name}: bad argument '{a}' (expected param=value)"))?;
        params.push((k.to_string(), v.to_string()));
    }
    parse_params(&param_decls(info), &params, &name)?;
    // Exports must be new.
    {
        let exp = EXPORTS.lock();
        for e in obj.exports() {
            if crate::exports::lookup(e).is_some() {
                return Err(format!("{name}: export '{e}' clashes with a kernel export"));
            }
            if let Some((_, owner)) = exp.get(*e) {
                return Err(format!(
                    "{name}: export '{e}' is already exported by module {owner}"
                ));
            }
        }
    }
    // Memory.
    let layout = obj.plan(PAGE_SIZE).map_err(|e| format!("{name}: {e}"))?;
    let size = (layout.size + PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
    let base = area_alloc(size.max(PAGE_SIZE), layout.align.max(PAGE_SIZE))
        .ok_or_else(|| format!("{name}: module area full ({} KiB needed)", size >> 10))?;
    if let Err(e) = mem::map_pages(base, size, Perm::RW) {
        area_free(base, size);
        return Err(format!("{name}: cannot map module memory: {e}"));
    }
    // SAFETY: [base, base+size) was just mapped RW for this module alone; nothing else
    // references it until the module is registered.
    let image = unsafe { core::slice::from_raw_parts_mut(base as *mut u8, layout.size as usize) };
    let used = Mutex::new(Vec::<String>::new());
    let resolver = |sym: &str| -> Option<u64> {
        if let Some(a) = crate::exports::lookup(sym) {
            return Some(a);
        }
        let exp = EXPORTS.lock();
        let (addr, owner) = exp.get(sym)?;
        let mut u = used.lock();
        if !u.contains(owner) {
            u.push(owner.clone());
        }
        Some(*addr)
    };
    let c2 = ticks();
    tm.plan = c2 - c1;
    tm.image = layout.size;
    let linked = match obj.link(&layout, image, base, &resolver) {
        Ok(l) => l,
        Err(e) => {
            release_memory(base, size);
            return Err(format!("{name}: {e}"));
        }
    };
    let c3 = ticks();
    tm.link = c3 - c2;
    // W^X: relocation is done; apply the final permissions, then make the text visible to
    // instruction fetch before any of it runs.
    for seg in layout.segments() {
        if seg.size == 0 {
            continue;
        }
        let perm = match seg.protection {
            Protection::ReadExecute => Perm::RX,
            Protection::ReadOnly => Perm::RO,
            Protection::ReadWrite => Perm::RW,
        };
        let len = (seg.size + PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
        if let Err(e) = mem::protect(base + seg.offset, len, perm) {
            release_memory(base, size);
            return Err(format!("{name}: cannot set permissions: {e}"));
        }
    }
    arch::cache::sync_icache(base, layout.size);
    let c4 = ticks();
    tm.protect = c4 - c3;
    let mut deps = used.into_inner();
    for d in &declared_deps {
        if !deps.contains(d) {
            deps.push(d.clone());
        }
    }
    let init = linked.init;
    let init_array = linked.init_array.clone();
    let exports: Vec<(String, u64)> = linked
        .exports
        .iter()
        .map(|e| (e.name.clone(), e.addr))
        .collect();
    let (text, data) = (
        linked.region(Region::Text).map(|r| r.size).unwrap_or(0)
            + linked.region(Region::Veneers).map(|r| r.size).unwrap_or(0),
        linked.region(Region::Data).map(|r| r.size).unwrap_or(0)
            + linked.region(Region::Bss).map(|r| r.size).unwrap_or(0),
    );
    // Register (state Coming) so that oopses during init name the module.
    {
        let mut mods = MODULES.lock();
        for m in mods.iter_mut().filter(|m| deps.contains(&m.name)) {
            m.users += 1;
        }
        mods.push(Module {
            name: name.clone(),
            base,
            size,
            info: linked,
            deps,
            users: 0,
            state: State::Coming,
            params: params.clone(),
            signature: verdict.clone(),
        });
        let mut exp = EXPORTS.lock();
        for (e, addr) in &exports {
            exp.insert(e.clone(), (*addr, name.clone()));
        }
    }
    TAINT_OOT.store(true, Ordering::Relaxed);
    if let crate::signing::Verdict::Unverified(why) = &verdict {
        println!("{name}: module verification failed: {why} - tainting kernel");
        crate::signing::TAINT_UNSIGNED.store(true, Ordering::Relaxed);
    }
    // init_array, then init_module, contained.
    let mut status = 0i32;
    let c5 = ticks();
    let r = call_contained(&name, params, || {
        for &f in &init_array {
            // SAFETY: relocated constructor addresses inside this module's RX text.
            let f: extern "C" fn() = unsafe { core::mem::transmute(f as usize) };
            f();
        }
        if let Some(init) = init {
            // SAFETY: `init_module` of the module just linked, in RX text with caches synced.
            let f: extern "C" fn() -> i32 = unsafe { core::mem::transmute(init as usize) };
            status = f();
        }
    });
    let why = match r {
        Err(Abandoned::Fault { .. }) => Some("init faulted".to_string()),
        Err(Abandoned::Panic) => Some("init panicked".to_string()),
        Err(Abandoned::Timeout) => Some("init timed out".to_string()),
        Ok(()) if status != 0 => Some(format!("init failed with {status}")),
        Ok(()) => None,
    };
    if let Some(why) = why {
        unload(&name, false);
        return Err(format!("{name}: {why}; module unloaded"));
    }
    if let Some(m) = MODULES.lock().iter_mut().find(|m| m.name == name) {
        m.state = State::Live;
    }
    tm.init = ticks() - c5;
    let us = boards::timer::uptime_us().saturating_sub(t0);
    Ok((
        format!("{name}: loaded at {base:#018x} (text {text:#x}, data {data:#x}) in {us} us"),
        tm,
    ))
}

fn release_memory(base: u64, size: u64) {
    let _ = mem::protect(base, size, Perm::RW);
    let _ = mem::unmap_pages(base, size);
    area_free(base, size);
}

/// Removes a module record and everything it owns. `run_exit` runs its exit code first.
fn unload(name: &str, run_exit: bool) {
    if run_exit {
        let (exit, fini, params) = {
            let mods = MODULES.lock();
            match mods.iter().find(|m| m.name == name) {
                Some(m) => (m.info.exit, m.info.fini_array.clone(), m.params.clone()),
                None => return,
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
    crate::shell::unregister_owned_by(name);
    let m = {
        let mut mods = MODULES.lock();
        let Some(i) = mods.iter().position(|m| m.name == name) else {
            return;
        };
        let m = mods.remove(i);
        mods.shrink_to_fit();
        for other in mods.iter_mut().filter(|o| m.deps.contains(&o.name)) {
            other.users = other.users.saturating_sub(1);
        }
        m
    };
    EXPORTS.lock().retain(|_, (_, owner)| owner != name);
    release_memory(m.base, m.size);
}

/// Unloads a module: refuses while others use it; runs its exit code.
pub fn rmmod(name: &str) -> Result<(), String> {
    {
        let mods = MODULES.lock();
        let Some(m) = mods.iter().find(|m| m.name == name) else {
            return Err(format!("{name}: not loaded"));
        };
        if m.users > 0 {
            let users: Vec<&str> = mods
                .iter()
                .filter(|o| o.deps.iter().any(|d| d == name))
                .map(|o| o.name.as_str())
                .collect();
            return Err(format!("{name}: in use by {}", users.join(", ")));
        }
    }
    unload(name, true);
    Ok(())
}

/// Prints the module list in Linux's `lsmod` layout.
pub fn lsmod() {
    let mods = MODULES.lock();
    println!("{:<19} {:>8}  Used by", "Module", "Size");
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
            "{:<19} {:>8}  {}{}{} ({}){}",
            m.name,
            m.size,
            m.users,
            sep,
            users.join(","),
            m.taint(),
            state
        );
    }
}

/// Prints a module's metadata.
pub fn modinfo(name: &str) -> Result<(), String> {
    let mods = MODULES.lock();
    let m = mods
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| format!("{name}: not loaded"))?;
    let one = |k: &str| m.modinfo(k).next().unwrap_or("").to_string();
    let params: Vec<String> = param_decls(&m.info.modinfo)
        .iter()
        .map(|p| format!("{} ({})", p.name, p.ty))
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
        "vermagic: {}  abi: {}  state: {:?}  base: {:#x}  size: {:#x}",
        one("vermagic"),
        one("abi"),
        m.state,
        m.base,
        m.size
    );
    match &m.signature {
        crate::signing::Verdict::Signed { key, signer } => {
            println!("sig_id: ed25519  sig_key: {key}  signer: {signer}")
        }
        crate::signing::Verdict::Unverified(why) => {
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

/// Writes `name+0xoff/0xsize [module]` for an address in a module; false if none covers
/// it. Never blocks: the oops path may run while the module list is locked.
pub fn symbolize(
    addr: u64,
    lookup: u64,
    w: &mut dyn core::fmt::Write,
) -> Result<bool, core::fmt::Error> {
    let Some(mods) = MODULES.try_lock() else {
        return Ok(false);
    };
    for m in mods.iter() {
        if lookup >= m.base && lookup < m.base + m.size {
            if let Some((s, _)) = m.info.symbolize(lookup) {
                // Module symbols keep their (v0) mangled names; demangle without the hash.
                write!(
                    w,
                    "{:#}+{:#x}/{:#x} [{}]",
                    rustc_demangle::demangle(&s.name),
                    addr.wrapping_sub(s.addr),
                    s.size,
                    m.name
                )?;
            } else {
                write!(w, "{:#x} [{}]", addr, m.name)?;
            }
            return Ok(true);
        }
    }
    Ok(false)
}

/// `[start, end)` of the module function containing `addr`, never blocking.
pub fn function_range(addr: u64) -> Option<(u64, u64)> {
    let mods = MODULES.try_lock()?;
    let m = mods
        .iter()
        .find(|m| addr >= m.base && addr < m.base + m.size)?;
    let (s, _) = m.info.symbolize(addr)?;
    Some((s.addr, s.addr + s.size.max(1)))
}

/// Writes the `Modules linked in:` list, never blocking.
pub fn write_linked(w: &mut dyn core::fmt::Write) -> core::fmt::Result {
    let Some(mods) = MODULES.try_lock() else {
        return w.write_str("<busy>");
    };
    for (i, m) in mods.iter().enumerate() {
        if i > 0 {
            w.write_str(" ")?;
        }
        write!(w, "{}({})", m.name, m.taint())?;
    }
    Ok(())
}

/// Module args: `KStr`s over the given strings (for command handlers).
pub fn kstrs(args: &[&str]) -> Vec<KStr> {
    args.iter()
        .map(|a| KStr {
            ptr: a.as_ptr(),
            len: a.len(),
        })
        .collect()
}

/// Number of loaded modules.
pub fn count() -> usize {
    MODULES.lock().len()
}

/// Number of module exports.
pub fn export_count() -> usize {
    EXPORTS.lock().len()
}
