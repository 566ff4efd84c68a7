//! Serial endpoints and a uniform byte pipe over them.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

/// Where the guest's serial line is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A unix stream socket (QEMU `-serial unix:PATH,server=on`).
    Unix(PathBuf),
    /// A TCP socket (`-serial tcp::PORT,server=on`, ser2net, ...).
    Tcp(String),
    /// A pseudo-terminal (`-serial pty`), opened raw.
    Pty(PathBuf),
    /// A real serial device through the `serialport` crate.
    Serial {
        /// Device path.
        path: String,
        /// Baud rate.
        baud: u32,
    },
}

impl std::str::FromStr for Endpoint {
    type Err = String;

    /// `unix:PATH`, `tcp:HOST:PORT`, `pty:PATH`, `serial:PATH[@BAUD]`, or a bare path
    /// (a socket is `unix:`, anything else `serial:`).
    fn from_str(s: &str) -> Result<Endpoint, String> {
        if let Some(p) = s.strip_prefix("unix:") {
            return Ok(Endpoint::Unix(p.into()));
        }
        if let Some(p) = s.strip_prefix("tcp:") {
            return Ok(Endpoint::Tcp(p.into()));
        }
        if let Some(p) = s.strip_prefix("pty:") {
            return Ok(Endpoint::Pty(p.into()));
        }
        let (dev, explicit) = match s.strip_prefix("serial:") {
            Some(p) => (p, true),
            None => (s, false),
        };
        if !explicit {
            use std::os::unix::fs::FileTypeExt;
            if let Ok(m) = std::fs::metadata(s) {
                if m.file_type().is_socket() {
                    return Ok(Endpoint::Unix(s.into()));
                }
            }
        }
        let (path, baud) = match dev.rsplit_once('@') {
            Some((p, b)) => (
                p,
                b.parse().map_err(|_| format!("'{b}' is not a baud rate"))?,
            ),
            None => (dev, 115_200),
        };
        if path.is_empty() {
            return Err(format!("'{s}': no device path"));
        }
        Ok(Endpoint::Serial {
            path: path.into(),
            baud,
        })
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
            Endpoint::Tcp(a) => write!(f, "tcp:{a}"),
            Endpoint::Pty(p) => write!(f, "pty:{}", p.display()),
            Endpoint::Serial { path, baud } => write!(f, "serial:{path}@{baud}"),
        }
    }
}

/// Something that moves bytes to and from the guest.
pub trait Wire {
    /// Sends bytes.
    fn send(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Waits up to `timeout` for bytes and appends them to `buf`; `Ok(0)` on timeout, an
    /// error when the line is closed.
    fn recv(&mut self, buf: &mut Vec<u8>, timeout: Duration) -> io::Result<usize>;
}

/// An open endpoint: a writer, and a thread that reads into a channel.
pub struct Link {
    writer: Box<dyn Write + Send>,
    rx: Receiver<Vec<u8>>,
}

fn split<T: Read + Send + 'static>(reader: T, writer: Box<dyn Write + Send>) -> Link {
    let (tx, rx) = mpsc::channel();
    let mut reader = reader;
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 16384];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
    });
    Link { writer, rx }
}

