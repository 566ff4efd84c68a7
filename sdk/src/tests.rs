use crate::__private::{encode, encoded_len, Piece};
use crate::mock;
use std::string::{String, ToString};
use std::vec::Vec;

#[test]
fn modinfo_encoding() {
    const P: &[Piece] = &[Piece::Raw("name="), Piece::Raw("hello")];
    const E: [u8; encoded_len(P)] = encode::<{ encoded_len(P) }>(P);
    assert_eq!(&E, b"name=hello\0");

    const D: &[Piece] = &[
        Piece::Raw("depends="),
        Piece::Item("a"),
        Piece::Item("b"),
        Piece::Item("c"),
    ];
    const DE: [u8; encoded_len(D)] = encode::<{ encoded_len(D) }>(D);
    assert_eq!(&DE, b"depends=a,b,c\0");

    const N: &[Piece] = &[Piece::Raw("depends=")];
    const NE: [u8; encoded_len(N)] = encode::<{ encoded_len(N) }>(N);
    assert_eq!(&NE, b"depends=\0");

    const PARM: &[Piece] = &[
        Piece::Raw("parm="),
        Piece::Raw("count"),
        Piece::Raw(":u32:"),
        Piece::Doc(" How often to"),
        Piece::Doc(" print it. "),
    ];
    const PE: [u8; encoded_len(PARM)] = encode::<{ encoded_len(PARM) }>(PARM);
    assert_eq!(&PE, b"parm=count:u32:How often to print it.\0");
}

#[test]
fn println_is_one_kernel_call_per_short_line() {
    mock::take_output();
    crate::println!("hello: {} ({}/{})", "Hello", 1, 2);
    assert_eq!(mock::prints(), 1);
    assert_eq!(mock::take_output(), "hello: Hello (1/2)\n");

    let long = "x".repeat(1000);
    crate::print!("{long}");
    assert_eq!(mock::prints(), 4);
    assert_eq!(mock::take_output(), long);

    crate::println!();
    assert_eq!(mock::take_output(), "\n");
}

#[test]
fn stack_buf_truncates_at_char_boundary() {
    use core::fmt::Write;
    let mut b = crate::print::StackBuf::<5>::new();
    write!(b, "ab\u{e9}\u{e9}").unwrap(); // 2 + 2 + 2 bytes
    assert_eq!(b.as_str(), "ab\u{e9}");
    write!(b, "zzz").unwrap();
    assert_eq!(b.as_str(), "ab\u{e9}z");
}

#[test]
fn params_parse_like_the_kernel() {
    use crate::Param;
    mock::PARAMS.with(|p| {
        *p.borrow_mut() = std::vec![
            ("greeting".to_string(), "salut".to_string()),
            ("count".to_string(), "2".to_string()),
            ("neg".to_string(), "-5".to_string()),
            ("big".to_string(), "18446744073709551615".to_string()),
            ("flag".to_string(), "y".to_string()),
            ("off".to_string(), "false".to_string()),
        ]
    });
    assert_eq!(crate::param::<String>("greeting").as_deref(), Some("salut"));
    assert_eq!(crate::param::<u32>("count"), Some(2));
    assert_eq!(crate::param::<i32>("neg"), Some(-5));
    assert_eq!(crate::param::<u32>("neg"), None);
    assert_eq!(crate::param::<u64>("big"), Some(u64::MAX));
    assert_eq!(crate::param::<bool>("flag"), Some(true));
    assert_eq!(crate::param::<bool>("off"), Some(false));
    assert_eq!(crate::param::<bool>("count"), None);
    assert_eq!(crate::param::<u32>("missing"), None);
    assert_eq!(<u32 as Param>::TYPE, "u32");
    assert_eq!(<String as Param>::TYPE, "str");
    assert_eq!(<bool as Param>::TYPE, "bool");
}

fn greet(args: &[&str]) -> Result<(), String> {
    if args.is_empty() {
        return Err("need a name".to_string());
    }
    crate::println!("greet: hello, {}", args.join(" "));
    Ok(())
}

