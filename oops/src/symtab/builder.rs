//! Host-side table builder (feature `std`).

use super::*;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::string::String;
use std::vec;
use std::vec::Vec;

/// Why a table could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// Symbol or line addresses span more than 4 GiB.
    AddressSpan {
        /// Lowest address.
        lo: u64,
        /// Highest end address.
        hi: u64,
    },
    /// A count does not fit the format (e.g. more than 2^32 symbols).
    TooLarge(&'static str),
    /// A builder option is out of range.
    BadOption(&'static str),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::AddressSpan { lo, hi } => write!(
                f,
                "addresses {lo:#x}..{hi:#x} span more than 4 GiB, which the table cannot encode"
            ),
            BuildError::TooLarge(what) => write!(f, "too many {what} for the table format"),
            BuildError::BadOption(what) => write!(f, "builder option {what} is out of range"),
        }
    }
}

impl std::error::Error for BuildError {}

/// Size breakdown of a built table, for benchmarks and `ksymgen stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Symbols stored.
    pub symbols: usize,
    /// Total table bytes (header included).
    pub total_bytes: usize,
    /// Header and section directory.
    pub header_bytes: usize,
    /// Build ID bytes.
    pub build_id_bytes: usize,
    /// Token table bytes (shared by symbol names and file names).
    pub token_bytes: usize,
    /// Number of tokens.
    pub tokens: usize,
    /// Bytes of compressed symbol names: token codes plus their per-name
    /// prefix/length varints (token table not included).
    pub name_bytes: usize,
    /// Bytes of addresses, sizes and flags (symbol data minus names, plus the
    /// symbol block index).
    pub symbol_bytes: usize,
    /// Sum of the uncompressed name lengths.
    pub raw_name_bytes: usize,
    /// Distinct file names.
    pub files: usize,
    /// File index + compressed file names.
    pub file_bytes: usize,
    /// Line-table rows stored.
    pub line_rows: usize,
    /// Line index + line data bytes (file names not included).
    pub line_bytes: usize,
    /// DWARF inline ranges the table was built from.
    pub inline_records: usize,
    /// Addresses where the inline chain changes (what the table stores).
    pub inline_transitions: usize,
    /// Distinct call sites (function, call file, call line).
    pub inline_sites: usize,
    /// Distinct inlined function names.
    pub funcs: usize,
    /// Inline index + inline data + site dictionary + function-name index and codes.
    pub inline_bytes: usize,
    /// Of `inline_bytes`: the function-name index and codes.
    pub func_name_bytes: usize,
    /// Of `inline_bytes`: the site dictionary (index and data).
    pub site_bytes: usize,
}

impl TableStats {
    /// Bytes spent on names: compressed names plus the token table.
    pub fn names_section_bytes(&self) -> usize {
        self.name_bytes + self.token_bytes
    }

    /// Bytes of everything symbol-related per symbol (names, token table,
    /// addresses, sizes, flags, index).
    pub fn bytes_per_symbol(&self) -> f64 {
        (self.names_section_bytes() + self.symbol_bytes) as f64 / self.symbols.max(1) as f64
    }

    /// Line-table bytes (rows, index and file names) per row.
    pub fn line_bytes_per_row(&self) -> f64 {
        (self.line_bytes + self.file_bytes) as f64 / self.line_rows.max(1) as f64
    }

    /// Line-table and inline bytes (rows, index, file names, inline records and
    /// inlined function names) per line row.
    pub fn line_and_inline_bytes_per_row(&self) -> f64 {
        (self.line_bytes + self.file_bytes + self.inline_bytes) as f64
            / self.line_rows.max(1) as f64
    }
}

#[derive(Clone, Debug)]
struct InSym {
    name: String,
    addr: u64,
    size: u64,
    is_func: bool,
}

/// Builds a table (feature `std`).
///
/// ```
/// use oops::symtab::{Table, TableBuilder};
/// let mut b = TableBuilder::new();
/// b.build_id(&[1, 2, 3]);
/// b.symbol("kernel::main", 0x4008_0000, 0x40, true);
/// b.line_row(0x4008_0000, "kernel/src/main.rs", 10);
/// b.line_row(0x4008_0040, "", 0); // end of sequence
/// let bytes = b.build().unwrap();
/// let t = Table::parse(&bytes).unwrap();
/// let s = t.lookup(0x4008_0010).unwrap();
/// assert_eq!(format!("{}+{:#x}", s.name(), s.offset), "kernel::main+0x10");
/// ```
#[derive(Clone, Debug)]
pub struct TableBuilder {
    syms: Vec<InSym>,
    files: Vec<String>,
    file_ids: HashMap<String, u32>,
    rows: Vec<(u64, u32, u32)>,
    funcs: Vec<String>,
    func_ids: HashMap<String, u32>,
    inlines: Vec<InRec>,
    build_id: Vec<u8>,
    sym_block: usize,
    line_block: usize,
    inline_block: usize,
    max_tokens: Option<usize>,
}

