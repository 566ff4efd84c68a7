//! `cargo xtask bench`: measurements reported in the README, each against a baseline
//! measured in the same run.

use qemu_harness::{other_qemus, Qemu};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The Debian U-Boot image for QEMU's arm64 `virt`.
const UBOOT: &str = "/usr/lib/u-boot/qemu_arm64/u-boot.bin";

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn stats(v: &mut [f64]) -> String {
    let m = median(v);
    format!(
        "{m:7.1} ms [{:.1}..{:.1}], n={}",
        v.first().copied().unwrap_or(0.0),
        v.last().copied().unwrap_or(0.0),
        v.len()
    )
}

/// Refuses to measure beside another guest: on two cores it halves every figure.
pub fn require_alone() -> Result<(), String> {
    let others = other_qemus();
    if others.is_empty() {
        Ok(())
    } else {
        Err(format!("other QEMU processes are running ({others:?}); they would distort the figures. Stop them first."))
    }
}

/// A minimal AArch64 ELF whose first instruction stores one byte to the PL011: the floor.
fn floor_guest(dir: &Path) -> Result<PathBuf, String> {
    let code: [u32; 4] = [
        0xd2a1_2000, // movz x0, #0x0900, lsl #16   (PL011 data register)
        0x5280_0421, // movz w1, #'!'
        0x3900_0001, // strb w1, [x0]
        0x1400_0000, // b .
    ];
    let entry: u64 = 0x4008_0000;
    let mut elf = Vec::new();
    elf.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf.extend_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
    elf.extend_from_slice(&1u32.to_le_bytes());
    elf.extend_from_slice(&entry.to_le_bytes());
    elf.extend_from_slice(&64u64.to_le_bytes()); // e_phoff
    elf.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    elf.extend_from_slice(&0u32.to_le_bytes());
    for v in [64u16, 56, 1, 64, 0, 0] {
        elf.extend_from_slice(&v.to_le_bytes());
    }
    let off = 64 + 56u64;
    elf.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    elf.extend_from_slice(&5u32.to_le_bytes()); // R+X
    elf.extend_from_slice(&off.to_le_bytes());
    elf.extend_from_slice(&(entry).to_le_bytes());
    elf.extend_from_slice(&(entry).to_le_bytes());
    elf.extend_from_slice(&16u64.to_le_bytes());
    elf.extend_from_slice(&16u64.to_le_bytes());
    elf.extend_from_slice(&8u64.to_le_bytes());
    for w in code {
        elf.extend_from_slice(&w.to_le_bytes());
    }
    // The program header must describe a file offset congruent to the address mod align.
    let path = dir.join("floor.elf");
    std::fs::write(&path, elf).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Time from spawning QEMU to `marker` on the serial line, in ms.
fn time_to(q: &Qemu, marker: &str, poke: Option<(&str, &[u8])>) -> Result<f64, String> {
    let start = Instant::now();
    let mut g = q.spawn().map_err(|e| format!("cannot start QEMU: {e}"))?;
    if let Some((wait_for, key)) = poke {
        g.expect(wait_for, Duration::from_secs(30))
            .map_err(|e| e.to_string())?;
        g.send(key).map_err(|e| e.to_string())?;
    }
    g.expect(marker, Duration::from_secs(30))
        .map_err(|e| e.to_string())?;
    Ok(start.elapsed().as_secs_f64() * 1000.0)
}

fn boot_bench(boots: usize) -> Result<(), String> {
    let dir = crate::root().join("target/bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let kernel = crate::boot_image();
    let floor = floor_guest(&dir)?;
    let have_uboot = Path::new(UBOOT).exists();
    let (mut ours, mut floor_t, mut uboot) = (Vec::new(), Vec::new(), Vec::new());
    // Interleave the three guests so that drift in machine load hits them alike.
    for _ in 0..boots {
        let mut q = Qemu::new(&kernel);
        q.semihosting = false;
        ours.push(time_to(&q, "\n> ", None)?);
        let mut f = Qemu::new(&floor);
        f.semihosting = false;
        floor_t.push(time_to(&f, "!", None)?);
        if have_uboot {
            let mut u = Qemu::new(UBOOT);
            u.bios = true;
            u.semihosting = false;
            uboot.push(time_to(&u, "=> ", Some(("autoboot", b"\r")))?);
        }
    }
    let (mo, mf) = (median(&mut ours.clone()), median(&mut floor_t.clone()));
    println!(
        "Boot to prompt (QEMU start -> first prompt byte on the serial line), {boots} boots each:"
    );
    println!("  this kernel         {}", stats(&mut ours));
    println!("  floor (1-byte ELF)  {}", stats(&mut floor_t));
    if have_uboot {
        let mu = median(&mut uboot.clone());
        println!("  U-Boot 2023.01      {}", stats(&mut uboot));
        println!("  ratio: U-Boot / this kernel = {:.2}x;  this kernel - floor = {:+.1} ms ({:.2}x floor)", mu / mo, mo - mf, mo / mf);
    } else {
        println!("  U-Boot: {UBOOT} missing (apt-get install u-boot-qemu)");
        println!(
            "  this kernel - floor = {:+.1} ms ({:.2}x floor)",
            mo - mf,
            mo / mf
        );
    }
    Ok(())
}

/// Symbol-table size against Linux's kallsyms scheme on the same names, and the in-guest
/// lookup cost.
fn kallsyms_bench() -> Result<(), String> {
    let elf = std::fs::read(crate::kernel_elf()).map_err(|e| e.to_string())?;
    let (_, stats) = ksymgen::build_table(&elf).map_err(|e| e.to_string())?;
    println!("Embedded symbol table (ksymgen, same run, same names):");
    for line in stats.to_string().lines() {
        println!("  {line}");
    }
    // Wall-clock time under TCG (shared host: noisy), then the same under
    // `-icount shift=0`, where the guest clock advances 1 ns per instruction executed:
    // an exact instruction count, the same on every run.
    for (label, icount) in [
        ("TCG time", false),
        ("instructions (icount: 1 ns = 1 instruction)", true),
    ] {
        let mut q = Qemu::new(crate::boot_image());
        q.semihosting = false;
        if icount {
            q.extra = vec!["-icount".into(), "shift=0".into()];
        }
        let mut g = q.spawn().map_err(|e| e.to_string())?;
        g.expect("\n> ", Duration::from_secs(30))
            .map_err(|e| e.to_string())?;
        let out = g
            .run("ksymbench", Duration::from_secs(120))
            .map_err(|e| e.to_string())?;
        println!("In-guest lookup cost (every symbol, 5 rounds), {label}:");
        for l in out.lines().filter(|l| l.contains("ksymbench:")) {
            println!("  {}", l.trim());
        }
    }
    Ok(())
}

/// Runs every benchmark.
pub fn run(boots: usize, only: &[String]) -> Result<(), String> {
    let want = |p: &str| only.is_empty() || only.iter().any(|o| o == p);
    crate::deps::ensure(&["qemu-system-aarch64", "sb", UBOOT, "ld.lld"])?;
    crate::image::build()?;
    // Sizes only: no timing to distort, so it runs beside other guests too.
    if want("lineinfo") {
        crate::lineinfo_bench::run()?;
        println!();
        if only.iter().all(|o| o == "lineinfo") && !only.is_empty() {
            return Ok(());
        }
    }
    require_alone()?;
    if want("boot") {
        boot_bench(boots)?;
        println!();
    }
    if want("kallsyms") {
        kallsyms_bench()?;
        println!();
    }
    if want("modules") {
        crate::modbench::run_all()?;
        println!();
    }
    if want("signing") {
        crate::sign_bench::run()?;
        println!();
    }
    if want("serial") {
        crate::serial_bench::run()?;
        println!();
    }
    Ok(())
}
