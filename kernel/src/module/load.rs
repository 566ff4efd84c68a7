//! insmod as a list of named steps (Linux's `load_module`):
//!
//! 1. [`verify`]: the signature, before a byte is parsed;
//! 2. [`parse`]: the ELF, through `modloader`;
//! 3. [`check`]: name, ABI, dependencies, parameters, exports;
//! 4. [`allocate`]: pages in the module area;
//! 5. [`link`]: symbol resolution and relocation;
//! 6. [`protect`]: W^X permissions and cache maintenance;
//! 7. [`register`]: the module joins the registry (state `Coming`);
//! 8. [`run_init`]: constructors and `init_module`, contained.
//!
//! One rollback path: until step 7 the pages are held by an [`Image`] that gives them
//! back when dropped; from step 7 on, a failure goes through [`super::teardown`], the same
//! teardown rmmod uses.

use super::error::{InitFailure, LoadError};
use super::lineinfo::{LineInfo, LineInfoError};
use super::params::{self, Params};
use super::signing::{self, Verdict};
use super::{area, Module, State, EXPORTS, MODULES};
use crate::fault::recovery::Abandoned;
use crate::fault::taint::{self, Taint};
use crate::platform::exports;
use crate::println;
use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use arch::mmu::{Perm, PAGE_SIZE};
use core::fmt;
use modloader::{Layout, LoadedModule, Object, Protection, Region};
use spin::Mutex;

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

/// A module that loaded.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// Its name.
    pub name: String,
    /// Image base.
    pub base: u64,
    /// Text and veneer bytes.
    pub text: u64,
    /// Data and bss bytes.
    pub data: u64,
    /// Wall time of the whole insmod.
    pub us: u64,
}

impl fmt::Display for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: loaded at {:#018x} (text {:#x}, data {:#x}) in {} us",
            self.name, self.base, self.text, self.data, self.us
        )
    }
}

fn ticks() -> u64 {
    boards::timer::now().0
}

/// Loads a module from its file bytes with `param=value` arguments; init runs with the
/// deadline `timeout_ms` (`None`: the default, see [`super::default_timeout_ms`]).
pub fn insmod(bytes: &[u8], args: &[&str], timeout_ms: Option<u64>) -> Result<Loaded, LoadError> {
    insmod_timed(bytes, args, timeout_ms).map(|(l, _)| l)
}

/// [`insmod`], also returning where the time went.
pub fn insmod_timed(
    bytes: &[u8],
    args: &[&str],
    timeout_ms: Option<u64>,
) -> Result<(Loaded, Timings), LoadError> {
    let mut tm = Timings::default();
    let t0 = boards::timer::uptime_us();
    let mut clock = ticks();
    let mut lap = |slot: &mut u64| {
        let now = ticks();
        *slot = now - clock;
        clock = now;
    };
    let (elf, verdict) = verify(bytes)?;
    lap(&mut tm.verify);
    let obj = parse(elf)?;
    lap(&mut tm.parse);
    tm.relocs = obj.num_relocations();
    let meta = check(&obj, args)?;
    let (layout, mut image) = allocate(&obj, &meta.name)?;
    lap(&mut tm.plan);
    tm.image = layout.size;
    let (linked, used) = link(&obj, &layout, &mut image, &meta.name)?;
    lap(&mut tm.link);
    protect(&layout, &image, &meta.name)?;
    lap(&mut tm.protect);
    let (lines, why) = LineInfo::find(&obj, &linked);
    if let Some(e @ LineInfoError::Format(_)) = why {
        println!(
            "{}: line table unusable ({e}); frames show name+offset",
            meta.name
        );
    }
    let (text, data) = sizes(&linked);
    let base = image.base;
    let name = meta.name.clone();
    let debug = super::gdbhook::GdbModule::new(&meta.name, &linked, lines.build_id());
    super::gdbhook::list(&debug);
    super::gdbhook::kmod_gdb_loaded(&debug);
    register(meta, image, linked, used, verdict, lines, debug);
    run_init(&name, timeout_ms)?;
    lap(&mut tm.init);
    let us = boards::timer::uptime_us().saturating_sub(t0);
    Ok((
        Loaded {
            name,
            base,
            text,
            data,
            us,
        },
        tm,
    ))
}