/// One inline record: `[lo, hi)`, depth, function, call file and line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct InRec {
    lo: u64,
    depth: u8,
    hi: u64,
    func: u32,
    file: u32,
    line: u32,
}

impl Default for TableBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// Minimum number of occurrences for a byte pair to become a token.
const MIN_PAIR_COUNT: i64 = 6;

impl TableBuilder {
    /// An empty builder with default block sizes (8 symbols, 64 rows, 64 inline transitions).
    pub fn new() -> Self {
        TableBuilder {
            syms: Vec::new(),
            files: Vec::new(),
            file_ids: HashMap::new(),
            rows: Vec::new(),
            funcs: Vec::new(),
            func_ids: HashMap::new(),
            inlines: Vec::new(),
            build_id: Vec::new(),
            sym_block: 8,
            line_block: 64,
            inline_block: 64,
            max_tokens: None,
        }
    }

    /// Sets the build ID.
    pub fn build_id(&mut self, id: &[u8]) -> &mut Self {
        self.build_id = id.to_vec();
        self
    }

    /// Adds a symbol. Names longer than [`MAX_NAME_LEN`] bytes are cut.
    pub fn symbol(&mut self, name: &str, addr: u64, size: u64, is_func: bool) -> &mut Self {
        let mut cut = name.len().min(MAX_NAME_LEN);
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        self.syms.push(InSym {
            name: name.get(..cut).unwrap_or_default().into(),
            addr,
            size,
            is_func,
        });
        self
    }

    /// Adds a line-table row: the instructions from `addr` up to the next row
    /// come from `file:line`. `line == 0` marks addresses without line
    /// information (use it at the end of each contiguous sequence). For several
    /// rows at one address the last non-zero one wins.
    pub fn line_row(&mut self, addr: u64, file: &str, line: u32) -> &mut Self {
        let id = if line == 0 { 0 } else { self.file_id(file) };
        self.rows.push((addr, id, line));
        self
    }

    fn file_id(&mut self, file: &str) -> u32 {
        if let Some(&id) = self.file_ids.get(file) {
            return id;
        }
        let id = self.files.len() as u32;
        self.files.push(file.into());
        self.file_ids.insert(file.into(), id);
        id
    }

    /// Adds an inline record: the addresses `[lo, hi)` run code of `func`, inlined at
    /// nesting `depth` (0 = directly into the symbol's function), called from
    /// `call_file:call_line` in the function one level out. Records deeper than
    /// [`MAX_INLINE_DEPTH`] and empty ranges are dropped.
    pub fn inline(
        &mut self,
        lo: u64,
        hi: u64,
        depth: usize,
        func: &str,
        call_file: &str,
        call_line: u32,
    ) -> &mut Self {
        if hi <= lo || depth >= MAX_INLINE_DEPTH {
            return self;
        }
        let file = self.file_id(call_file);
        let mut cut = func.len().min(MAX_NAME_LEN);
        while !func.is_char_boundary(cut) {
            cut -= 1;
        }
        let func = func.get(..cut).unwrap_or_default();
        let fid = match self.func_ids.get(func) {
            Some(&id) => id,
            None => {
                let id = self.funcs.len() as u32;
                self.funcs.push(func.into());
                self.func_ids.insert(func.into(), id);
                id
            }
        };
        self.inlines.push(InRec {
            lo,
            depth: depth as u8,
            hi,
            func: fid,
            file,
            line: call_line,
        });
        self
    }

    /// Inline transitions per block (1..=255).
    pub fn inline_block(&mut self, n: usize) -> &mut Self {
        self.inline_block = n;
        self
    }

    /// Symbols per block (1..=32): smaller is faster to look up, larger is smaller.
    pub fn sym_block(&mut self, n: usize) -> &mut Self {
        self.sym_block = n;
        self
    }

    /// Rows per line block (1..=1024).
    pub fn line_block(&mut self, n: usize) -> &mut Self {
        self.line_block = n;
        self
    }

    /// Fixes the token budget instead of trying several and keeping the smallest.
    pub fn max_tokens(&mut self, n: usize) -> &mut Self {
        self.max_tokens = Some(n);
        self
    }