impl Link {
    /// Opens `ep`. A unix socket that does not exist yet is retried for `wait`.
    pub fn open(ep: &Endpoint, wait: Duration) -> io::Result<Link> {
        match ep {
            Endpoint::Unix(p) => {
                let deadline = std::time::Instant::now() + wait;
                // QEMU's socket chardev serves one client at a time: a second connection
                // is queued by the kernel and never answered. Say so at once.
                if unix_clients(p).is_some_and(|n| n > 0) {
                    return Err(io::Error::new(
                        io::ErrorKind::ResourceBusy,
                        format!(
                            "{}: the socket already has a client (a running `cargo xtask run` or \
                             another kconsole?); QEMU serves one connection at a time, so a \
                             second one would wait unanswered",
                            p.display()
                        ),
                    ));
                }
                let s = loop {
                    match std::os::unix::net::UnixStream::connect(p) {
                        Ok(s) => break s,
                        Err(e) if std::time::Instant::now() >= deadline => {
                            return Err(io::Error::new(e.kind(), format!("{}: {e}", p.display())))
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                };
                let w = s.try_clone()?;
                Ok(split(s, Box::new(w)))
            }
            Endpoint::Tcp(a) => {
                let s = std::net::TcpStream::connect(a)?;
                s.set_nodelay(true)?;
                let w = s.try_clone()?;
                Ok(split(s, Box::new(w)))
            }
            Endpoint::Pty(p) => {
                let f = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(p)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
                make_raw(&f)?;
                let w = f.try_clone()?;
                Ok(split(f, Box::new(w)))
            }
            Endpoint::Serial { path, baud } => {
                let port = serialport::new(path, *baud)
                    .timeout(Duration::from_millis(100))
                    .open()
                    .map_err(|e| io::Error::other(format!("{path}: {e}")))?;
                let w = port
                    .try_clone()
                    .map_err(|e| io::Error::other(format!("{path}: {e}")))?;
                Ok(split(port, Box::new(w)))
            }
        }
    }

    /// A link over an existing reader and writer (tests, proxies).
    pub fn from_parts(
        reader: impl Read + Send + 'static,
        writer: impl Write + Send + 'static,
    ) -> Link {
        split(reader, Box::new(writer))
    }

    /// The receiving channel (each item is one read).
    pub fn receiver(&self) -> &Receiver<Vec<u8>> {
        &self.rx
    }

    /// Splits into the writer and the receiving channel.
    pub fn into_parts(self) -> (Box<dyn Write + Send>, Receiver<Vec<u8>>) {
        (self.writer, self.rx)
    }
}

/// How many connections the unix socket listening at `path` has accepted and still holds,
/// from `/proc/net/unix` (a server's accepted sockets carry the listener's path; clients
/// are unnamed). `None` when that cannot be told (no such socket, not Linux).
pub fn unix_clients(path: &Path) -> Option<usize> {
    let want = std::fs::canonicalize(path).ok()?;
    let table = std::fs::read_to_string("/proc/net/unix").ok()?;
    let n = table
        .lines()
        .skip(1)
        .filter(|line| {
            // Num RefCount Protocol Flags Type St Inode Path
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 8 || f[5] != "03" {
                return false;
            }
            let name = f[7..].join(" ");
            if name.starts_with('@') {
                return false;
            }
            match std::fs::canonicalize(&name) {
                Ok(c) => c == want,
                // Relative to the server's directory: compare the tail.
                Err(_) => want.ends_with(&name),
            }
        })
        .count();
    Some(n)
}

fn make_raw(f: &std::fs::File) -> io::Result<()> {
    use nix::sys::termios;
    let mut t = termios::tcgetattr(f).map_err(io::Error::from)?;
    termios::cfmakeraw(&mut t);
    termios::tcsetattr(f, termios::SetArg::TCSANOW, &t).map_err(io::Error::from)
}

impl Wire for Link {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)?;
        self.writer.flush()
    }

    fn recv(&mut self, buf: &mut Vec<u8>, timeout: Duration) -> io::Result<usize> {
        match self.rx.recv_timeout(timeout) {
            Ok(v) => {
                let mut n = v.len();
                buf.extend_from_slice(&v);
                while let Ok(v) = self.rx.try_recv() {
                    n += v.len();
                    buf.extend_from_slice(&v);
                }
                Ok(n)
            }
            Err(RecvTimeoutError::Timeout) => Ok(0),
            Err(RecvTimeoutError::Disconnected) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the serial line closed",
            )),
        }
    }
}

/// Finds `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::{UnixListener, UnixStream};

    #[test]
    fn a_socket_that_already_has_a_client_is_refused_at_once() {
        let dir = std::env::temp_dir().join(format!("kconsole-busy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("serial.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let ep = Endpoint::Unix(path.clone());
        // Free: the first client gets in.
        assert_eq!(unix_clients(&path), Some(0));
        let first = Link::open(&ep, Duration::from_secs(1)).unwrap();
        let (_server_side, _) = listener.accept().unwrap();
        assert_eq!(unix_clients(&path), Some(1));
        // Busy, like QEMU with `cargo xtask run` attached: refused without waiting.
        let t0 = std::time::Instant::now();
        let e = match Link::open(&ep, Duration::from_secs(5)) {
            Ok(_) => panic!("a second client was let in"),
            Err(e) => e,
        };
        assert!(t0.elapsed() < Duration::from_secs(1));
        assert_eq!(e.kind(), io::ErrorKind::ResourceBusy);
        assert!(e.to_string().contains("already has a client"), "{e}");
        drop(first);
        drop(_server_side);
        let _ = UnixStream::connect(&path);
        let _ = std::fs::remove_file(&path);
    }
}
