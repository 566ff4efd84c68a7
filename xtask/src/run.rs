//! `cargo xtask run`: build, then boot in QEMU behind the host console.

use crate::{root, Gic, QemuOpts};
use qemu_harness::{GicVersion, Qemu, Serial};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

pub fn qemu_from(opts: &QemuOpts, kernel: PathBuf) -> Qemu {
    let mut q = Qemu::new(kernel);
    q.cpu = opts.cpu.clone();
    q.memory = opts.memory.clone();
    q.gic = match opts.gic {
        Gic::V2 => GicVersion::V2,
        Gic::V3 => GicVersion::V3,
    };
    q.el2 = opts.el2;
    q.append = opts.append.clone();
    q.gdb = opts.gdb;
    q.gdb_wait = !opts.no_wait;
    q
}

pub fn cmd_run(opts: QemuOpts) -> Result<(), String> {
    crate::deps::ensure_qemu()?;
    crate::image::build()?;
    let mut q = qemu_from(&opts, crate::boot_image());
    // QEMU's serial port on a unix socket, bridged to this terminal by the host console
    // (kconsole), which also answers `insmod NAME` from target/modules.
    let sock = root().join("target/console.sock");
    let _ = std::fs::remove_file(&sock);
    q.serial = Serial::UnixSocket(sock.clone());
    if let Some(port) = q.gdb {
        if q.gdb_wait {
            println!("QEMU waits for gdb on port {port}: run `cargo xtask gdb --port {port}` in another terminal.");
        } else {
            println!(
                "gdb server on port {port}: attach any time with `cargo xtask gdb --port {port}`."
            );
        }
    }
    println!(
        "Booting {} (Ctrl-] quits, Ctrl-T uploads a module)",
        q.kernel.display()
    );
    let mut child = q
        .command()
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start qemu-system-aarch64: {e}"))?;
    let r = kconsole::Link::open(
        &kconsole::Endpoint::Unix(sock.clone()),
        Duration::from_secs(10),
    )
    .map_err(|e| format!("cannot connect to QEMU's serial socket: {e}"))
    .and_then(|link| {
        kconsole::attach::run(
            link,
            &kconsole::attach::Settings {
                module_dir: root().join("target/modules"),
                compress: true,
            },
        )
    });
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(&sock);
    r
}
