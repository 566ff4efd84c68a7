//! `cmd_demo`: registers the shell command `greet` while loaded.

#![no_std]

use kmod::prelude::*;

kmod::module! {
    name: "cmd_demo",
    version: "0.1.0",
    license: "MIT",
    author: "The unikernel authors",
    description: "Registers the shell command greet",
    init: init,
    exit: exit,
}

/// `greet [NAME...]`: prints `greet: hello, NAME...` (`world` without arguments).
fn greet(args: &[&str]) -> Result<(), String> {
    let who = if args.is_empty() {
        String::from("world")
    } else {
        args.join(" ")
    };
    println!("greet: hello, {who}");
    Ok(())
}

fn init() -> Result<(), i32> {
    kmod::command!("greet", "say hello (from module cmd_demo)", greet)?;
    println!("cmd_demo: registered command 'greet'");
    Ok(())
}

fn exit() {
    let _ = kmod::unregister_command("greet");
    println!("cmd_demo: unregistered command 'greet'");
}
