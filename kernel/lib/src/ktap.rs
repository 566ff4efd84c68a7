//! Writing KTAP version 1 (Linux's `Documentation/dev-tools/ktap.rst`): a version line, a
//! plan, one numbered result line per test, `# ` diagnostics before the result they
//! explain, and subtests as whole documents indented by two spaces per level.

use core::fmt::{self, Write};

/// How a test ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Result<'a> {
    /// Passed.
    Ok,
    /// Failed.
    NotOk,
    /// Failed by running out of time: `not ok … # TIMEOUT <why>`.
    Timeout(&'a str),
    /// Failed to run to its end (a fault, a panic): `not ok … # ERROR <why>`.
    Error(&'a str),
    /// Skipped: `ok … # SKIP <why>`.
    Skip(&'a str),
}

impl Result<'_> {
    /// Whether the test counts as passed (skips do).
    pub fn passed(&self) -> bool {
        matches!(self, Result::Ok | Result::Skip(_))
    }
}

/// A KTAP writer at one nesting level.
pub struct Ktap<'w> {
    w: &'w mut dyn Write,
    level: usize,
}

impl<'w> Ktap<'w> {
    /// A top-level document on `w`.
    pub fn new(w: &'w mut dyn Write) -> Ktap<'w> {
        Ktap { w, level: 0 }
    }

    /// The same writer one level deeper (a subtest's document).
    pub fn nested(&mut self) -> Ktap<'_> {
        Ktap {
            w: self.w,
            level: self.level + 1,
        }
    }

    fn indent(&mut self) -> fmt::Result {
        for _ in 0..self.level {
            self.w.write_str("  ")?;
        }
        Ok(())
    }

    /// `KTAP version 1` and the plan `1..n`.
    pub fn header(&mut self, n: usize) -> fmt::Result {
        self.indent()?;
        self.w.write_str("KTAP version 1\n")?;
        self.indent()?;
        writeln!(self.w, "1..{n}")
    }

    /// A diagnostic line, `# text` (line breaks in `text` start new diagnostic lines).
    pub fn diag(&mut self, text: fmt::Arguments<'_>) -> fmt::Result {
        let mut line = Line {
            k: self,
            fresh: true,
        };
        line.write_fmt(text)?;
        if !line.fresh {
            line.k.w.write_str("\n")?;
        }
        Ok(())
    }

    /// The result line of test number `n`. `#` in `name` would start a directive, so it
    /// is written as `_`.
    pub fn result(&mut self, n: usize, name: &str, r: Result<'_>) -> fmt::Result {
        self.indent()?;
        let word = if r.passed() { "ok" } else { "not ok" };
        write!(self.w, "{word} {n} ")?;
        for c in name.chars() {
            self.w
                .write_char(if c == '#' || c.is_control() { '_' } else { c })?;
        }
        match r {
            Result::Ok | Result::NotOk => {}
            Result::Timeout(why) => write!(self.w, " # TIMEOUT {why}")?,
            Result::Error(why) => write!(self.w, " # ERROR {why}")?,
            Result::Skip(why) => write!(self.w, " # SKIP {why}")?,
        }
        self.w.write_str("\n")
    }
}

/// Writes diagnostic text, prefixing every line with the indentation and `# `.
struct Line<'a, 'w> {
    k: &'a mut Ktap<'w>,
    fresh: bool,
}

impl Write for Line<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for (i, part) in s.split('\n').enumerate() {
            if i > 0 {
                self.k.w.write_str("\n")?;
                self.fresh = true;
            }
            if part.is_empty() {
                continue;
            }
            if self.fresh {
                self.k.indent()?;
                self.k.w.write_str("# ")?;
                self.fresh = false;
            }
            for c in part.chars() {
                self.k.w.write_char(if c.is_control() { '?' } else { c })?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    #[test]
    fn nested_document_as_the_spec_shows() {
        let mut s = String::new();
        let mut k = Ktap::new(&mut s);
        k.header(1).unwrap();
        {
            let mut sub = k.nested();
            sub.header(3).unwrap();
            sub.result(1, "adds", Result::Ok).unwrap();
            sub.diag(format_args!(
                "fails: a.c:7: KASSERT_EQ(x, 3): left {}, right {}",
                2, 3
            ))
            .unwrap();
            sub.result(2, "fails", Result::NotOk).unwrap();
            sub.result(3, "hangs", Result::Timeout("2000 ms")).unwrap();
        }
        k.diag(format_args!("two lines\nof text")).unwrap();
        k.result(1, "my#mod", Result::NotOk).unwrap();
        assert_eq!(
            s,
            "KTAP version 1\n1..1\n  KTAP version 1\n  1..3\n  ok 1 adds\n  \
             # fails: a.c:7: KASSERT_EQ(x, 3): left 2, right 3\n  not ok 2 fails\n  \
             not ok 3 hangs # TIMEOUT 2000 ms\n# two lines\n# of text\nnot ok 1 my_mod\n"
        );
        assert!(Result::Skip("x").passed() && !Result::Error("fault").passed());
    }
}
