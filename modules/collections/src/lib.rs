//! `collections`: heavy use of `alloc` through the kernel heap. Everything it allocates is
//! freed before init returns, so the heap is back at its baseline after rmmod.

#![no_std]

use kmod::prelude::*;

kmod::module! {
    name: "collections",
    version: "0.1.0",
    license: "MIT",
    author: "The unikernel authors",
    description: "Vec, BTreeMap, String and sorting on the kernel heap",
    init: init,
    exit: exit,
}

const ITEMS: usize = 10_000;

/// FNV-1a 64 over bytes, folded into `h`.
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// A deterministic pseudo-random sequence (64-bit LCG, top bits).
fn lcg(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

fn run() -> Result<u64, &'static str> {
    let mut seed = 0x5eed;
    // A Vec of 10k items, grown one push at a time (many reallocs), then sorted.
    let mut v: Vec<u64> = Vec::new();
    for _ in 0..ITEMS {
        v.push(lcg(&mut seed) % 1_000_000);
    }
    v.sort_unstable();
    if v.windows(2).any(|w| w[0] > w[1]) {
        return Err("sort");
    }
    // Records sorted by a key, stable.
    let mut recs: Vec<(u32, String)> = (0..ITEMS as u32)
        .map(|i| (i % 97, format!("rec-{i}")))
        .collect();
    recs.sort_by_key(|r| r.0);
    if recs.windows(2).any(|w| w[0].0 > w[1].0) {
        return Err("sort_by_key");
    }
    // A BTreeMap of counts and one of strings.
    let mut counts: BTreeMap<u64, u32> = BTreeMap::new();
    for x in &v {
        *counts.entry(x % 1000).or_insert(0) += 1;
    }
    if counts.values().map(|&c| c as usize).sum::<usize>() != ITEMS {
        return Err("btreemap counts");
    }
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for (i, (_, s)) in recs.iter().enumerate().step_by(7) {
        names.insert(s.clone(), i);
    }
    for k in (0..ITEMS).step_by(1000) {
        names.remove(&format!("rec-{k}"));
    }
    // String building.
    let mut text = String::new();
    for (k, c) in counts.iter().take(200) {
        text.push_str(&format!("{k}:{c},"));
    }
    let words: Vec<String> = text.split(',').map(|s| s.to_string()).collect();

    let mut h = 0xcbf2_9ce4_8422_2325;
    for x in &v {
        h = fnv(h, &x.to_le_bytes());
    }
    for (k, s) in &recs {
        h = fnv(h, &k.to_le_bytes());
        h = fnv(h, s.as_bytes());
    }
    for (s, i) in &names {
        h = fnv(h, s.as_bytes());
        h = fnv(h, &i.to_le_bytes());
    }
    h = fnv(h, text.as_bytes());
    h = fnv(h, &words.len().to_le_bytes());
    Ok(h)
    // v, recs, counts, names, text, words are all dropped here.
}

fn init() -> Result<(), i32> {
    let t0 = kmod::uptime_us();
    match run() {
        Ok(sum) => {
            println!(
                "collections: ok checksum={sum} ({} us)",
                kmod::uptime_us().saturating_sub(t0)
            );
            Ok(())
        }
        Err(what) => {
            println!("collections: FAILED ({what})");
            Err(kmod::EIO)
        }
    }
}

fn exit() {
    println!("collections: bye");
}

// Tests: `cargo xtask test-module modules/collections`, or `ktest collections` once loaded.
kmod::ktests! {
    fn fnv_known_answer() {
        // FNV-1a 64 of "a" (the published test vector).
        kmod::kassert_eq!(fnv(0xcbf2_9ce4_8422_2325, b"a"), 0xaf63_dc4c_8601_ec8c);
    }
    fn sorting_keeps_every_element() {
        let mut seed = 7;
        let mut v: Vec<u64> = (0..1000).map(|_| lcg(&mut seed) % 100).collect();
        let sum: u64 = v.iter().sum();
        v.sort_unstable();
        kmod::kassert!(v.windows(2).all(|w| w[0] <= w[1]));
        kmod::kassert_eq!(v.iter().sum::<u64>(), sum);
    }
    fn the_whole_workload_checks_out() {
        kmod::kassert!(run().is_ok());
    }
}
