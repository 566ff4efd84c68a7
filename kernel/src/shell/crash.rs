//! `crash KIND`: raise each kind of fault on purpose, and `ksym`: look symbols up.

use crate::println;
use alloc::format;
use alloc::string::String;
use core::sync::atomic::Ordering;

/// Registers `crash`, `ksym` and `ksymbench`.
pub fn register_all() {
    let cmds: [(&str, &str, super::Handler); 3] = [
        (
            "crash",
            "crash KIND: raise a fault on purpose (crash list)",
            crash,
        ),
        (
            "ksym",
            "ksym ADDRESS|NAME ...: symbolize addresses / find names",
            ksym,
        ),
        (
            "ksymbench",
            "time a lookup of every symbol in the embedded table",
            ksymbench,
        ),
    ];
    for (name, help, handler) in cmds {
        let _ = super::register(name, help, handler);
    }
}

const KINDS: [(&str, &str); 13] = [
    ("null-read", "read from address 0"),
    ("null-write", "write to address 0"),
    ("rodata-write", "write to read-only data"),
    ("exec-data", "jump into non-executable data (NX)"),
    ("undef", "execute an undefined instruction"),
    ("brk", "execute an unhandled brk"),
    ("misaligned-sp", "use a misaligned stack pointer"),
    ("stack-overflow", "recurse into the stack guard page"),
    ("panic", "Rust panic"),
    ("irq", "fault inside the timer interrupt handler"),
    ("deep", "fault at the end of a known call chain a -> b -> c"),
    ("unexpected-irq", "raise an interrupt nothing handles"),
    (
        "report-fault",
        "fault again while the oops report is being printed",
    ),
];

fn crash(args: &[&str]) -> Result<(), String> {
    let kind = match args {
        [k] => *k,
        _ => "list",
    };
    match kind {
        "null-read" => null_read(),
        "null-write" => null_write(),
        "rodata-write" => rodata_write(),
        "exec-data" => exec_data(),
        "undef" => undef(),
        "brk" => brk(),
        "misaligned-sp" => misaligned_sp(),
        "stack-overflow" => {
            stack_overflow(1);
        }
        "panic" => panic!("crash: deliberate panic"),
        "irq" => {
            // The next tick faults in the IRQ handler.
            crate::irq::add_tick_hook(irq_fault).map_err(|e| alloc::format!("{e}"))?;
            loop {
                arch::cpu::wait_for_interrupt();
            }
        }
        "deep" => crash_a(),
        "unexpected-irq" => {
            crate::irq::raise_unexpected();
            loop {
                arch::cpu::wait_for_interrupt();
            }
        }
        "report-fault" => {
            crate::fault::report::FAULT_WHILE_REPORTING.store(true, Ordering::Relaxed);
            null_read();
        }
        _ => {
            println!("crash kinds:");
            for (k, what) in KINDS {
                println!("  {k:<15} {what}");
            }
            if kind != "list" {
                return Err(format!("unknown kind '{kind}'"));
            }
        }
    }
    Ok(())
}

#[inline(never)]
fn irq_fault() {
    // SAFETY: deliberately reads the unmapped page 0 (the point of `crash irq`).
    let v = unsafe { core::ptr::read_volatile(core::hint::black_box(8usize) as *const u64) };
    core::hint::black_box(v);
}

#[inline(never)]
fn null_read() {
    // SAFETY: deliberately reads the unmapped page 0 (the point of this command).
    let v = unsafe { core::ptr::read_volatile(core::hint::black_box(0usize) as *const u64) };
    core::hint::black_box(v);
}

#[inline(never)]
fn null_write() {
    // SAFETY: deliberately writes the unmapped page 0 (the point of this command).
    unsafe { core::ptr::write_volatile(core::hint::black_box(0usize) as *mut u64, 0xdead) };
}

static RODATA: [u64; 2] = [0x1122_3344_5566_7788, 0];

#[inline(never)]
fn rodata_write() {
    let p = core::hint::black_box(RODATA.as_ptr()) as *mut u64;
    // SAFETY: deliberately writes read-only memory (the point of this command).
    unsafe { core::ptr::write_volatile(p, 0) };
}

static mut DATA_CODE: [u32; 2] = [0xd65f_03c0, 0]; // ret

#[inline(never)]
fn exec_data() {
    let addr = core::hint::black_box(core::ptr::addr_of!(DATA_CODE) as usize);
    // SAFETY: deliberately branches into RW+NX data (the point of this command).
    let f: extern "C" fn() = unsafe { core::mem::transmute(addr) };
    f();
}

#[inline(never)]
fn undef() {
    // SAFETY: deliberately executes a permanently undefined instruction.
    unsafe { core::arch::asm!("udf #0x2a") };
}

#[inline(never)]
fn brk() {
    // SAFETY: deliberately executes a brk nobody handles.
    unsafe { core::arch::asm!("brk #0x800") };
}