    /// Builds the table.
    pub fn build(&self) -> Result<Vec<u8>, BuildError> {
        self.build_with_stats().map(|(b, _)| b)
    }

    /// Builds the table and reports its size breakdown.
    pub fn build_with_stats(&self) -> Result<(Vec<u8>, TableStats), BuildError> {
        if self.sym_block == 0 || self.sym_block > MAX_SYM_BLOCK {
            return Err(BuildError::BadOption("sym_block"));
        }
        if self.line_block == 0 || self.line_block > MAX_LINE_BLOCK {
            return Err(BuildError::BadOption("line_block"));
        }
        if self.inline_block == 0 || self.inline_block > MAX_INLINE_BLOCK {
            return Err(BuildError::BadOption("inline_block"));
        }
        if let Some(t) = self.max_tokens {
            if t > MAX_TOKENS {
                return Err(BuildError::BadOption("max_tokens"));
            }
        }
        // Symbols: sorted by address; among aliases functions first, then larger.
        let mut syms = self.syms.clone();
        syms.sort_by(|a, b| {
            (a.addr, !a.is_func, Reverse(a.size), &a.name).cmp(&(
                b.addr,
                !b.is_func,
                Reverse(b.size),
                &b.name,
            ))
        });
        syms.dedup_by(|a, b| a.addr == b.addr && a.size == b.size && a.name == b.name);
        if u32::try_from(syms.len()).is_err() {
            return Err(BuildError::TooLarge("symbols"));
        }
        let rows = normalize_rows(&self.rows);
        if u32::try_from(rows.len()).is_err() {
            return Err(BuildError::TooLarge("line rows"));
        }
        let mut inlines = self.inlines.clone();
        inlines.sort();
        inlines.dedup();
        if u32::try_from(inlines.len()).is_err() {
            return Err(BuildError::TooLarge("inline records"));
        }
        // The chain at every address, as transitions; then call-site ids by use and
        // function ids by use among the sites, so the most used take one-byte varints.
        let mut transitions = inline_transitions(&inlines);
        let mut site_uses: HashMap<RawInline, usize> = HashMap::new();
        {
            let mut prev: &[RawInline] = &[];
            for (_, chain) in &transitions {
                let keep = common_prefix(prev, chain);
                for s in &chain[keep..] {
                    *site_uses.entry(*s).or_default() += 1;
                }
                prev = chain;
            }
        }
        let mut sites: Vec<RawInline> = site_uses.keys().copied().collect();
        sites.sort_by_key(|s| (Reverse(site_uses[s]), *s));
        // Function names sorted, so that neighbours share prefixes (front coding).
        let mut order: Vec<usize> = (0..self.funcs.len()).collect();
        order.sort_by(|&a, &b| self.funcs[a].cmp(&self.funcs[b]));
        let mut new_id = vec![0u32; self.funcs.len()];
        for (n, &old) in order.iter().enumerate() {
            new_id[old] = n as u32;
        }
        let funcs: Vec<&String> = order.iter().map(|&i| &self.funcs[i]).collect();
        // Beyond the ids that fit one varint byte, sites sorted by function, file and
        // line, so that the dictionary's deltas are small.
        if sites.len() > SITE_HEAD {
            sites[SITE_HEAD..].sort_by_key(|s| (new_id[s.func as usize], s.file, s.line));
        }
        let site_id: HashMap<RawInline, u32> = sites
            .iter()
            .enumerate()
            .map(|(i, s)| (*s, i as u32))
            .collect();
        for s in &mut sites {
            s.func = new_id[s.func as usize];
        }
        let chains: Vec<(u64, Vec<u32>)> = transitions
            .drain(..)
            .map(|(a, c)| (a, c.iter().map(|s| site_id[s]).collect()))
            .collect();
        if u32::try_from(chains.len()).is_err() || u32::try_from(sites.len()).is_err() {
            return Err(BuildError::TooLarge("inline transitions"));
        }
        let lo = syms
            .iter()
            .map(|s| s.addr)
            .chain(rows.iter().map(|r| r.0))
            .chain(inlines.iter().map(|r| r.lo))
            .min()
            .unwrap_or(0);
        let hi = syms
            .iter()
            .map(|s| s.addr.saturating_add(s.size))
            .chain(rows.iter().map(|r| r.0))
            .chain(inlines.iter().map(|r| r.hi))
            .max()
            .unwrap_or(0);
        if hi - lo > u64::from(u32::MAX) {
            return Err(BuildError::AddressSpan { lo, hi });
        }
        let base = lo;

        // Front coding of names inside each block.
        let mut prefixes = Vec::with_capacity(syms.len());
        for (i, s) in syms.iter().enumerate() {
            let p = if i % self.sym_block == 0 {
                0
            } else {
                common_prefix(syms[i - 1].name.as_bytes(), s.name.as_bytes())
            };
            prefixes.push(p);
        }
        let mut corpus: Vec<&[u8]> = syms
            .iter()
            .zip(&prefixes)
            .map(|(s, &p)| &s.name.as_bytes()[p..])
            .collect();
        corpus.extend(self.files.iter().map(|f| f.as_bytes()));
        let func_prefixes: Vec<usize> = (0..funcs.len())
            .map(|i| {
                if i % FUNC_BLOCK == 0 {
                    0
                } else {
                    common_prefix(funcs[i - 1].as_bytes(), funcs[i].as_bytes())
                }
            })
            .collect();
        corpus.extend(
            funcs
                .iter()
                .zip(&func_prefixes)
                .map(|(f, &p)| &f.as_bytes()[p..]),
        );

        // Token table: try several budgets unless one was given.
        let budgets: Vec<usize> = match self.max_tokens {
            Some(t) => vec![t],
            None => vec![256, 512, 1024, 2048, MAX_TOKENS],
        };
        let mut best: Option<(usize, Tokens)> = None;
        for &budget in &budgets {
            let t = learn_tokens(&corpus, budget);
            let cost = t.cost();
            let stop = t.tokens.len() < budget;
            if best.as_ref().is_none_or(|(c, _)| cost < *c) {
                best = Some((cost, t));
            }
            if stop {
                // The budget was not exhausted: larger budgets give the same table.
                break;
            }
        }
        let tokens = match best {
            Some((_, t)) => t,
            None => learn_tokens(&corpus, 0),
        };
        let nsym_corpus = syms.len();

        let mut stats = TableStats {
            symbols: syms.len(),
            header_bytes: HEADER_LEN,
            build_id_bytes: self.build_id.len(),
            tokens: tokens.tokens.len(),
            token_bytes: tokens.tokens.len() * 3,
            raw_name_bytes: syms.iter().map(|s| s.name.len()).sum(),
            files: self.files.len(),
            line_rows: rows.len(),
            ..TableStats::default()
        };

        // Symbol blocks.
        let mut sym_index = Vec::new();
        let mut sym_data = Vec::new();
        let mut max_end = 0u64;
        for (bi, chunk) in syms.chunks(self.sym_block).enumerate() {
            let first = bi * self.sym_block;
            let block_start = chunk[0].addr;
            for s in chunk {
                max_end = max_end.max(s.addr + s.size - base);
            }
            put_u32(&mut sym_index, (block_start - base) as u32);
            put_u32(&mut sym_index, sym_data.len() as u32);
            put_u32(&mut sym_index, max_end as u32);
            let mut prev = block_start;
            for (k, s) in chunk.iter().enumerate() {
                let i = first + k;
                let gap = syms.get(i + 1).map(|n| n.addr - s.addr);
                let size_is_gap = gap == Some(s.size);
                let before = sym_data.len();
                put_varint(
                    &mut sym_data,
                    (s.addr - prev) << 2 | u64::from(size_is_gap) << 1 | u64::from(s.is_func),
                );
                if !size_is_gap {
                    put_varint(&mut sym_data, s.size);
                }
                let mid = sym_data.len();
                if k != 0 {
                    put_varint(&mut sym_data, prefixes[i] as u64);
                }
                let codes = tokens.codes(i);
                put_varint(&mut sym_data, codes.len() as u64);
                sym_data.extend_from_slice(&codes);
                stats.symbol_bytes += mid - before;
                stats.name_bytes += sym_data.len() - mid;
                prev = s.addr;
            }
        }
        stats.symbol_bytes += sym_index.len();

        // File names.
        let mut file_index = Vec::new();
        let mut file_data = Vec::new();
        for f in 0..self.files.len() {
            put_u32(&mut file_index, file_data.len() as u32);
            file_data.extend_from_slice(&tokens.codes(nsym_corpus + f));
        }
        put_u32(&mut file_index, file_data.len() as u32);
        stats.file_bytes = file_index.len() + file_data.len();

        // Line table.
        let aligned = rows.windows(2).all(|w| (w[1].0 - w[0].0) % 4 == 0)
            && inlines
                .iter()
                .all(|r| (r.lo - base) % 4 == 0 && (r.hi - r.lo) % 4 == 0)
            && rows.first().is_none_or(|r| (r.0 - base) % 4 == 0);
        let line_shift: u8 = if aligned { 2 } else { 0 };
        let mut line_index = Vec::new();
        let mut line_data = Vec::new();
        for chunk in rows.chunks(self.line_block) {
            put_u32(&mut line_index, (chunk[0].0 - base) as u32);
            put_u32(&mut line_index, line_data.len() as u32);
            let (mut addr, file, line) = chunk[0];
            put_varint(&mut line_data, u64::from(file));
            put_varint(&mut line_data, u64::from(line));
            let mut recent = Recent::new();
            if line != 0 {
                recent.touch((file, line));
            }
            for &(a, f, l) in &chunk[1..] {
                encode_row(&mut line_data, &recent, (a - addr) >> line_shift, (f, l));
                if l != 0 {
                    recent.touch((f, l));
                }
                addr = a;
            }
        }
        stats.line_bytes = line_index.len() + line_data.len();

        // Inline transitions.
        let mut inline_index = Vec::new();
        let mut inline_data = Vec::new();
        for chunk in chains.chunks(self.inline_block) {
            let (first, ref chain0) = chunk[0];
            put_u32(&mut inline_index, (first - base) as u32);
            put_u32(&mut inline_index, inline_data.len() as u32);
            put_varint(&mut inline_data, chain0.len() as u64);
            for &id in chain0 {
                put_varint(&mut inline_data, u64::from(id));
            }
            let mut recent = Chains::new();
            recent.push(chain0);
            let (mut at, mut prev) = (first, chain0.as_slice());
            for (a, chain) in &chunk[1..] {
                let d = (a - at) >> line_shift;
                match recent.position(chain) {
                    Some(i) if (1..=SHORT_HIT_DELTA).contains(&d) => {
                        inline_data.push((CHAIN_MTF as u64 * d + i as u64) as u8);
                    }
                    Some(i) => {
                        inline_data.push(i as u8);
                        put_varint(&mut inline_data, d);
                    }
                    None => {
                        let keep = common_prefix(prev, chain);
                        let push = chain.len() - keep;
                        inline_data.push(OP_PUSH | (keep.min(7) as u8) << 4 | push.min(15) as u8);
                        put_varint(&mut inline_data, d);
                        if keep >= 7 {
                            put_varint(&mut inline_data, (keep - 7) as u64);
                        }
                        if push >= 15 {
                            put_varint(&mut inline_data, (push - 15) as u64);
                        }
                        for &id in &chain[keep..] {
                            put_varint(&mut inline_data, u64::from(id));
                        }
                    }
                }
                recent.push(chain);
                (at, prev) = (*a, chain.as_slice());
            }
        }
        let mut site_index = Vec::new();
        let mut site_data = Vec::new();
        for (i, s) in sites.iter().enumerate() {
            if i % SITE_BLOCK == 0 {
                put_u32(&mut site_index, site_data.len() as u32);
            }
            let prev = if i % SITE_BLOCK == 0 {
                RawInline::default()
            } else {
                sites[i - 1]
            };
            put_varint(
                &mut site_data,
                zigzag(i64::from(s.func) - i64::from(prev.func)),
            );
            put_varint(&mut site_data, u64::from(s.file));
            put_varint(
                &mut site_data,
                zigzag(i64::from(s.line) - i64::from(prev.line)),
            );
        }
        let mut func_index = Vec::new();
        let mut func_data = Vec::new();
        let nfile_corpus = nsym_corpus + self.files.len();
        for (f, &prefix) in func_prefixes.iter().enumerate() {
            if f % FUNC_BLOCK == 0 {
                put_u32(&mut func_index, func_data.len() as u32);
            } else {
                put_varint(&mut func_data, prefix as u64);
            }
            let codes = tokens.codes(nfile_corpus + f);
            put_varint(&mut func_data, codes.len() as u64);
            func_data.extend_from_slice(&codes);
        }
        stats.inline_records = inlines.len();
        stats.inline_transitions = chains.len();
        stats.inline_sites = sites.len();
        stats.func_name_bytes = func_index.len() + func_data.len();
        stats.site_bytes = site_index.len() + site_data.len();
        stats.funcs = self.funcs.len();
        stats.inline_bytes = inline_index.len()
            + inline_data.len()
            + func_index.len()
            + func_data.len()
            + site_index.len()
            + site_data.len();

        // Assemble.
        let sections: [&[u8]; NSECT] = [
            &self.build_id,
            &tokens.table_bytes(),
            &sym_index,
            &sym_data,
            &file_index,
            &file_data,
            &line_index,
            &line_data,
            &inline_index,
            &inline_data,
            &func_index,
            &func_data,
            &site_index,
            &site_data,
        ];
        let total: usize = HEADER_LEN + sections.iter().map(|s| s.len()).sum::<usize>();
        let total32 = u32::try_from(total).map_err(|_| BuildError::TooLarge("table bytes"))?;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(HEADER_LEN as u16).to_le_bytes());
        put_u32(&mut out, total32);
        out.extend_from_slice(&base.to_le_bytes());
        put_u32(&mut out, syms.len() as u32);
        put_u32(&mut out, rows.len() as u32);
        put_u32(&mut out, self.files.len() as u32);
        put_u32(&mut out, tokens.tokens.len() as u32);
        out.extend_from_slice(&(self.sym_block as u16).to_le_bytes());
        out.extend_from_slice(&(self.line_block as u16).to_le_bytes());
        out.extend_from_slice(&[line_shift, self.inline_block as u8, 0, 0]);
        put_u32(&mut out, chains.len() as u32);
        put_u32(&mut out, self.funcs.len() as u32);
        put_u32(&mut out, sites.len() as u32);
        put_u32(&mut out, inlines.len() as u32);
        let mut off = HEADER_LEN;
        for s in &sections {
            put_u32(&mut out, off as u32);
            put_u32(&mut out, s.len() as u32);
            off += s.len();
        }
        debug_assert_eq!(out.len(), HEADER_LEN);
        for s in &sections {
            out.extend_from_slice(s);
        }
        stats.total_bytes = out.len();
        Ok((out, stats))
    }
}

