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
