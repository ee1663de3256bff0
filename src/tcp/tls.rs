//! The socket side of TLS: `sslhandshake` as an operation (blocking, or
//! asynchronous on a loop, bounded by the *connect* timeout, "socket busy
//! connecting" meanwhile, a failure closes the connection), client
//! certificates, the trusted store, and the TLS branches of the write path.
//! The TLS engine itself is [`crate::tls`].
//!
//! A connection becomes TLS by installing the same [`TlsConn`] in the
//! reader and the writer: the hot paths branch on that `Option` and plain
//! sockets take no extra lock or allocation.

use std::io::IoSlice;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConnection;
use rustls::pki_types::ServerName;

use super::write::PendingWrite;
use super::{Slot, Start, Tcp, lock, state, sys};
use crate::error::{Error, Result};
use crate::event_loop::EventLoop;
use crate::tls::{ClientCert, Hs, SslSession, TlsConn, TrustedStore};

/// Arguments of `sslhandshake(reused_session, server_name, ssl_verify, send_status_req)`.
#[derive(Clone, Debug, Default)]
pub struct HandshakeOpts {
    /// A session of an earlier connection to resume.
    pub session: Option<Arc<SslSession>>,
    /// SNI, and the name the certificate must match when `verify` is set
    /// (None or empty: no SNI, no name check).
    pub server_name: Option<Vec<u8>>,
    /// Verify the server's certificate (trusted store set on the socket, or
    /// the system's).
    pub verify: bool,
    /// OCSP stapling request: accepted; rustls always asks for a stapled
    /// response and, like OpenResty, the handshake does not validate it.
    pub ocsp_status_req: bool,
}

/// A successful `sslhandshake`.
#[derive(Clone, Debug)]
pub enum Handshaked {
    /// The handshake ran; the connection's session.
    Now(Arc<SslSession>),
    /// The connection was TLS already (e.g. reused from the pool): returned
    /// at once with its session.
    Already(Arc<SslSession>),
}

impl Handshaked {
    pub fn session(&self) -> &Arc<SslSession> {
        match self {
            Handshaked::Now(s) | Handshaked::Already(s) => s,
        }
    }
}

struct PendingHandshake {
    token: u64,
    deadline: Instant,
    conn: Arc<TlsConn>,
    check: Option<ServerName<'static>>,
}

/// Per-socket TLS settings and the asynchronous handshake's slots.
#[derive(Default)]
pub(super) struct TlsSlot {
    /// `setclientcert`: kept across connections, like OpenResty's object slots.
    client_cert: Option<Arc<ClientCert>>,
    /// `settrustedstore`: used by the next handshake only (as OpenResty).
    trusted: Option<Arc<TrustedStore>>,
    pending: Option<PendingHandshake>,
    result: Option<Result<Handshaked>>,
}

impl TlsSlot {
    /// Forgets a pending handshake (abort).
    pub(super) fn cancel(&mut self) {
        self.pending = None;
        self.result = None;
    }
}

enum Begin {
    Already(Arc<SslSession>),
    /// A new TLS connection, and the name its certificate must match.
    Fresh(Arc<TlsConn>, Option<ServerName<'static>>),
}

const ALREADY_DONE: &str =
    "ssl handshake already done; trusted store cannot be changed on an established TLS connection";

/// The error of a failed handshake step (right after it, on its thread):
/// the verifier's OpenSSL-style text, or "handshake failed".
fn failure() -> Error {
    match crate::tls::take_failure() {
        Some(text) => Error::op_owned(text),
        None => Error::op("handshake failed"),
    }
}

impl Tcp {
    /// `setclientcert(cert, key)`: the certificate presented when the server
    /// asks for one (None clears it). Kept across connections.
    pub fn set_client_cert(&self, cert: Option<Arc<ClientCert>>) {
        lock(&self.tls).client_cert = cert;
    }

