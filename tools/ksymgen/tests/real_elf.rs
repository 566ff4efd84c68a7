//! Builds a tiny aarch64 bare-metal program with rustc, patches its
//! `.kallsyms` section with ksymgen and checks the table against the ELF
//! symbol table and against `llvm-addr2line` (which must be installed).

use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};
use oops::symtab::Table;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const TARGET: &str = "aarch64-unknown-none-softfloat";

fn out_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ksymgen-fixture");
    std::fs::create_dir_all(&d).expect("create fixture dir");
    d
}

/// Compiles the fixture; `small` reserves only 64 bytes for `.kallsyms`.
fn compile(name: &str, small: bool, build_id: bool) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixture/tiny_kernel.rs");
    let out = out_dir().join(name);
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let libdir = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {rustc}: {e}"));
    let libdir = String::from_utf8_lossy(&libdir.stdout).trim().to_string();
    let has_core = std::fs::read_dir(&libdir)
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("libcore-"))
        })
        .unwrap_or(false);
    assert!(
        has_core,
        "the Rust target {TARGET} is not installed (no libcore in {libdir:?}); \
         run `rustup target add {TARGET}`"
    );
    let mut cmd = Command::new(&rustc);
    cmd.args([
        "--edition",
        "2021",
        "--crate-type",
        "bin",
        "--crate-name",
        "fixture",
        "--target",
        TARGET,
        "-C",
        "panic=abort",
        "-C",
        "opt-level=1",
        "-C",
        "debuginfo=2",
        "-C",
        "symbol-mangling-version=v0",
        "-C",
        "force-frame-pointers=yes",
    ]);
    if build_id {
        cmd.args(["-C", "link-arg=--build-id=sha1"]);
    }
    if small {
        cmd.args(["--cfg", "small"]);
    }
    cmd.arg("-o").arg(&out).arg(&src);
    let st = cmd.output().expect("run rustc");
    assert!(
        st.status.success(),
        "rustc failed for the fixture:\n{}",
        String::from_utf8_lossy(&st.stderr)
    );
    out
}

fn patched() -> &'static (PathBuf, ksymgen::Stats) {
    static P: OnceLock<(PathBuf, ksymgen::Stats)> = OnceLock::new();
    P.get_or_init(|| {
        let elf = compile("fixture.elf", false, true);
        let before = std::fs::read(&elf).unwrap();
        let stats = ksymgen::patch_file(&elf).expect("patch");
        let after = std::fs::read(&elf).unwrap();
        // Only the .kallsyms bytes changed.
        assert_eq!(before.len(), after.len());
        let (off, size) = ksymgen::section_range(&after).unwrap();
        for (i, (a, b)) in before.iter().zip(&after).enumerate() {
            if a != b {
                assert!(
                    i >= off && i < off + size,
                    "byte {i:#x} outside .kallsyms changed"
                );
            }
        }
        (elf, stats)
    })
}

fn table_bytes(elf: &[u8]) -> Vec<u8> {
    let (off, size) = ksymgen::section_range(elf).unwrap();
    elf[off..off + size].to_vec()
}

