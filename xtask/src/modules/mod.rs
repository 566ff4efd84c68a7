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

/// Builds the example modules ([`examples`]) against the kernel image `kernel_elf` and
/// writes `root/target/modules/NAME.ko`, signed with `key`. Returns the paths, sorted by
/// module name. Steps: read the kernel's ABI, compile and link each module, verify them
/// all and link each with the kernel's own linker, then sign and publish.
pub fn build_modules(
    root: &Path,
    kernel_elf: &Path,
    key: &crate::sign::SecretKey,
) -> Result<Vec<PathBuf>, String> {
    let modules = discover(root)?;
    build_set(root, kernel_elf, key, &modules)
}

/// Builds the module folders `dirs` (anywhere on disk) against `kernel_elf` into
/// `root/target/modules/NAME.ko`. Dependencies not among them are taken from modules
/// already built there.
pub fn build_dirs(
    root: &Path,
    kernel_elf: &Path,
    key: &crate::sign::SecretKey,
    dirs: &[PathBuf],
) -> Result<Vec<PathBuf>, String> {
    let mut modules = Vec::new();
    for d in dirs {
        let m = discover_dir(d, root)?.ok_or_else(|| {
            format!(
                "{}: not a module folder (no Cargo.toml and no *.c files)",
                d.display()
            )
        })?;
        if modules.iter().any(|o: &ModuleSource| o.name == m.name) {
            return Err(format!("module {} named twice", m.name));
        }
        modules.push(m);
    }
    let built = build_set(root, kernel_elf, key, &modules)?;
    // In the order given.
    let out = root.join("target/modules");
    Ok(modules
        .iter()
        .map(|m| out.join(format!("{}.ko", m.name)))
        .filter(|p| built.contains(p))
        .collect())
}

fn build_set(
    root: &Path,
    kernel_elf: &Path,
    key: &crate::sign::SecretKey,
    modules: &[ModuleSource],
) -> Result<Vec<PathBuf>, String> {
    let elf = fs::read(kernel_elf).map_err(|e| {
        format!(
            "read {}: {e} (build the kernel first: cargo xtask build)",
            kernel_elf.display()
        )
    })?;
    let abi = read_kernel_abi(&elf).map_err(|e| format!("{}: {e}", kernel_elf.display()))?;
    println!(
        "==> building {} module{} for kernel {RELEASE}, ABI {} ({} exports)",
        modules.len(),
        if modules.len() == 1 { "" } else { "s" },
        abi.abi_string(),
        abi.exports.len()
    );
    let out_dir = root.join("target/modules");
    let work_root = out_dir.join(".build");
    fs::create_dir_all(&work_root).map_err(|e| format!("mkdir {}: {e}", work_root.display()))?;
    let built = compile_all(root, modules, &abi.abi_string(), &work_root)?;
    let context = published_dependencies(&built, &out_dir)?;
    verify_all(&built, &context, &abi)?;
    publish(&built, key, &out_dir)
}

