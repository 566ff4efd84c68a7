//! Host stand-ins for the kernel exports, so the SDK's logic runs under `cargo test`.

use crate::ffi::{CmdFn, KStr};
use std::cell::RefCell;
use std::string::String;
use std::vec::Vec;

std::thread_local! {
    pub static OUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    pub static PRINTS: RefCell<usize> = const { RefCell::new(0) };
    pub static PARAMS: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
    pub static COMMANDS: RefCell<Vec<(String, String, CmdFn)>> = const { RefCell::new(Vec::new()) };
    pub static FAILURES: RefCell<Vec<(String, u32, String)>> = const { RefCell::new(Vec::new()) };
}

pub fn take_output() -> String {
    PRINTS.with(|p| *p.borrow_mut() = 0);
    OUT.with(|o| String::from_utf8(core::mem::take(&mut *o.borrow_mut())).unwrap())
}

pub fn prints() -> usize {
    PRINTS.with(|p| *p.borrow())
}

fn s(k: KStr) -> String {
    // SAFETY: test callers pass valid strings.
    String::from_utf8(unsafe { k.bytes() }.to_vec()).unwrap()
}

#[no_mangle]
extern "C" fn kmod_print(bytes: *const u8, len: usize) -> i32 {
    // SAFETY: the SDK passes readable bytes.
    let b = unsafe { KStr { ptr: bytes, len }.bytes() };
    OUT.with(|o| o.borrow_mut().extend_from_slice(b));
    PRINTS.with(|p| *p.borrow_mut() += 1);
    0
}

#[no_mangle]
extern "C" fn kmod_alloc(size: usize, align: usize) -> *mut u8 {
    let l = std::alloc::Layout::from_size_align(size.max(1), align).unwrap();
    // SAFETY: non-zero size.
    unsafe { std::alloc::alloc(l) }
}

#[no_mangle]
extern "C" fn kmod_free(ptr: *mut u8, size: usize, align: usize) {
    let l = std::alloc::Layout::from_size_align(size.max(1), align).unwrap();
    // SAFETY: test contract.
    unsafe { std::alloc::dealloc(ptr, l) }
}

#[no_mangle]
extern "C" fn kmod_realloc(ptr: *mut u8, size: usize, align: usize, new_size: usize) -> *mut u8 {
    let l = std::alloc::Layout::from_size_align(size.max(1), align).unwrap();
    // SAFETY: test contract.
    unsafe { std::alloc::realloc(ptr, l, new_size) }
}

#[no_mangle]
extern "C" fn kmod_uptime_us() -> u64 {
    42
}

#[no_mangle]
extern "C" fn kmod_delay_us(_us: u64) {}

#[no_mangle]
extern "C" fn kmod_register_command(name: KStr, help: KStr, handler: CmdFn) -> i32 {
    let (name, help) = (s(name), s(help));
    COMMANDS.with(|c| {
        let mut c = c.borrow_mut();
        if c.iter().any(|(n, _, _)| *n == name) {
            return -17;
        }
        c.push((name, help, handler));
        0
    })
}

#[no_mangle]
extern "C" fn kmod_unregister_command(name: KStr) -> i32 {
    let name = s(name);
    COMMANDS.with(|c| {
        let mut c = c.borrow_mut();
        let before = c.len();
        c.retain(|(n, _, _)| *n != name);
        if c.len() == before {
            -2
        } else {
            0
        }
    })
}

#[no_mangle]
extern "C" fn kmod_param(name: KStr, out: *mut KStr) -> i32 {
    let name = s(name);
    PARAMS.with(|p| {
        // Leaked so the pointer stays valid; tests are short-lived.
        match p.borrow().iter().find(|(k, _)| *k == name) {
            Some((_, v)) => {
                let v: &'static str = std::boxed::Box::leak(v.clone().into_boxed_str());
                // SAFETY: the SDK passes a writable `out`.
                unsafe { out.write(KStr::new(v)) };
                0
            }
            None => -2,
        }
    })
}

#[no_mangle]
extern "C" fn kmod_panic(message: KStr) -> ! {
    panic!("kmod_panic: {}", s(message))
}

#[no_mangle]
extern "C" fn kmod_test_fail(file: KStr, line: u32, expr: KStr, left: i64, right: i64, has: i32) {
    let mut e = s(expr);
    if has != 0 {
        e.push_str(&std::format!(" {left} {right}"));
    }
    FAILURES.with(|f| f.borrow_mut().push((s(file), line, e)));
}
