//! `bigdata`: a 256 KiB initialized table (`.data`) and a 1 MiB zeroed buffer (`.bss`).
//! Init checks the table against its formula and that the buffer starts zeroed and is
//! writable, then prints `bigdata: data ok, bss ok`.

#![no_std]

use core::ptr::{addr_of, addr_of_mut, read_volatile, write_volatile};
use kmod::prelude::*;

kmod::module! {
    name: "bigdata",
    version: "0.1.0",
    license: "MIT",
    author: "The unikernel authors",
    description: "256 KiB of initialized data and 1 MiB of bss",
    init: init,
    exit: exit,
}

const WORDS: usize = 65536; // 256 KiB of u32
const BSS_BYTES: usize = 1 << 20;

/// Never zero, different in every word.
const fn pattern(i: usize) -> u32 {
    (i as u32).wrapping_mul(0x9e37_79b9) ^ 0xa5a5_0001 | 1
}

static mut TABLE: [u32; WORDS] = {
    let mut t = [0u32; WORDS];
    let mut i = 0;
    while i < WORDS {
        t[i] = pattern(i);
        i += 1;
    }
    t
};

static mut BSS: [u64; BSS_BYTES / 8] = [0; BSS_BYTES / 8];

fn check_data() -> Result<(), String> {
    let t = addr_of_mut!(TABLE) as *mut u32;
    for i in 0..WORDS {
        // SAFETY: in bounds of TABLE; only init touches it (single-threaded).
        let got = unsafe { read_volatile(t.add(i)) };
        if got != pattern(i) {
            return Err(format!("word {i} is {got:#x}, expected {:#x}", pattern(i)));
        }
    }
    // It is writable data: flip one word and put it back.
    // SAFETY: as above.
    unsafe {
        write_volatile(t.add(WORDS / 2), 0);
        if read_volatile(t.add(WORDS / 2)) != 0 {
            return Err("table is not writable".into());
        }
        write_volatile(t.add(WORDS / 2), pattern(WORDS / 2));
    }
    Ok(())
}

fn check_bss() -> Result<(), String> {
    let b = addr_of_mut!(BSS) as *mut u64;
    let n = BSS_BYTES / 8;
    for i in 0..n {
        // SAFETY: in bounds of BSS; only init touches it.
        let got = unsafe { read_volatile(b.add(i)) };
        if got != 0 {
            return Err(format!("bss word {i} is {got:#x}, expected 0"));
        }
    }
    // Touch every word, check, and leave it zeroed again.
    for i in 0..n {
        // SAFETY: as above.
        unsafe { write_volatile(b.add(i), (i as u64) ^ 0x5555_aaaa_0000_ffff) };
    }
    for i in 0..n {
        // SAFETY: as above.
        let got = unsafe { read_volatile(b.add(i)) };
        if got != (i as u64) ^ 0x5555_aaaa_0000_ffff {
            return Err(format!("bss word {i} did not keep its value"));
        }
        // SAFETY: as above.
        unsafe { write_volatile(b.add(i), 0) };
    }
    Ok(())
}

fn init() -> Result<(), i32> {
    println!(
        "bigdata: table {} KiB at {:p}, bss {} KiB at {:p}",
        WORDS * 4 / 1024,
        addr_of!(TABLE),
        BSS_BYTES / 1024,
        addr_of!(BSS)
    );
    let data = check_data();
    let bss = check_bss();
    match (data, bss) {
        (Ok(()), Ok(())) => {
            println!("bigdata: data ok, bss ok");
            Ok(())
        }
        (d, b) => {
            if let Err(e) = d {
                println!("bigdata: data FAILED: {e}");
            }
            if let Err(e) = b {
                println!("bigdata: bss FAILED: {e}");
            }
            Err(kmod::EIO)
        }
    }
}

fn exit() {
    println!("bigdata: bye");
}
