//! The serial shell: the line editor ([`klib::editor`]) over the console, and the kernel's
//! command tables; lines are dispatched through the registry in [`crate::cmd`].

mod bench;
mod builtins;
pub mod crash;
mod modcmds;

use crate::cmd::Action;
use crate::{print, println};
use alloc::vec::Vec;

pub use crate::cmd::{register, Handler};
pub use modcmds::read_host;

pub use klib::editor::MAX_LINE;
use klib::editor::{Editor, Event};
/// The prompt.
pub const PROMPT: &str = "> ";

/// Runs one command line. Unknown commands get a clear error.
pub fn dispatch(line: &str) {
    let args: Vec<&str> = line.split_whitespace().collect();
    let Some((&name, rest)) = args.split_first() else {
        return;
    };
    match crate::cmd::find(name) {
        Some(Action::Builtin(h)) => {
            if let Err(e) = h(rest) {
                println!("{name}: {e}");
            }
        }
        Some(Action::Module { func, owner }) => {
            if crate::module::is_faulted(&owner) {
                println!(
                    "{name}: module {owner} has faulted; its commands are disabled (rmmod {owner})"
                );
                return;
            }
            let argv = crate::module::kstrs(rest);
            let mut status = 0;
            let what = alloc::format!("command {name}");
            let r = crate::module::call_contained(&owner, &what, Vec::new(), None, || {
                // SAFETY: a handler the module registered (checked to lie in its text),
                // called contained with argv valid for the call.
                status = unsafe {
                    crate::module::call(
                        func as usize as u64,
                        argv.len() as u64,
                        argv.as_ptr() as u64,
                        0,
                    )
                } as i32
            });
            let why = match r {
                Ok(()) if status != 0 => {
                    println!("{name}: failed with status {status}");
                    return;
                }
                Ok(()) => return,
                Err(crate::fault::recovery::Abandoned::Fault { .. }) => "a fault",
                Err(crate::fault::recovery::Abandoned::Panic) => "a panic",
                Err(crate::fault::recovery::Abandoned::Timeout) => "a timeout",
                Err(crate::fault::recovery::Abandoned::Interrupted) => "Ctrl-C",
            };
            println!("{name}: abandoned after {why} in module {owner}; module marked as faulted");
        }
        None => println!("{name}: unknown command (type 'help' for the list)"),
    }
}

/// The shell loop. Never returns.
pub fn run() -> ! {
    builtins::register_all();
    modcmds::register_all();
    crash::register_all();
    bench::register_all();
    crate::cmd::shrink();
    let mut ed = Editor::new(PROMPT);
    print!("{PROMPT}");
    loop {
        let b = crate::platform::console::getc();
        if let Event::Line(line) = ed.feed(b, &mut crate::platform::console::Writer) {
            dispatch(&line);
            crate::platform::console::fresh_line();
            print!("{PROMPT}");
        }
    }
}