    /// `settrustedstore(store)`: the CAs the next `sslhandshake` with
    /// `verify` trusts instead of the system store (None: the system store).
    /// As in OpenResty: "closed" unless connected, an error once the
    /// connection is TLS, and used by one handshake only.
    pub fn set_trusted_store(&self, store: Option<Arc<TrustedStore>>) -> Result<()> {
        let s = self.state.get();
        if s & state::OPEN == 0 || s & (state::RD_CLOSED | state::WR_CLOSED) != 0 {
            return Err(Error::CLOSED);
        }
        if lock(&self.rd).tls.is_some() {
            return Err(Error::op(ALREADY_DONE));
        }
        lock(&self.tls).trusted = store;
        Ok(())
    }

    /// The connection's TLS session (OpenResty's `getsslsession`): "closed"
    /// when not connected, "no session" on a plain connection. The session is
    /// live: tickets the server sends later are added to it.
    pub fn ssl_session(&self) -> Result<Arc<SslSession>> {
        let s = self.state.get();
        if s & state::OPEN == 0
            || s & (state::RD_CLOSED | state::WR_CLOSED) == (state::RD_CLOSED | state::WR_CLOSED)
        {
            return Err(Error::CLOSED);
        }
        match &lock(&self.rd).tls {
            Some(t) => Ok(Arc::clone(t.session())),
            None => Err(Error::op("no session")),
        }
    }

    /// Whether the connection is TLS and its handshake resumed a session.
    pub fn tls_resumed(&self) -> Option<bool> {
        let t = lock(&self.rd).tls.clone();
        t.map(|t| t.resumed())
    }

    /// Whether the connection is TLS.
    pub fn is_tls(&self) -> bool {
        lock(&self.rd).tls.is_some()
    }

    /// Blocking `sslhandshake`, bounded by the connect timeout.
    pub fn ssl_handshake(&self, opts: HandshakeOpts) -> Result<Handshaked> {
        let res = self.ssl_handshake_blocking(opts);
        if let Err(e) = &res {
            self.keep_error(e);
        }
        res
    }

    fn ssl_handshake_blocking(&self, opts: HandshakeOpts) -> Result<Handshaked> {
        let (conn, check) = match self.handshake_begin(opts)? {
            Begin::Already(s) => return Ok(Handshaked::Already(s)),
            Begin::Fresh(c, n) => (c, n),
        };
        let deadline = Instant::now() + self.connect_timeout();
        // Holding the reader's lock keeps abort() (another thread) from
        // closing the fd, whose number could be reused, under this loop; it
        // shuts the connection down instead, which ends the wait.
        let rd = lock(&self.rd);
        let fd = self.fd();
        let res = loop {
            let events = match conn.handshake(fd) {
                Hs::Done => break Ok(()),
                Hs::Failed => break Err(failure()),
                Hs::Read => libc::POLLIN,
                Hs::Write => libc::POLLOUT,
            };
            let left = deadline.saturating_duration_since(Instant::now());
            match sys::poll_one(fd, events, Some(left)) {
                Ok(true) => {}
                Ok(false) => break Err(Error::TIMEOUT),
                Err(_) => break Err(Error::op("handshake failed")),
            }
        };
        drop(rd);
        match res {
            Ok(()) => self.handshake_done(conn, check.as_ref()),
            Err(e) => {
                self.handshake_failed();
                Err(e)
            }
        }
    }

    /// Busy and state checks, then a new rustls connection. The socket is
    /// "busy connecting" from here until the handshake ends.
    fn handshake_begin(&self, opts: HandshakeOpts) -> Result<Begin> {
        self.state.begin_handshake()?;
        let current = lock(&self.rd).tls.clone();
        if let Some(t) = current {
            self.state.end_handshake();
            return Ok(Begin::Already(Arc::clone(t.session())));
        }
        match self.new_tls(opts) {
            Ok(b) => Ok(b),
            Err(e) => {
                // Set-up errors leave the connection as it was (OpenResty
                // returns them before the handshake starts).
                self.state.end_handshake();
                Err(e)
            }
        }
    }

