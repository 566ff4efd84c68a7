//! The kx/1 wire format, shared by the kernel receiver and the host sender
//! (`tools/console`). `core` and `crc` only: no allocation.
//!
//! ```text
//! 0xA5 | kind u8 | seq u32 LE | len u16 LE | payload[len] | CRC-32 LE of kind..payload
//! ```
//!
//! Data chunks carry their index in `seq`; the receiver keeps chunks that arrive out of
//! order and reports gaps (selective repeat), so a damaged frame costs one resend.
//!
//! [`Decoder`] finds frames in a byte stream that may carry garbage, lost, duplicated or
//! corrupted bytes: a frame counts only when its CRC matches, and after a bad frame the
//! search resumes one byte after the bad frame's sync byte, so a good frame that started
//! inside a damaged one is still found.

/// First byte of every frame.
pub const SYNC: u8 = 0xA5;
/// Largest payload.
pub const MAX_PAYLOAD: usize = 1024;
/// Header bytes before the payload.
pub const HEADER: usize = 8;
/// Largest frame on the wire.
pub const MAX_FRAME: usize = HEADER + MAX_PAYLOAD + 4;
/// Data bytes per `Data` frame (the last one may be shorter).
pub const CHUNK: usize = 1024;
/// Most missing chunks listed in one `Ack`.
pub const MAX_MISSING: usize = 64;
/// Protocol version carried in `Hello`.
pub const VERSION: u8 = 1;
/// `Hello` flag: the stream is zlib-wrapped DEFLATE of the file.
pub const FLAG_DEFLATE: u8 = 1;
/// `Hello` flag: after `Done`, the kernel reports what `insmod` did in a [`Kind::Result`]
/// frame, and the host answers it with `Bye` (sequence 1).
pub const FLAG_RESULT: u8 = 2;
/// First payload byte of a `Result` frame: the module loaded.
pub const RESULT_LOADED: u8 = 0;
/// First payload byte of a `Result` frame: it did not.
pub const RESULT_FAILED: u8 = 1;
/// The terminal-invisible marker (an OSC sequence) the kernel prints when it is ready to
/// receive; it contains none of the bytes YMODEM senders react to.
pub const READY_MARK: &[u8] = b"\x1b]7701;kx-ready\x07";
/// Prefix of the marker with which the kernel asks the host console for a module; the
/// module name and `\x07` follow.
pub const REQUEST_MARK: &[u8] = b"\x1b]7701;kx-req;";

/// CRC-32 (ISO-HDLC, as zlib) used for frames and the whole-file digest.
pub const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// Frame kinds. Host → kernel below 0x80, kernel → host from 0x80.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Starts a transfer: see [`Hello`].
    Hello = 0x01,
    /// Stream chunk number `seq`.
    Data = 0x02,
    /// All `seq` chunks were sent.
    End = 0x03,
    /// Stop; the payload says why. Either direction uses this kind.
    Abort = 0x04,
    /// The host saw the kernel's verdict.
    Bye = 0x05,
    /// The host has no such module (answer to a request); payload: message.
    NoFile = 0x06,
    /// Kernel accepts a `Hello`; payload: window (u16 LE) in chunks.
    Accept = 0x81,
    /// Everything before chunk `seq` arrived; the payload lists (u32 LE each, at most
    /// [`MAX_MISSING`]) chunks after `seq` that are missing and should be resent.
    Ack = 0x82,
    /// Reserved (kx/1 reports gaps in `Ack`).
    Nak = 0x83,
    /// The whole file arrived and its digest matched.
    Done = 0x84,
    /// The kernel gave up; payload: message.
    Fail = 0x85,
    /// What insmod did with the file (only when the `Hello` had [`FLAG_RESULT`]); payload:
    /// [`RESULT_LOADED`] or [`RESULT_FAILED`], then the kernel's message (UTF-8).
    Result = 0x86,
}

