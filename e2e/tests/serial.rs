//! Loading modules over the serial line: kx/1 (the project's protocol, through the
//! `kconsole` library), YMODEM from real lrzsz `sb`, a fault-injecting proxy, a 1 MiB
//! module, aborts from either side, and the interactive console answering `insmod NAME`.
//!
//! QEMU's serial port is a unix socket here; every guest is killed on drop (and dies with
//! the test process through `PR_SET_PDEATHSIG`, set by the harness's `Qemu::command`).

use kconsole::frame::{CRC32, READY_MARK};
use kconsole::kx;
use kconsole::Wire;
use qemu_harness::socket::{self, Process};
use qemu_harness::{workspace_root, Qemu, SocketGuest};
use std::io::{Read, Write};
use std::ops::Not;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

/// Byte-level faults, applied independently in each direction.
#[derive(Clone, Copy, Debug)]
struct Faults {
    /// Probabilities per byte, in units of 1/10000.
    corrupt: u32,
    drop: u32,
    dup: u32,
    /// A pause of up to `delay_ms` before a byte.
    delay: u32,
    delay_ms: u64,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn chance(&mut self, per_mille: u32) -> bool {
        per_mille > 0 && (self.next() % 10_000) < per_mille as u64
    }
}

#[derive(Default)]
struct Injected {
    corrupted: AtomicUsize,
    dropped: AtomicUsize,
    duplicated: AtomicUsize,
    delayed: AtomicUsize,
}

/// Applies `f` to `data`; returns the bytes to pass on.
fn mangle(data: &[u8], f: &Faults, rng: &mut Rng, n: &Injected) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 8);
    for &b in data {
        if rng.chance(f.delay) {
            n.delayed.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(rng.next() % f.delay_ms.max(1)));
        }
        if rng.chance(f.drop) {
            n.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if rng.chance(f.corrupt) {
            n.corrupted.fetch_add(1, Ordering::Relaxed);
            out.push(b ^ (1 << (rng.next() % 8)));
        } else {
            out.push(b);
        }
        if rng.chance(f.dup) {
            n.duplicated.fetch_add(1, Ordering::Relaxed);
            out.push(b);
        }
    }
    out
}

type Shared = Arc<(Mutex<Vec<u8>>, Condvar)>;

/// A guest on a unix-socket serial line ([`SocketGuest`]), with an optional faulty proxy
/// (both directions) in between.
struct Guest {
    g: SocketGuest,
    faults: Arc<Mutex<Option<Faults>>>,
    injected: Arc<Injected>,
}

/// Starts QEMU with its serial port on a unix socket and connects to it (no reader: the
/// caller owns the line).
fn spawn_vm(tag: &str, append: Option<&str>) -> (Process, UnixStream) {
    let k = qemu_harness::boot_image();
    assert!(k.exists(), "{} missing: cargo xtask build", k.display());
    let mut q = Qemu::new(k);
    q.append = append.map(str::to_string);
    socket::spawn_raw(&q, tag, T).expect("qemu-system-aarch64 on a socket")
}

fn boot(tag: &str) -> Guest {
    boot_append(tag, None)
}

/// A byte filter applying `faults` (when set) with its own random stream.
fn fault_filter(
    faults: &Arc<Mutex<Option<Faults>>>,
    injected: &Arc<Injected>,
    seed: u64,
) -> socket::Filter {
    let (faults, injected) = (Arc::clone(faults), Arc::clone(injected));
    let mut rng = Rng(seed);
    Box::new(move |b: &[u8]| match *faults.lock().unwrap() {
        Some(f) => mangle(b, &f, &mut rng, &injected),
        None => b.to_vec(),
    })
}

/// Boots with a kernel command line.
fn boot_append(tag: &str, append: Option<&str>) -> Guest {
    let k = qemu_harness::boot_image();
    assert!(k.exists(), "{} missing: cargo xtask build", k.display());
    let mut q = Qemu::new(k);
    q.append = append.map(str::to_string);
    let mut sg = SocketGuest::spawn(&q, tag).expect("qemu-system-aarch64 on a socket");
    let faults: Arc<Mutex<Option<Faults>>> = Arc::new(Mutex::new(None));
    let injected = Arc::new(Injected::default());
    sg.set_inbound_filter(Some(fault_filter(
        &faults,
        &injected,
        0x9e37_79b9_7f4a_7c15,
    )));
    sg.set_outbound_filter(Some(fault_filter(
        &faults,
        &injected,
        0x1234_5678_9abc_def1,
    )));
    let mut g = Guest {
        g: sg,
        faults,
        injected,
    };
    g.expect("\n> ", T);
    g
}

impl Guest {
    fn mark(&self) -> usize {
        self.g.mark()
    }

    fn text_since(&self, mark: usize) -> String {
        self.g.text_since(mark)
    }

    /// Waits for `pat` after the cursor; returns the text before it and moves past it.
    fn expect(&mut self, pat: &str, t: Duration) -> String {
        self.expect_bytes(pat.as_bytes(), t)
    }

    fn expect_bytes(&mut self, pat: &[u8], t: Duration) -> String {
        match self.g.expect_bytes(pat, t) {
            Ok(b) => String::from_utf8_lossy(&b).replace('\r', ""),
            Err(e) => panic!("{e}"),
        }
    }

    fn send_raw(&mut self, b: &[u8]) {
        self.g.send(b).unwrap();
    }

    /// Forgets what arrived so far.
    fn skip_pending(&mut self) {
        self.g.skip_pending();
    }

    /// A raw handle on the line (bytes written to it bypass the fault proxy).
    fn socket(&self) -> UnixStream {
        self.g.socket().unwrap()
    }

    /// Runs a shell command; returns its output.
    fn cmd(&mut self, line: &str) -> String {
        self.send_raw(format!("{line}\r").as_bytes());
        self.expect(line, T);
        let out = self.expect("\n> ", T);
        out.strip_prefix('\n').unwrap_or(&out).to_string()
    }

    fn heap(&mut self) -> u64 {
        let m = self.cmd("meminfo");
        let line = m
            .lines()
            .find(|l| l.starts_with("Heap:"))
            .unwrap()
            .to_string();
        line.split(", ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{line}"))
    }

    fn set_faults(&self, f: Option<Faults>) {
        *self.faults.lock().unwrap() = f;
    }
}

