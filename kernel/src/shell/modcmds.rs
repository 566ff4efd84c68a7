//! Module commands: insmod, rmmod, lsmod, modinfo, kexports.

use crate::println;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Registers the module commands.
pub fn register_all() {
    let cmds: [(&str, &str, super::Handler); 5] = [
        (
            "insmod",
            "insmod host:PATH|NAME [param=value ...]: load a module",
            insmod,
        ),
        ("rmmod", "rmmod NAME: unload a module", rmmod),
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

fn read_host(path: &str) -> Result<Vec<u8>, String> {
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
    let Some((&source, params)) = args.split_first() else {
        return Err("usage: insmod host:PATH|NAME [param=value ...]".into());
    };
    let bytes: Vec<u8> = if let Some(path) = source.strip_prefix("host:") {
        read_host(path)?
    } else if let Some(b) = crate::builtin_modules::find(source) {
        b.to_vec()
    } else {
        let names = crate::builtin_modules::names();
        return Err(format!(
            "{source}: no such built-in module (built in: {}); use host:PATH for a file on the host",
            if names.is_empty() { "none".into() } else { names.join(", ") }
        ));
    };
    let summary = crate::module::insmod(&bytes, params)?;
    println!("{summary}");
    Ok(())
}

fn rmmod(args: &[&str]) -> Result<(), String> {
    match args {
        [name] => crate::module::rmmod(name),
        _ => Err("usage: rmmod NAME".into()),
    }
}

fn lsmod(_: &[&str]) -> Result<(), String> {
    crate::module::lsmod();
    Ok(())
}

fn modinfo(args: &[&str]) -> Result<(), String> {
    match args {
        [name] => crate::module::modinfo(name),
        _ => Err("usage: modinfo NAME".into()),
    }
}

fn kexports(_: &[&str]) -> Result<(), String> {
    crate::exports::print_table();
    Ok(())
}