impl Kind {
    /// Decodes a kind byte.
    pub fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            0x01 => Kind::Hello,
            0x02 => Kind::Data,
            0x03 => Kind::End,
            0x04 => Kind::Abort,
            0x05 => Kind::Bye,
            0x06 => Kind::NoFile,
            0x81 => Kind::Accept,
            0x82 => Kind::Ack,
            0x83 => Kind::Nak,
            0x84 => Kind::Done,
            0x85 => Kind::Fail,
            0x86 => Kind::Result,
            _ => return None,
        })
    }
}

/// Writes a frame into `out`; returns its length, or `None` if `out` is too small or the
/// payload too long.
pub fn encode(kind: Kind, seq: u32, payload: &[u8], out: &mut [u8]) -> Option<usize> {
    let n = HEADER + payload.len() + 4;
    if payload.len() > MAX_PAYLOAD || out.len() < n {
        return None;
    }
    out[0] = SYNC;
    out[1] = kind as u8;
    out[2..6].copy_from_slice(&seq.to_le_bytes());
    out[6..8].copy_from_slice(&(payload.len() as u16).to_le_bytes());
    out[HEADER..HEADER + payload.len()].copy_from_slice(payload);
    let crc = CRC32.checksum(&out[1..HEADER + payload.len()]);
    out[HEADER + payload.len()..n].copy_from_slice(&crc.to_le_bytes());
    Some(n)
}

/// The `Hello` payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    /// [`VERSION`].
    pub version: u8,
    /// [`FLAG_DEFLATE`] or 0.
    pub flags: u8,
    /// Size of the file.
    pub size: u32,
    /// Bytes of the (possibly compressed) stream.
    pub stream_len: u32,
    /// CRC-32 of the whole file (after decompression).
    pub crc: u32,
}

impl Hello {
    /// Encoded length (a file name may follow).
    pub const LEN: usize = 16;

    /// Serialises the fixed part.
    pub fn to_bytes(&self) -> [u8; Hello::LEN] {
        let mut b = [0u8; Hello::LEN];
        b[0] = self.version;
        b[1] = self.flags;
        b[4..8].copy_from_slice(&self.size.to_le_bytes());
        b[8..12].copy_from_slice(&self.stream_len.to_le_bytes());
        b[12..16].copy_from_slice(&self.crc.to_le_bytes());
        b
    }

    /// Parses the fixed part; the rest of the payload is the file name.
    pub fn parse(p: &[u8]) -> Option<(Hello, &[u8])> {
        if p.len() < Hello::LEN {
            return None;
        }
        let u = |i: usize| u32::from_le_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
        Some((
            Hello {
                version: p[0],
                flags: p[1],
                size: u(4),
                stream_len: u(8),
                crc: u(12),
            },
            &p[Hello::LEN..],
        ))
    }

    /// Number of `Data` frames.
    pub fn chunks(&self) -> u32 {
        (self.stream_len as usize).div_ceil(CHUNK) as u32
    }
}

/// A streaming frame finder over a fixed buffer.
pub struct Decoder {
    buf: [u8; 2 * MAX_FRAME],
    start: usize,
    end: usize,
    bad: u32,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// An empty decoder.
    pub const fn new() -> Decoder {
        Decoder {
            buf: [0; 2 * MAX_FRAME],
            start: 0,
            end: 0,
            bad: 0,
        }
    }

    /// Frames rejected so far (bad CRC or length).
    pub fn bad_frames(&self) -> u32 {
        self.bad
    }

    /// True when no partial frame is buffered (the stream is between frames).
    pub fn is_idle(&self) -> bool {
        self.start == self.end
    }