/// Appends one line-table row (see the format description in the parent module).
fn encode_row(out: &mut Vec<u8>, recent: &Recent, ad: u64, loc: (u32, u32)) {
    let short = (1..=SHORT_ADDR).contains(&ad);
    let (f, l) = loc;
    if short {
        let code = if l == 0 {
            Some(SHORT_NOINFO)
        } else if let Some(i) = recent
            .position(loc)
            .filter(|&i| i < usize::from(SHORT_HITS))
        {
            Some(i as u8)
        } else {
            match recent.get(0) {
                Some((rf, rl)) if rf == f => {
                    let d = i64::from(l) - i64::from(rl) - SHORT_DLO;
                    let max = i64::from(SHORT_NOINFO - SHORT_HITS);
                    (0..max).contains(&d).then(|| SHORT_HITS + d as u8)
                }
                _ => None,
            }
        };
        if let Some(code) = code {
            out.push(code * SHORT_ADDR as u8 + (ad - 1) as u8);
            return;
        }
    }
    let zz = |d: i64| ((d << 1) ^ (d >> 63)) as u64;
    // Long forms: hit, same file as a recent location, explicit, no info.
    let (kind, idx, tail): (u8, usize, Vec<u64>) = if l == 0 {
        (3, 0, vec![])
    } else if let Some(i) = recent.position(loc) {
        (0, i, vec![])
    } else {
        let best = (0..RECENT)
            .filter_map(|i| recent.get(i).map(|r| (i, r)))
            .filter(|(_, (rf, _))| *rf == f)
            .min_by_key(|(_, (_, rl))| (i64::from(l) - i64::from(*rl)).unsigned_abs());
        match best {
            Some((i, (_, rl))) => (1, i, vec![zz(i64::from(l) - i64::from(rl))]),
            None => (2, 0, vec![u64::from(f), u64::from(l)]),
        }
    };
    let j = idx.min(15) as u8;
    out.push(OP_LONG | kind << 4 | j);
    put_varint(out, ad);
    if kind <= 1 && j == 15 {
        put_varint(out, (idx - 15) as u64);
    }
    for v in tail {
        put_varint(out, v);
    }
}

