//! `insmodbench`: in-guest module loading cost, phase by phase, against a plain copy.

use crate::println;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Registers the benchmark commands.
pub fn register_all() {
    let _ = super::register(
        "insmodbench",
        "insmodbench NAME|host:PATH [N]: time insmod/rmmod N times",
        insmodbench,
    );
}

fn median(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

fn insmodbench(args: &[&str]) -> Result<(), String> {
    let (src, n) = match args {
        [s] => (*s, 20usize),
        [s, n] => (
            *s,
            n.parse::<usize>()
                .map_err(|_| format!("bad count '{n}'"))?
                .clamp(1, 10_000),
        ),
        _ => return Err("usage: insmodbench NAME|host:PATH [N]".into()),
    };
    let bytes: Vec<u8> = match src.strip_prefix("host:") {
        Some(path) => super::modcmds::read_host(path)?,
        None => crate::platform::builtin_modules::find(src)
            .ok_or_else(|| format!("{src}: no such built-in module"))?
            .to_vec(),
    };
    let f = boards::timer::now().1.max(1);
    let ns = |t: u64| (t as u128 * 1_000_000_000 / f as u128) as u64;
    let mut verify = Vec::new();
    let (mut parse, mut plan, mut link, mut protect, mut init, mut total, mut copy) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let mut relocs = 0;
    let mut image = 0;
    let mut name = String::new();
    let mut buf = alloc::vec![0u8; bytes.len()];
    for _ in 0..n {
        crate::platform::console::set_muted(true);
        let r = crate::module::insmod_timed(&bytes, &[], None);
        crate::platform::console::set_muted(false);
        let (loaded, t) = r.map_err(|e| e.to_string())?;
        name = loaded.name;
        crate::platform::console::set_muted(true);
        let r = crate::module::rmmod(&name, None);
        crate::platform::console::set_muted(false);
        r.map_err(|e| e.to_string())?;
        relocs = t.relocs;
        image = t.image;
        verify.push(ns(t.verify));
        parse.push(ns(t.parse));
        plan.push(ns(t.plan));
        link.push(ns(t.link));
        protect.push(ns(t.protect));
        init.push(ns(t.init));
        total.push(ns(t.verify
            + t.parse
            + t.plan
            + t.link
            + t.protect
            + t.init));
        let c0 = boards::timer::now().0;
        buf.copy_from_slice(core::hint::black_box(&bytes));
        core::hint::black_box(&mut buf);
        copy.push(ns(boards::timer::now().0 - c0));
    }
    let (tot, cp, lk) = (
        median(&mut total),
        median(&mut copy).max(1),
        median(&mut link),
    );
    println!(
        "insmodbench {name}: {} bytes, {relocs} relocs, image {image} bytes, n={n}: total {} us (verify {} / parse {} / plan+map {} / link {} / protect+cache {} / init {} us); {} ns per reloc (link phase); {:.1} MiB/s of object; copy of the same bytes {} ns; total/copy {}x",
        bytes.len(),
        tot / 1000,
        median(&mut verify) / 1000,
        median(&mut parse) / 1000,
        median(&mut plan) / 1000,
        lk / 1000,
        median(&mut protect) / 1000,
        median(&mut init) / 1000,
        lk / relocs.max(1) as u64,
        bytes.len() as f64 / (tot.max(1) as f64 / 1e9) / (1024.0 * 1024.0),
        cp,
        tot / cp
    );
    Ok(())
}
