//! `cargo xtask`: build, run, test and benchmark the kernel.
//!
//! Every command that needs a tool installs it when it can (`rustup target add`, `apt-get`
//! as root) and otherwise says exactly what to install.
#![forbid(unsafe_code)]

mod bench;
mod deps;
mod gdb;
mod image;
mod layers;
mod lineinfo_bench;
mod lint;
mod modbench;
mod modules;
mod run;
mod serial_bench;
mod sign;
mod sign_bench;
mod test;
mod test_module;

use clap::{Parser, Subcommand, ValueEnum};

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

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
    /// With --gdb: boot at once instead of waiting; attach later with `cargo xtask gdb`
    /// (modules loaded before that are found and their symbols loaded).
    #[arg(long, requires = "gdb")]
    no_wait: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the kernel image into target/kernel.elf (symbol table embedded).
    Build,
    /// Build module folders (anywhere on disk) into target/modules/NAME.ko against
    /// target/kernel.elf; with no folder, rebuild the image with the example modules.
    Modules {
        /// Module folders: a Rust crate depending on `kmod`, or C sources (see sdk/README.md).
        dirs: Vec<PathBuf>,
    },
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
    /// Build module folders and run the tests inside them in QEMU (KTAP on stdout; exit
    /// status 0 only when every test passed).
    TestModule {
        /// Deadline of each call into a module (load, each test, unload), in ms.
        #[arg(long, default_value_t = 2000)]
        timeout: u64,
        /// Module folders (see sdk/README.md).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
    },
    /// Run the benchmarks and print the tables the README reports.
    Bench {
        /// Boots per boot-time measurement.
        #[arg(long, default_value_t = 11)]
        boots: usize,
        /// Run only these parts (boot, kallsyms, lineinfo, modules, signing, serial); default all.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
    /// Check formatting and run clippy (host crates and the kernel target) with warnings denied.
    Lint,
    /// Attach gdb-multiarch to a kernel started with `cargo xtask run --gdb`; module
    /// symbols load automatically on insmod (arguments after `--` go to gdb).
    Gdb {
        /// TCP port of QEMU's gdb server.
        #[arg(long, default_value_t = 1234)]
        port: u16,
        /// Also look for NAME.ko.debug here, before target/modules (repeatable).
        #[arg(long = "module-dir")]
        module_dirs: Vec<PathBuf>,
        /// Further gdb arguments, e.g. `-- -batch -ex 'break f' -ex continue`.
        #[arg(last = true)]
        gdb_args: Vec<String>,
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
pub fn boot_image() -> PathBuf {
    root().join("target/kernel.img")
}

/// The kernel ELF with symbols and DWARF (for gdb and the tools).
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Build => image::build().map(|p| println!("built {}", p.display())),
        Cmd::Modules { dirs } if dirs.is_empty() => image::build().map(|_| ()),
        Cmd::Modules { dirs } => image::modules(&dirs).map(|_| ()),
        Cmd::Run(opts) => run::cmd_run(opts),
        Cmd::Gdb {
            port,
            module_dirs,
            gdb_args,
        } => gdb::cmd_gdb(port, &module_dirs, &gdb_args),
        Cmd::Lint => lint::lint(),
        Cmd::Bench { boots, only } => bench::run(boots, &only),
        Cmd::TestModule { timeout, dirs } => match test_module::run(&dirs, timeout) {
            Ok(true) => return ExitCode::SUCCESS,
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
        Cmd::Keygen { path, name } => sign::cmd_keygen(&path, name.as_deref()),
        Cmd::Sign { key, out, file } => sign::cmd_sign(key.as_deref(), out.as_deref(), &file),
        Cmd::Modlink { args } => run(cargo()
            .args(["run", "--quiet", "--release", "-p", "modlink", "--"])
            .args(args)),
        Cmd::Test {
            no_fuzz,
            fuzz_seconds,
        } => match test::cmd_test(no_fuzz, fuzz_seconds) {
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
