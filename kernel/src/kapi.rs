//! The kernel API exported to modules (C ABI). The C view is `sdk/include/kmod.h`.

use crate::exports::KStr;
use crate::kexport;
use core::alloc::Layout;

pub use kabi::ffi::CmdFn;

kexport!(
    /// Writes bytes to the console.
    fn kmod_print(ptr: *const u8, len: usize) {
        // SAFETY: module ABI contract: `ptr..ptr+len` is readable.
        let bytes = unsafe { KStr { ptr, len }.bytes() };
        crate::console::write_bytes(bytes);
    }
);

kexport!(
    /// Allocates from the kernel heap (null on failure or a bad layout).
    fn kmod_alloc(size: usize, align: usize) -> *mut u8 {
        match Layout::from_size_align(size.max(1), align.max(1)) {
            // SAFETY: the layout has non-zero size.
            Ok(l) => unsafe { alloc::alloc::alloc(l) },
            Err(_) => core::ptr::null_mut(),
        }
    }
);

kexport!(
    /// Frees memory from `kmod_alloc` with the same size and alignment.
    fn kmod_free(ptr: *mut u8, size: usize, align: usize) {
        if ptr.is_null() {
            return;
        }
        if let Ok(l) = Layout::from_size_align(size.max(1), align.max(1)) {
            // SAFETY: module ABI contract: `ptr` came from `kmod_alloc` with this layout.
            unsafe { alloc::alloc::dealloc(ptr, l) }
        }
    }
);

kexport!(
    /// Resizes memory from `kmod_alloc`.
    fn kmod_realloc(ptr: *mut u8, size: usize, align: usize, new_size: usize) -> *mut u8 {
        match Layout::from_size_align(size.max(1), align.max(1)) {
            // SAFETY: module ABI contract: `ptr` came from `kmod_alloc` with this layout.
            Ok(l) if !ptr.is_null() && new_size > 0 => unsafe {
                alloc::alloc::realloc(ptr, l, new_size)
            },
            _ => core::ptr::null_mut(),
        }
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
        match crate::shell::register_module_command(name, help, handler, &owner) {
            Ok(()) => 0,
            Err(crate::shell::RegisterError::Exists) => -17,
            Err(_) => -22,
        }
    }
);

kexport!(
    /// Removes a shell command the calling module registered. 0 or -2.
    fn kmod_unregister_command(name: KStr) -> i32 {
        // SAFETY: module ABI contract: the string is readable.
        let name = unsafe { name.bytes() };
        match core::str::from_utf8(name) {
            Ok(n) if crate::shell::unregister(n) => 0,
            _ => -2,
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
