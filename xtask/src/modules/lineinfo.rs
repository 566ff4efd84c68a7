//! Debug information of modules: the full-DWARF copy kept beside each `.ko`
//! (`NAME.ko.debug`), a GNU build ID, and the compact symbol, line and inline table
//! (`oops::symtab`, the kernel's own format) the kernel reads to explain module frames.
//!
//! The partial link keeps the DWARF; [`finish`] then turns the linked object into:
//! * `NAME.ko`: the object without debug sections, plus a `.note.gnu.build-id` note
//!   (SHA-1 of the stripped object) and an allocated read-only `.modlines` section
//!   holding the table (built by `ksymgen` from the DWARF, addresses relative to
//!   `.text`), which insmod places in the module's read-only memory;
//! * `NAME.ko.debug`: the same object with its full DWARF and the same build ID, for
//!   `llvm-addr2line` and gdb.
//!
//! Both happen before signing, so the signature covers the table.

#[allow(unused_imports)]
use super::*;

/// Name of the table section in a `.ko`.
pub const MODLINES: &str = ".modlines";
/// Name of the build-ID note section.
pub const BUILD_ID_NOTE: &str = ".note.gnu.build-id";

/// The `NAME.ko.debug` path beside `ko`.
pub fn debug_path(ko: &Path) -> PathBuf {
    let mut s = ko.as_os_str().to_owned();
    s.push(".debug");
    PathBuf::from(s)
}

/// An ELF note `NT_GNU_BUILD_ID` ("GNU") with `id` as its descriptor.
pub fn build_id_note(id: &[u8]) -> Vec<u8> {
    let mut n = Vec::with_capacity(16 + id.len());
    n.extend_from_slice(&4u32.to_le_bytes());
    n.extend_from_slice(&(id.len() as u32).to_le_bytes());
    n.extend_from_slice(&3u32.to_le_bytes()); // NT_GNU_BUILD_ID
    n.extend_from_slice(b"GNU\0");
    n.extend_from_slice(id);
    while n.len() % 4 != 0 {
        n.push(0);
    }
    n
}

/// Turns the linked object `linked` (with DWARF) into `out` (stripped, with build ID
/// and `.modlines`) and `out.debug` (full DWARF, same build ID).
pub(super) fn finish(name: &str, work: &Path, linked: &Path, out: &Path) -> Result<(), String> {
    let fail = |what: &str, e: String| format!("module {name}: {what}: {e}");
    let stripped = work.join(format!("{name}.stripped.o"));
    let mut strip = Command::new(OBJCOPY);
    strip.arg("--strip-debug").arg(linked).arg(&stripped);
    run_tool(&mut strip).map_err(|e| fail("objcopy --strip-debug failed", e))?;
    let bytes = fs::read(&stripped).map_err(|e| format!("read {}: {e}", stripped.display()))?;
    let id = ksymgen::sha1(&bytes);
    let note = work.join("build-id.note");
    write(&note, &build_id_note(&id))?;
    let add_note = |src: &Path, dst: &Path| -> Result<(), String> {
        let mut c = Command::new(OBJCOPY);
        c.arg(format!("--add-section={BUILD_ID_NOTE}={}", note.display()))
            .arg(format!(
                "--set-section-flags={BUILD_ID_NOTE}=contents,readonly"
            ))
            .arg(src)
            .arg(dst);
        run_tool(&mut c).map_err(|e| fail("adding the build ID failed", e))
    };
    let debug = debug_path(out);
    add_note(linked, &debug)?;
    let full = fs::read(&debug).map_err(|e| format!("read {}: {e}", debug.display()))?;
    // File names relative to this repository (`sdk/src/lib.rs`, `modules/x/src/lib.rs`);
    // a module's own files outside it keep their full path. (Relative to each unit's
    // directory instead, a crate of one's own and the SDK would both say `src/lib.rs`.)
    let opts = ksymgen::Options {
        workspace_root: Some(crate::root()),
        ..ksymgen::Options::default()
    };
    let (table, _) =
        ksymgen::build_table_with(&full, &opts).map_err(|e| fail("line table", e.to_string()))?;
    let table_file = work.join("modlines.bin");
    write(&table_file, &table)?;
    spread_sections(&full, &debug).map_err(|e| fail("laying out the debug copy", e))?;
    let noted = work.join(format!("{name}.noted.o"));
    add_note(&stripped, &noted)?;
    let mut c = Command::new(OBJCOPY);
    c.arg(format!("--add-section={MODLINES}={}", table_file.display()))
        .arg(format!(
            "--set-section-flags={MODLINES}=alloc,contents,load,readonly,data"
        ))
        .arg(&noted)
        .arg(out);
    run_tool(&mut c).map_err(|e| fail("adding the line table failed", e))
}

/// Gives every allocated section of the debug copy but `.text` an address of its own,
/// after `.text` (which stays at 0) in file order, each aligned to a page. In a relocatable
/// object they all start at 0, so `llvm-addr2line -f` named a `.text` address after
/// whatever data symbol shared it (`ENTRY#4` for `rcrash::leaf`); now an offset into
/// `.text` (a frame's pc minus the module's load address) names the function. gdb places
/// every section itself (`add-symbol-file -s`), so it is unaffected.
fn spread_sections(elf: &[u8], debug: &Path) -> Result<(), String> {
    let file = object::File::parse(elf).map_err(|e| e.to_string())?;
    let page = 0x1000u64;
    let text_end = file.section_by_name(".text").map(|s| s.size()).unwrap_or(0);
    let mut next = text_end.div_ceil(page) * page;
    let mut c = Command::new(OBJCOPY);
    let mut any = false;
    for s in file.sections() {
        let name = s.name().unwrap_or("");
        let alloc = matches!(
            s.flags(),
            object::SectionFlags::Elf { sh_flags } if sh_flags & u64::from(object::elf::SHF_ALLOC) != 0
        );
        if !alloc || name == ".text" || name.is_empty() {
            continue;
        }
        c.arg(format!("--change-section-address={name}+{next:#x}"));
        next = (next + s.size().max(1)).div_ceil(page) * page;
        any = true;
    }
    if !any {
        return Ok(());
    }
    let tmp = debug.with_extension("debug.tmp");
    c.arg(debug).arg(&tmp);
    run_tool(&mut c)?;
    fs::rename(&tmp, debug).map_err(|e| format!("rename {}: {e}", tmp.display()))
}

/// Publishes `staged.debug` beside `dest` (`dest.debug`).
pub(super) fn publish_debug(staged: &Path, dest: &Path) -> Result<(), String> {
    let (from, to) = (debug_path(staged), debug_path(dest));
    if from.exists() {
        fs::copy(&from, &to)
            .map_err(|e| format!("copy {} -> {}: {e}", from.display(), to.display()))?;
    }
    Ok(())
}