#[test]
fn command_shim_and_registration() {
    mock::take_output();
    assert_eq!(crate::command!("greet", "say hello", greet), Ok(()));
    assert_eq!(crate::command!("greet", "again", greet), Err(-17));
    let f = mock::COMMANDS.with(|c| c.borrow()[0].2);
    let argv = [crate::KStr::new("world"), crate::KStr::new("!")];
    assert_eq!(f(argv.len(), argv.as_ptr()), 0);
    assert_eq!(mock::take_output(), "greet: hello, world !\n");
    assert_eq!(f(0, core::ptr::null()), 1);
    assert_eq!(mock::take_output(), "greet: need a name\n");
    assert_eq!(crate::unregister_command("greet"), Ok(()));
    assert_eq!(crate::unregister_command("greet"), Err(-2));
}

#[test]
fn init_status_is_negative_errno() {
    use crate::__private::init_status;
    assert_eq!(init_status(Ok(())), 0);
    assert_eq!(init_status(Err(crate::EINVAL)), -22);
    assert_eq!(init_status(Err(-12)), -12);
    assert_eq!(init_status(Err(0)), -1);
}

#[test]
fn allocator_round_trip() {
    use core::alloc::{GlobalAlloc, Layout};
    let a = crate::KernelAllocator;
    let l = Layout::from_size_align(24, 16).unwrap();
    // SAFETY: non-zero layout; the pointer is used within its size and freed once.
    unsafe {
        let p = a.alloc(l);
        assert!(!p.is_null() && (p as usize).trailing_zeros() >= 4);
        p.write_bytes(7, 24);
        let q = a.realloc(p, l, 100);
        assert_eq!(*q.add(23), 7);
        a.dealloc(q, Layout::from_size_align(100, 16).unwrap());
    }
}

/// Every function `kmod.h` declares is bound in `ffi`, and nothing else.
#[test]
fn ffi_matches_kmod_h() {
    let header = include_str!("../include/kmod.h");
    let mut declared: Vec<&str> = header
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('#') && !l.starts_with("static"))
        .filter_map(|l| {
            let i = l.find("kmod_")?;
            let rest = &l[i..];
            let end = rest.find('(')?;
            let name = &rest[..end];
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
                .then_some(name)
        })
        .collect();
    declared.sort_unstable();
    declared.dedup();
    assert_eq!(declared, crate::ffi::EXPORTS);
    let ffi = include_str!("ffi.rs");
    for name in crate::ffi::EXPORTS {
        assert!(ffi.contains(&std::format!("pub fn {name}(")), "{name}");
    }
}

#[test]
fn param_type_names_are_the_kernels() {
    use crate::param::Param;
    use kabi::param::ParamType;
    assert_eq!(<u32 as Param>::TYPE, ParamType::U32.name());
    assert_eq!(<i32 as Param>::TYPE, ParamType::I32.name());
    assert_eq!(<u64 as Param>::TYPE, ParamType::U64.name());
    assert_eq!(<bool as Param>::TYPE, ParamType::Bool.name());
    assert_eq!(
        <alloc::string::String as Param>::TYPE,
        ParamType::Str.name()
    );
}

mod ktests_macro {
    crate::ktests! {
        fn passes() { crate::kassert_eq!(2 + 2, 4); crate::kassert!(true); }
        fn fails_eq() { crate::kassert_eq!(2 + 2, 5); unreachable!("kassert_eq returns"); }
    }

    fn run_failing() {
        crate::kassert!(1 > 2);
        unreachable!("kassert returns");
    }

    #[test]
    fn assertions_report_and_return() {
        crate::mock::FAILURES.with(|f| f.borrow_mut().clear());
        run_failing();
        let f = crate::mock::FAILURES.with(|f| f.borrow().clone());
        assert_eq!(f.len(), 1);
        assert!(f[0].0.ends_with("tests.rs") && f[0].1 > 0, "{f:?}");
        assert_eq!(f[0].2, "kassert!(1 > 2)");
    }

    #[test]
    fn eq_reports_both_values() {
        crate::mock::FAILURES.with(|f| f.borrow_mut().clear());
        (|| crate::kassert_eq!(2 + 2, 5))();
        let f = crate::mock::FAILURES.with(|f| f.borrow().clone());
        assert_eq!(f[0].2, "kassert_eq!(2 + 2, 5): left 4, right 5");
    }
}