/// Step 1: the signature ([`signing::check`]); returns the ELF bytes.
fn verify(bytes: &[u8]) -> Result<(&[u8], Verdict), LoadError> {
    signing::check(bytes).map_err(LoadError::Refused)
}

/// Step 2: the ELF.
fn parse(elf: &[u8]) -> Result<Object<'_>, LoadError> {
    Object::parse(elf).map_err(LoadError::Invalid)
}

/// What the checks established.
struct Meta {
    name: String,
    deps: Vec<String>,
    params: Params,
}

/// Step 3: name, ABI version, dependencies, parameters and exports.
fn check(obj: &Object<'_>, args: &[&str]) -> Result<Meta, LoadError> {
    let info = obj.modinfo();
    let get = |key: &str| info.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let name = get("name").ok_or(LoadError::NoName)?;
    if !klib::escape::is_module_name(&name) {
        return Err(LoadError::BadName(name));
    }
    if MODULES.lock().iter().any(|m| m.name == name) {
        return Err(LoadError::AlreadyLoaded(name));
    }
    let want_abi = exports::abi_string();
    match (get("vermagic"), get("abi")) {
        (Some(rel), Some(abi)) if rel == crate::platform::RELEASE && abi == want_abi => {}
        (Some(rel), Some(abi)) => {
            return Err(LoadError::AbiMismatch {
                release: (rel != crate::platform::RELEASE)
                    .then(|| (rel.clone(), crate::platform::RELEASE)),
                abi: (abi != want_abi).then(|| (abi.clone(), want_abi.clone())),
                name,
            })
        }
        _ => return Err(LoadError::NoAbi(name)),
    }
    let deps: Vec<String> = get("depends")
        .map(|d| kabi::modinfo::depends(&d).map(String::from).collect())
        .unwrap_or_default();
    {
        let mods = MODULES.lock();
        let missing: Vec<String> = deps
            .iter()
            .filter(|d| !mods.iter().any(|m| &m.name == *d))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(LoadError::MissingDependency { name, missing });
        }
    }
    let params = params::check(info, args).map_err(|e| LoadError::Param(name.clone(), e))?;
    {
        let exp = EXPORTS.lock();
        for e in obj.exports() {
            let owner = if exports::lookup(e).is_some() {
                None
            } else if let Some((_, o)) = exp.get(*e) {
                Some(o.clone())
            } else {
                continue;
            };
            return Err(LoadError::ExportClash {
                name,
                export: e.to_string(),
                owner,
            });
        }
    }
    Ok(Meta { name, deps, params })
}

/// Pages in the module area that go back when dropped, unless a module record took them.
struct Image {
    base: u64,
    size: u64,
    len: usize,
    owned: bool,
}

impl Image {
    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: [base, base+size) was mapped RW for this load alone (see `allocate`);
        // nothing else references it until the module is registered, and `len <= size`.
        unsafe { core::slice::from_raw_parts_mut(self.base as *mut u8, self.len) }
    }

    /// Hands the pages to the module record.
    fn commit(mut self) -> (u64, u64) {
        self.owned = false;
        (self.base, self.size)
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        if self.owned {
            area::release(self.base, self.size);
        }
    }
}

/// Step 4: plan the layout and take pages for it.
fn allocate(obj: &Object<'_>, name: &str) -> Result<(Layout, Image), LoadError> {
    let layout = obj
        .plan(PAGE_SIZE)
        .map_err(|e| LoadError::Plan(name.into(), e))?;
    let (base, size) = area::allocate(layout.size, layout.align).map_err(|e| match e {
        area::AreaError::Full => LoadError::AreaFull {
            name: name.into(),
            kib: layout.size.div_ceil(PAGE_SIZE) * (PAGE_SIZE >> 10),
        },
        area::AreaError::Map(e) => LoadError::Memory(name.into(), e),
    })?;
    let image = Image {
        base,
        size,
        len: layout.size as usize,
        owned: true,
    };
    Ok((layout, image))
}