    /// Forgets any partial frame.
    pub fn reset(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Adds one received byte. Bytes outside frames are dropped at once.
    pub fn push(&mut self, b: u8) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if b != SYNC {
                return;
            }
        }
        if self.end == self.buf.len() {
            // Compact: everything before `start` is consumed.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.buf.len() {
                // Only reachable if nobody polls: start over rather than overflow.
                self.bad += 1;
                self.reset();
                return;
            }
        }
        self.buf[self.end] = b;
        self.end += 1;
    }

    /// The next complete valid frame, if one is buffered: (kind, seq, payload).
    pub fn poll(&mut self) -> Option<(Kind, u32, &[u8])> {
        loop {
            // Skip to a sync byte.
            while self.start < self.end && self.buf[self.start] != SYNC {
                self.start += 1;
            }
            let avail = self.end - self.start;
            if avail < HEADER {
                return None;
            }
            let h = &self.buf[self.start..self.end];
            let len = u16::from_le_bytes([h[6], h[7]]) as usize;
            if len > MAX_PAYLOAD || Kind::from_u8(h[1]).is_none() {
                self.bad += 1;
                self.start += 1;
                continue;
            }
            let total = HEADER + len + 4;
            if avail < total {
                return None;
            }
            let crc = u32::from_le_bytes([
                h[HEADER + len],
                h[HEADER + len + 1],
                h[HEADER + len + 2],
                h[HEADER + len + 3],
            ]);
            if CRC32.checksum(&h[1..HEADER + len]) != crc {
                self.bad += 1;
                self.start += 1;
                continue;
            }
            let kind = Kind::from_u8(h[1])?;
            let seq = u32::from_le_bytes([h[2], h[3], h[4], h[5]]);
            let s = self.start;
            self.start += total;
            return Some((kind, seq, &self.buf[s + HEADER..s + HEADER + len]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn frame(kind: Kind, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut b = [0u8; MAX_FRAME];
        let n = encode(kind, seq, payload, &mut b).unwrap();
        b[..n].to_vec()
    }

    fn decode_all(d: &mut Decoder, bytes: &[u8]) -> Vec<(Kind, u32, Vec<u8>)> {
        let mut out = Vec::new();
        for &b in bytes {
            d.push(b);
            while let Some((k, s, p)) = d.poll() {
                out.push((k, s, p.to_vec()));
            }
        }
        out
    }

    #[test]
    fn frames_survive_garbage_and_damage() {
        let a = frame(Kind::Data, 7, &[1, 2, 3]);
        let b = frame(Kind::End, 8, &[]);
        let mut bad = frame(Kind::Data, 9, &[9; 100]);
        bad[20] ^= 0x10;
        let mut stream = b"noise \xa5\xa5 text".to_vec();
        stream.extend_from_slice(&a);
        stream.extend_from_slice(&bad);
        stream.extend_from_slice(&b);
        let mut d = Decoder::new();
        let got = decode_all(&mut d, &stream);
        assert_eq!(
            got,
            [
                (Kind::Data, 7, alloc::vec![1, 2, 3]),
                (Kind::End, 8, Vec::new())
            ]
        );
        assert!(d.bad_frames() >= 1);
        assert!(encode(
            Kind::Data,
            0,
            &[0; MAX_PAYLOAD + 1],
            &mut [0; 2 * MAX_FRAME]
        )
        .is_none());
        assert!(encode(Kind::Data, 0, &[0; 4], &mut [0; 8]).is_none());
    }

    #[test]
    fn a_frame_inside_a_damaged_one_is_found() {
        // A truncated frame's tail swallows the start of a good one: the decoder resyncs
        // one byte after the bad sync and still finds it.
        let good = frame(Kind::Hello, 0, &[5; 16]);
        let mut partial = frame(Kind::Data, 1, &[0; 40]);
        partial.truncate(12);
        let mut s = partial;
        s.extend_from_slice(&good);
        s.extend_from_slice(&[0; MAX_FRAME]);
        let mut d = Decoder::new();
        let got = decode_all(&mut d, &s);
        assert!(got
            .iter()
            .any(|(k, _, p)| *k == Kind::Hello && p == &[5; 16]));
    }

    #[test]
    fn hello_round_trip() {
        let h = Hello {
            version: VERSION,
            flags: FLAG_DEFLATE,
            size: 5000,
            stream_len: 2049,
            crc: 0xdead_beef,
        };
        let mut p = h.to_bytes().to_vec();
        p.extend_from_slice(b"hello.ko");
        let (back, name) = Hello::parse(&p).unwrap();
        assert_eq!((back, name), (h, &b"hello.ko"[..]));
        assert_eq!(back.chunks(), 3);
        assert!(Hello::parse(&p[..15]).is_none());
    }
}
