//! `cargo xtask test`: every test, ending with `N passed, N failed`.

use crate::{cargo, root, run};
use qemu_harness::Qemu;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Pass/fail counts.
#[derive(Default, Clone, Copy)]
pub struct Tally {
    /// Tests that passed.
    pub passed: u64,
    /// Tests that failed.
    pub failed: u64,
}

impl Tally {
    fn add(&mut self, o: Tally) {
        self.passed += o.passed;
        self.failed += o.failed;
    }
}

/// Runs `cmd`, echoing its output, and adds up libtest's `test result:` lines.
fn run_libtest(step: &str, cmd: &mut Command) -> Tally {
    println!("==> {step}");
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut t = Tally::default();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            println!("cannot run {step}: {e}");
            return Tally {
                passed: 0,
                failed: 1,
            };
        }
    };
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                let num = |key: &str| -> u64 {
                    rest.split(';')
                        .find_map(|p| {
                            p.trim()
                                .strip_suffix(key)
                                .and_then(|n| n.split_whitespace().last()?.parse().ok())
                        })
                        .unwrap_or(0)
                };
                t.passed += num("passed");
                t.failed += num("failed");
            }
        }
    }
    let ok = child.wait().map(|s| s.success()).unwrap_or(false);
    if !ok && t.failed == 0 {
        println!("{step}: failed to build or run");
        t.failed += 1;
    }
    t
}

/// Boots the image with `-append ktest` and counts the in-kernel test results.
fn run_ktests(kernel: &Path) -> Tally {
    println!("==> in-kernel tests (QEMU, semihosting)");
    let mut q = Qemu::new(kernel);
    q.append = Some("ktest".into());
    let mut g = match q.spawn() {
        Ok(g) => g,
        Err(e) => {
            println!("cannot start QEMU: {e}");
            return Tally {
                passed: 0,
                failed: 1,
            };
        }
    };
    let deadline = Duration::from_secs(300);
    let status = g.wait_exit(deadline);
    let out = g.output();
    print!("{}", out.replace('\r', ""));
    let mut t = Tally::default();
    let doc = match qemu_harness::ktap::parse(&out) {
        Ok(d) => d,
        Err(e) => {
            println!("in-kernel tests: the output is not valid KTAP: {e}");
            t.failed += 1;
            return t;
        }
    };
    for (_, test) in doc.leaves() {
        if test.ok {
            t.passed += 1;
        } else {
            t.failed += 1;
        }
    }
    if doc.tests.is_empty() {
        println!("in-kernel tests: none ran");
        t.failed += 1;
    }
    match status {
        Ok(Some(code)) if (code == 0) == doc.passed() => {}
        Ok(code) => {
            println!(
                "in-kernel test run ended badly (exit {code:?}, KTAP says passed: {})",
                doc.passed()
            );
            t.failed += 1;
        }
        Err(e) => {
            println!("in-kernel tests did not finish: {e}");
            t.failed += 1;
        }
    }
    t
}

pub fn cmd_test(no_fuzz: bool, fuzz_seconds: u32) -> Result<Tally, String> {
    crate::deps::ensure_target()?;
    crate::deps::ensure_all()?;
    let started = Instant::now();
    let mut total = Tally::default();
    total.add(run_libtest(
        "host unit and integration tests",
        cargo().args(["test", "--quiet", "--no-fail-fast"]),
    ));
    let kernel = match crate::image::build() {
        Ok(k) => k,
        Err(e) => {
            println!("kernel build failed: {e}");
            total.failed += 1;
            return Ok(total);
        }
    };
    total.add(run_ktests(&crate::boot_image()));
    println!("==> formatting and clippy (warnings are errors)");
    match crate::lint::lint() {
        Ok(()) => total.passed += 1,
        Err(e) => {
            println!("lint failed: {e}");
            total.failed += 1;
        }
    }
    total.add(run_libtest(
        "end-to-end tests (QEMU over the serial line)",
        cargo()
            .args([
                "test",
                "--quiet",
                "--no-fail-fast",
                "-p",
                "e2e",
                "--",
                "--test-threads=2",
            ])
            .env("KERNEL_ELF", &kernel),
    ));
    if !no_fuzz {
        let script = root().join("modloader/fuzz/run.sh");
        let nightly = Command::new("cargo")
            .args(["+nightly", "--version"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !nightly {
            println!("==> fuzzing skipped: no nightly toolchain (install it with: rustup toolchain install nightly)");
        } else if script.exists() {
            println!("==> fuzzing the module linker for {fuzz_seconds} s");
            match run(Command::new("bash")
                .arg(&script)
                .arg(fuzz_seconds.to_string()))
            {
                Ok(()) => total.passed += 1,
                Err(e) => {
                    println!("fuzzing failed: {e}");
                    total.failed += 1;
                }
            }
        }
    }
    println!("(tests took {:.0} s)", started.elapsed().as_secs_f64());
    Ok(total)
}
