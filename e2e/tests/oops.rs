//! Oops reports: raise every `crash` kind in the real kernel and check the real report
//! against the real image.

use e2e::{boot, cmd, T};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};
use qemu_harness::kernel_elf;
use std::collections::HashMap;

/// Boots, runs `crash KIND`, waits for the end marker and QEMU's failure exit.
fn crash(kind: &str) -> String {
    let mut g = boot();
    g.send(format!("crash {kind}\r").as_bytes()).unwrap();
    let end = if kind == "panic" {
        "---[ end Kernel panic - not syncing: crash: deliberate panic ]---"
    } else {
        "---[ end trace"
    };
    let report = g
        .expect(end, T)
        .unwrap_or_else(|e| panic!("crash {kind}: {e}"));
    let status = g.wait_exit(T).unwrap();
    assert_eq!(
        status,
        Some(1),
        "after an oops QEMU must exit with status 1 under semihosting"
    );
    report.replace('\r', "")
}

fn assert_common(r: &str, internal: &str) {
    for needle in [
        internal,
        "Modules linked in:",
        "CPU: 0 ",
        "0.1.0 build-id ",
        "Hardware name: linux,dummy-virt (DT)",
        "pstate: ",
        "pc : ",
        "lr : ",
        "sp : ",
        "x29: ",
        "x2 : ",
        "x1 : ",
        "x0 : ",
        "Call trace:",
        "Code: ",
    ] {
        assert!(r.contains(needle), "missing {needle:?} in:\n{r}");
    }
    // x29 .. x0, three per line.
    let regs: Vec<&str> = r
        .lines()
        .filter(|l| l.starts_with('x') && l.contains(": "))
        .collect();
    assert_eq!(regs.len(), 10, "{r}");
}

#[test]
fn null_read_report() {
    let r = crash("null-read");
    assert!(
        r.contains(
            "Unable to handle kernel NULL pointer dereference at virtual address 0000000000000000"
        ),
        "{r}"
    );
    assert!(
        r.contains("EC = 0x25: DABT (current EL), IL = 32 bits"),
        "{r}"
    );
    assert!(r.contains("WnR = 0"), "{r}");
    assert!(r.contains("translation fault"), "{r}");
    assert_common(&r, "Internal error: Oops: 0000000096000007 [#1]");
    assert!(r.contains("pc : kernel::shell::crash::null_read+0x"), "{r}");
}

#[test]
fn null_write_report() {
    let r = crash("null-write");
    assert!(r.contains("NULL pointer dereference"), "{r}");
    assert!(r.contains("WnR = 1"), "{r}");
    assert!(
        r.contains("pc : kernel::shell::crash::null_write+0x"),
        "{r}"
    );
    assert_common(&r, "Internal error: Oops: 0000000096000047 [#1]");
}

#[test]
fn rodata_write_report() {
    let r = crash("rodata-write");
    assert!(
        r.contains("Unable to handle kernel write to read-only memory at virtual address"),
        "{r}"
    );
    assert!(r.contains("FSC = 0x0f: level 3 permission fault"), "{r}");
    assert_common(&r, "Internal error: Oops: 000000009600004f [#1]");
}

#[test]
fn exec_data_report() {
    let r = crash("exec-data");
    assert!(
        r.contains("Unable to handle kernel execute from non-executable memory at virtual address"),
        "{r}"
    );
    assert!(r.contains("EC = 0x21: IABT (current EL)"), "{r}");
    assert!(
        r.contains("pc : kernel::shell::crash::DATA_CODE+0x0/0x8"),
        "{r}"
    );
    assert!(r.contains("kernel::shell::crash::exec_data+"), "{r}");
    assert_common(&r, "Internal error: Oops: 000000008600000f [#1]");
}

#[test]
fn undefined_instruction_report() {
    let r = crash("undef");
    assert!(r.contains("EC = 0x00: Unknown/Uncategorized"), "{r}");
    assert_common(
        &r,
        "Internal error: Oops - Undefined instruction: 0000000002000000 [#1]",
    );
    assert!(
        r.contains("(0000002a)"),
        "the Code: line must end with the udf #0x2a word: {r}"
    );
}

#[test]
fn brk_report() {
    let r = crash("brk");
    assert_common(&r, "Internal error: Oops - BRK: 00000000f2000800 [#1]");
    assert!(r.contains("(d4210000)"), "{r}");
}

