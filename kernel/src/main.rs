//! The unikernel: boots on QEMU `virt`, links its own modules, explains its own crashes.
//!
//! Layers, lowest first; each may use only the layers below it (`cargo xtask lint` checks):
//! `platform` (board, console, memory, image sections) → `irq` (handler table) → `fault`
//! (recovery, traps, reports, taint) → `cmd` (command registry) → `module` (the module
//! manager) → `kapi` (what modules may call) → `transfer` (serial upload) → `shell` →
//! `boot`, `ktest`, `main` (boot order).
#![no_std]
#![no_main]

#[cfg(not(target_arch = "aarch64"))]
compile_error!(
    "the kernel runs only on the kernel target: build it with `cargo xtask build` (or run it with `cargo xtask run`), not `cargo build -p kernel` for the host"
);

extern crate alloc;

pub mod boot;
pub mod cmd;
pub mod fault;
pub mod irq;
pub mod kapi;
pub mod ktest;
pub mod module;
pub mod platform;
pub mod shell;
pub mod transfer;

use boards::virt::BoardInfo;
use fault::{recovery, report, trap};
use platform::{console, exports, mem, BOARD};

/// Entered from the boot assembly on the boot stack, MMU off, IRQs masked.
#[no_mangle]
extern "C" fn kernel_entry(x0: usize, entry_el: u64) -> ! {
    let t0 = boards::timer::uptime_us();
    // Early console at the documented address (the MMU is off, so accesses are device).
    console::init(boards::virt::UART_BASE as usize);
    if let Err(e) = mem::init_mmu() {
        println!("fatal: cannot build page tables: {e}");
        report::halt();
    }
    let mut warnings: [Option<&str>; 2] = [None, None];
    let (info, warning) = boot::probe_board(platform::find_dtb(x0));
    warnings[0] = warning;
    let info = *BOARD.call_once(|| info);
    if info.uart != boards::virt::UART_BASE {
        console::init(info.uart as usize);
    }
    let layout = match mem::init_ram(info.ram.base, info.ram.size) {
        Ok(l) => l,
        Err(e) => {
            println!(
                "warning: RAM {:#x}+{:#x} unusable ({e}); using 128 MiB",
                info.ram.base, info.ram.size
            );
            warnings[1] = Some("warning: fell back to 128 MiB of RAM");
            match mem::init_ram(boards::virt::RAM_BASE, 128 << 20) {
                Ok(l) => l,
                Err(e) => {
                    println!("fatal: cannot set up memory: {e}");
                    report::halt();
                }
            }
        }
    };
    module::init(&layout);
    // Sort the export table now, so that the first insmod allocates nothing permanent.
    // (The ABI hash is computed on first use: it keeps no memory.)
    exports::table();
    irq::init(info.gic);
    if let Err(e) = irq::register(info.uart_intid, console::on_irq) {
        println!("warning: no console input: {e}");
    }
    module::init_hooks();
    banner(&info, &layout, t0, entry_el);
    for w in warnings.iter().flatten() {
        println!("{w}");
    }
    let args = info.bootargs;
    module::signing::init(args.as_str());
    module::init_timeout(args.as_str());
    if let Some(filter) = ktest::requested(args.as_str()) {
        ktest::run_all(filter);
    }
    if let Some(plan) = ktest::module_plan(args.as_str()) {
        ktest::run_module_plan(plan);
    }
    shell::run()
}

fn banner(info: &BoardInfo, layout: &mem::Layout, t0: u64, entry_el: u64) {
    let (cpu, variant, rev) = arch::cpu::cpu_model();
    println!();
    println!("unikernel {} (aarch64)", platform::RELEASE);
    println!(
        "Board: {}{}",
        info.model.as_str(),
        if info.from_dt { " (DT)" } else { "" }
    );
    println!(
        "CPU: {cpu} r{variant}p{rev} (MIDR {:#010x}), {} cpu(s), entered at EL{entry_el}, running at EL{}",
        arch::cpu::midr(),
        info.cpus,
        arch::cpu::current_el()
    );
    println!(
        "RAM: {} MiB at {:#x}; heap {} MiB; interrupt controller {}",
        layout.ram_size >> 20,
        layout.ram_base,
        (layout.heap_end - layout.heap_start) >> 20,
        irq::controller_name()
    );
    println!(
        "Booted in {} us. Type 'help' for commands.",
        boards::timer::uptime_us().saturating_sub(t0)
    );
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let wants_report = recovery::current().map(|(r, _)| r).unwrap_or(true);
    if wants_report || trap::in_exception() {
        report::panic(info);
    }
    // During a module call a panic is contained unless it comes from kernel code the
    // module entered through an export (other than `kmod_panic`): see `fault::trap`.
    let containable =
        !recovery::current_is_module() || module::panic_is_from_module() || !recovery::in_export();
    if !trap::in_exception() && containable {
        recovery::longjmp_from_panic();
    }
    report::halt()
}
