//! kx/1 receiver: go-back-N with cumulative acks, a NAK on the first gap, idle re-acks,
//! DEFLATE decompression and a whole-file CRC-32 before anything is handed on.

use super::frame::{self, Decoder, Hello, Kind, CHUNK};
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
/// Give up after this much silence.
const DEAD_US: u64 = 10_000_000;
/// How long the verdict is repeated while waiting for the host's `Bye`.
const LINGER_US: u64 = 1_000_000;

fn fail(e: Error) -> Error {
    send_frame(Kind::Fail, 0, format!("{e}").as_bytes());
    e
}

fn accept() {
    send_frame(Kind::Accept, 0, &WINDOW.to_le_bytes());
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
    if stream.try_reserve_exact(stream_len).is_err() {
        return Err(fail(Error::NoMemory(stream_len)));
    }
    accept();
    let mut expected: u32 = 0;
    let mut nak_for: Option<u32> = None;
    let mut last_byte = now();
    let mut wire = frame::HEADER as u64 + 4 + frame::Hello::LEN as u64;
    let mut retries = 0u32;
    let mut dups = 0u32;
    let mut verdict: Option<Result<Vec<u8>, Error>> = None;
    while verdict.is_none() {
        let Some(b) = console::getc_timeout(IDLE_US) else {
            if now().saturating_sub(last_byte) > DEAD_US {
                return Err(fail(Error::Timeout));
            }
            if expected == 0 {
                accept();
            }
            send_frame(Kind::Ack, expected, &[]);
            nak_for = None;
            continue;
        };
        last_byte = now();
        wire += 1;
        dec.push(b);
        while let Some((kind, seq, payload)) = dec.poll() {
            match kind {
                Kind::Hello if expected == 0 => accept(),
                Kind::Data if seq == expected && seq < chunks => {
                    let want = if seq + 1 == chunks {
                        stream_len - seq as usize * CHUNK
                    } else {
                        CHUNK
                    };
                    if payload.len() != want {
                        return Err(fail(Error::Protocol("data frame of the wrong length")));
                    }
                    stream.extend_from_slice(payload);
                    expected += 1;
                    nak_for = None;
                    if expected % ACK_EVERY == 0 || expected == chunks {
                        send_frame(Kind::Ack, expected, &[]);
                    }
                }
                Kind::Data if seq > expected && seq < chunks => {
                    if nak_for != Some(expected) {
                        retries += 1;
                        send_frame(Kind::Nak, expected, &[]);
                        nak_for = Some(expected);
                    }
                }
                Kind::Data => {
                    dups += 1;
                    if dups % 8 == 0 {
                        send_frame(Kind::Ack, expected, &[]);
                    }
                }
                Kind::End if expected == chunks => {
                    verdict = Some(verify(&hello, compressed, core::mem::take(&mut stream)));
                    break;
                }
                Kind::End => {
                    send_frame(Kind::Nak, expected, &[]);
                    nak_for = Some(expected);
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
    })
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
