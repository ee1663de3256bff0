//! A TLS connection over a socket's fd, with the socket core's I/O contract.
//!
//! The socket's read path asks [`TlsConn::recv`] for *decrypted* bytes with
//! exactly recv(2)'s contract (Ok(0) is EOF, Err(EAGAIN) means "would block"
//! or, on a blocking fd, that SO_RCVTIMEO expired, other errnos are errors),
//! so the receive engines do not know TLS is there. The write path hands
//! plaintext to [`TlsConn::send_blocking`] / [`TlsConn::send_nb`].
//!
//! Locking keeps the socket full duplex: the reader owns `rx` (ciphertext read
//! from the fd, not yet given to rustls) and waits in recv(2) *without*
//! holding `conn`; `conn` (the rustls state) is only held for memory work and
//! for non-blocking sends, so a reader and a writer never wait on each other.
//! All ciphertext leaves through `conn`, so records are never reordered.
//! Lock order: `rx`, then `conn`.

use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rustls::{ClientConnection, HandshakeKind};

use super::session::SslSession;
use crate::tcp::sys;

/// The "errno" of a TLS protocol failure after the handshake (a bad record,
/// an alert): OpenResty has no errno then and reports `"error"`.
pub const TLS_ERRNO: i32 = -1;

/// Ciphertext read per recv(2).
const RX_SIZE: usize = 32 * 1024;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Rx {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Rx {
    fn pending(&self) -> bool {
        self.start < self.end
    }
}

/// Where a non-blocking handshake step stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hs {
    Done,
    /// Wait for the fd to become readable.
    Read,
    /// Wait for the fd to become writable.
    Write,
    /// The handshake failed (the verifier may know why).
    Failed,
}

/// The TLS state of one connection; shared by the socket's read and write
/// halves, and kept with the connection in the keepalive pool.
pub struct TlsConn {
    rx: Mutex<Rx>,
    conn: Mutex<ClientConnection>,
    session: Arc<SslSession>,
}

impl fmt::Debug for TlsConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConn").finish_non_exhaustive()
    }
}

/// Writes ciphertext to the fd without waiting.
struct FdOut(RawFd);

impl io::Write for FdOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        sys::send(self.0, buf, true).map_err(io::Error::from_raw_os_error)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        // SAFETY: IoSlice is ABI-compatible with iovec on Unix.
        let iov =
            unsafe { std::slice::from_raw_parts(bufs.as_ptr().cast::<libc::iovec>(), bufs.len()) };
        sys::sendv(self.0, iov, true).map_err(io::Error::from_raw_os_error)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes queued ciphertext: Ok(true) when all is out, Ok(false) on EAGAIN.
fn flush(fd: RawFd, c: &mut ClientConnection) -> Result<bool, i32> {
    while c.wants_write() {
        match c.write_tls(&mut FdOut(fd)) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e.raw_os_error().unwrap_or(TLS_ERRNO)),
        }
    }
    Ok(true)
}

/// Gives buffered ciphertext to rustls, as much as it takes (it refuses
/// while too much plaintext waits to be read). Err on a TLS error.
fn feed(rx: &mut Rx, c: &mut ClientConnection) -> Result<(), rustls::Error> {
    while rx.pending() {
        match c.read_tls(&mut &rx.buf[rx.start..rx.end]) {
            // After close_notify nothing more is read: drop the rest.
            Ok(0) => rx.start = rx.end,
            Ok(n) => rx.start += n,
            Err(_) => break,
        }
        c.process_new_packets()?;
    }
    Ok(())
}

