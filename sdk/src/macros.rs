//! `module!`, `export!`, `command!` and their helpers.

/// Declares the module: writes its `.modinfo` (name, version, license, author,
/// description, depends, parameters, vermagic, abi) and defines the `init_module` /
/// `cleanup_module` entry points the kernel calls.
///
/// ```ignore
/// kmod::module! {
///     name: "hello",
///     version: "0.1.0",
///     license: "MIT",
///     author: "Jane Doe",
///     description: "Prints a greeting",
///     depends: [],                      // optional: ["pair_provider", ...]
///     params: {                         // optional
///         /// What to print.            // the doc comment is the description
///         greeting: str = "Hello",
///         /// How often.
///         count: u32 = 1,
///     },
///     init: init,                       // fn() -> Result<(), i32>   (Err(kmod::EINVAL) ...)
///     exit: exit,                       // fn()                      (optional)
/// }
/// ```
///
/// Parameter types are `str`, `u32`, `i32`, `u64`, `bool`. For each parameter the macro
/// generates `params::NAME()` returning the value given at insmod or the default
/// (`String` for `str`); call it during init.
///
/// `vermagic` and `abi` come from the `KMOD_RELEASE` and `KMOD_ABI` environment variables
/// that `cargo xtask modules` sets from the kernel image it builds against.
#[macro_export]
macro_rules! module {
    (
        name: $name:expr,
        version: $version:expr,
        license: $license:expr,
        author: $author:expr,
        description: $description:expr,
        $(depends: [$($dep:expr),* $(,)?],)?
        $(params: {
            $(
                $(#[doc = $pdoc:literal])*
                $pname:ident : $pty:ident = $pdefault:expr
            ),* $(,)?
        },)?
        init: $init:path
        $(, exit: $exit:path)?
        $(,)?
    ) => {
        $crate::__modinfo!(".modinfo", $crate::__private::Piece::Raw("name="), $crate::__private::Piece::Raw($name));
        $crate::__modinfo!(".modinfo", $crate::__private::Piece::Raw("version="), $crate::__private::Piece::Raw($version));
        $crate::__modinfo!(".modinfo", $crate::__private::Piece::Raw("license="), $crate::__private::Piece::Raw($license));
        $crate::__modinfo!(".modinfo", $crate::__private::Piece::Raw("author="), $crate::__private::Piece::Raw($author));
        $crate::__modinfo!(".modinfo", $crate::__private::Piece::Raw("description="), $crate::__private::Piece::Raw($description));
        $crate::__modinfo!(".modinfo", $crate::__private::Piece::Raw("depends=") $($(, $crate::__private::Piece::Item($dep))*)?);
        $crate::__modinfo!(
            ".modinfo",
            $crate::__private::Piece::Raw("vermagic="),
            $crate::__private::Piece::Raw(::core::env!(
                "KMOD_RELEASE",
                "KMOD_RELEASE is not set: build modules with `cargo xtask modules`"
            ))
        );
        $crate::__modinfo!(
            ".modinfo",
            $crate::__private::Piece::Raw("abi="),
            $crate::__private::Piece::Raw(::core::env!(
                "KMOD_ABI",
                "KMOD_ABI is not set: build modules with `cargo xtask modules`"
            ))
        );
        $($(
            $crate::__modinfo!(
                ".modinfo",
                $crate::__private::Piece::Raw("parm="),
                $crate::__private::Piece::Raw(::core::stringify!($pname)),
                $crate::__private::Piece::Raw(":"),
                $crate::__private::Piece::Raw(<$crate::__param_type!($pty) as $crate::__private::Param>::TYPE),
                $crate::__private::Piece::Raw(":")
                $(, $crate::__private::Piece::Doc($pdoc))*
            );
        )*)?

        /// The module's parameters: the value given at insmod, or the default.
        #[allow(dead_code)]
        pub mod params {
            $($(
                $(#[doc = $pdoc])*
                pub fn $pname() -> $crate::__param_type!($pty) {
                    $crate::param::<$crate::__param_type!($pty)>(::core::stringify!($pname))
                        .unwrap_or_else(|| {
                            <$crate::__param_type!($pty) as $crate::__private::Param>::from_default(
                                $pdefault,
                            )
                        })
                }
            )*)?
        }

        /// Called by the kernel after linking: 0, or a negative errno to refuse the load.
        #[no_mangle]
        pub extern "C" fn init_module() -> i32 {
            let init: fn() -> ::core::result::Result<(), i32> = $init;
            $crate::__private::init_status(init())
        }

        /// Called by the kernel on rmmod.
        #[no_mangle]
        pub extern "C" fn cleanup_module() {
            $(
                let exit: fn() = $exit;
                exit();
            )?
        }
    };
}

/// Maps a `.modinfo` parameter type name to its Rust type.
#[doc(hidden)]
#[macro_export]
macro_rules! __param_type {
    (str) => {
        $crate::alloc::string::String
    };
    (u32) => {
        u32
    };
    (i32) => {
        i32
    };
    (u64) => {
        u64
    };
    (bool) => {
        bool
    };
    ($other:ident) => {
        ::core::compile_error!(::core::concat!(
            "unknown module parameter type `",
            ::core::stringify!($other),
            "` (use str, u32, i32, u64 or bool)"
        ))
    };
}

/// Emits one NUL-terminated entry into a metadata section.
#[doc(hidden)]
#[macro_export]
macro_rules! __modinfo {
    ($section:literal, $($piece:expr),+ $(,)?) => {
        const _: () = {
            const PIECES: &[$crate::__private::Piece] = &[$($piece),+];
            const LEN: usize = $crate::__private::encoded_len(PIECES);
            #[link_section = $section]
            #[used]
            static ENTRY: [u8; LEN] = $crate::__private::encode::<LEN>(PIECES);
        };
    };
}

/// Exports symbols to modules loaded later (lists them in `.modexports`). Each must be a
/// `#[no_mangle] pub extern "C" fn` (or `#[no_mangle] pub static`) of this module; users
/// declare it `extern "C"` and add this module to their `depends`.
///
/// ```ignore
/// #[no_mangle]
/// pub extern "C" fn pair_add(a: u64, b: u64) -> u64 { a + b }
/// kmod::export!(pair_add);
/// ```
#[macro_export]
macro_rules! export {
    ($($sym:ident),+ $(,)?) => {
        $(
            const _: () = {
                // The name must resolve to an item of this crate.
                let _ = &$sym;
            };
            $crate::__modinfo!(
                ".modexports",
                $crate::__private::Piece::Raw(::core::stringify!($sym))
            );
        )+
    };
}

/// Registers a shell command whose handler is a plain Rust
/// `fn(&[&str]) -> Result<(), String>`; generates the `extern "C"` shim. Evaluates to
/// `Result<(), i32>` (the kernel's negative errno, e.g. -17 when the name is taken).
///
/// ```ignore
/// fn greet(args: &[&str]) -> Result<(), String> {
///     println!("greet: hello, {}", args.join(" "));
///     Ok(())
/// }
/// // in init:
/// kmod::command!("greet", "say hello", greet)?;
/// // in exit:
/// let _ = kmod::unregister_command("greet");
/// ```
#[macro_export]
macro_rules! command {
    ($name:expr, $help:expr, $handler:expr $(,)?) => {{
        extern "C" fn __kmod_command_shim(argc: usize, argv: *const $crate::KStr) -> i32 {
            let name: &str = $name;
            let handler: $crate::Handler = $handler;
            // SAFETY: the kernel passes `argc` arguments readable for the call.
            unsafe { $crate::__private::run_command(name, argc, argv, handler) }
        }
        $crate::register_command($name, $help, __kmod_command_shim)
    }};
}

/// Declares tests, run by `cargo xtask test-module` or `ktest MODULE` (one KTAP result
/// each, under containment with a deadline):
///
/// ```ignore
/// kmod::ktests! {
///     fn adds() { kmod::kassert_eq!(2 + 2, 4); }
///     fn sorts() { let mut v = vec![3, 1, 2]; v.sort(); kmod::kassert!(v == [1, 2, 3]); }
/// }
/// ```
///
/// A failed [`kassert!`](crate::kassert) or [`kassert_eq!`](crate::kassert_eq) reports the
/// file, line and values and returns from the test; a panic, a fault or a timeout fails the
/// test too.
#[macro_export]
macro_rules! ktests {
    ($(fn $name:ident() $body:block)*) => {
        $(
            const _: () = {
                extern "C" fn __kmod_test() {
                    fn $name() $body
                    $name()
                }
                #[link_section = ".kmod_tests"]
                #[used]
                static RECORD: $crate::__private::TestRecord = $crate::__private::TestRecord {
                    name: $crate::KStr::new(stringify!($name)),
                    func: __kmod_test,
                    line: line!(),
                    reserved: 0,
                };
            };
        )*
    };
}

/// Fails the running test (and returns from it) unless `cond` holds.
#[macro_export]
macro_rules! kassert {
    ($cond:expr $(,)?) => {
        if !$cond {
            $crate::__private::test_fail(
                file!(),
                line!(),
                format_args!("kassert!({})", stringify!($cond)),
            );
            return;
        }
    };
}

/// Fails the running test (and returns from it) unless `left == right`; reports both
/// values (`Debug`).
#[macro_export]
macro_rules! kassert_eq {
    ($left:expr, $right:expr $(,)?) => {
        match (&$left, &$right) {
            (l, r) => {
                if !(*l == *r) {
                    $crate::__private::test_fail(
                        file!(),
                        line!(),
                        format_args!(
                            "kassert_eq!({}, {}): left {:?}, right {:?}",
                            stringify!($left),
                            stringify!($right),
                            l,
                            r
                        ),
                    );
                    return;
                }
            }
        }
    };
}
