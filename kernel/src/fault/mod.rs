//! The fault layer: recovery points, the exception handler, oops reports and the kernel's
//! taint. Module frames and the module list reach reports through [`ModuleHooks`], which
//! the module manager installs; this layer does not know modules.

pub mod recovery;
pub mod report;
pub mod taint;
pub mod trap;

use core::fmt;

/// What the fault layer needs to know about loaded code it does not own. Every method
/// must be safe to call from an exception handler: no blocking, no allocation.
pub trait ModuleHooks: Sync {
    /// Whether `addr` lies in memory the module manager hands out.
    fn in_module_area(&self, addr: u64) -> bool;
    /// Writes `name+0xoff/0xsize [module]` for `addr` (looked up at `lookup`); false if
    /// no module covers it.
    fn symbolize(&self, addr: u64, lookup: u64, w: &mut dyn fmt::Write)
        -> Result<bool, fmt::Error>;
    /// `[start, end)` of the module function containing `addr`.
    fn function_range(&self, addr: u64) -> Option<(u64, u64)>;
    /// Writes the `(inlined)` lines for `lookup` (see [`oops::Symbolizer::write_inlined`]).
    fn write_inlined(&self, lookup: u64, w: &mut dyn fmt::Write) -> fmt::Result;
    /// Writes the `Modules linked in:` list.
    fn write_linked(&self, w: &mut dyn fmt::Write) -> fmt::Result;
}

struct NoModules;

impl ModuleHooks for NoModules {
    fn in_module_area(&self, _: u64) -> bool {
        false
    }
    fn symbolize(&self, _: u64, _: u64, _: &mut dyn fmt::Write) -> Result<bool, fmt::Error> {
        Ok(false)
    }
    fn function_range(&self, _: u64) -> Option<(u64, u64)> {
        None
    }
    fn write_inlined(&self, _: u64, _: &mut dyn fmt::Write) -> fmt::Result {
        Ok(())
    }
    fn write_linked(&self, _: &mut dyn fmt::Write) -> fmt::Result {
        Ok(())
    }
}

static HOOKS: spin::Once<&'static dyn ModuleHooks> = spin::Once::new();

/// Installs the module manager's hooks (once, at boot).
pub fn set_module_hooks(h: &'static dyn ModuleHooks) {
    HOOKS.call_once(|| h);
}

/// The installed hooks (a stand-in that knows no modules before that).
pub fn modules() -> &'static dyn ModuleHooks {
    HOOKS.get().copied().unwrap_or(&NoModules)
}
