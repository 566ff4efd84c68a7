//! `cargo xtask gdb` in batch mode against a real guest: a breakpoint on a module
//! function set before the module exists is hit once the module loads (again, after an
//! rmmod) and runs, and gdb shows the module's source file and line.

use e2e::{qemu, source_line, T};
use qemu_harness::workspace_root;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Kills gdb (by its pid) if the test fails before it exits.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free TCP port")
}

#[test]
fn pending_breakpoint_in_a_module_is_hit_with_its_source_line() {
    let port = free_port();
    let mut q = qemu();
    q.gdb = Some(port);
    let mut g = q.spawn().expect("qemu");
    let mut gdb = spawn_gdb(
        port,
        &[],
        &[
            "-batch",
            "-ex",
            "break deep_rust::inner",
            "-ex",
            "continue",
            "-ex",
            "info line *$pc",
            "-ex",
            "bt 3",
            "-ex",
            "bt",
            "-ex",
            "kill",
        ],
    );
    // gdb continues the guest: boot, then load and run the module.
    g.expect("\n> ", T)
        .unwrap_or_else(|e| panic!("no prompt under gdb: {e}"));
    // Load, unload and load again: gdb must drop the first symbols and take the second.
    let out = g.run("insmod deep_rust", T).unwrap();
    assert!(out.contains("deep_rust: loaded at"), "{out}");
    g.run("rmmod deep_rust", T).unwrap();
    let out = g.run("insmod deep_rust", T).unwrap();
    assert!(out.contains("deep_rust: loaded at"), "{out}");
    g.send(b"deep_rust\r").unwrap();
    let all = finish_gdb(&mut gdb, &mut g, None);
    assert_eq!(
        all.matches("[kmod] deep_rust: symbols from").count(),
        2,
        "loaded twice: {all}"
    );
    assert!(
        all.contains("[kmod] deep_rust: symbols removed"),
        "rmmod drops them: {all}"
    );
    assert!(all.contains("Breakpoint 1, deep_rust::inner"), "{all}");
    // The breakpoint sits after inner's prologue, on its first statement.
    let line = source_line(
        "modules/deep_rust/src/lib.rs",
        "println!(\"deep_rust: writing",
    );
    assert!(
        all.contains(&format!("Line {line} of \"modules/deep_rust/src/lib.rs\"")),
        "want line {line}: {all}"
    );
    // The caller's frame is the module too, with its own file and line.
    let outer = source_line("modules/deep_rust/src/lib.rs", "// LINE: outer");
    assert!(
        all.lines().any(|l| l.starts_with("#1 ")
            && l.contains(" in deep_rust::outer ")
            && l.ends_with(&format!(" at modules/deep_rust/src/lib.rs:{outer}"))),
        "want outer at line {outer}: {all}"
    );
    // The whole backtrace runs from the module through the kernel's trampoline (off the
    // module stack) to the shell and _start, where it ends cleanly.
    for f in [
        " in __module_call ",
        " kernel::shell::dispatch ",
        " kernel::kernel_entry ",
        " in _start ",
    ] {
        assert!(all.contains(f), "backtrace lacks{f}: {all}");
    }
    assert!(!all.contains("corrupt stack"), "{all}");
}

/// Starts `cargo xtask gdb --port PORT EXTRA... -- ARGS...` (killed if the test fails).
fn spawn_gdb(port: u16, extra: &[&str], args: &[&str]) -> Reap {
    let xtask = workspace_root().join("target/debug/xtask");
    assert!(
        xtask.exists(),
        "{} missing: run through cargo xtask test",
        xtask.display()
    );
    let child = Command::new(&xtask)
        .args(["gdb", "--port", &port.to_string()])
        .args(extra)
        .arg("--")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start xtask gdb");
    Reap(child)
}

/// Waits (up to 60 s) for gdb to exit successfully; once it has had 5 s to attach,
/// sends `poke` to the guest. Returns gdb's stdout and stderr.
fn finish_gdb(gdb: &mut Reap, g: &mut qemu_harness::Guest, mut poke: Option<&[u8]>) -> String {
    let start = Instant::now();
    let status = loop {
        if let Some(s) = gdb.0.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(5) {
            if let Some(p) = poke.take() {
                g.send(p).unwrap();
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "gdb did not finish"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut text = String::new();
    gdb.0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    let mut err = String::new();
    gdb.0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let all = format!("{text}\n--- stderr ---\n{err}");
    assert!(status.success(), "gdb failed: {all}");
    all
}

/// gdb attached after modules were loaded finds them in the kernel's list, and refuses a
/// `.ko.debug` whose build ID is not the loaded module's.
#[test]
fn gdb_attached_late_loads_modules_already_loaded() {
    let port = free_port();
    let mut q = qemu();
    q.gdb = Some(port);
    q.gdb_wait = false;
    let mut g = q.spawn().expect("qemu");
    g.expect("\n> ", T).expect("prompt");
    for m in ["deep_rust", "hello"] {
        let out = g.run(&format!("insmod {m}"), T).unwrap();
        assert!(out.contains(&format!("{m}: loaded at")), "{out}");
    }
    // A stale deep_rust.ko.debug (another module's) in a directory searched first.
    let stale = std::env::temp_dir().join(format!("kmod-stale-{}", std::process::id()));
    std::fs::create_dir_all(&stale).unwrap();
    let modules = workspace_root().join("target/modules");
    std::fs::copy(
        modules.join("hello.ko.debug"),
        stale.join("deep_rust.ko.debug"),
    )
    .unwrap();
    let mut gdb = spawn_gdb(
        port,
        &["--module-dir", stale.to_str().unwrap()],
        &["-batch", "-ex", "detach"],
    );
    let all = finish_gdb(&mut gdb, &mut g, None);
    let _ = std::fs::remove_dir_all(&stale);
    assert!(all.contains("[kmod] hello: symbols from"), "{all}");
    assert!(
        all.lines().any(|l| l.starts_with("[kmod] deep_rust: ")
            && l.contains("has build ID")
            && l.contains("not using it")),
        "stale debug file refused: {all}"
    );
    assert!(!all.contains("[kmod] deep_rust: symbols from"), "{all}");
    // Attached again without the stale copy: both modules, and a breakpoint that hits.
    let mut gdb = spawn_gdb(
        port,
        &[],
        &[
            "-batch",
            "-ex",
            "break deep_rust::inner",
            "-ex",
            "continue",
            "-ex",
            "info line *$pc",
            "-ex",
            "detach",
        ],
    );
    let all = finish_gdb(&mut gdb, &mut g, Some(b"deep_rust\r"));
    assert!(all.contains("[kmod] deep_rust: symbols from"), "{all}");
    assert!(all.contains("[kmod] hello: symbols from"), "{all}");
    assert!(all.contains("Breakpoint 1, deep_rust::inner"), "{all}");
    let line = source_line(
        "modules/deep_rust/src/lib.rs",
        "println!(\"deep_rust: writing",
    );
    assert!(
        all.contains(&format!("Line {line} of \"modules/deep_rust/src/lib.rs\"")),
        "want line {line}: {all}"
    );
    // The kernel runs on after detach.
    g.expect("\n> ", T).expect("prompt after the command");
    let out = g.run("lsmod", T).unwrap();
    assert!(out.contains("deep_rust"), "{out}");
}
