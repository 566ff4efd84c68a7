//! The interactive console: the terminal in raw mode bridged to the guest's serial line.
//! `Ctrl-]` quits; `Ctrl-T` then a path and optional `name=value` parameters uploads a
//! module (`insmod PARAMS` is typed for you); a
//! kernel request (`insmod NAME` for a module that is not built in) is answered from the
//! module directory with a progress bar. Ctrl-C during an upload aborts it.

use crate::frame::{self, Kind};
use crate::kx;
use crate::link::{find, Link, Wire};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

const QUIT: u8 = 0x1d; // Ctrl-]
const LOCAL: u8 = 0x14; // Ctrl-T

enum Event {
    Guest(Vec<u8>),
    Key(Vec<u8>),
    GuestClosed,
}

/// Restores the terminal when dropped (also on error and on panic unwinding).
struct RawGuard;

impl RawGuard {
    fn new() -> io::Result<RawGuard> {
        crossterm::terminal::enable_raw_mode()?;
        Ok(RawGuard)
    }
}

impl Drop for RawGuard {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

/// Console settings.
pub struct Settings {
    /// Where `insmod NAME` requests are looked up (`NAME.ko`).
    pub module_dir: PathBuf,
    /// Compress uploads.
    pub compress: bool,
}

/// The guest side of the event stream, as a [`Wire`] for uploads; Ctrl-C aborts.
struct EventWire<'a> {
    writer: &'a mut (dyn Write + Send),
    events: &'a Receiver<Event>,
    abort: &'a AtomicBool,
}

impl Wire for EventWire<'_> {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)?;
        self.writer.flush()
    }

    fn recv(&mut self, buf: &mut Vec<u8>, timeout: Duration) -> io::Result<usize> {
        match self.events.recv_timeout(timeout) {
            Ok(Event::Guest(v)) => {
                buf.extend_from_slice(&v);
                Ok(v.len())
            }
            Ok(Event::Key(k)) => {
                if k.contains(&0x03) || k.contains(&QUIT) {
                    self.abort.store(true, Ordering::Relaxed);
                }
                Ok(0)
            }
            Ok(Event::GuestClosed) | Err(RecvTimeoutError::Disconnected) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the serial line closed",
            )),
            Err(RecvTimeoutError::Timeout) => Ok(0),
        }
    }
}

type Out = dyn Write + Send;

fn say(o: &mut Out, msg: &str) {
    let _ = write!(o, "\r\n[kconsole] {}\r\n", msg.replace('\n', "\r\n"));
    let _ = o.flush();
}

/// Runs the console on an open link and this terminal until Ctrl-] or until the guest
/// side closes. The terminal is in raw mode meanwhile and restored on every exit.
pub fn run(link: Link, settings: &Settings) -> Result<(), String> {
    let interactive = crossterm::tty::IsTty::is_tty(&io::stdin());
    let _guard = if interactive {
        Some(RawGuard::new().map_err(|e| format!("cannot set the terminal to raw mode: {e}"))?)
    } else {
        None
    };
    let prev_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = crossterm::terminal::disable_raw_mode();
        prev_hook(info);
    }));
    run_with(link, settings, io::stdin(), Box::new(io::stdout()))
}

/// [`run`] over any input (keystrokes) and output (what the terminal would show).
pub fn run_with(
    link: Link,
    settings: &Settings,
    input: impl Read + Send + 'static,
    mut out: Box<Out>,
) -> Result<(), String> {
    let out = &mut *out;
    let (mut writer, guest_rx) = link.into_parts();
    let (tx, events) = mpsc::channel();
    let gtx = tx.clone();
    std::thread::spawn(move || {
        while let Ok(v) = guest_rx.recv() {
            if gtx.send(Event::Guest(v)).is_err() {
                return;
            }
        }
        let _ = gtx.send(Event::GuestClosed);
    });
    std::thread::spawn(move || {
        let mut stdin = input;
        let mut buf = [0u8; 1024];
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 || tx.send(Event::Key(buf[..n].to_vec())).is_err() {
                break;
            }
        }
    });
    say(out, "connected; Ctrl-] quits, Ctrl-T uploads a module");
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let ev = match events.recv() {
            Ok(e) => e,
            Err(_) => return Ok(()),
        };
        match ev {
            Event::GuestClosed => {
                say(out, "the guest closed the serial line");
                return Ok(());
            }
            Event::Guest(v) => {
                out.write_all(&v).map_err(|e| e.to_string())?;
                out.flush().map_err(|e| e.to_string())?;
                tail.extend_from_slice(&v);
                if let Some(name) = take_request(&mut tail) {
                    answer_request(out, &mut *writer, &events, settings, &name);
                }
                if tail.len() > 256 {
                    tail.drain(..tail.len() - 256);
                }
            }
            Event::Key(k) => {
                if let Some(p) = k.iter().position(|&b| b == QUIT) {
                    let _ = writer.write_all(&k[..p]);
                    say(out, "bye");
                    return Ok(());
                }
                if let Some(p) = k.iter().position(|&b| b == LOCAL) {
                    writer.write_all(&k[..p]).map_err(|e| e.to_string())?;
                    // Keys typed after Ctrl-T in the same read belong to its prompt.
                    local_upload(out, &mut *writer, &events, settings, k[p + 1..].to_vec());
                    continue;
                }
                writer.write_all(&k).map_err(|e| e.to_string())?;
                writer.flush().map_err(|e| e.to_string())?;
            }
        }
    }
}

