//! `cargo xtask bench --only lineinfo`: what line and inline information costs. For the
//! kernel and every example module: line rows, inline records, bytes per row
//! (line rows, file names, inline records and inlined names together), and the growth it
//! causes (kernel: the table with against without inline records, and the `.kallsyms`
//! reservation; modules: the `.ko` against the same `.ko` without `.modlines` and the
//! build-ID note). The in-guest cost of one frame is printed by the kallsyms part
//! (`ksymbench`).

use object::{Object as _, ObjectSection as _};
use std::path::Path;
use std::process::Command;

fn table_stats(elf: &[u8], no_inline: bool) -> Result<ksymgen::Stats, String> {
    let opts = ksymgen::Options {
        no_inline,
        ..Default::default()
    };
    ksymgen::build_table_with(elf, &opts)
        .map(|(_, s)| s)
        .map_err(|e| e.to_string())
}

/// Bytes of the `.ko` without its line table and build-ID note.
fn size_without_lineinfo(ko: &Path) -> Result<u64, String> {
    let tmp = std::env::temp_dir().join(format!("lineinfo-bench-{}.ko", std::process::id()));
    let out = Command::new("aarch64-linux-gnu-objcopy")
        .args(["-R", ".modlines", "-R", ".note.gnu.build-id"])
        .arg(ko)
        .arg(&tmp)
        .output()
        .map_err(|e| format!("objcopy: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let n = std::fs::metadata(&tmp).map_err(|e| e.to_string())?.len();
    let _ = std::fs::remove_file(&tmp);
    Ok(n)
}

pub fn run() -> Result<(), String> {
    let elf = std::fs::read(crate::kernel_elf()).map_err(|e| e.to_string())?;
    let with = table_stats(&elf, false)?;
    let without = table_stats(&elf, true)?;
    let t = &with.table;
    println!("Line and inline information:");
    println!(
        "  kernel: {} line rows, {} inline records ({} inlined functions): {:.2} B/row with inline data ({:.2} B/row lines alone)",
        t.line_rows,
        t.inline_records,
        t.funcs,
        t.line_and_inline_bytes_per_row(),
        t.line_bytes_per_row()
    );
    println!(
        "  kernel table: {} bytes, {} without inline records (+{} bytes); .kallsyms reserves {} bytes",
        t.total_bytes,
        without.table.total_bytes,
        t.total_bytes - without.table.total_bytes,
        with.section_bytes
    );
    let file = object::File::parse(&*elf).map_err(|e| e.to_string())?;
    let alloc: u64 = file
        .sections()
        .filter(|s| {
            matches!(s.flags(), object::SectionFlags::Elf { sh_flags }
                if sh_flags & u64::from(object::elf::SHF_ALLOC) != 0)
        })
        .map(|s| s.size())
        .sum();
    println!("  kernel image: {alloc} bytes of allocated sections");
    // The project's example modules (a user's own in target/modules stay out).
    let dir = crate::root().join("target/modules");
    let kos: Vec<_> = crate::modules::examples(&crate::root())?
        .iter()
        .map(|n| dir.join(format!("{n}.ko")))
        .collect();
    println!(
        "  {:<16} {:>8} {:>8} {:>8} {:>7} {:>8} {:>8}",
        "module", "rows", "inline", "B/row", ".ko", "without", "growth"
    );
    let (mut rows, mut bytes) = (0usize, 0usize);
    for ko in &kos {
        let name = ko.file_stem().and_then(|s| s.to_str()).unwrap_or("?");
        let debug = ko.with_extension("ko.debug");
        let dbg = std::fs::read(&debug).map_err(|e| format!("{}: {e}", debug.display()))?;
        let s = table_stats(&dbg, false)?;
        let size = std::fs::metadata(ko).map_err(|e| e.to_string())?.len();
        let bare = size_without_lineinfo(ko)?;
        rows += s.table.line_rows;
        bytes += s.table.line_bytes + s.table.file_bytes + s.table.inline_bytes;
        println!(
            "  {:<16} {:>8} {:>8} {:>8.2} {:>7} {:>8} {:>7.0}%",
            name,
            s.table.line_rows,
            s.table.inline_records,
            s.table.line_and_inline_bytes_per_row(),
            size,
            bare,
            100.0 * (size as f64 - bare as f64) / bare.max(1) as f64
        );
    }
    println!(
        "  all modules: {:.2} B/row ({rows} rows)",
        bytes as f64 / rows.max(1) as f64
    );
    Ok(())
}