impl Wire for Guest {
    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.g.send(bytes)
    }

    fn recv(&mut self, buf: &mut Vec<u8>, timeout: Duration) -> std::io::Result<usize> {
        Ok(self.g.recv(buf, timeout))
    }
}

/// The project's example modules (modules/EXAMPLES), by name: a user's own modules in
/// target/modules are not the tests' business.
fn modules() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = e2e::examples()
        .iter()
        .map(|n| {
            workspace_root()
                .join("target/modules")
                .join(format!("{n}.ko"))
        })
        .collect();
    for p in &v {
        assert!(p.exists(), "{} missing: cargo xtask build", p.display());
    }
    // Providers before users.
    v.sort_by_key(|p| p.file_stem().is_some_and(|s| s == "pair_user"));
    assert!(v.len() >= 5, "{v:?}");
    v
}

fn stem(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

/// The `insmod: received` line must name the exact size and CRC-32 of `data`.
fn assert_received(out: &str, data: &[u8], proto: &str) {
    let want = format!(
        "({} bytes, crc32 {:#010x}) over {proto}",
        data.len(),
        CRC32.checksum(data)
    );
    assert!(out.contains(&want), "want {want:?} in:\n{out}");
}

/// Checks what insmod printed for example module `name` after a good upload.
fn assert_module_ran(name: &str, out: &str) {
    match name {
        "panic_init" => assert!(out.contains("module unloaded"), "{out}"),
        _ => assert!(
            out.contains(&format!("{name}: loaded at 0x")),
            "{name}: {out}"
        ),
    }
}

/// `insmod` then a kx/1 upload; returns everything printed until the next prompt.
fn kx_insmod(g: &mut Guest, path: &Path, compress: bool) -> Result<String, String> {
    let data = std::fs::read(path).unwrap();
    g.send_raw(b"insmod\r");
    g.expect_bytes(READY_MARK, T);
    let opts = kx::Options {
        compress,
        ..kx::Options::default()
    };
    let abort = AtomicBool::new(false);
    let r = kx::send(g, &stem(path), &data, &opts, &abort, &mut |_, _| {});
    // The guest's text after the verdict.
    let text = g.expect("\n> ", T);
    match r {
        Ok(_) => Ok(text),
        Err(e) => Err(format!("{e}\n{text}")),
    }
}

#[test]
fn kx_uploads_every_example_module_compressed_and_plain() {
    let mut g = boot("kx-all");
    for (i, path) in modules().iter().enumerate() {
        let data = std::fs::read(path).unwrap();
        let name = stem(path);
        let compress = i % 2 == 0;
        let out = kx_insmod(&mut g, path, compress).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_received(
            &out,
            &data,
            if compress { "kx/1, deflate" } else { "kx/1:" },
        );
        assert_module_ran(&name, &out);
    }
    let ls = g.cmd("lsmod");
    assert!(ls.contains("pair_user") && ls.contains("hello_c"), "{ls}");
    assert!(g.cmd("echo alive").contains("alive"));
}

/// Runs lrzsz `sb ARGS` against the guest, bridging its stdin/stdout to the serial line.
/// `kill_after` sends SIGINT to sb once that many bytes went to the guest.
fn run_sb(g: &mut Guest, args: &[&str], kill_after: Option<usize>) -> (bool, String, Duration) {
    run_sb_with(g, args, kill_after, None)
}

/// [`run_sb`], with the guest's faults (if set) applied to sb's bytes too, and `flip`
/// replacing the first byte `.0` the guest sends to sb by `.1` (one damaged byte).
fn run_sb_with(
    g: &mut Guest,
    args: &[&str],
    kill_after: Option<usize>,
    mut flip: Option<(u8, u8)>,
) -> (bool, String, Duration) {
    let mut cmd = Command::new("sb");
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // sb keeps SIGINT ignored when it starts with it ignored, as it does under a shell that
    // ran the tests in the background without job control: give it the default back, so
    // the interrupt below reaches sb's handler (which cancels with CAN CAN) wherever the
    // tests run.
    // SAFETY: runs in the forked child before exec; `signal` is async-signal-safe and
    // touches no memory of the parent.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            use nix::sys::signal::{signal, SigHandler, Signal};
            signal(Signal::SIGINT, SigHandler::SigDfl)
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    let mut sb = cmd.spawn().expect("sb missing: apt-get install lrzsz");
    let t0 = Instant::now();
    let mut from_sb = sb.stdout.take().unwrap();
    let mut to_guest = g.socket();
    let sent = Arc::new(AtomicUsize::new(0));
    let sent2 = Arc::clone(&sent);
    let faults = Arc::clone(&g.faults);
    let injected = Arc::clone(&g.injected);
    let pump = std::thread::spawn(move || {
        let mut rng = Rng(0x5eed_0f5b_1234_0001);
        let mut buf = [0u8; 4096];
        while let Ok(n) = from_sb.read(&mut buf) {
            if n == 0 {
                break;
            }
            let f = *faults.lock().unwrap();
            let data = match f {
                Some(f) => mangle(&buf[..n], &f, &mut rng, &injected),
                None => buf[..n].to_vec(),
            };
            if to_guest.write_all(&data).is_err() {
                break;
            }
            sent2.fetch_add(n, Ordering::Relaxed);
        }
    });
    let mut to_sb = sb.stdin.take().unwrap();
    let mut killed = false;
    let status = loop {
        if let Some(s) = sb.try_wait().unwrap() {
            break s;
        }
        let mut buf = Vec::new();
        g.recv(&mut buf, Duration::from_millis(5)).unwrap();
        if let Some((from, to)) = flip {
            if let Some(p) = buf.iter().position(|&b| b == from) {
                buf[p] = to;
                flip = None;
            }
        }
        if !buf.is_empty() {
            let _ = to_sb.write_all(&buf);
            let _ = to_sb.flush();
        }
        if let Some(k) = kill_after {
            if !killed && sent.load(Ordering::Relaxed) >= k {
                killed = true;
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(sb.id() as i32),
                    nix::sys::signal::Signal::SIGINT,
                );
            }
        }
        if t0.elapsed() > Duration::from_secs(150) {
            let _ = sb.kill();
            let _ = sb.wait();
            panic!("sb hangs");
        }
    };
    let elapsed = t0.elapsed();
    drop(to_sb);
    let _ = pump.join();
    let mut err = String::new();
    let _ = sb.stderr.take().unwrap().read_to_string(&mut err);
    (status.success(), err, elapsed)
}