/// Decrypted bytes into `dst`: Some(Ok(n > 0)) data, Some(Ok(0)) EOF (with
/// or without close_notify: OpenResty ignores an unexpected EOF, as nginx
/// sets SSL_OP_IGNORE_UNEXPECTED_EOF), None when nothing is buffered.
fn take_plaintext(c: &mut ClientConnection, dst: &mut [u8]) -> Option<Result<usize, i32>> {
    let mut n = 0;
    while n < dst.len() {
        match c.reader().read(&mut dst[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if n == 0 {
                    return None;
                }
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(_) if n > 0 => break,
            Err(_) => return Some(Err(TLS_ERRNO)),
        }
    }
    Some(Ok(n))
}

impl TlsConn {
    pub(crate) fn new(conn: ClientConnection, session: Arc<SslSession>) -> TlsConn {
        TlsConn {
            rx: Mutex::new(Rx {
                buf: vec![0u8; RX_SIZE].into_boxed_slice(),
                start: 0,
                end: 0,
            }),
            conn: Mutex::new(conn),
            session,
        }
    }

    /// The connection's session (for resumption by later connections).
    pub fn session(&self) -> &Arc<SslSession> {
        &self.session
    }

    /// Whether the server's certificate (also that of a resumed session)
    /// is valid for `name`.
    pub(crate) fn peer_matches(&self, name: &rustls::pki_types::ServerName<'_>) -> bool {
        let c = lock(&self.conn);
        c.peer_certificates()
            .and_then(|certs| certs.first())
            .is_some_and(|cert| super::name_matches(cert, name))
    }

    /// Whether the handshake resumed a session.
    pub fn resumed(&self) -> bool {
        lock(&self.conn).handshake_kind() == Some(HandshakeKind::Resumed)
    }

    /// Drives the handshake without waiting.
    pub fn handshake(&self, fd: RawFd) -> Hs {
        let mut rx = lock(&self.rx);
        let mut c = lock(&self.conn);
        loop {
            match flush(fd, &mut c) {
                Ok(true) => {}
                Ok(false) => return Hs::Write,
                Err(_) => return Hs::Failed,
            }
            if !c.is_handshaking() {
                return Hs::Done;
            }
            if rx.pending() {
                let before = rx.start;
                if feed(&mut rx, &mut c).is_err() {
                    // Tell the server why (an alert), if the socket takes it now.
                    let _ = flush(fd, &mut c);
                    return Hs::Failed;
                }
                if rx.start == before {
                    return Hs::Failed;
                }
                continue;
            }
            match sys::recv(fd, &mut rx.buf, true) {
                Ok(0) => return Hs::Failed,
                Ok(n) => {
                    rx.start = 0;
                    rx.end = n;
                }
                Err(libc::EAGAIN) => return Hs::Read,
                Err(_) => return Hs::Failed,
            }
        }
    }

    /// recv(2) over TLS: decrypted bytes into `dst` (see the module docs).
    /// Blocking mode waits in recv(2) on the blocking fd (SO_RCVTIMEO bounds
    /// it); TLS-only records (session tickets, key updates) are absorbed on
    /// the way.
    pub fn recv(&self, fd: RawFd, dst: &mut [u8], dontwait: bool) -> Result<usize, i32> {
        let mut rx = lock(&self.rx);
        loop {
            {
                let mut c = lock(&self.conn);
                if let Some(r) = take_plaintext(&mut c, dst) {
                    return r;
                }
                if rx.pending() {
                    let before = rx.start;
                    let fed = feed(&mut rx, &mut c);
                    // A key update wants an answer: send it if the socket takes it.
                    let _ = flush(fd, &mut c);
                    if fed.is_err() {
                        return Err(TLS_ERRNO);
                    }
                    if rx.start != before {
                        continue;
                    }
                    // rustls takes nothing though no plaintext waits: broken.
                    return Err(TLS_ERRNO);
                }
            }
            let n = sys::recv(fd, &mut rx.buf, dontwait)?;
            if n == 0 {
                let _ = lock(&self.conn).read_tls(&mut io::empty());
                return Ok(0);
            }
            rx.start = 0;
            rx.end = n;
        }
    }

    /// Encrypts what rustls takes of `bufs` and writes ciphertext until all
    /// is written or the socket would block. Ok(true) when done.
    fn pump(
        fd: RawFd,
        c: &mut ClientConnection,
        slices: &mut &mut [IoSlice<'_>],
    ) -> Result<bool, i32> {
        loop {
            while !slices.is_empty() {
                let n = c.writer().write_vectored(slices).map_err(|_| TLS_ERRNO)?;
                if n == 0 {
                    break;
                }
                IoSlice::advance_slices(slices, n);
            }
            if !flush(fd, c)? {
                return Ok(false);
            }
            if slices.is_empty() {
                return Ok(true);
            }
        }
    }

    /// Blocking send of every byte of `bufs`: waits for writability (poll)
    /// at most `timeout_ms` each time no progress can be made (an inactivity
    /// timeout, like the plain path's SO_SNDTIMEO). Err(EAGAIN) = timed out.
    pub fn send_blocking(
        &self,
        fd: RawFd,
        bufs: &[IoSlice<'_>],
        timeout_ms: u32,
    ) -> Result<usize, i32> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let mut owned: Vec<IoSlice<'_>> = bufs
            .iter()
            .filter(|b| !b.is_empty())
            .map(|b| IoSlice::new(b))
            .collect();
        let mut slices: &mut [IoSlice<'_>] = &mut owned;
        loop {
            if Self::pump(fd, &mut lock(&self.conn), &mut slices)? {
                return Ok(total);
            }
            let wait = Duration::from_millis(timeout_ms as u64);
            if !sys::poll_one(fd, libc::POLLOUT, Some(wait))? {
                return Err(libc::EAGAIN);
            }
        }
    }

    /// Non-blocking send: Ok((plaintext bytes taken, everything written)).
    /// Bytes not taken must be offered again; when everything was taken but
    /// not all written, call again with nothing once the fd is writable.
    pub fn send_nb(&self, fd: RawFd, bufs: &[IoSlice<'_>]) -> Result<(usize, bool), i32> {
        let mut owned: Vec<IoSlice<'_>> = bufs
            .iter()
            .filter(|b| !b.is_empty())
            .map(|b| IoSlice::new(b))
            .collect();
        let total: usize = owned.iter().map(|b| b.len()).sum();
        let mut slices: &mut [IoSlice<'_>] = &mut owned;
        let done = Self::pump(fd, &mut lock(&self.conn), &mut slices)?;
        let left: usize = slices.iter().map(|b| b.len()).sum();
        Ok((total - left, done))
    }

    /// Decrypted bytes wait in rustls (or ciphertext not yet decrypted):
    /// `setkeepalive` must say "unread data in buffer".
    pub fn has_unread(&self) -> bool {
        let mut rx = lock(&self.rx);
        let mut c = lock(&self.conn);
        if feed(&mut rx, &mut c).is_err() {
            return false;
        }
        match c.process_new_packets() {
            Ok(io) => io.plaintext_bytes_to_read() > 0 || rx.pending(),
            Err(_) => false,
        }
    }

    /// Reads what arrived while the connection was idle, without waiting.
    /// TLS-layer records (a TLS 1.3 NewSessionTicket, a key update) are
    /// consumed, as OpenResty >= 0.10.28 does; true means the connection is
    /// still clean. Application data, close_notify, EOF or an error: false.
    pub fn absorb_idle(&self, fd: RawFd) -> bool {
        let mut rx = lock(&self.rx);
        let mut c = lock(&self.conn);
        loop {
            if rx.pending() {
                let before = rx.start;
                if feed(&mut rx, &mut c).is_err() || rx.start == before {
                    return false;
                }
            }
            match c.process_new_packets() {
                Ok(io) if io.plaintext_bytes_to_read() == 0 && !io.peer_has_closed() => {}
                _ => return false,
            }
            if flush(fd, &mut c).is_err() {
                return false;
            }
            match sys::recv(fd, &mut rx.buf, true) {
                Ok(0) => return false,
                Ok(n) => {
                    rx.start = 0;
                    rx.end = n;
                }
                Err(libc::EAGAIN) => return true,
                Err(_) => return false,
            }
        }
    }
}
