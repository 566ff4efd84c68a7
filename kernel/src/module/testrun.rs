//! Tests inside modules: the `.kmod_tests` records a module declares with `KTEST` (C) or
//! `kmod::ktests!` (Rust), run one by one under containment with a deadline, reported as
//! KTAP ([`klib::ktap`]). A fault, a panic or a timeout fails that test alone; a test that
//! leaves heap blocks behind is reported in the diagnostics.

use super::{State, MODULES};
use crate::fault::recovery::Abandoned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use klib::ktap::{Ktap, Result as KtapResult};
use spin::Mutex;

/// Bytes of one record: `{ struct kmod_str name; void (*fn)(void); u32 line; u32 0; }`.
const RECORD: usize = 32;
/// Longest test name kept.
const NAME_MAX: usize = 64;

/// One declared test.
#[derive(Clone, Debug)]
pub struct Case {
    /// Its name.
    pub name: String,
    /// Its entry point.
    pub func: u64,
    /// The source line that declares it.
    pub line: u32,
}

/// Why a module's tests cannot be run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TestError {
    /// No such module loaded.
    NotLoaded(String),
    /// The module faulted earlier: its code is not run again (its tests neither).
    Faulted(String),
    /// A record lies outside the module or points outside its text.
    BadRecord {
        /// The module.
        module: String,
        /// Which record.
        index: usize,
    },
}

impl core::fmt::Display for TestError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TestError::NotLoaded(m) => write!(f, "{m}: not loaded"),
            TestError::Faulted(m) => write!(f, "{m}: faulted earlier; its tests do not run"),
            TestError::BadRecord { module, index } => {
                write!(f, "{module}: test record {index} is damaged")
            }
        }
    }
}

/// Failures reported by `kmod_test_fail` during the running test.
static FAILURES: Mutex<Option<Vec<String>>> = Mutex::new(None);

/// After an abandoned call: releases the failure list's lock if the abandoned code held it
/// (one CPU, and the kernel holds it only briefly outside module calls).
pub fn release_abandoned_lock() -> bool {
    let held = FAILURES.is_locked();
    if held {
        // SAFETY: see above: the holder was abandoned and never runs again.
        unsafe { FAILURES.force_unlock() };
    }
    held
}

/// Called by `kmod_test_fail`: records a failed assertion of the running test. Returns
/// false when no test is running.
pub fn record_failure(text: String) -> bool {
    match FAILURES.lock().as_mut() {
        Some(v) => {
            if v.len() < 16 {
                v.push(text);
            }
            true
        }
        None => false,
    }
}

/// The tests module `name` declares, in source order.
pub fn cases(name: &str) -> Result<Vec<Case>, TestError> {
    let mods = MODULES.lock();
    let m = mods
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| TestError::NotLoaded(name.into()))?;
    if m.state == State::Faulted {
        return Err(TestError::Faulted(name.into()));
    }
    let text = m.info.region(modloader::Region::Text);
    let in_text = |a: u64| text.is_some_and(|t| a >= t.addr && a < t.addr + t.size);
    let in_module = |a: u64, len: u64| a >= m.base && a.saturating_add(len) <= m.base + m.size;
    let mut out = Vec::new();
    for s in m.info.sections.iter().filter(|s| s.name == ".kmod_tests") {
        for index in 0..(s.size as usize / RECORD) {
            let bad = || TestError::BadRecord {
                module: name.into(),
                index,
            };
            let mut rec = [0u8; RECORD];
            let at = s.addr + (index * RECORD) as u64;
            if !in_module(at, RECORD as u64) || !arch::probe::copy_from(at, &mut rec) {
                return Err(bad());
            }
            let word = |i: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&rec[i * 8..i * 8 + 8]);
                u64::from_le_bytes(b)
            };
            let (ptr, len, func, line) = (word(0), word(1), word(2), word(3) as u32);
            let len = len.min(NAME_MAX as u64);
            if !in_text(func) || !in_module(ptr, len) {
                return Err(bad());
            }
            let mut nb = [0u8; NAME_MAX];
            if !arch::probe::copy_from(ptr, &mut nb[..len as usize]) {
                return Err(bad());
            }
            let name = format!(
                "{}",
                klib::escape::Escaped(&String::from_utf8_lossy(&nb[..len as usize]))
            );
            out.push(Case { name, func, line });
        }
    }
    // Linkers may reorder the records: run them in source order.
    out.sort_by_key(|c| c.line);
    Ok(out)
}

fn heap_of(name: &str) -> (usize, usize) {
    MODULES
        .lock()
        .iter()
        .find(|m| m.name == name)
        .map(|m| (m.heap.bytes(), m.heap.blocks()))
        .unwrap_or((0, 0))
}

/// Runs every test of module `name`, writing its KTAP subtest document at `k`'s level
/// (the caller writes the module's own result line). Returns whether all passed.
pub fn run(name: &str, k: &mut Ktap<'_>, timeout_ms: Option<u64>) -> Result<bool, TestError> {
    let cases = cases(name)?;
    let _ = k.header(cases.len());
    let mut all = true;
    for (i, c) in cases.iter().enumerate() {
        let before = heap_of(name);
        *FAILURES.lock() = Some(Vec::new());
        let func = c.func;
        let r = super::call_contained(name, &c.name, Vec::new(), timeout_ms, || {
            // Through the module-call trampoline, like init and commands: on the module
            // stack, with the kernel's registers cleared and restored afterwards.
            // SAFETY: a test entry point inside the module's RX text (checked by `cases`),
            // called under `call_contained`.
            unsafe { super::call(func, 0, 0, 0) };
        });
        let failures = FAILURES.lock().take().unwrap_or_default();
        // One test's fault fails that test alone: the module stays usable for the next.
        if r.is_err() {
            if let Some(m) = MODULES.lock().iter_mut().find(|m| m.name == name) {
                m.state = State::Live;
            }
        }
        for f in &failures {
            let _ = k.diag(format_args!("{}: {f}", c.name));
        }
        let after = heap_of(name);
        if after.0 > before.0 {
            let _ = k.diag(format_args!(
                "{}: left {} bytes allocated in {} block(s)",
                c.name,
                after.0 - before.0,
                after.1.saturating_sub(before.1)
            ));
        }
        let ms = timeout_ms.unwrap_or_else(super::default_timeout_ms);
        let why = format!("{ms} ms");
        let result = match r {
            Ok(()) if failures.is_empty() => KtapResult::Ok,
            Ok(()) => KtapResult::NotOk,
            Err(Abandoned::Timeout) => KtapResult::Timeout(&why),
            Err(Abandoned::Fault { .. }) => KtapResult::Error("fault in module code"),
            Err(Abandoned::Panic) => KtapResult::Error("panic"),
            Err(Abandoned::Interrupted) => KtapResult::Error("interrupted by Ctrl-C"),
        };
        all &= result.passed();
        let _ = k.result(i + 1, &c.name, result);
    }
    Ok(all)
}

/// `ktest MODULE`: one KTAP document with the module as its only (nested) test.
pub fn run_document(name: &str, timeout_ms: Option<u64>) -> Result<bool, TestError> {
    cases(name)?;
    let mut w = crate::platform::console::Writer;
    let mut top = Ktap::new(&mut w);
    let _ = top.header(1);
    let ok = {
        let mut sub = top.nested();
        run(name, &mut sub, timeout_ms)?
    };
    let _ = top.result(
        1,
        name,
        if ok {
            KtapResult::Ok
        } else {
            KtapResult::NotOk
        },
    );
    Ok(ok)
}
