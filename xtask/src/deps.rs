//! Installing what the commands need, or saying exactly what to install.
//!
//! [`PACKAGES`] is the one list of system packages the project uses. Every command asks for
//! the programs it needs by name ([`ensure`]); `cargo xtask test` asks for all of them
//! ([`ensure_all`]). As root, missing packages are installed with one `apt-get` run;
//! otherwise the error names the exact command to run.

use std::process::{Command, Stdio};

/// A program the project runs, the Debian package that provides it, and what for.
pub struct Package {
    /// A program (or absolute file) whose presence proves the package is installed.
    pub program: &'static str,
    /// The Debian package.
    pub package: &'static str,
    /// What the project uses it for.
    pub why: &'static str,
}

/// Every system package the project needs, for every command and test.
pub const PACKAGES: &[Package] = &[
    Package {
        program: "qemu-system-aarch64",
        package: "qemu-system-arm",
        why: "boots the kernel",
    },
    Package {
        program: "aarch64-linux-gnu-ld",
        package: "binutils-aarch64-linux-gnu",
        why: "links and inspects modules; GNU ld is the linker's oracle",
    },
    Package {
        program: "aarch64-linux-gnu-gcc",
        package: "gcc-aarch64-linux-gnu",
        why: "compiles C modules",
    },
    Package {
        program: "clang",
        package: "clang",
        why: "differential linker tests",
    },
    Package {
        program: "ld.lld",
        package: "lld",
        why: "differential linker tests and the link bench",
    },
    Package {
        program: "llvm-addr2line",
        package: "llvm",
        why: "cross-checks the embedded line table",
    },
    Package {
        program: "sb",
        package: "lrzsz",
        why: "YMODEM/XMODEM uploads in the serial tests and benches",
    },
    Package {
        program: "/usr/lib/u-boot/qemu_arm64/u-boot.bin",
        package: "u-boot-qemu",
        why: "the boot and serial benches' peer",
    },
    Package {
        program: "gdb-multiarch",
        package: "gdb-multiarch",
        why: "cargo xtask gdb",
    },
];

fn present(program: &str) -> bool {
    if program.starts_with('/') {
        return std::path::Path::new(program).exists();
    }
    // Found on PATH as an executable file (not every tool answers `--version`).
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

fn have(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Makes sure the Rust target is installed.
pub fn ensure_target() -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match installed {
        Ok(o) if String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == crate::TARGET) => Ok(()),
        Ok(_) => {
            println!("==> installing the Rust target {}", crate::TARGET);
            crate::run(Command::new("rustup").args(["target", "add", crate::TARGET]))
                .map_err(|e| format!("{e}\nInstall it with: rustup target add {}", crate::TARGET))
        }
        Err(_) => Err(format!(
            "rustup not found. Install Rust with rustup (https://rustup.rs), then: rustup target add {}",
            crate::TARGET
        )),
    }
}

/// Makes sure each program in `programs` (a [`Package::program`] of [`PACKAGES`]) is
/// present, installing the missing packages with one apt-get run when root.
pub fn ensure(programs: &[&str]) -> Result<(), String> {
    let mut missing: Vec<&Package> = Vec::new();
    for prog in programs {
        let p = PACKAGES
            .iter()
            .find(|p| p.program == *prog)
            .ok_or_else(|| format!("internal: {prog} is not in xtask's package list"))?;
        if !present(p.program) && !missing.iter().any(|m| m.package == p.package) {
            missing.push(p);
        }
    }
    install(&missing)
}

/// Makes sure every package in [`PACKAGES`] is installed.
pub fn ensure_all() -> Result<(), String> {
    let all: Vec<&str> = PACKAGES.iter().map(|p| p.program).collect();
    ensure(&all)
}

fn install(missing: &[&Package]) -> Result<(), String> {
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing
        .iter()
        .map(|p| p.package)
        .collect::<Vec<_>>()
        .join(" ");
    let why = missing
        .iter()
        .map(|p| format!("  {}: {}", p.package, p.why))
        .collect::<Vec<_>>()
        .join("\n");
    if !is_root() || !have("apt-get", "--version") {
        return Err(format!(
            "missing system packages:\n{why}\nInstall them with: sudo apt-get install {list}"
        ));
    }
    println!("==> installing {list} with apt-get");
    let update = Command::new("apt-get").args(["update", "-qq"]).status();
    if !matches!(update, Ok(s) if s.success()) {
        return Err(format!(
            "apt-get update failed. Install by hand: apt-get install {list}"
        ));
    }
    let mut c = Command::new("apt-get");
    c.args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(missing.iter().map(|p| p.package))
        .env("DEBIAN_FRONTEND", "noninteractive");
    crate::run(&mut c).map_err(|e| format!("{e}\nInstall by hand: apt-get install {list}"))?;
    let still: Vec<&str> = missing
        .iter()
        .filter(|p| !present(p.program))
        .map(|p| p.program)
        .collect();
    if still.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "apt-get installed {list} but {} is still missing",
            still.join(", ")
        ))
    }
}

/// QEMU for AArch64.
pub fn ensure_qemu() -> Result<(), String> {
    ensure(&["qemu-system-aarch64"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_list_is_consistent() {
        for (i, p) in PACKAGES.iter().enumerate() {
            assert!(!p.package.is_empty() && !p.why.is_empty(), "{}", p.program);
            assert!(
                PACKAGES[..i].iter().all(|q| q.program != p.program),
                "{} listed twice",
                p.program
            );
        }
        assert!(ensure(&["no-such-program"]).is_err());
    }
}

#[cfg(test)]
mod front_door {
    use super::PACKAGES;

    fn has(program: &str) -> bool {
        PACKAGES.iter().any(|p| p.program == program)
    }

    /// Every outside program the tests and benches run is in the one list, so `cargo xtask
    /// test` installs it on a fresh machine (lrzsz was missing once, and CI hid it).
    #[test]
    fn every_tool_the_tests_run_is_in_the_list() {
        for p in [
            "qemu-system-aarch64",
            "sb",
            "aarch64-linux-gnu-gcc",
            "aarch64-linux-gnu-ld",
            "ld.lld",
            "clang",
            "llvm-addr2line",
            "gdb-multiarch",
            "/usr/lib/u-boot/qemu_arm64/u-boot.bin",
        ] {
            assert!(has(p), "{p} is not in xtask's package list");
        }
        let root = crate::root();
        for f in ["e2e/tests/serial.rs", "xtask/src/serial_bench.rs"] {
            let text = std::fs::read_to_string(root.join(f)).unwrap();
            if text.contains("\"sb\"") || text.contains("\"sx\"") {
                assert!(has("sb"), "{f} runs lrzsz");
            }
        }
    }

    /// CI runs the front door and nothing else: no set-up of its own that a user's fresh
    /// machine would lack, and no killing of other people's QEMUs.
    #[test]
    fn ci_only_calls_cargo_xtask_test() {
        let ci = std::fs::read_to_string(crate::root().join(".ci/run")).unwrap();
        let commands: Vec<&str> = ci
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        assert!(!ci.contains("pkill") && !ci.contains("killall"), "{ci}");
        assert!(
            !ci.contains("apt-get"),
            "the package list lives in xtask: {ci}"
        );
        assert_eq!(commands.last(), Some(&"exec cargo xtask test"), "{ci}");
    }
}
