//! `deep_rust`: the command `deep_rust` faults two calls deep (`command` -> `outer` ->
//! `inner`, which writes through NULL in an inlined helper), so a report shows every
//! module frame with its own line and the inlined helper. The end-to-end tests find the
//! lines by the `LINE:` markers: keep each on the statement it names.

#![no_std]

use kmod::prelude::*;

kmod::module! {
    name: "deep_rust",
    version: "0.1.0",
    license: "MIT",
    author: "The unikernel authors",
    description: "A command that faults two calls deep (line-table example)",
    init: init,
    exit: exit,
}

#[inline(always)]
fn store(p: *mut u64, v: u64) {
    // SAFETY: not safe at all: `p` is NULL, and the fault is the point.
    unsafe { core::ptr::write_volatile(p, v) }; // LINE: store
}

#[inline(never)]
fn inner(v: u64) -> u64 {
    println!("deep_rust: writing {v} through NULL");
    store(core::hint::black_box(core::ptr::null_mut()), v + 1); // LINE: inner
    v
}

#[inline(never)]
fn outer(v: u64) -> u64 {
    let r = inner(core::hint::black_box(v * 2)); // LINE: outer
    r + 1
}

fn command(args: &[&str]) -> Result<(), String> {
    let r = outer(args.len() as u64); // LINE: command
    Err(format!("deep_rust: still alive ({r})?!"))
}

fn init() -> Result<(), i32> {
    kmod::command!("deep_rust", "fault two calls deep (Rust)", command)?;
    Ok(())
}

fn exit() {
    let _ = kmod::unregister_command("deep_rust");
}
