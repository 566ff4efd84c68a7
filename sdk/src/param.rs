//! Module parameters (`insmod hello greeting=salut count=2`).
//!
//! The kernel checks every given value against the type declared in `.modinfo` before it
//! calls `init_module`, so parsing here fails only for parameters the module did not
//! declare with that type. Values are available while the kernel runs module code for
//! the load (init); read them there. `str` values are copied into a `String` because the
//! kernel's copy lives only for the duration of the call.

use crate::ffi::{self, KStr};
use alloc::string::String;

/// A parameter type: `str` (`String`), `u32`, `i32`, `u64`, `bool`.
pub trait Param: Sized {
    /// The type name written into `.modinfo` (`parm=NAME:TYPE:description`).
    const TYPE: &'static str;
    /// The type of a default value in [`module!`](crate::module) (`&'static str` for `str`).
    type Default;
    /// Parses a value as given on the insmod command line.
    fn parse(value: &str) -> Option<Self>;
    /// Converts a default value.
    fn from_default(d: Self::Default) -> Self;
}

impl Param for String {
    const TYPE: &'static str = kabi::param::ParamType::Str.name();
    type Default = &'static str;
    fn parse(value: &str) -> Option<Self> {
        Some(String::from(value))
    }
    fn from_default(d: &'static str) -> Self {
        String::from(d)
    }
}

macro_rules! int_param {
    ($($t:ty),*) => {$(
        impl Param for $t {
            const TYPE: &'static str = stringify!($t);
            type Default = $t;
            fn parse(value: &str) -> Option<Self> {
                value.parse().ok()
            }
            fn from_default(d: $t) -> Self {
                d
            }
        }
    )*};
}
int_param!(u32, i32, u64);

impl Param for bool {
    const TYPE: &'static str = kabi::param::ParamType::Bool.name();
    type Default = bool;
    /// Accepts what the kernel accepts: `1 y true` and `0 n false`.
    fn parse(value: &str) -> Option<Self> {
        kabi::param::parse_bool(value)
    }
    fn from_default(d: bool) -> Self {
        d
    }
}

/// The value of parameter `name` parsed as `T`; `None` when it was not given (or does not
/// parse, which the kernel prevents for declared parameters).
///
/// ```ignore
/// let count = kmod::param::<u32>("count").unwrap_or(1);
/// let greeting = kmod::param::<String>("greeting").unwrap_or_else(|| "Hello".into());
/// ```
pub fn param<T: Param>(name: &str) -> Option<T> {
    let mut out = KStr::EMPTY;
    // SAFETY: `name` is readable and `out` writable for the call.
    let r = unsafe { ffi::kmod_param(KStr::new(name), &mut out) };
    if r != 0 {
        return None;
    }
    // SAFETY: on success the kernel filled `out` with a string valid for this call.
    let bytes = unsafe { out.bytes() };
    T::parse(core::str::from_utf8(bytes).ok()?)
}
