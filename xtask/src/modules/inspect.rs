//! What a built object contains: `.modinfo`, `.modexports`, its imports and globals.

#[allow(unused_imports)]
use super::*;

/// What a finished `.ko` contains, as far as the kernel's checks go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KoInfo {
    /// `.modinfo` pairs in order.
    pub modinfo: Vec<(String, String)>,
    /// `depends=` entries.
    pub depends: Vec<String>,
    /// `.modexports` names.
    pub exports: Vec<String>,
    /// Undefined global symbols, sorted.
    pub imports: Vec<String>,
    /// The undefined symbols that are weak (NULL when nothing defines them), sorted.
    pub weak_imports: Vec<String>,
    /// Defined global symbols, sorted.
    pub globals: Vec<String>,
}

impl KoInfo {
    /// The first value of `key` in `.modinfo`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.modinfo
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads the metadata and symbol interface of a relocatable object.
pub fn inspect(bytes: &[u8]) -> Result<KoInfo, String> {
    let file = object::File::parse(bytes).map_err(|e| format!("not an ELF object: {e}"))?;
    if file.kind() != object::ObjectKind::Relocatable
        || file.architecture() != object::Architecture::Aarch64
    {
        return Err("not an AArch64 ELF relocatable object (ET_REL)".into());
    }
    let mut info = KoInfo::default();
    for s in file.sections() {
        let name = s.name().unwrap_or("");
        if name != ".modinfo" && name != ".modexports" {
            continue;
        }
        let data = s.data().map_err(|e| format!("{name}: {e}"))?;
        for raw in kabi::modinfo::strings(data) {
            if name == ".modexports" {
                let text =
                    std::str::from_utf8(raw).map_err(|_| format!("{name}: entry is not UTF-8"))?;
                info.exports.push(text.to_string());
            } else {
                let (k, v) = kabi::modinfo::entry(raw)
                    .map_err(|e| format!(".modinfo: '{}': {e}", String::from_utf8_lossy(raw)))?;
                info.modinfo.push((k.to_string(), v.to_string()));
            }
        }
    }
    info.depends = kabi::modinfo::depends(info.get("depends").unwrap_or(""))
        .map(String::from)
        .collect();
    let mut imports = BTreeSet::new();
    let mut weak = BTreeSet::new();
    let mut globals = BTreeSet::new();
    for sym in file.symbols() {
        let Ok(name) = sym.name() else { continue };
        if name.is_empty() {
            continue;
        }
        // Undefined symbols count whatever their binding (GNU ld -r may mark them LOCAL).
        if sym.is_undefined() {
            imports.insert(name.to_string());
            if sym.is_weak() {
                weak.insert(name.to_string());
            }
        } else if !sym.is_local() {
            globals.insert(name.to_string());
        }
    }
    info.imports = imports.into_iter().collect();
    info.weak_imports = weak.into_iter().collect();
    info.globals = globals.into_iter().collect();
    Ok(info)
}

/// Names of the defined global symbols and the `.modexports` entries of an object file.
pub(super) fn object_interface(path: &Path) -> Result<(BTreeSet<String>, Vec<String>), String> {
    let bytes = fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let file = object::File::parse(&*bytes)
        .map_err(|e| format!("{}: not an object: {e}", path.display()))?;
    let defined = file
        .symbols()
        .filter(|s| s.is_global() && !s.is_undefined())
        .filter_map(|s| s.name().ok().map(String::from))
        .collect();
    let mut exports = Vec::new();
    for s in file.sections() {
        if s.name() == Ok(".modexports") {
            let data = s.data().map_err(|e| format!("{}: {e}", path.display()))?;
            exports.extend(kabi::modinfo::exports(data).map(String::from));
        }
    }
    Ok((defined, exports))
}

/// Undefined symbols of a relocatable object that no relocation refers to.
pub(super) fn unreferenced_imports(bytes: &[u8]) -> Result<Vec<String>, String> {
    let file = object::File::parse(bytes).map_err(|e| format!("not an object: {e}"))?;
    let mut used = BTreeSet::new();
    for s in file.sections() {
        for (_, r) in s.relocations() {
            if let object::RelocationTarget::Symbol(i) = r.target() {
                used.insert(i.0);
            }
        }
    }
    Ok(file
        .symbols()
        // GNU ld -r leaves undefined symbols of garbage-collected code behind as LOCAL UND.
        .filter(|s| s.is_undefined() && !used.contains(&s.index().0))
        .filter_map(|s| s.name().ok().filter(|n| !n.is_empty()).map(String::from))
        .collect())
}

/// `--redefine-sym` arguments that give the object's local Rust symbols their demangled
/// names (`faulty::null_write` rather than `_RNvCs..._6faulty10null_write`), so the kernel's
/// oops symbolizer prints readable module frames. Globals keep their names (the ABI); a
/// demangled name that would repeat gets a `#2`, `#3`... suffix.
pub(super) fn demangle_args(bytes: &[u8]) -> Result<Vec<String>, String> {
    let file = object::File::parse(bytes).map_err(|e| format!("not an object: {e}"))?;
    let mut seen_old = BTreeSet::new();
    let mut taken: BTreeSet<String> = file
        .symbols()
        .filter_map(|s| s.name().ok().map(String::from))
        .collect();
    let mut args = Vec::new();
    for s in file.symbols() {
        let Ok(name) = s.name() else { continue };
        if !s.is_local() || s.is_undefined() || !seen_old.insert(name) {
            continue;
        }
        let Ok(d) = rustc_demangle::try_demangle(name) else {
            continue;
        };
        let base = format!("{d:#}");
        if base.contains('=') || base == name {
            continue;
        }
        // Distinct items can demangle alike (e.g. two shims a macro made in one function).
        let mut new = base.clone();
        let mut n = 1;
        while !taken.insert(new.clone()) {
            n += 1;
            new = format!("{base}#{n}");
        }
        args.push(format!("--redefine-sym={name}={new}"));
    }
    Ok(args)
}