    fn new_tls(&self, opts: HandshakeOpts) -> Result<Begin> {
        let name = match opts.server_name.as_deref() {
            Some(n) if !n.is_empty() => std::str::from_utf8(n)
                .ok()
                .and_then(|s| ServerName::try_from(s.to_owned()).ok())
                .ok_or(Error::op("SSL_set_tlsext_host_name failed"))?,
            // No name: no SNI (rustls sends none for an address) and no name check.
            _ => ServerName::IpAddress(std::net::Ipv4Addr::UNSPECIFIED.into()),
        };
        let _ = crate::tls::take_failure(); // nothing stale from this thread
        let named = matches!(opts.server_name.as_deref(), Some(n) if !n.is_empty());
        let check = (opts.verify && named).then(|| name.clone());
        let (client_cert, trusted) = {
            let mut t = lock(&self.tls);
            (t.client_cert.clone(), t.trusted.take())
        };
        let (cfg, save) = crate::tls::client_config(crate::tls::Settings {
            verify: opts.verify,
            trusted,
            client_cert,
            reuse: opts.session,
        })?;
        let conn = ClientConnection::new(cfg, name)
            .map_err(|_| Error::op("failed to create ssl connection"))?;
        Ok(Begin::Fresh(Arc::new(TlsConn::new(conn, save)), check))
    }

    /// The handshake succeeded: checks the name (as OpenResty does after
    /// the handshake, so resumed sessions are checked too); then both halves
    /// speak TLS.
    fn handshake_done(
        &self,
        conn: Arc<TlsConn>,
        check: Option<&ServerName<'_>>,
    ) -> Result<Handshaked> {
        if let Some(name) = check
            && !conn.peer_matches(name)
        {
            self.handshake_failed();
            return Err(Error::op(crate::tls::HOST_MISMATCH));
        }
        let session = Arc::clone(conn.session());
        lock(&self.rd).tls = Some(Arc::clone(&conn));
        lock(&self.wr).tls = Some(conn);
        self.state.end_handshake();
        Ok(Handshaked::Now(session))
    }

    /// A failed handshake closes the connection.
    fn handshake_failed(&self) {
        self.state.set(0);
        self.release_fd(true);
    }

    /// Starts an `sslhandshake` on a loop (its timer: the connect timeout).
    pub fn ssl_handshake_start(
        self: &Arc<Self>,
        lp: &Arc<EventLoop>,
        token: u64,
        opts: HandshakeOpts,
    ) -> Start<Result<Handshaked>> {
        let res = self.ssl_handshake_start_inner(lp, token, opts);
        if let Start::Done(Err(e)) = &res {
            self.keep_error(e);
        }
        res
    }

    fn ssl_handshake_start_inner(
        self: &Arc<Self>,
        lp: &Arc<EventLoop>,
        token: u64,
        opts: HandshakeOpts,
    ) -> Start<Result<Handshaked>> {
        let (conn, check) = match self.handshake_begin(opts) {
            Ok(Begin::Already(s)) => return Start::Done(Ok(Handshaked::Already(s))),
            Ok(Begin::Fresh(c, n)) => (c, n),
            Err(e) => return Start::Done(Err(e)),
        };
        let hs = conn.handshake(self.fd());
        match hs {
            Hs::Done => return Start::Done(self.handshake_done(conn, check.as_ref())),
            Hs::Failed => {
                let e = failure();
                self.handshake_failed();
                return Start::Done(Err(e));
            }
            Hs::Read | Hs::Write => {}
        }
        if let Err(e) = self.watch(self, lp, matches!(hs, Hs::Write)) {
            self.handshake_failed();
            return Start::Done(Err(e));
        }
        let deadline = Instant::now() + self.connect_timeout();
        {
            let mut t = lock(&self.tls);
            t.result = None;
            t.pending = Some(PendingHandshake {
                token,
                deadline,
                conn,
                check,
            });
        }
        lp.arm(self.id(), Slot::Read, deadline);
        Start::Pending
    }

