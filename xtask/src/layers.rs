//! The kernel's layering rule, checked by `cargo xtask lint`: each top-level part of
//! `kernel/src` may use only the parts below it in [`LAYERS`], so there is no import
//! circle except between a folder's `mod.rs` and its own children.

use std::path::Path;

/// Lowest first. A file belongs to the part named by its first path component under
/// `kernel/src` (a folder, or a top-level file's stem).
pub const LAYERS: &[&str] = &[
    "platform", "irq", "fault", "cmd", "module", "kapi", "transfer", "shell", "boot", "ktest",
    "main",
];

/// Crate-root macros and the part that defines them.
const MACROS: &[(&str, &str)] = &[
    ("print", "platform"),
    ("println", "platform"),
    ("kexport", "platform"),
    ("ktest", "ktest"),
];

/// One use of a higher layer.
#[derive(Debug, PartialEq, Eq)]
pub struct Violation {
    /// File, relative to `kernel/src`.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// The file's part.
    pub from: String,
    /// The part it uses.
    pub to: String,
}

fn rank(part: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == part)
}

fn part_of(name: &str) -> Option<&'static str> {
    if let Some(p) = LAYERS.iter().find(|l| **l == name) {
        return Some(p);
    }
    MACROS.iter().find(|(m, _)| *m == name).map(|(_, p)| *p)
}

/// The crate-root names `crate::NAME` or `crate::{A, B::..}` refer to on one line.
fn crate_refs(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        // `$crate::` is a macro's own path, resolved where the macro is defined.
        let is_dollar = i > 0 && rest.as_bytes()[i - 1] == b'$';
        let after = &rest[i + "crate::".len()..];
        if !is_dollar {
            if let Some(group) = after.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        out.push(name);
                    }
                }
            } else {
                let name: String = after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push(name);
                }
            }
        }
        rest = after;
    }
    out
}

/// Checks one file's text; `file` is its path under `kernel/src`.
pub fn check_file(file: &str, text: &str) -> Result<Vec<Violation>, String> {
    let first = file.split('/').next().unwrap_or(file);
    let from = first.strip_suffix(".rs").unwrap_or(first);
    let from_rank = rank(from).ok_or_else(|| {
        format!(
            "kernel/src/{file}: part '{from}' is not in xtask's layer list (xtask/src/layers.rs)"
        )
    })?;
    let mut v = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for name in crate_refs(code) {
            let Some(to) = part_of(&name) else { continue };
            let to_rank = rank(to).unwrap_or(0);
            if to_rank > from_rank {
                v.push(Violation {
                    file: file.into(),
                    line: i + 1,
                    from: from.into(),
                    to: to.into(),
                });
            }
        }
    }
    Ok(v)
}

fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, String)>) -> Result<(), String> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, base, out)?;
        } else if p.extension().is_some_and(|x| x == "rs") {
            let rel = p
                .strip_prefix(base)
                .map_err(|e| e.to_string())?
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            out.push((rel, text));
        }
    }
    Ok(())
}

/// Checks every file of `kernel/src` under `root`.
pub fn check(root: &Path) -> Result<(), String> {
    let src = root.join("kernel/src");
    let mut files = Vec::new();
    walk(&src, &src, &mut files)?;
    let mut all = Vec::new();
    for (file, text) in &files {
        all.extend(check_file(file, text)?);
    }
    if all.is_empty() {
        println!(
            "==> kernel layers: {} files, no upward imports ({})",
            files.len(),
            LAYERS.join(" < ")
        );
        return Ok(());
    }
    let list: Vec<String> = all
        .iter()
        .map(|v| {
            format!(
                "  kernel/src/{}:{}: {} uses {}",
                v.file, v.line, v.from, v.to
            )
        })
        .collect();
    Err(format!(
        "kernel layering broken: a part may use only the parts below it ({}):\n{}",
        LAYERS.join(" < "),
        list.join("\n")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_upward_uses_and_ignores_comments_and_macros() {
        let text = "use crate::{print, println};\nuse crate::module::State; // crate::shell\n\
                    fn f() { $crate::shell::x(); }\n// crate::shell::y\ncrate::irq::ticks();\n";
        let v = check_file("fault/trap.rs", text).unwrap();
        assert_eq!(
            v,
            [Violation {
                file: "fault/trap.rs".into(),
                line: 2,
                from: "fault".into(),
                to: "module".into()
            }]
        );
        assert!(check_file("shell/mod.rs", text).unwrap().is_empty());
        assert!(check_file("nowhere.rs", "").is_err());
    }

    #[test]
    fn the_kernel_keeps_its_layers() {
        check(&crate::root()).unwrap();
    }
}