/// Sorts rows, keeps one row per address (the last non-zero one), drops rows
/// that repeat the previous location and leading "no info" rows.
fn normalize_rows(rows: &[(u64, u32, u32)]) -> Vec<(u64, u32, u32)> {
    let mut r: Vec<(usize, (u64, u32, u32))> = rows.iter().copied().enumerate().collect();
    r.sort_by_key(|&(i, (a, _, l))| (a, l != 0, i));
    let mut per_addr: Vec<(u64, u32, u32)> = Vec::with_capacity(r.len());
    for (_, row) in r {
        match per_addr.last_mut() {
            Some(last) if last.0 == row.0 => *last = row,
            _ => per_addr.push(row),
        }
    }
    let mut out: Vec<(u64, u32, u32)> = Vec::with_capacity(per_addr.len());
    for row in per_addr {
        let redundant = match out.last() {
            None => row.2 == 0,
            Some(p) => (p.1 == row.1 || row.2 == 0) && p.2 == row.2,
        };
        if !redundant {
            out.push(row);
        }
    }
    out
}

/// Largest address delta a chain hit codes in its op byte: (0x80 - 8) / 8.
const SHORT_HIT_DELTA: u64 = 15;

/// The inline chain (call sites, outermost first) at every address where it changes:
/// per depth, the covering record that sorts last wins; a depth without one ends the
/// chain. Empty before the first record and after the last.
fn inline_transitions(recs: &[InRec]) -> Vec<(u64, Vec<RawInline>)> {
    let mut bounds: Vec<u64> = recs.iter().flat_map(|r| [r.lo, r.hi]).collect();
    bounds.sort_unstable();
    bounds.dedup();
    let mut ends: Vec<usize> = (0..recs.len()).collect();
    ends.sort_by_key(|&i| recs[i].hi);
    let mut active: Vec<std::collections::BTreeSet<usize>> =
        vec![Default::default(); MAX_INLINE_DEPTH];
    let (mut si, mut ei) = (0, 0);
    let mut out: Vec<(u64, Vec<RawInline>)> = Vec::new();
    let mut prev: Vec<RawInline> = Vec::new();
    for &b in &bounds {
        while ei < ends.len() && recs[ends[ei]].hi <= b {
            let r = &recs[ends[ei]];
            active[usize::from(r.depth)].remove(&ends[ei]);
            ei += 1;
        }
        while si < recs.len() && recs[si].lo <= b {
            let r = &recs[si];
            if r.hi > b {
                active[usize::from(r.depth)].insert(si);
            }
            si += 1;
        }
        let mut chain = Vec::new();
        for set in &active {
            match set.last() {
                Some(&i) => chain.push(RawInline {
                    func: recs[i].func,
                    file: recs[i].file,
                    line: recs[i].line,
                }),
                None => break,
            }
        }
        if chain != prev {
            out.push((b, chain.clone()));
            prev = chain;
        }
    }
    out
}

