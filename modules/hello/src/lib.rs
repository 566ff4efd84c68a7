//! `hello`: prints a greeting `count` times on load and `hello: bye` on unload.
//!
//! `insmod hello greeting=salut count=2` prints `hello: salut (1/2)` and `hello: salut (2/2)`.

#![no_std]

use kmod::prelude::*;

kmod::module! {
    name: "hello",
    version: "0.1.0",
    license: "MIT",
    author: "The unikernel authors",
    description: "Prints a greeting",
    params: {
        /// What to print.
        greeting: str = "Hello",
        /// How many times to print it.
        count: u32 = 1,
    },
    init: init,
    exit: exit,
}

fn init() -> Result<(), i32> {
    let greeting = params::greeting();
    let count = params::count();
    for i in 1..=count {
        println!("hello: {greeting} ({i}/{count})");
    }
    Ok(())
}

fn exit() {
    println!("hello: bye");
}
