//! Integration-test handle for the `cosocket-peer` binary (tests/peer/cosocket-peer.rs).
//!
//! ```ignore
//! mod common;
//! use common::peer::Peer;
//!
//! let peer = Peer::start(&["send hello\\r\\n;expect PING;close"]);
//! // ... connect to peer.addr() ...
//! assert!(peer.wait_closed(1, common::peer::TIMEOUT), "{}", peer.log());
//! assert_eq!(peer.received(1), b"PING");
//! ```
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A generous default for `wait_*` calls.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Path of the peer binary built by Cargo for this package.
pub const PEER_BIN: &str = env!("CARGO_BIN_EXE_cosocket-peer");

#[derive(Default)]
struct Log {
    lines: Vec<String>,
    /// stdout reached EOF (the peer exited).
    done: bool,
}

type Shared = Arc<(Mutex<Log>, Condvar)>;

/// A running `cosocket-peer` child process.  Killed (by PID, `Child::kill`)
/// and reaped on drop; a unix socket path given with `--unix` is removed.
pub struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    port: Option<u16>,
    host: String,
    unix: Option<PathBuf>,
    log: Shared,
    reader: Option<JoinHandle<()>>,
}

fn arg_value(args: &[&str], name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if *a == name {
            return it.next().map(|v| v.to_string());
        }
        if let Some(v) = a.strip_prefix(&prefix) {
            return Some(v.to_string());
        }
    }
    None
}

impl Peer {
    /// Spawn `cosocket-peer ARGS...` (stdin piped and held open, stdout
    /// captured by a background thread, stderr inherited) and wait for its
    /// `port N` / `unix PATH` line.  Panics if the peer exits first.
    pub fn start(args: &[&str]) -> Peer {
        let mut child = Command::new(PEER_BIN)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {PEER_BIN}: {e}"));
        let stdin = child.stdin.take();
        let mut out = BufReader::new(child.stdout.take().expect("stdout piped"));

        let mut first = String::new();
        let n = out.read_line(&mut first).unwrap_or(0);
        if n == 0 {
            let _ = child.kill();
            let status = child.wait();
            panic!("cosocket-peer {args:?} exited before its port line: {status:?}");
        }
        let first = first.trim_end_matches(['\r', '\n']);
        let (port, unix) = if let Some(p) = first.strip_prefix("port ") {
            (Some(p.parse::<u16>().expect("port number")), None)
        } else if let Some(p) = first.strip_prefix("unix ") {
            (None, Some(PathBuf::from(p)))
        } else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("cosocket-peer {args:?}: unexpected first line {first:?}");
        };

        let listen = arg_value(args, "--listen").unwrap_or_else(|| "127.0.0.1:0".into());
        let host = match listen.rfind(':') {
            Some(i) => listen[..i].to_string(),
            None => listen,
        };

