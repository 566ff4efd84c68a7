//! A strict reader of KTAP version 1 (Linux's `Documentation/dev-tools/ktap.rst`), written
//! from the specification and independent of the kernel's writer: the tests' oracle.
//!
//! Checked: the version line; a plan before the results; result numbers starting at 1 and
//! rising by 1; as many results as planned; subtests as whole documents indented by two
//! more spaces, followed by the parent's result line; a parent that passes only if every
//! subtest does (skips count as passes); `TIMEOUT` and `ERROR` only on `not ok`. Unknown
//! lines (other console output) are allowed anywhere and ignored.

/// One test result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Test {
    /// Its number.
    pub number: usize,
    /// Its description.
    pub name: String,
    /// `ok` (true) or `not ok`.
    pub ok: bool,
    /// The directive (`SKIP`, `TIMEOUT`, `ERROR`, ...) and its text.
    pub directive: Option<(String, String)>,
    /// Diagnostic lines just before the result line (without `# `).
    pub diagnostics: Vec<String>,
    /// Its subtests, if it has any.
    pub subtests: Option<Document>,
}

/// A KTAP document: the plan and the results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    /// The plan's `N` in `1..N`.
    pub plan: usize,
    /// The results, in order.
    pub tests: Vec<Test>,
}

impl Document {
    /// Every leaf test, depth first: `(path, test)` where path joins names with `.`.
    pub fn leaves(&self) -> Vec<(String, &Test)> {
        let mut out = Vec::new();
        for t in &self.tests {
            match &t.subtests {
                Some(d) => {
                    for (p, l) in d.leaves() {
                        out.push((format!("{}.{p}", t.name), l));
                    }
                }
                None => out.push((t.name.clone(), t)),
            }
        }
        out
    }

