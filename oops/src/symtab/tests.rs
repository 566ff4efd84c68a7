use super::*;
use std::format;
use std::string::{String, ToString};
use std::vec;
use std::vec::Vec;

fn sample_names(n: usize) -> Vec<String> {
    let mods = [
        "kernel::shell::crash",
        "kernel::mm::heap",
        "core::fmt::num",
        "<alloc::vec::Vec<T> as core::ops::drop::Drop>",
        "kernel::drivers::pl011",
        "spin::mutex::Mutex<T>",
    ];
    let fns = [
        "run",
        "null_write",
        "fmt",
        "drop",
        "write_str",
        "lock",
        "init",
        "new",
    ];
    (0..n)
        .map(|i| {
            format!(
                "{}::{}{}",
                mods[(i / 7) % mods.len()],
                fns[i % fns.len()],
                if i % 3 == 0 {
                    String::new()
                } else {
                    i.to_string()
                }
            )
        })
        .collect()
}

fn build_sample(n: usize) -> (Vec<u8>, Vec<(String, u64, u64)>) {
    let names = sample_names(n);
    let mut b = TableBuilder::new();
    b.build_id(&[0xde, 0xad, 0xbe, 0xef]);
    let mut addr = 0x4008_0000u64;
    let mut syms = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let size = 0x20 + (i as u64 % 5) * 8;
        b.symbol(name, addr, size, true);
        syms.push((name.clone(), addr, size));
        for k in 0..size / 4 {
            b.line_row(
                addr + 4 * k,
                &format!("kernel/src/f{}.rs", i % 9),
                10 + i as u32 + k as u32 / 3,
            );
        }
        addr += size + if i % 4 == 0 { 8 } else { 0 };
    }
    b.line_row(addr, "", 0);
    (b.build().unwrap(), syms)
}

#[test]
fn roundtrip_lookup_every_symbol() {
    let (bytes, syms) = build_sample(300);
    let t = Table::parse(&bytes).unwrap();
    assert_eq!(t.len(), 300);
    assert_eq!(t.build_id(), &[0xde, 0xad, 0xbe, 0xef]);
    let sz = t.sizes();
    assert_eq!(sz.total, bytes.len());
    assert!(sz.symbols > 0 && sz.lines > 0 && sz.tokens > 0 && sz.files > 0);
    assert_eq!(t.byte_len(), bytes.len());
    for (name, addr, size) in &syms {
        for off in [0, 4, size - 1] {
            let s = t.lookup(addr + off).unwrap();
            assert_eq!(s.name().to_string(), *name);
            assert_eq!((s.start, s.size, s.offset), (*addr, *size, off));
            assert!(s.is_func);
        }
        let first = syms.iter().find(|s| s.0 == *name).unwrap().1;
        assert_eq!(t.find(name), Some(first), "{name}");
    }
    // Iterator lists all of them in order.
    let listed: Vec<(String, u64, u64)> = t
        .symbols()
        .map(|s| (s.name().to_string(), s.start, s.size))
        .collect();
    assert_eq!(listed, syms);
    assert_eq!(t.find("no::such::symbol"), None);
    assert_eq!(t.find("kernel::shell::crash::ru"), None);
}

#[test]
fn gaps_and_outside() {
    let (bytes, syms) = build_sample(20);
    let t = Table::parse(&bytes).unwrap();
    // Symbol 0 is followed by an 8-byte gap.
    let (_, a0, s0) = &syms[0];
    assert!(t.lookup(a0 + s0).is_none());
    assert!(t.lookup(a0 - 1).is_none());
    assert!(t.lookup(0).is_none());
    assert!(t.lookup(u64::MAX).is_none());
}

#[test]
fn lines() {
    let (bytes, syms) = build_sample(100);
    let t = Table::parse(&bytes).unwrap();
    for (i, (_, addr, size)) in syms.iter().enumerate() {
        for k in 0..size / 4 {
            let (f, l) = t.line(addr + 4 * k).unwrap();
            assert_eq!(f.to_string(), format!("kernel/src/f{}.rs", i % 9));
            assert_eq!(l, 10 + i as u32 + k as u32 / 3);
            // Mid-instruction addresses map to the same row.
            let (_, l2) = t.line(addr + 4 * k + 2).unwrap();
            assert_eq!(l2, l);
        }
    }
    let (_, last, size) = syms.last().unwrap();
    assert!(t.line(last + size).is_none());
    assert!(t.line(0).is_none());
}

