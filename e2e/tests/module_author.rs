//! A module author's loop, as the README and sdk/README.md tell it: module folders outside
//! the repository built with `cargo xtask modules DIR`, tests inside modules run with
//! `cargo xtask test-module DIR` (KTAP checked with the independent reader in
//! `qemu_harness::ktap`, exit status through semihosting), `ktest MODULE` in the shell, and
//! a broken build that fails loudly and leaves the image whole.

use e2e::{boot, cmd};
use qemu_harness::ktap;
use qemu_harness::workspace_root;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A folder named `tag` outside the repository.
fn outside(tag: &str) -> PathBuf {
    let d = std::env::temp_dir()
        .join(format!("kmod-author-{}", std::process::id()))
        .join(tag);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs the xtask binary `cargo xtask test` built; returns (success, stdout, stderr).
fn xtask(args: &[&str]) -> (bool, String, String) {
    let bin = workspace_root().join("target/debug/xtask");
    assert!(
        bin.exists(),
        "{} missing: run cargo xtask test",
        bin.display()
    );
    let out = Command::new(&bin).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The 1-based line of the first line of `src` containing `needle`.
fn line_of(src: &str, needle: &str) -> usize {
    src.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle} not in the source"))
        + 1
}

#[test]
fn test_module_reports_ktap_and_survives_faults_and_hangs() {
    let dir = outside("nc_tests");
    let src =
        std::fs::read_to_string(workspace_root().join("e2e/fixtures/author/nc_tests.c")).unwrap();
    std::fs::write(dir.join("tests.c"), &src).unwrap();
    let d = dir.to_str().unwrap();
    let (ok, out, err) = xtask(&["test-module", "--timeout", "1000", d]);
    assert!(!ok, "a failing test must fail the command:\n{out}\n{err}");
    let doc = ktap::parse(&out).unwrap_or_else(|e| panic!("{e}:\n{out}"));
    assert_eq!(doc.plan, 1);
    let m = &doc.tests[0];
    assert_eq!((m.name.as_str(), m.ok), ("nc_tests", false));
    let sub = m.subtests.as_ref().expect("one subtest block per module");
    let by = |n: &str| {
        sub.tests
            .iter()
            .find(|t| t.name == n)
            .unwrap_or_else(|| panic!("no result for {n}:\n{out}"))
    };
    // Source order, numbered from 1.
    let names: Vec<&str> = sub.tests.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "adds",
            "fails_eq",
            "fails_cond",
            "faults",
            "hangs",
            "leaks",
            "after_all_that"
        ]
    );
    assert!(by("adds").ok && by("after_all_that").ok, "{out}");
    let file = dir.join("tests.c");
    let eq = by("fails_eq");
    assert!(!eq.ok);
    assert_eq!(
        eq.diagnostics,
        [format!(
            "fails_eq: {}:{}: KASSERT_EQ(twice(x), 5) failed: left 4, right 5",
            file.display(),
            line_of(&src, "KTEST(fails_eq)")
        )]
    );
    let cond = by("fails_cond");
    assert_eq!(
        cond.diagnostics,
        [format!(
            "fails_cond: {}:{}: KASSERT(twice(1) > 3) failed",
            file.display(),
            line_of(&src, "KTEST(fails_cond)")
        )]
    );
    let f = by("faults");
    assert!(!f.ok && f.directive == Some(("ERROR".into(), "fault in module code".into())));
    let h = by("hangs");
    assert!(!h.ok && h.directive == Some(("TIMEOUT".into(), "1000 ms".into())));
    let l = by("leaks");
    assert!(l.ok, "leaking is reported, not failed");
    assert_eq!(
        l.diagnostics,
        ["leaks: left 4096 bytes allocated in 1 block(s)"]
    );
    assert!(
        out.contains("nc_tests: reclaimed 4096 bytes in 1 allocation"),
        "{out}"
    );
    assert!(out.contains("# 3 passed, 4 failed"), "{out}");
    // The oops of the faulting test is in the output too (as KTAP "unknown lines").
    assert!(out.contains("pc : kmod__test_faults+0x"), "{out}");
}

