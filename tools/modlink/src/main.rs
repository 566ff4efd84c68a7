//! `modlink`: a dry-run `insmod` on the host. Lays out and links an AArch64 relocatable object
//! at a chosen base with the same `modloader` code the kernel runs, and writes the image plus a
//! JSON map. `modlink bench` measures link speed against a memcpy floor and `ld.lld`.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use modloader::{LoadedModule, Object, Region};
use serde::Serialize;

const PAGE_SIZE: u64 = 4096;

#[derive(Parser, Debug)]
#[command(
    name = "modlink",
    about = "Link an AArch64 relocatable object at a chosen base, as the kernel's module loader would",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    link: LinkArgs,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Measure link time per relocation and per MiB against a memcpy floor and ld.lld.
    Bench(BenchArgs),
}

#[derive(Args, Debug)]
struct LinkArgs {
    /// The relocatable object (ET_REL) to link.
    #[arg(required = true)]
    object: Option<PathBuf>,
    /// Address the image will live at (hex with 0x, or decimal).
    #[arg(long, value_parser = parse_u64, required = true)]
    base: Option<u64>,
    /// Define an external symbol: NAME=ADDR. May be repeated.
    #[arg(long = "defsym", value_parser = parse_defsym)]
    defsyms: Vec<(String, u64)>,
    /// File with one `NAME ADDR` per line (blank lines and `#` comments ignored).
    #[arg(long)]
    symbols: Option<PathBuf>,
    /// Where to write the JSON map.
    #[arg(long, required = true)]
    map: Option<PathBuf>,
    /// Where to write the linked image.
    #[arg(long, required = true)]
    out: Option<PathBuf>,
    /// Also write a GNU ld / ld.lld linker script that places every input section at the
    /// address modlink chose (the differential-test oracle recipe).
    #[arg(long)]
    ld_script: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Objects to link.
    #[arg(required = true)]
    objects: Vec<PathBuf>,
    /// Iterations of modloader's link and of the memcpy floor.
    #[arg(long, default_value_t = 200)]
    iters: usize,
    /// Iterations of ld.lld (each is a process spawn).
    #[arg(long, default_value_t = 20)]
    lld_iters: usize,
    /// Base address for the image.
    #[arg(long, value_parser = parse_u64, default_value = "0xffff800008000000")]
    base: u64,
    /// ld.lld binary.
    #[arg(long, default_value = "ld.lld")]
    lld: String,
}

fn parse_u64(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let r = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(&h.replace('_', ""), 16)
    } else {
        t.parse::<u64>()
    };
    r.map_err(|e| format!("bad address `{s}`: {e}"))
}

fn parse_defsym(s: &str) -> Result<(String, u64), String> {
    let (n, v) = s
        .split_once('=')
        .ok_or_else(|| format!("--defsym wants NAME=ADDR, got `{s}`"))?;
    if n.is_empty() {
        return Err(format!("--defsym wants NAME=ADDR, got `{s}`"));
    }
    Ok((n.to_string(), parse_u64(v)?))
}

fn read_symbols_file(path: &Path, into: &mut BTreeMap<String, u64>) -> Result<(), String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    for (ln, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut it = line.split_whitespace();
        let (Some(name), Some(addr), None) = (it.next(), it.next(), it.next()) else {
            return Err(format!(
                "{}:{}: expected `NAME ADDR`",
                path.display(),
                ln + 1
            ));
        };
        let addr = parse_u64(addr).map_err(|e| format!("{}:{}: {e}", path.display(), ln + 1))?;
        into.insert(name.to_string(), addr);
    }
    Ok(())
}

#[derive(Serialize)]
struct MapSection {
    index: usize,
    name: String,
    addr: u64,
    size: u64,
    image_offset: u64,
    region: &'static str,
}

#[derive(Serialize)]
struct MapArea {
    name: &'static str,
    addr: u64,
    size: u64,
    image_offset: u64,
}

#[derive(Serialize)]
struct MapEntry {
    symbol: String,
    addend: i64,
    addr: u64,
    target: u64,
}

#[derive(Serialize)]
struct MapSymbol {
    name: String,
    addr: u64,
    size: u64,
    is_func: bool,
    global: bool,
}

