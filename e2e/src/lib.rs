//! Shared helpers for the end-to-end tests (run by `cargo xtask test`, which builds the
//! kernel first and points `KERNEL_ELF` at it).
#![forbid(unsafe_code)]

use qemu_harness::{Guest, Qemu};
use std::time::Duration;

/// Generous timeout for one interaction (TCG on a loaded 2-core machine).
pub const T: Duration = Duration::from_secs(20);

/// A default guest.
pub fn qemu() -> Qemu {
    let k = qemu_harness::boot_image();
    assert!(
        k.exists(),
        "{} is missing: run `cargo xtask build` (or `cargo xtask test`)",
        k.display()
    );
    Qemu::new(k)
}

/// Boots the default guest and waits for the shell prompt.
pub fn boot() -> Guest {
    boot_with(qemu())
}

/// Boots `q` and waits for the shell prompt.
pub fn boot_with(q: Qemu) -> Guest {
    let mut g = q.spawn().expect("cannot start qemu-system-aarch64");
    if let Err(e) = g.expect("\n> ", T) {
        panic!("no prompt: {e}");
    }
    g
}

/// Runs a command and returns its output (without the echo and the next prompt).
pub fn cmd(g: &mut Guest, line: &str) -> String {
    match g.run(line, T) {
        Ok(s) => s,
        Err(e) => panic!("command {line:?}: {e}"),
    }
}

/// Compiles a C module source against the SDK header for the kernel ABI `abi` into the
/// relocatable object `out` (a `.ko` the kernel can load).
pub fn compile_c_module(
    src: &std::path::Path,
    out: &std::path::Path,
    abi: &str,
) -> std::path::PathBuf {
    let root = qemu_harness::workspace_root();
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).expect("create the fixture directory");
    }
    let status = std::process::Command::new("aarch64-linux-gnu-gcc")
        .args([
            "-c",
            "-O2",
            "-ffreestanding",
            "-mgeneral-regs-only",
            "-fno-common",
        ])
        .arg(format!("-I{}", root.join("sdk/include").display()))
        .arg(format!("-DKMOD_ABI=\"{abi}\""))
        .arg("-DKMOD_RELEASE=\"0.1.0\"")
        .arg(src)
        .arg("-o")
        .arg(out)
        .status()
        .expect("aarch64-linux-gnu-gcc missing: apt-get install gcc-aarch64-linux-gnu");
    assert!(status.success(), "compiling {} failed", src.display());
    out.to_path_buf()
}

/// Boots a guest that refuses modules not signed by a trusted key.
pub fn boot_enforcing() -> Guest {
    let mut q = qemu();
    q.append = Some("module.sig_enforce=1".into());
    boot_with(q)
}

/// Heap bytes in use, from `meminfo`.
pub fn heap_in_use(g: &mut Guest) -> u64 {
    let m = cmd(g, "meminfo");
    let line = m
        .lines()
        .find(|l| l.starts_with("Heap:"))
        .unwrap_or_else(|| panic!("{m}"));
    line.split(", ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"))
}

/// Runs the `cargo xtask` binary that `cargo xtask test` built (target/debug/xtask) with
/// `args`, as a user would; returns its stdout. Panics with its output if it fails.
pub fn xtask(args: &[&str]) -> String {
    let bin = qemu_harness::workspace_root().join("target/debug/xtask");
    assert!(
        bin.exists(),
        "{} missing: run the tests through `cargo xtask test`",
        bin.display()
    );
    let out = std::process::Command::new(&bin)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "xtask {args:?} failed:\n{text}");
    text
}

/// The project's example modules, from `modules/EXAMPLES`.
pub fn examples() -> Vec<String> {
    let p = qemu_harness::workspace_root().join("modules/EXAMPLES");
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The GNU build ID of an ELF file (a `.ko`), in hex as reports print it.
pub fn build_id_hex(path: &std::path::Path) -> String {
    use object::Object;
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file = object::File::parse(&*bytes).expect("a .ko is an ELF file");
    let id = file
        .build_id()
        .expect("notes readable")
        .unwrap_or_else(|| panic!("{} has no GNU build-id note", path.display()));
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// The 1-based number of the only line of the file `rel` (relative to the workspace)
/// that contains `needle`.
pub fn source_line(rel: &str, needle: &str) -> u32 {
    let src = std::fs::read_to_string(qemu_harness::workspace_root().join(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"));
    let hits: Vec<usize> = src
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "{needle:?} must occur once in {rel}: lines {hits:?}"
    );
    hits[0] as u32
}

/// The 1-based line of the only `LINE: marker` comment (Rust `// LINE: m` at the end of
/// a line, or C `/* LINE: m */`) in the workspace file `rel`.
pub fn marker_line(rel: &str, marker: &str) -> u32 {
    let src = std::fs::read_to_string(qemu_harness::workspace_root().join(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"));
    let rust = format!("// LINE: {marker}");
    let c = format!("/* LINE: {marker} */");
    let hits: Vec<usize> = src
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_end().ends_with(&rust) || l.contains(&c))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "marker {marker:?} must occur once in {rel}: lines {hits:?}"
    );
    hits[0] as u32
}
