//! Boot-time probing that needs the fault layer: the device tree is parsed under a
//! recovery point.

use crate::fault::recovery;
use boards::virt::BoardInfo;

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
