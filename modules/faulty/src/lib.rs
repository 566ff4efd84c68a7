//! `faulty`: commands that fault on purpose, to show the kernel contains module faults.
//!
//! - `faulty`: writes through a NULL pointer (translation fault at address 0);
//! - `faulty_text`: writes to this module's own code (permission fault: text is RX).

#![no_std]

use kmod::prelude::*;

kmod::module! {
    name: "faulty",
    version: "0.1.0",
    license: "MIT",
    author: "The unikernel authors",
    description: "Commands that fault on purpose (NULL write, write to text)",
    init: init,
    exit: exit,
}

#[inline(never)]
fn null_write(_args: &[&str]) -> Result<(), String> {
    println!("faulty: writing to NULL");
    // SAFETY: not safe at all: this is the point. The kernel must contain the fault.
    unsafe { core::ptr::write_volatile(core::ptr::null_mut::<u64>(), 0xdead) };
    println!("faulty: still alive?!");
    Err(String::from("the write to NULL did not fault"))
}

#[inline(never)]
fn text_write(_args: &[&str]) -> Result<(), String> {
    let target = text_write as *const () as *mut u32;
    println!("faulty: writing to my own code at {target:p}");
    // SAFETY: not safe at all: module text is mapped read-only + executable.
    unsafe { core::ptr::write_volatile(target, 0xd420_0000) };
    println!("faulty: still alive?!");
    Err(String::from("the write to text did not fault"))
}

fn init() -> Result<(), i32> {
    kmod::command!(
        "faulty",
        "write through a NULL pointer (module fault)",
        null_write
    )?;
    if let Err(e) = kmod::command!(
        "faulty_text",
        "write to module code (permission fault)",
        text_write
    ) {
        let _ = kmod::unregister_command("faulty");
        return Err(e);
    }
    println!("faulty: commands 'faulty' and 'faulty_text' registered");
    Ok(())
}

fn exit() {
    let _ = kmod::unregister_command("faulty");
    let _ = kmod::unregister_command("faulty_text");
    println!("faulty: bye");
}
