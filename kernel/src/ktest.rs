//! In-kernel tests.
//!
//! A test is a plain function declared with [`ktest!`](crate::ktest); the macro puts a
//! [`Test`] record into the `.ktests` linker section, so tests are collected without a
//! hand-kept list. Booting with `-append ktest` (or `ktest=FILTER`) runs every test (whose
//! name contains FILTER), each inside a recovery point with a timeout, prints one line per
//! test and a closing `N passed, N failed`, then exits QEMU through semihosting with
//! status 0 or 1.

use crate::fault::recovery::{self, Abandoned};
use crate::println;
use alloc::string::ToString;
use klib::ktap::{Ktap, Result as KtapResult};

/// What a test expects to happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Returns normally.
    Pass,
    /// Takes a synchronous exception.
    Fault,
    /// Panics.
    Panic,
    /// Hangs, and must be stopped by the runner's timeout (tests the timeout itself).
    Hang,
}

/// A registered test.
#[repr(C)]
pub struct Test {
    /// `module::path::name`.
    pub name: &'static str,
    /// The test body.
    pub func: fn(),
    /// Expected outcome.
    pub expect: Expect,
}

/// Declares an in-kernel test: `ktest!(fn name() { ... });`, optionally preceded by
/// `#[should_fault]` or `#[should_panic]`.
#[macro_export]
macro_rules! ktest {
    (#[should_fault] fn $name:ident() $body:block) => { $crate::ktest!(@ $name, $crate::ktest::Expect::Fault, $body); };
    (#[should_panic] fn $name:ident() $body:block) => { $crate::ktest!(@ $name, $crate::ktest::Expect::Panic, $body); };
    (#[should_hang] fn $name:ident() $body:block) => { $crate::ktest!(@ $name, $crate::ktest::Expect::Hang, $body); };
    (fn $name:ident() $body:block) => { $crate::ktest!(@ $name, $crate::ktest::Expect::Pass, $body); };
    (@ $name:ident, $expect:expr, $body:block) => {
        #[inline(never)]
        fn $name() $body
        const _: () = {
            #[link_section = ".ktests"]
            #[used]
            static TEST: $crate::ktest::Test = $crate::ktest::Test {
                name: concat!(module_path!(), "::", stringify!($name)),
                func: $name,
                expect: $expect,
            };
        };
    };
}

extern "C" {
    static __ktests_start: u8;
    static __ktests_end: u8;
}

/// Every registered test.
pub fn all() -> &'static [Test] {
    // SAFETY: the linker script brackets `.ktests`, which holds only `Test` records emitted
    // by `ktest!` (8-byte aligned, contiguous).
    unsafe {
        let start = core::ptr::addr_of!(__ktests_start) as *const Test;
        let end = core::ptr::addr_of!(__ktests_end) as *const Test;
        let n = (end as usize - start as usize) / core::mem::size_of::<Test>();
        core::slice::from_raw_parts(start, n)
    }
}

/// Parses `ktest` / `ktest=FILTER` out of the boot arguments.
pub fn requested(bootargs: &str) -> Option<&str> {
    bootargs.split_whitespace().find_map(|a| {
        if a == "ktest" {
            Some("")
        } else {
            a.strip_prefix("ktest=")
        }
    })
}

/// Timeout per test.
const TIMEOUT_TICKS: u64 = 10 * crate::irq::HZ;
/// Timeout for tests that check the timeout itself.
const HANG_TIMEOUT_TICKS: u64 = crate::irq::HZ / 2;

/// Runs the tests, prints KTAP (one result line per test, `# ` diagnostics before a
/// failure's result line) and exits QEMU with 0 only when every test passed.
pub fn run_all(filter: &str) -> ! {
    let mut tests: alloc::vec::Vec<&Test> = all().iter().collect();
    tests.sort_by_key(|t| t.name);
    tests.retain(|t| t.name.contains(filter));
    let (mut passed, mut failed) = (0u32, 0u32);
    let mut w = crate::platform::console::Writer;
    let mut k = Ktap::new(&mut w);
    let _ = k.header(tests.len());
    for (i, t) in tests.iter().copied().enumerate() {
        let timeout = if t.expect == Expect::Hang {
            HANG_TIMEOUT_TICKS
        } else {
            TIMEOUT_TICKS
        };
        let outcome = recovery::run(false, timeout, t.func);
        let verdict: Result<(), &str> = match (t.expect, outcome) {
            (Expect::Pass, Ok(())) => Ok(()),
            (Expect::Fault, Err(Abandoned::Fault { .. })) => Ok(()),
            (Expect::Panic, Err(Abandoned::Panic)) => Ok(()),
            (Expect::Hang, Err(Abandoned::Timeout)) => Ok(()),
            (_, Err(Abandoned::Timeout)) => Err("timed out"),
            (_, Err(Abandoned::Interrupted)) => Err("interrupted"),
            (Expect::Hang, _) => Err("was expected to hang until the timeout"),
            (Expect::Pass, Err(Abandoned::Fault { .. })) => Err("unexpected fault"),
            (Expect::Pass, Err(Abandoned::Panic)) => Err("panicked"),
            (_, Ok(())) => Err("returned, but a fault or panic was expected"),
            (Expect::Fault, Err(_)) => Err("panicked, but a fault was expected"),
            (Expect::Panic, Err(_)) => Err("faulted, but a panic was expected"),
        };
        let result = match verdict {
            Ok(()) => {
                passed += 1;
                KtapResult::Ok
            }
            Err(why) => {
                failed += 1;
                let _ = k.diag(format_args!("{}: {why}", t.name));
                if let Err(Abandoned::Fault { esr, far, pc }) = outcome {
                    let _ = k.diag(format_args!(
                        "{}: esr {esr:#x} far {far:#x} pc {pc:#x}",
                        t.name
                    ));
                }
                KtapResult::NotOk
            }
        };
        let _ = k.result(i + 1, t.name, result);
    }
    let _ = k.diag(format_args!("{passed} passed, {failed} failed"));
    crate::irq::shutdown();
    let _ = boards::semihosting::exit(if failed == 0 { 0 } else { 1 });
    println!("(semihosting unavailable: halting)");
    loop {
        arch::cpu::wait_for_interrupt();
    }
}

// ---- Tests of the foundation itself -------------------------------------------------------

ktest!(
    fn brk_is_handled_and_returns() {
        let before = crate::fault::trap::BRK_COUNT.load(core::sync::atomic::Ordering::Relaxed);
        arch::cpu::breakpoint();
        let after = crate::fault::trap::BRK_COUNT.load(core::sync::atomic::Ordering::Relaxed);
        assert_eq!(after, before + 1);
    }
);

ktest!(
    fn svc_is_handled_and_returns() {
        assert_eq!(arch::cpu::supervisor_call(), crate::fault::trap::SVC_REPLY);
    }
);

ktest!(
    #[should_fault]
    fn null_read_faults() {
        // SAFETY: deliberately reads page 0, which is unmapped; the fault is the test.
        let v = unsafe { core::ptr::read_volatile(core::hint::black_box(0usize) as *const u64) };
        core::hint::black_box(v);
    }
);

ktest!(
    #[should_panic]
    fn panics_are_caught() {
        let v: Option<u32> = core::hint::black_box(None);
        v.expect("deliberate");
    }
);

ktest!(
    fn probe_reports_unmapped_memory() {
        assert_eq!(arch::probe::read_u64(0), None);
        assert_eq!(
            arch::probe::read_u64(crate::platform::mem::sym::__boot_stack_guard()),
            None
        );
        assert!(arch::probe::read_u64(crate::platform::mem::sym::__kernel_start()).is_some());
    }
);

ktest!(
    fn text_is_not_writable_and_rodata_is_read_only() {
        let text = crate::platform::mem::sym::__kernel_start();
        let ro = crate::platform::mem::sym::__rodata_start();
        // SAFETY: these stores must fail; if they succeeded the test fails anyway.
        unsafe {
            assert!(!arch::probe::write_u8(text, 0));
            assert!(!arch::probe::write_u8(ro, 0));
        }
    }
);

ktest!(
    fn heap_allocates_and_frees() {
        let before = crate::platform::mem::heap_stats().0;
        {
            let mut v = alloc::vec::Vec::new();
            for i in 0..10_000u32 {
                v.push(i);
            }
            assert_eq!(v.iter().map(|&x| x as u64).sum::<u64>(), 49_995_000);
        }
        assert_eq!(crate::platform::mem::heap_stats().0, before);
    }
);

ktest!(
    fn tick_advances() {
        let t = crate::irq::ticks();
        boards::timer::delay_us(30_000);
        assert!(crate::irq::ticks() > t, "no timer interrupts");
    }
);

ktest!(
    fn odd_device_trees_fall_back_with_a_warning() {
        let Some(real) = crate::platform::boot_dtb() else {
            panic!("booted without a device tree")
        };
        let (info, warn) = crate::boot::probe_board(Some(real));
        assert!(warn.is_none() && info.from_dt);
        // No tree at all.
        let (info, warn) = crate::boot::probe_board(None);
        assert!(warn.is_some() && !info.from_dt && info.ram.size == 128 << 20);
        // Truncated, and corrupted at many offsets: always a board, at worst the fallback.
        let mut copy = alloc::vec::Vec::from(real);
        let (_, warn) = crate::boot::probe_board(Some(&copy[..40]));
        assert!(warn.is_some());
        let mut state = 0x1234_5678u32;
        for _ in 0..64 {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let at = (state as usize >> 4) % copy.len();
            copy[at] ^= (state >> 24) as u8 | 1;
            let (info, _) = crate::boot::probe_board(Some(&copy));
            assert!(info.ram.size >= 16 << 20);
        }
    }
);

ktest!(
    #[should_hang]
    fn a_hung_test_is_stopped_by_the_timeout() {
        loop {
            core::hint::spin_loop();
        }
    }
);

/// Parses `kunit=PLAN` out of the boot arguments: a host file (read over semihosting)
/// that lists one module file per line.
pub fn module_plan(bootargs: &str) -> Option<&str> {
    bootargs
        .split_whitespace()
        .find_map(|a| a.strip_prefix("kunit="))
}

/// Loads each module of the plan, runs its tests, unloads it, prints one KTAP document
/// with a subtest per module, and exits QEMU with 0 only when every test passed (what
/// `cargo xtask test-module` runs).
pub fn run_module_plan(plan: &str) -> ! {
    let files: alloc::vec::Vec<alloc::string::String> = match crate::shell::read_host(plan) {
        Ok(b) => alloc::string::String::from_utf8_lossy(&b)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(alloc::string::String::from)
            .collect(),
        Err(e) => {
            println!("kunit: cannot read the plan {plan}: {e}");
            exit(2)
        }
    };
    let base = crate::platform::mem::heap_stats().0;
    let mut w = crate::platform::console::Writer;
    let mut k = Ktap::new(&mut w);
    let _ = k.header(files.len());
    let mut all = true;
    for (i, f) in files.iter().enumerate() {
        let label = f.rsplit('/').next().unwrap_or(f);
        let label = label.strip_suffix(".ko").unwrap_or(label);
        let loaded = crate::shell::read_host(f)
            .and_then(|b| crate::module::insmod(&b, &[], None).map_err(|e| e.to_string()));
        let (name, result) = match loaded {
            Err(e) => {
                let _ = k.diag(format_args!("{label}: {e}"));
                (
                    alloc::string::String::from(label),
                    KtapResult::Error("the module did not load"),
                )
            }
            Ok(l) => {
                let r = {
                    let mut sub = k.nested();
                    crate::module::testrun::run(&l.name, &mut sub, None)
                };
                let result = match r {
                    Ok(true) => KtapResult::Ok,
                    Ok(false) => KtapResult::NotOk,
                    Err(e) => {
                        let _ = k.diag(format_args!("{e}"));
                        KtapResult::Error("tests unreadable")
                    }
                };
                if let Err(e) = crate::module::rmmod(&l.name, None) {
                    let _ = k.diag(format_args!("{}: {e}", l.name));
                }
                (l.name, result)
            }
        };
        all &= result.passed();
        let _ = k.result(i + 1, &name, result);
    }
    let after = crate::platform::mem::heap_stats().0;
    if after != base {
        let _ = k.diag(format_args!(
            "heap: {base} bytes in use before the modules, {after} after"
        ));
    }
    exit(if all { 0 } else { 1 })
}

fn exit(code: u32) -> ! {
    crate::irq::shutdown();
    let _ = boards::semihosting::exit(code);
    println!("(semihosting unavailable: halting)");
    loop {
        arch::cpu::wait_for_interrupt();
    }
}

core::arch::global_asm!(
    r#"
    .section .text.ktest_regs, "ax"
    .global __ktest_or_unset_regs
    .type __ktest_or_unset_regs, %function
    // Returns the OR of every general register a module call does not set (x3..x15,
    // x17..x28), and saves x19 (the callee-saved one it clobbers) as the standard asks.
__ktest_or_unset_regs:
    str     x19, [sp, #-16]!
    orr     x19, x3, x4
    orr     x19, x19, x5
    orr     x19, x19, x6
    orr     x19, x19, x7
    orr     x19, x19, x8
    orr     x19, x19, x9
    orr     x19, x19, x10
    orr     x19, x19, x11
    orr     x19, x19, x12
    orr     x19, x19, x13
    orr     x19, x19, x14
    orr     x19, x19, x15
    orr     x19, x19, x17
    orr     x19, x19, x18
    orr     x19, x19, x20
    orr     x19, x19, x21
    orr     x19, x19, x22
    orr     x19, x19, x23
    orr     x19, x19, x24
    orr     x19, x19, x25
    orr     x19, x19, x26
    orr     x19, x19, x27
    orr     x19, x19, x28
    ldr     x0, [sp]
    orr     x0, x19, x0
    ldr     x19, [sp], #16
    ret
    .size __ktest_or_unset_regs, . - __ktest_or_unset_regs
"#
);

extern "C" {
    fn __ktest_or_unset_regs();
}

ktest!(
    fn module_calls_see_no_kernel_registers() {
        // A module that uses a register it never set (a corrupted instruction did exactly
        // this in the containment fuzz test, and wrote through the kernel's x27 into the
        // kernel stack) must find zero there, not a kernel pointer.
        let f = __ktest_or_unset_regs as *const () as u64;
        // Kernel pointers in callee-saved registers, as any caller has.
        let seen = core::hint::black_box(f);
        // SAFETY: the function is kernel code that follows the procedure-call standard and
        // touches no memory but its own stack slot.
        let r = unsafe { crate::module::call(seen, 1, 2, 3) };
        assert_eq!(r, 0, "a module call saw non-zero registers (OR {r:#x})");
    }
);
