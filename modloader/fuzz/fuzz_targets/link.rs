//! Arbitrary bytes through parse → plan → link with a dummy resolver. Any panic, out-of-bounds
//! access or runaway allocation is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use modloader::Object;

fuzz_target!(|data: &[u8]| {
    let Ok(obj) = Object::parse(data) else { return };
    let Ok(layout) = obj.plan(4096) else { return };
    // Keep memory bounded for the fuzzer: planned images over 16 MiB are legal but skipped.
    if layout.size > 16 << 20 {
        return;
    }
    let mut image = vec![0u8; layout.size as usize];
    // Resolve some names, leave others undefined; also exercise a far-away base.
    let resolver = |name: &str| (name.len() % 3 != 0).then_some(0xffff_8000_0000_0000u64 + name.len() as u64 * 0x1000);
    for base in [0x4000_0000u64, 0xffff_0000_1000_0000] {
        if let Ok(m) = obj.link(&layout, &mut image, base, &resolver) {
            let _ = m.symbolize(base + 16);
        }
    }
    // A mismatched layout and a wrong-size image must be rejected, not panic.
    let _ = obj.link(&layout, &mut image[..0], 0x4000_0000, &resolver);
});