/// Step 5: resolve against the kernel's and other modules' exports, and relocate. Also
/// returns the modules whose exports were used.
fn link(
    obj: &Object<'_>,
    layout: &Layout,
    image: &mut Image,
    name: &str,
) -> Result<(LoadedModule, Vec<String>), LoadError> {
    let used = Mutex::new(Vec::<String>::new());
    let resolver = |sym: &str| -> Option<u64> {
        if let Some(a) = exports::lookup(sym) {
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
    let base = image.base;
    let linked = obj
        .link(layout, image.bytes(), base, &resolver)
        .map_err(|e| LoadError::Link(name.into(), e))?;
    Ok((linked, used.into_inner()))
}

/// Step 6: W^X. Relocation is done; apply the final permissions, then make the text
/// visible to instruction fetch before any of it runs.
fn protect(layout: &Layout, image: &Image, name: &str) -> Result<(), LoadError> {
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
        crate::platform::mem::protect(image.base + seg.offset, len, perm)
            .map_err(|e| LoadError::Memory(name.into(), e))?;
    }
    arch::cache::sync_icache(image.base, layout.size);
    Ok(())
}

fn sizes(linked: &LoadedModule) -> (u64, u64) {
    let size = |r| linked.region(r).map(|p| p.size).unwrap_or(0);
    (
        size(Region::Text) + size(Region::Veneers),
        size(Region::Data) + size(Region::Bss),
    )
}

/// Step 7: the module joins the registry (state `Coming`, so oopses during init name
/// it), its exports become visible, its users are counted, and the kernel is tainted.
fn register(
    meta: Meta,
    image: Image,
    linked: LoadedModule,
    used: Vec<String>,
    verdict: Verdict,
    lines: LineInfo,
    gdb: Box<super::gdbhook::GdbModule>,
) {
    let Meta { name, deps, params } = meta;
    let mut deps_all = used;
    for d in deps {
        if !deps_all.contains(&d) {
            deps_all.push(d);
        }
    }
    if let Verdict::Unverified(why) = &verdict {
        println!("{name}: module verification failed: {why} - tainting kernel");
        taint::add(Taint::UNSIGNED_MODULE);
    }
    taint::add(Taint::OOT_MODULE);
    let exported: Vec<(String, u64)> = linked
        .exports
        .iter()
        .map(|e| (e.name.clone(), e.addr))
        .collect();
    let (base, size) = image.commit();
    let mut mods = MODULES.lock();
    for m in mods.iter_mut().filter(|m| deps_all.contains(&m.name)) {
        m.users += 1;
    }
    mods.push(Module {
        name: name.clone(),
        base,
        size,
        info: linked,
        deps: deps_all,
        users: 0,
        state: State::Coming,
        params,
        signature: verdict,
        heap: Default::default(),
        lines,
        gdb,
    });
    let mut exp = EXPORTS.lock();
    for (e, addr) in exported {
        exp.insert(e, (addr, name.clone()));
    }
}

/// Step 8: `.init_array`, then `init_module`, contained. On failure the module is torn
/// down like rmmod (without running its exit code).
fn run_init(name: &str, timeout_ms: Option<u64>) -> Result<(), LoadError> {
    let (init, init_array, params) = {
        let mods = MODULES.lock();
        match mods.iter().find(|m| m.name == name) {
            Some(m) => (m.info.init, m.info.init_array.clone(), m.params.clone()),
            None => return Ok(()),
        }
    };
    let mut status = 0i32;
    let r = super::call_contained(name, "init", params, timeout_ms, || {
        for &f in &init_array {
            // SAFETY: relocated constructor addresses of this module, run contained.
            unsafe { super::call(f, 0, 0, 0) };
        }
        if let Some(init) = init {
            // SAFETY: `init_module` of the module just linked (caches synced), contained.
            status = unsafe { super::call(init, 0, 0, 0) } as i32;
        }
    });
    let why = match r {
        Err(Abandoned::Fault { .. }) => Some(InitFailure::Fault),
        Err(Abandoned::Panic) => Some(InitFailure::Panic),
        Err(Abandoned::Timeout) => Some(InitFailure::Timeout),
        Err(Abandoned::Interrupted) => Some(InitFailure::Interrupted),
        Ok(()) if status != 0 => Some(InitFailure::Status(status)),
        Ok(()) => None,
    };
    if let Some(why) = why {
        super::teardown(name, false, None);
        return Err(LoadError::Init {
            name: name.into(),
            why,
        });
    }
    if let Some(m) = MODULES.lock().iter_mut().find(|m| m.name == name) {
        m.state = State::Live;
    }
    Ok(())
}
