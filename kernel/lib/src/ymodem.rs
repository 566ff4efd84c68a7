//! The pure half of the YMODEM receiver: block framing checks and the header block.
//!
//! A block is `SOH|STX, seq, 255-seq, data (128 or 1024 bytes), CRC-16/XMODEM (big
//! endian)`. Block 0 of a file carries `name NUL size [mtime mode ...]`; an empty block 0
//! ends the batch.

use alloc::string::String;

/// Start of a 128-byte block.
pub const SOH: u8 = 0x01;
/// Start of a 1024-byte block.
pub const STX: u8 = 0x02;

const CRC16: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_XMODEM);

/// Why a block is bad.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockError {
    /// The sequence number and its complement disagree.
    BadSeq,
    /// The CRC does not match the data.
    BadCrc,
    /// Not 128 or 1024 data bytes.
    BadLength(usize),
}

impl core::fmt::Display for BlockError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BlockError::BadSeq => f.write_str("sequence number and complement disagree"),
            BlockError::BadCrc => f.write_str("CRC mismatch"),
            BlockError::BadLength(n) => write!(f, "{n}-byte block"),
        }
    }
}

/// Data bytes of a block that starts with `first` (`None`: not a block start).
pub fn block_len(first: u8) -> Option<usize> {
    match first {
        SOH => Some(128),
        STX => Some(1024),
        _ => None,
    }
}

/// Checks a received block: its sequence byte, the complement, the data and the CRC.
pub fn check(seq: u8, inv: u8, data: &[u8], crc: [u8; 2]) -> Result<u8, BlockError> {
    if data.len() != 128 && data.len() != 1024 {
        return Err(BlockError::BadLength(data.len()));
    }
    if seq != !inv {
        return Err(BlockError::BadSeq);
    }
    if CRC16.checksum(data) != u16::from_be_bytes(crc) {
        return Err(BlockError::BadCrc);
    }
    Ok(seq)
}

/// The CRC a sender puts after `data`.
pub fn crc(data: &[u8]) -> [u8; 2] {
    CRC16.checksum(data).to_be_bytes()
}

/// Name and size from a header block; `None` for the empty end-of-batch block.
pub fn parse_header(d: &[u8]) -> Option<(String, Option<u64>)> {
    if d.first().is_none_or(|&b| b == 0) {
        return None;
    }
    let name_end = d.iter().position(|&b| b == 0).unwrap_or(d.len());
    let name = String::from_utf8_lossy(&d[..name_end]).into_owned();
    let rest = d.get(name_end + 1..).unwrap_or(&[]);
    let digits: &[u8] = match rest.iter().position(|b| !b.is_ascii_digit()) {
        Some(n) => &rest[..n],
        None => rest,
    };
    let size = core::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok());
    Some((name, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_is_xmodem() {
        // The CRC-16/XMODEM check value.
        assert_eq!(crc(b"123456789"), [0x31, 0xc3]);
    }

    #[test]
    fn blocks() {
        let mut data = [0x1a; 128];
        data[..5].copy_from_slice(b"hello");
        let c = crc(&data);
        assert_eq!(check(1, 0xfe, &data, c), Ok(1));
        assert_eq!(check(1, 0xfd, &data, c), Err(BlockError::BadSeq));
        let mut bad = data;
        bad[7] ^= 1;
        assert_eq!(check(1, 0xfe, &bad, c), Err(BlockError::BadCrc));
        assert_eq!(
            check(1, 0xfe, &data[..100], c),
            Err(BlockError::BadLength(100))
        );
        assert_eq!(block_len(STX), Some(1024));
        assert_eq!(block_len(b'C'), None);
    }

    #[test]
    fn headers_as_lrzsz_sends_them() {
        // sb -k: "name\0size mtime(octal) mode(octal) 0 files-left bytes-left".
        let mut d = [0u8; 128];
        let h = b"hello.ko\x005408 14723346015 100644 0 1 5408";
        d[..h.len()].copy_from_slice(h);
        assert_eq!(parse_header(&d), Some(("hello.ko".into(), Some(5408))));
        assert_eq!(parse_header(&[0u8; 128]), None);
        assert_eq!(parse_header(&[]), None);
        let mut d = [0u8; 128];
        d[..4].copy_from_slice(b"x.ko");
        assert_eq!(parse_header(&d), Some(("x.ko".into(), None)));
    }
}
