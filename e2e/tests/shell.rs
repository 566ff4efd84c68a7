//! The shell over the real serial line: commands, editing keys, and hostile input.

use e2e::{boot, cmd, T};

#[test]
fn help_lists_every_builtin() {
    let mut g = boot();
    let out = cmd(&mut g, "help");
    for c in [
        "help", "version", "meminfo", "uptime", "echo", "poweroff", "reboot",
    ] {
        assert!(out.contains(&format!("  {c} ")), "missing {c}: {out}");
    }
}

#[test]
fn version_meminfo_uptime_echo() {
    let mut g = boot();
    assert!(cmd(&mut g, "version").contains("unikernel 0.1.0 (aarch64) on linux,dummy-virt"));
    let m = cmd(&mut g, "meminfo");
    assert!(m.contains("RAM:        262144 KiB at 0x40000000"), "{m}");
    assert!(m.contains("bytes in use"), "{m}");
    let u1 = cmd(&mut g, "uptime");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let u2 = cmd(&mut g, "uptime");
    let secs = |s: &str| {
        s.split_whitespace()
            .nth(1)
            .and_then(|x| x.parse::<f64>().ok())
            .unwrap()
    };
    assert!(secs(&u2) > secs(&u1), "{u1} / {u2}");
    assert_eq!(cmd(&mut g, "echo  hello   world ").trim(), "hello world");
}

#[test]
fn unknown_command_is_a_clear_error() {
    let mut g = boot();
    let out = cmd(&mut g, "frobnicate now");
    assert!(
        out.contains("frobnicate: unknown command (type 'help' for the list)"),
        "{out}"
    );
}

#[test]
fn bad_arguments_are_refused() {
    let mut g = boot();
    let out = cmd(&mut g, "poweroff now");
    assert!(out.contains("poweroff: takes no arguments"), "{out}");
    assert!(cmd(&mut g, "echo still here").contains("still here"));
}

#[test]
fn backspace_ctrl_u_and_ctrl_c_edit_the_line() {
    let mut g = boot();
    // "echp" + backspace + "o hi" -> "echo hi"
    g.send(b"echp\x7fo hi\r").unwrap();
    g.expect("\nhi\r\n> ", T).unwrap();
    // Ctrl-U kills the line.
    g.send(b"garbage\x15echo after-kill\r").unwrap();
    g.expect("\nafter-kill\r\n> ", T).unwrap();
    // Ctrl-C cancels and gives a new prompt; nothing runs.
    g.send(b"echo never\x03").unwrap();
    g.expect("^C\r\n> ", T).unwrap();
    g.send(b"echo fresh\r").unwrap();
    g.expect("\nfresh\r\n> ", T).unwrap();
    assert!(!g.output().contains("\nnever\r\n"));
}

#[test]
fn up_and_down_walk_the_history() {
    let mut g = boot();
    cmd(&mut g, "echo first");
    cmd(&mut g, "echo second");
    // Up twice -> "echo first"; run it.
    g.send(b"\x1b[A\x1b[A\r").unwrap();
    g.expect("\nfirst\r\n> ", T).unwrap();
    // Up, up, down -> "echo first" again is the newest, so up=first, up=second, down=first.
    g.send(b"\x1b[A\x1b[A\x1b[B\r").unwrap();
    g.expect("\nfirst\r\n> ", T).unwrap();
}

#[test]
fn binary_garbage_and_long_lines_do_not_wedge_the_shell() {
    let mut g = boot();
    let mut junk: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .filter(|b| *b != b'\r' && *b != b'\n' && *b != 0x03)
        .collect();
    junk.push(b'\r');
    g.send(&junk).unwrap();
    // A 5000-character line is cut at the limit, not grown.
    let long = "x".repeat(5000);
    g.send(long.as_bytes()).unwrap();
    g.send(b"\r").unwrap();
    // Pasted input: several commands at once.
    g.send(b"echo one\recho two\recho three\r").unwrap();
    g.expect("\nthree\r\n> ", T).unwrap();
    assert!(cmd(&mut g, "echo alive").contains("alive"));
    let m = cmd(&mut g, "meminfo");
    assert!(m.contains("0 dropped"), "{m}");
}
