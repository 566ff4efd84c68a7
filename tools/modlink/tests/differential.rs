//! Differential tests against GNU ld: link the same object with `modlink` and with
//! `aarch64-linux-gnu-ld` at the addresses from modlink's map (a generated linker script gives
//! every input section its own output section), then byte-compare every placed section.
//! GOT slots and veneers differ by design; places patched by GOT or CALL26/JUMP26 relocations
//! are compared by meaning instead (the slot or veneer must reach the same final target).

#[path = "../../../modloader/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use elf::endian::LittleEndian;
use elf::ElfBytes;
use modloader::reloc::{self, types::*, RelocName};
use modloader::Object;
use serde_json::Value;

const BASE: u64 = 0x4020_0000;
/// More than 128 MiB away from BASE: calls to it need a veneer.
const FAR: u64 = BASE + 0x2000_0000;

struct Mem(Vec<(u64, Vec<u8>)>);

impl Mem {
    fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        self.0.iter().find_map(|(a, d)| {
            let off = addr.checked_sub(*a)? as usize;
            d.get(off..off.checked_add(len)?)
        })
    }
    fn u32(&self, addr: u64) -> Option<u32> {
        self.read(addr, 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
    }
    fn u64(&self, addr: u64) -> Option<u64> {
        self.read(addr, 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    }
}

fn sext(v: u64, bits: u32) -> i64 {
    ((v << (64 - bits)) as i64) >> (64 - bits)
}

/// Follow a veneer / linker stub from `pc` to the `br` it ends in; returns the branch target.
/// Knows modloader's veneers (adrp/add/br, movz/movk/br) and GNU ld's stubs (adrp/add/br and
/// ldr/adr/add/br).
fn follow_stub(mem: &Mem, mut pc: u64) -> Option<u64> {
    let mut x = [0u64; 32];
    for _ in 0..8 {
        let i = mem.u32(pc)? as u64;
        let rd = (i & 31) as usize;
        let rn = ((i >> 5) & 31) as usize;
        if i & 0x9f00_0000 == 0x9000_0000 {
            let imm = ((i >> 29) & 3) | (((i >> 5) & 0x7ffff) << 2);
            x[rd] = (pc & !0xfff).wrapping_add((sext(imm, 21) << 12) as u64);
        } else if i & 0x9f00_0000 == 0x1000_0000 {
            let imm = ((i >> 29) & 3) | (((i >> 5) & 0x7ffff) << 2);
            x[rd] = pc.wrapping_add(sext(imm, 21) as u64);
        } else if i & 0xff80_0000 == 0x9100_0000 {
            let sh = if i & (1 << 22) != 0 { 12 } else { 0 };
            x[rd] = x[rn].wrapping_add(((i >> 10) & 0xfff) << sh);
        } else if i & 0xffe0_fc00 == 0x8b00_0000 {
            let rm = ((i >> 16) & 31) as usize;
            x[rd] = x[rn].wrapping_add(x[rm]);
        } else if i & 0xff80_0000 == 0xd280_0000 {
            let hw = (i >> 21) & 3;
            x[rd] = ((i >> 5) & 0xffff) << (16 * hw);
        } else if i & 0xff80_0000 == 0xf280_0000 {
            let hw = (i >> 21) & 3;
            x[rd] = (x[rd] & !(0xffff << (16 * hw))) | (((i >> 5) & 0xffff) << (16 * hw));
        } else if i & 0xff00_0000 == 0x5800_0000 {
            let a = pc.wrapping_add((sext((i >> 5) & 0x7ffff, 19) * 4) as u64);
            x[rd] = mem.u64(a)?;
        } else if i & 0xffff_fc1f == 0xd61f_0000 {
            return Some(x[rn]);
        } else if i != 0xd503_201f {
            return None;
        }
        pc += 4;
    }
    None
}

/// Final destination of the branch at `p`: through a stub/veneer if the direct target is one.
fn branch_dest(mem: &Mem, p: u64, direct_ok: &dyn Fn(u64) -> bool) -> Option<u64> {
    let i = mem.u32(p)? as u64;
    let t = p.wrapping_add((sext(i & 0x3ff_ffff, 26) * 4) as u64);
    if direct_ok(t) {
        Some(t)
    } else {
        follow_stub(mem, t)
    }
}

fn adrp_page(i: u32, p: u64) -> u64 {
    let i = i as u64;
    let imm = ((i >> 29) & 3) | (((i >> 5) & 0x7ffff) << 2);
    (p & !0xfff).wrapping_add((sext(imm, 21) << 12) as u64)
}

/// The value a GOT-indirect sequence produces: the slot content (or, if the linker relaxed
/// the load into an ADD, the address itself).
fn got_value(mem: &Mem, adrp_p: u64, ld_p: u64) -> Option<u64> {
    let page = adrp_page(mem.u32(adrp_p)?, adrp_p);
    let ld = mem.u32(ld_p)? as u64;
    if ld & 0xffc0_0000 == 0xf940_0000 {
        mem.u64(page + ((ld >> 10) & 0xfff) * 8)
    } else if ld & 0xff80_0000 == 0x9100_0000 {
        Some(page + ((ld >> 10) & 0xfff))
    } else {
        None
    }
}

fn got_prel19_value(mem: &Mem, p: u64) -> Option<u64> {
    let i = mem.u32(p)? as u64;
    let a = p.wrapping_add((sext((i >> 5) & 0x7ffff, 19) * 4) as u64);
    if i & 0xff00_0000 == 0x5800_0000 {
        mem.u64(a)
    } else if i & 0x9f00_0000 == 0x1000_0000 {
        // relaxed to ADR
        Some(a)
    } else {
        None
    }
}

struct Case {
    name: String,
    object: PathBuf,
    externals: Vec<(String, u64)>,
}

/// Assign every import an address: `far_helper`/`far_func` beyond branch range, the rest
/// just below the module.
fn externals_for(obj_bytes: &[u8], fixed: &BTreeMap<String, u64>) -> Vec<(String, u64)> {
    let obj = Object::parse(obj_bytes).expect("fixture parses");
    obj.imports()
        .enumerate()
        .filter(|(_, (_, weak))| !weak)
        .map(|(i, (n, _))| {
            let a = fixed.get(n).copied().unwrap_or(match n {
                "far_helper" | "far_func" => FAR,
                _ => BASE - 0x8000 + 0x40 * i as u64,
            });
            (n.to_string(), a)
        })
        .collect()
}

fn differential(case: &Case) -> (usize, usize) {
    let ld = common::require("aarch64-linux-gnu-ld");
    let dir = common::scratch(&format!("diff-{}", case.name));
    let map_p = dir.join("map.json");
    let img_p = dir.join("image.bin");
    let script_p = dir.join("oracle.ld");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_modlink"));
    cmd.arg(&case.object)
        .arg("--base")
        .arg(format!("{BASE:#x}"))
        .arg("--map")
        .arg(&map_p)
        .arg("--out")
        .arg(&img_p)
        .arg("--ld-script")
        .arg(&script_p);
    for (n, a) in &case.externals {
        cmd.arg("--defsym").arg(format!("{n}={a:#x}"));
    }
    common::run(&mut cmd);
    let map: Value = serde_json::from_slice(&std::fs::read(&map_p).unwrap()).unwrap();
    let image = std::fs::read(&img_p).unwrap();
    let out_elf = dir.join("oracle.elf");
    common::run(
        Command::new(ld)
            .arg("-T")
            .arg(&script_p)
            .args(["-e", "0", "--no-check-sections", "--no-warn-rwx-segments"])
            .arg(&case.object)
            .arg("-o")
            .arg(&out_elf),
    );

    let ld_bytes = std::fs::read(&out_elf).unwrap();
    let ld_elf = ElfBytes::<LittleEndian>::minimal_parse(&ld_bytes).unwrap();
    let (shdrs, strtab) = ld_elf.section_headers_with_strtab().unwrap();
    let (shdrs, strtab) = (shdrs.unwrap(), strtab.unwrap());
    let mut ld_secs: BTreeMap<String, (u64, Vec<u8>)> = BTreeMap::new();
    let mut ld_mem = Mem(Vec::new());
    for sh in shdrs.iter() {
        if sh.sh_type != elf::abi::SHT_NOBITS && sh.sh_flags & elf::abi::SHF_ALLOC as u64 != 0 {
            let data = ld_elf.section_data(&sh).unwrap().0.to_vec();
            let name = strtab.get(sh.sh_name as usize).unwrap().to_string();
            ld_mem.0.push((sh.sh_addr, data.clone()));
            ld_secs.insert(name, (sh.sh_addr, data));
        }
    }
    let our_mem = Mem(vec![(BASE, image.clone())]);
    let veneers = map["regions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "veneers")
        .unwrap()
        .clone();
    let (ven_lo, ven_hi) = (
        veneers["addr"].as_u64().unwrap(),
        veneers["addr"].as_u64().unwrap() + veneers["size"].as_u64().unwrap(),
    );

    let obj_bytes = std::fs::read(&case.object).unwrap();
    let obj = Object::parse(&obj_bytes).unwrap();
    let mut compared = 0usize;
    let mut by_meaning = 0usize;
    let mut failures = Vec::new();
    for s in map["sections"].as_array().unwrap() {
        if s["region"] == "bss" {
            continue;
        }
        let index = s["index"].as_u64().unwrap() as usize;
        let name = s["name"].as_str().unwrap();
        let addr = s["addr"].as_u64().unwrap();
        let size = s["size"].as_u64().unwrap() as usize;
        let off = s["image_offset"].as_u64().unwrap() as usize;
        if obj.sections()[index].sh_type == elf::abi::SHT_NOBITS {
            continue;
        }
        let ours = &image[off..off + size];
        let Some((ld_addr, ld_data)) = ld_secs.get(&format!("o{index}")) else {
            failures.push(format!("{name}: GNU ld did not emit o{index}"));
            continue;
        };
        assert_eq!(*ld_addr, addr, "{name}: ld placed it elsewhere");
        let theirs = &ld_data[..size.min(ld_data.len())];
        if theirs.len() != size {
            failures.push(format!("{name}: ld output is shorter"));
            continue;
        }
        compared += size;
        // ld puts stubs at the end of the output section that needs them, overlapping the
        // next one (--no-check-sections): look in this section first.
        let mut chunks = vec![(addr, ld_data.clone())];
        chunks.extend(ld_mem.0.iter().cloned());
        let ld_mem = Mem(chunks);
        let relas: Vec<&modloader::Rela> = obj
            .relocations()
            .iter()
            .filter(|r| r.target == index)
            .flat_map(|r| &r.relas)
            .collect();
        let mut i = 0;
        while i < size {
            if ours[i] == theirs[i] {
                i += 1;
                continue;
            }
            let Some(r) = relas.iter().find(|r| {
                let w = reloc::place_size(r.rtype).unwrap_or(0) as u64;
                (r.offset..r.offset + w).contains(&(i as u64))
            }) else {
                failures.push(format!(
                    "{name}+{i:#x}: bytes differ ({:#04x} vs ld {:#04x}) with no relocation there",
                    ours[i], theirs[i]
                ));
                i += 1;
                continue;
            };
            let p = addr + r.offset;
            let same = match r.rtype {
                R_AARCH64_CALL26 | R_AARCH64_JUMP26 => {
                    let ours_d = branch_dest(&our_mem, p, &|t| !(ven_lo..ven_hi).contains(&t));
                    let ld_d = branch_dest(&ld_mem, p, &|t| {
                        // a direct branch lands on the symbol; a stub is code ld synthesized
                        ld_mem.u32(t).is_none() || follow_stub(&ld_mem, t).is_none()
                    });
                    ours_d.is_some() && ours_d == ld_d
                }
                R_AARCH64_GOT_LD_PREL19 => {
                    let a = got_prel19_value(&our_mem, p);
                    a.is_some() && a == got_prel19_value(&ld_mem, p)
                }
                R_AARCH64_ADR_GOT_PAGE | R_AARCH64_LD64_GOT_LO12_NC => {
                    // pair each ADRP with a load of the same GOT entry through the same register
                    let pair = relas.iter().find(|q| {
                        q.sym == r.sym
                            && q.addend == r.addend
                            && q.rtype != r.rtype
                            && matches!(
                                q.rtype,
                                R_AARCH64_ADR_GOT_PAGE | R_AARCH64_LD64_GOT_LO12_NC
                            )
                    });
                    match pair {
                        Some(q) => {
                            let (ap, lp) = if r.rtype == R_AARCH64_ADR_GOT_PAGE {
                                (p, addr + q.offset)
                            } else {
                                (addr + q.offset, p)
                            };
                            let a = got_value(&our_mem, ap, lp);
                            a.is_some() && a == got_value(&ld_mem, ap, lp)
                        }
                        None => false,
                    }
                }
                _ => false,
            };
            if same {
                by_meaning += 1;
            } else {
                failures.push(format!(
                    "{name}+{:#x}: {} against `{}`{:+#x} differs from GNU ld ({:02x?} vs {:02x?})",
                    r.offset,
                    RelocName(r.rtype),
                    obj.symbols()[r.sym as usize].name,
                    r.addend,
                    &ours[r.offset as usize..r.offset as usize + 4],
                    &theirs[r.offset as usize..r.offset as usize + 4],
                ));
            }
            i = (r.offset as usize + reloc::place_size(r.rtype).unwrap_or(1)).max(i + 1);
        }
    }

    // Symbol addresses agree too (COMMON symbols included).
    let (ld_syms, ld_strs) = ld_elf.symbol_table().unwrap().unwrap();
    let mut ld_by_name: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for sym in ld_syms.iter() {
        if let Ok(n) = ld_strs.get(sym.st_name as usize) {
            ld_by_name.entry(n).or_default().push(sym.st_value);
        }
    }
    for s in map["symbols"].as_array().unwrap() {
        let n = s["name"].as_str().unwrap();
        let a = s["addr"].as_u64().unwrap();
        match ld_by_name.get(n) {
            Some(v) if v.contains(&a) => {}
            Some(v) => failures.push(format!("symbol {n}: ours {a:#x}, ld {v:x?}")),
            None => failures.push(format!("symbol {n}: not in ld output")),
        }
    }
    assert!(
        failures.is_empty(),
        "{}: {} difference(s) from GNU ld:\n{}",
        case.name,
        failures.len(),
        failures.join("\n")
    );
    assert!(compared > 0, "{}: nothing compared", case.name);
    (compared, by_meaning)
}

fn fixtures() -> PathBuf {
    common::fixtures()
}

fn check_cases(cases: Vec<Case>) {
    let mut report = Vec::new();
    for c in &cases {
        let (n, m) = differential(c);
        report.push(format!(
            "{}: {n} bytes identical, {m} places equal by meaning",
            c.name
        ));
    }
    eprintln!("{}", report.join("\n"));
}

fn compile_case(name: &str, compiler: &Path, args: &[&str], src: &Path, dir: &Path) -> Case {
    let out = dir.join(format!("{name}.o"));
    common::run(
        Command::new(compiler)
            .args(args)
            .arg(src)
            .arg("-o")
            .arg(&out),
    );
    let bytes = std::fs::read(&out).unwrap();
    Case {
        name: name.to_string(),
        externals: externals_for(&bytes, &BTreeMap::new()),
        object: out,
    }
}

#[test]
fn asm_every_type_matches_gnu_ld() {
    let dir = common::scratch("diff-asm");
    let obj = dir.join("all_relocs.o");
    common::assemble(&fixtures().join("all_relocs.s"), &obj);
    let fixed: BTreeMap<String, u64> = [
        ("ext_abs64", 0x0123_4567_89ab_cdefu64),
        ("ext_abs48", 0x0000_8765_4321_fedc),
        ("ext_abs32", 0x89ab_cdef),
        ("ext_abs16", 0xbeef),
        ("ext_neg16", (-0x1234i64) as u64),
        ("ext_neg32", (-0x1234_5678i64) as u64),
        ("ext_neg48", (-0x1234_5678_9abci64) as u64),
        ("ext_pos48", 0x1234_5678_9abc),
        ("ext_data", 0x4800_0000),
        ("far_func", 0x5000_0000),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let bytes = std::fs::read(&obj).unwrap();
    let c = Case {
        name: "asm-all-types".into(),
        externals: externals_for(&bytes, &fixed),
        object: obj,
    };
    let (_, by_meaning) = differential(&c);
    assert!(
        by_meaning >= 4,
        "veneer and GOT places were compared by meaning"
    );
}

fn c_matrix(compiler_name: &str, extra: &[&str]) {
    let cc = common::require(compiler_name);
    let dir = common::scratch(&format!("diff-{compiler_name}"));
    let src = fixtures().join("module.c");
    let mut cases = Vec::new();
    for model in ["tiny", "small", "large"] {
        for pic in ["-fno-pic", "-fPIC"] {
            if model == "large" && pic == "-fPIC" {
                continue; // GCC and Clang reject -mcmodel=large with PIC on AArch64
            }
            let mflag = format!("-mcmodel={model}");
            let mut args: Vec<&str> = extra.to_vec();
            args.extend([
                "-O2",
                "-c",
                "-ffreestanding",
                "-fno-stack-protector",
                "-mgeneral-regs-only",
                mflag.as_str(),
                pic,
            ]);
            cases.push(compile_case(
                &format!("{compiler_name}-{model}{pic}"),
                &cc,
                &args,
                &src,
                &dir,
            ));
        }
    }
    // Many sections, COMMON symbols.
    let mut args: Vec<&str> = extra.to_vec();
    args.extend([
        "-O1",
        "-c",
        "-ffreestanding",
        "-mgeneral-regs-only",
        "-ffunction-sections",
        "-fdata-sections",
        "-fcommon",
    ]);
    cases.push(compile_case(
        &format!("{compiler_name}-sections-common"),
        &cc,
        &args,
        &src,
        &dir,
    ));
    check_cases(cases);
}

#[test]
fn gcc_c_matches_gnu_ld() {
    c_matrix("aarch64-linux-gnu-gcc", &[]);
}

#[test]
fn clang_c_matches_gnu_ld() {
    c_matrix("clang", &["--target=aarch64-linux-gnu"]);
}

#[test]
fn rustc_matches_gnu_ld() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let dir = common::scratch("diff-rustc");
    let src = fixtures().join("module.rs");
    let mut cases = Vec::new();
    for (name, flags) in [
        ("rust-static", &[][..]),
        ("rust-pic", &["-C", "relocation-model=pic"][..]),
        ("rust-large", &["-C", "code-model=large"][..]),
        ("rust-tiny", &["-C", "code-model=tiny"][..]),
    ] {
        let out = dir.join(format!("{name}.o"));
        let o = Command::new(&rustc)
            .args([
                "--edition=2021",
                "--crate-type=lib",
                "--target",
                "aarch64-unknown-none-softfloat",
                "--emit=obj",
                "-C",
                "panic=abort",
                "-O",
                "-C",
                "codegen-units=1",
            ])
            .args(flags)
            .arg(&src)
            .arg("-o")
            .arg(&out)
            .output()
            .expect("run rustc");
        assert!(
            o.status.success(),
            "rustc failed (is the target installed? `rustup target add aarch64-unknown-none-softfloat`):\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let bytes = std::fs::read(&out).unwrap();
        cases.push(Case {
            name: name.into(),
            externals: externals_for(&bytes, &BTreeMap::new()),
            object: out,
        });
    }
    check_cases(cases);
}
