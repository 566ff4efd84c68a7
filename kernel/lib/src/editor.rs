//! The shell's line editor.
//!
//! Editing keys: Backspace/DEL erases, Ctrl-U kills the line, Ctrl-C cancels it, Up/Down
//! walk the history. Bytes that are not printable ASCII are ignored, and a line longer than
//! [`MAX_LINE`] rings the bell instead of growing, so pasted or binary input can neither
//! crash nor wedge the shell. The echo goes to a `core::fmt::Write` the caller supplies.

use alloc::string::String;
use core::fmt::Write;

/// Longest accepted command line.
pub const MAX_LINE: usize = 512;
const HISTORY: usize = 32;

/// Command history in one fixed allocation, so that typing commands does not change heap
/// usage (`meminfo` baselines stay exact).
struct History {
    lines: alloc::boxed::Box<[[u8; MAX_LINE]; HISTORY]>,
    lens: [usize; HISTORY],
    /// Index of the oldest entry, and the number of entries.
    start: usize,
    len: usize,
}

impl History {
    fn new() -> History {
        History {
            lines: alloc::boxed::Box::new([[0; MAX_LINE]; HISTORY]),
            lens: [0; HISTORY],
            start: 0,
            len: 0,
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entry `i`, oldest first.
    fn get(&self, i: usize) -> Option<&str> {
        if i >= self.len {
            return None;
        }
        let slot = (self.start + i) % HISTORY;
        core::str::from_utf8(&self.lines[slot][..self.lens[slot]]).ok()
    }

    fn back(&self) -> Option<&str> {
        self.len.checked_sub(1).and_then(|i| self.get(i))
    }

    fn push(&mut self, line: &str) {
        let slot = if self.len == HISTORY {
            let s = self.start;
            self.start = (self.start + 1) % HISTORY;
            s
        } else {
            self.len += 1;
            (self.start + self.len - 1) % HISTORY
        };
        let n = line.len().min(MAX_LINE);
        self.lines[slot][..n].copy_from_slice(&line.as_bytes()[..n]);
        self.lens[slot] = n;
    }
}

/// The line editor's state.
pub struct Editor {
    line: String,
    history: History,
    /// Position while browsing history (None: editing a new line).
    browse: Option<usize>,
    escape: u8,
    prompt: &'static str,
}

/// What a key did.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// Keep reading.
    None,
    /// A complete line.
    Line(String),
}

impl Editor {
    /// An empty editor; Ctrl-C reprints `prompt`.
    pub fn new(prompt: &'static str) -> Editor {
        Editor {
            line: String::new(),
            history: History::new(),
            browse: None,
            escape: 0,
            prompt,
        }
    }

    fn replace_line(&mut self, new: String, out: &mut dyn Write) {
        for _ in 0..self.line.len() {
            let _ = out.write_str("\x08 \x08");
        }
        let _ = out.write_str(&new);
        self.line = new;
    }

    /// Feeds one received byte; writes the echo a terminal expects to `out`.
    pub fn feed(&mut self, b: u8, out: &mut dyn Write) -> Event {
        // ANSI escape sequences: ESC [ A (up), ESC [ B (down); others are swallowed.
        match (self.escape, b) {
            (0, 0x1b) => {
                self.escape = 1;
                return Event::None;
            }
            (1, b'[') | (1, b'O') => {
                self.escape = 2;
                return Event::None;
            }
            (1, _) => {
                self.escape = 0;
                return Event::None;
            }
            (2, b'0'..=b'9') | (2, b';') => return Event::None,
            (2, code) => {
                self.escape = 0;
                match code {
                    b'A' => self.history_step(true, out),
                    b'B' => self.history_step(false, out),
                    _ => {}
                }
                return Event::None;
            }
            _ => {}
        }
        match b {
            b'\r' | b'\n' => {
                let _ = out.write_str("\n");
                let line = core::mem::take(&mut self.line);
                self.browse = None;
                if !line.trim().is_empty() && self.history.back() != Some(line.as_str()) {
                    self.history.push(&line);
                }
                Event::Line(line)
            }
            0x7f | 0x08 => {
                if self.line.pop().is_some() {
                    let _ = out.write_str("\x08 \x08");
                }
                Event::None
            }
            0x15 => {
                self.replace_line(String::new(), out);
                Event::None
            }
            0x03 => {
                let _ = out.write_str("^C\n");
                let _ = out.write_str(self.prompt);
                self.line.clear();
                self.browse = None;
                Event::None
            }
            0x20..=0x7e => {
                if self.line.len() >= MAX_LINE {
                    let _ = out.write_str("\x07");
                } else {
                    self.line.push(b as char);
                    let _ = out.write_char(b as char);
                }
                Event::None
            }
            _ => Event::None,
        }
    }

    fn history_step(&mut self, older: bool, out: &mut dyn Write) {
        if self.history.is_empty() {
            return;
        }
        let n = self.history.len();
        let next = match (self.browse, older) {
            (None, true) => Some(n - 1),
            (None, false) => None,
            (Some(0), true) => Some(0),
            (Some(i), true) => Some(i - 1),
            (Some(i), false) if i + 1 < n => Some(i + 1),
            (Some(_), false) => None,
        };
        self.browse = next;
        let text = next
            .and_then(|i| self.history.get(i).map(String::from))
            .unwrap_or_default();
        self.replace_line(text, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn feed(ed: &mut Editor, bytes: &[u8]) -> (Vec<String>, String) {
        let mut echo = String::new();
        let mut lines = Vec::new();
        for &b in bytes {
            if let Event::Line(l) = ed.feed(b, &mut echo) {
                lines.push(l);
            }
        }
        (lines, echo)
    }

    #[test]
    fn editing_keys() {
        let mut ed = Editor::new("> ");
        let (l, echo) = feed(&mut ed, b"lsmox\x7fd\r");
        assert_eq!(l, ["lsmod"]);
        assert_eq!(echo, "lsmox\x08 \x08d\n");
        let (l, _) = feed(&mut ed, b"junk\x15help\r");
        assert_eq!(l, ["help"]);
        let (l, echo) = feed(&mut ed, b"abc\x03");
        assert!(l.is_empty() && echo.ends_with("^C\n> "));
        let (l, _) = feed(&mut ed, b"\x01\x1b[Cok\xff\r");
        assert_eq!(l, ["ok"]);
    }

    #[test]
    fn history_walks_and_skips_repeats() {
        let mut ed = Editor::new("> ");
        feed(&mut ed, b"one\rtwo\rtwo\r");
        let (l, _) = feed(&mut ed, b"\x1b[A\x1b[A\r");
        assert_eq!(l, ["one"]);
        let (l, _) = feed(&mut ed, b"\x1b[A\x1b[B\x1b[B\r");
        assert_eq!(l, [""]);
        for i in 0..40 {
            feed(&mut ed, std::format!("cmd{i}\r").as_bytes());
        }
        let mut up = Vec::new();
        up.extend(std::iter::repeat_n(&b"\x1b[A"[..], 50).flatten().copied());
        up.push(b'\r');
        let (l, _) = feed(&mut ed, &up);
        assert_eq!(l, ["cmd8"], "the oldest of 32 kept entries");
    }

    #[test]
    fn long_lines_ring_the_bell() {
        let mut ed = Editor::new("> ");
        let mut input = std::vec![b'x'; MAX_LINE + 10];
        input.push(b'\r');
        let (l, echo) = feed(&mut ed, &input);
        assert_eq!(l[0].len(), MAX_LINE);
        assert_eq!(echo.matches('\x07').count(), 10);
    }
}
