//! Behaviour of the staged API on small assembled objects: symbol resolution, COMMON, COMDAT,
//! veneers, GOT, layout rules, entry points, arrays, exports, error reporting.

mod common;

use std::collections::BTreeMap;

use modloader::{reloc, Error, LoadedModule, NoSymbols, Object, Protection, Region};

const BASE: u64 = 0x4020_0000;

fn asm(name: &str, src: &str) -> Vec<u8> {
    let dir = common::scratch(&format!("api-{name}"));
    let s = dir.join("t.s");
    let o = dir.join("t.o");
    std::fs::write(&s, src).unwrap();
    common::assemble(&s, &o);
    std::fs::read(&o).unwrap()
}

fn link(bytes: &[u8], res: &dyn modloader::Resolver) -> Result<(Vec<u8>, LoadedModule), Error> {
    modloader::link_to_vec(bytes, 4096, BASE, res)
}

fn syms(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(n, a)| (n.to_string(), *a)).collect()
}

fn word(img: &[u8], m: &LoadedModule, addr: u64) -> u32 {
    let o = (addr - m.base) as usize;
    u32::from_le_bytes(img[o..o + 4].try_into().unwrap())
}

fn quad(img: &[u8], m: &LoadedModule, addr: u64) -> u64 {
    let o = (addr - m.base) as usize;
    u64::from_le_bytes(img[o..o + 8].try_into().unwrap())
}

fn branch_target(img: &[u8], m: &LoadedModule, p: u64) -> u64 {
    let i = word(img, m, p) as u64;
    let off = (((i & 0x3ff_ffff) << 38) as i64 >> 36) as u64;
    p.wrapping_add(off)
}

/// Where a modloader veneer at `v` goes (adrp/add/br or movz/movk/br).
fn veneer_dest(img: &[u8], m: &LoadedModule, v: u64) -> u64 {
    let w0 = word(img, m, v) as u64;
    if w0 & 0x9f00_0000 == 0x9000_0000 {
        let imm = ((w0 >> 29) & 3) | (((w0 >> 5) & 0x7ffff) << 2);
        let page = (v & !0xfff).wrapping_add(((imm << 43) as i64 >> 31) as u64);
        let add = word(img, m, v + 4) as u64;
        assert_eq!(word(img, m, v + 8), 0xd61f_0200, "br x16");
        page + ((add >> 10) & 0xfff)
    } else {
        let mut x = 0u64;
        for k in 0..4 {
            let w = word(img, m, v + 4 * k) as u64;
            x |= ((w >> 5) & 0xffff) << (16 * ((w >> 21) & 3));
        }
        assert_eq!(word(img, m, v + 16), 0xd61f_0200, "br x16");
        x
    }
}

#[test]
fn all_unknown_symbols_are_reported_together() {
    let o = asm(
        "unknown",
        "
        .weak maybe
        .text
        bl alpha
        bl beta
        adrp x0, gamma
        bl alpha
        bl maybe
        ",
    );
    match link(&o, &NoSymbols) {
        Err(Error::UnknownSymbols(names)) => {
            assert_eq!(names, ["alpha", "beta", "gamma"]);
        }
        other => panic!("expected UnknownSymbols, got {other:?}"),
    }
    let e = link(&o, &NoSymbols).unwrap_err().to_string();
    assert_eq!(e, "Unknown symbols alpha, beta, gamma");
    // Resolving them makes it link; the weak one stays 0.
    let (_, m) = link(
        &o,
        &syms(&[("alpha", BASE), ("beta", BASE), ("gamma", BASE)]),
    )
    .unwrap();
    assert!(m.init.is_none() && m.exit.is_none());
}