fn zigzag(d: i64) -> u64 {
    ((d << 1) ^ (d >> 63)) as u64
}

fn common_prefix<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

pub(crate) fn put_u32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}

pub(crate) fn put_varint(v: &mut Vec<u8>, mut x: u64) {
    loop {
        let b = (x & 0x7F) as u8;
        x >>= 7;
        if x == 0 {
            v.push(b);
            return;
        }
        v.push(b | 0x80);
    }
}

#[derive(Clone, Copy, Debug)]
enum Tok {
    Lit(u8),
    Pair(u16, u16),
}

/// A learned token table and the corpus encoded with it (ids already ordered
/// by frequency).
struct Tokens {
    tokens: Vec<Tok>,
    seqs: Vec<Vec<u16>>,
}

impl Tokens {
    fn code_len(id: u16) -> usize {
        if usize::from(id) < ONE_BYTE_CODES {
            1
        } else {
            2
        }
    }

    fn cost(&self) -> usize {
        self.tokens.len() * 3
            + self
                .seqs
                .iter()
                .flat_map(|s| s.iter())
                .map(|&id| Self::code_len(id))
                .sum::<usize>()
    }

    fn codes(&self, i: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for &id in &self.seqs[i] {
            if usize::from(id) < ONE_BYTE_CODES {
                v.push(id as u8);
            } else {
                let x = id - ONE_BYTE_CODES as u16;
                v.push(0xF0 | (x >> 8) as u8);
                v.push(x as u8);
            }
        }
        v
    }

