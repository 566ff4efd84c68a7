//! Source lines and inline chains in oops reports, checked against independent oracles:
//! `llvm-addr2line -f -i -C` on `target/kernel.elf` for kernel frames, and the module
//! source files (lines found by their `LINE:` markers) for module frames; build IDs
//! against the `.ko` files' GNU notes; and modules whose line table was mutated.

use e2e::{boot, build_id_hex, cmd, marker_line, source_line, T};
use object::{Object, ObjectSection, ObjectSymbol};
use qemu_harness::{kernel_elf, workspace_root, Guest};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A source location `(file, line)`.
type Loc = Option<(String, u32)>;

/// One frame of a call trace, as printed.
#[derive(Debug, Clone)]
struct Frame {
    name: String,
    off: u64,
    size: u64,
    /// `[module buildid]`: (module, build id).
    module: Option<(String, String)>,
    loc: Loc,
    /// `(P)` or `(L)`.
    mark: Option<char>,
    /// The `(inlined)` lines under it: (function, location), innermost first.
    inlined: Vec<(String, Loc)>,
}

fn parse_loc(s: &str) -> Option<((String, u32), &str)> {
    let s = s.strip_suffix(')')?;
    let (head, loc) = s.rsplit_once(" (")?;
    let (file, line) = loc.rsplit_once(':')?;
    Some(((file.to_string(), line.parse().ok()?), head))
}

fn parse_frame(l: &str) -> Option<Frame> {
    let mut s = l.strip_prefix(' ')?;
    let mut mark = None;
    for (suffix, m) in [(" (P)", 'P'), (" (L)", 'L')] {
        if let Some(r) = s.strip_suffix(suffix) {
            s = r;
            mark = Some(m);
        }
    }
    let (loc, rest) = match parse_loc(s) {
        Some((loc, head)) => (Some(loc), head),
        None => (None, s),
    };
    let (module, rest) = match rest.strip_suffix(']').and_then(|r| r.rsplit_once(" [")) {
        Some((head, m)) => {
            let (name, id) = m.split_once(' ').unwrap_or((m, ""));
            (Some((name.to_string(), id.to_string())), head)
        }
        None => (None, rest),
    };
    let (name, offs) = rest.rsplit_once('+')?;
    let (off, size) = offs.split_once('/')?;
    let hex = |h: &str| u64::from_str_radix(h.strip_prefix("0x")?, 16).ok();
    Some(Frame {
        name: name.to_string(),
        off: hex(off)?,
        size: hex(size)?,
        module,
        loc,
        mark,
        inlined: Vec::new(),
    })
}

