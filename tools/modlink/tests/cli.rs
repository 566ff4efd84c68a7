//! The `modlink` command line: map contents, symbols files, errors, and the bench mode.

#[path = "../../../modloader/tests/common/mod.rs"]
mod common;

use std::process::Command;

use serde_json::Value;

fn modlink() -> Command {
    Command::new(env!("CARGO_BIN_EXE_modlink"))
}

fn object(dir: &std::path::Path) -> std::path::PathBuf {
    let o = dir.join("all.o");
    common::assemble(&common::fixtures().join("all_relocs.s"), &o);
    o
}

const SYMS: &str = "\
# externals of all_relocs.s
ext_abs64 0x0123456789abcdef
ext_abs48 0x000087654321fedc
ext_abs32 0x89abcdef
ext_abs16 0xbeef
ext_neg16 0xffffffffffffedcc
ext_neg32 0xffffffffedcba988

ext_neg48 0xffffedcba9876544
ext_pos48 0x123456789abc
ext_data  0x48000000
";

#[test]
fn writes_image_and_map() {
    let dir = common::scratch("cli-map");
    let o = object(&dir);
    std::fs::write(dir.join("k.syms"), SYMS).unwrap();
    let (map, out) = (dir.join("m.json"), dir.join("i.bin"));
    common::run(
        modlink()
            .arg(&o)
            .args(["--base", "0x40200000", "--symbols"])
            .arg(dir.join("k.syms"))
            .args(["--defsym", "far_func=0x50000000", "--map"])
            .arg(&map)
            .arg("--out")
            .arg(&out),
    );
    let m: Value = serde_json::from_slice(&std::fs::read(&map).unwrap()).unwrap();
    let img = std::fs::read(&out).unwrap();
    assert_eq!(m["size"].as_u64().unwrap() as usize, img.len());
    assert_eq!(m["base"].as_u64().unwrap(), 0x4020_0000);
    let secs = m["sections"].as_array().unwrap();
    assert!(secs.len() >= 8);
    for s in secs {
        for k in ["index", "name", "addr", "size", "image_offset"] {
            assert!(!s[k].is_null(), "section entry lacks {k}: {s}");
        }
        assert_eq!(
            s["addr"].as_u64().unwrap(),
            0x4020_0000 + s["image_offset"].as_u64().unwrap()
        );
    }
    let synth: Vec<&str> = m["synthetic"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(synth, ["veneers", "got"]);
    for s in m["synthetic"].as_array().unwrap() {
        for k in ["name", "addr", "size", "image_offset"] {
            assert!(!s[k].is_null());
        }
        assert!(s["size"].as_u64().unwrap() > 0);
    }
    let init = m["symbols"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "init_module")
        .unwrap();
    assert_eq!(init["addr"], m["init"]);
    assert_eq!(m["veneers"][0]["target"].as_u64().unwrap(), 0x5000_0000);
    assert_eq!(m["modinfo"][0][0], "license");
}

#[test]
fn errors_exit_nonzero_with_message() {
    let dir = common::scratch("cli-err");
    let o = object(&dir);
    let out = modlink()
        .arg(&o)
        .args(["--base", "0x40200000", "--map"])
        .arg(dir.join("m.json"))
        .arg("--out")
        .arg(dir.join("i.bin"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Unknown symbols ext_abs64"), "{err}");
    assert!(
        err.contains("far_func"),
        "every missing symbol is listed: {err}"
    );
    assert!(!dir.join("i.bin").exists(), "no image on error");

    let bad = dir.join("bad.o");
    std::fs::write(&bad, b"\x7fELF garbage").unwrap();
    let out = modlink()
        .arg(&bad)
        .args([
            "--base",
            "0x1000",
            "--map",
            "/dev/null",
            "--out",
            "/dev/null",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad ELF header"));

    let out = modlink()
        .arg(&o)
        .args(["--base", "0x40200", "--defsym", "x"])
        .args(["--map", "/dev/null", "--out", "/dev/null"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "malformed --defsym is rejected");
}

#[test]
fn bench_runs_and_prints_a_table() {
    common::require("ld.lld");
    let dir = common::scratch("cli-bench");
    // An object whose imports the bench can auto-resolve (all_relocs.s needs exact values).
    let src = dir.join("m.s");
    std::fs::write(
        &src,
        ".text\n.globl init_module\ninit_module:\n bl printk\n adrp x0, jiffies\n ldr x0, [x0, :lo12:jiffies]\n b kfree\n.data\n.quad init_module\n",
    )
    .unwrap();
    let o = dir.join("m.o");
    common::assemble(&src, &o);
    let out = common::run(
        modlink()
            .args(["bench", "--iters", "5", "--lld-iters", "2"])
            .arg(&o),
    );
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.contains("ns/reloc") && text.contains("lld/ours"),
        "{text}"
    );
    assert!(text.lines().any(|l| l.starts_with("m.o")), "{text}");
}