#[test]
fn every_symbol_looks_up_to_its_demangled_name() {
    let (path, stats) = patched();
    let elf = std::fs::read(path).unwrap();
    let bytes = table_bytes(&elf);
    let t = Table::parse(&bytes).expect("patched table parses");
    let file = object::File::parse(&*elf).unwrap();

    // Expected: every defined FUNC/OBJECT symbol, demangled.
    let mut by_addr: HashMap<u64, Vec<String>> = HashMap::new();
    let mut expected = Vec::new();
    for s in file.symbols() {
        if !matches!(s.kind(), SymbolKind::Text | SymbolKind::Data) || s.is_undefined() {
            continue;
        }
        let name = format!("{:#}", rustc_demangle::demangle(s.name().unwrap()));
        assert!(!name.starts_with("_R"), "not demangled: {name}");
        by_addr.entry(s.address()).or_default().push(name.clone());
        expected.push((name, s.address(), s.size(), s.kind() == SymbolKind::Text));
    }
    assert!(
        expected.len() >= 20,
        "fixture too small: {}",
        expected.len()
    );
    assert_eq!(t.len(), expected.len());
    assert_eq!(stats.table.symbols, expected.len());
    let mut funcs = 0;
    for (name, addr, size, is_func) in &expected {
        let probe = [
            *addr,
            addr + size.saturating_sub(1) / 2,
            addr + size.saturating_sub(1),
        ];
        for a in probe {
            let s = t
                .lookup(a)
                .unwrap_or_else(|| panic!("{name} at {a:#x} not found"));
            assert_eq!(s.start, *addr, "{name}");
            let got = s.name().to_string();
            assert!(
                by_addr[addr].contains(&got),
                "{a:#x}: got {got}, expected one of {:?}",
                by_addr[addr]
            );
            if by_addr[addr].len() == 1 {
                assert_eq!(s.size, *size);
                assert_eq!(s.is_func, *is_func);
            }
        }
        // Lookup by name finds a symbol with that name.
        let found = t.find(name).unwrap_or_else(|| panic!("find({name})"));
        assert!(by_addr[&found].contains(name));
        funcs += usize::from(*is_func);
    }
    assert!(funcs >= 10);
    // Names are demangled without hashes, v0 paths resolved.
    assert!(t.find("fixture::shell::crash::null_write").is_some());
    assert!(t.find("<fixture::util::Counter<u64>>::bump").is_some());
    assert!(t.find("core::fmt::write").is_some());
    assert!(t.find("KALLSYMS").is_some());
}

#[test]
fn build_id_is_the_gnu_note() {
    let (path, stats) = patched();
    let elf = std::fs::read(path).unwrap();
    let file = object::File::parse(&*elf).unwrap();
    let note = file
        .build_id()
        .unwrap()
        .expect("fixture has a build-id note");
    let t_bytes = table_bytes(&elf);
    let t = Table::parse(&t_bytes).unwrap();
    assert_eq!(t.build_id(), note);
    assert!(stats.build_id_from_note);
    assert_eq!(note.len(), 20);
    // Reproducible: the same image gives the same table, and patching again
    // (the section now holds a table) changes nothing.
    let (a, _) = ksymgen::build_table(&elf).unwrap();
    let (b, _) = ksymgen::build_table(&elf).unwrap();
    assert_eq!(a, b);
    assert_eq!(&t_bytes[..a.len()], &a[..]);
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file())
}

#[test]
fn line_table_matches_addr2line() {
    let (path, stats) = patched();
    let elf = std::fs::read(path).unwrap();
    let bytes = table_bytes(&elf);
    let t = Table::parse(&bytes).unwrap();
    assert!(stats.table.line_rows > 100);
    let file = object::File::parse(&*elf).unwrap();
    let text = file.section_by_name(".text").unwrap();
    let addrs: Vec<u64> = (text.address()..text.address() + text.size())
        .step_by(4)
        .collect();

    // Our own crate's lines are relative to the fixture's compile directory or
    // absolute; sysroot paths are shortened.
    let (f, l) = t
        .line(t.find("fixture::shell::crash::null_write").unwrap())
        .expect("line for null_write");
    assert!(f.to_string().ends_with("tiny_kernel.rs"), "{f}");
    assert!(l > 0);
    let (f, _) = t.line(t.find("core::fmt::write").unwrap()).unwrap();
    assert!(f.to_string().starts_with("core/src/fmt/"), "{f}");

    // The oracle must be there: `cargo xtask test` installs it (Debian package llvm).
    let tool = which("llvm-addr2line")
        .or_else(|| which("llvm-symbolizer"))
        .expect(
            "llvm-addr2line is missing: install the Debian package llvm (cargo xtask test does)",
        );
    let args: Vec<String> = addrs.iter().map(|a| format!("{a:#x}")).collect();
    let out = Command::new(&tool)
        .arg("-e")
        .arg(path)
        .args(&args)
        .output()
        .expect("run llvm-addr2line");
    let text_out = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text_out.lines().collect();
    assert_eq!(lines.len(), addrs.len(), "one output line per address");
    let mut checked = 0;
    for (a, want) in addrs.iter().zip(lines) {
        let (wfile, wline) = want.rsplit_once(':').unwrap();
        let wline: u32 = wline
            .split_whitespace()
            .next()
            .unwrap_or("0")
            .parse()
            .unwrap_or(0);
        match t.line(*a) {
            Some((f, l)) => {
                let f = f.to_string();
                assert_eq!(l, wline, "{a:#x}: ours {f}:{l}, addr2line {want}");
                let tail = f.rsplit('/').next().unwrap();
                assert!(wfile.ends_with(tail), "{a:#x}: ours {f}, addr2line {wfile}");
                checked += 1;
            }
            None => assert!(wline == 0, "{a:#x}: ours none, addr2line {want}"),
        }
    }
    assert!(
        checked * 10 >= addrs.len() * 8,
        "only {checked} of {} addresses had lines",
        addrs.len()
    );
}