#[test]
fn ymodem_from_lrzsz_sb_loads_every_example_module() {
    let mut g = boot("sb-all");
    for (i, path) in modules().iter().enumerate() {
        let data = std::fs::read(path).unwrap();
        let name = stem(path);
        g.send_raw(b"insmod\r");
        g.expect_bytes(READY_MARK, T);
        let mark = g.mark();
        let p = path.to_str().unwrap();
        // 1 KiB blocks, and once the 128-byte default.
        let args: Vec<&str> = if i == 1 { vec![p] } else { vec!["-k", p] };
        let (ok, err, _) = run_sb(&mut g, &args, None);
        assert!(ok, "sb {name}: {err}");
        g.expect("\n> ", T);
        let out = g.text_since(mark);
        assert_received(&out, &data, "YMODEM");
        assert_module_ran(&name, &out);
    }
    // A batch of two files: the first is loaded, the batch still ends cleanly.
    g.cmd("rmmod hello");
    g.send_raw(b"insmod\r");
    g.expect_bytes(READY_MARK, T);
    let mark = g.mark();
    let ms = modules();
    let hello = ms.iter().find(|p| stem(p) == "hello").unwrap();
    let hello_c = ms.iter().find(|p| stem(p) == "hello_c").unwrap();
    let (ok, err, _) = run_sb(
        &mut g,
        &["-k", hello.to_str().unwrap(), hello_c.to_str().unwrap()],
        None,
    );
    assert!(ok, "{err}");
    g.expect("\n> ", T);
    let out = g.text_since(mark);
    assert!(out.contains("hello: loaded at"), "{out}");
    assert!(g.cmd("echo alive").contains("alive"));
}

#[test]
fn aborts_from_either_side_leave_nothing_behind() {
    let mut g = boot("abort");
    let big = big_module();
    let base = g.heap();

    // Ctrl-C while waiting.
    g.send_raw(b"insmod\r");
    g.expect_bytes(READY_MARK, T);
    g.send_raw(b"\x03");
    assert!(g.expect("\n> ", T).contains("upload failed: cancelled"));

    // The host aborts a kx/1 transfer in the middle.
    g.send_raw(b"insmod\r");
    g.expect_bytes(READY_MARK, T);
    let abort = AtomicBool::new(false);
    let opts = kx::Options {
        compress: false,
        ..kx::Options::default()
    };
    let r = kx::send(&mut g, "big", &big, &opts, &abort, &mut |done, total| {
        if done * 4 >= total {
            abort.store(true, Ordering::Relaxed);
        }
    });
    assert!(matches!(r, Err(kx::UploadError::Aborted)), "{r:?}");
    let out = g.expect("\n> ", T);
    assert!(
        out.contains("upload failed: the sender aborted the transfer: aborted on the host"),
        "{out}"
    );

    // lrzsz sb interrupted in the middle (it sends CAN CAN ...).
    g.send_raw(b"insmod\r");
    g.expect_bytes(READY_MARK, T);
    let mark = g.mark();
    let bigpath = big_module_path();
    let (ok, _, _) = run_sb(&mut g, &["-k", bigpath.to_str().unwrap()], Some(100_000));
    assert!(!ok, "sb should have been interrupted");
    g.expect("\n> ", T);
    let out = g.text_since(mark);
    assert!(
        out.contains("upload failed: the sender aborted the transfer"),
        "{out}"
    );
    assert_eq!(g.heap(), base, "heap after aborted transfers");
    assert_eq!(g.cmd("lsmod").lines().count(), 1);
    assert!(g.cmd("echo alive").contains("alive"));
}

/// A 1 MiB module (not built into the image): a C file whose init checks a 1 MiB
/// initialised table. Built once per test process.
fn big_module_path() -> PathBuf {
    static ONCE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let root = workspace_root();
        let dir = root.join("target/e2e-fixtures");
        std::fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("big1m.bin");
        std::fs::write(&bin, big_table()).unwrap();
        let src = dir.join("big1m.c");
        std::fs::write(
            &src,
            format!(
                r#"/* big1m: a module with a 1 MiB initialised const table. */
#include "kmod.h"
MODULE_NAME("big1m");
MODULE_LICENSE("MIT");
__asm__(".section .rodata.big1m,\"a\"\n.balign 16\n.global big1m_table\nbig1m_table:\n.incbin \"{}\"\n.global big1m_end\nbig1m_end:\n.previous\n");
extern const unsigned char big1m_table[], big1m_end[];
int init_module(void) {{
    unsigned int h = 2166136261u;
    for (const unsigned char *p = big1m_table; p < big1m_end; p++) h = (h ^ *p) * 16777619u;
    kprintf("big1m: %u bytes, fnv1a %08x\n", (unsigned)(big1m_end - big1m_table), h);
    return 0;
}}
"#,
                bin.display()
            ),
        )
        .unwrap();
        // The ABI string the kernel expects comes from a built module's .modinfo.
        let abi = abi_of(&root.join("target/modules/hello_c.ko"));
        let out = dir.join("big1m.ko");
        e2e::compile_c_module(&src, &out, &abi)
    })
    .clone()
}

fn big_module() -> Vec<u8> {
    std::fs::read(big_module_path()).unwrap()
}

/// 1 MiB of table data: a lookup table of slowly rising u32 values with two bits of
/// noise (compresses about 4:1 with DEFLATE).
pub fn big_table() -> Vec<u8> {
    let mut rng = Rng(42);
    (0..1u32 << 18)
        .flat_map(|i| ((i >> 6) * 3 + (rng.next() as u32 & 3)).to_le_bytes())
        .collect()
}

fn fnv1a(d: &[u8]) -> u32 {
    d.iter()
        .fold(2166136261u32, |h, &b| (h ^ b as u32).wrapping_mul(16777619))
}

