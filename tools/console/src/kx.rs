//! The kx/1 sender (see `kernel/src/transfer/frame.rs` for the wire format): a sliding
//! window of 1 KiB chunks with selective repeat of the chunks the kernel reports missing, compression with
//! DEFLATE (zlib wrapper), and a whole-file CRC-32 that the kernel checks before use.

use crate::frame::{self, Decoder, Hello, Kind, CHUNK};
use crate::link::{find, Wire};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Without acknowledged progress for this long, resend from the first unacknowledged chunk.
const RTO: Duration = Duration::from_millis(1000);
/// Give up after this many timeouts in a row.
const MAX_TIMEOUTS: u32 = 10;

/// Why an upload failed.
#[derive(Debug)]
pub enum UploadError {
    /// The line failed or closed.
    Io(std::io::Error),
    /// The kernel never answered `Hello` / never said it was ready.
    NoAnswer,
    /// The kernel stopped answering in the middle.
    Timeout,
    /// The kernel refused or gave up: its message.
    Kernel(String),
    /// We aborted (Ctrl-C).
    Aborted,
    /// The file is too big for the protocol.
    TooBig(usize),
    /// The kernel printed an error instead of loading the module.
    Insmod(String),
    /// The file arrived, but no checked result of the insmod came back in time.
    NoResult,
}

impl std::fmt::Display for UploadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UploadError::Io(e) => write!(f, "serial line: {e}"),
            UploadError::NoAnswer => {
                f.write_str("the kernel did not answer (is it waiting in `insmod`?)")
            }
            UploadError::Timeout => f.write_str("the kernel stopped answering during the transfer"),
            UploadError::Kernel(m) => write!(f, "the kernel refused the upload: {m}"),
            UploadError::Aborted => f.write_str("aborted"),
            UploadError::TooBig(n) => write!(f, "{n} bytes is too big for kx/1"),
            UploadError::Insmod(m) => f.write_str(m),
            UploadError::NoResult => f.write_str(
                "the module arrived intact, but the kernel's result of insmod never came back (see the console for what happened)",
            ),
        }
    }
}

impl std::error::Error for UploadError {}

impl From<std::io::Error> for UploadError {
    fn from(e: std::io::Error) -> Self {
        UploadError::Io(e)
    }
}

/// Upload settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// DEFLATE the stream.
    pub compress: bool,
    /// How long to wait for the kernel to accept.
    pub hello_timeout: Duration,
    /// Ask the kernel for insmod's result in a checked frame ([`Stats::result`]).
    pub want_result: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            compress: true,
            hello_timeout: Duration::from_secs(5),
            want_result: false,
        }
    }
}

/// What an upload did.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// File bytes.
    pub size: usize,
    /// Stream bytes (after compression).
    pub stream: usize,
    /// Data frames sent, including resends.
    pub frames_sent: u64,
    /// Chunks sent again (reported missing, or after a timeout).
    pub rewinds: u32,
    /// From `Hello` to the kernel's verdict.
    pub elapsed: Duration,
    /// Bytes received after the verdict frame (the kernel's text output).
    pub leftover: Vec<u8>,
    /// What insmod did, from the kernel's checked `Result` frame (with
    /// [`Options::want_result`]): loaded or not, and the kernel's message.
    pub result: Option<(bool, String)>,
}

fn frame_bytes(kind: Kind, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; frame::HEADER + payload.len() + 4];
    let n = frame::encode(kind, seq, payload, &mut b).unwrap_or(0);
    b.truncate(n);
    b
}

/// Compresses `data` the way the kernel expects (zlib wrapper, DEFLATE level 9).
pub fn compress(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(data, 9)
}