#[test]
fn passing_examples_exit_zero_and_c_and_rust_tests_run() {
    let m = |n: &str| workspace_root().join("modules").join(n);
    let (a, b) = (m("hello_c"), m("collections"));
    let (ok, out, err) = xtask(&["test-module", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(ok, "{out}\n{err}");
    let doc = ktap::parse(&out).unwrap_or_else(|e| panic!("{e}:\n{out}"));
    assert!(doc.passed());
    let names: Vec<String> = doc.leaves().into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        names,
        [
            "hello_c.greeting_length",
            "hello_c.param_absent_at_test_time",
            "collections.fnv_known_answer",
            "collections.sorting_keeps_every_element",
            "collections.the_whole_workload_checks_out"
        ]
    );
}

#[test]
fn an_out_of_tree_rust_module_builds_tests_and_loads() {
    let dir = outside("nc_rs");
    let sdk = workspace_root().join("sdk");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"nc-rs\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[lib]\ncrate-type = [\"staticlib\"]\n\n[dependencies]\nkmod = {{ path = \"{}\" }}\n\n[profile.release]\npanic = \"abort\"\n",
            sdk.display()
        ),
    )
    .unwrap();
    let src = r#"#![no_std]
extern crate alloc;
use kmod::prelude::*;

kmod::module! {
    name: "nc_rs",
    version: "0.1.0",
    license: "MIT",
    author: "e2e",
    description: "out of tree",
    init: init,
    exit: exit,
}

#[inline(never)]
fn leaf(p: *mut u32, v: u32) {
    // SAFETY: none: the NULL write is the fault this module exists to raise.
    unsafe { core::ptr::write_volatile(p, v) }; // FAULT
}

#[inline(never)]
fn middle(v: u32) {
    leaf(core::hint::black_box(0usize) as *mut u32, v); // CALL-LEAF
    println!("nc_rs: not reached");
}

fn crash(_args: &[&str]) -> Result<(), String> {
    middle(7); // CALL-MIDDLE
    Ok(())
}

fn init() -> Result<(), i32> {
    kmod::command!("nc_rs_crash", "fault two calls deep", crash)?;
    println!("nc_rs: up");
    Ok(())
}

fn exit() {}

kmod::ktests! {
    fn vec_sums() { let v: alloc::vec::Vec<u32> = (1..=4).collect(); kmod::kassert_eq!(v.iter().sum::<u32>(), 10); }
    fn fails() { kmod::kassert_eq!(1 + 1, 3); }
}
"#;
    std::fs::write(dir.join("src/lib.rs"), src).unwrap();
    let d = dir.to_str().unwrap();
    let (ok, out, err) = xtask(&["test-module", d]);
    assert!(!ok, "{out}\n{err}");
    let doc = ktap::parse(&out).unwrap_or_else(|e| panic!("{e}:\n{out}"));
    let l = doc.leaves();
    assert_eq!(l.len(), 2, "{out}");
    assert!(l[0].1.ok, "{out}");
    assert!(!l[1].1.ok);
    assert!(
        l[1].1.diagnostics[0].contains("src/lib.rs:")
            && l[1].1.diagnostics[0].ends_with("kassert_eq!(1 + 1, 3): left 2, right 3 failed"),
        "{:?}",
        l[1].1.diagnostics
    );
    // Unchanged: the rebuild is a no-op, and the module loads like any other.
    let (ok, out, err) = xtask(&["modules", d]);
    assert!(ok, "{out}\n{err}");
    let ko = workspace_root().join("target/modules/nc_rs.ko");
    let mut g = boot();
    let out = cmd(&mut g, &format!("insmod host:{}", ko.display()));
    assert!(
        out.contains("nc_rs: up") && out.contains("nc_rs: loaded at"),
        "{out}"
    );
    // `ktest MODULE` in the shell prints the same KTAP for the loaded module.
    let k = cmd(&mut g, "ktest nc_rs");
    let doc = ktap::parse(&k).unwrap_or_else(|e| panic!("{e}:\n{k}"));
    assert_eq!(doc.leaves().len(), 2);
    assert!(!doc.passed());
    assert!(cmd(&mut g, "ktest nope").contains("nope: not loaded"));
    // A fault two calls deep: every frame of the crate's own code names its file (by its
    // full path: it lies outside this repository) and the line of that frame's statement,
    // read from the source file. Before, a crate of one's own was built without debug
    // info and its frames had no line at all.
    let lib = dir.join("src/lib.rs");
    let line_of = |marker: &str| {
        1 + src
            .lines()
            .position(|l| l.contains(marker))
            .unwrap_or_else(|| panic!("{marker} not in the source"))
    };
    let out = cmd(&mut g, "nc_rs_crash");
    for (func, marker) in [
        ("nc_rs::leaf", "// FAULT"),
        ("nc_rs::middle", "// CALL-LEAF"),
        ("nc_rs::crash", "// CALL-MIDDLE"),
    ] {
        let want = format!("({}:{})", lib.display(), line_of(marker));
        let frame = out
            .lines()
            .find(|l| l.starts_with(&format!(" {func}+")))
            .unwrap_or_else(|| panic!("no frame of {func}:\n{out}"));
        assert!(
            frame.ends_with(&want),
            "{func}: want {want}: {frame}\n{out}"
        );
    }
    // The SDK's own frames are named relative to the repository, so they cannot be
    // mistaken for the module's src/lib.rs.
    assert!(out.contains("(sdk/src/"), "{out}");
}

