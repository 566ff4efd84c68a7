//! Finding modules: a module folder is a Rust crate (`Cargo.toml` with `crate-type =
//! ["staticlib"]`, depending on `kmod`) or a folder of C sources.

#[allow(unused_imports)]
use super::*;

/// How a module is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A Cargo package producing `lib<lib>.a`.
    Rust {
        /// Package name (for `cargo build -p`).
        package: String,
        /// Library crate name (the archive is `lib<lib>.a`).
        lib: String,
    },
    /// C files, compiled separately.
    C {
        /// The `.c` files, sorted.
        files: Vec<PathBuf>,
    },
}

/// A module found under `modules/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleSource {
    /// Module name: the directory name (must match `name=` in `.modinfo`).
    pub name: String,
    /// The directory.
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

/// Every module under `root/modules`, sorted by name.
pub fn discover(root: &Path) -> Result<Vec<ModuleSource>, String> {
    let dir = root.join("modules");
    let entries = fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if !path.is_dir() {
            continue;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{}: directory name is not UTF-8", path.display()))?
            .to_string();
        if name.starts_with('.') {
            continue;
        }
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!(
                "modules/{name}: module names may use only letters, digits, '_' and '-'"
            ));
        }
        let manifest = path.join("Cargo.toml");
        let source = if manifest.exists() {
            let text = fs::read_to_string(&manifest)
                .map_err(|e| format!("{}: {e}", manifest.display()))?;
            let (package, lib, staticlib) = manifest_names(&text);
            let package =
                package.ok_or_else(|| format!("{}: no [package] name", manifest.display()))?;
            if !staticlib {
                return Err(format!(
                    "{}: a module crate needs `[lib] crate-type = [\"staticlib\"]`",
                    manifest.display()
                ));
            }
            let lib = lib.unwrap_or_else(|| package.replace('-', "_"));
            Source::Rust { package, lib }
        } else {
            let mut files: Vec<PathBuf> = fs::read_dir(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "c"))
                .collect();
            if files.is_empty() {
                continue; // not a module directory
            }
            files.sort();
            Source::C { files }
        };
        out.push(ModuleSource {
            name,
            dir: path,
            source,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
