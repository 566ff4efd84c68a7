//! `cargo xtask modules`: build every module under `modules/` into `target/modules/NAME.ko`.
//!
//! A module directory holds either a Rust crate (`Cargo.toml`, `crate-type = ["staticlib"]`,
//! depending on the `kmod` SDK) or C sources (`*.c`, including `<kmod.h>`). Each becomes
//! one ELF relocatable object the kernel links at insmod time:
//!
//! 1. The kernel's ABI hash is read from `.kexports` of the kernel image and passed to the
//!    build (`KMOD_ABI`, `KMOD_RELEASE`), so every module records what it was built against.
//! 2. Rust: `cargo build --release --target aarch64-unknown-none-softfloat -p ...` (one cargo
//!    run for all of them). C: `aarch64-linux-gnu-gcc -c` with freestanding flags, plus the
//!    SDK's tiny C runtime (`sdk/c/kmod_rt.c`: memcpy & co.).
//! 3. `aarch64-linux-gnu-ld -r --gc-sections` with a generated script: the module's own
//!    objects, then the archive (only the members that are needed: core, alloc,
//!    compiler_builtins pieces), rooted at `init_module`, `cleanup_module` and the exports;
//!    `.modinfo`/`.modexports` kept; `.eh_frame` and embedded bitcode dropped; the DWARF goes to
//!    `NAME.ko.debug` and a compact line table and build ID into the `.ko` (`lineinfo`).
//! 4. `aarch64-linux-gnu-objcopy`: every defined symbol becomes local except the entry
//!    points and the exports (two modules may both carry core's code), and undefined symbols
//!    no relocation uses are dropped.
//! 5. Verification: the undefined symbols must all be kernel exports or exports of a module
//!    named in `depends`; `.modinfo` must name the module and carry this kernel's
//!    vermagic/ABI; exports must be defined and unique; and the object must link with the
//!    kernel's own linker (`modloader`) against the kernel's real export addresses.

use object::read::archive::ArchiveFile;
use object::{Object as _, ObjectSection as _, ObjectSymbol as _};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

mod abi;
mod compile;
mod discover;
mod inspect;
mod lineinfo;
mod link;
mod verify;

pub use abi::*;
pub use compile::*;
pub use discover::*;
pub use inspect::*;
#[allow(unused_imports)]
use link::*;
pub use verify::*;

/// The kernel release modules are built for (the kernel is `version.workspace` too).
pub const RELEASE: &str = env!("CARGO_PKG_VERSION");

const LD: &str = "aarch64-linux-gnu-ld";
const OBJCOPY: &str = "aarch64-linux-gnu-objcopy";

const GCC: &str = "aarch64-linux-gnu-gcc";

/// Where the dry link places the first module (the real module area is near the kernel).
const DRY_LINK_BASE: u64 = 0x4800_0000;

/// A module built in its work directory, not yet published.
struct Staged {
    out: PathBuf,
    bytes: Vec<u8>,
    info: KoInfo,
}

/// Builds every module under `root/modules` against the kernel image `kernel_elf` and
/// writes `root/target/modules/NAME.ko`, signed with `key`. Returns the paths, sorted by
/// module name. Steps: read the kernel's ABI, compile and link each module, verify them
/// all and link each with the kernel's own linker, then sign and publish.
pub fn build_modules(
    root: &Path,
    kernel_elf: &Path,
    key: &crate::sign::SecretKey,
) -> Result<Vec<PathBuf>, String> {
    let elf = fs::read(kernel_elf).map_err(|e| {
        format!(
            "read {}: {e} (build the kernel first: cargo xtask build)",
            kernel_elf.display()
        )
    })?;
    let abi = read_kernel_abi(&elf).map_err(|e| format!("{}: {e}", kernel_elf.display()))?;
    let modules = discover(root)?;
    println!(
        "==> building {} modules for kernel {RELEASE}, ABI {} ({} exports)",
        modules.len(),
        abi.abi_string(),
        abi.exports.len()
    );
    let out_dir = root.join("target/modules");
    let work_root = out_dir.join(".build");
    fs::create_dir_all(&work_root).map_err(|e| format!("mkdir {}: {e}", work_root.display()))?;
    let built = compile_all(root, &modules, &abi.abi_string(), &work_root)?;
    verify_all(&built, &abi)?;
    publish(&built, key, &out_dir, &work_root)
}

