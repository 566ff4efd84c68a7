//! Receiving files over the serial console: YMODEM (lrzsz `sb`, 128- or 1024-byte blocks,
//! CRC-16) and kx/1, the project's own windowed, compressed protocol (sent by
//! `tools/console`). Whichever the sender speaks is detected from its first valid block or
//! frame; nothing is returned unless every byte was verified.
//!
//! Everything here reads raw bytes from the console's interrupt-fed ring (the shell's line
//! editor would eat control bytes) and writes protocol bytes with
//! [`console::write_raw`](crate::platform::console::write_raw). No text is printed while a transfer
//! runs; the caller reports the result.

pub use kabi::kx as frame;
pub mod kx;
mod ymodem;

use crate::platform::console;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Microseconds since boot.
fn now() -> u64 {
    boards::timer::uptime_us()
}

/// Which protocol delivered a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// kx/1, with or without compression.
    Kx {
        /// The stream was DEFLATE-compressed.
        compressed: bool,
    },
    /// YMODEM batch.
    Ymodem,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Kx { compressed: true } => f.write_str("kx/1, deflate"),
            Protocol::Kx { compressed: false } => f.write_str("kx/1"),
            Protocol::Ymodem => f.write_str("YMODEM"),
        }
    }
}

/// A verified file.
pub struct Received {
    /// Name the sender gave (may be empty).
    pub name: String,
    /// The file.
    pub data: Vec<u8>,
    /// How it came.
    pub protocol: Protocol,
    /// Bytes taken off the wire for the transfer proper.
    pub wire_bytes: u64,
    /// From the first byte of the transfer to the verdict.
    pub elapsed_us: u64,
    /// Blocks or frames that were damaged or repeated and asked for again.
    pub retries: u32,
    /// The sender wants insmod's result in a checked frame ([`kx::send_result`]).
    pub want_result: bool,
}

/// Why nothing was received.
#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    /// No sender started within the wait.
    NoSender,
    /// Ctrl-C on the console before a transfer started.
    Cancelled,
    /// The sender cancelled (YMODEM CAN CAN, kx Abort); carries its reason if any.
    SenderAborted(String),
    /// The host console has no such file.
    NoFile(String),
    /// The file is larger than allowed.
    TooLarge {
        /// Announced size.
        size: u64,
        /// Limit.
        limit: usize,
    },
    /// Not enough memory for the file.
    NoMemory(usize),
    /// The line went quiet in the middle of a transfer.
    Timeout,
    /// Too many damaged blocks in a row.
    TooManyErrors,
    /// The sender broke the protocol (out-of-sequence block, bad header, ...).
    Protocol(&'static str),
    /// The compressed stream did not decompress to the announced size.
    Decompress,
    /// The whole-file CRC-32 does not match.
    Digest {
        /// Announced.
        want: u32,
        /// Computed.
        got: u32,
    },
    /// The batch held no file.
    Empty,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoSender => f.write_str("no sender started the upload in time"),
            Error::Cancelled => f.write_str("cancelled"),
            Error::SenderAborted(r) if r.is_empty() => {
                f.write_str("the sender aborted the transfer")
            }
            Error::SenderAborted(r) => write!(f, "the sender aborted the transfer: {r}"),
            Error::NoFile(m) => write!(f, "host: {m}"),
            Error::TooLarge { size, limit } => {
                write!(f, "{size} bytes is larger than the {limit}-byte limit")
            }
            Error::NoMemory(n) => write!(f, "cannot allocate {n} bytes for the file"),
            Error::Timeout => f.write_str("the line went quiet in the middle of the transfer"),
            Error::TooManyErrors => f.write_str("too many damaged blocks; gave up"),
            Error::Protocol(m) => write!(f, "protocol error: {m}"),
            Error::Decompress => f.write_str("the compressed stream is corrupt"),
            Error::Digest { want, got } => write!(
                f,
                "whole-file CRC-32 mismatch (sender {want:#010x}, received {got:#010x})"
            ),
            Error::Empty => f.write_str("the sender sent no file"),
        }
    }
}

