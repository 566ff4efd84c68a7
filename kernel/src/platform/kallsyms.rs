//! The embedded symbol table (kallsyms).
//!
//! The linker script places `.kallsyms` in rodata; this static reserves its space. After
//! linking, `cargo xtask build` runs `ksymgen`, which writes the table into these bytes in
//! the ELF file: no address moves. The kernel only reads it, through `oops::Table`, which
//! validates everything and never panics on a bad table.

/// Bytes reserved for the table. `ksymgen` fails the build if the table does not fit.
pub const RESERVED: usize = 768 * 1024;

#[link_section = ".kallsyms"]
#[used]
static RESERVE: [u8; RESERVED] = [0; RESERVED];

/// The raw table bytes (read through the linker symbols, so the compiler cannot fold the
/// zero initialiser into the reads).
pub fn bytes() -> &'static [u8] {
    let (s, e) = (
        super::mem::sym::__kallsyms_start(),
        super::mem::sym::__kallsyms_end(),
    );
    // SAFETY: the linker script brackets the read-only `.kallsyms` section with these
    // symbols; it is mapped for the life of the system and never written at run time.
    unsafe { core::slice::from_raw_parts(s as *const u8, (e - s) as usize) }
}

/// The parsed table, or why it is unusable (e.g. an image that was not patched).
pub fn table() -> Result<oops::Table<'static>, oops::FormatError> {
    oops::Table::parse(bytes())
}
