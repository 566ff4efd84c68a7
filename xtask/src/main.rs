//! `cargo xtask`: build, run, test and benchmark the kernel.
//!
//! Every command that needs a tool installs it when it can (`rustup target add`, `apt-get`
//! as root) and otherwise says exactly what to install.
#![forbid(unsafe_code)]

mod bench;
mod deps;
mod layers;
mod modbench;
mod modules;
mod serial_bench;
mod sign;
mod sign_bench;

use clap::{Parser, Subcommand, ValueEnum};
use qemu_harness::{GicVersion, Qemu, Serial};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// The kernel target.
pub const TARGET: &str = "aarch64-unknown-none-softfloat";

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Build, run, test and benchmark the unikernel"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Gic {
    #[value(name = "2")]
    V2,
    #[value(name = "3")]
    V3,
}

#[derive(clap::Args, Clone)]
struct QemuOpts {
    /// CPU model (cortex-a53, cortex-a57, cortex-a72, max).
    #[arg(long, default_value = "cortex-a72")]
    cpu: String,
    /// RAM size, 128M to 4G.
    #[arg(long, short = 'm', default_value = "256M")]
    memory: String,
    /// GIC version.
    #[arg(long, value_enum, default_value = "2")]
    gic: Gic,
    /// Boot at EL2 (virtualization=on); the kernel drops to EL1.
    #[arg(long)]
    el2: bool,
    /// Kernel command line (e.g. `ktest` to run the in-kernel tests).
    #[arg(long)]
    append: Option<String>,
    /// Wait for gdb on this TCP port (attach with `cargo xtask gdb`).
    #[arg(long, num_args = 0..=1, default_missing_value = "1234")]
    gdb: Option<u16>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the kernel image into target/kernel.elf (symbol table embedded).
    Build,
    /// Build the example modules into target/modules/NAME.ko (needs target/kernel.elf).
    Modules,
    /// Build and boot in QEMU with the serial console on this terminal (Ctrl-A X quits).
    Run(QemuOpts),
    /// Run every test: host unit tests, in-kernel tests in QEMU, end-to-end tests.
    Test {
        /// Skip the bounded fuzzing run.
        #[arg(long)]
        no_fuzz: bool,
        /// Seconds of fuzzing.
        #[arg(long, default_value_t = 30)]
        fuzz_seconds: u32,
    },
    /// Run the benchmarks and print the tables the README reports.
    Bench {
        /// Boots per boot-time measurement.
        #[arg(long, default_value_t = 11)]
        boots: usize,
        /// Run only these parts (boot, kallsyms, modules, signing, serial); default all.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
    /// Check formatting and run clippy (host crates and the kernel target) with warnings denied.
    Lint,
    /// Attach gdb-multiarch to a kernel started with `cargo xtask run --gdb`.
    Gdb {
        /// TCP port of QEMU's gdb server.
        #[arg(long, default_value_t = 1234)]
        port: u16,
    },
    /// Make a new Ed25519 module-signing key at PATH (and its public half PATH.pub).
    Keygen {
        /// Where to write the secret key.
        path: PathBuf,
        /// A name for the key (shown by `modinfo` as the signer).
        #[arg(long)]
        name: Option<String>,
    },
    /// Sign a module built elsewhere (like Linux's scripts/sign-file).
    Sign {
        /// The secret key (default: the build's key, $KMOD_SIGNING_KEY or target/keys/signing.key).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Write the signed module here (default: sign FILE in place).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The module (.ko).
        file: PathBuf,
    },
    /// Dry-run insmod on the host: link a relocatable object (arguments go to `modlink`).
    Modlink {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The bootable image.
pub fn kernel_elf() -> PathBuf {
    root().join("target/kernel.elf")
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// Runs a command, failing with a message naming it.
pub fn run(cmd: &mut Command) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed with {status}"))
    }
}

/// Builds the kernel, then the modules against its export table, embeds the modules and
/// finally the symbol table (whose build ID covers everything else).
pub fn build() -> Result<PathBuf, String> {
    deps::ensure_target()?;
    deps::ensure(&["aarch64-linux-gnu-ld", "aarch64-linux-gnu-gcc"])?;
    run(cargo().args([
        "build",
        "--quiet",
        "-p",
        "kernel",
        "--release",
        "--target",
        TARGET,
    ]))?;
    let built = root().join("target").join(TARGET).join("release/kernel");
    let out = kernel_elf();
    std::fs::copy(&built, &out)
        .map_err(|e| format!("copy {} -> {}: {e}", built.display(), out.display()))?;
    let key = sign::build_key()?;
    let modules = modules::build_modules(&root(), &out, &key)?;
    embed_modules(&out, &modules)?;
    let ring = sign::ring(&key)?;
    let keys = sign::embed_ring(&out, &ring)?;
    println!(
        "    signing: modules signed with {} (key ID {}); image trusts {keys} key(s){}",
        sign::build_key_path().display(),
        key.id(),
        if modloader::signature::KeyRing::parse(&ring).is_ok_and(|r| r.enforce_by_default()) {
            ", refuses unsigned modules (KMOD_SIG_FORCE=1)"
        } else {
            ""
        }
    );
    embed_symbols(&out)?;
    Ok(out)
}

/// Writes the module archive ([`kabi::archive`], read by kernel/src/builtin_modules.rs)
/// into the reserved `.kmodules` section of `elf`, in place.
fn embed_modules(elf: &Path, modules: &[PathBuf]) -> Result<(), String> {
    use object::{Object, ObjectSection};
    let mut files = Vec::new();
    for m in modules {
        let name = m
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| format!("bad module path {}", m.display()))?;
        let bytes = std::fs::read(m).map_err(|e| format!("{}: {e}", m.display()))?;
        files.push((name, bytes));
    }
    let archive = kabi::archive::write(files.iter().map(|(n, b)| (*n, b.as_slice())))
        .map_err(|e| format!("built-in module archive: {e}"))?;
    let mut data = std::fs::read(elf).map_err(|e| format!("{}: {e}", elf.display()))?;
    let (off, size) = {
        let file = object::File::parse(&*data).map_err(|e| format!("{}: {e}", elf.display()))?;
        let sec = file
            .section_by_name(".kmodules")
            .ok_or("kernel image has no .kmodules section")?;
        let (off, size) = sec.file_range().ok_or(".kmodules has no file bytes")?;
        (off as usize, size as usize)
    };
    if archive.len() > size {
        return Err(format!(
            "built-in modules need {} bytes but .kmodules reserves {size}; raise RESERVED in kernel/src/builtin_modules.rs",
            archive.len()
        ));
    }
    data[off..off + archive.len()].copy_from_slice(&archive);
    data[off + archive.len()..off + size].fill(0);
    std::fs::write(elf, data).map_err(|e| format!("{}: {e}", elf.display()))?;
    println!(
        "    modules: {} built in ({} of {size} bytes)",
        modules.len(),
        archive.len()
    );
    Ok(())
}

fn embed_symbols(elf: &Path) -> Result<(), String> {
    let stats = ksymgen::patch_file(elf)
        .map_err(|e| format!("embedding the symbol table into {}: {e}", elf.display()))?;
    println!("    kallsyms: {stats}");
    Ok(())
}

fn qemu_from(opts: &QemuOpts, kernel: PathBuf) -> Qemu {
    let mut q = Qemu::new(kernel);
    q.cpu = opts.cpu.clone();
    q.memory = opts.memory.clone();
    q.gic = match opts.gic {
        Gic::V2 => GicVersion::V2,
        Gic::V3 => GicVersion::V3,
    };
    q.el2 = opts.el2;
    q.append = opts.append.clone();
    q.gdb = opts.gdb;
    q
}

fn cmd_run(opts: QemuOpts) -> Result<(), String> {
    deps::ensure_qemu()?;
    let k = build()?;
    let mut q = qemu_from(&opts, k);
    // QEMU's serial port on a unix socket, bridged to this terminal by the host console
    // (kconsole), which also answers `insmod NAME` from target/modules.
    let sock = root().join("target/console.sock");
    let _ = std::fs::remove_file(&sock);
    q.serial = Serial::UnixSocket(sock.clone());
    if let Some(port) = q.gdb {
        println!("QEMU waits for gdb on port {port}: run `cargo xtask gdb --port {port}` in another terminal.");
    }
    println!(
        "Booting {} (Ctrl-] quits, Ctrl-T uploads a module)",
        q.kernel.display()
    );
    let mut child = q
        .command()
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start qemu-system-aarch64: {e}"))?;
    let r = kconsole::Link::open(
        &kconsole::Endpoint::Unix(sock.clone()),
        Duration::from_secs(10),
    )
    .map_err(|e| format!("cannot connect to QEMU's serial socket: {e}"))
    .and_then(|link| {
        kconsole::attach::run(
            link,
            &kconsole::attach::Settings {
                module_dir: root().join("target/modules"),
                compress: true,
            },
        )
    });
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(&sock);
    r
}

/// `cargo fmt --check`, the kernel's layering rule, and clippy with warnings denied over
/// every crate of the workspace: the host crates (with their tests), and the kernel, its
/// arch and board crates, the SDK and every Rust example module for the kernel target;
/// the C example modules compile with warnings as errors.
fn lint() -> Result<(), String> {
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

fn cmd_gdb(port: u16) -> Result<(), String> {
    deps::ensure(&["gdb-multiarch"])?;
    let k = kernel_elf();
    let status = Command::new("gdb-multiarch")
        .arg(&k)
        .args([
            "-ex",
            "set architecture aarch64",
            "-ex",
            &format!("target remote :{port}"),
        ])
        .status()
        .map_err(|e| format!("cannot start gdb-multiarch: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("gdb exited with {status}"))
}

/// Pass/fail counts.
#[derive(Default, Clone, Copy)]
pub struct Tally {
    passed: u64,
    failed: u64,
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
    for line in out.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with("ktest ") {
            if line.ends_with(" ok") {
                t.passed += 1;
            } else {
                t.failed += 1;
            }
        }
    }
    let summary_ok = out
        .lines()
        .any(|l| l.trim_end_matches('\r') == format!("{} passed, {} failed", t.passed, t.failed));
    match status {
        Ok(Some(code)) if summary_ok && (code == 0) == (t.failed == 0) => {}
        Ok(code) => {
            println!("in-kernel test run ended badly (exit {code:?}, summary seen: {summary_ok})");
            t.failed += 1;
        }
        Err(e) => {
            println!("in-kernel tests did not finish: {e}");
            t.failed += 1;
        }
    }
    t
}

fn cmd_test(no_fuzz: bool, fuzz_seconds: u32) -> Result<Tally, String> {
    deps::ensure_target()?;
    deps::ensure_all()?;
    let started = Instant::now();
    let mut total = Tally::default();
    total.add(run_libtest(
        "host unit and integration tests",
        cargo().args(["test", "--quiet"]),
    ));
    let kernel = match build() {
        Ok(k) => k,
        Err(e) => {
            println!("kernel build failed: {e}");
            total.failed += 1;
            return Ok(total);
        }
    };
    total.add(run_ktests(&kernel));
    println!("==> formatting and clippy (warnings are errors)");
    match lint() {
        Ok(()) => total.passed += 1,
        Err(e) => {
            println!("lint failed: {e}");
            total.failed += 1;
        }
    }
    total.add(run_libtest(
        "end-to-end tests (QEMU over the serial line)",
        cargo()
            .args(["test", "--quiet", "-p", "e2e", "--", "--test-threads=2"])
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Build => build().map(|p| println!("built {}", p.display())),
        Cmd::Modules => build().map(|_| ()),
        Cmd::Run(opts) => cmd_run(opts),
        Cmd::Gdb { port } => cmd_gdb(port),
        Cmd::Lint => lint(),
        Cmd::Bench { boots, only } => bench::run(boots, &only),
        Cmd::Keygen { path, name } => sign::cmd_keygen(&path, name.as_deref()),
        Cmd::Sign { key, out, file } => sign::cmd_sign(key.as_deref(), out.as_deref(), &file),
        Cmd::Modlink { args } => run(cargo()
            .args(["run", "--quiet", "--release", "-p", "modlink", "--"])
            .args(args)),
        Cmd::Test {
            no_fuzz,
            fuzz_seconds,
        } => match cmd_test(no_fuzz, fuzz_seconds) {
            Ok(t) => {
                println!("{} passed, {} failed", t.passed, t.failed);
                return if t.failed == 0 {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                };
            }
            Err(e) => Err(e),
        },
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
