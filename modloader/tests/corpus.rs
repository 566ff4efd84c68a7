//! Regression corpus of malformed objects (`tests/corpus/`): hand-made corruptions from
//! `fixtures/gen_corpus.py` plus crashers found by `cargo fuzz`. Each must make
//! parse → plan → link return an error (never panic), and leave the image untouched.
//! Also: every truncation and a byte-flip sweep of a real object must not panic.

mod common;

use modloader::{Error, Object};

fn resolver(name: &str) -> Option<u64> {
    (name == "printk").then_some(0x4000_0000)
}

fn pipeline(bytes: &[u8], res: &dyn modloader::Resolver) -> Result<(), Error> {
    let obj = Object::parse(bytes)?;
    let layout = obj.plan(4096)?;
    if layout.size > 64 << 20 {
        return Err(Error::TooLarge {
            what: "test image",
            size: layout.size,
        });
    }
    let mut image = vec![0xa5u8; layout.size as usize];
    let r = obj.link(&layout, &mut image, 0x4010_0000, res).map(|_| ());
    if r.is_err() {
        assert!(
            image.iter().all(|&b| b == 0xa5),
            "image was modified although link failed"
        );
    }
    r
}

#[test]
fn corpus_files_are_rejected() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut n = 0;
    let mut report = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        let bytes = std::fs::read(&p).unwrap();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let res: &dyn modloader::Resolver = if name.starts_with("unknown-") {
            &modloader::NoSymbols
        } else {
            &resolver
        };
        match pipeline(&bytes, res) {
            Ok(()) => panic!("{name}: accepted, expected an error"),
            Err(e) => report.push(format!("{name}: {e}")),
        }
        n += 1;
    }
    assert!(n >= 50, "corpus has only {n} files");
    eprintln!("{}", report.join("\n"));
}

#[test]
fn corpus_base_object_links() {
    let dir = common::scratch("corpus-base");
    let o = dir.join("base.o");
    common::assemble(&common::fixtures().join("corpus_base.s"), &o);
    let bytes = std::fs::read(&o).unwrap();
    pipeline(&bytes, &resolver).expect("the uncorrupted base object links");
    let e = pipeline(&bytes, &modloader::NoSymbols).unwrap_err();
    assert_eq!(e.to_string(), "Unknown symbol printk");
}

#[test]
fn truncations_and_byte_flips_never_panic() {
    let dir = common::scratch("mutate");
    let o = dir.join("all.o");
    common::assemble(&common::fixtures().join("all_relocs.s"), &o);
    let bytes = std::fs::read(&o).unwrap();
    let res = |_: &str| Some(0x4800_0000u64);
    for len in 0..bytes.len() {
        let _ = pipeline(&bytes[..len], &res);
    }
    let mut m = bytes.clone();
    for i in 0..m.len() {
        for x in [0xffu8, 0x80, 0x01] {
            m[i] ^= x;
            let _ = pipeline(&m, &res);
            m[i] ^= x;
        }
    }
}