/// A complete request marker in `tail`: its module name (the marker is consumed).
fn take_request(tail: &mut Vec<u8>) -> Option<String> {
    let p = find(tail, frame::REQUEST_MARK)?;
    let rest = &tail[p + frame::REQUEST_MARK.len()..];
    let end = rest.iter().position(|&b| b == 0x07)?;
    let name = String::from_utf8_lossy(&rest[..end]).into_owned();
    let cut = p + frame::REQUEST_MARK.len() + end + 1;
    tail.drain(..cut);
    Some(name)
}

fn answer_request(
    out: &mut Out,
    writer: &mut (dyn Write + Send),
    events: &Receiver<Event>,
    settings: &Settings,
    name: &str,
) {
    let safe = !name.is_empty() && !name.contains('/') && !name.starts_with('.');
    let path = settings.module_dir.join(format!("{name}.ko"));
    let data = if safe {
        std::fs::read(&path).ok()
    } else {
        None
    };
    let Some(data) = data else {
        let msg = format!("{name}.ko: not found in {}", settings.module_dir.display());
        say(out, &msg);
        let mut b = vec![0u8; frame::MAX_FRAME];
        if let Some(n) = frame::encode(Kind::NoFile, 0, msg.as_bytes(), &mut b) {
            let _ = writer.write_all(&b[..n]);
            let _ = writer.flush();
        }
        return;
    };
    say(out, &format!("sending {}", path.display()));
    upload(out, writer, events, settings, name, &data);
}

fn local_upload(
    o: &mut Out,
    writer: &mut (dyn Write + Send),
    events: &Receiver<Event>,
    settings: &Settings,
    typed: Vec<u8>,
) {
    let _ = write!(
        o,
        "\r\n[kconsole] upload module (path or name in {}, then name=value ...): ",
        settings.module_dir.display()
    );
    let _ = o.flush();
    let mut line = Vec::new();
    let mut pending = Some(Event::Key(typed));
    loop {
        let ev = match pending.take() {
            Some(e) => Ok(e),
            None => events.recv(),
        };
        match ev {
            Ok(Event::Key(k)) => {
                for b in k {
                    match b {
                        b'\r' | b'\n' => {
                            let _ = write!(o, "\r\n");
                            let _ = o.flush();
                            return start_local(
                                o,
                                writer,
                                events,
                                settings,
                                &String::from_utf8_lossy(&line),
                            );
                        }
                        0x03 | 0x1b | QUIT => {
                            say(o, "upload cancelled");
                            return;
                        }
                        0x7f | 0x08 if line.pop().is_some() => {
                            let _ = write!(o, "\x08 \x08");
                        }
                        b if b.is_ascii_graphic() || b == b' ' => {
                            line.push(b);
                            let _ = o.write_all(&[b]);
                        }
                        _ => {}
                    }
                }
                let _ = o.flush();
            }
            Ok(Event::Guest(v)) => {
                // Keep the guest's output, but after the prompt line.
                let _ = o.write_all(&v);
            }
            Ok(Event::GuestClosed) | Err(_) => return,
        }
    }
}