    fn table_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.tokens.len() * 3);
        for t in &self.tokens {
            let (a, b) = match *t {
                Tok::Lit(c) => (LITERAL, u16::from(c)),
                Tok::Pair(a, b) => (a, b),
            };
            let x = u32::from(a) | u32::from(b) << 12;
            v.extend_from_slice(&x.to_le_bytes()[..3]);
        }
        v
    }
}

fn pair_key(a: u16, b: u16) -> u32 {
    u32::from(a) << 16 | u32::from(b)
}

/// Byte-pair encoding with up to `max_tokens` tokens (literals included),
/// incremental pair counting, and token ids finally sorted by use so the most
/// used tokens get one-byte codes.
fn learn_tokens(corpus: &[&[u8]], max_tokens: usize) -> Tokens {
    let max_tokens = max_tokens.min(MAX_TOKENS);
    let mut lit_id = [u16::MAX; 256];
    let mut tokens: Vec<Tok> = Vec::new();
    for s in corpus {
        for &c in *s {
            if lit_id[usize::from(c)] == u16::MAX {
                lit_id[usize::from(c)] = tokens.len() as u16;
                tokens.push(Tok::Lit(c));
            }
        }
    }
    let mut depth: Vec<u8> = vec![0; tokens.len()];
    let mut seqs: Vec<Vec<u16>> = corpus
        .iter()
        .map(|s| s.iter().map(|&c| lit_id[usize::from(c)]).collect())
        .collect();
    let mut counts: HashMap<u32, i64> = HashMap::new();
    let mut occ: HashMap<u32, Vec<u32>> = HashMap::new();
    for (si, s) in seqs.iter().enumerate() {
        for w in s.windows(2) {
            let k = pair_key(w[0], w[1]);
            *counts.entry(k).or_default() += 1;
            let o = occ.entry(k).or_default();
            if o.last() != Some(&(si as u32)) {
                o.push(si as u32);
            }
        }
    }
    let mut heap: BinaryHeap<(i64, Reverse<u32>)> =
        counts.iter().map(|(&k, &c)| (c, Reverse(k))).collect();
    let mut stamp: Vec<u32> = vec![u32::MAX; seqs.len()];
    let mut merge_no: u32 = 0;
    while tokens.len() < max_tokens {
        let Some((c, Reverse(k))) = heap.pop() else {
            break;
        };
        if counts.get(&k).copied().unwrap_or(0) != c {
            continue;
        }
        if c < MIN_PAIR_COUNT {
            break;
        }
        let (a, b) = ((k >> 16) as u16, k as u16);
        let d = depth[usize::from(a)].max(depth[usize::from(b)]) + 1;
        if usize::from(d) > MAX_TOKEN_DEPTH {
            counts.insert(k, 0);
            continue;
        }
        let t = tokens.len() as u16;
        tokens.push(Tok::Pair(a, b));
        depth.push(d);
        merge_no += 1;
        let mut touched: HashSet<u32> = HashSet::new();
        for si in occ.remove(&k).unwrap_or_default() {
            if stamp[si as usize] == merge_no {
                continue;
            }
            stamp[si as usize] = merge_no;
            let seq = &mut seqs[si as usize];
            if !seq.windows(2).any(|w| w[0] == a && w[1] == b) {
                continue;
            }
            for w in seq.windows(2) {
                let kk = pair_key(w[0], w[1]);
                *counts.entry(kk).or_default() -= 1;
                touched.insert(kk);
            }
            let mut out = Vec::with_capacity(seq.len());
            let mut i = 0;
            while i < seq.len() {
                if i + 1 < seq.len() && seq[i] == a && seq[i + 1] == b {
                    out.push(t);
                    i += 2;
                } else {
                    out.push(seq[i]);
                    i += 1;
                }
            }
            *seq = out;
            for w in seq.windows(2) {
                let kk = pair_key(w[0], w[1]);
                *counts.entry(kk).or_default() += 1;
                touched.insert(kk);
                if w[0] == t || w[1] == t {
                    let o = occ.entry(kk).or_default();
                    if o.last() != Some(&si) {
                        o.push(si);
                    }
                }
            }
        }
        for kk in touched {
            let c = counts.get(&kk).copied().unwrap_or(0);
            if c <= 0 {
                counts.remove(&kk);
            } else {
                heap.push((c, Reverse(kk)));
            }
        }
    }
    // Renumber by use so that frequent tokens get one-byte codes.
    let mut uses = vec![0usize; tokens.len()];
    for s in &seqs {
        for &id in s {
            uses[usize::from(id)] += 1;
        }
    }
    let mut order: Vec<u16> = (0..tokens.len() as u16).collect();
    order.sort_by_key(|&id| (Reverse(uses[usize::from(id)]), id));
    let mut new_id = vec![0u16; tokens.len()];
    for (n, &old) in order.iter().enumerate() {
        new_id[usize::from(old)] = n as u16;
    }
    let tokens = order
        .iter()
        .map(|&old| match tokens[usize::from(old)] {
            Tok::Lit(c) => Tok::Lit(c),
            Tok::Pair(a, b) => Tok::Pair(new_id[usize::from(a)], new_id[usize::from(b)]),
        })
        .collect();
    for s in &mut seqs {
        for id in s.iter_mut() {
            *id = new_id[usize::from(*id)];
        }
    }
    Tokens { tokens, seqs }
}
