//! The serial shell: a line editor and a command registry.
//!
//! Editing keys: Backspace/DEL erases, Ctrl-U kills the line, Ctrl-C cancels it, Up/Down
//! walk the history. Bytes that are not printable ASCII are ignored, and a line longer than
//! [`MAX_LINE`] rings the bell instead of growing, so pasted or binary input can neither
//! crash nor wedge the shell.

mod bench;
mod builtins;
pub mod crash;
mod modcmds;

use crate::{print, println};
use alloc::string::String;
use alloc::vec::Vec;
use spin::Mutex;

/// Longest accepted command line.
pub const MAX_LINE: usize = 512;
const HISTORY: usize = 32;
/// The prompt.
pub const PROMPT: &str = "> ";

/// A built-in command handler: gets the arguments after the command name.
pub type Handler = fn(args: &[&str]) -> Result<(), String>;

/// Who implements a command.
#[derive(Clone)]
pub enum Action {
    /// Kernel code.
    Builtin(Handler),
    /// A loadable module's C-ABI handler, run under containment.
    Module {
        /// The handler.
        func: crate::kapi::CmdFn,
        /// The module that registered it.
        owner: String,
    },
}

/// A registered command.
#[derive(Clone)]
pub struct Command {
    /// Name typed at the prompt.
    pub name: String,
    /// One-line help.
    pub help: String,
    /// The implementation.
    pub action: Action,
}

static COMMANDS: Mutex<Vec<Command>> = Mutex::new(Vec::new());

/// Why a command could not be registered.
#[derive(Debug, PartialEq, Eq)]
pub enum RegisterError {
    /// The name is already taken.
    Exists,
    /// Empty, too long, or contains whitespace or control characters.
    BadName,
}

impl core::fmt::Display for RegisterError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            RegisterError::Exists => "a command with that name exists",
            RegisterError::BadName => "bad command name",
        })
    }
}

fn add(name: &str, help: &str, action: Action) -> Result<(), RegisterError> {
    if name.is_empty() || name.len() > 32 || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(RegisterError::BadName);
    }
    let mut cmds = COMMANDS.lock();
    if cmds.iter().any(|c| c.name == name) {
        return Err(RegisterError::Exists);
    }
    let help: String = help.chars().filter(|c| !c.is_control()).take(80).collect();
    cmds.push(Command {
        name: name.into(),
        help,
        action,
    });
    cmds.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(())
}

/// Adds a kernel command to the registry.
pub fn register(name: &str, help: &str, handler: Handler) -> Result<(), RegisterError> {
    add(name, help, Action::Builtin(handler))
}

/// Adds a command implemented by module `owner`.
pub fn register_module_command(
    name: &str,
    help: &str,
    func: crate::kapi::CmdFn,
    owner: &str,
) -> Result<(), RegisterError> {
    add(
        name,
        help,
        Action::Module {
            func,
            owner: owner.into(),
        },
    )
}

/// Removes every command module `owner` registered (on unload).
pub fn unregister_owned_by(owner: &str) {
    let mut cmds = COMMANDS.lock();
    cmds.retain(|c| !matches!(&c.action, Action::Module { owner: o, .. } if o == owner));
    cmds.shrink_to_fit();
}

/// Removes a command; returns whether it existed.
pub fn unregister(name: &str) -> bool {
    let mut cmds = COMMANDS.lock();
    let before = cmds.len();
    cmds.retain(|c| c.name != name);
    cmds.shrink_to_fit();
    cmds.len() != before
}

/// A snapshot of the registry.
pub fn commands() -> Vec<Command> {
    COMMANDS.lock().clone()
}

/// Runs one command line. Unknown commands get a clear error.
pub fn dispatch(line: &str) {
    let args: Vec<&str> = line.split_whitespace().collect();
    let Some((&name, rest)) = args.split_first() else {
        return;
    };
    let action = COMMANDS
        .lock()
        .iter()
        .find(|c| c.name == name)
        .map(|c| c.action.clone());
    match action {
        Some(Action::Builtin(h)) => {
            if let Err(e) = h(rest) {
                println!("{name}: {e}");
            }
        }
        Some(Action::Module { func, owner }) => {
            let argv = crate::module::kstrs(rest);
            let mut status = 0;
            let r = crate::module::call_contained(&owner, Vec::new(), || {
                status = func(argv.len(), argv.as_ptr())
            });
            let why = match r {
                Ok(()) if status != 0 => {
                    println!("{name}: failed with status {status}");
                    return;
                }
                Ok(()) => return,
                Err(crate::recovery::Abandoned::Fault { .. }) => "a fault",
                Err(crate::recovery::Abandoned::Panic) => "a panic",
                Err(crate::recovery::Abandoned::Timeout) => "a timeout",
            };
            println!("{name}: abandoned after {why} in module {owner}; module marked as faulted");
        }
        None => println!("{name}: unknown command (type 'help' for the list)"),
    }
}