        let log: Shared = Arc::new((Mutex::new(Log::default()), Condvar::new()));
        let log2 = log.clone();
        let reader = std::thread::spawn(move || {
            let (m, cv) = &*log2;
            let mut line = String::new();
            loop {
                line.clear();
                match out.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let l = line.trim_end_matches(['\r', '\n']).to_string();
                        m.lock().unwrap().lines.push(l);
                        cv.notify_all();
                    }
                }
            }
            m.lock().unwrap().done = true;
            cv.notify_all();
        });

        Peer {
            child,
            stdin,
            port,
            host,
            unix,
            log,
            reader: Some(reader),
        }
    }

    /// `Peer::start(&[script])`.
    pub fn script(script: &str) -> Peer {
        Peer::start(&[script])
    }

    /// TCP port (panics for a unix-socket peer).
    pub fn port(&self) -> u16 {
        self.port.expect("peer listens on a unix socket, not TCP")
    }

    /// "HOST:PORT" with HOST as given to `--listen` (default "127.0.0.1",
    /// "[::1]" for `--listen [::1]:0`).
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port())
    }

    /// `addr()` resolved.
    pub fn socket_addr(&self) -> SocketAddr {
        self.addr()
            .to_socket_addrs()
            .expect("resolve peer addr")
            .next()
            .expect("peer addr")
    }

    /// The unix socket path (panics for a TCP peer).
    pub fn unix_path(&self) -> &Path {
        self.unix
            .as_deref()
            .expect("peer listens on TCP, not a unix socket")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// All event lines so far (without the initial port/unix line).
    pub fn events(&self) -> Vec<String> {
        self.log.0.lock().unwrap().lines.clone()
    }

    /// The event log as one string, for assertion messages.
    pub fn log(&self) -> String {
        format!("peer events:\n  {}", self.events().join("\n  "))
    }

    /// Wait until `pred(events)` holds; false on timeout.  Also returns
    /// (with the predicate's final answer) once the peer has exited.
    pub fn wait_for(&self, mut pred: impl FnMut(&[String]) -> bool, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (m, cv) = &*self.log;
        let mut g = m.lock().unwrap();
        loop {
            if pred(&g.lines) {
                return true;
            }
            let now = Instant::now();
            if g.done || now >= deadline {
                return false;
            }
            g = cv.wait_timeout(g, deadline - now).unwrap().0;
        }
    }

    /// Wait for an exact event line, e.g. `"closed 1"`.
    pub fn wait_line(&self, line: &str, timeout: Duration) -> bool {
        self.wait_for(|ev| ev.iter().any(|l| l == line), timeout)
    }

    /// Wait for `closed C`.
    pub fn wait_closed(&self, conn: usize, timeout: Duration) -> bool {
        self.wait_line(&format!("closed {conn}"), timeout)
    }

    /// Wait for `accept C`.
    pub fn wait_accept(&self, conn: usize, timeout: Duration) -> bool {
        self.wait_line(&format!("accept {conn}"), timeout)
    }

    /// Wait until at least `n` bytes arrived on connection `conn`.
    pub fn wait_received_len(&self, conn: usize, n: usize, timeout: Duration) -> bool {
        self.wait_for(|ev| received_from(ev, conn).len() >= n, timeout)
    }

    /// Wait until the bytes received on `conn` equal `expected`.
    pub fn wait_received(&self, conn: usize, expected: &[u8], timeout: Duration) -> bool {
        self.wait_for(|ev| received_from(ev, conn) == expected, timeout)
    }

    /// Everything connection `conn` received so far (the `recv` lines,
    /// unescaped and concatenated).
    pub fn received(&self, conn: usize) -> Vec<u8> {
        received_from(&self.log.0.lock().unwrap().lines, conn)
    }

    /// `error C MESSAGE` messages for `conn`.
    pub fn errors(&self, conn: usize) -> Vec<String> {
        let prefix = format!("error {conn} ");
        self.events()
            .iter()
            .filter_map(|l| l.strip_prefix(&prefix).map(str::to_string))
            .collect()
    }

    /// Close the peer's stdin: with the default `--stdin-exit` it exits.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Write to the peer's stdin (it is read and discarded).
    pub fn stdin(&mut self) -> Option<&mut ChildStdin> {
        self.stdin.as_mut()
    }

    /// Wait for the process to exit (e.g. after `--conns N`).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log());
        }
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        if let Some(p) = &self.unix {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn received_from(lines: &[String], conn: usize) -> Vec<u8> {
    let prefix = format!("recv {conn} ");
    let mut out = Vec::new();
    for l in lines {
        if let Some(rest) = l.strip_prefix(&prefix) {
            out.extend(unescape(rest));
        }
    }
    out
}

/// Inverse of the peer's output escaping (`\r \n \t \\ \0 \xHH`).
pub fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let e = b[i + 1];
            i += 2;
            match e {
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'0' => out.push(0),
                b'x' if i + 2 <= b.len() => {
                    let h = std::str::from_utf8(&b[i..i + 2]).unwrap_or("");
                    out.push(u8::from_str_radix(h, 16).unwrap_or(b'?'));
                    i += 2;
                }
                other => out.push(other),
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Escape bytes for use as TEXT in a peer script (`send`, `expect`, ...).
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        match b {
            b'\\' => s.push_str("\\\\"),
            b';' => s.push_str("\\;"),
            b'|' => s.push_str("\\|"),
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

/// The bytes a `big N` step sends: byte i is `b'a' + i % 26`.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

/// A fresh unix socket path in the temp dir (not created).
pub fn temp_sock_path(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "cosocket-peer-{tag}-{}-{n}.sock",
        std::process::id()
    ))
}
