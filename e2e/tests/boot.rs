//! Boot on every supported configuration and check the banner and the shell.

use e2e::{boot, boot_with, cmd, qemu, T};
use qemu_harness::GicVersion;

fn boot_config(cpu: &str, mem: &str, gic: GicVersion, el2: bool) {
    let mut q = qemu();
    q.cpu = cpu.into();
    q.memory = mem.into();
    q.gic = gic;
    q.el2 = el2;
    let mut g = boot_with(q);
    let out = g.output();
    assert!(out.contains("unikernel 0.1.0"), "{out}");
    assert!(out.contains("Board: linux,dummy-virt (DT)"), "{out}");
    let mib: u64 = mem
        .trim_end_matches('M')
        .parse::<u64>()
        .unwrap_or_else(|_| mem.trim_end_matches('G').parse::<u64>().unwrap() * 1024);
    assert!(
        out.contains(&format!("RAM: {mib} MiB at 0x40000000")),
        "{out}"
    );
    let gic_name = if gic == GicVersion::V3 {
        "GICv3"
    } else {
        "GICv2"
    };
    assert!(out.contains(gic_name), "{out}");
    assert!(
        out.contains(if el2 {
            "entered at EL2"
        } else {
            "entered at EL1"
        }),
        "{out}"
    );
    // The tick runs and the shell answers.
    let up = cmd(&mut g, "uptime");
    assert!(up.starts_with("up "), "{up}");
    g.send(b"poweroff\r").unwrap();
    assert_eq!(g.wait_exit(T).unwrap(), Some(0));
}

#[test]
fn boots_cortex_a53_128m_gicv2_el1() {
    boot_config("cortex-a53", "128M", GicVersion::V2, false);
}

#[test]
fn boots_cortex_a57_4g_gicv3_el2() {
    boot_config("cortex-a57", "4G", GicVersion::V3, true);
}

#[test]
fn boots_cortex_a72_256m_gicv3_el1() {
    boot_config("cortex-a72", "256M", GicVersion::V3, false);
}

#[test]
fn boots_max_1g_gicv2_el2() {
    boot_config("max", "1G", GicVersion::V2, true);
}

#[test]
fn poweroff_exits_with_status_zero() {
    let mut g = boot();
    g.send(b"poweroff\r").unwrap();
    g.expect("Powering off.", T).unwrap();
    assert_eq!(g.wait_exit(T).unwrap(), Some(0));
}

#[test]
fn reboot_comes_back_to_the_prompt() {
    let mut g = boot();
    g.send(b"reboot\r").unwrap();
    g.expect("Rebooting.", T).unwrap();
    g.expect("unikernel 0.1.0", T).unwrap();
    g.expect("\n> ", T).unwrap();
    assert!(cmd(&mut g, "echo again").contains("again"));
}

#[test]
fn bootargs_come_from_the_device_tree_without_warnings() {
    // QEMU always passes a tree; the fallback paths are covered by the in-kernel test
    // `odd_device_trees_fall_back_with_a_warning`.
    let mut q = qemu();
    q.append = Some("hello=world".into());
    let mut g = boot_with(q);
    assert!(!g.output().contains("warning"), "{}", g.output());
    assert!(cmd(&mut g, "version").contains("linux,dummy-virt"));
}

/// The README's boot-by-hand command, exactly as written there, boots to the prompt and
/// powers off (it once lacked `-nic none` and failed on `efi-virtio.rom`).
#[test]
fn the_readmes_boot_by_hand_command_works() {
    use std::io::{Read, Write};
    let root = qemu_harness::workspace_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.starts_with("qemu-system-aarch64 "))
        .expect("a qemu command line in the README");
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut cmd = std::process::Command::new(words[0]);
    cmd.args(&words[1..])
        .current_dir(&root)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    qemu_harness::die_with_parent(&mut cmd);
    let mut child = cmd.spawn().expect("qemu-system-aarch64");
    let mut out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + e2e::T;
    while !String::from_utf8_lossy(&seen).contains("\n> ") {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            panic!(
                "no prompt from `{line}`:\n{}\n{err}",
                String::from_utf8_lossy(&seen)
            );
        }
        if let Ok(b) = rx.recv_timeout(std::time::Duration::from_millis(100)) {
            seen.extend(b);
        }
    }
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"poweroff\r")
        .unwrap();
    let t0 = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > e2e::T {
            let _ = child.kill();
            panic!("poweroff did not end QEMU");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}