    /// Readiness during an asynchronous handshake.
    pub(super) fn drive_handshake(self: &Arc<Self>, lp: &EventLoop) {
        let (conn, check) = match &lock(&self.tls).pending {
            Some(p) => (Arc::clone(&p.conn), p.check.clone()),
            None => return,
        };
        let res = match conn.handshake(self.fd()) {
            Hs::Read => return,
            // Registered to read so far: writability is needed now.
            Hs::Write => match self.watch_out(self, lp) {
                Ok(()) => return,
                Err(e) => {
                    self.handshake_failed();
                    Err(e)
                }
            },
            Hs::Done => self.handshake_done(conn, check.as_ref()),
            Hs::Failed => {
                let e = failure();
                self.handshake_failed();
                Err(e)
            }
        };
        self.finish_handshake(lp, res);
    }

    /// The handshake's timer fired: time it out, or report the deadline.
    pub(super) fn handshake_timed_out(self: &Arc<Self>, lp: &EventLoop) -> Option<Instant> {
        {
            let t = lock(&self.tls);
            let p = t.pending.as_ref()?;
            if p.deadline > Instant::now() {
                return Some(p.deadline);
            }
        }
        self.handshake_failed();
        self.finish_handshake(lp, Err(Error::TIMEOUT));
        None
    }

    fn finish_handshake(&self, lp: &EventLoop, res: Result<Handshaked>) {
        let token = {
            let mut t = lock(&self.tls);
            let Some(p) = t.pending.take() else { return };
            t.result = Some(res);
            p.token
        };
        lp.complete_op(self.id(), Slot::Read, token);
    }

    /// Fetches a finished asynchronous handshake.
    pub fn take_handshake_result(&self) -> Option<Result<Handshaked>> {
        let res = lock(&self.tls).result.take()?;
        if let Err(e) = &res {
            self.keep_error(e);
        }
        Some(res)
    }

    // ---- the write path over TLS (branches of write.rs) --------------------

    /// Blocking send over TLS; `wr` is held by the caller (see `send`).
    pub(super) fn tls_send(&self, tls: &TlsConn, fd: i32, bufs: &[IoSlice<'_>]) -> Result<usize> {
        self.end_send(tls.send_blocking(fd, bufs, self.send_timeout_ms()))
    }

    /// Asynchronous send over TLS: what rustls does not take now is copied
    /// and offered again as the socket becomes writable.
    pub(super) fn tls_send_start(
        self: &Arc<Self>,
        lp: &Arc<EventLoop>,
        token: u64,
        wr: std::sync::MutexGuard<'_, super::write::Writer>,
        tls: &TlsConn,
        bufs: &[IoSlice<'_>],
        total: usize,
    ) -> Start<Result<usize>> {
        let taken = match tls.send_nb(self.fd(), bufs) {
            Ok((_, true)) => {
                drop(wr);
                self.state.end_write(false);
                return Start::Done(Ok(total));
            }
            Ok((taken, false)) => taken,
            Err(e) => {
                drop(wr);
                self.state.end_write(true);
                return Start::Done(Err(Error::errno(e)));
            }
        };
        self.park_send(lp, token, wr, bufs, taken, total)
    }

    /// Writability during an asynchronous TLS send: Some(result, close the
    /// write half) when it ended.
    pub(super) fn tls_drive_send(
        &self,
        tls: &TlsConn,
        fd: i32,
        p: &mut PendingWrite,
    ) -> Option<(Result<usize>, bool)> {
        match tls.send_nb(fd, &[IoSlice::new(&p.data[p.off..])]) {
            Ok((n, done)) => {
                p.off += n;
                if done {
                    return Some((Ok(p.total), false));
                }
                p.deadline = Instant::now() + Duration::from_millis(self.send_timeout_ms() as u64);
                None
            }
            Err(e) => Some((Err(Error::errno(e)), true)),
        }
    }
}
