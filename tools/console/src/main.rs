//! `kconsole`: attach a terminal to the unikernel's serial line, or upload a module from a
//! script.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use kconsole::{attach, kx, Endpoint, Link};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "kconsole",
    about = "Serial console and module uploader for the unikernel"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Interactive console (Ctrl-] quits, Ctrl-T uploads a module).
    Attach {
        /// unix:PATH, tcp:HOST:PORT, pty:PATH, serial:DEVICE[@BAUD] or a path.
        endpoint: Endpoint,
        /// Where `insmod NAME` requests are answered from.
        #[arg(long, default_value = "target/modules")]
        modules: PathBuf,
        /// Send uploads uncompressed.
        #[arg(long)]
        no_compress: bool,
    },
    /// Type `insmod`, upload FILE and wait for the result: exit 0 only if it loaded.
    Upload {
        /// unix:PATH, tcp:HOST:PORT, pty:PATH, serial:DEVICE[@BAUD] or a path.
        endpoint: Endpoint,
        /// The module (.ko).
        file: PathBuf,
        /// Module parameters (name=value).
        params: Vec<String>,
        /// Send the stream uncompressed.
        #[arg(long)]
        no_compress: bool,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
}

fn upload(
    endpoint: &Endpoint,
    file: &PathBuf,
    params: &[String],
    compress: bool,
    quiet: bool,
) -> Result<(), String> {
    let data = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut link =
        Link::open(endpoint, Duration::from_secs(5)).map_err(|e| format!("{endpoint}: {e}"))?;
    let pb = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(data.len() as u64)
    };
    let size = data.len() as u64;
    let abort = AtomicBool::new(false);
    let opts = kx::Options {
        compress,
        ..kx::Options::default()
    };
    let r = kx::insmod(
        &mut link,
        &name,
        &data,
        params,
        &opts,
        &abort,
        &mut |d, t| pb.set_position((d * size).checked_div(t).unwrap_or(size)),
    );
    pb.finish_and_clear();
    match r {
        Ok(o) => {
            print!("{}", o.text);
            if let Some((_, msg)) = &o.stats.result {
                println!("{msg}");
            }
            eprintln!(
                "{name}: {} bytes ({} on the wire) in {:.2} s",
                o.stats.size,
                o.stats.stream,
                o.stats.elapsed.as_secs_f64()
            );
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Attach {
            endpoint,
            modules,
            no_compress,
        } => Link::open(&endpoint, Duration::from_secs(5))
            .map_err(|e| format!("{endpoint}: {e}"))
            .and_then(|link| {
                attach::run(
                    link,
                    &attach::Settings {
                        module_dir: modules,
                        compress: !no_compress,
                    },
                )
            }),
        Cmd::Upload {
            endpoint,
            file,
            params,
            no_compress,
            quiet,
        } => upload(&endpoint, &file, &params, !no_compress, quiet),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kconsole: {e}");
            ExitCode::FAILURE
        }
    }
}
