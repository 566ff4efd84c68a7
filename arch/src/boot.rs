//! Boot entry: `_start`, as reached from QEMU's `-kernel` at EL1 or EL2.
//!
//! The entry code:
//! 1. parks every CPU but the first;
//! 2. when entered at EL2, configures EL2 for an AArch64 EL1 (timer and GICv3 system
//!    register access for EL1) and drops to EL1h;
//! 3. clears BSS;
//! 4. sets SP_EL1 to the exception stack and SP_EL0 to the boot stack, then selects SP_EL0
//!    (`SPSel = 0`). Kernel threads run on SP_EL0 and every exception switches to SP_EL1, so
//!    a thread stack overflow into its guard page is still reported from a good stack;
//! 5. installs the vector table and calls `kernel_entry(dtb, entry_el)`.
//!
//! Linker-script symbols used: `__bss_start`, `__bss_end`, `__boot_stack_top`,
//! `__exception_stack_top`.

core::arch::global_asm!(
    r#"
    // Call-frame information for debuggers, in kernel.elf's non-allocated .debug_frame:
    // _start is the outermost frame (no return address), so gdb's backtrace ends here.
    .cfi_sections .debug_frame
    .section .text.boot, "ax"
    .global _start
    .type _start, %function
_start:
    .cfi_startproc
    .cfi_undefined x30
    mov     x19, x0                 // device tree pointer, when the loader passes one
    mrs     x20, CurrentEL          // the EL we were entered at, for the banner
    lsr     x20, x20, #2
    mrs     x1, mpidr_el1
    and     x1, x1, #0xff
    cbnz    x1, .Lpark

    mrs     x1, CurrentEL
    lsr     x1, x1, #2
    cmp     x1, #2
    b.ne    .Lat_el1

    // EL2: EL1 is AArch64, no traps of EL1 timer accesses, no virtual offset.
    mov     x1, #(1 << 31)
    msr     hcr_el2, x1
    mov     x1, #3
    msr     cnthctl_el2, x1
    msr     cntvoff_el2, xzr
    // If the GICv3 system-register interface exists, let EL1 use it.
    mrs     x1, id_aa64pfr0_el1
    ubfx    x1, x1, #24, #4
    cbz     x1, 1f
    mrs     x1, S3_4_C12_C9_5       // ICC_SRE_EL2
    orr     x1, x1, #0xf            // SRE | DFB | DIB | Enable
    msr     S3_4_C12_C9_5, x1
    isb
1:
    // A known SCTLR_EL1 (MMU off, caches off, RES1 bits set).
    ldr     x1, =0x30d00800
    msr     sctlr_el1, x1
    mov     x1, #0x3c5              // EL1h, DAIF masked
    msr     spsr_el2, x1
    adr     x1, .Lat_el1
    msr     elr_el2, x1
    eret

.Lat_el1:
    ldr     x1, =0x30d00800
    msr     sctlr_el1, x1
    isb
    // Clear BSS (16-byte aligned by the linker script).
    ldr     x1, =__bss_start
    ldr     x2, =__bss_end
2:  cmp     x1, x2
    b.hs    3f
    stp     xzr, xzr, [x1], #16
    b       2b
3:
    ldr     x1, =__exception_stack_top
    mov     sp, x1                  // SP_EL1
    ldr     x1, =__boot_stack_top
    msr     sp_el0, x1
    msr     spsel, #0               // run on SP_EL0 from here on
    mov     sp, x1
    ldr     x1, =__vectors
    msr     vbar_el1, x1
    isb
    mov     x29, xzr                // terminate the frame-record chain
    mov     x30, xzr
    mov     x0, x19
    mov     x1, x20
    bl      kernel_entry
.Lpark:
    wfe
    b       .Lpark
    .cfi_endproc
    .size _start, . - _start
    .ltorg
"#
);