/// Compiles and partially links every module in its own work directory.
fn compile_all(
    root: &Path,
    modules: &[ModuleSource],
    abi_str: &str,
    work_root: &Path,
) -> Result<BTreeMap<String, Staged>, String> {
    let has_c = modules.iter().any(|m| matches!(m.source, Source::C { .. }));
    let has_rust = modules
        .iter()
        .any(|m| matches!(m.source, Source::Rust { .. }));
    let mut tools = vec![LD];
    if has_c {
        tools.push(GCC);
    }
    crate::deps::ensure(&tools)?;
    if has_rust {
        crate::deps::ensure_target()?;
        let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cargo
            .current_dir(root)
            .args(["build", "--quiet", "--release", "--target", crate::TARGET])
            .env("KMOD_ABI", abi_str)
            .env("KMOD_RELEASE", RELEASE);
        for m in modules {
            if let Source::Rust { package, .. } = &m.source {
                cargo.args(["-p", package]);
            }
        }
        crate::run(&mut cargo)?;
    }
    let archive_dir = cargo_target_dir(root).join(crate::TARGET).join("release");
    let mut rt_obj: Option<PathBuf> = None;
    let mut built = BTreeMap::new();
    for m in modules {
        let work = work_root.join(&m.name);
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work).map_err(|e| format!("mkdir {}: {e}", work.display()))?;
        // Staged in the work directory; published only once every module verifies.
        let out = work.join(format!("{}.ko", m.name));
        match &m.source {
            Source::Rust { lib, .. } => {
                let archive = archive_dir.join(format!("lib{lib}.a"));
                let objects = extract_crate_members(&archive, lib, &work)?;
                link_module(&m.name, &work, &objects, Some(&archive), &out)?;
            }
            Source::C { files } => {
                let rt = match &rt_obj {
                    Some(p) => p.clone(),
                    None => {
                        let p = work_root.join("kmod_rt.o");
                        compile_c(root, abi_str, &root.join("sdk/c/kmod_rt.c"), &p)?;
                        rt_obj = Some(p.clone());
                        p
                    }
                };
                let mut objects = Vec::new();
                for (i, f) in files.iter().enumerate() {
                    let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or("src");
                    let o = work.join(format!("{i:02}-{stem}.o"));
                    compile_c(root, abi_str, f, &o)?;
                    objects.push(o);
                }
                objects.push(rt);
                link_module(&m.name, &work, &objects, None, &out)?;
            }
        }
        let bytes = fs::read(&out).map_err(|e| format!("read {}: {e}", out.display()))?;
        let info = inspect(&bytes).map_err(|e| format!("module {}: {e}", m.name))?;
        built.insert(m.name.clone(), Staged { out, bytes, info });
    }
    Ok(built)
}

/// Verifies every module against the kernel and each other, then links each with the
/// kernel's own linker (a dry run at made-up addresses, dependencies first).
fn verify_all(built: &BTreeMap<String, Staged>, abi: &KernelAbi) -> Result<(), String> {
    let exports: BTreeMap<String, Vec<String>> = built
        .iter()
        .map(|(n, m)| (n.clone(), m.info.exports.clone()))
        .collect();
    for (name, m) in built {
        verify(name, &m.info, abi, &exports)?;
    }
    let infos: BTreeMap<String, KoInfo> = built
        .iter()
        .map(|(n, m)| (n.clone(), m.info.clone()))
        .collect();
    let mut linked_exports: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut base = DRY_LINK_BASE;
    for name in dependency_order(&infos)? {
        let m = &built[&name];
        let mut symbols = abi.exports.clone();
        for d in &m.info.depends {
            symbols.extend(linked_exports[d].iter().map(|(k, v)| (k.clone(), *v)));
        }
        let (_, linked) = modloader::link_to_vec(&m.bytes, 4096, base, &symbols).map_err(|e| {
            format!(
                "module {name}: the kernel's linker rejects {}: {e}",
                m.out.display()
            )
        })?;
        base = (base + linked.size + 0xffff) & !0xffff;
        linked_exports.insert(
            name.clone(),
            linked
                .exports
                .iter()
                .map(|e| (e.name.clone(), e.addr))
                .collect(),
        );
        let imports = if m.info.imports.is_empty() {
            "-".to_string()
        } else {
            m.info.imports.join(" ")
        };
        println!(
            "    {:<16} {:>8} bytes (image {:>8})  imports: {imports}",
            format!("{name}.ko"),
            m.bytes.len(),
            linked.size
        );
    }
    Ok(())
}