    /// Whether every test passed.
    pub fn passed(&self) -> bool {
        self.tests.iter().all(|t| t.ok)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Line {
    Version,
    Plan(usize),
    Result {
        ok: bool,
        number: usize,
        name: String,
        directive: Option<(String, String)>,
    },
    Diag(String),
    Unknown,
}

fn classify(body: &str) -> Line {
    if body == "KTAP version 1" {
        return Line::Version;
    }
    if let Some(n) = body.strip_prefix("1..") {
        if let Ok(n) = n.trim().parse() {
            return Line::Plan(n);
        }
    }
    if let Some(d) = body.strip_prefix("# ") {
        return Line::Diag(d.to_string());
    }
    if body == "#" {
        return Line::Diag(String::new());
    }
    let (ok, rest) = if let Some(r) = body.strip_prefix("not ok ") {
        (false, r)
    } else if let Some(r) = body.strip_prefix("ok ") {
        (true, r)
    } else {
        return Line::Unknown;
    };
    let (num, tail) = rest.split_once(' ').unwrap_or((rest, ""));
    let Ok(number) = num.parse() else {
        return Line::Unknown;
    };
    let (name, directive) = match tail.split_once('#') {
        Some((n, d)) => {
            let d = d.trim();
            let (word, text) = d.split_once(' ').unwrap_or((d, ""));
            (n.trim(), Some((word.to_string(), text.trim().to_string())))
        }
        None => (tail.trim(), None),
    };
    Line::Result {
        ok,
        number,
        name: name.to_string(),
        directive,
    }
}

/// The lines with their indentation (in two-space levels); lines with an odd indentation
/// or tabs are unknown.
fn lines(text: &str) -> Vec<(usize, Line)> {
    text.lines()
        .map(|raw| {
            let l = raw.trim_end_matches('\r');
            let spaces = l.len() - l.trim_start_matches(' ').len();
            let body = &l[spaces..];
            if spaces % 2 != 0 {
                return (0, Line::Unknown);
            }
            (spaces / 2, classify(body))
        })
        .collect()
}

/// Why a document is not valid KTAP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KtapError(pub String);

impl std::fmt::Display for KtapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KtapError {}

/// Parses the first top-level KTAP document in `text` (console output around it is
/// ignored).
pub fn parse(text: &str) -> Result<Document, KtapError> {
    let ls = lines(text);
    let start = ls
        .iter()
        .position(|(i, l)| *i == 0 && *l == Line::Version)
        .ok_or_else(|| KtapError("no `KTAP version 1` line".into()))?;
    let mut pos = start + 1;
    document(&ls, &mut pos, 0)
}

fn document(ls: &[(usize, Line)], pos: &mut usize, level: usize) -> Result<Document, KtapError> {
    let err = |p: usize, what: &str| KtapError(format!("line {}: {what}", p + 1));
    // The plan comes first.
    let plan = loop {
        let Some((ind, l)) = ls.get(*pos) else {
            return Err(err(*pos, "the document ends before its plan"));
        };
        *pos += 1;
        match l {
            Line::Plan(n) if *ind == level => break *n,
            Line::Unknown | Line::Diag(_) => continue,
            _ => return Err(err(*pos - 1, "expected the plan `1..N`")),
        }
    };
    let mut tests = Vec::new();
    let mut diags = Vec::new();
    let mut sub: Option<Document> = None;
    while tests.len() < plan {
        let Some((ind, l)) = ls.get(*pos) else {
            return Err(err(
                *pos,
                &format!("{} of {plan} planned results at level {level}", tests.len()),
            ));
        };
        *pos += 1;
        match l {
            Line::Unknown => {}
            Line::Diag(d) => diags.push(d.clone()),
            Line::Version if *ind == level + 1 => {
                if sub.is_some() {
                    return Err(err(*pos - 1, "two subtest documents for one result"));
                }
                sub = Some(document(ls, pos, level + 1)?);
            }
            Line::Result {
                ok,
                number,
                name,
                directive,
            } if *ind == level => {
                let want = tests.len() + 1;
                if *number != want {
                    return Err(err(
                        *pos - 1,
                        &format!("test number {number}, expected {want}"),
                    ));
                }
                if let Some((d, _)) = directive {
                    if (d == "TIMEOUT" || d == "ERROR") && *ok {
                        return Err(err(*pos - 1, &format!("`ok` with the {d} directive")));
                    }
                }
                if let Some(s) = &sub {
                    let all = s.tests.iter().all(|t| t.ok);
                    if *ok && !all {
                        return Err(err(*pos - 1, &format!("{name} is ok but a subtest failed")));
                    }
                }
                tests.push(Test {
                    number: *number,
                    name: name.clone(),
                    ok: *ok,
                    directive: directive.clone(),
                    diagnostics: std::mem::take(&mut diags),
                    subtests: sub.take(),
                });
            }
            _ => {
                return Err(err(
                    *pos - 1,
                    &format!("a KTAP line at the wrong place or indentation (level {level})"),
                ))
            }
        }
    }
    if sub.is_some() {
        return Err(err(*pos, "a subtest document without its result line"));
    }
    Ok(Document { plan, tests })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's own example.
    const SPEC: &str = "KTAP version 1\n1..1\n  KTAP version 1\n  1..3\n    KTAP version 1\n    1..1\n    # test_1: initializing test_1\n    ok 1 test_1\n  ok 1 example_test_1\n    KTAP version 1\n    1..2\n    ok 1 test_1 # SKIP test_1 skipped\n    ok 2 test_2\n  ok 2 example_test_2\n    KTAP version 1\n    1..3\n    ok 1 test_1\n    # test_2: FAIL\n    not ok 2 test_2\n    ok 3 test_3 # SKIP test_3 skipped\n  not ok 3 example_test_3\nnot ok 1 main_test\n";

    #[test]
    fn reads_the_spec_example() {
        let d = parse(&format!("boot noise\n{SPEC}trailing\n")).unwrap();
        assert_eq!(d.plan, 1);
        assert!(!d.passed());
        let l = d.leaves();
        assert_eq!(l.len(), 6);
        assert_eq!(l[0].0, "main_test.example_test_1.test_1");
        assert_eq!(l[0].1.diagnostics, ["test_1: initializing test_1"]);
        assert_eq!(
            l[1].1.directive,
            Some(("SKIP".into(), "test_1 skipped".into()))
        );
        assert!(!l[4].1.ok && l[4].1.diagnostics == ["test_2: FAIL"]);
    }

    #[test]
    fn rejects_what_the_spec_forbids() {
        for (bad, why) in [
            ("1..1\nok 1 a\n", "no version"),
            ("KTAP version 1\nok 1 a\n", "no plan"),
            ("KTAP version 1\n1..2\nok 1 a\n", "too few"),
            ("KTAP version 1\n1..2\nok 1 a\nok 3 b\n", "numbering"),
            ("KTAP version 1\n1..1\nok 1 a # TIMEOUT 5 s\n", "ok timeout"),
            (
                "KTAP version 1\n1..1\n  KTAP version 1\n  1..1\n  not ok 1 x\nok 1 parent\n",
                "parent ok, child failed",
            ),
            (
                "KTAP version 1\n1..1\n  KTAP version 1\n  1..1\n  ok 1 x\n",
                "a subtest without its parent's result",
            ),
        ] {
            assert!(parse(bad).is_err(), "{why}: accepted {bad:?}");
        }
        assert!(parse("KTAP version 1\n1..0\n").unwrap().tests.is_empty());
    }
}