/// Modules already published in `out_dir` that `built` depends on (directly or not) but
/// that are not being built now.
fn published_dependencies(
    built: &BTreeMap<String, Staged>,
    out_dir: &Path,
) -> Result<BTreeMap<String, Staged>, String> {
    let mut context: BTreeMap<String, Staged> = BTreeMap::new();
    let mut want: Vec<String> = built
        .values()
        .flat_map(|m| m.info.depends.iter().cloned())
        .collect();
    while let Some(d) = want.pop() {
        if built.contains_key(&d) || context.contains_key(&d) {
            continue;
        }
        let path = out_dir.join(format!("{d}.ko"));
        let Ok(file) = fs::read(&path) else {
            continue; // verify names the missing dependency
        };
        let bytes = modloader::signature::strip(&file).to_vec();
        let info = inspect(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        want.extend(info.depends.iter().cloned());
        context.insert(
            d,
            Staged {
                out: path,
                bytes,
                info,
            },
        );
    }
    Ok(context)
}

/// A digest of everything a module's build reads, so an unchanged module is not rebuilt.
/// Bumped whenever the steps that turn sources into a `.ko` change what they produce
/// (2: file names in `.modlines` relative to the repository, full paths outside it;
/// 3: allocated sections of `NAME.ko.debug` at distinct addresses).
const RECIPE: u32 = 3;

struct Stamp(sha2::Sha512);

impl Stamp {
    fn new(abi: &str) -> Stamp {
        use sha2::Digest;
        let mut h = sha2::Sha512::new();
        h.update(env!("CARGO_PKG_VERSION"));
        h.update(abi);
        h.update(LINKER_SCRIPT);
        for f in C_FLAGS {
            h.update(f);
        }
        Stamp(h)
    }

    fn add(&mut self, bytes: &[u8]) {
        use sha2::Digest;
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    fn file(&mut self, p: &Path) -> Result<(), String> {
        let b = fs::read(p).map_err(|e| format!("read {}: {e}", p.display()))?;
        self.add(p.to_string_lossy().as_bytes());
        self.add(&b);
        Ok(())
    }

    fn hex(self) -> String {
        use sha2::Digest;
        self.0.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Builds the Rust modules' archives: the workspace members in one cargo run, every other
/// crate on its own (into a shared target directory). Returns each module's archive.
fn build_rust(
    root: &Path,
    modules: &[ModuleSource],
    abi_str: &str,
) -> Result<BTreeMap<String, PathBuf>, String> {
    let cargo = || {
        let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        // From the workspace root, so .cargo/config.toml's target flags apply.
        c.current_dir(root)
            .args(["build", "--quiet", "--release", "--target", crate::TARGET])
            .env("KMOD_ABI", abi_str)
            .env("KMOD_RELEASE", RELEASE);
        c
    };
    let mut archives = BTreeMap::new();
    let members: Vec<&ModuleSource> = modules
        .iter()
        .filter(|m| matches!(&m.source, Source::Rust { manifest: None, .. }))
        .collect();
    if !members.is_empty() {
        let mut c = cargo();
        for m in &members {
            if let Source::Rust { package, .. } = &m.source {
                c.args(["-p", package]);
            }
        }
        crate::run(&mut c).map_err(|e| {
            let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
            format!("building Rust modules {}: {e}", names.join(", "))
        })?;
        let dir = cargo_target_dir(root).join(crate::TARGET).join("release");
        for m in &members {
            if let Source::Rust { lib, .. } = &m.source {
                archives.insert(m.name.clone(), dir.join(format!("lib{lib}.a")));
            }
        }
    }
    for m in modules {
        if let Source::Rust {
            lib,
            manifest: Some(manifest),
            ..
        } = &m.source
        {
            let target = standalone_target_dir(root);
            let mut c = cargo();
            // A crate of one's own has its own release profile, which by default carries
            // no debug info: its frames would have no file:line in an oops, and gdb and
            // llvm-addr2line nothing to read in NAME.ko.debug. Full debug info, as the
            // workspace's profile gives the examples (it never reaches the .ko itself).
            c.env("CARGO_PROFILE_RELEASE_DEBUG", "true");
            c.arg("--manifest-path")
                .arg(manifest)
                .arg("--target-dir")
                .arg(&target);
            crate::run(&mut c).map_err(|e| format!("building module {}: {e}", m.name))?;
            archives.insert(
                m.name.clone(),
                target
                    .join(crate::TARGET)
                    .join("release")
                    .join(format!("lib{lib}.a")),
            );
        }
    }
    Ok(archives)
}

/// Compiles and partially links every module in its own work directory. A module whose
/// inputs are unchanged since its last build is taken from there as it is.
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
    let archives = if has_rust {
        crate::deps::ensure_target()?;
        build_rust(root, modules, abi_str)?
    } else {
        BTreeMap::new()
    };
    let rt_src = root.join("sdk/c/kmod_rt.c");
    let header = root.join("sdk/include/kmod.h");
    let mut built = BTreeMap::new();
    for m in modules {
        let work = work_root.join(&m.name);
        // Staged in the work directory; published only once every module verifies.
        let out = work.join(format!("{}.ko", m.name));
        let stamp_file = work.join("inputs.stamp");
        let mut stamp = Stamp::new(abi_str);
        stamp.add(m.name.as_bytes());
        // A new line-table format must rebuild every module's `.modlines`, and so must
        // a change in how this file builds a module.
        stamp.add(&ksymgen::TABLE_VERSION.to_le_bytes());
        stamp.add(&RECIPE.to_le_bytes());
        match &m.source {
            Source::Rust { .. } => stamp.file(&archives[&m.name])?,
            Source::C { files, cflags } => {
                stamp.file(&header)?;
                stamp.file(&rt_src)?;
                for f in files {
                    stamp.file(f)?;
                }
                for f in cflags {
                    stamp.add(f.as_bytes());
                }
            }
        }
        let stamp = stamp.hex();
        let fresh = fs::read_to_string(&stamp_file).is_ok_and(|s| s == stamp) && out.exists();
        if !fresh {
            let _ = fs::remove_dir_all(&work);
            fs::create_dir_all(&work).map_err(|e| format!("mkdir {}: {e}", work.display()))?;
            match &m.source {
                Source::Rust { lib, .. } => {
                    let archive = &archives[&m.name];
                    let objects = extract_crate_members(archive, lib, &work)?;
                    link_module(&m.name, &work, &objects, Some(archive), &out)?;
                }
                Source::C { files, cflags } => {
                    let mut objects = Vec::new();
                    for (i, f) in files.iter().enumerate() {
                        let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or("src");
                        let o = work.join(format!("{i:02}-{stem}.o"));
                        compile_c(root, abi_str, f, cflags, &o)
                            .map_err(|e| format!("module {}: {e}", m.name))?;
                        objects.push(o);
                    }
                    let rt = work.join("kmod_rt.o");
                    compile_c(root, abi_str, &rt_src, cflags, &rt)
                        .map_err(|e| format!("module {}: {e}", m.name))?;
                    objects.push(rt);
                    link_module(&m.name, &work, &objects, None, &out)?;
                }
            }
            write(&stamp_file, stamp.as_bytes())?;
        }
        let bytes = fs::read(&out).map_err(|e| format!("read {}: {e}", out.display()))?;
        let info = inspect(&bytes).map_err(|e| format!("module {}: {e}", m.name))?;
        built.insert(m.name.clone(), Staged { out, bytes, info });
    }
    Ok(built)
}

/// Verifies every module against the kernel and each other, then links each with the
/// kernel's own linker (a dry run at made-up addresses, dependencies first).
fn verify_all(
    built: &BTreeMap<String, Staged>,
    context: &BTreeMap<String, Staged>,
    abi: &KernelAbi,
) -> Result<(), String> {
    let all: BTreeMap<&String, &Staged> = built.iter().chain(context.iter()).collect();
    let exports: BTreeMap<String, Vec<String>> = all
        .iter()
        .map(|(n, m)| ((*n).clone(), m.info.exports.clone()))
        .collect();
    for (name, m) in built {
        verify(name, &m.info, abi, &exports)?;
    }
    let infos: BTreeMap<String, KoInfo> = all
        .iter()
        .map(|(n, m)| ((*n).clone(), m.info.clone()))
        .collect();
    let mut linked_exports: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut base = DRY_LINK_BASE;
    for name in dependency_order(&infos)? {
        let m = all[&name];
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
        if !built.contains_key(&name) {
            continue;
        }
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

/// Signs and publishes every module. Other `.ko` files in `out_dir` (a user's own modules)
/// stay; only the modules built here are embedded in the image.
fn publish(
    built: &BTreeMap<String, Staged>,
    key: &crate::sign::SecretKey,
    out_dir: &Path,
) -> Result<Vec<PathBuf>, String> {
    let mut published = Vec::new();
    for (name, m) in built {
        let dest = out_dir.join(format!("{name}.ko"));
        let tmp = out_dir.join(format!(".{name}.ko.tmp"));
        let signed =
            crate::sign::sign_bytes(&m.bytes, key).map_err(|e| format!("module {name}: {e}"))?;
        // Unchanged (signing is deterministic): leave the file and its time stamp alone.
        if fs::read(&dest).ok().as_deref() != Some(&signed[..]) {
            write(&tmp, &signed)?;
            fs::rename(&tmp, &dest)
                .map_err(|e| format!("rename {} -> {}: {e}", tmp.display(), dest.display()))?;
        }
        lineinfo::publish_debug(&m.out, &dest)?;
        published.push(dest);
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

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xtask-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn module_folders_anywhere_with_a_manifest() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let d = scratch("mods").join("my-mod");
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("a.c"), "int x;").unwrap();
        fs::write(d.join("b.c"), "int y;").unwrap();
        fs::write(d.join("notes.txt"), "").unwrap();
        // No manifest: every *.c, the folder name with '-' -> '_'.
        let m = discover_dir(&d, &root).unwrap().unwrap();
        assert_eq!(m.name, "my_mod");
        assert!(
            matches!(&m.source, Source::C { files, cflags } if files.len() == 2 && cflags.is_empty())
        );
        fs::write(
            d.join(MANIFEST),
            "name = \"mine\"\nsources = [\"b.c\"]\ncflags = [\"-fPIC\", \"-fcommon\"]\n",
        )
        .unwrap();
        let m = discover_dir(&d, &root).unwrap().unwrap();
        assert_eq!(m.name, "mine");
        match &m.source {
            Source::C { files, cflags } => {
                assert_eq!(files, &[d.join("b.c")]);
                assert_eq!(cflags, &["-fPIC", "-fcommon"]);
            }
            s => panic!("{s:?}"),
        }
        fs::write(d.join(MANIFEST), "sources = [\"missing.c\"]\n").unwrap();
        assert!(discover_dir(&d, &root).unwrap_err().contains("missing.c"));
        fs::write(d.join(MANIFEST), "colour = \"blue\"\n").unwrap();
        assert!(discover_dir(&d, &root).unwrap_err().contains("colour"));
        fs::write(d.join(MANIFEST), "name = \"bad name\"\n").unwrap();
        assert!(discover_dir(&d, &root).unwrap_err().contains("55 letters"));
        // A Rust crate outside the workspace is built on its own.
        let r = scratch("rmod");
        fs::write(
            r.join("Cargo.toml"),
            "[package]\nname = \"kmod-mine\"\n[lib]\ncrate-type = [\"staticlib\"]\n",
        )
        .unwrap();
        let m = discover_dir(&r, &root).unwrap().unwrap();
        assert!(
            matches!(&m.source, Source::Rust { lib, manifest: Some(_), .. } if lib == "kmod_mine")
        );
        let empty = scratch("empty");
        assert!(discover_dir(&empty, &root).unwrap().is_none());
    }

    /// A user's own folders under modules/ are not part of the default build.
    #[test]
    fn the_default_build_is_the_listed_examples_only() {
        let root = scratch("root");
        for d in ["modules/ex", "modules/mine", "modules/theirs"] {
            fs::create_dir_all(root.join(d)).unwrap();
            fs::write(root.join(d).join("m.c"), "int x;").unwrap();
        }
        fs::write(root.join("modules/EXAMPLES"), "# examples\nex\n").unwrap();
        let names: Vec<String> = discover(&root)
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(names, ["ex"]);
        fs::write(root.join("modules/EXAMPLES"), "ex\ngone\n").unwrap();
        assert!(discover(&root).unwrap_err().contains("gone"));
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
                lib: "hello".into(),
                manifest: None,
            }
        );
        let c = mods.iter().find(|m| m.name == "hello_c").unwrap();
        assert!(matches!(&c.source, Source::C { files, .. } if files.len() == 1));
        let names: Vec<&str> = mods.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            examples(&root).unwrap(),
            "the default build is the examples, by name"
        );
        assert!(names.len() >= 9 && names.contains(&"pair_user"));
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
            ..Default::default()
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
