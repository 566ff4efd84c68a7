//! Module signing keys, `cargo xtask keygen` and `cargo xtask sign`, and the key ring the
//! build embeds in the kernel image. The trailer format and the cryptography (Ed25519,
//! `ed25519-dalek`) are in `modloader::signature`, shared with the kernel's verifier.
//!
//! Key files are text. The secret key (keep it private):
//!
//! ```text
//! # Ed25519 module signing key: keep it secret.
//! name: <who or what the key is>
//! secret: <64 hex digits: the 32-byte seed>
//! ```
//!
//! and its public half, `PATH.pub`, which a kernel build can be told to trust:
//!
//! ```text
//! name: <name>
//! public: <64 hex digits>
//! ```
//!
//! Environment: `KMOD_SIGNING_KEY` (the key the build signs with; default
//! `target/keys/signing.key`, created on first use), `KMOD_TRUSTED_KEYS` (more `.pub`
//! files the image trusts, separated by `:`), `KMOD_SIG_FORCE=1` (the image refuses
//! modules that are not signed by a trusted key, whatever its command line says).

use modloader::signature::{self, KeyId, KeyRing, FLAG_ENFORCE};
use std::fs;
use std::path::{Path, PathBuf};

/// A secret signing key.
pub struct SecretKey {
    /// Its name.
    pub name: String,
    /// The 32-byte Ed25519 seed.
    pub seed: [u8; 32],
}

impl SecretKey {
    /// The public key.
    pub fn public(&self) -> [u8; 32] {
        signature::public_key(&self.seed)
    }

    /// The key ID the trailer carries.
    pub fn id(&self) -> KeyId {
        KeyId::of(&self.public())
    }
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn fields(path: &Path) -> Result<Vec<(String, String)>, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect())
}

/// Reads a secret key file.
pub fn read_secret(path: &Path) -> Result<SecretKey, String> {
    let f = fields(path)?;
    let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let seed = get("secret").and_then(hex32).ok_or_else(|| {
        format!(
            "{}: not a signing key (no `secret: <64 hex digits>` line); make one with `cargo xtask keygen PATH`",
            path.display()
        )
    })?;
    Ok(SecretKey {
        name: get("name").unwrap_or("unnamed key").to_string(),
        seed,
    })
}

/// Reads a public key file (`.pub`), or the public half of a secret key file.
pub fn read_public(path: &Path) -> Result<([u8; 32], String), String> {
    let f = fields(path)?;
    let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let name = get("name").unwrap_or("unnamed key").to_string();
    if let Some(p) = get("public").and_then(hex32) {
        return Ok((p, name));
    }
    if let Some(s) = get("secret").and_then(hex32) {
        return Ok((signature::public_key(&s), name));
    }
    Err(format!(
        "{}: not a key file (no `public:` or `secret:` line of 64 hex digits)",
        path.display()
    ))
}

/// The `.pub` path beside a secret key file.
pub fn pub_path(secret: &Path) -> PathBuf {
    let mut s = secret.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// Makes a new key at `path` (and `path.pub`). Refuses to overwrite.
pub fn keygen(path: &Path, name: Option<&str>) -> Result<SecretKey, String> {
    if path.exists() {
        return Err(format!(
            "{} exists; not overwriting a key (remove it first)",
            path.display()
        ));
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("no randomness for a key: {e}"))?;
    let name = name
        .map(str::to_string)
        .or_else(|| {
            path.file_stem()
                .and_then(|s| s.to_str())
                .map(|s| format!("{s} (cargo xtask keygen)"))
        })
        .unwrap_or_else(|| "module signing key".into());
    if name.contains('\n') {
        return Err("a key name is one line".into());
    }
    let key = SecretKey { name, seed };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    }
    let secret = format!(
        "# Ed25519 module signing key: keep it secret. Its public half is {}.\nname: {}\nsecret: {}\n",
        pub_path(path).display(),
        key.name,
        to_hex(&key.seed)
    );
    write_private(path, secret.as_bytes())?;
    let public = format!(
        "# Ed25519 module signing public key (key ID {}).\nname: {}\npublic: {}\n",
        key.id(),
        key.name,
        to_hex(&key.public())
    );
    fs::write(pub_path(path), public).map_err(|e| format!("{}: {e}", pub_path(path).display()))?;
    Ok(key)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(bytes)
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// The key the build signs with: `$KMOD_SIGNING_KEY`, or `target/keys/signing.key`
/// (created on first use).
pub fn build_key_path() -> PathBuf {
    match std::env::var_os("KMOD_SIGNING_KEY") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => crate::root().join("target/keys/signing.key"),
    }
}

/// Loads the build's signing key, making the development key on first use.
pub fn build_key() -> Result<SecretKey, String> {
    let path = build_key_path();
    if !path.exists() {
        if std::env::var_os("KMOD_SIGNING_KEY").is_some() {
            return Err(format!(
                "KMOD_SIGNING_KEY={} does not exist; make it with `cargo xtask keygen {}`",
                path.display(),
                path.display()
            ));
        }
        let key = keygen(&path, Some("development key (cargo xtask build)"))?;
        println!(
            "    signing: made a development key {} (key ID {})",
            path.display(),
            key.id()
        );
        return Ok(key);
    }
    read_secret(&path)
}