#[test]
fn weak_undefined_is_zero_unless_resolved() {
    let src = "
        .weak w
        .data
        .quad w
        .quad w + 16
        .text
        bl w
        ";
    let o = asm("weak", src);
    let (img, m) = link(&o, &NoSymbols).unwrap();
    let data = m.region(Region::Data).unwrap().addr;
    assert_eq!(quad(&img, &m, data), 0);
    assert_eq!(quad(&img, &m, data + 8), 16);
    // an unresolved weak call becomes a NOP (as GNU ld does)
    assert_eq!(word(&img, &m, BASE), 0xd503_201f);
    let (img, m) = link(&o, &syms(&[("w", 0x1234_0000)])).unwrap();
    assert_eq!(quad(&img, &m, data), 0x1234_0000);
    assert_eq!(quad(&img, &m, data + 8), 0x1234_0010);
    // far away: reached through the reserved veneer
    let t = branch_target(&img, &m, BASE);
    assert_eq!(veneer_dest(&img, &m, t), 0x1234_0000);
}

#[test]
fn common_symbols_are_allocated_in_bss() {
    let o = asm(
        "common",
        "
        .comm big, 100, 32
        .comm small, 4, 4
        .data
        .quad big
        .quad small
        .bss
        .space 3
        ",
    );
    let (img, m) = link(&o, &NoSymbols).unwrap();
    let bss = *m.region(Region::Bss).unwrap();
    let big = m.symbol("big").unwrap();
    let small = m.symbol("small").unwrap();
    for (a, sz, al) in [(big, 100, 32), (small, 4, 4)] {
        assert!(
            a >= bss.addr && a + sz <= bss.addr + bss.size,
            "{a:#x} in bss"
        );
        assert_eq!(a % al, 0);
    }
    assert!(small + 4 <= big || big + 100 <= small, "no overlap");
    let data = m.region(Region::Data).unwrap().addr;
    assert_eq!(quad(&img, &m, data), big);
    assert_eq!(quad(&img, &m, data + 8), small);
    assert!(img[(bss.addr - BASE) as usize..].iter().all(|&b| b == 0));
}

#[test]
fn writable_executable_sections_are_refused() {
    let o = asm("wx", ".section .wx, \"awx\", %progbits\n ret\n");
    let e = Object::parse(&o).unwrap_err();
    assert!(matches!(e, Error::BadSection { .. }), "{e}");
    assert!(e.to_string().contains("writable and executable"), "{e}");
}

#[test]
fn non_alloc_relocations_are_skipped() {
    // ABS32 to a kernel-high address would overflow if the .debug relocation were applied.
    let o = asm(
        "debug",
        "
        .text
        .globl f
        f: ret
        .section .debug_info, \"\", %progbits
        .word f
        .quad f
        .section .comment, \"\", %progbits
        .word f
        ",
    );
    let obj = Object::parse(&o).unwrap();
    assert_eq!(obj.num_relocations(), 0);
    let layout = obj.plan(4096).unwrap();
    let mut img = vec![0; layout.size as usize];
    obj.link(&layout, &mut img, 0xffff_8000_1000_0000, &NoSymbols)
        .unwrap();
}

#[test]
fn nothing_is_written_when_a_relocation_fails() {
    let o = asm(
        "nowrite",
        "
        .data
        .quad near
        .word far
        ",
    );
    let obj = Object::parse(&o).unwrap();
    let layout = obj.plan(4096).unwrap();
    let mut img = vec![0xa5; layout.size as usize];
    let e = obj
        .link(
            &layout,
            &mut img,
            BASE,
            &syms(&[("near", 0x1000), ("far", 0x1_0000_0000)]),
        )
        .unwrap_err();
    assert!(img.iter().all(|&b| b == 0xa5), "image untouched");
    let msg = e.to_string();
    for part in ["R_AARCH64_ABS32", "`far`", ".data+0x8", "overflow"] {
        assert!(msg.contains(part), "{msg} should mention {part}");
    }
}