#[derive(Serialize)]
struct MapExternal {
    name: String,
    addr: u64,
}

#[derive(Serialize)]
struct Map {
    object: String,
    base: u64,
    size: u64,
    align: u64,
    page_size: u64,
    relocations: usize,
    sections: Vec<MapSection>,
    synthetic: Vec<MapArea>,
    regions: Vec<MapArea>,
    got: Vec<MapEntry>,
    veneers: Vec<MapEntry>,
    symbols: Vec<MapSymbol>,
    externals: Vec<MapExternal>,
    exports: Vec<MapExternal>,
    modinfo: Vec<(String, String)>,
    init: Option<u64>,
    exit: Option<u64>,
    init_array: Vec<u64>,
    fini_array: Vec<u64>,
}

fn area(m: &LoadedModule, r: Region) -> MapArea {
    let p = m.region(r).copied();
    MapArea {
        name: r.name(),
        addr: p.map(|p| p.addr).unwrap_or(0),
        size: p.map(|p| p.size).unwrap_or(0),
        image_offset: p.map(|p| p.image_offset).unwrap_or(0),
    }
}

fn build_map(
    object: &Path,
    obj: &Object<'_>,
    m: &LoadedModule,
    align: u64,
    resolved: &[(String, u64)],
) -> Map {
    let entries = |v: &[modloader::SyntheticEntry]| {
        v.iter()
            .map(|e| MapEntry {
                symbol: e.symbol.clone(),
                addend: e.addend,
                addr: e.addr,
                target: e.target,
            })
            .collect()
    };
    Map {
        object: object.display().to_string(),
        base: m.base,
        size: m.size,
        align,
        page_size: PAGE_SIZE,
        relocations: obj.num_relocations(),
        sections: m
            .sections
            .iter()
            .map(|s| MapSection {
                index: s.index,
                name: s.name.clone(),
                addr: s.addr,
                size: s.size,
                image_offset: s.image_offset,
                region: s.region.name(),
            })
            .collect(),
        synthetic: vec![area(m, Region::Veneers), area(m, Region::Got)],
        regions: Region::ALL.iter().map(|&r| area(m, r)).collect(),
        got: entries(&m.got),
        veneers: entries(&m.veneers),
        symbols: m
            .symbols
            .iter()
            .map(|s| MapSymbol {
                name: s.name.clone(),
                addr: s.addr,
                size: s.size,
                is_func: s.is_func,
                global: s.is_global,
            })
            .collect(),
        externals: resolved
            .iter()
            .map(|(n, a)| MapExternal {
                name: n.clone(),
                addr: *a,
            })
            .collect(),
        exports: m
            .exports
            .iter()
            .map(|e| MapExternal {
                name: e.name.clone(),
                addr: e.addr,
            })
            .collect(),
        modinfo: m.modinfo.clone(),
        init: m.init,
        exit: m.exit,
        init_array: m.init_array.clone(),
        fini_array: m.fini_array.clone(),
    }
}

/// A linker script for GNU ld / ld.lld that gives every loaded input section its own output
/// section at modlink's address, defines the externals, and puts the linker's own GOT after
/// the image (GOT and veneers are compared by meaning, not bytes).
fn ld_script(
    obj: &Object<'_>,
    m: &LoadedModule,
    externals: &[(String, u64)],
    lld: bool,
) -> Result<String, String> {
    let mut s = String::from("SECTIONS {\n");
    let mut seen = std::collections::BTreeSet::new();
    for sec in &m.sections {
        if !seen.insert(sec.name.as_str()) {
            return Err(format!(
                "two loaded sections are named `{}`; a linker script cannot tell them apart",
                sec.name
            ));
        }
        if sec.name.contains(['*', '?', '[', ' ', '(', ')']) {
            return Err(format!(
                "section name `{}` cannot appear in a linker script",
                sec.name
            ));
        }
        let _ = writeln!(
            s,
            "  o{} {:#x} : {{ KEEP(*({})) }}",
            sec.index, sec.addr, sec.name
        );
    }
    let commons: Vec<u64> = obj
        .symbols()
        .iter()
        .filter(|sym| matches!(sym.def, modloader::SymDef::Common { .. }))
        .filter_map(|sym| m.symbol(sym.name))
        .collect();
    if let Some(first) = commons.iter().min() {
        let _ = writeln!(s, "  ocommon {first:#x} : {{ *(COMMON) }}");
    }
    let _ = writeln!(
        s,
        "  .got {:#x} : {{ *(.got) *(.got.plt) }}",
        m.base + m.size + 0x1000
    );
    if lld {
        // ld.lld refuses to discard .shstrtab/.symtab: drop only what a module does not load.
        s.push_str(
            "  /DISCARD/ : { *(.modinfo) *(.modexports) *(.comment) *(.note.GNU-stack) }\n}\n",
        );
    } else {
        s.push_str("  /DISCARD/ : { *(*) }\n}\n");
    }
    for (n, a) in externals {
        let _ = writeln!(s, "\"{n}\" = {a:#x};");
    }
    Ok(s)
}

