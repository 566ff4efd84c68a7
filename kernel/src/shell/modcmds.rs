//! Module commands: insmod, rmmod, lsmod, modinfo, kexports.

use crate::println;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Registers the module commands.
pub fn register_all() {
    let cmds: [(&str, &str, super::Handler); 7] = [
        (
            "insmod",
            "insmod [--timeout=T] [host:PATH|NAME] [param=value ...]: load a module (no source: upload it); T: init deadline, e.g. 500ms, 2s, 0 (none)",
            insmod,
        ),
        (
            "rmmod",
            "rmmod [--timeout=T] NAME: unload a module (T: exit deadline)",
            rmmod,
        ),
        (
            "rxbench",
            "rxbench [BYTES]: count raw serial input (receive ceiling)",
            crate::transfer::rxbench,
        ),
        ("lsmod", "list loaded modules", lsmod),
        (
            "ktest",
            "ktest MODULE [--timeout=T]: run a loaded module's tests (KTAP)",
            ktest,
        ),
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

/// A deadline option: `--timeout=500ms`, `--timeout=2s`, `--timeout=0` (none). Options
/// begin with `--`, which no module parameter name can (names are identifiers).
fn timeout_option(a: &str) -> Option<Result<u64, String>> {
    let v = a.strip_prefix("--timeout=")?;
    let parsed = if v == "0" {
        Some(0)
    } else if let Some(n) = v.strip_suffix("ms") {
        n.parse::<u64>().ok()
    } else if let Some(n) = v.strip_suffix('s') {
        n.parse::<u64>().ok().and_then(|s| s.checked_mul(1000))
    } else {
        None
    };
    Some(parsed.ok_or_else(|| format!("bad timeout '{v}' (e.g. 500ms, 2s, or 0 for none)")))
}

/// Splits `--timeout=` off the arguments; refuses any other `--` option.
fn split_options<'a>(args: &[&'a str]) -> Result<(Option<u64>, Vec<&'a str>), String> {
    let mut timeout = None;
    let mut rest = Vec::new();
    for &a in args {
        if let Some(t) = timeout_option(a) {
            timeout = Some(t?);
        } else if a.starts_with("--") {
            return Err(format!("unknown option '{a}' (options: --timeout=T)"));
        } else {
            rest.push(a);
        }
    }
    Ok((timeout, rest))
}

fn insmod(args: &[&str]) -> Result<(), String> {
    let (timeout, args) = split_options(args)?;
    let args = args.as_slice();
    // No source (nothing, or only parameters): wait for an upload over the serial line.
    let (source, params) = match args.split_first() {
        Some((&s, rest)) if !s.contains('=') => (Some(s), rest),
        _ => (None, args),
    };
    // Whether the sender asked for the result in a checked frame (kx/1 with FLAG_RESULT).
    let mut want_result = false;
    let bytes: Vec<u8> = match source {
        None => upload(None, &mut want_result)?,
        Some(source) => {
            if let Some(path) = source.strip_prefix("host:") {
                read_host(path)?
            } else if let Some(b) = crate::platform::builtin_modules::find(source) {
                b.to_vec()
            } else {
                upload(Some(source), &mut want_result)?
            }
        }
    };
    let r = crate::module::insmod(&bytes, params, timeout);
    if want_result {
        match &r {
            Ok(l) => crate::transfer::kx::send_result(true, &l.to_string()),
            Err(e) => crate::transfer::kx::send_result(false, &e.to_string()),
        }
    }
    let loaded = r.map_err(|e| e.to_string())?;
    println!("{loaded}");
    Ok(())
}

/// Receives a module over the serial line: from any sender (`name` is `None`), or by
/// asking the host console for `name`.ko.
fn upload(name: Option<&str>, want_result: &mut bool) -> Result<Vec<u8>, String> {
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
            *want_result = r.want_result;
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
    let (timeout, args) = split_options(args)?;
    match args.as_slice() {
        [name] => crate::module::rmmod(name, timeout)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        _ => Err("usage: rmmod [--timeout=T] NAME".into()),
    }
}

fn ktest(args: &[&str]) -> Result<(), String> {
    let (opts, rest) = split_options(args)?;
    match rest.as_slice() {
        [name] => crate::module::testrun::run_document(name, opts)
            .map(|_| ())
            .map_err(|e| e.to_string()),
        _ => Err("usage: ktest MODULE [--timeout=T]".into()),
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