#[test]
fn veneers_are_counted_before_allocation_and_shared() {
    let o = asm(
        "veneers",
        "
        .text
        .globl start
        start:
        bl f
        bl f
        b f
        bl f + 8
        bl g
        bl local
        b local
        .section .text.other, \"ax\", %progbits
        local: ret
        ",
    );
    let obj = Object::parse(&o).unwrap();
    let layout = obj.plan(4096).unwrap();
    assert_eq!(
        layout.veneer_slots(),
        3,
        "(f,0), (f,8), (g,0); nothing for local"
    );
    let v = layout.region(Region::Veneers);
    let t = layout.region(Region::Text);
    assert_eq!(
        v.offset,
        (t.offset + t.size + 3) & !3,
        "veneers right after text"
    );
    assert_eq!(v.size, 3 * modloader::VENEER_SIZE);

    // far targets (> 128 MiB, and > 4 GiB for g: movz/movk form)
    let f = BASE + 0x1000_0000;
    let g = 0xffff_8000_0000_1000;
    let (img, m) = link(&o, &syms(&[("f", f), ("g", g)])).unwrap();
    let dests: Vec<u64> = (0..5).map(|k| BASE + 4 * k).collect();
    let t0 = branch_target(&img, &m, dests[0]);
    assert_eq!(t0, branch_target(&img, &m, dests[1]), "shared veneer");
    assert_eq!(t0, branch_target(&img, &m, dests[2]), "JUMP26 shares it");
    assert_eq!(veneer_dest(&img, &m, t0), f);
    assert_eq!(
        veneer_dest(&img, &m, branch_target(&img, &m, dests[3])),
        f + 8
    );
    assert_eq!(veneer_dest(&img, &m, branch_target(&img, &m, dests[4])), g);
    assert_eq!(m.veneers.len(), 3);
    // near targets: direct branches, veneers unused
    let (img, m) = link(
        &o,
        &syms(&[("f", BASE + 0x100_0000), ("g", BASE - 0x100_0000)]),
    )
    .unwrap();
    assert_eq!(branch_target(&img, &m, dests[0]), BASE + 0x100_0000);
    assert_eq!(branch_target(&img, &m, dests[4]), BASE - 0x100_0000);
}

#[test]
fn got_slots_are_deduplicated() {
    let o = asm(
        "got",
        "
        .text
        adrp x0, :got:a
        ldr x0, [x0, :got_lo12:a]
        adrp x1, :got:a
        ldr x1, [x1, :got_lo12:a]
        ldr x2, :got:b
        ldr x3, :got:a
        ",
    );
    let obj = Object::parse(&o).unwrap();
    let layout = obj.plan(4096).unwrap();
    assert_eq!(layout.got_slots(), 2);
    let (img, m) = link(&o, &syms(&[("a", 0xaaaa_0000), ("b", 0xbbbb_0000)])).unwrap();
    assert_eq!(m.got.len(), 2);
    for g in &m.got {
        assert_eq!(quad(&img, &m, g.addr), g.target);
    }
    let got = m.region(Region::Got).unwrap();
    let ro = m.region(Region::Rodata).unwrap();
    assert_eq!(
        got.addr,
        (ro.addr + ro.size + 7) & !7,
        "GOT right after rodata"
    );
}

#[test]
fn layout_puts_permission_groups_on_page_boundaries() {
    let o = asm(
        "layout",
        "
        .text
        .globl init_module
        init_module: ret
        .section .text.b, \"ax\", %progbits
        .balign 64
        b2: ret
        .section .rodata.x, \"a\", %progbits
        .quad 1
        .data
        .byte 1
        .section .data.big, \"aw\", %progbits
        .balign 8192
        .quad 2
        .bss
        .space 5000
        ",
    );
    let obj = Object::parse(&o).unwrap();
    let layout = obj.plan(4096).unwrap();
    assert_eq!(layout.align, 8192, "largest section alignment");
    assert_eq!(layout.size % 4096, 0);
    let r = |x| layout.region(x);
    assert_eq!(r(Region::Text).offset, 0);
    assert_eq!(r(Region::Rodata).offset % 4096, 0);
    assert_eq!(r(Region::Data).offset % 4096, 0);
    assert!(r(Region::Veneers).offset >= r(Region::Text).offset + r(Region::Text).size);
    assert!(r(Region::Rodata).offset >= r(Region::Veneers).offset + r(Region::Veneers).size);
    assert!(r(Region::Got).offset >= r(Region::Rodata).offset + r(Region::Rodata).size);
    assert!(r(Region::Data).offset >= r(Region::Got).offset + r(Region::Got).size);
    assert_eq!(
        r(Region::Bss).offset,
        r(Region::Data).offset + r(Region::Data).size
    );
    assert!(r(Region::Bss).offset + r(Region::Bss).size <= layout.size);
    let segs = layout.segments();
    assert_eq!(segs[0].protection, Protection::ReadExecute);
    assert_eq!(segs[1].protection, Protection::ReadOnly);
    assert_eq!(segs[2].protection, Protection::ReadWrite);
    assert_eq!(segs.iter().map(|s| s.size).sum::<u64>(), layout.size);
    for s in obj.sections() {
        if let (Some(off), Some(region)) = (layout.section_offset(s.index), s.region) {
            let sp = layout.region(region);
            assert!(
                off >= sp.offset && off + s.size <= sp.offset + sp.size,
                "{}",
                s.name
            );
            assert_eq!(off % s.align, 0, "{}", s.name);
        }
    }

    // caller mistakes
    let mut img = vec![0; layout.size as usize];
    assert!(matches!(obj.plan(1000), Err(Error::BadPageSize(1000))));
    assert!(matches!(
        obj.link(&layout, &mut img[..4096], BASE, &NoSymbols),
        Err(Error::ImageSize { .. })
    ));
    assert!(matches!(
        obj.link(&layout, &mut img, BASE + 4096, &NoSymbols),
        Err(Error::BadBase { .. })
    ));
    assert!(matches!(
        obj.link(&layout, &mut img, u64::MAX - 8191, &NoSymbols),
        Err(Error::BadBase { .. })
    ));
    let other = asm("layout-other", ".text\nret\nret\n");
    let other = Object::parse(&other).unwrap();
    assert!(matches!(
        other.link(&layout, &mut img, BASE, &NoSymbols),
        Err(Error::LayoutMismatch)
    ));
}

