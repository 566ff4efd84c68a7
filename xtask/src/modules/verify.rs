//! Checks of a finished module against the kernel and the other modules, and the order
//! dependencies impose.

#[allow(unused_imports)]
use super::*;

/// Checks a finished module against the kernel and the other modules' exports.
/// `module_exports` maps every module being built to its exports.
pub fn verify(
    name: &str,
    info: &KoInfo,
    abi: &KernelAbi,
    module_exports: &BTreeMap<String, Vec<String>>,
) -> Result<(), String> {
    let fail = |what: String| Err(format!("module {name}: {what}"));
    match info.get("name") {
        Some(n) if n == name => {}
        Some(n) => {
            return fail(format!(
                "`.modinfo` says name={n}, but the module folder is {name} (set `name` in kmod.toml, or rename one of them)"
            ))
        }
        None => return fail("no name= in .modinfo (use kmod::module! or MODULE_NAME)".into()),
    }
    match (info.get("vermagic"), info.get("abi")) {
        (Some(v), Some(a)) if v == RELEASE && a == abi.abi_string() => {}
        (v, a) => {
            return fail(format!(
                "built for vermagic={} abi={}, but the kernel is {RELEASE} {} (a stale build?)",
                v.unwrap_or("?"),
                a.unwrap_or("?"),
                abi.abi_string()
            ))
        }
    }
    for (k, v) in &info.modinfo {
        if k == "parm" {
            let ok = kabi::param::ParamDecl::parse(v).is_some_and(|d| d.ty.is_ok());
            if !ok {
                let types: Vec<&str> = kabi::param::ParamType::ALL
                    .iter()
                    .map(|t| t.name())
                    .collect();
                return fail(format!(
                    "bad parameter declaration parm={v} (NAME:TYPE:description, TYPE one of {})",
                    types.join(", ")
                ));
            }
        }
    }
    if !info.globals.iter().any(|g| g == "init_module") {
        return fail("init_module is not defined".into());
    }
    for d in &info.depends {
        if d == name {
            return fail("depends on itself".into());
        }
        if !module_exports.contains_key(d) {
            return fail(format!(
                "depends on {d}, which is neither built nor being built (build it first, or name both folders)"
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for e in &info.exports {
        if !seen.insert(e) {
            return fail(format!("exports {e} twice"));
        }
        if !info.globals.contains(e) {
            return fail(format!("exports {e}, which is not a defined global symbol"));
        }
        if abi.exports.contains_key(e) {
            return fail(format!("export {e} clashes with a kernel export"));
        }
        if let Some((other, _)) = module_exports
            .iter()
            .find(|(m, ex)| m.as_str() != name && ex.contains(e))
        {
            return fail(format!("export {e} is also exported by module {other}"));
        }
    }
    let from_deps = |sym: &str| {
        info.depends.iter().any(|d| {
            module_exports
                .get(d)
                .is_some_and(|ex| ex.iter().any(|e| e == sym))
        })
    };
    let bad: Vec<&str> = info
        .imports
        .iter()
        .map(String::as_str)
        .filter(|s| !abi.exports.contains_key(*s) && !from_deps(s))
        // A weak reference nothing defines is linked as NULL, as the kernel's linker does.
        .filter(|s| !info.weak_imports.iter().any(|w| w == s))
        .collect();
    if !bad.is_empty() {
        let deps = if info.depends.is_empty() {
            "none".to_string()
        } else {
            info.depends.join(", ")
        };
        return fail(format!(
            "undefined symbols that are neither kernel exports nor exported by its \
             dependencies (depends: {deps}): {}",
            bad.join(", ")
        ));
    }
    Ok(())
}

/// Modules in an order where every module comes after its dependencies.
pub(super) fn dependency_order(infos: &BTreeMap<String, KoInfo>) -> Result<Vec<String>, String> {
    let mut done: Vec<String> = Vec::new();
    let mut left: Vec<&String> = infos.keys().collect();
    while !left.is_empty() {
        let before = left.len();
        left.retain(|m| {
            let ready = infos[*m].depends.iter().all(|d| done.contains(d));
            if ready {
                done.push((*m).clone());
            }
            !ready
        });
        if left.len() == before {
            let names: Vec<&str> = left.iter().map(|s| s.as_str()).collect();
            return Err(format!(
                "circular module dependencies among: {}",
                names.join(", ")
            ));
        }
    }
    Ok(done)
}
