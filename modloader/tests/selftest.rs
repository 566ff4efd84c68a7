//! Linux-style self-checking module: `fixtures/all_relocs.s` uses every relocation type and
//! checks the results at run time. We assemble it, link it with modloader, then run it on a
//! real (emulated) CPU in QEMU; the module exits through semihosting with 0 or the number of
//! the first failing check.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use modloader::{reloc, Object, Region};

const BASE: u64 = 0x4020_0000;
const FAR: u64 = 0x5000_0000;

pub fn externals() -> BTreeMap<String, u64> {
    [
        ("ext_abs64", 0x0123_4567_89ab_cdefu64),
        ("ext_abs48", 0x0000_8765_4321_fedc),
        ("ext_abs32", 0x89ab_cdef),
        ("ext_abs16", 0xbeef),
        ("ext_neg16", (-0x1234i64) as u64),
        ("ext_neg32", (-0x1234_5678i64) as u64),
        ("ext_neg48", (-0x1234_5678_9abci64) as u64),
        ("ext_pos48", 0x1234_5678_9abc),
        ("ext_data", 0x4800_0000),
        ("far_func", FAR),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

const CHECK_NAMES: &[&str] = &[
    "ABS64 + LD_PREL_LO19",
    "MOVW_UABS_G3/G2_NC/G1_NC/G0_NC",
    "MOVW_UABS_G0",
    "MOVW_UABS_G1",
    "MOVW_UABS_G2",
    "MOVW_SABS_G0 (MOVN)",
    "MOVW_SABS_G1 (MOVN)",
    "MOVW_SABS_G2 (MOVN)",
    "MOVW_SABS_G2 (MOVN->MOVZ)",
    "MOVW_PREL_G0 forward",
    "MOVW_PREL_G0 backward",
    "MOVW_PREL_G0_NC",
    "MOVW_PREL_G1",
    "MOVW_PREL_G1_NC",
    "MOVW_PREL_G2",
    "MOVW_PREL_G2_NC",
    "MOVW_PREL_G3",
    "ADR_PREL_LO21 forward",
    "ADR_PREL_LO21 backward",
    "ADR_PREL_PG_HI21 + ADD_ABS_LO12_NC",
    "ADR_PREL_PG_HI21_NC",
    "LDST8_ABS_LO12_NC",
    "LDST16_ABS_LO12_NC",
    "LDST32_ABS_LO12_NC",
    "LDST64_ABS_LO12_NC",
    "LDST128_ABS_LO12_NC",
    "TSTBR14",
    "CONDBR19",
    "CALL26 local",
    "JUMP26 local",
    "CALL26 via veneer",
    "JUMP26 via veneer",
    "ABS32",
    "ABS16",
    "PREL64",
    "PREL32",
    "PREL16",
    "ADR_GOT_PAGE + LD64_GOT_LO12_NC",
    "GOT_LD_PREL19",
    "weak undefined = 0",
    "shared GOT slot",
    "ADR_PREL_LO21 to rodata",
];

#[test]
fn self_checking_module_uses_every_type_and_passes_in_qemu() {
    let qemu = common::require("qemu-system-aarch64");
    let dir = common::scratch("selftest");
    let obj_path = dir.join("all_relocs.o");
    common::assemble(&common::fixtures().join("all_relocs.s"), &obj_path);
    let far_o = dir.join("far.o");
    common::assemble(&common::fixtures().join("far_func.s"), &far_o);
    let far_bin = dir.join("far.bin");
    common::run(
        Command::new(common::require("aarch64-linux-gnu-objcopy"))
            .args(["-O", "binary", "--only-section=.text"])
            .arg(&far_o)
            .arg(&far_bin),
    );

    let bytes = std::fs::read(&obj_path).unwrap();
    let obj = Object::parse(&bytes).unwrap();
    // The fixture really uses every supported type (NONE aside).
    for &t in reloc::SUPPORTED {
        if matches!(t, 0 | 256) {
            continue;
        }
        let used = obj
            .relocations()
            .iter()
            .flat_map(|r| &r.relas)
            .any(|r| r.rtype == t);
        assert!(used, "fixture does not use {}", reloc::RelocName(t));
    }
    let layout = obj.plan(4096).unwrap();
    assert_eq!(
        layout.veneer_slots(),
        1,
        "one deduplicated veneer for far_func"
    );
    assert_eq!(layout.got_slots(), 3, "ext_data, ext_abs64, missing_weak");
    let mut image = vec![0u8; layout.size as usize];
    let module = obj.link(&layout, &mut image, BASE, &externals()).unwrap();

    assert_eq!(module.init, module.symbol("init_module"));
    assert!(module.init.is_some() && module.exit.is_some());
    assert_eq!(
        module.init_array,
        vec![module.symbol("local_func").unwrap()]
    );
    assert_eq!(module.exports.len(), 1);
    assert_eq!(module.exports[0].name, "init_module");
    assert_eq!(
        module.modinfo,
        vec![
            ("license".to_string(), "GPL".to_string()),
            (
                "description".to_string(),
                "relocation self-test".to_string()
            )
        ]
    );
    let ven = module.region(Region::Veneers).unwrap();
    let text = module.region(Region::Text).unwrap();
    assert_eq!(ven.addr, text.addr + ((text.size + 3) & !3));
    assert_eq!(module.veneers[0].target, FAR);

    let img_path = dir.join("image.bin");
    std::fs::write(&img_path, &image).unwrap();
    let entry = module.symbol("selftest_start").unwrap();
    let mut child = Command::new(qemu)
        .args([
            "-M",
            "virt",
            "-cpu",
            "cortex-a72",
            "-m",
            "1024",
            "-nodefaults",
        ])
        .args(["-display", "none", "-serial", "null", "-monitor", "none"])
        .arg("-semihosting")
        .arg("-device")
        .arg(format!(
            "loader,file={},addr={BASE:#x},force-raw=on",
            img_path.display()
        ))
        .arg("-device")
        .arg(format!(
            "loader,file={},addr={FAR:#x},force-raw=on",
            far_bin.display()
        ))
        .arg("-device")
        .arg(format!("loader,addr={entry:#x},cpu-num=0"))
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn qemu");
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("QEMU self-test timed out (module hung or crashed)");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let code = status.code().expect("qemu killed by a signal");
    assert!(
        code == 0,
        "self-check {} failed: {}",
        code - 1,
        CHECK_NAMES
            .get((code - 1) as usize)
            .copied()
            .unwrap_or("unknown check")
    );
}
