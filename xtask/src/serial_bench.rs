//! `cargo xtask bench` — serial module loading: a 1 MiB module through kx/1 (compressed
//! and plain) and YMODEM (`sb`), the raw receive ceiling of the guest's PL011 (`rxbench`),
//! and Debian's U-Boot `loady` (`sb`) / `loadx` (`sx -k`) on the same QEMU.

use kconsole::{frame, kx, Link, Wire};
use qemu_harness::{Qemu, Serial};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);

struct Vm {
    child: Child,
    link: Link,
    sock: UnixStream,
    acc: Vec<u8>,
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Vm {
    fn start(image: &Path, bios: bool) -> Result<Vm, String> {
        let path = crate::root().join(format!("target/bench-serial-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut q = Qemu::new(image);
        q.bios = bios;
        q.semihosting = !bios;
        q.serial = Serial::UnixSocket(path.clone());
        let child = q
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("qemu: {e}"))?;
        let deadline = Instant::now() + T;
        let sock = loop {
            match UnixStream::connect(&path) {
                Ok(s) => break s,
                Err(e) if Instant::now() > deadline => {
                    return Err(format!("{}: {e}", path.display()))
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        let rd = sock.try_clone().map_err(|e| e.to_string())?;
        let wr = sock.try_clone().map_err(|e| e.to_string())?;
        Ok(Vm {
            child,
            link: Link::from_parts(rd, wr),
            sock,
            acc: Vec::new(),
        })
    }

    fn expect(&mut self, pat: &[u8]) -> Result<Vec<u8>, String> {
        kx::wait_for(&mut self.link, &mut self.acc, pat, T).map_err(|e| {
            format!(
                "waiting for {:?}: {e}; seen: {}",
                String::from_utf8_lossy(pat),
                String::from_utf8_lossy(&self.acc)
            )
        })
    }

    fn send(&mut self, b: &[u8]) -> Result<(), String> {
        self.link.send(b).map_err(|e| e.to_string())
    }

    /// Runs `prog args` bridged to the serial line (the first bytes it sees are `pending`);
    /// returns its wall time.
    fn bridge(&mut self, prog: &str, args: &[&str]) -> Result<Duration, String> {
        let mut p = Command::new(prog)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{prog}: {e} (apt-get install lrzsz)"))?;
        let t0 = Instant::now();
        let mut from = p.stdout.take().ok_or("no stdout")?;
        let mut to_guest = self.sock.try_clone().map_err(|e| e.to_string())?;
        let pump = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 || to_guest.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
        let mut to = p.stdin.take().ok_or("no stdin")?;
        let pending = std::mem::take(&mut self.acc);
        let _ = to.write_all(&pending);
        let status = loop {
            if let Some(s) = p.try_wait().map_err(|e| e.to_string())? {
                break s;
            }
            let mut buf = Vec::new();
            self.link
                .recv(&mut buf, Duration::from_millis(2))
                .map_err(|e| e.to_string())?;
            if !buf.is_empty() {
                let _ = to.write_all(&buf);
                let _ = to.flush();
            }
            if t0.elapsed() > Duration::from_secs(300) {
                let _ = p.kill();
                return Err(format!("{prog} hangs"));
            }
        };
        let el = t0.elapsed();
        drop(to);
        let _ = pump.join();
        if !status.success() {
            return Err(format!("{prog} {args:?} failed: {status}"));
        }
        Ok(el)
    }
}

/// Builds the 1 MiB test module (same recipe as e2e/tests/serial.rs).
fn big_module() -> Result<PathBuf, String> {
    let root = crate::root();
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let bin = dir.join("big1m.bin");
    let mut x: u64 = 42;
    let table: Vec<u8> = (0..1u32 << 18)
        .flat_map(|i| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
            ((i >> 6) * 3 + (r as u32 & 3)).to_le_bytes()
        })
        .collect();
    std::fs::write(&bin, table).map_err(|e| e.to_string())?;
    let src = format!(
        "#include \"kmod.h\"\nMODULE_NAME(\"big1m\");\nMODULE_LICENSE(\"MIT\");\n__asm__(\".section .rodata.big1m,\\\"a\\\"\\n.balign 16\\n.incbin \\\"{}\\\"\\n.previous\\n\");\nint init_module(void) {{ kprintf(\"big1m: ok\\n\"); return 0; }}\n",
        bin.display()
    );
    let elf = std::fs::read(crate::kernel_elf()).map_err(|e| e.to_string())?;
    let abi = crate::modules::read_kernel_abi(&elf)?.abi_string();
    crate::modbench::build_c(&dir, "big1m", &src, &abi)
}

fn kbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1000.0
}

/// Runs the serial benchmarks and prints the table.
pub fn run() -> Result<(), String> {
    crate::bench::require_alone()?;
    let module = big_module()?;
    let data = std::fs::read(&module).map_err(|e| e.to_string())?;
    let size = data.len();
    let mut rows: Vec<(String, f64, String)> = Vec::new();
    let kernel = crate::kernel_elf();
    let mut vm = Vm::start(&kernel, false)?;
    vm.expect(b"\n> ")?;

    // (d) raw ceiling.
    let n = 1usize << 20;
    vm.send(format!("rxbench {n}\r").as_bytes())?;
    vm.expect(b"ready for")?;
    vm.expect(b"\n")?;
    let blob: Vec<u8> = (0..n).map(|i| (i * 7 + (i >> 9)) as u8).collect();
    vm.send(&blob)?;
    let out = String::from_utf8_lossy(&vm.expect(b"\n> ")?).into_owned();
    let raw = out
        .split(" = ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or(format!("rxbench said: {out}"))?
        / 1000.0;
    let dropped = out.contains(", 0 dropped");
    rows.push((
        "(d) raw PL011 receive ceiling (rxbench, 1 MiB)".into(),
        raw,
        if dropped {
            "no byte dropped".into()
        } else {
            out.trim().into()
        },
    ));

    // (a), (b) kx/1.
    for compress in [true, false] {
        vm.send(b"insmod\r")?;
        vm.expect(frame::READY_MARK)?;
        vm.acc.clear();
        let opts = kx::Options {
            compress,
            ..kx::Options::default()
        };
        let stats = kx::send(
            &mut vm.link,
            "big1m",
            &data,
            &opts,
            &AtomicBool::new(false),
            &mut |_, _| {},
        )
        .map_err(|e| e.to_string())?;
        vm.acc = stats.leftover.clone();
        let text = String::from_utf8_lossy(&vm.expect(b"\n> ")?).into_owned();
        if !text.contains("big1m: loaded at") {
            return Err(format!("big1m did not load: {text}"));
        }
        vm.send(b"rmmod big1m\r")?;
        vm.expect(b"\n> ")?;
        let r = kbps(size, stats.elapsed);
        rows.push((
            format!(
                "({}) kx/1 {} ({} module bytes, {} on the wire)",
                if compress { "a" } else { "b" },
                if compress {
                    "compressed"
                } else {
                    "uncompressed"
                },
                size,
                stats.stream
            ),
            r,
            format!("{:.2} s, {:.2}x raw", stats.elapsed.as_secs_f64(), r / raw),
        ));
    }

    // (c) YMODEM with sb -k.
    vm.send(b"insmod\r")?;
    vm.expect(frame::READY_MARK)?;
    let p = module.to_str().ok_or("path")?;
    let el = vm.bridge("sb", &["-k", p])?;
    let text = String::from_utf8_lossy(&vm.expect(b"\n> ")?).into_owned();
    if !text.contains("big1m: loaded at") {
        return Err(format!("big1m did not load over YMODEM: {text}"));
    }
    let r = kbps(size, el);
    rows.push((
        "(c) YMODEM, lrzsz `sb -k` -> insmod".into(),
        r,
        format!(
            "{:.2} s wall (sb start to exit), {:.2}x raw",
            el.as_secs_f64(),
            r / raw
        ),
    ));
    drop(vm);

    // (e) U-Boot loady / loadx on the same QEMU.
    let uboot = Path::new("/usr/lib/u-boot/qemu_arm64/u-boot.bin");
    if uboot.exists() {
        let mut vm = Vm::start(uboot, true)?;
        vm.expect(b"autoboot")?;
        vm.send(b"\r")?;
        vm.expect(b"=> ")?;
        for (cmd, prog, args) in [
            ("loady 0x40400000\r", "sb", vec!["-k", p]),
            ("loadx 0x40400000\r", "sx", vec!["-k", p]),
        ] {
            vm.send(cmd.as_bytes())?;
            vm.expect(b"download to")?;
            let el = vm.bridge(prog, &args)?;
            vm.expect(b"=> ")?;
            let r = kbps(size, el);
            rows.push((
                format!(
                    "(e) U-Boot {} fed by `{prog} -k`",
                    cmd.split(' ').next().unwrap_or("")
                ),
                r,
                format!("{:.2} s wall, {:.2}x raw", el.as_secs_f64(), r / raw),
            ));
        }
    } else {
        println!(
            "U-Boot baseline skipped: {} missing (apt-get install u-boot-qemu)",
            uboot.display()
        );
    }

    println!(
        "Serial module loading, 1 MiB module ({size} bytes), QEMU virt PL011 on a unix socket:"
    );
    println!();
    println!("| Path | module KB/s | notes |");
    println!("|---|---|---|");
    for (name, r, note) in rows {
        println!("| {name} | {r:.1} | {note} |");
    }
    Ok(())
}
