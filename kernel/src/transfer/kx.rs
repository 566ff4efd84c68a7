//! kx/1 receiver: selective repeat over a sliding window. Chunks land at their offset in a
//! preallocated stream buffer in any order; `Ack` carries the first missing chunk and a
//! list of later gaps; silence triggers a re-ack. The stream is decompressed and the
//! whole-file CRC-32 checked before anything is handed on.

use super::frame::{self, Decoder, Hello, Kind, CHUNK, MAX_MISSING};
use super::{console, now, send_frame, Error, Options, Protocol, Received};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// Chunks the sender may have in flight (24 KiB: well inside the 64 KiB receive ring).
pub const WINDOW: u16 = 24;
/// Acknowledge every this many chunks.
const ACK_EVERY: u32 = 4;
/// Re-acknowledge after this much silence.
const IDLE_US: u64 = 300_000;
/// Give up after this long without a new chunk.
const STUCK_US: u64 = 15_000_000;
/// How long the verdict is repeated while waiting for the host's `Bye`.
const LINGER_US: u64 = 1_000_000;

fn fail(e: Error) -> Error {
    send_frame(Kind::Fail, 0, format!("{e}").as_bytes());
    e
}

fn accept() {
    send_frame(Kind::Accept, 0, &WINDOW.to_le_bytes());
}

/// Receive state: which chunks arrived.
struct Window {
    have: Vec<bool>,
    /// First missing chunk.
    expected: u32,
    /// Highest chunk seen + 1.
    seen: u32,
    /// Gaps below this were already reported since the last re-ack.
    reported: u32,
}

impl Window {
    /// Sends `Ack(expected)` with the missing chunks in `[from, to)`.
    fn ack(&self, from: u32, to: u32) {
        let mut p = [0u8; 4 * MAX_MISSING];
        let mut n = 0;
        for c in from.max(self.expected)..to.min(self.have.len() as u32) {
            if n == MAX_MISSING {
                break;
            }
            if !self.have[c as usize] {
                p[4 * n..4 * n + 4].copy_from_slice(&c.to_le_bytes());
                n += 1;
            }
        }
        send_frame(Kind::Ack, self.expected, &p[..4 * n]);
    }
}