/// How to wait for a sender.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Give up if no transfer starts within this many microseconds.
    pub wait_us: u64,
    /// Offer YMODEM (send `C` every second) as well as kx/1.
    pub ymodem: bool,
    /// Largest file accepted.
    pub limit: usize,
}

const CAN: u8 = 0x18;
const EOT: u8 = 0x04;
const CTRL_C: u8 = 0x03;

/// Sends the kx/1 frame `kind`.
fn send_frame(kind: frame::Kind, seq: u32, payload: &[u8]) {
    let mut buf = [0u8; frame::HEADER + 256 + 4];
    let payload = &payload[..payload.len().min(256)];
    if let Some(n) = frame::encode(kind, seq, payload, &mut buf) {
        console::write_raw(&buf[..n]);
    }
}

/// Asks a host console for module `name` (an OSC sequence terminals ignore).
pub fn request(name: &str) {
    console::write_raw(frame::REQUEST_MARK);
    let clean: String = name
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '/')
        .take(64)
        .collect();
    console::write_raw(clean.as_bytes());
    console::write_raw(b"\x07");
}

/// Reads and drops input until the line has been quiet for `quiet_us` (at most `max_us`),
/// so that the tail of a transfer (retransmissions still queued, a failed sender's
/// retries) does not reach the shell as keystrokes.
pub fn drain(quiet_us: u64, max_us: u64) -> usize {
    let end = now().saturating_add(max_us);
    let mut n = 0;
    while now() < end {
        match console::getc_timeout(quiet_us) {
            Some(_) => n += 1,
            None => break,
        }
    }
    n
}

/// How long the line must stay quiet after a cancel before the shell gets it back.
const CANCEL_QUIET_US: u64 = 1_000_000;
/// Longest time spent swallowing a cancelled sender's tail.
const CANCEL_MAX_US: u64 = 30_000_000;
/// A Ctrl-C counts only with this much silence before it ...
const CTRL_C_GAP_BEFORE_US: u64 = 100_000;
/// ... and after it: a 0x03 inside a stream of bytes is data or noise, not a keystroke.
const CTRL_C_GAP_AFTER_US: u64 = 50_000;

/// Stops a sender and swallows the rest of what it sends: CAN CAN now, and again whenever
/// more input arrives (at most every 200 ms, and for every EOT; a YMODEM sender stops at
/// two CANs in a row, a streaming one gives up after a few unanswered EOTs), until the line has been quiet for
/// [`CANCEL_QUIET_US`]. Nothing a cancelled sender still sends reaches the shell.
pub fn cancel_sender() {
    console::write_raw(&[CAN; 8]);
    let end = now().saturating_add(CANCEL_MAX_US);
    let mut last_can = now();
    while now() < end {
        let Some(b) = console::getc_timeout(CANCEL_QUIET_US) else {
            break;
        };
        // A streaming (YMODEM-g) sender reads nothing until its EOT, then resends the EOT
        // on every answer that is not an ACK: answer each one so it gives up at once.
        if b == EOT || now().saturating_sub(last_can) > 200_000 {
            console::write_raw(&[CAN; 4]);
            last_can = now();
        }
    }
}

/// Waits for a sender and receives one file.
pub fn receive(opts: &Options) -> Result<Received, Error> {
    let was = console::set_polled(true);
    let r = receive_inner(opts);
    match &r {
        // The user or a sender cancelled while a YMODEM sender may be running: stop it.
        Err(Error::Cancelled) | Err(Error::SenderAborted(_)) => cancel_sender(),
        // Leftover bytes (retries of a failed sender, the tail of a batch) must not reach
        // the shell as keystrokes.
        _ => {
            drain(150_000, 10_000_000);
        }
    }
    console::set_polled(was);
    r
}

