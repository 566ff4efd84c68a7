//! A port of the name compression of Linux's `scripts/kallsyms.c`, used as a
//! size baseline (feature `std`).
//!
//! Linux stores each symbol as its type letter followed by its name, and
//! compresses all of them with one table of 256 tokens: every byte value that
//! no name uses becomes a token, learned greedily by repeatedly replacing the
//! most frequent pair of adjacent codes in all names (scanning codes from 255
//! down). The kernel image then holds:
//! * `kallsyms_names`: per symbol a length (1 byte, 2 when >= 128) + codes,
//! * `kallsyms_markers`: one `u32` per 256 symbols,
//! * `kallsyms_token_table`: the 256 expanded tokens, NUL-terminated,
//! * `kallsyms_token_index`: 256 `u16` offsets,
//! * `kallsyms_offsets`: one `u32` per symbol (no sizes are stored),
//! * `kallsyms_seqs_of_names`: 3 bytes per symbol (name-sorted order, for lookup
//!   by name, since Linux 6.2).

use std::vec;
use std::vec::Vec;

/// Size breakdown of Linux's kallsyms encoding for a set of names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KallsymsSize {
    /// Number of symbols.
    pub symbols: usize,
    /// `kallsyms_names` bytes (lengths + codes).
    pub names: usize,
    /// `kallsyms_markers` bytes.
    pub markers: usize,
    /// `kallsyms_token_table` + `kallsyms_token_index` bytes.
    pub token_table: usize,
    /// `kallsyms_offsets` bytes (4 per symbol).
    pub offsets: usize,
    /// `kallsyms_seqs_of_names` bytes (3 per symbol).
    pub seqs_of_names: usize,
}

impl KallsymsSize {
    /// Name-related bytes: names + markers + token table and index.
    pub fn names_section(&self) -> usize {
        self.names + self.markers + self.token_table
    }

    /// Everything kallsyms stores.
    pub fn total(&self) -> usize {
        self.names_section() + self.offsets + self.seqs_of_names
    }
}

/// Runs the kallsyms compression on `(type letter, name)` pairs and reports
/// the sizes of the resulting arrays.
pub fn kallsyms_baseline<'n>(names: impl IntoIterator<Item = (u8, &'n str)>) -> KallsymsSize {
    let mut syms: Vec<Vec<u8>> = names
        .into_iter()
        .map(|(t, n)| {
            let mut v = Vec::with_capacity(n.len() + 1);
            v.push(t);
            v.extend_from_slice(n.as_bytes());
            v
        })
        .collect();
    let mut profit = vec![0i64; 0x10000];
    let learn = |profit: &mut [i64], s: &[u8], d: i64| {
        for w in s.windows(2) {
            profit[usize::from(w[0]) | usize::from(w[1]) << 8] += d;
        }
    };
    let mut table: Vec<Vec<u8>> = vec![Vec::new(); 256];
    for s in &syms {
        learn(&mut profit, s, 1);
        for &c in s {
            table[usize::from(c)] = vec![c];
        }
    }
    for i in (0..256usize).rev() {
        if !table[i].is_empty() {
            continue;
        }
        // find_best_token: first maximum.
        let mut best = 0usize;
        for (k, &p) in profit.iter().enumerate() {
            if p > profit[best] {
                best = k;
            }
        }
        if profit[best] == 0 {
            break;
        }
        let (a, b) = ((best & 0xFF) as u8, (best >> 8) as u8);
        let mut expanded = table[usize::from(a)].clone();
        expanded.extend_from_slice(&table[usize::from(b)]);
        table[i] = expanded;
        for s in &mut syms {
            if !s.windows(2).any(|w| w[0] == a && w[1] == b) {
                continue;
            }
            learn(&mut profit, s, -1);
            let mut out = Vec::with_capacity(s.len());
            let mut j = 0;
            while j < s.len() {
                if j + 1 < s.len() && s[j] == a && s[j + 1] == b {
                    out.push(i as u8);
                    j += 2;
                } else {
                    out.push(s[j]);
                    j += 1;
                }
            }
            *s = out;
            learn(&mut profit, s, 1);
        }
    }
    let names: usize = syms
        .iter()
        .map(|s| s.len() + if s.len() >= 0x80 { 2 } else { 1 })
        .sum();
    let token_strings: usize = table.iter().map(|t| t.len() + 1).sum();
    KallsymsSize {
        symbols: syms.len(),
        names,
        markers: syms.len().div_ceil(256) * 4,
        token_table: token_strings + 256 * 2,
        offsets: syms.len() * 4,
        seqs_of_names: syms.len() * 3,
    }
}

/// Bytes Linux's kallsyms needs for the names alone (names, markers, token
/// table and index) when every symbol is a text symbol (`'t'`).
pub fn kallsyms_baseline_size<S: AsRef<str>>(names: &[S]) -> usize {
    kallsyms_baseline(names.iter().map(|n| (b't', n.as_ref()))).names_section()
}
