//! Typed QEMU invocations for the `virt` board, and an expect-style harness.
//!
//! Every [`Guest`] kills its QEMU process when dropped, including when a test panics, and
//! QEMU is started with `PR_SET_PDEATHSIG` so it also dies if the harness process itself is
//! killed. On a two-core machine a leftover guest halves every measurement.

pub mod ktap;
pub mod socket;

pub use socket::SocketGuest;

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// GIC version of the `virt` machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicVersion {
    /// GICv2 (QEMU's default).
    V2,
    /// GICv3.
    V3,
}

/// Where the guest's serial port goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Serial {
    /// The terminal, multiplexed with the QEMU monitor (`Ctrl-A X` quits).
    Terminal,
    /// The child's stdin/stdout pipes (for the harness).
    Pipes,
    /// A listening unix socket that QEMU waits on until a client connects.
    UnixSocket(PathBuf),
}

/// A QEMU `virt` command line.
#[derive(Clone, Debug)]
pub struct Qemu {
    /// Kernel ELF passed with `-kernel`.
    pub kernel: PathBuf,
    /// `-cpu`.
    pub cpu: String,
    /// `-m`, e.g. `256M`.
    pub memory: String,
    /// `gic-version=`.
    pub gic: GicVersion,
    /// `virtualization=on`: boot at EL2.
    pub el2: bool,
    /// `-semihosting`.
    pub semihosting: bool,
    /// `-append`.
    pub append: Option<String>,
    /// Serial routing.
    pub serial: Serial,
    /// Start a gdb server on this TCP port (`-gdb tcp::PORT`).
    pub gdb: Option<u16>,
    /// With `gdb`: halt at the first instruction until the debugger continues (`-S`).
    pub gdb_wait: bool,
    /// Use `-bios` instead of `-kernel` (U-Boot baseline).
    pub bios: bool,
    /// Further arguments, appended as given (e.g. `-icount shift=0`).
    pub extra: Vec<String>,
}

impl Qemu {
    /// The defaults the README documents: cortex-a72, 256M, GICv2, EL1, semihosting.
    pub fn new(kernel: impl Into<PathBuf>) -> Qemu {
        Qemu {
            kernel: kernel.into(),
            cpu: "cortex-a72".into(),
            memory: "256M".into(),
            gic: GicVersion::V2,
            el2: false,
            semihosting: true,
            append: None,
            serial: Serial::Pipes,
            gdb: None,
            gdb_wait: true,
            bios: false,
            extra: Vec::new(),
        }
    }

    /// The arguments after the program name.
    pub fn args(&self) -> Vec<String> {
        let mut machine = String::from("virt");
        if self.gic == GicVersion::V3 {
            machine.push_str(",gic-version=3");
        }
        if self.el2 {
            machine.push_str(",virtualization=on");
        }
        let mut a: Vec<String> = vec![
            "-M".into(),
            machine,
            "-cpu".into(),
            self.cpu.clone(),
            "-m".into(),
            self.memory.clone(),
        ];
        a.extend(["-nic", "none", "-display", "none"].map(String::from));
        match &self.serial {
            Serial::Terminal => a.extend(["-serial", "mon:stdio"].map(String::from)),
            Serial::Pipes => a.extend(["-monitor", "none", "-serial", "stdio"].map(String::from)),
            Serial::UnixSocket(p) => {
                a.extend(["-monitor", "none", "-serial"].map(String::from));
                a.push(format!("unix:{},server=on,wait=on", p.display()));
            }
        }
        if self.semihosting {
            a.push("-semihosting".into());
        }
        a.push(if self.bios {
            "-bios".into()
        } else {
            "-kernel".into()
        });
        a.push(self.kernel.display().to_string());
        if let Some(app) = &self.append {
            a.push("-append".into());
            a.push(app.clone());
        }
        if let Some(port) = self.gdb {
            a.push("-gdb".into());
            a.push(format!("tcp::{port}"));
            if self.gdb_wait {
                a.push("-S".into());
            }
        }
        a.extend(self.extra.iter().cloned());
        a
    }

    /// A `Command` for this invocation, set to die with its parent.
    pub fn command(&self) -> Command {
        let mut c = Command::new("qemu-system-aarch64");
        c.args(self.args());
        die_with_parent(&mut c);
        c
    }

    /// Starts the guest with its serial port on pipes.
    pub fn spawn(&self) -> std::io::Result<Guest> {
        let mut q = self.clone();
        q.serial = Serial::Pipes;
        let mut cmd = q.command();
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let out = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        for mut pipe in [
            stdout.map(|s| Box::new(s) as Box<dyn Read + Send>),
            stderr.map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let out = Arc::clone(&out);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match pipe.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let (lock, cv) = &*out;
                            if let Ok(mut v) = lock.lock() {
                                v.extend_from_slice(&buf[..n]);
                            }
                            cv.notify_all();
                        }
                    }
                }
                let (_, cv) = &*out;
                cv.notify_all();
            });
        }
        Ok(Guest {
            child,
            out,
            cursor: 0,
            started: Instant::now(),
        })
    }
}