#[inline(never)]
fn misaligned_sp() {
    // On hardware, SCTLR_EL1.SA (set at boot) makes any load through a misaligned SP an SP
    // alignment fault (EC 0x26). QEMU's TCG does not model that check, so alignment
    // checking (SCTLR_EL1.A) is switched on too: then QEMU raises an alignment fault for
    // the same load. The oops path switches A off again before it formats anything.
    arch::cpu::set_alignment_check(true);
    // SAFETY: deliberately misaligns SP and loads through it; the fault never returns here.
    unsafe {
        core::arch::asm!("mov x9, sp", "sub x9, x9, #4", "mov sp, x9", "ldr x10, [sp]", out("x9") _, out("x10") _)
    };
}

#[inline(never)]
#[allow(unconditional_recursion)] // the recursion into the guard page is the point
fn stack_overflow(depth: u64) -> u64 {
    let mut buf = [0u8; 1024];
    buf[(depth % 1024) as usize] = depth as u8;
    core::hint::black_box(&mut buf);
    stack_overflow(depth + 1) + buf[(depth % 7) as usize] as u64
}

#[inline(never)]
fn crash_a() {
    crash_b();
    core::hint::black_box(1);
}

#[inline(never)]
fn crash_b() {
    crash_c();
    core::hint::black_box(2);
}

#[inline(never)]
fn crash_c() {
    // SAFETY: deliberately writes the unmapped page 0 at the end of a known call chain. A
    // plain store instruction keeps the faulting pc's line in this file.
    unsafe {
        core::arch::asm!("str {v:w}, [{a}]", a = in(reg) core::hint::black_box(0x10usize), v = in(reg) 0xcu32)
    };
}

fn parse_addr(s: &str) -> Option<u64> {
    let h = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    u64::from_str_radix(h, 16).ok()
}

fn ksym(args: &[&str]) -> Result<(), String> {
    if args.is_empty() {
        return Err("usage: ksym 0xADDRESS|NAME ...".into());
    }
    let syms = crate::fault::report::KernelSymbols::new();
    let table = crate::platform::kallsyms::table().map_err(|e| format!("no symbol table: {e}"))?;
    for a in args {
        if let Some(addr) = parse_addr(a) {
            let mut out = String::new();
            match oops::Symbolizer::symbolize(&syms, addr, addr, &mut out) {
                Ok(true) => {
                    println!("{addr:#018x} {out}");
                    let mut inl = String::new();
                    let _ = oops::Symbolizer::write_inlined(&syms, addr, &mut inl);
                    for l in inl.lines() {
                        println!("{l}");
                    }
                }
                _ => println!("{addr:#018x} ?"),
            }
        } else {
            match table.find(a) {
                Some(addr) => println!("{a} {addr:#018x}"),
                None => println!("{a}: not found"),
            }
        }
    }
    Ok(())
}

fn ksymbench(_: &[&str]) -> Result<(), String> {
    let table = crate::platform::kallsyms::table().map_err(|e| format!("no symbol table: {e}"))?;
    let addrs: alloc::vec::Vec<u64> = table.symbols().map(|s| s.start + s.size / 2).collect();
    let (c0, f) = boards::timer::now();
    let mut found = 0usize;
    let rounds = 5;
    for _ in 0..rounds {
        for &a in &addrs {
            if table.lookup(core::hint::black_box(a)).is_some() {
                found += 1;
            }
        }
    }
    let (c1, _) = boards::timer::now();
    let ns = (c1 - c0) as u128 * 1_000_000_000 / f as u128;
    let per = ns / (addrs.len() * rounds).max(1) as u128;
    let mut lines = 0usize;
    let (l0, _) = boards::timer::now();
    for &a in &addrs {
        if table.line(a).is_some() {
            lines += 1;
        }
    }
    let (l1, _) = boards::timer::now();
    let lns = (l1 - l0) as u128 * 1_000_000_000 / f as u128 / addrs.len().max(1) as u128;
    println!("ksymbench: {} symbols, {} lookups found, {per} ns per address lookup, {lns} ns per line lookup ({lines} with lines)", addrs.len(), found);
    // A whole call-trace frame: name+offset/size, the frame's own line and every inlined
    // level with its name and line, formatted into a sink that drops the text.
    struct Sink;
    impl core::fmt::Write for Sink {
        fn write_str(&mut self, _: &str) -> core::fmt::Result {
            Ok(())
        }
    }
    let syms = crate::fault::report::KernelSymbols::new();
    // One pass first, so the numbers are not QEMU translating the code the first time.
    for &a in &addrs {
        let _ = oops::Symbolizer::symbolize(&syms, a, a, &mut Sink);
        let _ = oops::Symbolizer::write_inlined(&syms, a, &mut Sink);
    }
    let (mut total, mut worst, mut levels) = (0u64, 0u64, 0usize);
    for &a in &addrs {
        let (t0, _) = boards::timer::now();
        let _ = oops::Symbolizer::symbolize(&syms, a, a, &mut Sink);
        let _ = oops::Symbolizer::write_inlined(&syms, a, &mut Sink);
        let (t1, _) = boards::timer::now();
        total += t1 - t0;
        worst = worst.max(t1 - t0);
        levels += table.inline_chain(a).len();
    }
    let us = |t: u64| t as f64 * 1e6 / f as f64;
    println!(
        "ksymbench: frame with its inline chain: {:.1} us average, {:.1} us worst ({} addresses, {} inlined levels)",
        us(total) / addrs.len().max(1) as f64,
        us(worst),
        addrs.len(),
        levels
    );
    Ok(())
}
