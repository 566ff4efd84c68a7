use super::*;
use crate::symtab::TableBuilder;
use crate::unwind::EXCEPTION_FRAME_MARKER;
use std::collections::BTreeMap;
use std::string::String;
use std::vec::Vec;

#[derive(Default)]
struct Mem(BTreeMap<u64, u64>);

impl Mem {
    fn rec(&mut self, at: u64, fp: u64, lr: u64) -> &mut Self {
        self.0.insert(at, fp);
        self.0.insert(at + 8, lr);
        self
    }
    fn word(&mut self, at: u64, v: u32) -> &mut Self {
        let e = self.0.entry(at & !7).or_insert(0);
        let sh = (at & 4) * 8;
        *e = (*e & !(0xffff_ffffu64 << sh)) | (u64::from(v) << sh);
        self
    }
}

impl MemReader for Mem {
    fn read_u64(&self, addr: u64) -> Option<u64> {
        self.0.get(&addr).copied()
    }
    fn read_u32(&self, addr: u64) -> Option<u32> {
        self.0
            .get(&(addr & !7))
            .map(|v| (v >> ((addr & 4) * 8)) as u32)
    }
}

fn table() -> Vec<u8> {
    let mut b = TableBuilder::new();
    b.build_id(&[0x5f, 0x3a]);
    b.symbol("kernel::shell::crash::null_write", 0x1000, 0x40, true);
    b.symbol("kernel::shell::crash::run", 0x1040, 0x40, true);
    b.symbol("kernel::shell::dispatch", 0x1080, 0x80, true);
    b.symbol("kernel::main", 0x2000, 0x100, true);
    b.symbol("kernel::exceptions::el1h_sync", 0x3000, 0x100, true);
    for a in (0x1000..0x1040).step_by(4) {
        b.line_row(
            a,
            "kernel/src/shell/crash.rs",
            40 + ((a - 0x1000) / 8) as u32,
        );
    }
    for a in (0x1040..0x1080).step_by(4) {
        b.line_row(
            a,
            "kernel/src/shell/crash.rs",
            10 + ((a - 0x1040) / 8) as u32,
        );
    }
    b.line_row(0x1080, "kernel/src/shell/mod.rs", 100);
    b.line_row(0x1100, "", 0);
    b.line_row(0x2000, "kernel/src/main.rs", 50);
    b.line_row(0x2100, "", 0);
    b.build().unwrap()
}

const STACKS: [StackRange; 1] = [StackRange::new(0x7000, 0x8000)];

fn base_regs() -> Regs {
    let mut r = Regs::default();
    for (i, x) in r.x.iter_mut().enumerate() {
        *x = i as u64;
    }
    r.x[29] = 0x7f00;
    r.x[30] = 0x1050;
    r.sp = 0x7ef0;
    r.pc = 0x1014;
    r.pstate = 0x8000_0005;
    r
}

fn base_mem() -> Mem {
    let mut m = Mem::default();
    m.rec(0x7f00, 0x7f40, 0x1050)
        .rec(0x7f40, 0x7f80, 0x10a0)
        .rec(0x7f80, 0, 0x2010);
    m.word(0x1004, 0xd280_0001)
        .word(0x1008, 0xd280_0000)
        .word(0x100c, 0xf900_03e1)
        .word(0x1010, 0xaa00_03e1)
        .word(0x1014, 0xb900_003f);
    m
}

fn render(info: &OopsInfo<'_>) -> String {
    let mut s = String::new();
    write_report(&mut s, info).unwrap();
    s
}

