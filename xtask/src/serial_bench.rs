//! `cargo xtask bench` — serial module loading: a 1 MiB module through kx/1 (compressed
//! and plain) and YMODEM (`sb`), the raw receive ceiling of the guest's PL011 (`rxbench`),
//! and Debian's U-Boot `loady` (`sb`) / `loadx` (`sx -k`) on the same QEMU.

use kconsole::{frame, kx, Wire};
use qemu_harness::{Qemu, SocketGuest};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// A guest on the bench's serial socket ([`SocketGuest`], killed on drop).
struct Vm {
    g: SocketGuest,
}

/// The kx/1 sender's view of the line.
struct Line<'a>(&'a mut SocketGuest);

impl Wire for Line<'_> {
    fn send(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.0.send(b)
    }
    fn recv(&mut self, buf: &mut Vec<u8>, t: Duration) -> std::io::Result<usize> {
        Ok(self.0.recv(buf, t))
    }
}

impl Vm {
    fn start(image: &Path, bios: bool) -> Result<Vm, String> {
        let mut q = Qemu::new(image);
        q.bios = bios;
        q.semihosting = !bios;
        let g = SocketGuest::spawn(&q, "bench-serial").map_err(|e| format!("qemu: {e}"))?;
        Ok(Vm { g })
    }

    fn expect(&mut self, pat: &[u8]) -> Result<Vec<u8>, String> {
        self.g.expect_bytes(pat, T).map_err(|e| e.to_string())
    }

    fn send(&mut self, b: &[u8]) -> Result<(), String> {
        self.g.send(b).map_err(|e| e.to_string())
    }

    /// Runs `prog args` bridged to the serial line (it first sees what arrived after the
    /// last wait); returns its wall time.
    fn bridge(&mut self, prog: &str, args: &[&str]) -> Result<Duration, String> {
        let (status, err, el) = self
            .g
            .bridge(prog, args, Duration::from_secs(300), &mut |_, _| {})
            .map_err(|e| format!("{prog}: {e}"))?;
        if !status.success() {
            return Err(format!("{prog} {args:?} failed: {status}: {err}"));
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
        vm.g.skip_pending();
        let opts = kx::Options {
            compress,
            ..kx::Options::default()
        };
        let stats = kx::send(
            &mut Line(&mut vm.g),
            "big1m",
            &data,
            &opts,
            &AtomicBool::new(false),
            &mut |_, _| {},
        )
        .map_err(|e| e.to_string())?;
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
