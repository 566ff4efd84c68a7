//! Compiling: C flags and `gcc`, the Rust archive's members, and running the tools.

#[allow(unused_imports)]
use super::*;

/// Flags for C modules (besides -I, -D and the file names).
pub const C_FLAGS: &[&str] = &[
    "-c",
    "-O2",
    "-g",
    "-std=gnu11",
    "-Wall",
    "-Wextra",
    "-ffreestanding",
    "-fno-builtin",
    "-mgeneral-regs-only",
    "-fno-stack-protector",
    "-fno-stack-clash-protection",
    "-fno-common",
    "-fno-strict-aliasing",
    "-ffunction-sections",
    "-fdata-sections",
    // Plain absolute addressing (ADRP/ADD, direct BL); the kernel's linker would handle
    // GOT relocations too, but they buy nothing for code linked at a known address.
    "-fno-pic",
    "-fno-pie",
    // Frame records for the oops unwinder, as the Rust side forces frame pointers.
    "-fno-omit-frame-pointer",
    "-mno-omit-leaf-frame-pointer",
    "-fno-asynchronous-unwind-tables",
    "-fno-unwind-tables",
    "-mbranch-protection=none",
    // Keep GCC from turning copy/fill loops (e.g. in kmod_rt.c) into memcpy/memset calls.
    "-fno-tree-loop-distribute-patterns",
];

/// Runs a tool, failing with its stderr.
pub(super) fn run_tool(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{cmd:?} failed with {}:\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// Copies the archive members that belong to crate `lib` (its codegen units and the
/// allocator shim, named `<lib>-<hash>.*.o`) into `dir`: they are linked whole, so
/// `.modinfo`/`.modexports` entries in any codegen unit are kept.
pub(super) fn extract_crate_members(
    archive: &Path,
    lib: &str,
    dir: &Path,
) -> Result<Vec<PathBuf>, String> {
    let data = fs::read(archive).map_err(|e| format!("read {}: {e}", archive.display()))?;
    let ar = ArchiveFile::parse(&*data).map_err(|e| format!("{}: {e}", archive.display()))?;
    let prefix = format!("{lib}-");
    let mut out = Vec::new();
    for member in ar.members() {
        let m = member.map_err(|e| format!("{}: {e}", archive.display()))?;
        let mname = String::from_utf8_lossy(m.name()).into_owned();
        if !mname.starts_with(&prefix) || !mname.ends_with(".o") {
            continue;
        }
        let bytes = m
            .data(&*data)
            .map_err(|e| format!("{}: {mname}: {e}", archive.display()))?;
        let path = dir.join(&mname);
        write(&path, bytes)?;
        out.push(path);
    }
    if out.is_empty() {
        return Err(format!(
            "{}: no members of crate {lib} (is the [lib] name right?)",
            archive.display()
        ));
    }
    out.sort();
    Ok(out)
}

pub(super) fn cargo_target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d),
        Some(d) => root.join(d),
        None => root.join("target"),
    }
}

pub(super) fn compile_c(
    root: &Path,
    abi: &str,
    src: &Path,
    cflags: &[String],
    out: &Path,
) -> Result<(), String> {
    let mut gcc = Command::new(GCC);
    gcc.args(C_FLAGS)
        .args(cflags)
        .arg("-I")
        .arg(root.join("sdk/include"))
        .arg(format!("-DKMOD_ABI=\"{abi}\""))
        .arg(format!("-DKMOD_RELEASE=\"{RELEASE}\""))
        .arg("-o")
        .arg(out)
        .arg(src);
    run_tool(&mut gcc).map_err(|e| format!("compiling {}: {e}", src.display()))
}

/// Target directory for Rust modules built on their own (not members of this workspace).
pub(super) fn standalone_target_dir(root: &Path) -> PathBuf {
    cargo_target_dir(root).join("modules-cargo")
}

/// Compiles every C example module (and the SDK's C runtime) with warnings as errors,
/// for `cargo xtask lint`; nothing is written.
pub fn lint_c(root: &Path, sources: &[ModuleSource]) -> Result<(), String> {
    let mut files = vec![root.join("sdk/c/kmod_rt.c")];
    for m in sources {
        if let Source::C { files: f, .. } = &m.source {
            files.extend(f.iter().cloned());
        }
    }
    crate::deps::ensure(&[GCC])?;
    for f in &files {
        let mut gcc = Command::new(GCC);
        gcc.args(C_FLAGS)
            .args(["-Werror", "-fsyntax-only"])
            .arg("-I")
            .arg(root.join("sdk/include"))
            .arg("-DKMOD_ABI=\"0000000000000000\"")
            .arg(format!("-DKMOD_RELEASE=\"{RELEASE}\""))
            .arg(f);
        run_tool(&mut gcc).map_err(|e| format!("lint {}: {e}", f.display()))?;
    }
    Ok(())
}
