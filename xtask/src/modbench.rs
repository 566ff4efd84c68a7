//! Module-loading benchmarks: host link time (modlink bench: memcpy floor, ld.lld peer),
//! in-guest insmod phases (against a copy of the same bytes), and how insmod time behaves
//! as 100 modules with 10,000 exports are loaded.

use qemu_harness::{Guest, Qemu};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(120);

/// A large C object (many functions, calls and data references), for the host link bench.
fn big_object(dir: &Path, abi: &str) -> Result<PathBuf, String> {
    let mut c =
        String::from("#include \"kmod.h\"\nMODULE_NAME(\"big\");\nMODULE_LICENSE(\"MIT\");\n");
    for i in 0..1500 {
        let _ = writeln!(
            c,
            "static int big_data_{i}[8] = {{{i}, 1, 2, 3, 4, 5, 6, 7}};"
        );
        let _ = writeln!(c, "__attribute__((noinline)) int big_fn_{i}(int x) {{ return x * {i} + big_data_{i}[x & 7]{} ; }}", if i > 0 { format!(" + big_fn_{}(x - 1)", i - 1) } else { String::new() });
    }
    c.push_str("int init_module(void) { return big_fn_1499(3) == 0 ? -1 : 0; }\n");
    build_c(dir, "big", &c, abi)
}

/// Compiles one C source into a module object `dir/NAME.o` against the kernel ABI `abi`.
pub fn build_c(dir: &Path, name: &str, src: &str, abi: &str) -> Result<PathBuf, String> {
    let c = dir.join(format!("{name}.c"));
    let o = dir.join(format!("{name}.o"));
    std::fs::write(&c, src).map_err(|e| e.to_string())?;
    let inc = crate::root().join("sdk/include");
    crate::run(
        Command::new("aarch64-linux-gnu-gcc")
            .args([
                "-c",
                "-O1",
                "-ffreestanding",
                "-fno-builtin",
                "-mgeneral-regs-only",
                "-fno-pic",
                "-fno-common",
                "-ffunction-sections",
            ])
            .arg(format!("-I{}", inc.display()))
            .arg(format!("-DKMOD_ABI=\"{abi}\""))
            .arg("-DKMOD_RELEASE=\"0.1.0\"")
            .arg(&c)
            .arg("-o")
            .arg(&o),
    )?;
    Ok(o)
}

fn boot() -> Result<Guest, String> {
    let mut g = Qemu::new(crate::boot_image())
        .spawn()
        .map_err(|e| e.to_string())?;
    g.expect("\n> ", T).map_err(|e| e.to_string())?;
    Ok(g)
}

fn run(g: &mut Guest, line: &str) -> Result<String, String> {
    g.run(line, T).map_err(|e| e.to_string())
}

/// Runs every module benchmark.
pub fn run_all() -> Result<(), String> {
    let dir = crate::root().join("target/bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let elf = std::fs::read(crate::kernel_elf()).map_err(|e| e.to_string())?;
    let abi = crate::modules::read_kernel_abi(&elf)?.abi_string();
    let m = crate::root().join("target/modules");
    let big = big_object(&dir, &abi)?;

    println!(
        "Host link time (modlink bench; memcpy of the same bytes and ld.lld in the same run):"
    );
    crate::run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(crate::root())
            .args([
                "run",
                "--quiet",
                "--release",
                "-p",
                "modlink",
                "--",
                "bench",
                "--iters",
                "100",
                "--lld-iters",
                "10",
            ])
            .arg(m.join("hello_c.ko"))
            .arg(m.join("collections.ko"))
            .arg(m.join("bigdata.ko"))
            .arg(&big),
    )?;

    println!();
    println!(
        "In-guest insmod (median; parse, plan+map, link, permissions+cache, init), same boot:"
    );
    let mut g = boot()?;
    for (src, n) in [
        ("hello_c".to_string(), 50),
        ("collections".to_string(), 10),
        ("bigdata".to_string(), 10),
        (format!("host:{}", big.display()), 10),
    ] {
        let out = run(&mut g, &format!("insmodbench {src} {n}"))?;
        println!("  {}", out.trim());
    }
    drop(g);

    println!();
    println!("insmod time as 100 modules with 10,000 exports are loaded:");
    scaling(&dir, &abi)
}

/// 100 exporter modules of 100 exports each; a consumer importing 100 symbols from the
/// first. The consumer's insmod is timed after 1, 25, 50, 75 and 100 exporters are loaded.
fn scaling(dir: &Path, abi: &str) -> Result<(), String> {
    let mut exporters = Vec::new();
    for m in 0..100 {
        let mut c =
            format!("#include \"kmod.h\"\nMODULE_NAME(\"exp{m:02}\");\nMODULE_LICENSE(\"MIT\");\n");
        for f in 0..100 {
            let _ = writeln!(c, "int exp{m:02}_f{f:02}(int x) {{ return x + {f}; }}\nEXPORT_SYMBOL(exp{m:02}_f{f:02});");
        }
        c.push_str("int init_module(void) { return 0; }\n");
        exporters.push(build_c(dir, &format!("exp{m:02}"), &c, abi)?);
    }
    let mut c = String::from("#include \"kmod.h\"\nMODULE_NAME(\"expuser\");\nMODULE_LICENSE(\"MIT\");\nMODULE_DEPENDS(\"exp00\");\n");
    for f in 0..100 {
        let _ = writeln!(c, "extern int exp00_f{f:02}(int);");
    }
    c.push_str("int init_module(void) { int s = 0;\n");
    for f in 0..100 {
        let _ = writeln!(c, "  s += exp00_f{f:02}({f});");
    }
    c.push_str("  return s == 9900 ? 0 : -1; }\n");
    let user = build_c(dir, "expuser", &c, abi)?;
    let mut g = boot()?;
    let mut loaded = 0;
    let mut rows = Vec::new();
    for target in [1usize, 25, 50, 75, 100] {
        while loaded < target {
            let out = run(
                &mut g,
                &format!("insmod host:{}", exporters[loaded].display()),
            )?;
            if !out.contains("loaded at") {
                return Err(format!("exp{loaded:02}: {out}"));
            }
            loaded += 1;
        }
        let out = run(&mut g, &format!("insmodbench host:{} 20", user.display()))?;
        let total = out
            .split("total ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .unwrap_or("?")
            .to_string();
        let link = out
            .split(" / link ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .unwrap_or("?")
            .to_string();
        rows.push((target, target * 100, total, link));
    }
    println!(
        "  {:>8} {:>8} {:>12} {:>10}",
        "modules", "exports", "insmod us", "link us"
    );
    for (m, e, t, l) in rows {
        println!("  {m:>8} {e:>8} {t:>12} {l:>10}");
    }
    Ok(())
}
