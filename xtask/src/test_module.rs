//! `cargo xtask test-module DIR...`: build module folders, boot the kernel under
//! semihosting with `kunit=PLAN`, which loads each module, runs its tests under
//! containment with a deadline, unloads it and exits QEMU with the result. The KTAP goes
//! to stdout; the exit status is 0 only when every test passed.

use crate::{image, root};
use qemu_harness::Qemu;
use std::path::PathBuf;
use std::time::Duration;

/// Runs the tests of the modules in `dirs`; `timeout_ms` is each call's deadline.
pub fn run(dirs: &[PathBuf], timeout_ms: u64) -> Result<bool, String> {
    crate::deps::ensure_qemu()?;
    let kos = image::modules(dirs)?;
    let dir = root().join("target/kunit");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let plan = dir.join(format!("plan-{}", std::process::id()));
    let list: String = kos.iter().map(|p| format!("{}\n", p.display())).collect();
    std::fs::write(&plan, list).map_err(|e| format!("{}: {e}", plan.display()))?;
    let mut q = Qemu::new(crate::boot_image());
    q.append = Some(format!(
        "kunit={} module.timeout={timeout_ms}",
        plan.display()
    ));
    let mut g = q.spawn().map_err(|e| format!("cannot start QEMU: {e}"))?;
    // Each test may use its whole deadline; loading and booting take well under a second.
    let limit = Duration::from_millis(timeout_ms.saturating_mul(64).max(30_000));
    let status = g.wait_exit(limit);
    let _ = std::fs::remove_file(&plan);
    let out = g.output().replace('\r', "");
    let start = out.find("KTAP version 1").unwrap_or(0);
    print!("{}", &out[start..]);
    let doc = qemu_harness::ktap::parse(&out)
        .map_err(|e| format!("the kernel's output is not valid KTAP: {e}"))?;
    let (mut passed, mut failed) = (0, 0);
    for (_, t) in doc.leaves() {
        if t.ok {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    match status {
        Ok(Some(0)) if doc.passed() => {
            println!("# {passed} passed, {failed} failed");
            Ok(true)
        }
        Ok(Some(1)) if !doc.passed() => {
            println!("# {passed} passed, {failed} failed");
            Ok(false)
        }
        Ok(code) => Err(format!(
            "QEMU exited with {code:?}, but the KTAP says {}",
            if doc.passed() { "pass" } else { "fail" }
        )),
        Err(e) => Err(format!("the test run did not finish: {e}")),
    }
}