#[test]
fn misaligned_sp_report() {
    let r = crash("misaligned-sp");
    assert!(
        r.contains("pc : kernel::shell::crash::misaligned_sp+0x"),
        "{r}"
    );
    assert!(r.contains("alignment fault"), "{r}");
}

#[test]
fn stack_overflow_is_reported_from_the_exception_stack() {
    let r = crash("stack-overflow");
    assert!(
        r.contains("Kernel stack overflow: the task stack hit its guard page"),
        "{r}"
    );
    assert!(r.contains("kernel::shell::crash::stack_overflow+0x"), "{r}");
    assert_common(&r, "Internal error: Oops: ");
}

#[test]
fn panic_prints_message_and_location_first() {
    let r = crash("panic");
    let msg = r
        .find("Kernel panic - not syncing: crash: deliberate panic")
        .expect(&r);
    let at = r.find("at kernel/src/shell/crash.rs:").expect(&r);
    let trace = r.find("Call trace:").expect(&r);
    assert!(msg < at && at < trace, "{r}");
    assert!(r.contains("kernel::shell::crash::crash+"), "{r}");
}

#[test]
fn fault_in_irq_shows_handler_then_interrupted_frames() {
    let r = crash("irq");
    let trace = &r[r.find("Call trace:").expect(&r)..];
    let handler = trace.find("kernel::shell::crash::irq_fault+").expect(trace);
    let trap = trace.find("kernel_trap+").expect(trace);
    let marked = trace
        .lines()
        .find(|l| l.ends_with(" (P)"))
        .unwrap_or_else(|| panic!("no frame from saved registers: {trace}"));
    let interrupted = trace.find(marked).unwrap();
    let shell = trace.find("kernel::shell::run+").expect(trace);
    assert!(
        handler < trap && trap < interrupted && interrupted < shell,
        "{trace}"
    );
    assert!(marked.contains("kernel::shell::crash::crash+"), "{marked}");
}

/// Line numbers of the calls in the a -> b -> c chain, read from the source.
fn line_of(src: &str, func: &str, needle: &str) -> usize {
    let start = src.find(&format!("fn {func}()")).unwrap();
    let off = src[start..].find(needle).unwrap() + start;
    src[..off].lines().count()
}

#[test]
fn known_call_chain_unwinds_with_symbols_and_lines() {
    let r = crash("deep");
    let src =
        std::fs::read_to_string(qemu_harness::workspace_root().join("kernel/src/shell/crash.rs"))
            .unwrap();
    let la = line_of(&src, "crash_a", "crash_b();");
    let lb = line_of(&src, "crash_b", "crash_c();");
    let lc = line_of(&src, "crash_c", "core::arch::asm!");
    let trace: Vec<&str> = r[r.find("Call trace:").unwrap()..]
        .lines()
        .skip(1)
        .collect();
    let want = [
        "kernel::shell::crash::crash_c+",
        "kernel::shell::crash::crash_b+",
        "kernel::shell::crash::crash_a+",
    ];
    let lines = [lc, lb, la];
    for (i, (w, l)) in want.iter().zip(lines).enumerate() {
        let t = trace[i].trim();
        assert!(t.starts_with(w), "frame {i}: {t}\n{r}");
        assert!(
            t.ends_with(&format!("(kernel/src/shell/crash.rs:{l})")),
            "frame {i} line {l}: {t}"
        );
    }
}

/// Symbol address and size by demangled name, from the ELF.
fn elf_functions(data: &[u8]) -> Vec<(u64, u64, String)> {
    let obj = object::File::parse(data).unwrap();
    obj.symbols()
        .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0)
        .filter_map(|s| {
            Some((
                s.address(),
                s.size(),
                format!("{:#}", rustc_demangle::demangle(s.name().ok()?)),
            ))
        })
        .collect()
}

fn read_elf_u32(data: &[u8], addr: u64) -> Option<u32> {
    let obj = object::File::parse(data).ok()?;
    for sec in obj.sections() {
        if addr >= sec.address() && addr + 4 <= sec.address() + sec.size() {
            let d = sec.data().ok()?;
            let o = (addr - sec.address()) as usize;
            return Some(u32::from_le_bytes(d.get(o..o + 4)?.try_into().ok()?));
        }
    }
    None
}