fn receive_inner(opts: &Options) -> Result<Received, Error> {
    let start = now();
    let mut next_poll = start;
    let mut dec = Box::new(frame::Decoder::new());
    let mut last_can = false;
    let mut block = ymodem::BlockBuf::new();
    // When the previous byte arrived (a Ctrl-C must follow silence).
    let mut last_rx: Option<u64> = None;
    // A byte read while checking that a Ctrl-C stood alone.
    let mut held: Option<u8> = None;
    loop {
        let t = now();
        if t >= next_poll {
            console::write_raw(frame::READY_MARK);
            if opts.ymodem {
                console::write_raw(b"C");
            }
            next_poll = t + 1_000_000;
        }
        if t.saturating_sub(start) > opts.wait_us {
            return Err(Error::NoSender);
        }
        let got = match held.take() {
            Some(b) => Some(b),
            None => console::getc_timeout(next_poll.saturating_sub(t)),
        };
        let Some(b) = got else {
            // A partial frame followed by a quiet line is noise: forget it, so that a
            // Ctrl-C or CAN typed next is seen as one.
            dec.reset();
            continue;
        };
        let at = now();
        let quiet_before = last_rx.is_none_or(|l| at.saturating_sub(l) >= CTRL_C_GAP_BEFORE_US);
        last_rx = Some(at);
        if dec.is_idle() {
            match b {
                CTRL_C if quiet_before => match console::getc_timeout(CTRL_C_GAP_AFTER_US) {
                    None => return Err(Error::Cancelled),
                    // More bytes right behind it: part of a stream, not a keystroke.
                    Some(next) => {
                        held = Some(next);
                        continue;
                    }
                },
                CAN if last_can => return Err(Error::SenderAborted(String::new())),
                CAN => {
                    last_can = true;
                    continue;
                }
                ymodem::SOH | ymodem::STX if opts.ymodem => {
                    last_can = false;
                    match block.read_rest(b) {
                        Ok(0) => return ymodem::receive(&mut block, opts, t),
                        // A data block before any header: not a YMODEM batch start.
                        Ok(_) => ymodem::purge(),
                        Err(_) => ymodem::purge(),
                    }
                    continue;
                }
                _ => {}
            }
        }
        last_can = false;
        dec.push(b);
        while let Some((kind, _seq, payload)) = dec.poll() {
            match kind {
                frame::Kind::Hello => {
                    let Some((hello, name)) = frame::Hello::parse(payload) else {
                        continue;
                    };
                    let name = String::from_utf8_lossy(name).into_owned();
                    return kx::receive(&mut dec, hello, name, opts, t);
                }
                frame::Kind::Abort => {
                    return Err(Error::SenderAborted(
                        String::from_utf8_lossy(payload).into_owned(),
                    ))
                }
                frame::Kind::NoFile => {
                    return Err(Error::NoFile(String::from_utf8_lossy(payload).into_owned()))
                }
                _ => {}
            }
        }
    }
}

/// `rxbench [BYTES]`: the raw receive ceiling. Counts bytes taken from the ring, from the
/// first one until BYTES arrived or the line was quiet for a second.
pub fn rxbench(args: &[&str]) -> Result<(), String> {
    let want: u64 = match args {
        [] => 1 << 20,
        [n] => n
            .parse()
            .map_err(|_| alloc::format!("'{n}' is not a byte count"))?,
        _ => return Err("usage: rxbench [BYTES]".into()),
    };
    let (_, drops0) = console::rx_stats();
    let was = console::set_polled(true);
    let r = rxbench_polled(want, drops0);
    console::set_polled(was);
    r
}

fn rxbench_polled(want: u64, drops0: u64) -> Result<(), String> {
    crate::println!("rxbench: ready for {want} bytes");
    let Some(_) = console::getc_timeout(30_000_000) else {
        return Err("no data within 30 s".into());
    };
    let t0 = now();
    let mut got = 1u64;
    let mut t_last = t0;
    while got < want {
        match console::getc_timeout(1_000_000) {
            Some(_) => {
                got += 1;
                if got.is_multiple_of(1024) {
                    t_last = now();
                }
            }
            None => break,
        }
    }
    if got == want {
        t_last = now();
    }
    let us = t_last.saturating_sub(t0).max(1);
    let (_, drops1) = console::rx_stats();
    crate::println!(
        "rxbench: {got} bytes in {us} us = {} B/s, {} dropped",
        got * 1_000_000 / us,
        drops1 - drops0
    );
    Ok(())
}