#[test]
fn too_small_section_fails_loudly_and_sha1_build_id() {
    let elf_path = compile("fixture-small.elf", true, false);
    let err = ksymgen::patch_file(&elf_path).unwrap_err();
    match &err {
        ksymgen::Error::TooBig { needed, available } => {
            assert_eq!(*available, 64);
            assert!(*needed > 64);
        }
        e => panic!("unexpected error {e}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("needs") && msg.contains("only 64"), "{msg}");
    // The file is untouched.
    let elf = std::fs::read(&elf_path).unwrap();
    assert!(table_bytes(&elf).iter().all(|&b| b == 0));
    assert!(matches!(
        Table::parse(&table_bytes(&elf)),
        Err(oops::FormatError::Unpatched | oops::FormatError::Truncated { .. })
    ));
    // Without a build-id note the ID is a SHA-1 of the allocated sections,
    // independent of the .kallsyms contents.
    let (_, s1) = ksymgen::build_table(&elf).unwrap();
    assert!(!s1.build_id_from_note);
    assert_eq!(s1.build_id.len(), 20);
    let mut elf2 = elf.clone();
    let (off, _) = ksymgen::section_range(&elf2).unwrap();
    elf2[off] = 0xff;
    let (_, s2) = ksymgen::build_table(&elf2).unwrap();
    assert_eq!(s1.build_id, s2.build_id);
}

#[test]
fn cli_stats_and_usage() {
    let (path, _) = patched();
    let out = Command::new(env!("CARGO_BIN_EXE_ksymgen"))
        .arg("stats")
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let s = String::from_utf8_lossy(&out.stdout);
    for want in [
        "symbols:",
        "Linux kallsyms",
        "bytes/row",
        "% of .text",
        "build id",
    ] {
        assert!(s.contains(want), "missing {want} in\n{s}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_ksymgen"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(env!("CARGO_BIN_EXE_ksymgen"))
        .args(["patch", "/nonexistent/file.elf"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/file.elf"));
}

/// `llvm-addr2line -a -f -i -C` for `addrs` on `path`: per address, the frames
/// innermost first as `(function, file, line)`.
pub fn addr2line_chains(path: &Path, addrs: &[u64]) -> Vec<Vec<(String, String, u32)>> {
    let tool = which("llvm-addr2line").expect(
        "llvm-addr2line is missing: install the Debian package llvm (cargo xtask test does)",
    );
    let args: Vec<String> = addrs.iter().map(|a| format!("{a:#x}")).collect();
    let out = Command::new(&tool)
        .args(["-a", "-f", "-i", "-C", "-e"])
        .arg(path)
        .args(&args)
        .output()
        .expect("run llvm-addr2line");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut groups: Vec<Vec<(String, String, u32)>> = Vec::new();
    let mut it = text.lines().peekable();
    while let Some(l) = it.next() {
        if l.starts_with("0x") {
            groups.push(Vec::new());
            continue;
        }
        let loc = it.next().unwrap_or("??:0");
        let (file, line) = loc.rsplit_once(':').unwrap_or((loc, "0"));
        let line = line
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        if let Some(g) = groups.last_mut() {
            g.push((l.to_string(), file.to_string(), line));
        }
    }
    assert_eq!(groups.len(), addrs.len(), "one group per address");
    groups
}

/// Our frames for `addr`, innermost first, in addr2line's shape: each inlined level
/// (name, location), then the symbol with the frame's own line.
pub fn our_chain(t: &Table<'_>, addr: u64) -> Vec<(String, String, u32)> {
    let chain = t.inline_chain(addr);
    let mut out = Vec::new();
    for k in (0..chain.len()).rev() {
        let f = chain.get(k).unwrap();
        let (file, line) = match chain.get(k + 1) {
            Some(inner) => (inner.call_file.to_string(), inner.call_line),
            None => t
                .line(addr)
                .map(|(f, l)| (f.to_string(), l))
                .unwrap_or(("??".into(), 0)),
        };
        out.push((f.func.to_string(), file, line));
    }
    let name = t
        .lookup(addr)
        .map(|s| s.name().to_string())
        .unwrap_or_default();
    let (file, line) = t
        .frame_line(addr)
        .map(|(f, l)| (f.to_string(), l))
        .unwrap_or(("??".into(), 0));
    out.push((name, file, line));
    out
}

/// Same frames as `llvm-addr2line -f -i -C`: names exactly, lines exactly, files by
/// their last component (ours are shortened). The outermost name may be any alias
/// `aliases` accepts (identical-code folding gives one address several symbols; the
/// table names one, DWARF another).
pub fn same_chain(
    ours: &[(String, String, u32)],
    want: &[(String, String, u32)],
    aliases: &dyn Fn(&str, &str) -> bool,
) -> bool {
    let n = ours.len();
    ours.len() == want.len()
        && ours.iter().zip(want).enumerate().all(|(i, (o, w))| {
            (o.0 == w.0 || (i + 1 == n && aliases(&o.0, &w.0)))
                && o.2 == w.2
                && w.1.ends_with(o.1.rsplit('/').next().unwrap_or(""))
        })
}

#[test]
fn inline_chains_match_addr2line() {
    let (path, stats) = patched();
    let elf = std::fs::read(path).unwrap();
    let bytes = table_bytes(&elf);
    let t = Table::parse(&bytes).unwrap();
    assert!(stats.table.inline_records > 10, "{:?}", stats.table);
    let file = object::File::parse(&*elf).unwrap();
    let text = file.section_by_name(".text").unwrap();
    let addrs: Vec<u64> = (text.address()..text.address() + text.size())
        .step_by(4)
        .filter(|&a| t.line(a).is_some())
        .collect();
    let want = addr2line_chains(path, &addrs);
    let mut at: HashMap<String, u64> = HashMap::new();
    for s in file.symbols() {
        if let Ok(n) = s.name() {
            at.insert(format!("{:#}", rustc_demangle::demangle(n)), s.address());
        }
    }
    let aliases = |a: &str, b: &str| at.contains_key(a) && at.get(a) == at.get(b);
    let mut inlined = 0;
    let mut bad = Vec::new();
    for (a, w) in addrs.iter().zip(&want) {
        let ours = our_chain(&t, *a);
        if ours.len() > 1 {
            inlined += 1;
        }
        if !same_chain(&ours, w, &aliases) {
            bad.push(format!("{a:#x}:\n  ours {ours:?}\n  addr2line {w:?}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} differ:\n{}",
        bad.len(),
        addrs.len(),
        bad[..bad.len().min(8)].join("\n")
    );
    assert!(
        inlined * 10 >= addrs.len(),
        "only {inlined} of {} addresses have inlined code",
        addrs.len()
    );
}
