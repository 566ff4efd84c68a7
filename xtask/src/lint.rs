//! `cargo xtask lint`: formatting, the kernel's layers, clippy everywhere.

use crate::{cargo, layers, modules, root, run, TARGET};

/// `cargo fmt --check`, the kernel's layering rule, and clippy with warnings denied over
/// every crate of the workspace: the host crates (with their tests), and the kernel, its
/// arch and board crates, the SDK and every Rust example module for the kernel target;
/// the C example modules compile with warnings as errors.
pub fn lint() -> Result<(), String> {
    run(cargo().args(["fmt", "--all", "--", "--check"]))
        .map_err(|e| format!("{e}: run `cargo fmt --all`"))?;
    layers::check(&root())?;
    let sources = modules::discover(&root())?;
    let rust_modules: Vec<&str> = sources
        .iter()
        .filter_map(|m| match &m.source {
            modules::Source::Rust { package, .. } => Some(package.as_str()),
            _ => None,
        })
        .collect();
    let target_only = ["kernel", "arch", "boards"];
    let mut host = cargo();
    host.args(["clippy", "--quiet", "--workspace", "--all-targets"]);
    for p in target_only.iter().chain(&rust_modules) {
        host.args(["--exclude", p]);
    }
    run(host.args(["--", "-D", "warnings"]))?;
    let mut target = cargo();
    target.args(["clippy", "--quiet", "--release", "--target", TARGET]);
    for p in target_only.iter().chain(&["kmod"]).chain(&rust_modules) {
        target.args(["-p", p]);
    }
    // Module crates read the ABI they are built against from the environment.
    target
        .env("KMOD_ABI", "0000000000000000")
        .env("KMOD_RELEASE", modules::RELEASE);
    run(target.args(["--", "-D", "warnings"]))?;
    modules::lint_c(&root(), &sources)
}
