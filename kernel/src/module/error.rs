//! Why a module did not load or unload.

use super::signing::Refused;
use alloc::string::String;
use alloc::vec::Vec;
use arch::mmu::MapError;
use core::fmt;
use klib::escape::Escaped;

/// A bad `param=value` argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamError {
    /// Not `param=value`.
    NotAssignment(String),
    /// The module declares no such parameter.
    Unknown {
        /// The name given.
        param: String,
        /// What the module declares.
        known: Vec<String>,
    },
    /// The value does not parse as the declared type.
    BadValue {
        /// The parameter.
        param: String,
        /// The value given.
        value: String,
        /// The declared type.
        ty: String,
    },
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamError::NotAssignment(a) => write!(f, "bad argument '{a}' (expected param=value)"),
            ParamError::Unknown { param, known } => write!(
                f,
                "unknown parameter '{param}' (parameters: {})",
                if known.is_empty() {
                    "none".into()
                } else {
                    alloc::format!("{}", Escaped(&known.join(", ")))
                }
            ),
            ParamError::BadValue { param, value, ty } => {
                write!(f, "parameter '{param}': '{value}' is not a valid {ty}")
            }
        }
    }
}

/// How a module's init ended badly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitFailure {
    /// A fault in module code.
    Fault,
    /// A panic raised by the module.
    Panic,
    /// The call ran past its deadline.
    Timeout,
    /// Ctrl-C on the console abandoned it.
    Interrupted,
    /// `init_module` returned non-zero.
    Status(i32),
}

impl fmt::Display for InitFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitFailure::Fault => f.write_str("init faulted"),
            InitFailure::Panic => f.write_str("init panicked"),
            InitFailure::Timeout => f.write_str("init timed out"),
            InitFailure::Interrupted => f.write_str("init interrupted by Ctrl-C"),
            InitFailure::Status(s) => write!(f, "init failed with {s}"),
        }
    }
}

/// Why insmod failed. Every variant leaves nothing behind.
#[derive(Debug)]
pub enum LoadError {
    /// The signature check refused the file.
    Refused(Refused),
    /// Not a module the linker accepts.
    Invalid(modloader::Error),
    /// `.modinfo` has no `name=`.
    NoName,
    /// The name is not 1 to 55 characters of `[A-Za-z0-9_]`.
    BadName(String),
    /// A module of that name is loaded.
    AlreadyLoaded(String),
    /// Built for another kernel.
    AbiMismatch {
        /// The module.
        name: String,
        /// `(module's, kernel's)` release, when they differ.
        release: Option<(String, &'static str)>,
        /// `(module's, kernel's)` ABI hash, when they differ.
        abi: Option<(String, String)>,
    },
    /// No `vermagic`/`abi` in `.modinfo`.
    NoAbi(String),
    /// Modules named in `depends` are not loaded.
    MissingDependency {
        /// The module.
        name: String,
        /// What is missing.
        missing: Vec<String>,
    },
    /// A bad parameter.
    Param(String, ParamError),
    /// An export that already exists.
    ExportClash {
        /// The module.
        name: String,
        /// The symbol.
        export: String,
        /// Who exports it (`None`: the kernel).
        owner: Option<String>,
    },
    /// Layout planning failed.
    Plan(String, modloader::Error),
    /// No room in the module area.
    AreaFull {
        /// The module.
        name: String,
        /// KiB needed.
        kib: u64,
    },
    /// Mapping or protecting its pages failed.
    Memory(String, MapError),
    /// Symbol resolution or relocation failed.
    Link(String, modloader::Error),
    /// Init failed; the module was unloaded.
    Init {
        /// The module.
        name: String,
        /// How.
        why: InitFailure,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Refused(r) => write!(f, "module refused: {r}"),
            LoadError::Invalid(e) => write!(f, "invalid module: {e}"),
            LoadError::NoName => f.write_str("invalid module: no name in .modinfo"),
            LoadError::BadName(n) => write!(
                f,
                "invalid module name \"{}\" ({} bytes): a name is 1 to {} characters of A-Z a-z 0-9 _",
                Escaped(n.char_indices().nth(80).map_or(n.as_str(), |(i, _)| &n[..i])),
                n.len(),
                klib::escape::MAX_NAME
            ),
            LoadError::AlreadyLoaded(n) => write!(f, "{n}: already loaded (rmmod it first)"),
            LoadError::AbiMismatch { name, release, abi } => {
                write!(f, "{name}: ABI mismatch: ")?;
                if let Some((m, k)) = release {
                    write!(f, "release {} vs kernel {k}", Escaped(m))?;
                    if abi.is_some() {
                        f.write_str(", ")?;
                    }
                }
                if let Some((m, k)) = abi {
                    write!(
                        f,
                        "export ABI {} vs kernel {k} (export signatures differ)",
                        Escaped(m)
                    )?;
                }
                f.write_str("; rebuild the module with `cargo xtask modules`")
            }
            LoadError::NoAbi(n) => write!(
                f,
                "{n}: no ABI version (vermagic/abi) in .modinfo; build it with the module SDK"
            ),
            LoadError::MissingDependency { name, missing } => write!(
                f,
                "{name}: missing dependency: {} (load it first)",
                Escaped(&missing.join(", "))
            ),
            LoadError::Param(n, e) => write!(f, "{n}: {e}"),
            LoadError::ExportClash {
                name,
                export,
                owner: None,
            } => write!(f, "{name}: export '{export}' clashes with a kernel export"),
            LoadError::ExportClash {
                name,
                export,
                owner: Some(o),
            } => write!(
                f,
                "{name}: export '{export}' is already exported by module {o}"
            ),
            LoadError::Plan(n, e) | LoadError::Link(n, e) => write!(f, "{n}: {e}"),
            LoadError::AreaFull { name, kib } => {
                write!(f, "{name}: module area full ({kib} KiB needed)")
            }
            LoadError::Memory(n, e) => write!(f, "{n}: cannot map module memory: {e}"),
            LoadError::Init { name, why } => write!(f, "{name}: {why}; module unloaded"),
        }
    }
}

/// Why rmmod refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnloadError {
    /// No such module.
    NotLoaded(String),
    /// Other modules use it.
    InUse {
        /// The module.
        name: String,
        /// Its users.
        users: Vec<String>,
    },
}

impl fmt::Display for UnloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnloadError::NotLoaded(n) => write!(f, "{n}: not loaded"),
            UnloadError::InUse { name, users } => {
                write!(f, "{name}: in use by {}", users.join(", "))
            }
        }
    }
}
