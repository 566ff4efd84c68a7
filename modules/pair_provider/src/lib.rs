//! `pair_provider`: exports `pair_add` and `pair_calls` to modules loaded after it.

#![no_std]

use core::sync::atomic::{AtomicU64, Ordering};
use kmod::prelude::*;

kmod::module! {
    name: "pair_provider",
    version: "0.1.0",
    license: "MIT",
    author: "The unikernel authors",
    description: "Exports pair_add and pair_calls",
    init: init,
    exit: exit,
}

static CALLS: AtomicU64 = AtomicU64::new(0);

/// Adds two numbers (wrapping) and counts the call.
#[no_mangle]
pub extern "C" fn pair_add(a: u64, b: u64) -> u64 {
    CALLS.fetch_add(1, Ordering::Relaxed);
    a.wrapping_add(b)
}

/// How many times `pair_add` has been called.
#[no_mangle]
pub extern "C" fn pair_calls() -> u64 {
    CALLS.load(Ordering::Relaxed)
}

kmod::export!(pair_add, pair_calls);

fn init() -> Result<(), i32> {
    println!("pair_provider: exporting pair_add, pair_calls");
    Ok(())
}

fn exit() {
    println!("pair_provider: bye after {} calls", pair_calls());
}