#[test]
fn aliases_zero_size_and_data() {
    let mut b = TableBuilder::new();
    b.symbol("data_alias_b", 0x1000, 0x10, false);
    b.symbol("func_a", 0x1000, 0x10, true);
    b.symbol("label_zero", 0x1100, 0, true);
    b.symbol("outer_big", 0x2000, 0x1000, false);
    b.symbol("inner", 0x2100, 0x10, false);
    b.symbol("after", 0x3000, 0x10, true);
    b.symbol("end_label", 0x4000, 0, true);
    let bytes = b.sym_block(2).build().unwrap();
    let t = Table::parse(&bytes).unwrap();
    let name = |a| t.lookup(a).map(|s| s.name().to_string());
    assert_eq!(name(0x1004).as_deref(), Some("func_a"));
    assert_eq!(name(0x1010), None); // gap after a sized symbol
    assert_eq!(name(0x1180).as_deref(), Some("label_zero")); // zero-size: nearest preceding
    assert_eq!(t.lookup(0x1180).unwrap().offset, 0x80);
    assert_eq!(name(0x2000).as_deref(), Some("outer_big"));
    assert_eq!(name(0x2104).as_deref(), Some("inner"));
    assert_eq!(name(0x2200).as_deref(), Some("outer_big")); // covering symbol in an earlier block
    assert_eq!(name(0x3008).as_deref(), Some("after"));
    assert_eq!(name(0x4008), None); // zero-size last symbol
}

#[test]
fn unpatched_and_garbage() {
    let zeros = [0u8; 4096];
    assert_eq!(Table::parse(&zeros).unwrap_err(), FormatError::Unpatched);
    assert!(matches!(
        Table::parse(&zeros[..10]),
        Err(FormatError::Truncated { .. })
    ));
    let mut junk = [0x5au8; 200];
    assert_eq!(Table::parse(&junk).unwrap_err(), FormatError::BadMagic);
    junk[..8].copy_from_slice(&MAGIC);
    assert!(Table::parse(&junk).is_err());
    let msg = format!("{}", FormatError::Unpatched);
    assert!(msg.contains("ksymgen"));
}

/// Flipping any byte (or truncating) must never panic; lookups stay bounded.
#[test]
fn corrupted_tables_never_panic() {
    let (bytes, syms) = build_sample(64);
    let mut rng = 0x1234_5678u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for trial in 0..3000 {
        let mut b = bytes.clone();
        let n = 1 + trial % 4;
        for _ in 0..n {
            let at = (next() as usize) % b.len();
            b[at] = next() as u8;
        }
        if trial % 50 == 0 {
            b.truncate((next() as usize) % b.len());
        }
        if let Ok(t) = Table::parse(&b) {
            for (name, addr, _) in syms.iter().step_by(7) {
                if let Some(s) = t.lookup(*addr + 4) {
                    let _ = format!("{} {}", s.name(), s.size);
                }
                if let Some((f, l)) = t.line(*addr) {
                    let _ = format!("{f}:{l}");
                }
                let _ = t.find(name);
            }
            let _ = t.symbols().count();
        }
    }
}

#[test]
fn token_budget_variants_roundtrip() {
    let names = sample_names(200);
    for budget in [0usize, 100, 256, 300, 4095] {
        let mut b = TableBuilder::new();
        for (i, n) in names.iter().enumerate() {
            b.symbol(n, 0x1000 + 16 * i as u64, 16, i % 2 == 0);
        }
        let bytes = b.max_tokens(budget).build().unwrap();
        let t = Table::parse(&bytes).unwrap();
        for (i, n) in names.iter().enumerate() {
            let s = t.lookup(0x1000 + 16 * i as u64 + 3).unwrap();
            assert_eq!(s.name().to_string(), *n);
            assert_eq!(s.is_func, i % 2 == 0);
        }
    }
}

#[test]
fn utf8_names_and_copy_to() {
    let mut b = TableBuilder::new();
    b.symbol("naïve::φ", 0x10, 4, true);
    let bytes = b.build().unwrap();
    let t = Table::parse(&bytes).unwrap();
    let s = t.lookup(0x10).unwrap();
    assert_eq!(s.name().to_string(), "naïve::φ");
    assert!(s.name().eq_str("naïve::φ"));
    let mut buf = [0u8; 4];
    assert_eq!(s.name().copy_to(&mut buf), 4);
    assert_eq!(&buf, b"na\xc3\xaf");
}

#[test]
fn beats_kallsyms_on_rust_like_names() {
    let names = sample_names(2000);
    let mut b = TableBuilder::new();
    for (i, n) in names.iter().enumerate() {
        b.symbol(n, 0x1000 + 32 * i as u64, 32, true);
    }
    let (_, st) = b.build_with_stats().unwrap();
    let linux = kallsyms_baseline_size(&names);
    assert!(
        st.names_section_bytes() < linux,
        "ours {} vs kallsyms {}",
        st.names_section_bytes(),
        linux
    );
}

