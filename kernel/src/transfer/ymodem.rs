//! YMODEM batch receiver (Forsberg's YMODEM: 128/1024-byte blocks, CRC-16, block 0 carries
//! name and size, a batch ends with an empty block 0). The `C` that asks for the next block
//! goes out as soon as the previous one is acknowledged: no fixed stall.

use super::{console, now, Error, Options, Protocol, Received, CAN};
use alloc::string::String;
use alloc::vec::Vec;

pub use klib::ymodem::{SOH, STX};
const EOT: u8 = 0x04;
const ACK: u8 = 0x06;
const NAK: u8 = 0x15;
/// Wait for one byte inside a block, and for the start of the next block.
const BYTE_US: u64 = 1_000_000;
/// Consecutive damaged/missing blocks before giving up.
const MAX_ERRORS: u32 = 10;
/// Quiet line needed before a header is acknowledged (see [`settle`]).
const SETTLE_US: u64 = 200_000;
/// How long a sender has, after the first data block, to show it is streaming.
const STREAM_PROBE_US: u64 = 200_000;

/// Why a block could not be read.
#[derive(Debug)]
pub enum BlockError {
    Timeout,
    BadSeq,
    BadCrc,
}

/// One block: sequence number and data.
pub struct BlockBuf {
    pub seq: u8,
    pub len: usize,
    pub data: [u8; 1024],
}

impl BlockBuf {
    pub fn new() -> BlockBuf {
        BlockBuf {
            seq: 0,
            len: 0,
            data: [0; 1024],
        }
    }

    /// Reads the rest of a block whose SOH/STX was `first`; returns the sequence number.
    pub fn read_rest(&mut self, first: u8) -> Result<u8, BlockError> {
        let len = klib::ymodem::block_len(first).unwrap_or(128);
        let get = || console::getc_timeout(BYTE_US).ok_or(BlockError::Timeout);
        let seq = get()?;
        let inv = get()?;
        for i in 0..len {
            self.data[i] = get()?;
        }
        let hi = get()?;
        let lo = get()?;
        klib::ymodem::check(seq, inv, &self.data[..len], [hi, lo]).map_err(|e| match e {
            klib::ymodem::BlockError::BadSeq => BlockError::BadSeq,
            _ => BlockError::BadCrc,
        })?;
        self.seq = seq;
        self.len = len;
        Ok(seq)
    }
}

/// Drops input until the line is quiet (after a damaged block, before the NAK).
pub fn purge() {
    super::drain(50_000, 2_000_000);
}