#[test]
fn full_null_pointer_report() {
    let bytes = table();
    let t = Table::parse(&bytes).unwrap();
    let regs = base_regs();
    let mem = base_mem();
    let mut info = OopsInfo::new(
        &regs,
        Cause::Exception {
            esr: 0x9600_0045,
            far: 0,
        },
        &mem,
        &t,
    );
    info.modules = &"hello(O)";
    info.taint = Taint(Taint::OOT_MODULE);
    info.release = "0.1.0";
    info.build_id = t.build_id();
    info.hardware = "linux,dummy-virt (DT)";
    info.stacks = &STACKS;
    let out = render(&info);
    let expected = "\
Unable to handle kernel NULL pointer dereference at virtual address 0000000000000000
Mem abort info:
  ESR = 0x0000000096000045
  EC = 0x25: DABT (current EL), IL = 32 bits
  SET = 0, FnV = 0
  EA = 0, S1PTW = 0
  FSC = 0x05: level 1 translation fault
Data abort info:
  ISV = 0, ISS = 0x00000045
  CM = 0, WnR = 1
Internal error: Oops: 0000000096000045 [#1]
Modules linked in: hello(O)
CPU: 0 Tainted: G           O       0.1.0 build-id 5f3a
Hardware name: linux,dummy-virt (DT)
pstate: 80000005 (Nzcv daif -PAN -UAO -TCO -DIT -SSBS BTYPE=--)
pc : kernel::shell::crash::null_write+0x14/0x40 (kernel/src/shell/crash.rs:42)
lr : kernel::shell::crash::run+0x10/0x40 (kernel/src/shell/crash.rs:11)
sp : 0000000000007ef0
x29: 0000000000007f00 x28: 000000000000001c x27: 000000000000001b
x26: 000000000000001a x25: 0000000000000019 x24: 0000000000000018
x23: 0000000000000017 x22: 0000000000000016 x21: 0000000000000015
x20: 0000000000000014 x19: 0000000000000013 x18: 0000000000000012
x17: 0000000000000011 x16: 0000000000000010 x15: 000000000000000f
x14: 000000000000000e x13: 000000000000000d x12: 000000000000000c
x11: 000000000000000b x10: 000000000000000a x9 : 0000000000000009
x8 : 0000000000000008 x7 : 0000000000000007 x6 : 0000000000000006
x5 : 0000000000000005 x4 : 0000000000000004 x3 : 0000000000000003
x2 : 0000000000000002 x1 : 0000000000000001 x0 : 0000000000000000
Call trace:
 kernel::shell::crash::null_write+0x14/0x40 (kernel/src/shell/crash.rs:42)
 kernel::shell::crash::run+0x10/0x40 (kernel/src/shell/crash.rs:11)
 kernel::shell::dispatch+0x20/0x80 (kernel/src/shell/mod.rs:100)
 kernel::main+0x10/0x100 (kernel/src/main.rs:50)
Code: d2800001 d2800000 f90003e1 aa0003e1 (b900003f)
---[ end trace 0000000000000001 ]---
";
    assert_eq!(out, expected, "\n{out}");
}

#[test]
fn leaf_function_shows_lr_and_unreadable_code() {
    let bytes = table();
    let t = Table::parse(&bytes).unwrap();
    let mut regs = base_regs();
    // Leaf: x29 still points at the caller's record (run's), lr into run.
    regs.x[29] = 0x7f40;
    let mut mem = base_mem();
    mem.0.remove(&0x1008); // words at 0x1008 and 0x100c unreadable
    let mut info = OopsInfo::new(
        &regs,
        Cause::Exception {
            esr: 0x9600_0046,
            far: 0x8,
        },
        &mem,
        &t,
    );
    info.stacks = &STACKS;
    let out = render(&info);
    let trace: Vec<&str> = out.lines().skip_while(|l| *l != "Call trace:").collect();
    assert_eq!(
        trace,
        [
            "Call trace:",
            " kernel::shell::crash::null_write+0x14/0x40 (kernel/src/shell/crash.rs:42)",
            " kernel::shell::crash::run+0x10/0x40 (kernel/src/shell/crash.rs:11) (L)",
            " kernel::shell::dispatch+0x20/0x80 (kernel/src/shell/mod.rs:100)",
            " kernel::main+0x10/0x100 (kernel/src/main.rs:50)",
            "Code: d2800001 ???????? ???????? aa0003e1 (b900003f)",
            "---[ end trace 0000000000000001 ]---",
        ]
    );
    assert!(out.starts_with(
        "Unable to handle kernel NULL pointer dereference at virtual address 0000000000000008\n"
    ));
    assert!(out.contains("\nModules linked in:\nCPU: 0 Not tainted\n"));
}

#[test]
fn lr_in_same_function_is_not_repeated() {
    let bytes = table();
    let t = Table::parse(&bytes).unwrap();
    let mut regs = base_regs();
    regs.x[30] = 0x100c; // stale lr inside null_write itself
    let mem = base_mem();
    let mut info = OopsInfo::new(
        &regs,
        Cause::Exception {
            esr: 0x9600_0045,
            far: 0,
        },
        &mem,
        &t,
    );
    info.stacks = &STACKS;
    let out = render(&info);
    assert!(!out.contains("(L)"), "{out}");
}

#[test]
fn exception_boundary_and_unknown_addresses() {
    let bytes = table();
    let t = Table::parse(&bytes).unwrap();
    let mut regs = base_regs();
    regs.pc = 0x3010; // in the handler
    regs.x[30] = 0x3008;
    regs.x[29] = 0x7e00;
    let mut mem = base_mem();
    // handler record -> exception record (interrupted pc 0x1014 in null_write) -> run's record
    mem.rec(0x7e00, 0x7e80, 0x3100 - 0x80)
        .rec(0x7e80, 0x7f40, 0x1014)
        .rec(0x7f40, 0x7f80, 0xdead_0000);
    mem.0.insert(0x7e90, EXCEPTION_FRAME_MARKER);
    mem.0.insert(0x7e80 - 48, 0x1050); // saved x30 in the trap frame
    let mut info = OopsInfo::new(
        &regs,
        Cause::Exception {
            esr: 0x0200_0000,
            far: 0,
        },
        &mem,
        &t,
    );
    info.stacks = &STACKS;
    info.oops_count = 3;
    let out = render(&info);
    assert!(out.starts_with("Exception info:\n  ESR = 0x0000000002000000\n  EC = 0x00: Unknown/Uncategorized, IL = 32 bits\n  ISS = 0x00000000\nInternal error: Oops - Undefined instruction: 0000000002000000 [#3]\n"), "{out}");
    assert!(
        out.contains(
            " kernel::shell::crash::null_write+0x14/0x40 (kernel/src/shell/crash.rs:42) (P)\n"
        ),
        "{out}"
    );
    assert!(out.contains("\n 0xdead0000\n"), "{out}");
    assert!(out.ends_with("---[ end trace 0000000000000003 ]---\n"));
    // With the trap frame's saved x30 known, the interrupted leaf's caller
    // (run, whose record is missing here) is shown after the (P) frame.
    info.trap_lr_offset = Some(-48);
    let out = render(&info);
    assert!(out.contains(" (kernel/src/shell/crash.rs:42) (P)\n kernel::shell::crash::run+0x10/0x40 (kernel/src/shell/crash.rs:11) (L)\n 0xdead0000\n"), "{out}");
}

#[test]
fn headlines() {
    let bytes = table();
    let t = Table::parse(&bytes).unwrap();
    let regs = base_regs();
    let mem = base_mem();
    let first = |cause| {
        let info = OopsInfo::new(&regs, cause, &mem, &t);
        let s = render(&info);
        let l: Vec<String> = s.lines().take(2).map(String::from).collect();
        l.join("\n")
    };
    let ex = |esr, far| Cause::Exception { esr, far };
    assert!(first(ex(0x9600_004f, 0x4008_0000)).starts_with(
        "Unable to handle kernel write to read-only memory at virtual address 0000000040080000"
    ));
    assert!(first(ex(0x8600_000f, 0x4010_0000)).starts_with(
        "Unable to handle kernel execute from non-executable memory at virtual address"
    ));
    assert!(first(ex(0x9600_000f, 0x4010_0000))
        .starts_with("Unable to handle kernel read from unreadable memory at"));
    assert!(first(ex(0x9600_0007, 0xffff_0000_dead_0000))
        .starts_with("Unable to handle kernel paging request at virtual address ffff0000dead0000"));
    assert!(first(ex(0xf200_0001, 0)).starts_with("Unexpected kernel BRK exception at EL1"));
    let info = OopsInfo::new(&regs, ex(0xf200_0001, 0), &mem, &t);
    assert!(render(&info).contains("Internal error: Oops - BRK: 00000000f2000001 [#1]\n"));
    let info = OopsInfo::new(&regs, ex(0x9a00_0000, 0), &mem, &t);
    assert!(render(&info)
        .contains("Internal error: Oops - SP/PC alignment exception: 000000009a000000 [#1]\n"));
    let info = OopsInfo::new(&regs, Cause::UnexpectedIrq, &mem, &t);
    assert!(render(&info).starts_with(
        "Unhandled IRQ exception on CPU0, ESR 0x0000000000000000 -- Unknown/Uncategorized\nInternal error: Oops - Unhandled IRQ exception: 0000000000000000 [#1]\n"
    ));
}

#[test]
fn panic_report() {
    let bytes = table();
    let t = Table::parse(&bytes).unwrap();
    let regs = base_regs();
    let mem = base_mem();
    let msg = format_args!(
        "index out of bounds: the len is {} but the index is {}",
        3, 7
    );
    let info = OopsInfo::new(
        &regs,
        Cause::Panic {
            message: &msg,
            location: Some(PanicLocation {
                file: "kernel/src/foo.rs",
                line: 12,
                column: 5,
            }),
        },
        &mem,
        &t,
    );
    let out = render(&info);
    assert!(out.starts_with(
        "Kernel panic - not syncing: index out of bounds: the len is 3 but the index is 7\n  at kernel/src/foo.rs:12:5\nModules linked in:\nCPU: 0 Not tainted\npstate: "
    ), "{out}");
    assert!(out.contains("\nCall trace:\n"));
    assert!(!out.contains("Code:"));
    assert!(out.ends_with(
        "---[ end Kernel panic - not syncing: index out of bounds: the len is 3 but the index is 7 ]---\n"
    ));
}

#[test]
fn pstate_and_taint() {
    let mut s = String::new();
    write_pstate(&mut s, 0x6000_03c5 | 1 << 22 | 1 << 12 | 1 << 10).unwrap();
    assert_eq!(
        s,
        "pstate: 604017c5 (nZCv DAIF +PAN -UAO -TCO -DIT +SSBS BTYPE=jc)\n"
    );
    assert_eq!(std::format!("{}", Taint(0)), "Not tainted");
    assert_eq!(
        std::format!(
            "{}",
            Taint(Taint::DIE | Taint::OOT_MODULE | Taint::PROPRIETARY_MODULE)
        ),
        "Tainted: P      D    O      "
    );
}

#[test]
fn raw_hex_fallback_and_no_symbols() {
    let regs = base_regs();
    let mut s = String::new();
    write_raw_hex_report(&mut s, &regs, 0x9600_0045, 0x10).unwrap();
    assert!(s.contains("ESR: 0000000096000045 FAR: 0000000000000010\n"));
    assert!(s.contains("pc : 0000000000001014 lr : 0000000000001050"));
    assert!(s.contains("x2 : 0000000000000002 x1 : 0000000000000001 x0 : 0000000000000000\n"));
    // Report with no symbols and no stacks at all.
    let mem = Mem::default();
    let info = OopsInfo::new(
        &regs,
        Cause::Exception {
            esr: 0x9600_0045,
            far: 0,
        },
        &mem,
        &NoSymbols,
    );
    let out = render(&info);
    assert!(out.contains("pc : 0x1014\nlr : 0x1050\n"));
    assert!(out.contains("Call trace:\n 0x1014\n 0x1050 (L)\nCode: ???????? ???????? ???????? ???????? (????????)\n"), "{out}");
}

#[test]
fn composite_symbolizer() {
    let bytes = table();
    let t = Table::parse(&bytes).unwrap();
    struct Module;
    impl Symbolizer for Module {
        fn symbolize(
            &self,
            addr: u64,
            lookup: u64,
            w: &mut dyn fmt::Write,
        ) -> Result<bool, fmt::Error> {
            if (0x9000..0x9100).contains(&lookup) {
                write!(w, "hello_init+{:#x}/0x100 [hello]", addr - 0x9000)?;
                return Ok(true);
            }
            Ok(false)
        }
    }
    let list: [&dyn Symbolizer; 2] = [&t, &Module];
    let mut s = String::new();
    assert!(list[..].symbolize(0x9010, 0x9010, &mut s).unwrap());
    assert_eq!(s, "hello_init+0x10/0x100 [hello]");
    s.clear();
    assert!(list[..].symbolize(0x2004, 0x2004, &mut s).unwrap());
    assert_eq!(s, "kernel::main+0x4/0x100 (kernel/src/main.rs:50)");
    s.clear();
    assert!(!list[..].symbolize(0x5000, 0x5000, &mut s).unwrap());
    assert!(s.is_empty());
}

/// Inline records: the pc frame shows its own function's line (the call site) and one
/// `(inlined)` line per level, innermost first; a return address is looked up at the
/// call instruction (return address - 4) for its chain too.
#[test]
fn call_trace_prints_inlined_levels() {
    let mut b = TableBuilder::new();
    b.symbol("kernel::shell::crash::null_write", 0x1000, 0x40, true);
    b.symbol("kernel::shell::crash::run", 0x1040, 0x40, true);
    b.symbol("kernel::main", 0x2000, 0x100, true);
    b.line_row(0x1000, "kernel/src/shell/crash.rs", 40);
    b.line_row(0x1010, "core/src/ptr/mod.rs", 2178);
    b.line_row(0x1018, "kernel/src/shell/crash.rs", 44);
    b.line_row(0x1040, "kernel/src/shell/crash.rs", 10);
    b.line_row(0x1080, "", 0);
    b.line_row(0x2000, "kernel/src/main.rs", 50);
    b.line_row(0x2100, "", 0);
    // null_write inlines write_volatile (at crash.rs:42), which inlines check (ptr:2170).
    b.inline(
        0x1010,
        0x1018,
        0,
        "core::ptr::write_volatile::<u64>",
        "kernel/src/shell/crash.rs",
        42,
    );
    b.inline(
        0x1014,
        0x1018,
        1,
        "core::ub_checks::check",
        "core/src/ptr/mod.rs",
        2170,
    );
    // run inlines dispatch at crash.rs:12 over the call that returns to 0x1050.
    b.inline(
        0x1048,
        0x1050,
        0,
        "kernel::shell::dispatch",
        "kernel/src/shell/crash.rs",
        12,
    );
    let bytes = b.build().unwrap();
    let t = Table::parse(&bytes).unwrap();
    let mut regs = base_regs();
    regs.x[30] = 0x1050;
    let mut m = Mem::default();
    m.rec(0x7f00, 0x7f40, 0x1050).rec(0x7f40, 0, 0x2010);
    let info = OopsInfo {
        stacks: &STACKS,
        ..OopsInfo::new(
            &regs,
            Cause::Exception {
                esr: 0x9600_0045,
                far: 0,
            },
            &m,
            &t,
        )
    };
    let r = render(&info);
    let trace: Vec<&str> = r
        .lines()
        .skip_while(|l| *l != "Call trace:")
        .skip(1)
        .take_while(|l| !l.starts_with("Code:"))
        .collect();
    assert_eq!(
        trace,
        [
            " kernel::shell::crash::null_write+0x14/0x40 (kernel/src/shell/crash.rs:42)",
            "    core::ub_checks::check (core/src/ptr/mod.rs:2178) (inlined)",
            "    core::ptr::write_volatile::<u64> (core/src/ptr/mod.rs:2170) (inlined)",
            " kernel::shell::crash::run+0x10/0x40 (kernel/src/shell/crash.rs:12)",
            "    kernel::shell::dispatch (kernel/src/shell/crash.rs:10) (inlined)",
            " kernel::main+0x10/0x100 (kernel/src/main.rs:50)",
        ],
        "{r}"
    );
    assert!(
        r.contains(
            "pc : kernel::shell::crash::null_write+0x14/0x40 (kernel/src/shell/crash.rs:42)\n"
        ),
        "{r}"
    );
}