/// Signs and publishes every module, and drops `.ko` files and work directories of
/// modules that no longer exist, so nothing stale gets embedded.
fn publish(
    built: &BTreeMap<String, Staged>,
    key: &crate::sign::SecretKey,
    out_dir: &Path,
    work_root: &Path,
) -> Result<Vec<PathBuf>, String> {
    let mut published = Vec::new();
    for (name, m) in built {
        let dest = out_dir.join(format!("{name}.ko"));
        let tmp = out_dir.join(format!(".{name}.ko.tmp"));
        let signed =
            crate::sign::sign_bytes(&m.bytes, key).map_err(|e| format!("module {name}: {e}"))?;
        write(&tmp, &signed)?;
        fs::rename(&tmp, &dest)
            .map_err(|e| format!("rename {} -> {}: {e}", tmp.display(), dest.display()))?;
        lineinfo::publish_debug(&m.out, &dest)?;
        published.push(dest);
    }
    let gone = |p: &Path| {
        p.file_stem()
            .and_then(|s| s.to_str())
            .is_some_and(|s| !built.contains_key(s))
    };
    for e in fs::read_dir(out_dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "ko") && gone(&p) {
            let _ = fs::remove_file(&p);
        }
    }
    for e in fs::read_dir(work_root).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() && gone(&p) {
            let _ = fs::remove_dir_all(&p);
        }
    }
    Ok(published)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal little-endian ELF64 AArch64 executable: the given `(name, address, bytes)`
    /// sections (allocated, PROGBITS) plus `.shstrtab`.
    fn tiny_elf(sections: &[(&str, u64, Vec<u8>)]) -> Vec<u8> {
        let mut shstrtab = vec![0u8];
        let mut names = Vec::new();
        for (n, _, _) in sections.iter().map(|(n, a, d)| (*n, a, d)) {
            names.push(shstrtab.len() as u32);
            shstrtab.extend_from_slice(n.as_bytes());
            shstrtab.push(0);
        }
        let shstr_name = shstrtab.len() as u32;
        shstrtab.extend_from_slice(b".shstrtab\0");
        let mut out = vec![0u8; 64];
        let mut offsets = Vec::new();
        for (_, _, d) in sections {
            out.resize(out.len().next_multiple_of(8), 0);
            offsets.push(out.len() as u64);
            out.extend_from_slice(d);
        }
        let shstr_off = out.len() as u64;
        out.extend_from_slice(&shstrtab);
        out.resize(out.len().next_multiple_of(8), 0);
        let shoff = out.len() as u64;
        let shnum = sections.len() as u16 + 2;
        // ELF header.
        out[..16].copy_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
        out[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        out[18..20].copy_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
        out[20..24].copy_from_slice(&1u32.to_le_bytes());
        out[40..48].copy_from_slice(&shoff.to_le_bytes());
        out[52..54].copy_from_slice(&64u16.to_le_bytes());
        out[58..60].copy_from_slice(&64u16.to_le_bytes());
        out[60..62].copy_from_slice(&shnum.to_le_bytes());
        out[62..64].copy_from_slice(&(shnum - 1).to_le_bytes());
        let mut sh = |name: u32, ty: u32, flags: u64, addr: u64, off: u64, size: u64| {
            out.extend_from_slice(&name.to_le_bytes());
            out.extend_from_slice(&ty.to_le_bytes());
            for v in [flags, addr, off, size] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&0u32.to_le_bytes()); // link
            out.extend_from_slice(&0u32.to_le_bytes()); // info
            out.extend_from_slice(&8u64.to_le_bytes()); // align
            out.extend_from_slice(&0u64.to_le_bytes()); // entsize
        };
        sh(0, 0, 0, 0, 0, 0);
        for (i, (_, addr, d)) in sections.iter().enumerate() {
            sh(names[i], 1, 2, *addr, offsets[i], d.len() as u64);
        }
        sh(shstr_name, 3, 0, 0, shstr_off, shstrtab.len() as u64);
        out
    }

    fn fnv_reference(text: &str) -> u64 {
        let mut h: u64 = 0xcbf29ce484222325;
        for b in text.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        h
    }

    #[test]
    fn fnv_known_answers() {
        assert_eq!(abi_hash(&[]), 0xcbf29ce484222325);
        assert_eq!(fnv_reference("a"), 0xaf63dc4c8601ec8c);
        let recs = vec![
            ("kmod_print".to_string(), "fn(*const u8, usize)".to_string()),
            (
                "kmod_alloc".to_string(),
                "fn(usize, usize) -> *mut u8".to_string(),
            ),
        ];
        assert_eq!(
            abi_hash(&recs),
            fnv_reference(
                "kmod_alloc:fn(usize, usize) -> *mut u8\nkmod_print:fn(*const u8, usize)\n"
            )
        );
    }

    #[test]
    fn reads_kexports_of_a_synthetic_kernel() {
        // Strings in .rodata at 0x1000; records in .kexports at 0x2000, unsorted.
        let rodata = b"kmod_printfn(*const u8, usize)kmod_uptime_usfn() -> u64".to_vec();
        let rec = |name: (u64, u64), addr: u64, sig: (u64, u64)| {
            [0x1000 + name.0, name.1, addr, 0x1000 + sig.0, sig.1]
                .iter()
                .flat_map(|w| w.to_le_bytes())
                .collect::<Vec<u8>>()
        };
        let mut kexports = rec((30, 14), 0x4020_1000, (44, 11));
        kexports.extend(rec((0, 10), 0x4020_2000, (10, 20)));
        let elf = tiny_elf(&[(".rodata", 0x1000, rodata), (".kexports", 0x2000, kexports)]);
        let abi = read_kernel_abi(&elf).unwrap();
        assert_eq!(abi.exports.len(), 2);
        assert_eq!(abi.exports["kmod_print"], 0x4020_2000);
        assert_eq!(abi.exports["kmod_uptime_us"], 0x4020_1000);
        let want = fnv_reference("kmod_print:fn(*const u8, usize)\nkmod_uptime_us:fn() -> u64\n");
        assert_eq!(abi.hash, want);
        assert_eq!(abi.abi_string(), format!("{want:016x}"));
        assert_eq!(abi.abi_string().len(), 16);

        // A pointer outside every loaded section is reported.
        let bad = rec((0, 10), 0, (10, 2000));
        let elf = tiny_elf(&[
            (".rodata", 0x1000, b"kmod_printfn()".to_vec()),
            (".kexports", 0x2000, bad),
        ]);
        let e = read_kernel_abi(&elf).unwrap_err();
        assert!(
            e.contains("signature") && e.contains("not in a loaded section"),
            "{e}"
        );

        // A truncated table and a missing section are reported.
        let elf = tiny_elf(&[(".kexports", 0x2000, vec![0; 39])]);
        assert!(read_kernel_abi(&elf).unwrap_err().contains("multiple"));
        let elf = tiny_elf(&[(".rodata", 0x1000, vec![1; 8])]);
        assert!(read_kernel_abi(&elf).unwrap_err().contains("no .kexports"));
    }

    /// The real kernel image, when one has been built: its table parses and has the
    /// module API.
    #[test]
    fn reads_the_real_kernel_when_built() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/kernel.elf");
        let Ok(bytes) = fs::read(&path) else { return };
        let Ok(abi) = read_kernel_abi(&bytes) else {
            return;
        }; // an image from before exports
        if !abi.exports.is_empty() {
            assert!(abi.exports.contains_key("kmod_print"));
        }
    }

    #[test]
    fn manifest_names_and_discovery() {
        let m = "[package]\nname = \"kmod-hello\" # c\n\n[lib]\nname = \"hello\"\ncrate-type = [\"staticlib\"]\n[dependencies]\nname = \"x\"\n";
        assert_eq!(
            manifest_names(m),
            (Some("kmod-hello".into()), Some("hello".into()), true)
        );
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mods = discover(&root).unwrap();
        let hello = mods.iter().find(|m| m.name == "hello").unwrap();
        assert_eq!(
            hello.source,
            Source::Rust {
                package: "kmod-hello".into(),
                lib: "hello".into()
            }
        );
        let c = mods.iter().find(|m| m.name == "hello_c").unwrap();
        assert!(matches!(&c.source, Source::C { files } if files.len() == 1));
        for m in &mods {
            if let Source::Rust { package, .. } = &m.source {
                // Every Rust module must be a workspace member for `cargo build -p`.
                let ws = fs::read_to_string(root.join("Cargo.toml")).unwrap();
                assert!(ws.contains(&format!("\"modules/{}\"", m.name)), "{package}");
            }
        }
    }

    fn abi() -> KernelAbi {
        KernelAbi {
            hash: 0x0123_4567_89ab_cdef,
            exports: [("kmod_print", 0x1000u64), ("kmod_alloc", 0x2000)]
                .iter()
                .map(|(n, a)| (n.to_string(), *a))
                .collect(),
        }
    }

    fn info(name: &str, depends: &[&str], imports: &[&str], exports: &[&str]) -> KoInfo {
        let mut modinfo = vec![
            ("name".to_string(), name.to_string()),
            ("vermagic".into(), RELEASE.into()),
            ("abi".into(), "0123456789abcdef".into()),
            ("parm".into(), "count:u32:how often".into()),
        ];
        modinfo.push(("depends".into(), depends.join(",")));
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut globals = s(exports);
        globals.push("init_module".into());
        KoInfo {
            modinfo,
            depends: s(depends),
            exports: s(exports),
            imports: s(imports),
            globals,
        }
    }

    #[test]
    fn verify_accepts_kernel_and_dependency_imports() {
        let all: BTreeMap<String, Vec<String>> = [
            ("prov".to_string(), vec!["pair_add".to_string()]),
            ("user".to_string(), vec![]),
        ]
        .into_iter()
        .collect();
        let prov = info("prov", &[], &["kmod_print"], &["pair_add"]);
        let user = info("user", &["prov"], &["kmod_print", "pair_add"], &[]);
        verify("prov", &prov, &abi(), &all).unwrap();
        verify("user", &user, &abi(), &all).unwrap();
    }

    #[test]
    fn verify_names_stray_symbols() {
        let all: BTreeMap<String, Vec<String>> = [
            ("prov".to_string(), vec!["pair_add".to_string()]),
            ("m".to_string(), vec![]),
        ]
        .into_iter()
        .collect();
        // Toolchain-internal names and undeclared dependencies are refused.
        let m = info(
            "m",
            &[],
            &["_RNvNtCs1_4core3fmt5write", "pair_add", "kmod_print"],
            &[],
        );
        let e = verify("m", &m, &abi(), &all).unwrap_err();
        assert!(e.starts_with("module m:"), "{e}");
        assert!(e.contains("_RNvNtCs1_4core3fmt5write, pair_add"), "{e}");
        assert!(!e.contains("kmod_print"), "{e}");
        // kmod_* names the kernel does not export are refused too.
        let m = info("m", &[], &["kmod_nonexistent"], &[]);
        assert!(verify("m", &m, &abi(), &all)
            .unwrap_err()
            .contains("kmod_nonexistent"));
    }

    #[test]
    fn verify_checks_metadata_and_exports() {
        let all: BTreeMap<String, Vec<String>> = [
            ("m".to_string(), vec![]),
            ("o".to_string(), vec!["dup".to_string()]),
        ]
        .into_iter()
        .collect();
        let wrong_name = info("other", &[], &[], &[]);
        assert!(verify("m", &wrong_name, &abi(), &all)
            .unwrap_err()
            .contains("name=other"));
        let mut stale = info("m", &[], &[], &[]);
        stale.modinfo[2].1 = "ffffffffffffffff".into();
        assert!(verify("m", &stale, &abi(), &all)
            .unwrap_err()
            .contains("stale"));
        let unknown_dep = info("m", &["nope"], &[], &[]);
        assert!(verify("m", &unknown_dep, &abi(), &all)
            .unwrap_err()
            .contains("nope"));
        let clash = info("m", &[], &[], &["kmod_print"]);
        assert!(verify("m", &clash, &abi(), &all)
            .unwrap_err()
            .contains("kernel export"));
        let dup = info("m", &[], &[], &["dup"]);
        assert!(verify("m", &dup, &abi(), &all)
            .unwrap_err()
            .contains("module o"));
        let mut undefined_export = info("m", &[], &[], &["ghost"]);
        undefined_export.globals.retain(|g| g != "ghost");
        assert!(verify("m", &undefined_export, &abi(), &all)
            .unwrap_err()
            .contains("not a defined global"));
        let mut bad_parm = info("m", &[], &[], &[]);
        bad_parm.modinfo[3].1 = "x:f64:float".into();
        assert!(verify("m", &bad_parm, &abi(), &all)
            .unwrap_err()
            .contains("parm=x:f64"));
        let mut no_init = info("m", &[], &[], &[]);
        no_init.globals.clear();
        assert!(verify("m", &no_init, &abi(), &all)
            .unwrap_err()
            .contains("init_module"));
    }

    #[test]
    fn dependency_order_and_cycles() {
        let mut infos = BTreeMap::new();
        infos.insert("a".to_string(), info("a", &["b"], &[], &[]));
        infos.insert("b".to_string(), info("b", &["c"], &[], &[]));
        infos.insert("c".to_string(), info("c", &[], &[], &[]));
        assert_eq!(dependency_order(&infos).unwrap(), ["c", "b", "a"]);
        infos.insert("c".to_string(), info("c", &["a"], &[], &[]));
        assert!(dependency_order(&infos).unwrap_err().contains("circular"));
    }
}