fn start_local(
    o: &mut Out,
    writer: &mut (dyn Write + Send),
    events: &Receiver<Event>,
    settings: &Settings,
    arg: &str,
) {
    let req = match parse_upload_line(arg) {
        Ok(Some(r)) => r,
        Ok(None) => {
            say(o, "upload cancelled");
            return;
        }
        Err(e) => {
            say(o, &e);
            return;
        }
    };
    let mut path = PathBuf::from(&req.path);
    if !path.exists() && !req.path.contains('/') {
        path = settings.module_dir.join(format!("{}.ko", req.path));
    }
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) => {
            say(o, &format!("{}: {e}", path.display()));
            return;
        }
    };
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Start `insmod` on a clean line and wait for the kernel to be ready.
    let mut line = String::from("\x15insmod");
    for p in &req.params {
        line.push(' ');
        line.push_str(p);
    }
    line.push('\r');
    let _ = writer.write_all(line.as_bytes());
    let _ = writer.flush();
    let abort = AtomicBool::new(false);
    let mut w = EventWire {
        writer,
        events,
        abort: &abort,
    };
    let mut acc = Vec::new();
    match kx::wait_for(&mut w, &mut acc, frame::READY_MARK, Duration::from_secs(10)) {
        Ok(text) => {
            let _ = o.write_all(&text);
        }
        Err(e) => {
            say(o, &format!("the kernel is not ready for an upload: {e}"));
            return;
        }
    }
    upload(o, writer, events, settings, &name, &data);
}

/// What was typed after Ctrl-T: the module (a path, or a name in the module directory)
/// and the parameters for `insmod`.
#[derive(Debug, PartialEq, Eq)]
pub struct UploadRequest {
    /// Path or module name.
    pub path: String,
    /// `name=value` parameters, in order.
    pub params: Vec<String>,
}

/// Splits `path param=value ...` at white space; `Ok(None)` for an empty line. Every
/// word after the path must be a `name=value` parameter.
pub fn parse_upload_line(line: &str) -> Result<Option<UploadRequest>, String> {
    let mut words = line.split_whitespace();
    let Some(path) = words.next() else {
        return Ok(None);
    };
    let mut params = Vec::new();
    for w in words {
        match w.split_once('=') {
            Some((name, _)) if !name.is_empty() => params.push(w.to_string()),
            _ => {
                return Err(format!(
                    "'{w}' is not a module parameter (name=value); usage: PATH [name=value ...]"
                ))
            }
        }
    }
    Ok(Some(UploadRequest {
        path: path.to_string(),
        params,
    }))
}

fn upload(
    o: &mut Out,
    writer: &mut (dyn Write + Send),
    events: &Receiver<Event>,
    settings: &Settings,
    name: &str,
    data: &[u8],
) {
    let abort = AtomicBool::new(false);
    let mut w = EventWire {
        writer,
        events,
        abort: &abort,
    };
    let pb = ProgressBar::new(data.len() as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(format!("{name}.ko"));
    let opts = kx::Options {
        compress: settings.compress,
        ..kx::Options::default()
    };
    let size = data.len() as u64;
    let r = kx::send(&mut w, name, data, &opts, &abort, &mut |done, total| {
        // Show file bytes: scale the stream position.
        pb.set_position((done * size).checked_div(total).unwrap_or(size));
    });
    pb.finish_and_clear();
    match r {
        Ok(s) => {
            say(
                o,
                &format!(
                    "{name}: {} bytes ({} on the wire) in {:.2} s, {:.0} KB/s, {} resends",
                    s.size,
                    s.stream,
                    s.elapsed.as_secs_f64(),
                    s.size as f64 / s.elapsed.as_secs_f64().max(1e-6) / 1000.0,
                    s.rewinds
                ),
            );
            let _ = o.write_all(&s.leftover);
            let _ = o.flush();
        }
        Err(e) => say(o, &format!("upload failed: {e}")),
    }
}

/// The module directory default: `target/modules` under the current directory.
pub fn default_module_dir() -> PathBuf {
    Path::new("target/modules").to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(path: &str, params: &[&str]) -> Option<UploadRequest> {
        Some(UploadRequest {
            path: path.into(),
            params: params.iter().map(|p| p.to_string()).collect(),
        })
    }

    #[test]
    fn the_upload_line_splits_into_path_and_parameters() {
        assert_eq!(parse_upload_line("hello"), Ok(req("hello", &[])));
        assert_eq!(
            parse_upload_line("  target/modules/hello.ko greeting=salut  count=2 "),
            Ok(req(
                "target/modules/hello.ko",
                &["greeting=salut", "count=2"]
            ))
        );
        assert_eq!(
            parse_upload_line("hello greeting="),
            Ok(req("hello", &["greeting="]))
        );
        assert_eq!(parse_upload_line(""), Ok(None));
        assert_eq!(parse_upload_line("   "), Ok(None));
        assert!(parse_upload_line("hello oops").is_err());
        assert!(parse_upload_line("hello =x").is_err());
    }
}