/// The `abi=` value in a module's `.modinfo`.
fn abi_of(ko: &Path) -> String {
    let bytes = std::fs::read(ko).unwrap_or_else(|e| panic!("{}: {e}", ko.display()));
    let key = b"abi=";
    let p = bytes
        .windows(key.len())
        .position(|w| w == key)
        .expect("no abi= in modinfo");
    let rest = &bytes[p + key.len()..];
    let end = rest.iter().position(|&b| b == 0).unwrap();
    String::from_utf8_lossy(&rest[..end]).into_owned()
}

#[test]
fn a_one_mib_module_loads_through_both_protocols() {
    let mut g = boot("big");
    let data = big_module();
    assert!(data.len() > 1 << 20);
    let want = format!("big1m: 1048576 bytes, fnv1a {:08x}", fnv1a(&big_table()));
    let out = kx_insmod(&mut g, &big_module_path(), true).unwrap();
    assert_received(&out, &data, "kx/1, deflate");
    assert!(out.contains(&want), "{out}");
    g.cmd("rmmod big1m");
    g.send_raw(b"insmod\r");
    g.expect_bytes(READY_MARK, T);
    let mark = g.mark();
    let (ok, err, _) = run_sb(&mut g, &["-k", big_module_path().to_str().unwrap()], None);
    assert!(ok, "{err}");
    g.expect("\n> ", T);
    let out = g.text_since(mark);
    assert_received(&out, &data, "YMODEM");
    assert!(out.contains(&want), "{out}");
}

