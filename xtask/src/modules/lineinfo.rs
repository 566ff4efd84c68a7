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

/// Publishes `staged.debug` beside `dest` (`dest.debug`).
pub(super) fn publish_debug(staged: &Path, dest: &Path) -> Result<(), String> {
    let (from, to) = (debug_path(staged), debug_path(dest));
    if from.exists() {
        fs::copy(&from, &to)
            .map_err(|e| format!("copy {} -> {}: {e}", from.display(), to.display()))?;
    }
    Ok(())
}