#[test]
fn entries_arrays_exports_modinfo_and_symbols() {
    let o = asm(
        "entries",
        "
        .text
        .globl init_module, cleanup_module, api
        .type init_module, %function
        init_module: nop
        ret
        .size init_module, 8
        .type cleanup_module, %function
        cleanup_module: ret
        .size cleanup_module, 4
        api: ret
        .type helper, %function
        helper: nop
        nop
        ret
        .size helper, 12
        .section .init_array, \"aw\", %init_array
        .quad helper
        .section .init_array.00100, \"aw\", %init_array
        .quad api
        .section .fini_array, \"aw\", %fini_array
        .quad cleanup_module
        .data
        .globl table
        table: .quad 7
        .word 1
        .section .modinfo, \"a\", %progbits
        .asciz \"license=GPL\"
        .asciz \"depends=\"
        .asciz \"alias=x=y\"
        .section .modexports, \"a\", %progbits
        .asciz \"api\"
        .asciz \"table\"
        ",
    );
    let (_, m) = link(&o, &NoSymbols).unwrap();
    let a = |n| m.symbol(n).unwrap();
    assert_eq!(m.init, Some(a("init_module")));
    assert_eq!(m.exit, Some(a("cleanup_module")));
    assert_eq!(
        m.init_array,
        vec![a("api"), a("helper")],
        "priority 100 first"
    );
    assert_eq!(m.fini_array, vec![a("cleanup_module")]);
    let ex: Vec<(&str, u64)> = m
        .exports
        .iter()
        .map(|e| (e.name.as_str(), e.addr))
        .collect();
    assert_eq!(ex, [("api", a("api")), ("table", a("table"))]);
    assert_eq!(
        m.modinfo,
        [("license", "GPL"), ("depends", ""), ("alias", "x=y")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    // symbols for oops: no mapping symbols, locals included, sizes from ELF
    assert!(m.symbols.iter().all(|s| !s.name.starts_with('$')));
    let helper = m.symbols.iter().find(|s| s.name == "helper").unwrap();
    assert!(helper.is_func && !helper.is_global && helper.size == 12);
    let (s, off) = m.symbolize(helper.addr + 8).unwrap();
    assert_eq!((s.name.as_str(), off), ("helper", 8));
    assert!(
        !m.symbols
            .iter()
            .find(|s| s.name == "table")
            .unwrap()
            .is_func
    );
    // sections: .modinfo / .modexports are not loaded
    assert!(m.sections.iter().all(|s| !s.name.starts_with(".mod")));
}

#[test]
fn init_module_outside_text_is_an_error() {
    let o = asm(
        "badentry",
        ".data\n.globl init_module\ninit_module: .quad 0\n",
    );
    assert!(matches!(
        link(&o, &NoSymbols),
        Err(Error::BadEntry("init_module"))
    ));
}

/// Little-endian field access on a raw object, for building corrupt variants in tests.
fn shdr_off(b: &[u8], idx: usize) -> usize {
    let shoff = u64::from_le_bytes(b[0x28..0x30].try_into().unwrap()) as usize;
    shoff + 64 * idx
}

#[test]
fn comdat_groups_keep_the_first_copy() {
    let src = "
        .text
        .globl start
        start:
        bl f
        bl g
        .section .text.f, \"axG\", %progbits, sig1, comdat
        .globl f
        .type f, %function
        f: mov x0, #1
        ret
        .section .text.g, \"axG\", %progbits, sig2, comdat
        .globl g
        .type g, %function
        g: mov x0, #2
        ret
        ";
    let mut o = asm("comdat", src);
    // Single copies of each group: both load.
    {
        let obj = Object::parse(&o).unwrap();
        for n in [".text", ".text.f", ".text.g"] {
            let s = obj.sections().iter().find(|s| s.name == n).unwrap();
            assert_eq!(s.region, Some(Region::Text), "{n}");
        }
        link(&o, &NoSymbols).unwrap();
    }
    // Make the second group a duplicate of the first (same signature) defining the same
    // global name: its section is dropped and references to it bind to the kept copy.
    let (groups, sig1, g_sym, f_name, symtab) = {
        let obj = Object::parse(&o).unwrap();
        let groups: Vec<usize> = obj
            .sections()
            .iter()
            .filter(|s| s.sh_type == 17)
            .map(|s| s.index)
            .collect();
        let syms = obj.symbols();
        let sig1 = syms
            .iter()
            .position(|s| s.name == "sig1")
            .unwrap_or_else(|| {
                // GAS uses the section symbol or a dedicated one; fall back to `f`.
                syms.iter().position(|s| s.name == "f").unwrap()
            });
        let g = syms.iter().position(|s| s.name == "g").unwrap();
        let f = syms.iter().position(|s| s.name == "f").unwrap();
        let symtab = obj
            .sections()
            .iter()
            .find(|s| s.sh_type == 2)
            .unwrap()
            .index;
        (groups, sig1, g, f, symtab)
    };
    assert_eq!(groups.len(), 2);
    let sh2 = shdr_off(&o, groups[1]);
    o[sh2 + 44..sh2 + 48].copy_from_slice(&(sig1 as u32).to_le_bytes());
    // rename g to f
    let st = shdr_off(&o, symtab);
    let symoff = u64::from_le_bytes(o[st + 24..st + 32].try_into().unwrap()) as usize;
    let fname = u32::from_le_bytes(o[symoff + 24 * f_name..][..4].try_into().unwrap());
    o[symoff + 24 * g_sym..][..4].copy_from_slice(&fname.to_le_bytes());

    let obj = Object::parse(&o).unwrap();
    let text_g = obj.sections().iter().find(|s| s.name == ".text.g").unwrap();
    assert!(
        text_g.region.is_none(),
        "duplicate COMDAT copy is discarded"
    );
    let (img, m) = link(&o, &NoSymbols).unwrap();
    let f = m.symbol("f").unwrap();
    assert_eq!(branch_target(&img, &m, BASE), f);
    assert_eq!(
        branch_target(&img, &m, BASE + 4),
        f,
        "bl g binds to the kept f"
    );
    assert_eq!(m.symbols.iter().filter(|s| s.name == "f").count(), 1);
}

#[test]
fn relocation_errors_name_type_symbol_section_and_offset() {
    let o = asm(
        "errname",
        "
        .text
        nop
        b.eq far_target
        ",
    );
    let e = link(&o, &syms(&[("far_target", BASE + 0x20_0000)]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "relocation R_AARCH64_CONDBR19 against `far_target` at .text+0x4: relocation overflow (value 0x1ffffc)"
    );
    assert_eq!(
        reloc::name(reloc::types::R_AARCH64_CONDBR19),
        Some("R_AARCH64_CONDBR19")
    );
}
