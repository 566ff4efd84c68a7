//! Built-in commands.

use crate::println;
use alloc::format;
use alloc::string::String;

/// Registers the built-in commands.
pub fn register_all() {
    let cmds: [(&str, &str, super::Handler); 7] = [
        ("help", "list commands", help),
        ("version", "kernel version and build", version),
        ("meminfo", "heap and memory layout", meminfo),
        ("uptime", "time since boot", uptime),
        ("echo", "print the arguments", echo),
        ("poweroff", "power off (QEMU exits with status 0)", poweroff),
        ("reboot", "reset the machine", reboot),
    ];
    for (name, help, handler) in cmds {
        let _ = super::register(name, help, handler);
    }
}

fn help(_: &[&str]) -> Result<(), String> {
    for c in crate::cmd::commands() {
        println!("  {:<12} {}", c.name, c.help);
    }
    Ok(())
}

fn version(_: &[&str]) -> Result<(), String> {
    let b = crate::platform::board();
    println!(
        "unikernel {} (aarch64) on {}",
        crate::platform::RELEASE,
        b.model.as_str()
    );
    Ok(())
}

fn meminfo(_: &[&str]) -> Result<(), String> {
    let (user, actual, total) = crate::platform::mem::heap_stats();
    let l = crate::platform::mem::LAYOUT
        .get()
        .copied()
        .unwrap_or_default();
    let (pt_used, pt_total) = crate::platform::mem::table_usage();
    println!("RAM:        {} KiB at {:#x}", l.ram_size >> 10, l.ram_base);
    println!(
        "Heap:       {} KiB total, {} bytes in use ({} bytes with rounding)",
        total >> 10,
        user,
        actual
    );
    println!("Heap area:  {:#x}-{:#x}", l.heap_start, l.heap_end);
    println!("Modules:    {:#x}-{:#x}", l.modules_start, l.modules_end);
    println!("Page tables: {pt_used}/{pt_total} pages");
    let (rx, dropped) = crate::platform::console::rx_stats();
    println!("Serial RX:  {rx} bytes, {dropped} dropped");
    Ok(())
}

fn uptime(_: &[&str]) -> Result<(), String> {
    let us = boards::timer::uptime_us();
    println!(
        "up {}.{:06} s, {} ticks",
        us / 1_000_000,
        us % 1_000_000,
        crate::irq::ticks()
    );
    Ok(())
}

fn echo(args: &[&str]) -> Result<(), String> {
    println!("{}", args.join(" "));
    Ok(())
}

fn poweroff(args: &[&str]) -> Result<(), String> {
    if !args.is_empty() {
        return Err(format!("takes no arguments (got '{}')", args.join(" ")));
    }
    println!("Powering off.");
    crate::platform::poweroff()
}

fn reboot(args: &[&str]) -> Result<(), String> {
    if !args.is_empty() {
        return Err(format!("takes no arguments (got '{}')", args.join(" ")));
    }
    println!("Rebooting.");
    crate::platform::reboot()
}