/// Receives the transfer `hello` announced (the frame is already consumed from `dec`).
pub fn receive(
    dec: &mut Decoder,
    hello: Hello,
    name: String,
    opts: &Options,
    t0: u64,
) -> Result<Received, Error> {
    let compressed = hello.flags & frame::FLAG_DEFLATE != 0;
    if hello.version != frame::VERSION {
        return Err(fail(Error::Protocol("unsupported kx version")));
    }
    if hello.size as usize > opts.limit {
        return Err(fail(Error::TooLarge {
            size: hello.size.into(),
            limit: opts.limit,
        }));
    }
    // DEFLATE never grows data by more than a few bytes per 16 KiB block.
    let stream_limit = opts.limit + opts.limit / 256 + 64;
    if hello.stream_len as usize > stream_limit || (!compressed && hello.stream_len != hello.size) {
        return Err(fail(Error::Protocol("stream length does not fit the size")));
    }
    let chunks = hello.chunks();
    let stream_len = hello.stream_len as usize;
    let mut stream: Vec<u8> = Vec::new();
    let mut have: Vec<bool> = Vec::new();
    if stream.try_reserve_exact(stream_len).is_err()
        || have.try_reserve_exact(chunks as usize).is_err()
    {
        return Err(fail(Error::NoMemory(stream_len)));
    }
    stream.resize(stream_len, 0);
    have.resize(chunks as usize, false);
    let mut w = Window {
        have,
        expected: 0,
        seen: 0,
        reported: 0,
    };
    accept();
    let mut last_byte = now();
    let mut last_new = now();
    let mut wire = frame::HEADER as u64 + 4 + frame::Hello::LEN as u64;
    let mut retries = 0u32;
    let mut dups = 0u32;
    let mut verdict: Option<Result<Vec<u8>, Error>> = None;
    while verdict.is_none() {
        if now().saturating_sub(last_new) > STUCK_US {
            return Err(fail(Error::TooManyErrors));
        }
        let Some(b) = console::getc_timeout(IDLE_US) else {
            if now().saturating_sub(last_byte) > STUCK_US {
                return Err(fail(Error::Timeout));
            }
            if w.expected == 0 && w.seen == 0 {
                accept();
            }
            // Report every gap again.
            w.ack(w.expected, w.seen);
            w.reported = w.seen;
            continue;
        };
        last_byte = now();
        wire += 1;
        dec.push(b);
        while let Some((kind, seq, payload)) = dec.poll() {
            match kind {
                Kind::Hello if w.expected == 0 && w.seen == 0 => accept(),
                Kind::Data if seq < chunks => {
                    let off = seq as usize * CHUNK;
                    let want = (stream_len - off).min(CHUNK);
                    if payload.len() != want {
                        return Err(fail(Error::Protocol("data frame of the wrong length")));
                    }
                    if w.have[seq as usize] {
                        dups += 1;
                        if dups.is_multiple_of(8) {
                            w.ack(w.expected, w.seen);
                        }
                        continue;
                    }
                    stream[off..off + want].copy_from_slice(payload);
                    w.have[seq as usize] = true;
                    last_new = now();
                    let before = w.expected;
                    while w.expected < chunks && w.have[w.expected as usize] {
                        w.expected += 1;
                    }
                    if seq >= w.seen {
                        // A gap between what we had seen and this chunk: report it once.
                        if seq > w.seen.max(w.expected) && seq > w.reported {
                            retries += 1;
                            w.ack(w.reported.max(w.expected), seq);
                            w.reported = seq;
                        }
                        w.seen = seq + 1;
                    }
                    if w.expected == chunks || w.expected / ACK_EVERY != before / ACK_EVERY {
                        w.ack(w.expected, w.expected);
                    }
                }
                Kind::End if w.expected == chunks => {
                    verdict = Some(verify(&hello, compressed, core::mem::take(&mut stream)));
                    break;
                }
                Kind::End => {
                    w.ack(w.expected, chunks);
                    w.reported = chunks;
                    w.seen = chunks;
                }
                Kind::Abort => {
                    return Err(Error::SenderAborted(
                        String::from_utf8_lossy(payload).into_owned(),
                    ))
                }
                _ => {}
            }
        }
    }
    drop(w);
    let elapsed_us = now().saturating_sub(t0);
    let verdict = verdict.unwrap_or(Err(Error::Timeout));
    let say = |v: &Result<Vec<u8>, Error>| match v {
        Ok(_) => send_frame(Kind::Done, 0, &[]),
        Err(e) => send_frame(Kind::Fail, 0, format!("{e}").as_bytes()),
    };
    say(&verdict);
    // Repeat the verdict until the host says Bye (it resends End if it missed it).
    let deadline = now() + LINGER_US;
    'linger: while now() < deadline {
        let Some(b) = console::getc_timeout(deadline.saturating_sub(now())) else {
            break;
        };
        dec.push(b);
        while let Some((kind, _, _)) = dec.poll() {
            match kind {
                Kind::Bye | Kind::Abort => break 'linger,
                Kind::End => say(&verdict),
                _ => {}
            }
        }
    }
    let data = verdict?;
    Ok(Received {
        name,
        data,
        protocol: Protocol::Kx { compressed },
        wire_bytes: wire,
        elapsed_us,
        retries,
        want_result: hello.flags & frame::FLAG_RESULT != 0,
    })
}

/// Tries to send the result frame this many times (a noisy line back to the host may
/// damage several in a row; the host is waiting for it all the while).
const RESULT_TRIES: u32 = 25;
/// Wait for the host's `Bye` after each.
const RESULT_WAIT_US: u64 = 200_000;

/// Reports what insmod did in a checked `Result` frame, repeated until the host answers
/// with `Bye` (sequence 1) or [`RESULT_TRIES`] passed: the host's verdict rests on this
/// frame, not on console text, which carries no checksum.
pub fn send_result(loaded: bool, message: &str) {
    let mut payload = alloc::vec::Vec::with_capacity(256);
    payload.push(if loaded {
        frame::RESULT_LOADED
    } else {
        frame::RESULT_FAILED
    });
    // One frame: the kernel's frames carry at most 256 payload bytes.
    let mut cut = message.len().min(255);
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    payload.extend_from_slice(&message.as_bytes()[..cut]);
    let mut dec = alloc::boxed::Box::new(Decoder::new());
    for _ in 0..RESULT_TRIES {
        send_frame(Kind::Result, 0, &payload);
        let deadline = now() + RESULT_WAIT_US;
        while now() < deadline {
            let Some(b) = console::getc_timeout(deadline.saturating_sub(now())) else {
                break;
            };
            dec.push(b);
            while let Some((kind, seq, _)) = dec.poll() {
                if (kind == Kind::Bye && seq == 1) || kind == Kind::Abort {
                    return;
                }
            }
        }
    }
}

fn verify(hello: &Hello, compressed: bool, stream: Vec<u8>) -> Result<Vec<u8>, Error> {
    let size = hello.size as usize;
    let data = if compressed {
        let d = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&stream, size)
            .map_err(|_| Error::Decompress)?;
        if d.len() != size {
            return Err(Error::Decompress);
        }
        d
    } else {
        stream
    };
    let got = frame::CRC32.checksum(&data);
    if got != hello.crc {
        return Err(Error::Digest {
            want: hello.crc,
            got,
        });
    }
    Ok(data)
}