#[test]
fn address_span_error() {
    let mut b = TableBuilder::new();
    b.symbol("a", 0, 4, true).symbol("b", 1 << 40, 4, true);
    assert!(matches!(b.build(), Err(BuildError::AddressSpan { .. })));
}

#[test]
fn random_line_tables_roundtrip() {
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for round in 0..20 {
        let nfiles = 1 + (next() % 60) as usize;
        let files: Vec<String> = (0..nfiles).map(|i| format!("src/f{i}.rs")).collect();
        let mut rows: Vec<(u64, Option<(usize, u32)>)> = Vec::new();
        let mut addr = 0x4020_0000u64 + 4 * (next() % 1000);
        let mut hot: Vec<(usize, u32)> = vec![(0, 1)];
        for _ in 0..(1 + next() % 2000) {
            let r = next() % 100;
            let loc = if r < 8 {
                None
            } else if r < 50 {
                Some(hot[(next() as usize) % hot.len()])
            } else if r < 80 {
                let (f, l) = hot[0];
                Some((f, (l as i64 + (next() % 64) as i64 - 24).max(1) as u32))
            } else {
                Some(((next() as usize) % nfiles, 1 + (next() % 70000) as u32))
            };
            if let Some(l) = loc {
                hot.insert(0, l);
                hot.truncate(40);
            }
            rows.push((addr, loc));
            let step = match next() % 10 {
                0..=6 => 1 + next() % 3,
                7 | 8 => 4 + next() % 30,
                _ => 1 + next() % 100_000,
            };
            addr += if round % 2 == 0 { 4 * step } else { step };
        }
        let mut b = TableBuilder::new();
        b.symbol("f", 0x4020_0000, 4, true);
        b.line_block(1 + (next() % 200) as usize);
        for &(a, loc) in &rows {
            match loc {
                Some((f, l)) => b.line_row(a, &files[f], l),
                None => b.line_row(a, "", 0),
            };
        }
        let bytes = b.build().unwrap();
        let t = Table::parse(&bytes).unwrap();
        for (i, &(a, loc)) in rows.iter().enumerate() {
            let got = t.line(a).map(|(f, l)| (f.to_string(), l));
            let want = loc.map(|(f, l)| (files[f].clone(), l));
            assert_eq!(got, want, "round {round} row {i} addr {a:#x}");
            if let Some(&(next_a, _)) = rows.get(i + 1) {
                let mid = a + (next_a - a) / 2;
                assert_eq!(t.line(mid).map(|(_, l)| l), loc.map(|(_, l)| l));
            }
        }
        assert!(t.line(rows[0].0 - 1).is_none());
    }
}

/// Random nested inline trees: every address's chain equals a brute-force search
/// over the records given to the builder (one per depth, outermost first).
#[test]
fn random_inline_chains_roundtrip() {
    let mut rng = 0x51ed_2701_9e37_79b9u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    // (lo, hi, depth, func, file, line)
    type Rec = (u64, u64, usize, String, String, u32);
    fn tree(lo: u64, hi: u64, depth: usize, out: &mut Vec<Rec>, next: &mut dyn FnMut() -> u64) {
        if depth >= 12 || hi - lo < 8 {
            return;
        }
        let mut a = lo;
        while a < hi {
            let len = 4 * (1 + next() % ((hi - a) / 4).min(40));
            let b = (a + len).min(hi);
            if !next().is_multiple_of(3) {
                let func = format!("core::f{}::<u{}>", next() % 30, depth);
                let file = format!("src/file{}.rs", next() % 9);
                out.push((a, b, depth, func, file, 1 + (next() % 900) as u32));
                tree(a, b, depth + 1, out, next);
            }
            a = b + 4 * (next() % 3);
        }
    }
    for round in 0..12 {
        let base = 0x4020_0000u64;
        let mut recs = Vec::new();
        let mut fns = Vec::new();
        let mut a = base;
        for _ in 0..(1 + next() % 30) {
            let size = 4 * (4 + next() % 300);
            fns.push((a, size));
            tree(a, a + size, 0, &mut recs, &mut next);
            a += size;
        }
        let mut b = TableBuilder::new();
        b.inline_block(1 + (next() % 40) as usize);
        for (i, &(a, s)) in fns.iter().enumerate() {
            b.symbol(&format!("kernel::f{i}"), a, s, true);
            b.line_row(a, "src/lib.rs", 10 + i as u32);
        }
        b.line_row(a, "", 0);
        for r in &recs {
            b.inline(r.0, r.1, r.2, &r.3, &r.4, r.5);
        }
        let bytes = b.build().unwrap();
        let t = Table::parse(&bytes).unwrap();
        assert_eq!(t.inline_records(), recs.len());
        let mut addr = base - 8;
        while addr < a + 8 {
            let mut want: Vec<&Rec> = recs.iter().filter(|r| r.0 <= addr && addr < r.1).collect();
            want.sort_by_key(|r| r.2);
            let chain = t.inline_chain(addr);
            let got: Vec<(String, String, u32)> = (0..chain.len())
                .map(|i| {
                    let f = chain.get(i).unwrap();
                    (f.func.to_string(), f.call_file.to_string(), f.call_line)
                })
                .collect();
            let want: Vec<(String, String, u32)> = want
                .iter()
                .map(|r| (r.3.clone(), r.4.clone(), r.5))
                .collect();
            assert_eq!(got, want, "round {round} addr {addr:#x}");
            addr += 4;
        }
    }
}

