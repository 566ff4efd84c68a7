//! The command registry: what the shell can run, who implements each command, and
//! owner-checked removal. Below the module manager, which removes a module's commands
//! when it unloads; the shell dispatches.

use alloc::string::String;
use alloc::vec::Vec;
use kabi::ffi::CmdFn;
use spin::Mutex;

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
        func: CmdFn,
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
    /// The module already registered [`MAX_PER_MODULE`] commands.
    TooMany,
}

/// Most commands one module may register (each costs kernel heap).
pub const MAX_PER_MODULE: usize = 64;

impl core::fmt::Display for RegisterError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            RegisterError::Exists => "a command with that name exists",
            RegisterError::BadName => "bad command name",
            RegisterError::TooMany => "the module has registered 64 commands already",
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
    if let Action::Module { owner, .. } = &action {
        let n = cmds
            .iter()
            .filter(|c| matches!(&c.action, Action::Module { owner: o, .. } if o == owner))
            .count();
        if n >= MAX_PER_MODULE {
            return Err(RegisterError::TooMany);
        }
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
    func: CmdFn,
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

/// Why a command could not be removed.
#[derive(Debug, PartialEq, Eq)]
pub enum UnregisterError {
    /// No command has that name.
    NotFound,
    /// The command belongs to the kernel or to another module.
    NotOwner,
}

impl core::fmt::Display for UnregisterError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            UnregisterError::NotFound => "no such command",
            UnregisterError::NotOwner => "the command belongs to someone else",
        })
    }
}

/// Removes command `name` registered by module `owner`. A module may remove only its own
/// commands: never the kernel's, never another module's.
pub fn unregister(name: &str, owner: &str) -> Result<(), UnregisterError> {
    let mut cmds = COMMANDS.lock();
    let i = cmds
        .iter()
        .position(|c| c.name == name)
        .ok_or(UnregisterError::NotFound)?;
    match &cmds[i].action {
        Action::Module { owner: o, .. } if o == owner => {}
        _ => return Err(UnregisterError::NotOwner),
    }
    cmds.remove(i);
    cmds.shrink_to_fit();
    Ok(())
}

/// What `name` runs, if it is registered.
pub fn find(name: &str) -> Option<Action> {
    COMMANDS
        .lock()
        .iter()
        .find(|c| c.name == name)
        .map(|c| c.action.clone())
}

/// Gives back spare capacity (after boot registered the built-ins).
pub fn shrink() {
    COMMANDS.lock().shrink_to_fit();
}

/// A snapshot of the registry.
pub fn commands() -> Vec<Command> {
    COMMANDS.lock().clone()
}

/// After a module call was abandoned (see `module::call_contained`): the command
/// registry lock can then only be held by the abandoned code, which never runs again.
pub fn release_abandoned_lock() {
    if COMMANDS.is_locked() {
        crate::println!("cmd: released the command registry lock held by the abandoned call");
        // SAFETY: one CPU, and callers of module code hold no registry lock, so the holder
        // is the abandoned call.
        unsafe { COMMANDS.force_unlock() };
    }
}