/// Command history in one fixed allocation, so that typing commands does not change heap
/// usage (`meminfo` baselines stay exact).
struct History {
    lines: alloc::boxed::Box<[[u8; MAX_LINE]; HISTORY]>,
    lens: [usize; HISTORY],
    /// Index of the oldest entry, and the number of entries.
    start: usize,
    len: usize,
}

impl History {
    fn new() -> History {
        History {
            lines: alloc::boxed::Box::new([[0; MAX_LINE]; HISTORY]),
            lens: [0; HISTORY],
            start: 0,
            len: 0,
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entry `i`, oldest first.
    fn get(&self, i: usize) -> Option<&str> {
        if i >= self.len {
            return None;
        }
        let slot = (self.start + i) % HISTORY;
        core::str::from_utf8(&self.lines[slot][..self.lens[slot]]).ok()
    }

    fn back(&self) -> Option<&str> {
        self.len.checked_sub(1).and_then(|i| self.get(i))
    }

    fn push(&mut self, line: &str) {
        let slot = if self.len == HISTORY {
            let s = self.start;
            self.start = (self.start + 1) % HISTORY;
            s
        } else {
            self.len += 1;
            (self.start + self.len - 1) % HISTORY
        };
        let n = line.len().min(MAX_LINE);
        self.lines[slot][..n].copy_from_slice(&line.as_bytes()[..n]);
        self.lens[slot] = n;
    }
}

/// The line editor's state.
pub struct Editor {
    line: String,
    history: History,
    /// Position while browsing history (None: editing a new line).
    browse: Option<usize>,
    escape: u8,
}

/// What a key did.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// Keep reading.
    None,
    /// A complete line.
    Line(String),
}

impl Default for Editor {
    fn default() -> Self {
        Self::new()
    }
}

impl Editor {
    /// An empty editor.
    pub fn new() -> Editor {
        Editor {
            line: String::new(),
            history: History::new(),
            browse: None,
            escape: 0,
        }
    }

    fn replace_line(&mut self, new: String) {
        for _ in 0..self.line.len() {
            print!("\x08 \x08");
        }
        print!("{new}");
        self.line = new;
    }

    /// Feeds one received byte; echoes as a terminal expects.
    pub fn feed(&mut self, b: u8) -> Event {
        // ANSI escape sequences: ESC [ A (up), ESC [ B (down); others are swallowed.
        match (self.escape, b) {
            (0, 0x1b) => {
                self.escape = 1;
                return Event::None;
            }
            (1, b'[') | (1, b'O') => {
                self.escape = 2;
                return Event::None;
            }
            (1, _) => {
                self.escape = 0;
                return Event::None;
            }
            (2, b'0'..=b'9') | (2, b';') => return Event::None,
            (2, code) => {
                self.escape = 0;
                match code {
                    b'A' => self.history_step(true),
                    b'B' => self.history_step(false),
                    _ => {}
                }
                return Event::None;
            }
            _ => {}
        }
        match b {
            b'\r' | b'\n' => {
                println!();
                let line = core::mem::take(&mut self.line);
                self.browse = None;
                if !line.trim().is_empty() && self.history.back() != Some(line.as_str()) {
                    self.history.push(&line);
                }
                Event::Line(line)
            }
            0x7f | 0x08 => {
                if self.line.pop().is_some() {
                    print!("\x08 \x08");
                }
                Event::None
            }
            0x15 => {
                self.replace_line(String::new());
                Event::None
            }
            0x03 => {
                println!("^C");
                self.line.clear();
                self.browse = None;
                print!("{PROMPT}");
                Event::None
            }
            0x20..=0x7e => {
                if self.line.len() >= MAX_LINE {
                    print!("\x07");
                } else {
                    self.line.push(b as char);
                    print!("{}", b as char);
                }
                Event::None
            }
            _ => Event::None,
        }
    }

    fn history_step(&mut self, older: bool) {
        if self.history.is_empty() {
            return;
        }
        let n = self.history.len();
        let next = match (self.browse, older) {
            (None, true) => Some(n - 1),
            (None, false) => None,
            (Some(0), true) => Some(0),
            (Some(i), true) => Some(i - 1),
            (Some(i), false) if i + 1 < n => Some(i + 1),
            (Some(_), false) => None,
        };
        self.browse = next;
        let text = next
            .and_then(|i| self.history.get(i).map(String::from))
            .unwrap_or_default();
        self.replace_line(text);
    }
}

/// The shell loop. Never returns.
pub fn run() -> ! {
    builtins::register_all();
    modcmds::register_all();
    crash::register_all();
    bench::register_all();
    COMMANDS.lock().shrink_to_fit();
    let mut ed = Editor::new();
    print!("{PROMPT}");
    loop {
        let b = crate::console::getc();
        if let Event::Line(line) = ed.feed(b) {
            dispatch(&line);
            print!("{PROMPT}");
        }
    }
}
