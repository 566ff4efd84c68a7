//! `pair_user`: calls `pair_provider`'s `pair_add` (so `depends=pair_provider`).

#![no_std]

use kmod::prelude::*;

kmod::module! {
    name: "pair_user",
    version: "0.1.0",
    license: "MIT",
    author: "The unikernel authors",
    description: "Uses pair_provider's exports",
    depends: ["pair_provider"],
    init: init,
    exit: exit,
}

// Resolved against pair_provider's `.modexports` when the kernel links this module.
extern "C" {
    fn pair_add(a: u64, b: u64) -> u64;
    fn pair_calls() -> u64;
}

fn init() -> Result<(), i32> {
    // SAFETY: pair_provider is loaded (declared dependency) and exports these functions.
    let (sum, calls) = unsafe { (pair_add(2, 40), pair_calls()) };
    println!("pair_user: 2 + 40 = {sum}");
    println!("pair_user: pair_add called {calls} time(s) so far");
    if sum == 42 {
        Ok(())
    } else {
        Err(kmod::EIO)
    }
}

fn exit() {
    println!("pair_user: bye");
}
