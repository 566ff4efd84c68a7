//! `cargo xtask build`: the kernel image, its modules built against it and embedded, the
//! signing key ring, and the symbol table (whose build ID covers everything else).

use crate::{cargo, kernel_elf, modules, root, run, sign, TARGET};
use std::path::{Path, PathBuf};

/// Builds the kernel, then the modules against its export table, embeds the modules and
/// finally the symbol table (whose build ID covers everything else).
pub fn build() -> Result<PathBuf, String> {
    crate::deps::ensure_target()?;
    crate::deps::ensure(&["aarch64-linux-gnu-ld", "aarch64-linux-gnu-gcc"])?;
    run(cargo().args([
        "build",
        "--quiet",
        "-p",
        "kernel",
        "--release",
        "--target",
        TARGET,
    ]))?;
    let built = root().join("target").join(TARGET).join("release/kernel");
    // Every step works on a staged copy; target/kernel.elf is replaced only when the image
    // is whole (modules, keys and symbol table in), so a failed build leaves the previous
    // image as it was.
    let image = kernel_elf();
    let out = image.with_extension("elf.staging");
    std::fs::copy(&built, &out)
        .map_err(|e| format!("copy {} -> {}: {e}", built.display(), out.display()))?;
    let r = finish(&out);
    if r.is_err() {
        let _ = std::fs::remove_file(&out);
        if image.exists() {
            println!("    the previous {} is unchanged", image.display());
        }
    }
    r?;
    // The boot image: the same loadable bytes without symbols and DWARF (QEMU loads an
    // ELF's symbol table for itself, which costs about 10 ms of every boot).
    let img = crate::boot_image();
    let img_staging = img.with_extension("img.staging");
    crate::run(
        std::process::Command::new("aarch64-linux-gnu-objcopy")
            .arg("--strip-all")
            .arg(&out)
            .arg(&img_staging),
    )?;
    std::fs::rename(&out, &image)
        .map_err(|e| format!("rename {} -> {}: {e}", out.display(), image.display()))?;
    std::fs::rename(&img_staging, &img)
        .map_err(|e| format!("rename {} -> {}: {e}", img_staging.display(), img.display()))?;
    Ok(image)
}

/// Builds the module folders `dirs` against target/kernel.elf (building the image first
/// if there is none).
pub fn modules(dirs: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let image = kernel_elf();
    if !image.exists() {
        build()?;
    }
    let key = sign::build_key()?;
    let built = modules::build_dirs(&root(), &image, &key, dirs)?;
    for p in &built {
        println!("    {}", p.display());
    }
    Ok(built)
}

/// Builds the example modules against the staged image `out` and fills its sections.
fn finish(out: &Path) -> Result<(), String> {
    let key = sign::build_key()?;
    let modules = modules::build_modules(&root(), out, &key)?;
    embed_modules(out, &modules)?;
    let ring = sign::ring(&key)?;
    let keys = sign::embed_ring(out, &ring)?;
    println!(
        "    signing: modules signed with {} (key ID {}); image trusts {keys} key(s){}",
        sign::build_key_path().display(),
        key.id(),
        if modloader::signature::KeyRing::parse(&ring).is_ok_and(|r| r.enforce_by_default()) {
            ", refuses unsigned modules (KMOD_SIG_FORCE=1)"
        } else {
            ""
        }
    );
    embed_symbols(out)
}

/// Writes the module archive ([`kabi::archive`], read by kernel/src/builtin_modules.rs)
/// into the reserved `.kmodules` section of `elf`, in place.
pub fn embed_modules(elf: &Path, modules: &[PathBuf]) -> Result<(), String> {
    use object::{Object, ObjectSection};
    let mut files = Vec::new();
    for m in modules {
        let name = m
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| format!("bad module path {}", m.display()))?;
        let bytes = std::fs::read(m).map_err(|e| format!("{}: {e}", m.display()))?;
        files.push((name, bytes));
    }
    let archive = kabi::archive::write(files.iter().map(|(n, b)| (*n, b.as_slice())))
        .map_err(|e| format!("built-in module archive: {e}"))?;
    let mut data = std::fs::read(elf).map_err(|e| format!("{}: {e}", elf.display()))?;
    let (off, size) = {
        let file = object::File::parse(&*data).map_err(|e| format!("{}: {e}", elf.display()))?;
        let sec = file
            .section_by_name(".kmodules")
            .ok_or("kernel image has no .kmodules section")?;
        let (off, size) = sec.file_range().ok_or(".kmodules has no file bytes")?;
        (off as usize, size as usize)
    };
    if archive.len() > size {
        return Err(format!(
            "built-in modules need {} bytes but .kmodules reserves {size}; raise RESERVED in kernel/src/builtin_modules.rs",
            archive.len()
        ));
    }
    data[off..off + archive.len()].copy_from_slice(&archive);
    data[off + archive.len()..off + size].fill(0);
    std::fs::write(elf, data).map_err(|e| format!("{}: {e}", elf.display()))?;
    println!(
        "    modules: {} built in ({} of {size} bytes)",
        modules.len(),
        archive.len()
    );
    Ok(())
}

pub fn embed_symbols(elf: &Path) -> Result<(), String> {
    let stats = ksymgen::patch_file(elf)
        .map_err(|e| format!("embedding the symbol table into {}: {e}", elf.display()))?;
    println!("    kallsyms: {stats}");
    Ok(())
}
