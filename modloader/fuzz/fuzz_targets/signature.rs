//! Arbitrary bytes as a signed module and as an embedded key ring: the verifier must
//! answer every input with a result (never a panic), and accept nothing it did not sign.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modloader::signature::{self, KeyRing, MARKER, TRAILER_LEN};

use std::sync::OnceLock;

const SEED: [u8; 32] = [0x42; 32];

fn fixtures() -> &'static (Vec<u8>, Vec<u8>) {
    static F: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    F.get_or_init(|| {
        (
            KeyRing::encode(&[(signature::public_key(&SEED), "fuzz")], 0),
            signature::sign(b"\x7fELF fuzz body", &SEED),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let (ring_bytes, signed) = fixtures();
    let ring = KeyRing::parse(ring_bytes).expect("own ring");
    // The input as a whole file, and as a trailer after a genuinely signed ELF-ish body.
    let _ = ring.verify(data);
    let _ = signature::parse(data);
    let _ = signature::strip(data);
    let signed = signed.as_slice();
    let body = &signed[..signed.len() - TRAILER_LEN];
    let mut forged = body.to_vec();
    forged.extend_from_slice(data);
    if forged != signed {
        assert!(ring.verify(&forged).is_err(), "accepted a forged trailer");
    }
    let mut with_marker = data.to_vec();
    with_marker.extend_from_slice(MARKER);
    assert!(ring.verify(&with_marker).is_err() || with_marker.starts_with(body));
    // The input as a key ring.
    if let Ok(r) = KeyRing::parse(data) {
        let _ = r.verify(signed);
    }
});