/// Sends `data` as `name` to a kernel that is waiting (in `insmod` or after a request).
/// `progress` gets (acknowledged stream bytes, stream bytes). Setting `abort` stops the
/// transfer with an `Abort` frame.
pub fn send(
    w: &mut dyn Wire,
    name: &str,
    data: &[u8],
    opts: &Options,
    abort: &AtomicBool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Stats, UploadError> {
    if data.len() > u32::MAX as usize / 2 {
        return Err(UploadError::TooBig(data.len()));
    }
    let stream = if opts.compress {
        compress(data)
    } else {
        data.to_vec()
    };
    let hello = Hello {
        version: frame::VERSION,
        flags: if opts.compress {
            frame::FLAG_DEFLATE
        } else {
            0
        } | if opts.want_result {
            frame::FLAG_RESULT
        } else {
            0
        },
        size: data.len() as u32,
        stream_len: stream.len() as u32,
        crc: frame::CRC32.checksum(data),
    };
    let mut hp = hello.to_bytes().to_vec();
    hp.extend(name.bytes().take(200));
    let hello_frame = frame_bytes(Kind::Hello, 0, &hp);
    let chunks = hello.chunks();
    let total = stream.len() as u64;
    let mut stats = Stats {
        size: data.len(),
        stream: stream.len(),
        ..Stats::default()
    };
    let started = Instant::now();
    let mut dec = Box::new(Decoder::new());
    let mut rxbuf = Vec::new();

    // Handshake.
    let deadline = Instant::now() + opts.hello_timeout;
    let mut window: u32 = 0;
    'hello: while Instant::now() < deadline {
        if abort.load(Ordering::Relaxed) {
            w.send(&frame_bytes(Kind::Abort, 0, b"aborted on the host"))?;
            return Err(UploadError::Aborted);
        }
        w.send(&hello_frame)?;
        let wait_end = Instant::now() + Duration::from_millis(500);
        while Instant::now() < wait_end {
            rxbuf.clear();
            w.recv(&mut rxbuf, Duration::from_millis(50))?;
            for &b in &rxbuf {
                dec.push(b);
                while let Some((kind, seq, payload)) = dec.poll() {
                    match kind {
                        Kind::Accept => {
                            window = payload
                                .get(..2)
                                .map(|p| u16::from_le_bytes([p[0], p[1]]) as u32)
                                .unwrap_or(8)
                                .max(1);
                            break 'hello;
                        }
                        Kind::Ack if seq == 0 => {
                            window = 8;
                            break 'hello;
                        }
                        Kind::Fail => {
                            return Err(UploadError::Kernel(
                                String::from_utf8_lossy(payload).into_owned(),
                            ))
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    if window == 0 {
        // Say so, so the kernel stops waiting too (sent a few times: the line may be bad).
        for _ in 0..3 {
            w.send(&frame_bytes(
                Kind::Abort,
                0,
                b"the host gave up: no answer to Hello",
            ))?;
        }
        return Err(UploadError::NoAnswer);
    }

    // Selective repeat: `base` is the first chunk the kernel lacks; gaps it reports are
    // queued for resending ahead of new chunks.
    let mut base: u32 = 0;
    let mut next: u32 = 0;
    let mut resend: std::collections::VecDeque<u32> = Default::default();
    let mut last_sent: Vec<Option<Instant>> = vec![None; chunks as usize];
    let mut last_progress = Instant::now();
    let mut timeouts = 0u32;
    let mut end_sent: Option<Instant> = None;
    let mut out = Vec::with_capacity(64 * 1024);
    let send_chunk = |c: u32, out: &mut Vec<u8>| {
        let off = c as usize * CHUNK;
        let end = (off + CHUNK).min(stream.len());
        out.extend_from_slice(&frame_bytes(Kind::Data, c, &stream[off..end]));
    };
    loop {
        if abort.load(Ordering::Relaxed) {
            let a = frame_bytes(Kind::Abort, 0, b"aborted on the host");
            w.send(&a)?;
            w.send(&a)?;
            return Err(UploadError::Aborted);
        }
        out.clear();
        // Resends first (a chunk resent very recently is not sent again: its report
        // crossed the resend), then new chunks inside the window.
        while let Some(c) = resend.pop_front() {
            if c < base || last_sent[c as usize].is_some_and(|t| t.elapsed() < RTO / 4) {
                continue;
            }
            send_chunk(c, &mut out);
            last_sent[c as usize] = Some(Instant::now());
            stats.frames_sent += 1;
            stats.rewinds += 1;
        }
        while next < chunks && next < base + window {
            send_chunk(next, &mut out);
            last_sent[next as usize] = Some(Instant::now());
            next += 1;
            stats.frames_sent += 1;
        }
        if next == chunks && end_sent.is_none_or(|t| t.elapsed() >= RTO / 2) {
            out.extend_from_slice(&frame_bytes(Kind::End, chunks, &[]));
            end_sent = Some(Instant::now());
        }
        if !out.is_empty() {
            w.send(&out)?;
        }
        rxbuf.clear();
        w.recv(&mut rxbuf, Duration::from_millis(20))?;
        for (i, &b) in rxbuf.iter().enumerate() {
            dec.push(b);
            while let Some((kind, seq, payload)) = dec.poll() {
                match kind {
                    Kind::Ack if seq <= chunks => {
                        if seq > base {
                            base = seq;
                            last_progress = Instant::now();
                            timeouts = 0;
                            progress((base as u64 * CHUNK as u64).min(total), total);
                        }
                        for m in payload.chunks_exact(4) {
                            let c = u32::from_le_bytes([m[0], m[1], m[2], m[3]]);
                            if c >= base && c < next {
                                resend.push_back(c);
                            }
                        }
                    }
                    Kind::Done | Kind::Fail => {
                        let bye = frame_bytes(Kind::Bye, 0, &[]);
                        w.send(&bye)?;
                        stats.elapsed = started.elapsed();
                        stats.leftover = rxbuf[i + 1..].to_vec();
                        if kind == Kind::Done {
                            progress(total, total);
                            if opts.want_result {
                                let leftover = std::mem::take(&mut stats.leftover);
                                let (r, text) = wait_result(w, leftover)?;
                                stats.result = Some(r);
                                stats.leftover = text;
                            }
                            return Ok(stats);
                        }
                        return Err(UploadError::Kernel(
                            String::from_utf8_lossy(payload).into_owned(),
                        ));
                    }
                    Kind::Abort => {
                        return Err(UploadError::Kernel(
                            String::from_utf8_lossy(payload).into_owned(),
                        ))
                    }
                    _ => {}
                }
            }
        }
        if last_progress.elapsed() > RTO {
            timeouts += 1;
            if timeouts > MAX_TIMEOUTS {
                let a = frame_bytes(Kind::Abort, 0, b"no progress; the host gave up");
                w.send(&a)?;
                return Err(UploadError::Timeout);
            }
            // The kernel re-reports its gaps when the line goes quiet; resend the first
            // missing chunk in case every report was lost.
            if base < next {
                resend.push_back(base);
            }
            last_progress = Instant::now();
        }
    }
}

/// How long the kernel's insmod may take after the file arrived (its init has a deadline
/// of its own, 10 s by default).
const RESULT_TIMEOUT: Duration = Duration::from_secs(60);

/// After `Done`: waits for the kernel's `Result` frame (CRC-checked), answers it with
/// `Bye` (sequence 1), and returns it with the text that arrived meanwhile (frames taken
/// out).
fn wait_result(w: &mut dyn Wire, first: Vec<u8>) -> Result<((bool, String), Vec<u8>), UploadError> {
    let mut dec = Box::new(Decoder::new());
    let mut text = Vec::new();
    let mut pending = first;
    let deadline = Instant::now() + RESULT_TIMEOUT;
    loop {
        for &b in &pending {
            let idle = dec.is_idle();
            dec.push(b);
            if idle && dec.is_idle() {
                text.push(b);
            }
            while let Some((kind, _, payload)) = dec.poll() {
                if kind == Kind::Result {
                    let loaded = payload.first() == Some(&frame::RESULT_LOADED);
                    let msg = String::from_utf8_lossy(payload.get(1..).unwrap_or(&[])).into_owned();
                    w.send(&frame_bytes(Kind::Bye, 1, &[]))?;
                    return Ok(((loaded, msg), text));
                }
            }
        }
        if Instant::now() > deadline {
            return Err(UploadError::NoResult);
        }
        pending.clear();
        w.recv(&mut pending, Duration::from_millis(50))?;
    }
}

/// Reads until `pattern` appears; returns everything read up to and including it.
pub fn wait_for(
    w: &mut dyn Wire,
    acc: &mut Vec<u8>,
    pattern: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, UploadError> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(p) = find(acc, pattern) {
            let rest = acc.split_off(p + pattern.len());
            return Ok(std::mem::replace(acc, rest));
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(UploadError::NoAnswer);
        }
        w.recv(acc, (deadline - now).min(Duration::from_millis(100)))?;
    }
}

/// The kernel's answer to an `insmod` upload.
#[derive(Debug)]
pub struct Outcome {
    /// The transfer.
    pub stats: Stats,
    /// What the kernel printed after the transfer, up to the next prompt.
    pub text: String,
}

/// Types `insmod PARAMS` at the shell prompt, sends `data` and waits for the verdict.
/// Fails with the kernel's message unless the module loaded.
pub fn insmod(
    w: &mut dyn Wire,
    name: &str,
    data: &[u8],
    params: &[String],
    opts: &Options,
    abort: &AtomicBool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Outcome, UploadError> {
    let mut acc = Vec::new();
    // Get a fresh prompt (the guest may still be booting).
    w.send(b"\x15\r")?;
    wait_for(w, &mut acc, b"\n> ", Duration::from_secs(30))?;
    let mut line = String::from("insmod");
    for p in params {
        line.push(' ');
        line.push_str(p);
    }
    line.push('\r');
    w.send(line.as_bytes())?;
    wait_for(w, &mut acc, frame::READY_MARK, Duration::from_secs(10))?;
    // The verdict comes from the kernel's checked Result frame, never from console text
    // (which carries no checksum).
    let opts = Options {
        want_result: true,
        ..opts.clone()
    };
    let stats = send(w, name, data, &opts, abort, progress)?;
    let text = String::from_utf8_lossy(&stats.leftover)
        .replace('\r', "")
        .to_string();
    match &stats.result {
        Some((true, _)) => Ok(Outcome { stats, text }),
        Some((false, msg)) => Err(UploadError::Insmod(msg.clone())),
        None => Err(UploadError::NoResult),
    }
}
