//! Signed modules in the running kernel, in enforce mode (`module.sig_enforce=1`) unless
//! stated: signed modules load, and every damaged, truncated, foreign-key or unsigned
//! module is refused with the reason, leaving the heap exactly as it was. In permissive
//! mode an unsigned module loads and taints the kernel `E`.

use e2e::{boot, boot_enforcing, cmd, heap_in_use, xtask};
use modloader::signature::{self, TRAILER_LEN};
use object::{Object, ObjectSection};
use qemu_harness::workspace_root;
use std::path::{Path, PathBuf};

fn ko(name: &str) -> PathBuf {
    workspace_root()
        .join("target/modules")
        .join(format!("{name}.ko"))
}

fn scratch(test: &str) -> PathBuf {
    let d = workspace_root().join(format!("target/e2e-signing/{test}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A fixture C module built by hand, as a user outside the tree would (not signed).
fn hand_built(dir: &Path) -> PathBuf {
    let src = write(
        dir,
        "handmade.c",
        b"#include \"kmod.h\"\nMODULE_NAME(\"handmade\");\nMODULE_LICENSE(\"MIT\");\n\
          int init_module(void) { kprintf(\"handmade: up\\n\"); return 0; }\n",
    );
    let bytes = std::fs::read(ko("hello_c")).unwrap();
    let abi = {
        let key = b"abi=";
        let p = bytes.windows(4).position(|w| w == key).unwrap() + 4;
        let end = bytes[p..].iter().position(|&b| b == 0).unwrap();
        String::from_utf8_lossy(&bytes[p..p + end]).into_owned()
    };
    e2e::compile_c_module(&src, &dir.join("handmade.ko"), &abi)
}

#[test]
fn signed_modules_load_from_the_image_and_the_host_when_enforcing() {
    let mut g = boot_enforcing();
    let ex = cmd(&mut g, "kexports");
    assert!(
        ex.contains("module signing: enforced (module.sig_enforce=1); 1 trusted key(s)"),
        "{ex}"
    );
    let out = cmd(&mut g, "insmod hello_c");
    assert!(out.contains("hello_c: loaded at"), "{out}");
    assert!(!out.contains("verification failed"), "{out}");
    let info = cmd(&mut g, "modinfo hello_c");
    // The key ID modinfo names is the one in the file's trailer.
    let file = std::fs::read(ko("hello_c")).unwrap();
    let t = signature::parse(&file).expect("built modules are signed");
    assert!(
        info.contains(&format!("sig_id: ed25519  sig_key: {}", t.key_id)),
        "{info}"
    );
    assert!(ex.contains(&format!("  key {}  ", t.key_id)), "{ex}");
    let out = cmd(
        &mut g,
        &format!("insmod host:{} greeting=hi", ko("hello").display()),
    );
    assert!(out.contains("hello: hi (1/1)"), "{out}");
    let ls = cmd(&mut g, "lsmod");
    assert!(
        ls.contains("hello_c                 8192         0  0 (O)"),
        "{ls}"
    );
    assert!(!ls.contains("E)"), "{ls}");
    cmd(&mut g, "rmmod hello");
    cmd(&mut g, "rmmod hello_c");
}

/// One flipped byte anywhere (ELF header, every section, the section headers, every byte
/// of the trailer), a truncated file, a foreign key and an unsigned file are all refused
/// with the reason, and the heap ends exactly where it started.
#[test]
fn damaged_truncated_foreign_and_unsigned_modules_are_refused_when_enforcing() {
    let dir = scratch("refused");
    let good = std::fs::read(ko("hello_c")).unwrap();
    let elf_len = good.len() - TRAILER_LEN;
    let mut cases: Vec<(String, Vec<u8>, &str)> = Vec::new();
    let flip = |at: usize| {
        let mut m = good.clone();
        m[at] ^= 0x20;
        m
    };
    cases.push(("ELF header".into(), flip(0x12), "bad signature"));
    {
        let file = object::File::parse(&good[..elf_len]).unwrap();
        for s in file.sections() {
            if let Some((off, size)) = s.file_range() {
                if size > 0 {
                    let name = s.name().unwrap_or("?").to_string();
                    cases.push((
                        format!("section {name}"),
                        flip((off + size / 2) as usize),
                        "bad signature",
                    ));
                }
            }
        }
    }
    let shoff = u64::from_le_bytes(good[0x28..0x30].try_into().unwrap()) as usize;
    cases.push((
        "section headers".into(),
        flip(shoff + 0x50),
        "bad signature",
    ));
    for i in 0..TRAILER_LEN {
        let at = elf_len + i;
        let want = match i {
            0..=7 => "signed with unknown key",
            8..=71 => "bad signature",
            72..=83 => "malformed signature trailer",
            _ => "no signature",
        };
        cases.push((format!("trailer byte {i}"), flip(at), want));
    }
    for cut in [
        1,
        20,
        28,
        60,
        TRAILER_LEN,
        TRAILER_LEN + 100,
        good.len() / 2,
    ] {
        let want = match cut {
            1 | 20 => "the file ends inside the signature trailer",
            _ => "no signature",
        };
        cases.push((
            format!("cut {cut} bytes"),
            good[..good.len() - cut].to_vec(),
            want,
        ));
    }
    let mut appended = good.clone();
    appended.extend_from_slice(b"tail");
    cases.push((
        "bytes after the trailer".into(),
        appended,
        "4 bytes after the signature marker",
    ));
    let foreign = signature::sign(&good[..elf_len], &[0x5a; 32]);
    cases.push(("another key".into(), foreign, "signed with unknown key"));
    cases.push((
        "unsigned (stripped)".into(),
        good[..elf_len].to_vec(),
        "no signature",
    ));
    let handmade = std::fs::read(hand_built(&dir)).unwrap();
    cases.push(("unsigned, hand-built".into(), handmade, "no signature"));

    let mut g = boot_enforcing();
    let base = heap_in_use(&mut g);
    for (i, (what, bytes, want)) in cases.iter().enumerate() {
        let p = write(&dir, &format!("case{i}.ko"), bytes);
        let out = cmd(&mut g, &format!("insmod host:{}", p.display()));
        assert!(
            out.contains("module refused: module verification failed: ")
                && out.contains(want)
                && out.contains("(module.sig_enforce=1)"),
            "{what}: want {want:?}, got:\n{out}"
        );
        assert!(!out.contains("loaded at"), "{what}: {out}");
        assert_eq!(cmd(&mut g, "lsmod").lines().count(), 1, "{what}");
    }
    assert_eq!(
        heap_in_use(&mut g),
        base,
        "heap after {} refusals",
        cases.len()
    );
    assert!(cmd(&mut g, "echo alive").contains("alive"));
    // The good file still loads in the same boot.
    let p = write(&dir, "good.ko", &good);
    let out = cmd(&mut g, &format!("insmod host:{}", p.display()));
    assert!(out.contains("hello_c: loaded at"), "{out}");
}

/// Without enforcement an unsigned or foreign-key module loads, says so, and taints the
/// kernel `E` (lsmod, `Modules linked in:`, the oops taint line); a damaged signature is
/// refused even then, as Linux does.
#[test]
fn permissive_mode_loads_unsigned_modules_tainted() {
    let dir = scratch("permissive");
    let handmade = hand_built(&dir);
    let mut g = boot();
    let out = cmd(&mut g, &format!("insmod host:{}", handmade.display()));
    assert!(
        out.contains("handmade: module verification failed: no signature - tainting kernel"),
        "{out}"
    );
    assert!(
        out.contains("handmade: up") && out.contains("loaded at"),
        "{out}"
    );
    let ls = cmd(&mut g, "lsmod");
    assert!(
        ls.lines()
            .any(|l| l.starts_with("handmade") && l.ends_with("(OE)")),
        "{ls}"
    );
    assert!(cmd(&mut g, "modinfo handmade").contains("sig_id: none"));

    let good = std::fs::read(ko("hello_c")).unwrap();
    let mut bad = good.clone();
    bad[100] ^= 1;
    let p = write(&dir, "bad.ko", &bad);
    let out = cmd(&mut g, &format!("insmod host:{}", p.display()));
    assert!(
        out.contains("module refused: module verification failed: bad signature"),
        "{out}"
    );
    assert!(!out.contains("sig_enforce"), "{out}");

    // The taint reaches the oops.
    let out = cmd(&mut g, "insmod faulty");
    assert!(out.contains("faulty: loaded"), "{out}");
    g.send(b"faulty\r").unwrap();
    let r = g
        .expect("module marked as faulted", e2e::T)
        .unwrap()
        .replace('\r', "");
    let taint = format!("Tainted: G{}OE", " ".repeat(11));
    assert!(r.contains(&taint), "want {taint:?}: {r}");
    assert!(
        r.contains("Modules linked in: handmade(OE) faulty(O)"),
        "{r}"
    );
}

/// `cargo xtask sign` on a module built elsewhere makes it loadable in enforce mode;
/// `cargo xtask keygen` makes a key the kernel does not trust.
#[test]
fn xtask_sign_and_keygen_as_a_user_runs_them() {
    let dir = scratch("xtask");
    let handmade = hand_built(&dir);
    let signed = dir.join("handmade-signed.ko");
    let out = xtask(&[
        "sign",
        "--out",
        signed.to_str().unwrap(),
        handmade.to_str().unwrap(),
    ]);
    assert!(out.contains("signed "), "{out}");
    let key = dir.join("mine.key");
    let out = xtask(&["keygen", key.to_str().unwrap(), "--name", "e2e key"]);
    assert!(out.contains("key ID"), "{out}");
    let foreign = dir.join("handmade-foreign.ko");
    xtask(&[
        "sign",
        "--key",
        key.to_str().unwrap(),
        "--out",
        foreign.to_str().unwrap(),
        handmade.to_str().unwrap(),
    ]);

    let mut g = boot_enforcing();
    let base = heap_in_use(&mut g);
    let out = cmd(&mut g, &format!("insmod host:{}", handmade.display()));
    assert!(out.contains("no signature (module.sig_enforce=1)"), "{out}");
    let out = cmd(&mut g, &format!("insmod host:{}", foreign.display()));
    assert!(out.contains("signed with unknown key"), "{out}");
    assert_eq!(heap_in_use(&mut g), base);
    let out = cmd(&mut g, &format!("insmod host:{}", signed.display()));
    assert!(out.contains("handmade: up"), "{out}");
    assert!(cmd(&mut g, "modinfo handmade").contains("signer: development key"));
}

/// An image built with `KMOD_SIG_FORCE=1` refuses unsigned modules with no command line:
/// the same image with the enforce flag of its embedded key ring set, as the build sets it.
#[test]
fn a_forced_build_refuses_unsigned_modules_without_a_command_line() {
    let dir = scratch("forced");
    let mut image = std::fs::read(qemu_harness::kernel_elf()).unwrap();
    let (off, size) = {
        let f = object::File::parse(&*image).unwrap();
        let s = f.section_by_name(".modkeys").expect(".modkeys");
        s.file_range().unwrap()
    };
    let ring = &mut image[off as usize..(off + size) as usize];
    assert_eq!(
        &ring[..8],
        signature::RING_MAGIC,
        "the build embeds a key ring"
    );
    ring[8..12].copy_from_slice(&signature::FLAG_ENFORCE.to_le_bytes());
    let forced = write(&dir, "kernel-forced.elf", &image);
    let handmade = hand_built(&dir);

    let mut g = e2e::boot_with(qemu_harness::Qemu::new(forced));
    let out = cmd(&mut g, &format!("insmod host:{}", handmade.display()));
    assert!(out.contains("module refused: module verification failed: no signature (kernel built with KMOD_SIG_FORCE=1)"), "{out}");
    let out = cmd(&mut g, "insmod hello_c");
    assert!(out.contains("hello_c: loaded at"), "{out}");
}