#[test]
fn faulty_line_gives_identical_modules_or_clean_failures() {
    let mut g = boot("faults");
    let hello = workspace_root().join("target/modules/hello.ko");
    let data = std::fs::read(&hello).unwrap();
    // Warm up once (first-use allocations are not leaks).
    kx_insmod(&mut g, &hello, true).unwrap();
    g.cmd("rmmod hello");
    let base = g.heap();
    let mixes = [
        (5, 0, 0, 0, "corrupt"),
        (0, 5, 0, 0, "drop"),
        (0, 0, 5, 0, "duplicate"),
        (0, 0, 0, 10, "delay"),
        (3, 3, 3, 3, "all"),
        (500, 500, 0, 0, "hopeless"),
    ];
    let (mut loaded, mut failed) = (0, 0);
    for (i, &(c, d, u, l, what)) in mixes.iter().enumerate() {
        g.send_raw(b"insmod\r");
        g.expect_bytes(READY_MARK, T);
        let mark = g.mark();
        g.set_faults(Some(Faults {
            corrupt: c,
            drop: d,
            dup: u,
            delay: l,
            delay_ms: 300,
        }));
        let abort = AtomicBool::new(false);
        let opts = kx::Options {
            compress: i % 2 == 0,
            ..kx::Options::default()
        };
        let t0 = Instant::now();
        let r = kx::send(&mut g, "hello", &data, &opts, &abort, &mut |_, _| {});
        g.set_faults(None);
        if r.is_err() {
            // Not even the Hello got through: the kernel is still waiting; cancel it.
            g.send_raw(b"\x03");
        }
        // Whatever happened, the kernel returns to the prompt with a verdict.
        let deadline = Instant::now() + Duration::from_secs(40);
        let mut next_cancel = Instant::now() + Duration::from_secs(3);
        let out = loop {
            let t = g.text_since(mark);
            if t.contains("insmod: upload failed") || t.contains("hello: loaded at") {
                break t;
            }
            assert!(Instant::now() < deadline, "{what}: no verdict: {t}");
            // Like a user at a terminal: press Ctrl-C again if the kernel is still waiting.
            if r.is_err() && Instant::now() >= next_cancel {
                g.send_raw(b"\x03");
                next_cancel = Instant::now() + Duration::from_secs(3);
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // Resynchronise with the shell.
        g.skip_pending();
        let echo = g.cmd("echo resync");
        assert!(echo.contains("resync"), "{what}: {echo}");
        if out.contains("hello: loaded at") {
            assert_received(&out, &data, "kx/1");
            assert!(r.is_ok(), "{what}: kernel loaded it, host says {r:?}");
            loaded += 1;
            g.cmd("rmmod hello");
        } else {
            assert!(out.contains("insmod: upload failed: "), "{what}: {out}");
            assert!(r.is_err(), "{what}: host says ok but kernel: {out}");
            failed += 1;
        }
        let ls = g.cmd("lsmod");
        assert_eq!(ls.lines().count(), 1, "{what}: {ls}\n{out}");
        assert_eq!(g.heap(), base, "{what}: heap after the transfer");
        eprintln!(
            "{what}: {} in {:.1} s",
            match &r {
                Ok(_) => "loaded".to_string(),
                Err(e) => format!("failed cleanly ({e})"),
            },
            t0.elapsed().as_secs_f64()
        );
    }
    let n = &g.injected;
    eprintln!(
        "faults injected: {} corrupted, {} dropped, {} duplicated, {} delayed; {loaded} loaded, {failed} failed",
        n.corrupted.load(Ordering::Relaxed),
        n.dropped.load(Ordering::Relaxed),
        n.duplicated.load(Ordering::Relaxed),
        n.delayed.load(Ordering::Relaxed)
    );
    assert!(loaded >= 4, "the protocol should survive moderate faults");
    assert!(n.corrupted.load(Ordering::Relaxed) > 0 && n.dropped.load(Ordering::Relaxed) > 0);
}

#[test]
fn the_console_answers_insmod_name_from_the_module_directory() {
    // The interactive console on the serial socket (keystrokes from a pipe, screen to a
    // buffer), with the big module's directory as the module directory.
    let dir = big_module_path().parent().unwrap().to_path_buf();
    let (_vm, sock) = spawn_vm("console", None);
    let link = kconsole::Link::from_parts(sock.try_clone().unwrap(), sock);
    let screen: Shared = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
    struct Screen(Shared);
    impl Write for Screen {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 .0.lock().unwrap().extend_from_slice(b);
            self.0 .1.notify_all();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let (keys_rd, mut keys) = std::io::pipe().unwrap();
    let scr = Screen(Arc::clone(&screen));
    let console = std::thread::spawn(move || {
        kconsole::attach::run_with(
            link,
            &kconsole::attach::Settings {
                module_dir: dir,
                compress: true,
            },
            keys_rd,
            Box::new(scr),
        )
    });
    let wait = |pat: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = String::from_utf8_lossy(&screen.0.lock().unwrap()).replace('\r', "");
            if s.contains(pat) {
                return s;
            }
            assert!(Instant::now() < deadline, "no {pat:?} on the console:\n{s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait("\n> ");
    keys.write_all(b"insmod big1m\r").unwrap();
    let s = wait(&format!(
        "big1m: 1048576 bytes, fnv1a {:08x}",
        fnv1a(&big_table())
    ));
    assert!(s.contains("asking the host console for big1m.ko"), "{s}");
    assert!(s.contains("[kconsole] sending"), "{s}");
    keys.write_all(b"insmod nosuchmod\r").unwrap();
    let s = wait("upload failed: host: nosuchmod.ko: not found in");
    keys.write_all(b"lsmod\r").unwrap();
    wait("big1m ");
    // Ctrl-T with parameters after the path: they go to insmod, not into the file name.
    let hello = workspace_root().join("target/modules/hello.ko");
    keys.write_all(&[0x14]).unwrap();
    keys.write_all(format!("{} greeting=salut count=2\r", hello.display()).as_bytes())
        .unwrap();
    let s2 = wait("hello: salut (2/2)");
    assert!(s2.contains("hello: salut (1/2)"), "{s2}");
    keys.write_all(&[0x1d]).unwrap();
    console.join().unwrap().unwrap();
    drop(s);
}

/// In enforce mode, signed modules load over kx/1 (plain and compressed) and YMODEM, and
/// the same module without its signature is refused over both, after the transfer and
/// before any parsing, with the heap back at its baseline.
#[test]
fn signatures_are_checked_for_serial_uploads_when_enforcing() {
    let mut g = boot_append("sig", Some("module.sig_enforce=1"));
    let base = g.heap();
    let signed = workspace_root().join("target/modules/hello_c.ko");
    let bytes = std::fs::read(&signed).unwrap();
    let elf = modloader::signature::strip(&bytes).to_vec();
    assert!(elf.len() < bytes.len(), "built modules are signed");
    let dir = workspace_root().join("target/e2e-fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    let unsigned = dir.join("hello_c.ko");
    std::fs::write(&unsigned, &elf).unwrap();

    for compress in [false, true] {
        let out = kx_insmod(&mut g, &unsigned, compress).unwrap_or_else(|e| e);
        assert!(
            out.contains("module refused: module verification failed: no signature"),
            "kx/1 unsigned: {out}"
        );
        assert_eq!(g.heap(), base, "kx/1 refusal");
        let out = kx_insmod(&mut g, &signed, compress).unwrap();
        assert!(out.contains("hello_c: loaded at"), "kx/1 signed: {out}");
        g.cmd("rmmod hello_c");
    }
    for (path, ok) in [(&unsigned, false), (&signed, true)] {
        g.send_raw(b"insmod\r");
        g.expect_bytes(READY_MARK, T);
        let mark = g.mark();
        let (sent, err, _) = run_sb(&mut g, &["-k", path.to_str().unwrap()], None);
        assert!(sent, "sb: {err}");
        g.expect("\n> ", T);
        let out = g.text_since(mark);
        if ok {
            assert!(out.contains("hello_c: loaded at"), "YMODEM signed: {out}");
            g.cmd("rmmod hello_c");
        } else {
            assert!(
                out.contains("module refused: module verification failed: no signature"),
                "YMODEM unsigned: {out}"
            );
        }
    }
    assert_eq!(g.heap(), base);
}

/// Reads `sock` until `pat` appears (the socket stays in blocking mode afterwards).
fn read_until(sock: &mut UnixStream, pat: &[u8], t: Duration) -> Vec<u8> {
    let deadline = Instant::now() + t;
    let mut acc = Vec::new();
    let mut buf = [0u8; 4096];
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    loop {
        if acc.windows(pat.len()).any(|w| w == pat) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {:?}:\n{}",
            String::from_utf8_lossy(pat),
            String::from_utf8_lossy(&acc)
        );
        match sock.read(&mut buf) {
            Ok(0) => panic!(
                "the guest closed the line:\n{}",
                String::from_utf8_lossy(&acc)
            ),
            Ok(n) => acc.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    sock.set_read_timeout(None).unwrap();
    acc
}

/// Runs `sb ARGS` with `stdio` (a blocking fd) as its stdin and stdout.
fn sb_on(stdio: std::os::fd::OwnedFd, args: &[&str]) -> (bool, String, Duration) {
    let t0 = Instant::now();
    let out = stdio.try_clone().unwrap();
    let mut sb = Command::new("sb")
        .args(args)
        .stdin(Stdio::from(stdio))
        .stdout(Stdio::from(out))
        .stderr(Stdio::piped())
        .spawn()
        .expect("sb missing: apt-get install lrzsz");
    let mut err = String::new();
    let mut stderr = sb.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let _ = stderr.read_to_string(&mut err);
        err
    });
    let status = loop {
        if let Some(s) = sb.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(120) {
            let _ = sb.kill();
            let _ = sb.wait();
            panic!("sb hangs: {}", reader.join().unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status.success(),
        reader.join().unwrap_or_default(),
        t0.elapsed(),
    )
}

/// A real terminal session: `insmod` typed at the prompt, then `sb` started on the line
/// itself with the kernel's echo, message and ready mark still unread (like
/// `sb < /dev/ttyUSB0 > /dev/ttyUSB0`): sb reads that text as bad answers to its header.
#[test]
fn ymodem_sb_on_the_raw_line_right_after_insmod() {
    let ms = modules();
    for (i, name) in ["hello", "hello_c", "collections"].iter().enumerate() {
        let (_vm, mut sock) = spawn_vm(&format!("raw-{name}"), None);
        read_until(&mut sock, b"\n> ", T);
        let path = ms.iter().find(|p| stem(p) == *name).unwrap();
        let data = std::fs::read(path).unwrap();
        sock.write_all(b"insmod\r").unwrap();
        let p = path.to_str().unwrap();
        let args: Vec<&str> = if i == 1 { vec![p] } else { vec!["-k", p] };
        let (ok, err, took) = sb_on(sock.try_clone().unwrap().into(), &args);
        let out = String::from_utf8_lossy(&read_until(&mut sock, b"\n> ", T)).replace('\r', "");
        assert!(ok, "sb {name} failed after {took:?}: {err}\nkernel:\n{out}");
        assert_received(&out, &data, "YMODEM");
        assert_module_ran(name, &out);
        sock.write_all(b"echo alive\r").unwrap();
        let echo = String::from_utf8_lossy(&read_until(&mut sock, b"\n> ", T)).into_owned();
        assert!(echo.contains("alive"), "{echo}");
    }
}

/// `sb` on a pseudo-terminal bridged to the serial socket, started right after `insmod`
/// with nothing drained.
#[test]
fn ymodem_sb_on_a_pty_right_after_insmod() {
    use nix::sys::termios;
    let ms = modules();
    let path = ms.iter().find(|p| stem(p) == "hello").unwrap();
    let data = std::fs::read(path).unwrap();
    let (_vm, mut sock) = spawn_vm("pty", None);
    read_until(&mut sock, b"\n> ", T);
    let pty = nix::pty::openpty(None, None).unwrap();
    let mut t = termios::tcgetattr(&pty.slave).unwrap();
    termios::cfmakeraw(&mut t);
    termios::tcsetattr(&pty.slave, termios::SetArg::TCSANOW, &t).unwrap();
    let master = std::fs::File::from(pty.master);
    let seen: Shared = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
    {
        let mut from_guest = sock.try_clone().unwrap();
        let mut to_pty = master.try_clone().unwrap();
        let seen = Arc::clone(&seen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = from_guest.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.0.lock().unwrap().extend_from_slice(&buf[..n]);
                seen.1.notify_all();
                if to_pty.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
        let mut from_pty = master.try_clone().unwrap();
        let mut to_guest = sock.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = from_pty.read(&mut buf) {
                if n == 0 || to_guest.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
    sock.write_all(b"insmod\r").unwrap();
    let (ok, err, took) = sb_on(pty.slave, &["-k", path.to_str().unwrap()]);
    let deadline = Instant::now() + T;
    let out = loop {
        let s = String::from_utf8_lossy(&seen.0.lock().unwrap()).replace('\r', "");
        if let Some(p) = s
            .find("insmod: received")
            .or(s.find("insmod: upload failed"))
        {
            if s[p..].contains("\n> ") {
                break s;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no verdict (sb ok={ok}: {err}):\n{s}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(ok, "sb failed after {took:?}: {err}\nkernel:\n{out}");
    assert_received(&out, &data, "YMODEM");
    assert_module_ran("hello", &out);
    drop(master);
}

/// One flipped bit turns the first `C` (or the BEL that ends the ready mark) into `G`,
/// and `sb` streams YMODEM-g without waiting for ACKs. The kernel refuses that with CAN:
/// sb must report failure, the kernel must say why, and the shell must get no junk.
#[test]
fn ymodem_g_from_a_flipped_bit_is_refused_and_sb_fails() {
    let mut g = boot("ymodem-g");
    let hello = workspace_root().join("target/modules/hello.ko");
    let p = hello.to_str().unwrap();
    for (what, from) in [("first C", b'C'), ("BEL of the ready mark", 0x07)] {
        g.send_raw(b"insmod\r");
        // Start sb just before the ready mark, so it sees the BEL or the first `C`.
        g.expect("Ctrl-C cancels", T);
        let mark = g.mark();
        let (ok, err, took) = run_sb_with(&mut g, &["-k", p], None, Some((from, b'G')));
        g.expect("\n> ", T);
        let out = g.text_since(mark);
        assert!(
            !ok,
            "{what}: sb believes the transfer worked; kernel:\n{out}"
        );
        assert!(
            out.contains("insmod: upload failed:") && out.contains("YMODEM-g"),
            "{what}: {out}"
        );
        assert!(
            took < Duration::from_secs(60),
            "{what}: sb took {took:?}: {err}"
        );
        g.skip_pending();
        assert_eq!(g.cmd("echo alive").trim(), "alive", "{what}");
        assert_eq!(g.cmd("lsmod").lines().count(), 1, "{what}");
    }
}

/// A 0x03 inside the sender's stream (here: the header's SOH lost and its sequence byte
/// damaged into 0x03 while the kernel waits) is not a Ctrl-C; a real Ctrl-C on a quiet
/// line cancels and sends CAN CAN, so a waiting sb stops at once; in neither case does
/// the sender's tail reach the shell.
#[test]
fn a_cancelled_or_noisy_start_leaves_no_sender_bytes_in_the_shell() {
    let mut g = boot("cancel");
    let hello = workspace_root().join("target/modules/hello_c.ko");
    let data = std::fs::read(&hello).unwrap();
    let p = hello.to_str().unwrap();

    // (1) Noise: sb's first bytes are SOH 00 FF ...; the SOH is lost, the 00 becomes 03.
    g.send_raw(b"insmod\r");
    g.expect_bytes(READY_MARK, T);
    let mark = g.mark();
    let mut sb = Command::new("sb")
        .args(["-k", p])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sb missing: apt-get install lrzsz");
    let mut from_sb = sb.stdout.take().unwrap();
    let mut to_guest = g.socket();
    let pump = std::thread::spawn(move || {
        let mut first = true;
        let mut buf = [0u8; 4096];
        while let Ok(n) = from_sb.read(&mut buf) {
            if n == 0 {
                break;
            }
            let mut d = buf[..n].to_vec();
            if first && d.len() > 2 {
                first = false;
                d.remove(0);
                d[0] = 0x03;
            }
            if to_guest.write_all(&d).is_err() {
                break;
            }
        }
    });
    let mut to_sb = sb.stdin.take().unwrap();
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = sb.try_wait().unwrap() {
            break s;
        }
        let mut buf = Vec::new();
        g.recv(&mut buf, Duration::from_millis(5)).unwrap();
        let _ = to_sb.write_all(&buf);
        if t0.elapsed() > Duration::from_secs(60) {
            let _ = sb.kill();
            let _ = sb.wait();
            panic!(
                "sb still retrying after 60 s; kernel:\n{}",
                g.text_since(mark)
            );
        }
    };
    drop(to_sb);
    let _ = pump.join();
    g.expect("\n> ", T);
    let out = g.text_since(mark);
    assert!(status.success(), "sb failed; kernel:\n{out}");
    assert_received(&out, &data, "YMODEM");
    g.skip_pending();
    assert_eq!(g.cmd("echo alive").trim(), "alive");
    g.cmd("rmmod hello_c");

    // (2) Ctrl-C while sb waits for the kernel (it never sees a `C`: they are filtered).
    g.send_raw(b"insmod\r");
    g.expect_bytes(READY_MARK, T);
    let mark = g.mark();
    let mut sb = Command::new("sb")
        .args(["-k", p])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sb");
    let mut to_sb = sb.stdin.take().unwrap();
    let mut from_sb = sb.stdout.take().unwrap();
    let mut to_guest = g.socket();
    let pump = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from_sb.read(&mut buf) {
            if n == 0 || to_guest.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    g.send_raw(b"\x03");
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = sb.try_wait().unwrap() {
            break s;
        }
        let mut buf = Vec::new();
        g.recv(&mut buf, Duration::from_millis(5)).unwrap();
        buf.retain(|&b| b != b'C');
        let _ = to_sb.write_all(&buf);
        if t0.elapsed() > Duration::from_secs(10) {
            let _ = sb.kill();
            let _ = sb.wait();
            panic!(
                "sb did not stop within 10 s of the cancel; kernel:\n{}",
                g.text_since(mark)
            );
        }
    };
    drop(to_sb);
    let _ = pump.join();
    g.expect("\n> ", T);
    let out = g.text_since(mark);
    assert!(!status.success(), "sb exited 0 after a cancel");
    assert!(out.contains("upload failed: cancelled"), "{out}");
    g.skip_pending();
    assert_eq!(g.cmd("echo alive").trim(), "alive");
}

/// YMODEM from real sb through the fault-injecting proxy (both directions): every run
/// ends with the identical module loaded or with a failure both sides report; the sender
/// never believes a failed transfer worked.
#[test]
fn faulty_line_ymodem_gives_identical_modules_or_clean_failures() {
    let mut g = boot("faults-ymodem");
    let hello = workspace_root().join("target/modules/hello_c.ko");
    let data = std::fs::read(&hello).unwrap();
    let p = hello.to_str().unwrap();
    let mixes = [
        (5, 0, 0, 0, "corrupt"),
        (0, 5, 0, 0, "drop"),
        (0, 0, 5, 0, "duplicate"),
        (0, 0, 0, 10, "delay"),
        (3, 3, 3, 3, "all"),
        (500, 500, 0, 0, "hopeless"),
    ];
    let (mut loaded, mut failed) = (0, 0);
    for (i, &(c, d, u, l, what)) in mixes.iter().enumerate() {
        g.send_raw(b"insmod\r");
        g.expect_bytes(READY_MARK, T);
        let mark = g.mark();
        g.set_faults(Some(Faults {
            corrupt: c,
            drop: d,
            dup: u,
            delay: l,
            delay_ms: 300,
        }));
        let args: Vec<&str> = if i % 2 == 0 { vec!["-k", p] } else { vec![p] };
        let (ok, err, took) = run_sb_with(&mut g, &args, None, None);
        g.set_faults(None);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut next_cancel = Instant::now() + Duration::from_secs(3);
        let out = loop {
            let t = g.text_since(mark);
            if t.contains("insmod: upload failed") || t.contains("hello_c: loaded at") {
                break t;
            }
            assert!(Instant::now() < deadline, "{what}: no verdict: {t}");
            if Instant::now() >= next_cancel {
                g.send_raw(b"\x03");
                next_cancel = Instant::now() + Duration::from_secs(3);
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        std::thread::sleep(Duration::from_millis(1500));
        g.skip_pending();
        let echo = g.cmd("echo resync");
        assert!(echo.contains("resync"), "{what}: {echo}");
        if out.contains("hello_c: loaded at") {
            assert_received(&out, &data, "YMODEM");
            loaded += 1;
            g.cmd("rmmod hello_c");
        } else {
            assert!(
                ok.not(),
                "{what}: sb says ok but the kernel: {out}\nsb: {err}"
            );
            failed += 1;
        }
        assert_eq!(g.cmd("lsmod").lines().count(), 1, "{what}");
        eprintln!(
            "{what}: sb {} in {:.1} s; kernel {}",
            if ok { "ok" } else { "failed" },
            took.as_secs_f64(),
            out.lines()
                .find_map(|l| l.find("insmod: ").map(|p| &l[p..]))
                .unwrap_or("?")
        );
    }
    let n = &g.injected;
    eprintln!(
        "faults injected: {} corrupted, {} dropped, {} duplicated, {} delayed; {loaded} loaded, {failed} failed",
        n.corrupted.load(Ordering::Relaxed),
        n.dropped.load(Ordering::Relaxed),
        n.duplicated.load(Ordering::Relaxed),
        n.delayed.load(Ordering::Relaxed)
    );
    assert!(loaded >= 4, "YMODEM should survive moderate faults");
    assert!(n.corrupted.load(Ordering::Relaxed) > 0 && n.dropped.load(Ordering::Relaxed) > 0);
}

/// `kconsole` beside a running console: QEMU's socket already has a client, and a second
/// connection would be queued and never answered. It is refused at once, saying why.
#[test]
fn a_second_client_on_the_serial_socket_is_refused_at_once() {
    let (_vm, mut sock) = spawn_vm("busy", None);
    read_until(&mut sock, b"\n> ", T);
    let path = workspace_root()
        .join("target/sockets")
        .join(format!("busy-{}.sock", std::process::id()));
    let t0 = Instant::now();
    let r = kconsole::Link::open(&kconsole::Endpoint::Unix(path), Duration::from_secs(5));
    let e = match r {
        Ok(_) => panic!("a second client was let in"),
        Err(e) => e,
    };
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    assert!(e.to_string().contains("already has a client"), "{e}");
    // The first client still works.
    sock.write_all(b"echo alive\r").unwrap();
    assert!(String::from_utf8_lossy(&read_until(&mut sock, b"\n> ", T)).contains("alive"));
}

/// `kconsole upload`'s verdict comes from the kernel's checked `Result` frame, never from
/// console text: with faults on the kernel → host direction only, every run either loads
/// the module and says so, or says it failed and the module is not loaded. Checked against
/// the kernel's own `lsmod` after each run, with the line clean.
#[test]
fn the_console_verdict_matches_the_kernel_with_a_noisy_return_line() {
    let mut g = boot("verdict");
    // Host -> kernel stays clean; only what the kernel sends is damaged.
    g.g.set_outbound_filter(None);
    let path = workspace_root().join("target/modules/hello_c.ko");
    let data = std::fs::read(&path).unwrap();
    let (mut loaded_runs, mut failed_runs) = (0, 0);
    for (i, corrupt) in [30u32, 60, 100, 30, 60, 100].into_iter().enumerate() {
        g.set_faults(Some(Faults {
            corrupt,
            drop: corrupt / 2,
            dup: corrupt / 3,
            delay: 0,
            delay_ms: 0,
        }));
        let abort = AtomicBool::new(false);
        let opts = kx::Options {
            compress: i % 2 == 0,
            ..kx::Options::default()
        };
        let r = kx::insmod(&mut g, "hello_c", &data, &[], &opts, &abort, &mut |_, _| {});
        g.set_faults(None);
        // Let the kernel finish whatever it was doing, then ask it plainly.
        std::thread::sleep(Duration::from_millis(1500));
        g.send_raw(b"\x15\r");
        g.expect("\n> ", T);
        let truth = g.cmd("lsmod").contains("hello_c");
        match &r {
            Ok(_) => assert!(
                truth,
                "run {i}: the console said loaded, the kernel says no"
            ),
            Err(e) => assert!(
                !truth,
                "run {i}: the console said {e}, but the module is loaded"
            ),
        }
        if truth {
            loaded_runs += 1;
            g.cmd("rmmod hello_c");
        } else {
            failed_runs += 1;
        }
        eprintln!(
            "run {i}: {}",
            match &r {
                Ok(_) => "loaded".to_string(),
                Err(e) => e.to_string(),
            }
        );
    }
    assert!(loaded_runs > 0, "no run got through ({failed_runs} failed)");
}

/// When no `Hello` gets through, the console gives up and says so to the kernel too: the
/// kernel stops waiting at once instead of for its full two minutes.
#[test]
fn a_console_that_gives_up_on_hello_stops_the_kernel_waiting() {
    let mut g = boot("giveup");
    // Every frame the host sends is lost except an Abort.
    g.g.set_outbound_filter(Some(Box::new(|b: &[u8]| {
        if b.first() == Some(&0xA5) && b.get(1) != Some(&(kx_kind_abort())) {
            Vec::new()
        } else {
            b.to_vec()
        }
    })));
    g.send_raw(b"insmod\r");
    g.expect_bytes(READY_MARK, T);
    let mark = g.mark();
    let opts = kx::Options {
        hello_timeout: Duration::from_secs(1),
        ..kx::Options::default()
    };
    let abort = AtomicBool::new(false);
    let data = std::fs::read(workspace_root().join("target/modules/hello_c.ko")).unwrap();
    let r = kx::send(&mut g, "hello_c", &data, &opts, &abort, &mut |_, _| {});
    assert!(matches!(r, Err(kx::UploadError::NoAnswer)), "{r:?}");
    let t0 = Instant::now();
    g.expect("\n> ", Duration::from_secs(5));
    assert!(t0.elapsed() < Duration::from_secs(5));
    let out = g.text_since(mark);
    assert!(out.contains("upload failed: "), "{out}");
    g.g.set_outbound_filter(None);
    assert!(g.cmd("echo alive").contains("alive"));
}

fn kx_kind_abort() -> u8 {
    kconsole::frame::Kind::Abort as u8
}

/// Modules that came over the serial line (kx/1 for the Rust one, YMODEM from `sb` for
/// the C one) explain their faults to the source line like any other: each module
/// frame shows its own function's line, checked against the source's `LINE:` markers.
#[test]
fn modules_loaded_over_serial_show_source_lines_in_their_oops() {
    let mut g = boot("serial-lines");
    let dir = workspace_root().join("target/modules");
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
    let cases: [Case; 2] = [
        (
            "deep_rust",
            "modules/deep_rust/src/lib.rs",
            &[
                ("deep_rust::inner", "inner"),
                ("deep_rust::outer", "outer"),
                ("deep_rust::command", "command"),
            ],
        ),
        (
            "deep_c",
            "modules/deep_c/deep_c.c",
            &[
                ("deep_c_inner", "deep_c_inner"),
                ("deep_c_outer", "deep_c_outer"),
                ("deep_c_cmd", "deep_c_cmd"),
            ],
        ),
    ];
    for (name, src, frames) in cases {
        let path = dir.join(format!("{name}.ko"));
        if name == "deep_rust" {
            let out = kx_insmod(&mut g, &path, true).unwrap();
            assert!(out.contains(&format!("{name}: loaded at")), "{out}");
        } else {
            g.send_raw(b"insmod\r");
            g.expect_bytes(READY_MARK, T);
            let mark = g.mark();
            let (ok, err, _) = run_sb(&mut g, &["-k", path.to_str().unwrap()], None);
            assert!(ok, "sb {name}: {err}");
            g.expect("\n> ", T);
            let out = g.text_since(mark);
            assert!(out.contains(&format!("{name}: loaded at")), "{out}");
        }
        let mark = g.mark();
        g.send_raw(format!("{name}\r").as_bytes());
        g.expect("---[ end trace", T);
        g.expect("\n> ", T);
        let report = g.text_since(mark).replace('\r', "");
        for (func, marker) in frames {
            let want = format!("({src}:{})", e2e::marker_line(src, marker));
            assert!(
                report.lines().any(|l| l.contains(&format!(" {func}+0x"))
                    && l.contains(&format!("[{name} "))
                    && l.trim_end().ends_with(&want)),
                "{name}: frame {func} must end with {want}:\n{report}"
            );
        }
    }
    assert!(g.cmd("echo alive").contains("alive"));
}
