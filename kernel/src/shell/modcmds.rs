//! Module commands: insmod, rmmod, lsmod, modinfo, kexports.

use crate::println;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Registers the module commands.
pub fn register_all() {
    let cmds: [(&str, &str, super::Handler); 6] = [
        (
            "insmod",
            "insmod [host:PATH|NAME] [param=value ...]: load a module (no source: upload it)",
            insmod,
        ),
        ("rmmod", "rmmod NAME: unload a module", rmmod),
        (
            "rxbench",
            "rxbench [BYTES]: count raw serial input (receive ceiling)",
            crate::transfer::rxbench,
        ),
        ("lsmod", "list loaded modules", lsmod),
        ("modinfo", "modinfo NAME: module metadata", modinfo),
        (
            "kexports",
            "list the kernel's exported symbols and ABI version",
            kexports,
        ),
    ];
    for (name, help, handler) in cmds {
        let _ = super::register(name, help, handler);
    }
}

/// Largest module accepted from any source.
pub const MAX_MODULE: usize = 16 << 20;

pub fn read_host(path: &str) -> Result<Vec<u8>, String> {
    let mut f = boards::semihosting::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let len = f.len().map_err(|e| format!("{path}: {e}"))? as usize;
    if len > MAX_MODULE {
        return Err(format!(
            "{path}: {len} bytes is larger than the {MAX_MODULE}-byte limit"
        ));
    }
    let mut buf = alloc::vec![0u8; len];
    let mut got = 0;
    while got < len {
        let n = f
            .read(&mut buf[got..])
            .map_err(|e| format!("{path}: {e}"))?;
        if n == 0 {
            return Err(format!(
                "{path}: file shrank while reading ({got} of {len} bytes)"
            ));
        }
        got += n;
    }
    Ok(buf)
}

fn insmod(args: &[&str]) -> Result<(), String> {
    // No source (nothing, or only parameters): wait for an upload over the serial line.
    let (source, params) = match args.split_first() {
        Some((&s, rest)) if !s.contains('=') => (Some(s), rest),
        _ => (None, args),
    };
    let bytes: Vec<u8> = match source {
        None => upload(None)?,
        Some(source) => {
            if let Some(path) = source.strip_prefix("host:") {
                read_host(path)?
            } else if let Some(b) = crate::platform::builtin_modules::find(source) {
                b.to_vec()
            } else {
                upload(Some(source))?
            }
        }
    };
    let loaded = crate::module::insmod(&bytes, params).map_err(|e| e.to_string())?;
    println!("{loaded}");
    Ok(())
}

/// Receives a module over the serial line: from any sender (`name` is `None`), or by
/// asking the host console for `name`.ko.
fn upload(name: Option<&str>) -> Result<Vec<u8>, String> {
    use crate::transfer;
    let opts = transfer::Options {
        wait_us: if name.is_some() {
            3_000_000
        } else {
            120_000_000
        },
        ymodem: name.is_none(),
        limit: MAX_MODULE,
    };
    match name {
        None => println!(
            "insmod: waiting for a module over the serial line (YMODEM, e.g. `sb`, or the host console); Ctrl-C cancels"
        ),
        Some(n) => {
            println!("insmod: {n} is not built in; asking the host console for {n}.ko");
            transfer::request(n);
        }
    }
    match transfer::receive(&opts) {
        Ok(r) => {
            println!(
                "insmod: received {} ({} bytes, crc32 {:#010x}) over {}: {} bytes on the wire in {} us, {} retries",
                if r.name.is_empty() {
                    "a file"
                } else {
                    r.name.as_str()
                },
                r.data.len(),
                transfer::frame::CRC32.checksum(&r.data),
                r.protocol,
                r.wire_bytes,
                r.elapsed_us,
                r.retries
            );
            Ok(r.data)
        }
        Err(transfer::Error::NoSender) if name.is_some() => {
            let names = crate::platform::builtin_modules::names();
            Err(format!(
                "{}: no such built-in module (built in: {}), and no host console answered; use host:PATH for a file on the host, or `insmod` alone to upload one",
                name.unwrap_or_default(),
                if names.is_empty() { "none".into() } else { names.join(", ") }
            ))
        }
        Err(e) => Err(format!("upload failed: {e}")),
    }
}

fn rmmod(args: &[&str]) -> Result<(), String> {
    match args {
        [name] => crate::module::rmmod(name)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        _ => Err("usage: rmmod NAME".into()),
    }
}

fn lsmod(_: &[&str]) -> Result<(), String> {
    crate::module::lsmod();
    Ok(())
}

fn modinfo(args: &[&str]) -> Result<(), String> {
    match args {
        [name] => crate::module::modinfo(name).map_err(|e| e.to_string()),
        _ => Err("usage: modinfo NAME".into()),
    }
}

fn kexports(_: &[&str]) -> Result<(), String> {
    crate::platform::exports::print_table();
    crate::module::signing::print_policy();
    Ok(())
}