/// The frames of the report's call trace, in order.
fn call_trace(report: &str) -> Vec<Frame> {
    let mut frames: Vec<Frame> = Vec::new();
    let mut inside = false;
    for l in report.lines() {
        if l == "Call trace:" {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        if l.starts_with("Code:") || l.starts_with("---[ end") {
            break;
        }
        if let Some(inl) = l
            .strip_prefix("    ")
            .and_then(|r| r.strip_suffix(" (inlined)"))
        {
            let (loc, name) = match parse_loc(inl) {
                Some((loc, head)) => (Some(loc), head.to_string()),
                None => (None, inl.to_string()),
            };
            frames
                .last_mut()
                .unwrap_or_else(|| panic!("(inlined) line before any frame:\n{report}"))
                .inlined
                .push((name, loc));
        } else if let Some(f) = parse_frame(l) {
            frames.push(f);
        } else {
            assert!(
                l.starts_with(" 0x"),
                "unparsable call-trace line {l:?} in:\n{report}"
            );
        }
    }
    frames
}

/// Boots, runs `crash KIND`, returns the report.
fn crash(kind: &str) -> String {
    let mut g = boot();
    g.send(format!("crash {kind}\r").as_bytes()).unwrap();
    let end = if kind == "panic" {
        "---[ end Kernel panic"
    } else {
        "---[ end trace"
    };
    let r = g
        .expect(end, T)
        .unwrap_or_else(|e| panic!("crash {kind}: {e}"));
    let _ = g.wait_exit(T);
    r.replace('\r', "")
}

/// Demangled name (as the tables print it) -> [(address, size)] of the kernel's symbols.
fn kernel_symbols(elf: &[u8]) -> HashMap<String, Vec<(u64, u64)>> {
    let file = object::File::parse(elf).expect("kernel.elf");
    let mut m: HashMap<String, Vec<(u64, u64)>> = HashMap::new();
    for s in file.symbols() {
        if let Ok(n) = s.name() {
            m.entry(format!("{:#}", rustc_demangle::demangle(n)))
                .or_default()
                .push((s.address(), s.size()));
        }
    }
    m
}

/// `llvm-addr2line -a -f -i -C` for `addrs`: per address, frames innermost first.
fn addr2line(path: &Path, addrs: &[u64]) -> Vec<Vec<(String, String, u32)>> {
    let out = Command::new("llvm-addr2line")
        .args(["-a", "-f", "-i", "-C", "-e"])
        .arg(path)
        .args(addrs.iter().map(|a| format!("{a:#x}")))
        .output()
        .expect("llvm-addr2line is missing: install the Debian package llvm");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut groups: Vec<Vec<(String, String, u32)>> = Vec::new();
    let mut it = text.lines();
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
        // LLVM's demangler shows a `.llvm.NNN` linkage-name suffix as ` (.llvm.NNN)`;
        // the tables drop it, as they drop the hash.
        let name = match l.rsplit_once(" (.llvm.") {
            Some((n, tail))
                if tail
                    .trim_end_matches(')')
                    .bytes()
                    .all(|b| b.is_ascii_digit()) =>
            {
                n
            }
            _ => l,
        };
        groups
            .last_mut()
            .expect("addr2line output starts with an address")
            .push((name.to_string(), file.to_string(), line));
    }
    assert_eq!(groups.len(), addrs.len(), "{text}");
    groups
}

/// Checks every kernel frame of `report` (and its inlined lines) against addr2line.
/// Returns how many frames and inlined levels were compared.
fn check_kernel_frames(kind: &str, report: &str) -> (usize, usize) {
    let elf_path = kernel_elf();
    let elf = std::fs::read(&elf_path).expect("read kernel.elf");
    let syms = kernel_symbols(&elf);
    let frames = call_trace(report);
    let mut todo: Vec<(u64, &Frame)> = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        if f.module.is_some() {
            continue;
        }
        let cands = syms
            .get(&f.name)
            .unwrap_or_else(|| panic!("crash {kind}: no kernel symbol {:?}:\n{report}", f.name));
        let (start, _) = cands
            .iter()
            .find(|(_, s)| *s == f.size)
            .unwrap_or_else(|| panic!("crash {kind}: no {} of size {:#x}", f.name, f.size));
        let addr = start + f.off;
        // The faulting pc and exact (P) pcs are looked up as they are; return addresses
        // (and the (L) link register) at the call instruction.
        let lookup = if i == 0 || f.mark == Some('P') {
            addr
        } else {
            addr - 4
        };
        todo.push((lookup, f));
    }
    let want = addr2line(&elf_path, &todo.iter().map(|t| t.0).collect::<Vec<_>>());
    let same_addr = |a: &str, b: &str| {
        let at = |n: &str| {
            syms.get(n)
                .map(|v| v.iter().map(|x| x.0).collect::<Vec<_>>())
        };
        match (at(a), at(b)) {
            (Some(x), Some(y)) => x.iter().any(|a| y.contains(a)),
            _ => false,
        }
    };
    let mut levels = 0;
    for ((lookup, f), w) in todo.iter().zip(&want) {
        let ctx =
            || format!("crash {kind}, frame {f:?} at {lookup:#x}: addr2line says {w:?}\n{report}");
        levels += compare(f, w, &same_addr, &ctx);
    }
    (todo.len(), levels)
}