#[test]
fn code_line_matches_the_image() {
    let r = crash("null-write");
    let data = std::fs::read(kernel_elf()).unwrap();
    let funcs = elf_functions(&data);
    let pc_line = r.lines().find(|l| l.starts_with("pc : ")).unwrap();
    let sym = pc_line
        .trim_start_matches("pc : ")
        .split(' ')
        .next()
        .unwrap();
    let (name, rest) = sym.split_once("+0x").unwrap();
    let off = u64::from_str_radix(rest.split('/').next().unwrap(), 16).unwrap();
    let (start, _, _) = funcs
        .iter()
        .find(|(_, _, n)| n == name)
        .unwrap_or_else(|| panic!("{name} not in ELF"));
    let pc = start + off;
    let code = r.lines().find(|l| l.starts_with("Code: ")).unwrap();
    let words: Vec<u32> = code
        .trim_start_matches("Code: ")
        .split_whitespace()
        .map(|w| u32::from_str_radix(w.trim_matches(|c| c == '(' || c == ')'), 16).unwrap())
        .collect();
    assert_eq!(words.len(), 5, "{code}");
    for (i, w) in words.iter().enumerate() {
        let addr = pc - 16 + 4 * i as u64;
        assert_eq!(
            Some(*w),
            read_elf_u32(&data, addr),
            "word {i} at {addr:#x}: {code}"
        );
    }
}

#[test]
fn every_function_symbol_resolves_through_ksym() {
    let data = std::fs::read(kernel_elf()).unwrap();
    let funcs = elf_functions(&data);
    assert!(funcs.len() > 300, "too few functions: {}", funcs.len());
    let mut by_addr: HashMap<u64, Vec<&str>> = HashMap::new();
    for (a, _, n) in &funcs {
        by_addr.entry(*a).or_default().push(n);
    }
    let mut g = boot();
    let mut checked = 0;
    let addrs: Vec<u64> = {
        let mut v: Vec<u64> = by_addr.keys().copied().collect();
        v.sort();
        v
    };
    for chunk in addrs.chunks(24) {
        let line = format!(
            "ksym {}",
            chunk
                .iter()
                .map(|a| format!("{a:#x}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let out = cmd(&mut g, &line);
        // Each address's line, then its `(inlined)` lines (checked in lineinfo.rs).
        let got: Vec<&str> = out
            .lines()
            .filter(|l| !(l.starts_with("    ") && l.ends_with(" (inlined)")))
            .collect();
        assert_eq!(got.len(), chunk.len(), "{out}");
        for (a, l) in chunk.iter().zip(got) {
            let name = l
                .split_once(' ')
                .map(|x| x.1)
                .unwrap_or("")
                .split("+0x")
                .next()
                .unwrap();
            assert!(
                by_addr[a].contains(&name),
                "{a:#x}: ksym said {l:?}, ELF has {:?}",
                by_addr[a]
            );
            assert!(l.contains("+0x0/"), "{l}");
            checked += 1;
        }
    }
    // And name -> address.
    let out = cmd(
        &mut g,
        "ksym kernel_entry kernel::shell::dispatch no_such_symbol_anywhere",
    );
    let want = funcs.iter().find(|f| f.2 == "kernel_entry").unwrap().0;
    assert!(out.contains(&format!("kernel_entry {want:#018x}")), "{out}");
    assert!(out.contains("no_such_symbol_anywhere: not found"), "{out}");
    assert_eq!(checked, addrs.len());
}

#[test]
fn unexpected_interrupt_report() {
    let r = crash("unexpected-irq");
    assert!(
        r.contains("Unexpected interrupt: INTID 1 has no handler"),
        "{r}"
    );
    assert_common(&r, "Internal error: Oops - Unhandled IRQ exception");
    assert!(
        r.contains("pc : kernel::shell::crash::crash+"),
        "the interrupted code: {r}"
    );
}

#[test]
fn a_fault_while_reporting_falls_back_to_raw_hex() {
    let mut g = boot();
    g.send(b"crash report-fault\r").unwrap();
    let r = g
        .expect("---[ end trace (raw) ]---", T)
        .unwrap()
        .replace('\r', "");
    assert!(
        r.contains("Nested fault while reporting an oops; raw state:"),
        "{r}"
    );
    assert!(
        r.contains("ESR: 0000000096000007 FAR: 0000000000000010"),
        "{r}"
    );
    assert_eq!(g.wait_exit(T).unwrap(), Some(1));
}