fn sha(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

#[test]
fn a_broken_module_fails_the_build_by_name_and_the_image_stays_whole() {
    let dir = outside("nc_broken");
    std::fs::write(
        dir.join("broken.c"),
        "#include \"kmod.h\"\nMODULE_NAME(\"nc_broken\");\nint init_module(void) { return undefined_thing; }\n",
    )
    .unwrap();
    let image = workspace_root().join("target/kernel.elf");
    let before = sha(&image);
    let (ok, out, err) = xtask(&["modules", dir.to_str().unwrap()]);
    assert!(!ok, "{out}\n{err}");
    let all = format!("{out}{err}");
    assert!(all.contains("module nc_broken"), "{all}");
    assert!(
        all.contains("undefined_thing") && all.contains("error"),
        "the compiler's error: {all}"
    );
    assert_eq!(sha(&image), before, "the image changed");
    assert!(!workspace_root()
        .join("target/modules/nc_broken.ko")
        .exists());
    // A manifest naming a missing source fails the same way, before compiling.
    std::fs::write(dir.join("kmod.toml"), "sources = [\"gone.c\"]\n").unwrap();
    let (ok, _, err) = xtask(&["modules", dir.to_str().unwrap()]);
    assert!(!ok && err.contains("gone.c"), "{err}");
}

/// Two modules of one's own, a provider and a user, built into target/modules next to the
/// examples: the suite's own enumerations stay with the examples.
#[test]
fn a_users_own_provider_and_user_modules_build_and_load_in_order() {
    let base = outside("pair_of_mine");
    let lib = base.join("nc_lib");
    let app = base.join("nc_app");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(
        lib.join("lib.c"),
        "#include \"kmod.h\"\nMODULE_NAME(\"nc_lib\");\nMODULE_LICENSE(\"MIT\");\nint nc_counter;\nint nc_lib_add(int a, int b) { nc_counter++; return a + b; }\nEXPORT_SYMBOL(nc_lib_add);\nint init_module(void) { return 0; }\n",
    )
    .unwrap();
    std::fs::write(
        lib.join("kmod.toml"),
        "cflags = [\"-fPIC\", \"-fcommon\"]\n",
    )
    .unwrap();
    std::fs::write(
        app.join("app.c"),
        "#include \"kmod.h\"\nMODULE_NAME(\"nc_app\");\nMODULE_LICENSE(\"MIT\");\nMODULE_DEPENDS(\"nc_lib\");\nextern int nc_lib_add(int, int);\nextern int nc_optional(int) __attribute__((weak));\nint init_module(void) { kprintf(\"nc_app: %d, optional %s\\n\", nc_lib_add(2, 3), nc_optional ? \"present\" : \"absent\"); return 0; }\n",
    )
    .unwrap();
    let (ok, out, err) = xtask(&["modules", lib.to_str().unwrap(), app.to_str().unwrap()]);
    assert!(ok, "{out}\n{err}");
    // The user module alone, later: its dependency comes from target/modules.
    let (ok, out, err) = xtask(&["modules", app.to_str().unwrap()]);
    assert!(ok, "{out}\n{err}");
    let ko = |n: &str| workspace_root().join(format!("target/modules/{n}.ko"));
    let mut g = boot();
    let out = cmd(&mut g, &format!("insmod host:{}", ko("nc_app").display()));
    assert!(out.contains("missing dependency: nc_lib"), "{out}");
    cmd(&mut g, &format!("insmod host:{}", ko("nc_lib").display()));
    let out = cmd(&mut g, &format!("insmod host:{}", ko("nc_app").display()));
    assert!(out.contains("nc_app: 5, optional absent"), "{out}");
    assert!(!e2e::examples().iter().any(|e| e.starts_with("nc_")));
}
