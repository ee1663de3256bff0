//! Helpers for the socket integration tests (`tests/tcp_*.rs`): owned copies
//! of receive outcomes, short connect/send/receive wrappers, and a tiny
//! driver for the asynchronous style on an `EventLoop`.
#![allow(dead_code)]

use std::io::IoSlice;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cosocket::event_loop::EventLoop;
use cosocket::receive::Pattern;
use cosocket::tcp::{ConnectOpts, ReadOutcome, ReadRequest, Start, Tcp, UntilIter};

use super::peer::Peer;

/// An owned receive result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum R {
    /// `data`
    Data(Vec<u8>),
    /// a sized receiveuntil iterator's `nil, nil, nil`
    Done,
    /// `nil, err, partial` (partial None: the two-value `nil, err` form)
    Err(String, Option<Vec<u8>>),
}

impl R {
    pub fn data(s: &str) -> R {
        R::Data(s.as_bytes().to_vec())
    }
    /// `nil, err, partial`
    pub fn err(e: &str, partial: &str) -> R {
        R::Err(e.into(), Some(partial.as_bytes().to_vec()))
    }
    /// `nil, err` (no partial: the socket was already closed / busy).
    pub fn err2(e: &str) -> R {
        R::Err(e.into(), None)
    }
}

/// Copies a receive outcome out of the socket's buffer.
pub fn own(sock: &Tcp, o: ReadOutcome) -> R {
    fn copy(p: Option<(*const u8, usize)>) -> Option<Vec<u8>> {
        // SAFETY: the pointer is valid until the next call on the socket.
        p.map(|(p, l)| unsafe { std::slice::from_raw_parts(p, l) }.to_vec())
    }
    match o {
        ReadOutcome::Data(p, l) => R::Data(copy(Some((p, l))).unwrap()),
        ReadOutcome::Finished => R::Done,
        ReadOutcome::Failed(e, partial) => R::Err(e.to_string(), copy(partial)),
        ReadOutcome::FailedOwned(partial) => {
            let (p, l) = sock.kept_error_ptr().expect("owned error text kept");
            let e = copy(Some((p, l))).unwrap();
            R::Err(String::from_utf8(e).unwrap(), copy(partial))
        }
    }
}

pub fn opts() -> ConnectOpts {
    ConnectOpts::default()
}

/// A socket with the given timeout (ms, all three phases).
pub fn sock_with_timeout(ms: i64) -> Tcp {
    let s = Tcp::new();
    s.set_timeout(ms).unwrap();
    s
}

/// Connects to a TCP peer on 127.0.0.1; panics on failure.
pub fn connect(sock: &Tcp, peer: &Peer) {
    sock.connect(b"127.0.0.1", Some(peer.port()), &opts())
        .unwrap_or_else(|e| panic!("connect: {e}\n{}", peer.log()));
}

/// A connected socket with a 5 s default timeout.
pub fn connected(peer: &Peer) -> Tcp {
    let s = sock_with_timeout(5000);
    connect(&s, peer);
    s
}

pub fn recv(sock: &Tcp, p: Pattern) -> R {
    let o = sock.receive(ReadRequest::Pattern(p));
    own(sock, o)
}

pub fn line(sock: &Tcp) -> R {
    recv(sock, Pattern::Line)
}

pub fn until(sock: &Tcp, it: &Arc<UntilIter>, size: usize) -> R {
    let o = sock.receive(ReadRequest::Until(Arc::clone(it), size));
    own(sock, o)
}

pub fn iter(pattern: &str, inclusive: bool) -> Arc<UntilIter> {
    Arc::new(UntilIter::new(pattern.as_bytes(), inclusive))
}

pub fn send(sock: &Tcp, data: &[u8]) -> Result<usize, String> {
    sock.send(&[IoSlice::new(data)]).map_err(|e| e.to_string())
}

pub fn close(sock: &Tcp) -> Result<(), String> {
    sock.close().map_err(|e| e.to_string())
}

/// Bounds "did not block forever": generous, never a timing assertion.
pub const FOREVER: Duration = Duration::from_secs(20);

/// Runs `f` on a thread and panics if it has not returned within `limit`.
pub fn bounded<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("operation did not return within {limit:?}"))
}

/// Drives `lp` until `token` comes out (other tokens are collected into
/// `others`); panics after `FOREVER`.
pub fn wait_token(lp: &EventLoop, token: u64, others: &mut Vec<u64>) {
    let end = Instant::now() + FOREVER;
    let mut buf = [0u64; 64];
    loop {
        if let Some(i) = others.iter().position(|&t| t == token) {
            others.remove(i);
            return;
        }
        let left = end.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "token {token} never completed");
        let n = lp.wait(&mut buf, Some(left));
        others.extend_from_slice(&buf[..n]);
    }
}

/// Async connect, waiting on the loop when pending.
pub fn aconnect(
    sock: &Arc<Tcp>,
    lp: &Arc<EventLoop>,
    token: u64,
    host: &[u8],
    port: Option<u16>,
) -> Result<(), String> {
    match sock.connect_start(lp, token, host, port, &opts()) {
        Start::Done(r) => r.map_err(|e| e.to_string()),
        Start::Pending => {
            wait_token(lp, token, &mut Vec::new());
            sock.take_connect_result()
                .expect("connect result after its token")
                .map_err(|e| e.to_string())
        }
    }
}

/// Async receive; `pending` reports whether it had to wait.
pub fn arecv_req(sock: &Arc<Tcp>, lp: &Arc<EventLoop>, token: u64, req: ReadRequest) -> (R, bool) {
    match sock.receive_start(lp, token, req) {
        Start::Done(o) => (own(sock, o), false),
        Start::Pending => {
            wait_token(lp, token, &mut Vec::new());
            let o = sock
                .take_read_result()
                .expect("read result after its token");
            (own(sock, o), true)
        }
    }
}

pub fn arecv(sock: &Arc<Tcp>, lp: &Arc<EventLoop>, token: u64, p: Pattern) -> R {
    arecv_req(sock, lp, token, ReadRequest::Pattern(p)).0
}

pub fn asend(
    sock: &Arc<Tcp>,
    lp: &Arc<EventLoop>,
    token: u64,
    bufs: &[&[u8]],
) -> Result<usize, String> {
    let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
    match sock.send_start(lp, token, &slices) {
        Start::Done(r) => r.map_err(|e| e.to_string()),
        Start::Pending => {
            wait_token(lp, token, &mut Vec::new());
            sock.take_write_result()
                .expect("write result after its token")
                .map_err(|e| e.to_string())
        }
    }
}

/// `line()` for a thread racing the main thread's busy probes (receive(0)
/// sets "reading" for an instant): retries while that probe made it busy.
pub fn line_when_free(sock: &Tcp) -> R {
    loop {
        match line(sock) {
            R::Err(e, None) if e == "socket busy reading" => std::thread::yield_now(),
            r => return r,
        }
    }
}

/// `send()` for a thread racing the main thread's empty-send busy probes.
pub fn send_when_free(sock: &Tcp, data: &[u8]) -> Result<usize, String> {
    loop {
        match send(sock, data) {
            Err(e) if e == "socket busy writing" => std::thread::yield_now(),
            r => return r,
        }
    }
}
