//! Module frames and the module list for oops reports: the [`ModuleHooks`] the fault
//! layer calls. Never blocks: a report may run while the module list is locked.

use super::MODULES;
use crate::fault::ModuleHooks;
use core::fmt;

/// The module manager's answers to the fault layer.
pub struct Hooks;

impl ModuleHooks for Hooks {
    fn in_module_area(&self, addr: u64) -> bool {
        super::area::contains(addr)
    }

    fn symbolize(
        &self,
        addr: u64,
        lookup: u64,
        w: &mut dyn fmt::Write,
    ) -> Result<bool, fmt::Error> {
        symbolize(addr, lookup, w)
    }

    fn function_range(&self, addr: u64) -> Option<(u64, u64)> {
        function_range(addr)
    }

    fn write_inlined(&self, lookup: u64, w: &mut dyn fmt::Write) -> fmt::Result {
        write_inlined(lookup, w)
    }

    fn write_linked(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        write_linked(w)
    }
}

/// Writes `name+0xoff/0xsize [module buildid] (file:line)` for an address in a module;
/// false if none covers it.
pub fn symbolize(addr: u64, lookup: u64, w: &mut dyn fmt::Write) -> Result<bool, fmt::Error> {
    let Some(mods) = MODULES.try_lock() else {
        return Ok(false);
    };
    for m in mods.iter() {
        if lookup >= m.base && lookup < m.base + m.size {
            if let Some((s, _)) = m.info.symbolize(lookup) {
                // Module symbols keep their (v0) mangled names; demangle without the hash.
                write!(
                    w,
                    "{:#}+{:#x}/{:#x} [{}",
                    rustc_demangle::demangle(&s.name),
                    addr.wrapping_sub(s.addr),
                    s.size,
                    m.name
                )?;
            } else {
                write!(w, "{:#x} [{}", addr, m.name)?;
            }
            if !m.lines.build_id().is_empty() {
                w.write_char(' ')?;
                m.lines.write_build_id(w)?;
            }
            w.write_char(']')?;
            m.lines.write_frame_line(lookup, w)?;
            return Ok(true);
        }
    }
    Ok(false)
}

/// The `(inlined)` lines of the module frame at `lookup`.
pub fn write_inlined(lookup: u64, w: &mut dyn fmt::Write) -> fmt::Result {
    let Some(mods) = MODULES.try_lock() else {
        return Ok(());
    };
    match mods
        .iter()
        .find(|m| lookup >= m.base && lookup < m.base + m.size)
    {
        Some(m) => m.lines.write_inlined(lookup, w),
        None => Ok(()),
    }
}

/// `[start, end)` of the module function containing `addr`.
pub fn function_range(addr: u64) -> Option<(u64, u64)> {
    let mods = MODULES.try_lock()?;
    let m = mods
        .iter()
        .find(|m| addr >= m.base && addr < m.base + m.size)?;
    let (s, _) = m.info.symbolize(addr)?;
    Some((s.addr, s.addr + s.size.max(1)))
}

/// Writes the `Modules linked in:` list.
pub fn write_linked(w: &mut dyn fmt::Write) -> fmt::Result {
    let Some(mods) = MODULES.try_lock() else {
        return w.write_str("<busy>");
    };
    for (i, m) in mods.iter().enumerate() {
        if i > 0 {
            w.write_str(" ")?;
        }
        write!(w, "{}({})", m.name, m.taint())?;
    }
    Ok(())
}