fn run_link(a: &LinkArgs) -> Result<(), String> {
    let (Some(object), Some(base), Some(map_path), Some(out)) = (&a.object, a.base, &a.map, &a.out)
    else {
        return Err("OBJECT, --base, --map and --out are required".into());
    };
    let bytes = std::fs::read(object).map_err(|e| format!("reading {}: {e}", object.display()))?;
    let mut syms = BTreeMap::new();
    if let Some(f) = &a.symbols {
        read_symbols_file(f, &mut syms)?;
    }
    for (n, v) in &a.defsyms {
        syms.insert(n.clone(), *v);
    }
    let obj = Object::parse(&bytes).map_err(|e| format!("{}: {e}", object.display()))?;
    let layout = obj
        .plan(PAGE_SIZE)
        .map_err(|e| format!("{}: {e}", object.display()))?;
    let mut image = vec![0u8; layout.size as usize];
    let module = obj
        .link(&layout, &mut image, base, &syms)
        .map_err(|e| format!("{}: {e}", object.display()))?;
    let resolved: Vec<(String, u64)> = obj
        .imports()
        .filter_map(|(n, _)| syms.get(n).map(|&v| (n.to_string(), v)))
        .collect();
    let map = build_map(object, &obj, &module, layout.align, &resolved);
    let json = serde_json::to_string_pretty(&map).map_err(|e| e.to_string())?;
    std::fs::write(map_path, json + "\n")
        .map_err(|e| format!("writing {}: {e}", map_path.display()))?;
    std::fs::write(out, &image).map_err(|e| format!("writing {}: {e}", out.display()))?;
    if let Some(p) = &a.ld_script {
        let script = ld_script(&obj, &module, &resolved, false)?;
        std::fs::write(p, script).map_err(|e| format!("writing {}: {e}", p.display()))?;
    }
    Ok(())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn run_bench(b: &BenchArgs) -> Result<(), String> {
    let iters = b.iters.max(1);
    let lld_iters = b.lld_iters;
    let tmp = std::env::temp_dir().join(format!("modlink-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    println!(
        "modlink bench: median of {iters} runs (modloader, memcpy) and {lld_iters} runs (ld.lld, includes process start)"
    );
    if lld_iters > 0 {
        let mut v = Vec::new();
        for _ in 0..lld_iters {
            let t = Instant::now();
            let ok = Command::new(&b.lld)
                .arg("--version")
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            v.push(t.elapsed());
            if !ok {
                return Err(format!(
                    "{} does not run (install Debian package lld)",
                    b.lld
                ));
            }
        }
        println!(
            "ld.lld process floor (`ld.lld --version`): {:.0} µs; the lld column includes it",
            median(v).as_secs_f64() * 1e6
        );
    }
    println!(
        "{:<22} {:>8} {:>7} {:>9} {:>15} {:>9} {:>8} {:>10} {:>8} {:>10} {:>9}",
        "object",
        "KiB",
        "relocs",
        "total µs",
        "parse/plan/link",
        "ns/reloc",
        "ms/MiB",
        "memcpy µs",
        "x floor",
        "lld µs",
        "lld/ours"
    );
    for (oi, path) in b.objects.iter().enumerate() {
        let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let obj = Object::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        // Every import resolves to a distinct address 1 MiB below the image (within branch
        // range, so neither linker needs veneers for them).
        let externals: Vec<(String, u64)> = obj
            .imports()
            .enumerate()
            .map(|(i, (n, _))| (n.to_string(), b.base - 0x10_0000 + 16 * i as u64))
            .collect();
        let syms: BTreeMap<String, u64> = externals.iter().cloned().collect();
        let layout = obj.plan(PAGE_SIZE).map_err(|e| e.to_string())?;
        let mut image = vec![0u8; layout.size as usize];
        let module = obj
            .link(&layout, &mut image, b.base, &syms)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let nrel = obj.num_relocations();

        let mut ours = Vec::with_capacity(iters);
        let (mut t_parse, mut t_plan) = (Vec::with_capacity(iters), Vec::with_capacity(iters));
        for _ in 0..iters {
            let t = Instant::now();
            let o = Object::parse(std::hint::black_box(&bytes)).map_err(|e| e.to_string())?;
            let t1 = Instant::now();
            let l = o.plan(PAGE_SIZE).map_err(|e| e.to_string())?;
            let t2 = Instant::now();
            let m = o
                .link(&l, &mut image, b.base, &syms)
                .map_err(|e| e.to_string())?;
            std::hint::black_box(&m);
            ours.push(t.elapsed());
            t_parse.push(t1 - t);
            t_plan.push(t2 - t1);
        }
        let ours = median(ours);
        let (t_parse, t_plan) = (median(t_parse), median(t_plan));

        let mut copy_buf = vec![0u8; bytes.len()];
        let mut floor = Vec::with_capacity(iters);
        for _ in 0..iters {
            let t = Instant::now();
            copy_buf.copy_from_slice(std::hint::black_box(&bytes));
            std::hint::black_box(&copy_buf);
            floor.push(t.elapsed());
        }
        let floor = median(floor);

        let lld = if lld_iters > 0 {
            let script = ld_script(&obj, &module, &externals, true)?;
            let sp = tmp.join(format!("{oi}.ld"));
            let op = tmp.join(format!("{oi}.elf"));
            std::fs::write(&sp, script).map_err(|e| e.to_string())?;
            let mut v = Vec::new();
            for _ in 0..lld_iters {
                let t = Instant::now();
                let st = Command::new(&b.lld)
                    .arg("-T")
                    .arg(&sp)
                    .arg("-e")
                    .arg("0")
                    .arg("--no-check-sections")
                    .args(["-z", "norelro"])
                    .arg(path)
                    .arg("-o")
                    .arg(&op)
                    .output()
                    .map_err(|e| format!("running {}: {e} (install Debian package lld)", b.lld))?;
                v.push(t.elapsed());
                if !st.status.success() {
                    return Err(format!(
                        "{} failed on {}: {}",
                        b.lld,
                        path.display(),
                        String::from_utf8_lossy(&st.stderr)
                    ));
                }
            }
            Some(median(v))
        } else {
            None
        };

        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let mib = bytes.len() as f64 / (1024.0 * 1024.0);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        println!(
            "{:<22} {:>8.1} {:>7} {:>9.1} {:>15} {:>9.1} {:>8.2} {:>10.2} {:>8.1} {:>10} {:>9}",
            name,
            bytes.len() as f64 / 1024.0,
            nrel,
            us(ours),
            format!(
                "{:.1}/{:.1}/{:.1}",
                us(t_parse),
                us(t_plan),
                us(ours.saturating_sub(t_parse + t_plan))
            ),
            if nrel > 0 {
                us(ours) * 1000.0 / nrel as f64
            } else {
                0.0
            },
            us(ours) / 1000.0 / mib,
            us(floor),
            us(ours) / us(floor).max(1e-3),
            lld.map(|d| format!("{:.0}", us(d)))
                .unwrap_or_else(|| "-".into()),
            lld.map(|d| format!("{:.1}", us(d) / us(ours)))
                .unwrap_or_else(|| "-".into()),
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match &cli.command {
        Some(Cmd::Bench(b)) => run_bench(b),
        None => run_link(&cli.link),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("modlink: error: {e}");
            ExitCode::FAILURE
        }
    }
}