/// Makes `cmd`'s process receive SIGKILL when the spawning thread's process dies.
pub fn die_with_parent(cmd: &mut Command) {
    // SAFETY: `pre_exec` runs in the forked child before exec; `prctl(PR_SET_PDEATHSIG)` is
    // async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// Errors from the harness.
#[derive(Debug)]
pub enum Error {
    /// The pattern did not appear in time; carries the output seen since the cursor.
    Timeout { pattern: String, seen: String },
    /// QEMU exited before the pattern appeared.
    Exited {
        pattern: String,
        seen: String,
        status: Option<i32>,
    },
    /// An I/O error talking to QEMU.
    Io(std::io::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Timeout { pattern, seen } => write!(
                f,
                "timed out waiting for {pattern:?}; guest output:\n{seen}"
            ),
            Error::Exited {
                pattern,
                seen,
                status,
            } => {
                write!(
                    f,
                    "QEMU exited ({status:?}) before {pattern:?}; guest output:\n{seen}"
                )
            }
            Error::Io(e) => write!(f, "I/O error: {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// A running guest. Dropping it kills QEMU.
pub struct Guest {
    child: Child,
    out: Arc<(Mutex<Vec<u8>>, Condvar)>,
    cursor: usize,
    started: Instant,
}

impl Guest {
    /// Everything the guest printed so far.
    pub fn output(&self) -> String {
        let (lock, _) = &*self.out;
        String::from_utf8_lossy(&lock.lock().map(|v| v.clone()).unwrap_or_default()).into_owned()
    }

    /// Output since the cursor.
    pub fn pending(&self) -> String {
        let all = self.output_bytes();
        String::from_utf8_lossy(all.get(self.cursor..).unwrap_or(&[])).into_owned()
    }

    fn output_bytes(&self) -> Vec<u8> {
        let (lock, _) = &*self.out;
        lock.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Time since QEMU was started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Waits until `pattern` appears after the cursor; moves the cursor past it and returns
    /// the text before it.
    pub fn expect(&mut self, pattern: &str, timeout: Duration) -> Result<String, Error> {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.out;
        let mut v = lock
            .lock()
            .map_err(|_| Error::Io(std::io::Error::other("poisoned")))?;
        loop {
            if let Some(pos) = find(v.get(self.cursor..).unwrap_or(&[]), pattern.as_bytes()) {
                let before =
                    String::from_utf8_lossy(&v[self.cursor..self.cursor + pos]).into_owned();
                self.cursor += pos + pattern.len();
                return Ok(before);
            }
            let now = Instant::now();
            let seen = || String::from_utf8_lossy(v.get(self.cursor..).unwrap_or(&[])).into_owned();
            if now >= deadline {
                return Err(Error::Timeout {
                    pattern: pattern.into(),
                    seen: seen(),
                });
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Give the reader threads a moment to deliver the last bytes.
                let (v2, _) = cv
                    .wait_timeout(v, Duration::from_millis(100))
                    .map_err(|_| Error::Io(std::io::Error::other("poisoned")))?;
                v = v2;
                if find(v.get(self.cursor..).unwrap_or(&[]), pattern.as_bytes()).is_some() {
                    continue;
                }
                let seen =
                    String::from_utf8_lossy(v.get(self.cursor..).unwrap_or(&[])).into_owned();
                return Err(Error::Exited {
                    pattern: pattern.into(),
                    seen,
                    status: status.code(),
                });
            }
            let wait = (deadline - now).min(Duration::from_millis(50));
            let (v2, _) = cv
                .wait_timeout(v, wait)
                .map_err(|_| Error::Io(std::io::Error::other("poisoned")))?;
            v = v2;
        }
    }

    /// Sends raw bytes to the guest's serial port.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let stdin = self
            .child
            .stdin
            .as_mut()
            .ok_or_else(|| Error::Io(std::io::Error::other("no stdin")))?;
        stdin.write_all(bytes).map_err(Error::Io)?;
        stdin.flush().map_err(Error::Io)
    }

    /// Types a command line slowly enough for a human-speed terminal and waits for the echo.
    pub fn run(&mut self, line: &str, timeout: Duration) -> Result<String, Error> {
        self.send(line.as_bytes())?;
        self.send(b"\r")?;
        // The echo ends "\r\n"; its "\n" may be the one before the next prompt when the
        // command prints nothing.
        self.expect(&format!("{line}\r"), timeout)?;
        self.expect("\n> ", timeout).map(|s| {
            let s = s.replace('\r', "");
            s.strip_prefix('\n').map(str::to_string).unwrap_or(s)
        })
    }

    /// Waits for QEMU to exit and returns its status code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<Option<i32>, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().map_err(Error::Io)? {
                return Ok(s.code());
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    pattern: "<exit>".into(),
                    seen: self.pending(),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The workspace root (parent of this crate's `tools/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The kernel ELF with its symbols and DWARF: `$KERNEL_ELF` or `target/kernel.elf` (what
/// tests read symbols and lines from).
pub fn kernel_elf() -> PathBuf {
    std::env::var_os("KERNEL_ELF")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/kernel.elf"))
}

/// The image QEMU boots: the `.img` beside [`kernel_elf`] (the same loadable bytes without
/// the ELF symbol table, which QEMU would otherwise spend about 10 ms loading), or the ELF
/// itself when there is none.
pub fn boot_image() -> PathBuf {
    let elf = kernel_elf();
    let img = elf.with_extension("img");
    if img.exists() {
        img
    } else {
        elf
    }
}

/// Lists other running `qemu-system-*` processes (benchmarks refuse to run beside them).
pub fn other_qemus() -> Vec<(u32, String)> {
    let mut found = Vec::new();
    let me = std::process::id();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if pid == me {
                continue;
            }
            if let Ok(comm) = std::fs::read_to_string(e.path().join("comm")) {
                if comm.starts_with("qemu-system") {
                    found.push((pid, comm.trim().to_string()));
                }
            }
        }
    }
    found
}
