//! The unikernel: boots on QEMU `virt`, links its own modules, explains its own crashes.
#![no_std]
#![no_main]

extern crate alloc;

pub mod builtin_modules;
pub mod console;
pub mod exports;
pub mod irq;
pub mod kallsyms;
pub mod kapi;
pub mod ktest;
pub mod mem;
pub mod module;
pub mod recovery;
pub mod report;
pub mod shell;
pub mod signing;
pub mod transfer;
pub mod trap;

use boards::virt::BoardInfo;

/// Kernel release.
pub const RELEASE: &str = env!("CARGO_PKG_VERSION");

/// What the board probe found, set once at boot.
pub static BOARD: spin::Once<BoardInfo> = spin::Once::new();

/// The board description (fallback defaults before the probe ran).
pub fn board() -> BoardInfo {
    BOARD.get().copied().unwrap_or_else(BoardInfo::fallback)
}

/// Finds the device tree: the loader's x0 if it points at one, else the start of RAM,
/// where QEMU's `-kernel` puts it for ELF images.
fn find_dtb(x0: usize) -> Option<&'static [u8]> {
    for candidate in [x0 as u64, boards::virt::RAM_BASE] {
        if candidate == 0 || candidate % 8 != 0 {
            continue;
        }
        let lo = boards::virt::RAM_BASE;
        if candidate < lo || candidate >= mem::sym::__kernel_start() {
            continue;
        }
        let head = arch::probe::read_u64(candidate)?;
        if let Some(size) = boards::virt::fdt_size(head.to_le_bytes()) {
            if candidate + size as u64 <= mem::sym::__kernel_start() {
                // SAFETY: the range is mapped RAM below the kernel image that nothing else
                // uses, and holds a blob with a valid FDT header of this size.
                return Some(unsafe { core::slice::from_raw_parts(candidate as *const u8, size) });
            }
        }
    }
    None
}

/// Reads the board description from the device tree, falling back to the documented QEMU
/// `virt` defaults (with a warning) when there is none or it cannot be parsed. Parsing runs
/// under a recovery point, so even a tree that makes the parser panic or fault only costs a
/// warning.
pub fn probe_board(blob: Option<&[u8]>) -> (BoardInfo, Option<&'static str>) {
    let Some(blob) = blob else {
        return (
            BoardInfo::fallback(),
            Some("warning: no device tree found; using QEMU virt defaults (128 MiB)"),
        );
    };
    let mut parsed = None;
    let r = recovery::run(false, 0, || parsed = BoardInfo::from_fdt(blob));
    match (r, parsed) {
        (Ok(()), Some(info)) if info.ram.size >= 16 << 20 => (info, None),
        (Ok(()), Some(_)) => (BoardInfo::fallback(), Some("warning: device tree has no usable memory node; using QEMU virt defaults (128 MiB)")),
        _ => (BoardInfo::fallback(), Some("warning: device tree unreadable; using QEMU virt defaults (128 MiB)")),
    }
}

/// The device tree the kernel booted with, if any.
pub fn boot_dtb() -> Option<&'static [u8]> {
    find_dtb(0)
}

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
    let (info, warning) = probe_board(find_dtb(x0));
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
    exports::table();
    exports::abi_hash();
    irq::init(info.gic, info.uart_intid);
    banner(&info, &layout, t0, entry_el);
    for w in warnings.iter().flatten() {
        println!("{w}");
    }
    let args = info.bootargs;
    signing::init(args.as_str());
    if let Some(filter) = ktest::requested(args.as_str()) {
        ktest::run_all(filter);
    }
    shell::run()
}

fn banner(info: &BoardInfo, layout: &mem::Layout, t0: u64, entry_el: u64) {
    let (cpu, variant, rev) = arch::cpu::cpu_model();
    println!();
    println!("unikernel {RELEASE} (aarch64)");
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

/// Powers off through PSCI (QEMU exits with status 0).
pub fn poweroff() -> ! {
    irq::shutdown();
    boards::psci::system_off(board().psci);
    let _ = boards::semihosting::exit(0);
    loop {
        arch::cpu::wait_for_interrupt();
    }
}

/// Resets through PSCI.
pub fn reboot() -> ! {
    irq::shutdown();
    boards::psci::system_reset(board().psci);
    loop {
        arch::cpu::wait_for_interrupt();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let wants_report = recovery::current().map(|(r, _)| r).unwrap_or(true);
    if wants_report || trap::in_exception() {
        report::panic(info);
    }
    let containable = !recovery::current_is_module() || module::panic_is_from_module();
    if !trap::in_exception() && containable {
        recovery::longjmp_from_panic();
    }
    report::halt()
}
