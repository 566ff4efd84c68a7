//! The kernel API exported to modules (C ABI). The C view is `sdk/include/kmod.h`.

use crate::kexport;
use kabi::ffi::KStr;

pub use kabi::ffi::CmdFn;

kexport!(
    /// Writes bytes to the console.
    fn kmod_print(ptr: *const u8, len: usize) {
        // SAFETY: module ABI contract: `ptr..ptr+len` is readable.
        let bytes = unsafe { KStr { ptr, len }.bytes() };
        crate::platform::console::write_bytes(bytes);
    }
);

kexport!(
    /// Allocates from the kernel heap (null on failure or a bad layout).
    fn kmod_alloc(size: usize, align: usize) -> *mut u8 {
        crate::module::heap::alloc(size, align)
    }
);

kexport!(
    /// Frees memory from `kmod_alloc` (only blocks the calling module holds; the size and
    /// alignment are those recorded at allocation).
    fn kmod_free(ptr: *mut u8, _size: usize, _align: usize) {
        crate::module::heap::free(ptr as usize)
    }
);

kexport!(
    /// Resizes memory from `kmod_alloc`.
    fn kmod_realloc(ptr: *mut u8, _size: usize, _align: usize, new_size: usize) -> *mut u8 {
        crate::module::heap::realloc(ptr as usize, new_size)
    }
);

kexport!(
    /// Microseconds since boot.
    fn kmod_uptime_us() -> u64 {
        boards::timer::uptime_us()
    }
);

kexport!(
    /// Busy-waits.
    fn kmod_delay_us(us: u64) {
        boards::timer::delay_us(us.min(10_000_000));
    }
);

kexport!(
    /// Registers a shell command owned by the calling module. 0, or -17 (exists) / -22.
    fn kmod_register_command(name: KStr, help: KStr, handler: CmdFn) -> i32 {
        // SAFETY: module ABI contract: both strings are readable.
        let (name, help) = unsafe { (name.bytes(), help.bytes()) };
        let (Ok(name), Ok(help)) = (core::str::from_utf8(name), core::str::from_utf8(help)) else {
            return -22;
        };
        let Some(owner) = crate::module::current() else {
            return -1;
        };
        match crate::cmd::register_module_command(name, help, handler, &owner) {
            Ok(()) => 0,
            Err(crate::cmd::RegisterError::Exists) => -17,
            Err(_) => -22,
        }
    }
);

kexport!(
    /// Removes a shell command the calling module registered: 0, -2 (no such command)
    /// or -1 (not the caller's: the kernel's own commands and other modules' stay).
    fn kmod_unregister_command(name: KStr) -> i32 {
        // SAFETY: module ABI contract: the string is readable.
        let name = unsafe { name.bytes() };
        let (Ok(n), Some(owner)) = (core::str::from_utf8(name), crate::module::current()) else {
            return -2;
        };
        match crate::cmd::unregister(n, &owner) {
            Ok(()) => 0,
            Err(crate::cmd::UnregisterError::NotFound) => -2,
            Err(crate::cmd::UnregisterError::NotOwner) => -1,
        }
    }
);

kexport!(
    /// The value of an insmod parameter of the module being initialised. 0 or -2.
    fn kmod_param(name: KStr, out: *mut KStr) -> i32 {
        // SAFETY: module ABI contract: the string is readable.
        let name = unsafe { name.bytes() };
        let Ok(name) = core::str::from_utf8(name) else {
            return -22;
        };
        match crate::module::current_param(name) {
            Some((ptr, len)) if !out.is_null() => {
                // SAFETY: module ABI contract: `out` is writable. The value lives in the
                // module record until the module is unloaded.
                unsafe { out.write(KStr { ptr, len }) };
                0
            }
            _ => -2,
        }
    }
);

kexport!(
    /// Raises the oops path with a message; never returns.
    fn kmod_panic(msg: KStr) -> ! {
        // SAFETY: module ABI contract: the string is readable.
        let bytes = unsafe { msg.bytes() };
        let text = core::str::from_utf8(bytes).unwrap_or("<non-UTF-8 message>");
        crate::module::note_module_panic();
        panic!("{text}")
    }
);