fn inline_sample() -> Vec<u8> {
    let mut b = TableBuilder::new();
    b.symbol("kernel::shell::crash::null_write", 0x4000_0000, 0x40, true);
    b.line_row(0x4000_0000, "kernel/src/shell/crash.rs", 114);
    b.line_row(0x4000_0008, "core/src/hint.rs", 491);
    b.line_row(0x4000_0010, "core/src/ptr/mod.rs", 2178);
    b.line_row(0x4000_0018, "kernel/src/shell/crash.rs", 117);
    b.line_row(0x4000_0040, "", 0);
    b.inline(
        0x4000_0008,
        0x4000_0010,
        0,
        "core::hint::black_box::<usize>",
        "kernel/src/shell/crash.rs",
        116,
    );
    b.inline(
        0x4000_0010,
        0x4000_0018,
        0,
        "core::ptr::write_volatile::<u64>",
        "kernel/src/shell/crash.rs",
        116,
    );
    b.inline(
        0x4000_0014,
        0x4000_0018,
        1,
        "core::ub_checks::check::<u64>",
        "core/src/ptr/mod.rs",
        2170,
    );
    b.build().unwrap()
}

#[test]
fn frame_lines_and_inlined_lines() {
    let bytes = inline_sample();
    let t = Table::parse(&bytes).unwrap();
    let frame = |a: u64| {
        let mut s = String::new();
        t.write_frame_line(a, &mut s).unwrap();
        s
    };
    let inl = |a: u64| {
        let mut s = String::new();
        t.write_inlined(a, "  ", &mut s).unwrap();
        s
    };
    assert_eq!(frame(0x4000_0000), " (kernel/src/shell/crash.rs:114)");
    assert_eq!(inl(0x4000_0000), "");
    assert_eq!(frame(0x4000_0010), " (kernel/src/shell/crash.rs:116)");
    assert_eq!(
        inl(0x4000_0010),
        "  core::ptr::write_volatile::<u64> (core/src/ptr/mod.rs:2178) (inlined)\n"
    );
    assert_eq!(
        inl(0x4000_0014),
        "  core::ub_checks::check::<u64> (core/src/ptr/mod.rs:2178) (inlined)\n  core::ptr::write_volatile::<u64> (core/src/ptr/mod.rs:2170) (inlined)\n"
    );
    assert_eq!(frame(0x4000_0018), " (kernel/src/shell/crash.rs:117)");
}

/// A mutated or truncated inline section never panics, and whatever chain comes
/// out only holds indices the table has.
#[test]
fn corrupted_inline_data_never_panics() {
    let bytes = inline_sample();
    let t = Table::parse(&bytes).unwrap();
    let parts = [
        t.sect[S_INLINE_DATA],
        t.sect[S_SITE_DATA],
        t.sect[S_SITE_INDEX],
    ];
    let mut rng = 0x7777_1234u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for trial in 0..5000 {
        let mut b = bytes.clone();
        for _ in 0..1 + trial % 3 {
            let at = if trial % 2 == 0 {
                let (off, len) = parts[(trial / 2) % parts.len()];
                off + (next() as usize) % len.max(1)
            } else {
                (next() as usize) % b.len()
            };
            b[at] = next() as u8;
        }
        if let Ok(t) = Table::parse(&b) {
            for a in (0x3fff_fff0u64..0x4000_0050).step_by(2) {
                let mut s = String::new();
                t.write_frame_line(a, &mut s).unwrap();
                t.write_inlined(a, " ", &mut s).unwrap();
            }
        }
    }
}
