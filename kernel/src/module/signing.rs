//! Module signature checking (Linux's `kernel/module/signing.c`): the key ring embedded in
//! the image, the enforcement policy, and the check every module source goes through
//! before its bytes are parsed.
//!
//! The linker script reserves `.modkeys`; `cargo xtask build` fills it after linking with
//! the trusted public keys and the build's default policy (format in
//! [`modloader::signature`]). `module.sig_enforce=1` on the command line turns
//! enforcement on; nothing turns a build-time `KMOD_SIG_FORCE=1` off.

use core::sync::atomic::{AtomicBool, Ordering};
use modloader::signature::{KeyId, KeyRing, SigError};

extern "C" {
    static __modkeys_start: u8;
    static __modkeys_end: u8;
}

/// Space reserved for the key ring.
pub const RESERVED: usize = 4096;

#[link_section = ".modkeys"]
#[used]
static RESERVE: [u8; RESERVED] = [0; RESERVED];

fn ring_bytes() -> &'static [u8] {
    // SAFETY: the linker script brackets the reserved, read-only `.modkeys` section.
    unsafe {
        let s = core::ptr::addr_of!(__modkeys_start);
        let e = core::ptr::addr_of!(__modkeys_end);
        core::slice::from_raw_parts(s, e as usize - s as usize)
    }
}

/// The trusted keys (empty when the build gave the image none).
pub fn ring() -> KeyRing<'static> {
    KeyRing::parse(ring_bytes()).unwrap_or_default()
}

static ENFORCE_CMDLINE: AtomicBool = AtomicBool::new(false);
/// Set once a module that is not signed by a trusted key has been loaded (taint `E`).
pub static TAINT_UNSIGNED: AtomicBool = AtomicBool::new(false);

/// Reads `module.sig_enforce=` from the kernel command line.
pub fn init(bootargs: &str) {
    for a in bootargs.split_whitespace() {
        if let Some(v) = a.strip_prefix("module.sig_enforce=") {
            let on = matches!(v, "1" | "y" | "Y" | "true");
            ENFORCE_CMDLINE.store(on, Ordering::Relaxed);
        }
    }
}

/// What makes the kernel refuse modules that are not signed by a trusted key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enforcement {
    /// The image was built with `KMOD_SIG_FORCE=1`.
    Build,
    /// `module.sig_enforce=1` on the command line.
    CommandLine,
}

/// Whether (and why) modules must be signed by a trusted key.
pub fn enforced() -> Option<Enforcement> {
    if ring().enforce_by_default() {
        Some(Enforcement::Build)
    } else if ENFORCE_CMDLINE.load(Ordering::Relaxed) {
        Some(Enforcement::CommandLine)
    } else {
        None
    }
}

/// What the check found out about a module that may load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Signed by a trusted key.
    Signed {
        /// The key's ID.
        key: KeyId,
        /// The key's name.
        signer: alloc::string::String,
    },
    /// Not verified, allowed because enforcement is off: the module taints the kernel.
    Unverified(SigError),
}

/// Why a module was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    /// What was wrong.
    pub why: SigError,
    /// The enforcement in force, if any (a damaged signature is refused without it).
    pub enforced: Option<Enforcement>,
}

impl core::fmt::Display for Refused {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "module verification failed: {}", self.why)?;
        match self.enforced {
            Some(Enforcement::CommandLine) => f.write_str(" (module.sig_enforce=1)")?,
            Some(Enforcement::Build) => f.write_str(" (kernel built with KMOD_SIG_FORCE=1)")?,
            None => {}
        }
        Ok(())
    }
}

/// Checks the signature of a module file. On success returns the module's ELF bytes (the
/// file without its trailer) and the verdict.
pub fn check(file: &[u8]) -> Result<(&[u8], Verdict), Refused> {
    let ring = ring();
    match ring.verify(file) {
        Ok((elf, key)) => Ok((
            elf,
            Verdict::Signed {
                key: key.id,
                signer: key.name.into(),
            },
        )),
        Err(why) => {
            let enforced = enforced();
            if enforced.is_some() || !why.permissible() {
                return Err(Refused { why, enforced });
            }
            // Permissive: load the ELF part (a trailer signed by an unknown key is still
            // stripped, so the ELF is what the parser sees).
            let elf = modloader::signature::parse(file)
                .map(|t| t.message)
                .unwrap_or(file);
            Ok((elf, Verdict::Unverified(why)))
        }
    }
}

/// Prints the trusted keys and the enforcement policy (`kexports` shows it).
pub fn print_policy() {
    let ring = ring();
    crate::println!(
        "module signing: {}; {} trusted key(s)",
        match enforced() {
            Some(Enforcement::Build) => "enforced (kernel built with KMOD_SIG_FORCE=1)",
            Some(Enforcement::CommandLine) => "enforced (module.sig_enforce=1)",
            None => "permissive (unsigned modules load and taint the kernel E)",
        },
        ring.keys.len()
    );
    for k in &ring.keys {
        crate::println!("  key {}  {}", k.id, k.name);
    }
}
