//! A guest whose serial port is a unix socket: the one type the end-to-end tests and the
//! benchmarks use to talk to a kernel (or U-Boot) over a byte-exact line.
//!
//! A reader thread collects everything the guest sends; [`SocketGuest::expect`] and
//! friends wait on it. Optional filters see every byte in each direction (the tests' fault
//! injector). [`SocketGuest::bridge`] hands the line to a program such as lrzsz `sb`.
//! Dropping the guest kills its QEMU.

use crate::{workspace_root, Error, Qemu, Serial};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A byte filter: gets what crossed the line, returns what arrives.
pub type Filter = Box<dyn FnMut(&[u8]) -> Vec<u8> + Send>;

type Shared = Arc<(Mutex<Vec<u8>>, Condvar)>;

/// A QEMU process on a socket line, killed (and reaped) when dropped; the socket file
/// goes with it.
pub struct Process {
    child: Child,
    path: PathBuf,
}

impl Process {
    /// Its pid.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The serial socket's path.
    pub fn socket_path(&self) -> &std::path::Path {
        &self.path
    }

    /// Whether it has exited (and how).
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.path);
    }
}

fn sock_path(tag: &str) -> std::io::Result<PathBuf> {
    let dir = workspace_root().join("target/sockets");
    std::fs::create_dir_all(&dir)?;
    let p = dir.join(format!("{tag}-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    Ok(p)
}

/// Starts `q` with its serial port on a fresh unix socket (named after `tag`) and
/// connects to it. QEMU waits for the connection before it runs the guest.
pub fn spawn_raw(q: &Qemu, tag: &str, timeout: Duration) -> std::io::Result<(Process, UnixStream)> {
    let path = sock_path(tag)?;
    let mut q = q.clone();
    q.serial = Serial::UnixSocket(path.clone());
    let child = q
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let proc = Process {
        child,
        path: path.clone(),
    };
    let deadline = Instant::now() + timeout;
    loop {
        match UnixStream::connect(&path) {
            Ok(s) => return Ok((proc, s)),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// A guest on a unix-socket serial line.
pub struct SocketGuest {
    proc: Process,
    sock: UnixStream,
    out: Shared,
    cursor: usize,
    inbound: Arc<Mutex<Option<Filter>>>,
    outbound: Option<Filter>,
}

impl SocketGuest {
    /// Starts `q` on a socket line and starts collecting its output.
    pub fn spawn(q: &Qemu, tag: &str) -> std::io::Result<SocketGuest> {
        let (proc, sock) = spawn_raw(q, tag, Duration::from_secs(30))?;
        let out: Shared = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let inbound: Arc<Mutex<Option<Filter>>> = Arc::new(Mutex::new(None));
        let mut rd = sock.try_clone()?;
        let (o, f) = (Arc::clone(&out), Arc::clone(&inbound));
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                let n = match rd.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let data = match f
                    .lock()
                    .ok()
                    .and_then(|mut g| g.as_mut().map(|f| f(&buf[..n])))
                {
                    Some(d) => d,
                    None => buf[..n].to_vec(),
                };
                let (lock, cv) = &*o;
                if let Ok(mut v) = lock.lock() {
                    v.extend_from_slice(&data);
                }
                cv.notify_all();
            }
            o.1.notify_all();
        });
        Ok(SocketGuest {
            proc,
            sock,
            out,
            cursor: 0,
            inbound,
            outbound: None,
        })
    }

    /// Filters guest → host bytes (None: pass everything).
    pub fn set_inbound_filter(&self, f: Option<Filter>) {
        if let Ok(mut g) = self.inbound.lock() {
            *g = f;
        }
    }

    /// Filters host → guest bytes sent with [`send`](Self::send).
    pub fn set_outbound_filter(&mut self, f: Option<Filter>) {
        self.outbound = f;
    }

    /// A second handle on the socket (for a program that writes to the guest directly).
    pub fn socket(&self) -> std::io::Result<UnixStream> {
        self.sock.try_clone()
    }

    /// Sends bytes to the guest (through the outbound filter, if any).
    pub fn send(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self.outbound.as_mut() {
            Some(f) => {
                let d = f(b);
                self.sock.write_all(&d)
            }
            None => self.sock.write_all(b),
        }
    }

    /// The QEMU process (its pid, its socket path).
    pub fn process(&self) -> &Process {
        &self.proc
    }

    /// Forgets everything received so far: the next wait starts after it.
    pub fn skip_pending(&mut self) {
        self.cursor = self.mark();
    }

    /// Bytes received so far (a mark for [`text_since`](Self::text_since)).
    pub fn mark(&self) -> usize {
        self.out.0.lock().map(|v| v.len()).unwrap_or(0)
    }

    /// Text received since `mark`, with `\r` removed.
    pub fn text_since(&self, mark: usize) -> String {
        let v = self.out.0.lock().map(|v| v.clone()).unwrap_or_default();
        String::from_utf8_lossy(&v[mark.min(v.len())..]).replace('\r', "")
    }

    /// Waits for `pat` after the cursor; returns the bytes before it and moves past it.
    pub fn expect_bytes(&mut self, pat: &[u8], t: Duration) -> Result<Vec<u8>, Error> {
        let deadline = Instant::now() + t;
        let (lock, cv) = &*self.out;
        let mut v = lock
            .lock()
            .map_err(|_| Error::Io(std::io::Error::other("poisoned")))?;
        loop {
            let hay = &v[self.cursor.min(v.len())..];
            if let Some(p) = hay.windows(pat.len().max(1)).position(|w| w == pat) {
                let before = hay[..p].to_vec();
                self.cursor += p + pat.len();
                return Ok(before);
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout {
                    pattern: String::from_utf8_lossy(pat).into_owned(),
                    seen: String::from_utf8_lossy(hay).into_owned(),
                });
            }
            if let Ok(Some(status)) = self.proc.try_wait() {
                let seen = String::from_utf8_lossy(hay).into_owned();
                return Err(Error::Exited {
                    pattern: String::from_utf8_lossy(pat).into_owned(),
                    seen,
                    status: status.code(),
                });
            }
            v = cv
                .wait_timeout(v, Duration::from_millis(50))
                .map_err(|_| Error::Io(std::io::Error::other("poisoned")))?
                .0;
        }
    }

    /// [`expect_bytes`](Self::expect_bytes) as text, with `\r` removed.
    pub fn expect(&mut self, pat: &str, t: Duration) -> Result<String, Error> {
        self.expect_bytes(pat.as_bytes(), t)
            .map(|b| String::from_utf8_lossy(&b).replace('\r', ""))
    }

    /// Runs a shell command line; returns its output (without the echo and the prompt).
    pub fn cmd(&mut self, line: &str, t: Duration) -> Result<String, Error> {
        self.send(format!("{line}\r").as_bytes())
            .map_err(Error::Io)?;
        self.expect(line, t)?;
        let out = self.expect("\n> ", t)?;
        Ok(out.strip_prefix('\n').unwrap_or(&out).to_string())
    }

    /// Bytes that arrived after the cursor, within `timeout` if none are there yet; the
    /// cursor moves past them.
    pub fn recv(&mut self, buf: &mut Vec<u8>, timeout: Duration) -> usize {
        let (lock, cv) = &*self.out;
        let Ok(mut v) = lock.lock() else { return 0 };
        if v.len() <= self.cursor {
            v = match cv.wait_timeout(v, timeout) {
                Ok((v, _)) => v,
                Err(_) => return 0,
            };
        }
        let n = v.len().saturating_sub(self.cursor);
        buf.extend_from_slice(&v[self.cursor.min(v.len())..]);
        self.cursor = v.len();
        n
    }

    /// Runs `prog args` with the serial line as its stdin and stdout (what it writes goes
    /// to the guest unfiltered; what the guest sends after the cursor goes to it), until it
    /// exits or `limit` passes (then it is killed). Calls `tick` with the bytes sent so far
    /// on every turn, so a caller can act mid-transfer. Returns its status, its stderr and
    /// its wall time.
    pub fn bridge(
        &mut self,
        prog: &str,
        args: &[&str],
        limit: Duration,
        tick: &mut dyn FnMut(&mut Child, usize),
    ) -> Result<(ExitStatus, String, Duration), Error> {
        let mut p = Command::new(prog)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(Error::Io)?;
        let t0 = Instant::now();
        let mut from = p
            .stdout
            .take()
            .ok_or_else(|| Error::Io(std::io::Error::other("no stdout")))?;
        let mut to_guest = self.sock.try_clone().map_err(Error::Io)?;
        let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let sent2 = Arc::clone(&sent);
        let pump = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 || to_guest.write_all(&buf[..n]).is_err() {
                    break;
                }
                sent2.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
            }
        });
        let mut to = p
            .stdin
            .take()
            .ok_or_else(|| Error::Io(std::io::Error::other("no stdin")))?;
        let status = loop {
            if let Some(s) = p.try_wait().map_err(Error::Io)? {
                break s;
            }
            let mut buf = Vec::new();
            self.recv(&mut buf, Duration::from_millis(2));
            if !buf.is_empty() {
                let _ = to.write_all(&buf);
                let _ = to.flush();
            }
            tick(&mut p, sent.load(std::sync::atomic::Ordering::Relaxed));
            if t0.elapsed() > limit {
                let _ = p.kill();
                let _ = p.wait();
                return Err(Error::Timeout {
                    pattern: format!("{prog} to finish within {limit:?}"),
                    seen: String::new(),
                });
            }
        };
        let elapsed = t0.elapsed();
        drop(to);
        let _ = pump.join();
        let mut err = String::new();
        if let Some(mut e) = p.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        Ok((status, err, elapsed))
    }
}
