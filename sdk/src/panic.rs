//! The panic handler: a module panic becomes a kernel oops (via `kmod_panic`), which
//! abandons the call into the module and marks the module faulted.

#[cfg(all(target_os = "none", not(test)))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    use core::fmt::Write;
    use core::sync::atomic::{AtomicBool, Ordering};

    // Set only while formatting: a panic inside a Display impl must not recurse forever.
    static FORMATTING: AtomicBool = AtomicBool::new(false);
    if FORMATTING.swap(true, Ordering::Relaxed) {
        // SAFETY: kernel export; the message is a static string.
        unsafe {
            crate::ffi::kmod_panic(crate::KStr::new(
                "module panicked while formatting a panic message",
            ))
        }
    }
    let mut buf = crate::print::StackBuf::<512>::new();
    let _ = write!(buf, "{}", info.message());
    if let Some(loc) = info.location() {
        let _ = write!(buf, " (at {}:{}:{})", loc.file(), loc.line(), loc.column());
    }
    FORMATTING.store(false, Ordering::Relaxed);
    // SAFETY: kernel export; `buf` lives on this stack frame, which the kernel does not
    // return to, and it copies/prints the message before abandoning the call.
    unsafe { crate::ffi::kmod_panic(crate::KStr::new(buf.as_str())) }
}