/// Drops input until the line has been quiet for [`SETTLE_US`] before a header is
/// acknowledged. A sender that read our shell's echo and prompt as bad answers to its
/// header sends that header several times in a row; every copy would get an ACK, and the
/// extra ACKs would acknowledge data blocks we never saw. One ACK for the whole burst keeps
/// sender and receiver in step. A data block in the burst means the sender did not wait
/// for our ACK: it streams (YMODEM-g), which is refused.
fn settle(block: &mut BlockBuf) -> Result<(), Error> {
    let end = now().saturating_add(3_000_000);
    while now() < end {
        match console::getc_timeout(SETTLE_US) {
            None => return Ok(()),
            Some(b @ (SOH | STX)) => {
                if let Ok(1) = block.read_rest(b) {
                    return Err(refuse_streaming());
                }
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Refuses a sender that does not wait for acknowledgements.
fn refuse_streaming() -> Error {
    cancel();
    Error::Protocol("the sender does not wait for acknowledgements (YMODEM-g is not supported)")
}

fn send(b: u8) {
    console::write_raw(&[b]);
}

/// Gives up: CAN CAN, and the sender's tail is swallowed (see [`super::cancel_sender`]).
fn cancel() {
    super::cancel_sender();
}

use klib::ymodem::parse_header;

/// How a file's data ended.
enum FileEnd {
    /// EOT, NAK, EOT, ACK.
    Eot,
    /// A header arrived after the first EOT: the sender took a stale ACK for the ACK of
    /// its EOT. The file is complete; `block` holds the header.
    Header,
}

/// Receives a batch whose first header block is in `block`; keeps the first file.
pub fn receive(block: &mut BlockBuf, opts: &Options, t0: u64) -> Result<Received, Error> {
    let mut first: Option<(String, Vec<u8>)> = None;
    let mut wire = 0u64;
    let mut retries = 0u32;
    loop {
        // `block` holds a valid block 0.
        wire += block.len as u64 + 5;
        let Some((name, size)) = parse_header(&block.data[..block.len]) else {
            send(ACK);
            return match first {
                Some((name, data)) => Ok(Received {
                    name,
                    data,
                    protocol: Protocol::Ymodem,
                    wire_bytes: wire,
                    elapsed_us: now().saturating_sub(t0),
                    retries,
                    want_result: false,
                }),
                None => Err(Error::Empty),
            };
        };
        let limit = opts.limit as u64;
        if let Some(s) = size.filter(|&s| s > limit) {
            cancel();
            return Err(Error::TooLarge {
                size: s,
                limit: opts.limit,
            });
        }
        let mut data = Vec::new();
        if first.is_none() {
            let want = size.unwrap_or(0) as usize;
            if data.try_reserve_exact(want).is_err() {
                cancel();
                return Err(Error::NoMemory(want));
            }
        }
        settle(block)?;
        send(ACK);
        send(b'C');
        let (n_wire, n_retries, end) = receive_file(block, &mut data, first.is_none(), opts)?;
        wire += n_wire;
        retries += n_retries;
        if let Some(s) = size.filter(|_| first.is_none()) {
            if (data.len() as u64) < s {
                cancel();
                return Err(Error::Protocol("file shorter than its header says"));
            }
            data.truncate(s as usize);
        }
        if first.is_none() {
            first = Some((name, data));
        }
        if let FileEnd::Header = end {
            continue;
        }
        // Ask for the next header (or the end-of-batch block).
        let mut errors = 0;
        loop {
            send(b'C');
            match console::getc_timeout(BYTE_US) {
                Some(b @ (SOH | STX)) => match block.read_rest(b) {
                    Ok(0) => break,
                    Ok(_) | Err(_) => {
                        purge();
                        errors += 1;
                    }
                },
                // Our ACK of the EOT was lost.
                Some(EOT) => send(ACK),
                Some(CAN) if console::getc_timeout(BYTE_US) == Some(CAN) => {
                    return Err(Error::SenderAborted(String::new()))
                }
                Some(_) => {}
                None => errors += 1,
            }
            if errors > MAX_ERRORS {
                cancel();
                return Err(Error::TooManyErrors);
            }
        }
    }
}

/// After the first data block, before its ACK: is the sender already sending the second
/// one? Then it does not wait for acknowledgements (YMODEM-g, which a single flipped bit
/// turns a `C` into). Waits until the line is quiet; `true` only for a valid block 2.
fn streaming(block: &mut BlockBuf) -> bool {
    let end = now().saturating_add(2_000_000);
    while now() < end {
        match console::getc_timeout(STREAM_PROBE_US) {
            None => return false,
            Some(b @ (SOH | STX)) => {
                if let Ok(2) = block.read_rest(b) {
                    return true;
                }
            }
            Some(_) => {}
        }
    }
    false
}

/// Receives data blocks up to EOT into `data` (kept only if `keep`).
fn receive_file(
    block: &mut BlockBuf,
    data: &mut Vec<u8>,
    keep: bool,
    opts: &Options,
) -> Result<(u64, u32, FileEnd), Error> {
    let mut expected: u8 = 1;
    let mut errors = 0u32;
    let mut retries = 0u32;
    let mut wire = 0u64;
    let mut eot_seen = false;
    let mut started = false;
    loop {
        if errors > MAX_ERRORS {
            cancel();
            return Err(Error::TooManyErrors);
        }
        let Some(b) = console::getc_timeout(BYTE_US) else {
            errors += 1;
            retries += 1;
            // Before the first data block the sender may have missed our 'C'.
            send(if started { NAK } else { b'C' });
            continue;
        };
        match b {
            SOH | STX => match block.read_rest(b) {
                Ok(seq) if seq == expected => {
                    errors = 0;
                    eot_seen = false;
                    wire += block.len as u64 + 5;
                    if keep {
                        if data.len() + block.len > opts.limit + 1024 {
                            cancel();
                            return Err(Error::TooLarge {
                                size: (data.len() + block.len) as u64,
                                limit: opts.limit,
                            });
                        }
                        if data.try_reserve(block.len).is_err() {
                            cancel();
                            return Err(Error::NoMemory(data.len() + block.len));
                        }
                        data.extend_from_slice(&block.data[..block.len]);
                    }
                    if !started {
                        started = true;
                        if streaming(block) {
                            return Err(refuse_streaming());
                        }
                    }
                    expected = expected.wrapping_add(1);
                    send(ACK);
                }
                // The header again, before any data: the sender missed our ACK of it (or
                // read stray text as its answer). One ACK and `C` for the whole burst.
                Ok(0) if !started => {
                    retries += 1;
                    settle(block)?;
                    send(ACK);
                    send(b'C');
                }
                // A header after the first EOT: the sender took a stale ACK as the ACK of
                // its EOT and moved on. Every data block arrived; the file is complete.
                Ok(0) if eot_seen => return Ok((wire, retries, FileEnd::Header)),
                // A repeat of the previous block: our ACK was lost. ACK it, drop it.
                Ok(seq) if started && seq == expected.wrapping_sub(1) => {
                    retries += 1;
                    purge();
                    send(ACK);
                }
                Ok(_) => {
                    cancel();
                    return Err(Error::Protocol("block out of sequence"));
                }
                Err(_) => {
                    errors += 1;
                    retries += 1;
                    purge();
                    send(NAK);
                }
            },
            EOT if !eot_seen => {
                // NAK the first EOT: a damaged byte can look like one.
                eot_seen = true;
                send(NAK);
            }
            EOT => {
                send(ACK);
                return Ok((wire, retries, FileEnd::Eot));
            }
            CAN => {
                if console::getc_timeout(BYTE_US) == Some(CAN) {
                    return Err(Error::SenderAborted(String::new()));
                }
            }
            _ => {
                // Line noise between blocks: wait for quiet and ask again.
                errors += 1;
                retries += 1;
                purge();
                send(NAK);
            }
        }
    }
}