/// The key ring to embed: the build key's public half, then `$KMOD_TRUSTED_KEYS`.
pub fn ring(build: &SecretKey) -> Result<Vec<u8>, String> {
    let mut keys: Vec<([u8; 32], String)> = vec![(build.public(), build.name.clone())];
    if let Some(list) = std::env::var_os("KMOD_TRUSTED_KEYS") {
        for p in std::env::split_paths(&list).filter(|p| !p.as_os_str().is_empty()) {
            let k = read_public(&p).map_err(|e| format!("KMOD_TRUSTED_KEYS: {e}"))?;
            if !keys.iter().any(|(q, _)| *q == k.0) {
                keys.push(k);
            }
        }
    }
    let force = std::env::var("KMOD_SIG_FORCE").is_ok_and(|v| v == "1" || v == "y");
    let refs: Vec<([u8; 32], &str)> = keys.iter().map(|(p, n)| (*p, n.as_str())).collect();
    Ok(KeyRing::encode(&refs, if force { FLAG_ENFORCE } else { 0 }))
}

/// Writes the key ring into the reserved `.modkeys` section of `elf`, in place.
pub fn embed_ring(elf: &Path, ring: &[u8]) -> Result<usize, String> {
    use object::{Object, ObjectSection};
    let mut data = fs::read(elf).map_err(|e| format!("{}: {e}", elf.display()))?;
    let (off, size) = {
        let file = object::File::parse(&*data).map_err(|e| format!("{}: {e}", elf.display()))?;
        let sec = file
            .section_by_name(".modkeys")
            .ok_or("kernel image has no .modkeys section")?;
        let (off, size) = sec.file_range().ok_or(".modkeys has no file bytes")?;
        (off as usize, size as usize)
    };
    if ring.len() > size {
        return Err(format!(
            "the key ring needs {} bytes but .modkeys reserves {size}; raise RESERVED in kernel/src/signing.rs",
            ring.len()
        ));
    }
    data[off..off + ring.len()].copy_from_slice(ring);
    data[off + ring.len()..off + size].fill(0);
    fs::write(elf, data).map_err(|e| format!("{}: {e}", elf.display()))?;
    Ok(KeyRing::parse(ring).map(|r| r.keys.len()).unwrap_or(0))
}

/// Signs `bytes` (a module's ELF, or an already signed module, whose trailer is replaced).
pub fn sign_bytes(bytes: &[u8], key: &SecretKey) -> Result<Vec<u8>, String> {
    let elf = signature::strip(bytes);
    modloader::Object::parse(elf).map_err(|e| format!("not a module: {e}"))?;
    Ok(signature::sign(elf, &key.seed))
}

/// `cargo xtask sign [--key PATH] [--out OUT] FILE`.
pub fn cmd_sign(key: Option<&Path>, out: Option<&Path>, file: &Path) -> Result<(), String> {
    let key = match key {
        Some(k) => read_secret(k)?,
        None => build_key()?,
    };
    let bytes = fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let signed = sign_bytes(&bytes, &key).map_err(|e| format!("{}: {e}", file.display()))?;
    let out = out.unwrap_or(file);
    let tmp = out.with_extension("ko.signing");
    fs::write(&tmp, &signed).map_err(|e| format!("{}: {e}", tmp.display()))?;
    fs::rename(&tmp, out).map_err(|e| format!("{}: {e}", out.display()))?;
    println!(
        "signed {} with key {} ({}): {} bytes",
        out.display(),
        key.id(),
        key.name,
        signed.len()
    );
    Ok(())
}

/// `cargo xtask keygen PATH`.
pub fn cmd_keygen(path: &Path, name: Option<&str>) -> Result<(), String> {
    let key = keygen(path, name)?;
    println!(
        "made {} and {} (key ID {}, name \"{}\")",
        path.display(),
        pub_path(path).display(),
        key.id(),
        key.name
    );
    println!(
        "Trust it in a kernel build with KMOD_TRUSTED_KEYS={}; sign with it: cargo xtask sign --key {} FILE",
        pub_path(path).display(),
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keygen_files_round_trip() {
        let dir = std::env::temp_dir().join(format!("kmod-keygen-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let p = dir.join("k.key");
        let k = keygen(&p, Some("test")).unwrap();
        assert!(keygen(&p, None).is_err(), "overwrote a key");
        let r = read_secret(&p).unwrap();
        assert_eq!(r.seed, k.seed);
        assert_eq!(r.name, "test");
        let (public, name) = read_public(&pub_path(&p)).unwrap();
        assert_eq!(public, k.public());
        assert_eq!(name, "test");
        assert!(read_secret(&pub_path(&p)).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = fs::remove_dir_all(&dir);
    }
}
