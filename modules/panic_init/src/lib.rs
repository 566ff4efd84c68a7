//! `panic_init`: panics in init; the kernel must print an oops and refuse the load.

#![no_std]

kmod::module! {
    name: "panic_init",
    version: "0.1.0",
    license: "MIT",
    author: "The unikernel authors",
    description: "Panics in init",
    init: init,
}

fn init() -> Result<(), i32> {
    panic!("panic_init: deliberate panic in init");
}
