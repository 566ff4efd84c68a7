//! Printing untrusted text (module metadata) so that it cannot drive the terminal.

use core::fmt;

/// Displays a string with every control character escaped: `\n`, `\r`, `\t`, `\\` and
/// `\xNN` for other C0 controls and DEL, `\u{NN}` for C1 controls. Everything else is
/// printed as it is.
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                '\\' => f.write_str("\\\\")?,
                c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:02x}", c as u32)?,
                c if (0x80..0xa0).contains(&(c as u32)) => write!(f, "\\u{{{:x}}}", c as u32)?,
                c => fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

/// Whether `name` is a valid module name: 1 to [`MAX_NAME`] characters of `[A-Za-z0-9_]`
/// (Linux's `MODULE_NAME_LEN` is 56 with the NUL).
pub fn is_module_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Longest module name.
pub const MAX_NAME: usize = 55;

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn controls_are_escaped() {
        let s = format!("{}", Escaped("a b\x1b[2J\x01\n\\\u{85}é"));
        assert_eq!(s, "a b\\x1b[2J\\x01\\n\\\\\\u{85}é");
        assert!(!s.chars().any(|c| c.is_control()));
    }

    #[test]
    fn module_names() {
        assert!(is_module_name("hello_c"));
        assert!(is_module_name(&"a".repeat(55)));
        assert!(!is_module_name(&"a".repeat(56)));
        assert!(!is_module_name(""));
        assert!(!is_module_name("a b"));
        assert!(!is_module_name("a\x01"));
        assert!(!is_module_name("a-b"));
    }
}