/// Asserts that frame `f` (its inlined lines, innermost first, then the frame line)
/// equals addr2line's frames `w`; returns the number of inlined levels compared.
fn compare(
    f: &Frame,
    w: &[(String, String, u32)],
    same_addr: &dyn Fn(&str, &str) -> bool,
    ctx: &dyn Fn() -> String,
) -> usize {
    let file_ok = |ours: &str, theirs: &str| theirs.ends_with(ours);
    assert_eq!(f.inlined.len() + 1, w.len(), "{}", ctx());
    for ((name, loc), (wn, wf, wl)) in f.inlined.iter().zip(w) {
        assert_eq!(name, wn, "{}", ctx());
        match loc {
            Some((file, line)) => assert!(file_ok(file, wf) && line == wl, "{}", ctx()),
            None => assert_eq!(*wl, 0, "{}", ctx()),
        }
    }
    let (wn, wf, wl) = w.last().expect("one frame at least");
    assert!(&f.name == wn || same_addr(&f.name, wn), "{}", ctx());
    match &f.loc {
        Some((file, line)) => assert!(file_ok(file, wf) && line == wl, "{}", ctx()),
        None => assert_eq!(*wl, 0, "{}", ctx()),
    }
    f.inlined.len()
}

/// `ksym ADDR` prints the same chain as `llvm-addr2line -f -i -C ADDR`, for addresses
/// spread over the kernel's text.
#[test]
fn ksym_shows_the_same_chain_as_addr2line() {
    let elf_path = kernel_elf();
    let elf = std::fs::read(&elf_path).unwrap();
    let syms = kernel_symbols(&elf);
    let file = object::File::parse(&*elf).unwrap();
    let text = file.section_by_name(".text").unwrap();
    let (lo, size) = (text.address(), text.size());
    // 600 addresses spread over .text, each on an instruction.
    let addrs: Vec<u64> = (0..600u64).map(|i| (lo + size * i / 600) & !3).collect();
    let want = addr2line(&elf_path, &addrs);
    let same_addr = |a: &str, b: &str| {
        let at = |n: &str| {
            syms.get(n)
                .map(|v| v.iter().map(|x| x.0).collect::<Vec<_>>())
        };
        match (at(a), at(b)) {
            (Some(x), Some(y)) => x.iter().any(|a| y.contains(a)),
            _ => false,
        }
    };
    let mut g = boot();
    let (mut levels, mut checked) = (0, 0);
    for (chunk, wchunk) in addrs.chunks(16).zip(want.chunks(16)) {
        let line = format!(
            "ksym {}",
            chunk
                .iter()
                .map(|a| format!("{a:#x}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let out = cmd(&mut g, &line).replace('\r', "");
        let mut frames: Vec<Option<Frame>> = Vec::new();
        for l in out.lines() {
            if let Some(inl) = l
                .strip_prefix("    ")
                .and_then(|r| r.strip_suffix(" (inlined)"))
            {
                let (loc, name) = match parse_loc(inl) {
                    Some((loc, head)) => (Some(loc), head.to_string()),
                    None => (None, inl.to_string()),
                };
                if let Some(Some(f)) = frames.last_mut() {
                    f.inlined.push((name, loc));
                }
            } else {
                let rest = l.split_once(' ').map(|x| x.1).unwrap_or("");
                frames.push(parse_frame(&format!(" {rest}")));
            }
        }
        assert_eq!(frames.len(), chunk.len(), "{out}");
        for ((a, f), w) in chunk.iter().zip(&frames).zip(wchunk) {
            let Some(f) = f else {
                assert_eq!(
                    w.last().map(|x| x.2),
                    Some(0),
                    "{a:#x}: ksym knows nothing, addr2line {w:?}"
                );
                continue;
            };
            let ctx = || format!("ksym {a:#x}: {f:?}, addr2line {w:?}");
            levels += compare(f, w, &same_addr, &ctx);
            checked += 1;
        }
    }
    assert!(checked >= 500, "only {checked} addresses symbolized");
    assert!(
        levels >= 100,
        "only {levels} inlined levels among {checked} addresses"
    );
}

const KINDS: &[&str] = &[
    "null-read",
    "null-write",
    "rodata-write",
    "exec-data",
    "undef",
    "brk",
    "misaligned-sp",
    "stack-overflow",
    "panic",
    "irq",
    "deep",
    "unexpected-irq",
];

/// Every crash kind: every kernel frame's function, file:line and inline chain equal
/// `llvm-addr2line -f -i -C` on the same image.
#[test]
fn kernel_frames_match_addr2line_for_every_crash_kind() {
    let (mut frames, mut levels) = (0, 0);
    for kind in KINDS {
        let r = crash(kind);
        let (f, l) = check_kernel_frames(kind, &r);
        assert!(f >= 2, "crash {kind}: only {f} frames:\n{r}");
        frames += f;
        levels += l;
    }
    // The sample must exercise inline chains, or the test proves nothing about them.
    assert!(
        levels >= 5,
        "only {levels} inlined levels in {frames} frames"
    );
}

/// `crash null-write`: the pc line names null_write's own line (the call of the
/// inlined write_volatile), and the inlined line says where in core the write is.
#[test]
fn null_write_pc_shows_its_own_line_and_the_inlined_callee() {
    let r = crash("null-write");
    let line = source_line(
        "kernel/src/shell/crash.rs",
        "core::ptr::write_volatile(core::hint::black_box(0usize)",
    );
    let want = format!("(kernel/src/shell/crash.rs:{line})");
    let pc = r.lines().find(|l| l.starts_with("pc : ")).unwrap();
    assert!(
        pc.starts_with("pc : kernel::shell::crash::null_write+0x") && pc.ends_with(&want),
        "{r}"
    );
    let f = &call_trace(&r)[0];
    assert_eq!(f.inlined.len(), 1, "{r}");
    assert_eq!(f.inlined[0].0, "core::ptr::write_volatile::<u64>", "{r}");
    let (file, _) = f.inlined[0].1.clone().unwrap();
    assert_eq!(file, "core/src/ptr/mod.rs", "{r}");
}

fn ko(name: &str) -> PathBuf {
    workspace_root()
        .join("target/modules")
        .join(format!("{name}.ko"))
}

/// Loads `name`, runs its command `name`; returns insmod's output and the report.
fn fault_module(g: &mut Guest, name: &str, path: &Path) -> (String, String) {
    let out = cmd(g, &format!("insmod host:{}", path.display()));
    assert!(out.contains(&format!("{name}: loaded at")), "{out}");
    g.send(format!("{name}\r").as_bytes()).unwrap();
    let r = g
        .expect("---[ end trace", T)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    g.expect("\n> ", T).unwrap();
    (out, r.replace('\r', ""))
}

/// An expected module frame: function, its `LINE:` marker, and an inlined helper with
/// its marker.
type Expected<'a> = (&'a str, &'a str, Option<(&'a str, &'a str)>);

/// Checks the module frames of `report` against the `LINE:` markers of `src_rel`:
/// `(function, marker, inlined helper and its marker)` for each expected frame.
fn check_module_frames(report: &str, module: &str, src_rel: &str, expect: &[Expected]) {
    let id = build_id_hex(&ko(module));
    let frames = call_trace(report);
    let mods: Vec<&Frame> = frames
        .iter()
        .filter(|f| f.module.as_ref().is_some_and(|(m, _)| m == module))
        .collect();
    for f in &mods {
        assert_eq!(
            f.module.as_ref().map(|m| m.1.as_str()),
            Some(id.as_str()),
            "build id of {module} in {f:?}:\n{report}"
        );
    }
    for (i, (func, marker, helper)) in expect.iter().enumerate() {
        let f = mods
            .get(i)
            .unwrap_or_else(|| panic!("{module}: frame {i} ({func}) missing:\n{report}"));
        assert_eq!(&f.name, func, "{report}");
        let line = marker_line(src_rel, marker);
        assert_eq!(
            f.loc,
            Some((src_rel.to_string(), line)),
            "{func} must show its own line {src_rel}:{line}:\n{report}"
        );
        if let Some((hname, hmarker)) = helper {
            let hline = marker_line(src_rel, hmarker);
            assert!(
                f.inlined
                    .iter()
                    .any(|(n, l)| n == hname && l == &Some((src_rel.to_string(), hline))),
                "{func}: inlined {hname} at {src_rel}:{hline} missing:\n{report}"
            );
        }
    }
}

/// `llvm-addr2line -f` on `target/modules/MODULE.ko.debug` names the function of each of
/// the module's own frames (`funcs`) at the frame's offset into `.text` (the function's
/// offset there, from the debug copy's symbols, plus the frame's `+0xoff`). Returns how
/// many frames were compared.
///
/// Names only: llvm-addr2line reads the lines of a partially linked object unreliably
/// (GCC's line programs come back as line 0, and the line programs of functions
/// `--gc-sections` dropped overlap kept code), while gdb's `info line` agrees with the
/// module's table; the lines themselves are checked against the source files above.
fn check_module_names_with_addr2line(report: &str, module: &str, funcs: &[&str]) -> usize {
    let dbg = workspace_root()
        .join("target/modules")
        .join(format!("{module}.ko.debug"));
    let bytes = std::fs::read(&dbg).unwrap_or_else(|e| panic!("{}: {e}", dbg.display()));
    let file = object::File::parse(&*bytes).expect("the .ko.debug is an ELF");
    let text = file.section_by_name(".text").expect(".text").index();
    let mut syms: HashMap<String, Vec<(u64, u64)>> = HashMap::new();
    for s in file.symbols() {
        if s.section_index() == Some(text) {
            if let Ok(n) = s.name() {
                syms.entry(format!("{:#}", rustc_demangle::demangle(n)))
                    .or_default()
                    .push((s.address(), s.size()));
            }
        }
    }
    let frames = call_trace(report);
    let mut todo: Vec<(u64, &Frame)> = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        if f.module.as_ref().is_none_or(|(m, _)| m != module) || !funcs.contains(&&*f.name) {
            continue;
        }
        let (start, _) = syms
            .get(&f.name)
            .and_then(|v| v.iter().find(|(_, size)| *size == f.size))
            .unwrap_or_else(|| panic!("{module}: no symbol {:?} of size {:#x}", f.name, f.size));
        let addr = start + f.off;
        todo.push((if i == 0 { addr } else { addr - 4 }, f));
    }
    let want = addr2line(&dbg, &todo.iter().map(|t| t.0).collect::<Vec<_>>());
    for ((lookup, f), w) in todo.iter().zip(&want) {
        let named = w.last().map(|x| x.0.as_str());
        assert_eq!(
            named,
            Some(f.name.as_str()),
            "{module} frame at .text+{lookup:#x}: addr2line on the .ko.debug says {w:?}"
        );
    }
    todo.len()
}

/// A Rust and a C example module fault two calls deep: every module frame shows its
/// own source line (checked against the source files), the inlined helper is listed,
/// the build ID in the trace is the `.ko`'s, and modinfo shows it too.
#[test]
fn rust_and_c_module_frames_show_their_source_lines() {
    let mut g = boot();
    let (_, r) = fault_module(&mut g, "deep_rust", &ko("deep_rust"));
    check_module_frames(
        &r,
        "deep_rust",
        "modules/deep_rust/src/lib.rs",
        &[
            (
                "deep_rust::inner",
                "inner",
                Some(("deep_rust::store", "store")),
            ),
            ("deep_rust::outer", "outer", None),
            ("deep_rust::command", "command", None),
        ],
    );
    // llvm-addr2line on the full-DWARF copy beside the .ko names the same functions.
    let own = ["deep_rust::inner", "deep_rust::outer", "deep_rust::command"];
    assert_eq!(check_module_names_with_addr2line(&r, "deep_rust", &own), 3);
    let info = cmd(&mut g, "modinfo deep_rust");
    assert!(
        info.contains(&format!("build-id: {}", build_id_hex(&ko("deep_rust")))),
        "{info}"
    );
    let (_, r) = fault_module(&mut g, "deep_c", &ko("deep_c"));
    check_module_frames(
        &r,
        "deep_c",
        "modules/deep_c/deep_c.c",
        &[
            (
                "deep_c_inner",
                "deep_c_inner",
                Some(("deep_c_store", "deep_c_store")),
            ),
            ("deep_c_outer", "deep_c_outer", None),
            ("deep_c_cmd", "deep_c_cmd", None),
        ],
    );
    let own = ["deep_c_inner", "deep_c_outer", "deep_c_cmd"];
    assert_eq!(check_module_names_with_addr2line(&r, "deep_c", &own), 3);
}

/// File range of `.modlines` in a `.ko`.
fn modlines_range(bytes: &[u8]) -> (usize, usize) {
    let file = object::File::parse(bytes).expect("ELF");
    let s = file
        .section_by_name(".modlines")
        .expect("the .ko has a .modlines section");
    let (off, len) = s.file_range().expect("in the file");
    (off as usize, len as usize)
}

/// Modules whose line table is corrupt (bad magic, truncated, or lying inside) still
/// load; their oops completes without a nested fault, and a table that fails its
/// header check falls back to name+offset.
#[test]
fn corrupt_module_line_tables_never_break_the_report() {
    let orig = std::fs::read(ko("deep_rust")).unwrap();
    let (off, len) = modlines_range(&orig);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lineinfo");
    std::fs::create_dir_all(&dir).unwrap();
    let mut variants: Vec<(String, Vec<u8>, bool)> = Vec::new();
    let mut magic = orig.clone();
    magic[off] ^= 0xff;
    variants.push(("bad-magic".into(), magic, false));
    let mut trunc = orig.clone();
    // total_len (header offset 12) beyond the section.
    trunc[off + 12..off + 16].copy_from_slice(&((len as u32) + 4096).to_le_bytes());
    variants.push(("truncated".into(), trunc, false));
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for k in 0..4 {
        let mut lie = orig.clone();
        for _ in 0..64 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let at = off + 152 + (rng as usize) % (len - 152);
            lie[at] = (rng >> 32) as u8;
        }
        variants.push((format!("lying-{k}"), lie, true));
    }
    let mut g = boot();
    for (what, bytes, header_ok) in &variants {
        let p = dir.join(format!("deep_rust-{what}.ko"));
        std::fs::write(&p, bytes).unwrap();
        // Signed again with the build's key, as a module author would, so the kernel
        // takes it: the table is what is under test, not the signature.
        e2e::xtask(&["sign", &p.display().to_string()]);
        let (loaded, r) = fault_module(&mut g, "deep_rust", &p);
        assert!(!r.contains("Nested fault"), "{what}:\n{r}");
        let frames = call_trace(&r);
        let inner = frames
            .iter()
            .find(|f| f.name == "deep_rust::inner")
            .unwrap_or_else(|| panic!("{what}: no deep_rust::inner frame:\n{r}"));
        if !header_ok {
            assert!(
                loaded.contains("deep_rust: line table unusable"),
                "{what}: insmod must say the table is unusable:\n{loaded}"
            );
            assert_eq!(inner.loc, None, "{what}: falls back to name+offset:\n{r}");
            assert!(inner.inlined.is_empty(), "{what}:\n{r}");
        }
        let out = cmd(&mut g, "rmmod deep_rust");
        assert!(out.contains("faulted earlier"), "{out}");
    }
}

/// The checker itself can fail: the real `crash null-write` report with one inlined
/// line's number changed by one must be rejected.
#[test]
#[should_panic(expected = "addr2line says")]
fn the_addr2line_check_rejects_a_wrong_inlined_line() {
    let r = crash("null-write");
    let (i, l) = r
        .lines()
        .enumerate()
        .find(|(_, l)| l.starts_with("    ") && l.ends_with(" (inlined)"))
        .expect("an (inlined) line in the report");
    let (head, tail) = l.rsplit_once(':').unwrap();
    let n: u32 = tail.trim_end_matches(") (inlined)").parse().unwrap();
    let bad = format!("{head}:{}) (inlined)", n + 1);
    let doctored: Vec<String> = r
        .lines()
        .enumerate()
        .map(|(k, x)| if k == i { bad.clone() } else { x.to_string() })
        .collect();
    check_kernel_frames("null-write (doctored)", &doctored.join("\n"));
}
