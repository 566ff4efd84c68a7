//! Finding modules. A module folder is a Rust crate (`Cargo.toml` with `crate-type =
//! ["staticlib"]`, depending on `kmod`) or a folder of C sources, anywhere on disk, with an
//! optional manifest `kmod.toml`:
//!
//! ```toml
//! name = "nc_app"                  # module name (default: the folder name, '-' -> '_')
//! sources = ["app.c", "util.c"]    # C: the files to compile (default: every *.c)
//! cflags = ["-fPIC", "-DDEBUG=1"]  # C: extra compiler flags, after the SDK's
//! ```

#[allow(unused_imports)]
use super::*;

/// The project's own example modules, listed in `modules/EXAMPLES` (one name per line,
/// `#` comments): what `cargo xtask build` builds into the image and what the tests use,
/// by name. Other folders under `modules/` are built only when named.
pub fn examples(root: &Path) -> Result<Vec<String>, String> {
    let p = root.join("modules/EXAMPLES");
    let text = fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

/// The manifest file of a module folder.
pub const MANIFEST: &str = "kmod.toml";

/// What `kmod.toml` may say.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Module name.
    pub name: Option<String>,
    /// C sources, relative to the folder.
    pub sources: Option<Vec<String>>,
    /// Extra C compiler flags.
    #[serde(default)]
    pub cflags: Vec<String>,
}

/// How a module is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A Cargo package producing `lib<lib>.a`.
    Rust {
        /// Package name (for `cargo build -p`).
        package: String,
        /// Library crate name (the archive is `lib<lib>.a`).
        lib: String,
        /// Its manifest, when it is not a member of this workspace (built on its own).
        manifest: Option<PathBuf>,
    },
    /// C files, compiled separately.
    C {
        /// The `.c` files, in order.
        files: Vec<PathBuf>,
        /// Extra flags from `kmod.toml`.
        cflags: Vec<String>,
    },
}

/// A module folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleSource {
    /// Module name (must match `name=` in `.modinfo`).
    pub name: String,
    /// The folder.
    pub dir: PathBuf,
    /// Rust or C.
    pub source: Source,
}

/// `(package name, lib name, crate-type mentions staticlib)` from a Cargo manifest.
pub(super) fn manifest_names(manifest: &str) -> (Option<String>, Option<String>, bool) {
    let (mut section, mut package, mut lib, mut staticlib) = (String::new(), None, None, false);
    for line in manifest.lines() {
        let l = line.split('#').next().unwrap_or("").trim();
        if l.starts_with('[') {
            section = l.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            continue;
        }
        let Some((key, value)) = l.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        let unquoted = value.trim_matches('"').to_string();
        match (section.as_str(), key) {
            ("package", "name") => package = Some(unquoted),
            ("lib", "name") => lib = Some(unquoted),
            ("lib", "crate-type") => staticlib = value.contains("\"staticlib\""),
            _ => {}
        }
    }
    (package, lib, staticlib)
}

/// The example modules under `root/modules` ([`EXAMPLES`]), sorted by name.
pub fn discover(root: &Path) -> Result<Vec<ModuleSource>, String> {
    let mut out = Vec::new();
    for name in examples(root)? {
        let dir = root.join("modules").join(&name);
        let m = discover_dir(&dir, root)?
            .ok_or_else(|| format!("{}: the example module is missing", dir.display()))?;
        out.push(m);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Whether `dir` is a package this workspace builds (one of the examples).
fn is_workspace_member(dir: &Path, root: &Path) -> bool {
    let (Ok(d), Ok(m)) = (dir.canonicalize(), root.join("modules").canonicalize()) else {
        return false;
    };
    let examples = examples(root).unwrap_or_default();
    d.parent() == Some(m.as_path())
        && d.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| examples.iter().any(|e| e == n))
}

/// The module in folder `dir` (anywhere on disk), or `None` if it holds neither a
/// `Cargo.toml` nor C sources.
pub fn discover_dir(dir: &Path, root: &Path) -> Result<Option<ModuleSource>, String> {
    if !dir.is_dir() {
        return Err(format!("{}: not a directory", dir.display()));
    }
    let manifest_path = dir.join(MANIFEST);
    let manifest: Manifest = if manifest_path.exists() {
        let text = fs::read_to_string(&manifest_path)
            .map_err(|e| format!("{}: {e}", manifest_path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", manifest_path.display()))?
    } else {
        Manifest::default()
    };
    let folder = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().and_then(|n| n.to_str()).map(String::from))
        .ok_or_else(|| format!("{}: folder name is not UTF-8", dir.display()))?;
    let name = manifest
        .name
        .clone()
        .unwrap_or_else(|| folder.replace('-', "_"));
    if name.is_empty()
        || name.len() > 55
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(format!(
            "{}: module name '{name}': use at most 55 letters, digits and '_' (set `name` in {MANIFEST})",
            dir.display()
        ));
    }
    let cargo_toml = dir.join("Cargo.toml");
    let source = if cargo_toml.exists() {
        if manifest.sources.is_some() || !manifest.cflags.is_empty() {
            return Err(format!(
                "{}: `sources` and `cflags` are for C modules; a Rust module's settings live in its Cargo.toml",
                manifest_path.display()
            ));
        }
        let text = fs::read_to_string(&cargo_toml)
            .map_err(|e| format!("{}: {e}", cargo_toml.display()))?;
        let (package, lib, staticlib) = manifest_names(&text);
        let package =
            package.ok_or_else(|| format!("{}: no [package] name", cargo_toml.display()))?;
        if !staticlib {
            return Err(format!(
                "{}: a module crate needs `[lib] crate-type = [\"staticlib\"]`",
                cargo_toml.display()
            ));
        }
        let lib = lib.unwrap_or_else(|| package.replace('-', "_"));
        let manifest = (!is_workspace_member(dir, root)).then_some(cargo_toml);
        Source::Rust {
            package,
            lib,
            manifest,
        }
    } else {
        let files: Vec<PathBuf> = match &manifest.sources {
            Some(list) => {
                let mut v = Vec::new();
                for f in list {
                    let p = dir.join(f);
                    if !p.is_file() {
                        return Err(format!(
                            "{}: source {f} does not exist",
                            manifest_path.display()
                        ));
                    }
                    v.push(p);
                }
                v
            }
            None => {
                let mut v: Vec<PathBuf> = fs::read_dir(dir)
                    .map_err(|e| format!("{}: {e}", dir.display()))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "c"))
                    .collect();
                v.sort();
                v
            }
        };
        if files.is_empty() {
            return Ok(None);
        }
        Source::C {
            files,
            cflags: manifest.cflags,
        }
    };
    Ok(Some(ModuleSource {
        name,
        dir: dir.to_path_buf(),
        source,
    }))
}
