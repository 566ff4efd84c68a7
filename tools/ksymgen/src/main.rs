//! `ksymgen patch ELF` / `ksymgen stats ELF`.
#![forbid(unsafe_code)]

use std::path::Path;
use std::process::ExitCode;

const USAGE: &str =
    "usage: ksymgen patch ELF   build the symbol table and write it into ELF's .kallsyms
       ksymgen stats ELF   build the table and print its size statistics";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, path) = match args.as_slice() {
        [cmd, path] => (cmd.as_str(), Path::new(path)),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match cmd {
        "patch" => ksymgen::patch_file(path).map(|s| {
            println!(
                "ksymgen: wrote {} bytes ({} symbols, {} line rows) into {}",
                s.table.total_bytes,
                s.table.symbols,
                s.table.line_rows,
                path.display()
            );
        }),
        "stats" => std::fs::read(path)
            .map_err(|err| ksymgen::Error::Io {
                path: path.to_path_buf(),
                err,
            })
            .and_then(|elf| ksymgen::build_table(&elf))
            .map(|(_, s)| print!("{s}")),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ksymgen: error: {e}");
            ExitCode::FAILURE
        }
    }
}
