//! Signature verification in the guest: its share of insmod for hello_c and for a 1 MiB
//! module, the fixed cost per module, and the hashing rate against a plain copy of the
//! same bytes (all from `insmodbench` in one boot).

use qemu_harness::{Guest, Qemu};
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(120);

/// A signed C module with 1 MiB of incompressible rodata.
fn big_signed_module(dir: &Path, abi: &str) -> Result<PathBuf, String> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let blob: Vec<u8> = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let bin = dir.join("sig1m.bin");
    std::fs::write(&bin, blob).map_err(|e| e.to_string())?;
    let src = format!(
        "#include \"kmod.h\"\nMODULE_NAME(\"sig1m\");\nMODULE_LICENSE(\"MIT\");\n\
         __asm__(\".section .rodata.sig1m,\\\"a\\\"\\n.global sig1m_blob\\nsig1m_blob:\\n.incbin \\\"{}\\\"\\n.previous\\n\");\n\
         extern const unsigned char sig1m_blob[];\n\
         int init_module(void) {{ return sig1m_blob[0] == 0x5a && sig1m_blob[1] == 0x5a ? -1 : 0; }}\n",
        bin.display()
    );
    let o = crate::modbench::build_c(dir, "sig1m", &src, abi)?;
    let key = crate::sign::build_key()?;
    let bytes = std::fs::read(&o).map_err(|e| e.to_string())?;
    let signed = crate::sign::sign_bytes(&bytes, &key)?;
    let ko = dir.join("sig1m.ko");
    std::fs::write(&ko, signed).map_err(|e| e.to_string())?;
    Ok(ko)
}

/// (bytes, total us, verify us, copy ns) from an `insmodbench` line.
fn parse(line: &str) -> Option<(f64, f64, f64, f64)> {
    let num = |after: &str| -> Option<f64> {
        line.split(after)
            .nth(1)?
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    Some((
        num(": ")?,
        num("total ")?,
        num("(verify ")?,
        num("copy of the same bytes ")?,
    ))
}

/// Runs the signing benchmark.
pub fn run() -> Result<(), String> {
    let dir = crate::root().join("target/bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let elf = std::fs::read(crate::kernel_elf()).map_err(|e| e.to_string())?;
    let abi = crate::modules::read_kernel_abi(&elf)?.abi_string();
    let big = big_signed_module(&dir, &abi)?;
    let mut g: Guest = Qemu::new(crate::boot_image())
        .spawn()
        .map_err(|e| e.to_string())?;
    g.expect("\n> ", T).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for (label, src, n) in [
        ("hello_c", "hello_c".to_string(), 50),
        ("1 MiB module", format!("host:{}", big.display()), 10),
    ] {
        let out = g
            .run(&format!("insmodbench {src} {n}"), T)
            .map_err(|e| e.to_string())?;
        let line = out
            .lines()
            .find(|l| l.starts_with("insmodbench "))
            .ok_or_else(|| format!("insmodbench {src}: {out}"))?;
        let r = parse(line).ok_or_else(|| format!("cannot read: {line}"))?;
        rows.push((label, r));
    }
    drop(g);
    println!(
        "Module signature verification in the guest (Ed25519, median of insmodbench, one boot):"
    );
    println!(
        "  {:<14} {:>9} {:>11} {:>11} {:>8}",
        "module", "bytes", "verify us", "insmod us", "share"
    );
    for (label, (bytes, total, verify, _)) in &rows {
        println!(
            "  {label:<14} {bytes:>9.0} {verify:>11.0} {total:>11.0} {:>7.1}%",
            100.0 * verify / total.max(1.0)
        );
    }
    let (small, large) = (rows[0].1, rows[1].1);
    let hash_us = (large.2 - small.2).max(1.0);
    let rate = (large.0 - small.0) / hash_us; // bytes per us = MB/s
    let fixed = small.2 - small.0 / rate;
    let copy_rate = large.0 / (large.3 / 1000.0).max(0.001);
    println!(
        "  hashing: {:.1} MiB/s ({:.0} us more for {:.0} more bytes); a copy of the same bytes runs at {:.0} MiB/s: hashing is {:.1}x slower than the copy",
        rate * 1e6 / (1 << 20) as f64,
        hash_us,
        large.0 - small.0,
        copy_rate * 1e6 / (1 << 20) as f64,
        copy_rate / rate
    );
    println!(
        "  fixed cost per module: {fixed:.0} us (the verify time of hello_c less its hashing)"
    );
    Ok(())
}
