//! Prints an oops for a real kernel ELF with made-up registers: every frame
//! names a real function, and `Code:` shows the real instructions.
//! `cargo run -p ksymgen --example demo_report -- kernel.elf`
use object::{Object, ObjectSection};
use oops::{Cause, MemReader, OopsInfo, Regs, StackRange, Table, Taint, EXCEPTION_FRAME_MARKER};
use std::collections::BTreeMap;

struct Mem<'a> {
    text: (u64, &'a [u8]),
    stack: BTreeMap<u64, u64>,
}

impl MemReader for Mem<'_> {
    fn read_u64(&self, a: u64) -> Option<u64> {
        self.stack.get(&a).copied()
    }
    fn read_u32(&self, a: u64) -> Option<u32> {
        let off = usize::try_from(a.checked_sub(self.text.0)?).ok()?;
        let b = self.text.1.get(off..off + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: demo_report ELF");
    let elf = std::fs::read(path).unwrap();
    let (bytes, stats) = ksymgen::build_table(&elf).unwrap();
    let t = Table::parse(&bytes).unwrap();
    let file = object::File::parse(&*elf).unwrap();
    let text = file.section_by_name(".text").unwrap();
    let funcs: Vec<_> = t
        .symbols()
        .filter(|s| s.is_func && s.size >= 0x40)
        .collect();
    let f = |i: usize| funcs[i * 7 % funcs.len()];
    let mut x = [0u64; 31];
    x[30] = f(2).start + 0x18;
    x[29] = 0x4100_0f00;
    let regs = Regs {
        x,
        pc: f(1).start + 0x14,
        sp: 0x4100_0ef0,
        pstate: 0x6000_03c5,
    };
    let mut stack = BTreeMap::new();
    let rec = |s: &mut BTreeMap<u64, u64>, at: u64, fp: u64, lr: u64| {
        s.insert(at, fp);
        s.insert(at + 8, lr);
    };
    rec(&mut stack, 0x4100_0f00, 0x4100_0f40, f(3).start + 0x20);
    rec(&mut stack, 0x4100_0f40, 0x4100_0f80, f(4).start + 0x10);
    stack.insert(0x4100_0f50, EXCEPTION_FRAME_MARKER);
    rec(&mut stack, 0x4100_0f80, 0, f(5).start + 0x1c);
    let mem = Mem {
        text: (text.address(), text.data().unwrap()),
        stack,
    };
    let stacks = [StackRange::new(0x4100_0000, 0x4100_1000)];
    let mut info = OopsInfo::new(
        &regs,
        Cause::Exception {
            esr: 0x9600_0046,
            far: 0x10,
        },
        &mem,
        &t,
    );
    info.modules = &"hello(O)";
    info.taint = Taint(Taint::OOT_MODULE);
    info.release = "0.1.0";
    info.build_id = t.build_id();
    info.hardware = "linux,dummy-virt (DT)";
    info.stacks = &stacks;
    let mut out = String::new();
    oops::write_report(&mut out, &info).unwrap();
    print!("{out}");
    eprintln!("\n{stats}");
}
