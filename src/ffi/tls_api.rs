//! `cosocket_tcp_sslhandshake` and friends: TLS on a connected socket
//! (OpenResty's `tcpsock:sslhandshake`, `setclientcert`, `settrustedstore`,
//! `getsslsession`), and `cosocket_ssl_session` handles for resumption.

use std::ffi::c_char;
use std::sync::Arc;

use super::guard;
use super::handles::Registry;
use super::plumbing::{bad_handle, bytes, fail, loop_or_return, ok_value, put, sock_or_return};
use super::types::*;
use crate::error::Error;
use crate::tcp::{HandshakeOpts, Handshaked, Start, Tcp};
use crate::tls::{ClientCert, SslSession, parse_trusted_store};

/// An opaque TLS session, for resuming it on a later connection (pass it to
/// `cosocket_tcp_sslhandshake`). Every handle the library returns is a new
/// one that the caller releases with `cosocket_ssl_session_free`; it stays
/// valid after its connection is gone. A session is live while its
/// connection is: TLS 1.3 servers send resumption tickets after the
/// handshake, with their first response, and those are added to it.
pub struct cosocket_ssl_session {
    _private: [u8; 0],
}

/// One handle of a session (each handle the C side gets is its own object,
/// so each can be freed once).
struct SessionHandle(Arc<SslSession>);

static SESSIONS: Registry<SessionHandle> = Registry::new();

fn new_session_handle(s: &Arc<SslSession>) -> *mut cosocket_ssl_session {
    SESSIONS.insert(Arc::new(SessionHandle(Arc::clone(s))))
}

/// Releases a session handle. NULL and freed handles are ignored.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_ssl_session_free(session: *mut cosocket_ssl_session) {
    super::guard_or((), || drop(SESSIONS.remove(session)))
}

/// Whether the session can resume a connection yet (it holds a TLS 1.2
/// session or an unused TLS 1.3 ticket). False for a bad handle.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_ssl_session_resumable(session: *const cosocket_ssl_session) -> bool {
    super::guard_or(false, || {
        SESSIONS.get(session).is_some_and(|h| h.0.is_resumable())
    })
}

/// Decodes the handshake arguments; Err(status) for a bad session handle.
fn handshake_opts(
    session: *const cosocket_ssl_session,
    server_name: *const c_char,
    server_name_len: usize,
    verify: bool,
    out: *mut cosocket_result,
) -> Result<HandshakeOpts, cosocket_status> {
    let session = if session.is_null() {
        None
    } else {
        match SESSIONS.get(session) {
            Some(h) => Some(Arc::clone(&h.0)),
            None => return Err(bad_handle(session, "invalid session handle", out)),
        }
    };
    // SAFETY: server_name points at server_name_len bytes (or is NULL).
    let name = unsafe { bytes(server_name.cast(), server_name_len) }
        .filter(|n| !n.is_empty())
        .map(<[u8]>::to_vec);
    Ok(HandshakeOpts {
        session,
        server_name: if server_name.is_null() { None } else { name },
        verify,
        ocsp_status_req: false,
    })
}

/// Reports a successful handshake: `result.value` 1 (done now) or 2 (the
/// connection was TLS already), and the session when asked for.
fn handshaked(
    h: &Handshaked,
    passed_session: bool,
    want_session: bool,
    out_session: *mut *mut cosocket_ssl_session,
    out: *mut cosocket_result,
) -> cosocket_status {
    let (value, give) = match h {
        Handshaked::Now(_) => (1, want_session),
        // OpenResty returns the caller's own session then.
        Handshaked::Already(_) => (2, want_session && !passed_session),
    };
    let s = if give && !out_session.is_null() {
        new_session_handle(h.session())
    } else {
        std::ptr::null_mut()
    };
    put(out_session, s);
    ok_value(out, value)
}

/// `sslhandshake(reused_session, server_name, ssl_verify)` (blocking, bounded
/// by the socket's *connect* timeout). The socket must be connected.
///
/// - `session`: a session to resume (NULL: a full handshake).
/// - `server_name`/`len`: SNI, and with `verify` the name the certificate
///   must match (NULL or empty: no SNI, no name check; an IP address is
///   checked against the certificate's IP addresses and sent without SNI).
/// - `verify`: verify the certificate chain against the trusted store set
///   with `cosocket_tcp_settrustedstore`, else the system's
///   (/etc/ssl/certs/ca-certificates.crt on Debian; `SSL_CERT_FILE` and
///   `SSL_CERT_DIR` override).
/// - `want_session`: write a new session handle into `*out_session` (NULL
///   otherwise; `out_session` itself may be NULL).
///
/// OK: `result.value` is 1, or 2 when the connection was TLS already (e.g.
/// reused from the pool): then nothing is done, and no session handle is
/// written if `session` was passed (OpenResty returns the caller's own).
/// ERROR: "closed", "socket busy connecting/reading/writing" (the
/// connection stays as it was); "timeout", "handshake failed",
/// "certificate host mismatch", "N: <OpenSSL verify text>" (e.g. "20:
/// unable to get local issuer certificate", "18: self-signed certificate",
/// "10: certificate has expired"): the connection is closed. During the
/// handshake other calls get "socket busy connecting".
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_sslhandshake(
    sock: *mut super::tcp_api::cosocket_tcp,
    session: *const cosocket_ssl_session,
    server_name: *const c_char,
    server_name_len: usize,
    verify: bool,
    want_session: bool,
    out_session: *mut *mut cosocket_ssl_session,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let t = sock_or_return!(sock, out);
        let opts = match handshake_opts(session, server_name, server_name_len, verify, out) {
            Ok(o) => o,
            Err(st) => return st,
        };
        let passed = opts.session.is_some();
        match t.ssl_handshake(opts) {
            Ok(h) => handshaked(&h, passed, want_session, out_session, out),
            Err(e) => fail(Some(&t), out, &e),
        }
    })
}

/// Starts an `sslhandshake` on `lp` (arguments as for
/// `cosocket_tcp_sslhandshake`). OK/ERROR: finished now, as the blocking
/// call. AGAIN: `token` will come out of `cosocket_loop_wait`; then call
/// `cosocket_tcp_result` with `COSOCKET_OP_HANDSHAKE` (value 1 or 2 as
/// above) and, for the session, `cosocket_tcp_getsslsession`.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_sslhandshake_async(
    sock: *mut super::tcp_api::cosocket_tcp,
    lp: *mut super::loop_api::cosocket_loop,
    token: u64,
    session: *const cosocket_ssl_session,
    server_name: *const c_char,
    server_name_len: usize,
    verify: bool,
    want_session: bool,
    out_session: *mut *mut cosocket_ssl_session,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let t = sock_or_return!(sock, out);
        let l = loop_or_return!(lp, out);
        let opts = match handshake_opts(session, server_name, server_name_len, verify, out) {
            Ok(o) => o,
            Err(st) => return st,
        };
        let passed = opts.session.is_some();
        match t.ssl_handshake_start(&l, token, opts) {
            Start::Done(Ok(h)) => handshaked(&h, passed, want_session, out_session, out),
            Start::Done(Err(e)) => fail(Some(&t), out, &e),
            Start::Pending => cosocket_status::Again,
        }
    })
}

/// `cosocket_tcp_result` for `COSOCKET_OP_HANDSHAKE`.
pub(super) fn handshake_result(t: &Tcp, out: *mut cosocket_result) -> cosocket_status {
    match t.take_handshake_result() {
        Some(Ok(Handshaked::Now(_))) => ok_value(out, 1),
        Some(Ok(Handshaked::Already(_))) => ok_value(out, 2),
        Some(Err(e)) => fail(Some(t), out, &e),
        None => cosocket_status::NoResult,
    }
}

/// The connection's TLS session (OpenResty's `getsslsession`), as a new
/// handle in `*out_session`. ERROR "closed" when not connected, "no session"
/// on a plain connection.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_getsslsession(
    sock: *mut super::tcp_api::cosocket_tcp,
    out_session: *mut *mut cosocket_ssl_session,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let t = sock_or_return!(sock, out);
        if out_session.is_null() {
            fail(Some(&t), out, &Error::arg("NULL out_session"));
            return cosocket_status::NullParameter;
        }
        match t.ssl_session() {
            Ok(s) => {
                put(out_session, new_session_handle(&s));
                ok_value(out, 1)
            }
            Err(e) => fail(Some(&t), out, &e),
        }
    })
}

/// `result.value` 1 if the connection's TLS handshake resumed a session,
/// 0 if it was a full handshake. ERROR "closed" / "no session" as above.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_sslresumed(
    sock: *mut super::tcp_api::cosocket_tcp,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let t = sock_or_return!(sock, out);
        if let Err(e) = t.ssl_session() {
            return fail(Some(&t), out, &e);
        }
        ok_value(out, i64::from(t.tls_resumed().unwrap_or(false)))
    })
}

/// `setclientcert(cert, key)`: the client certificate chain (PEM, leaf
/// first) and its private key (PEM: PKCS#8, PKCS#1 or SEC1) that later
/// handshakes of this socket present when the server asks. Both NULL (or
/// empty) clears them. Kept across connections.
///
/// ERROR "client certificate must be supplied with corresponding private
/// key" when only one is given, "invalid client certificate chain" when no
/// certificate parses, "ssl set client private key failed" when the key does
/// not parse or does not match the certificate.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_setclientcert(
    sock: *mut super::tcp_api::cosocket_tcp,
    cert_pem: *const c_char,
    cert_len: usize,
    key_pem: *const c_char,
    key_len: usize,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let t = sock_or_return!(sock, out);
        // SAFETY: each pointer addresses its length in bytes (or is NULL).
        let cert = unsafe { bytes(cert_pem.cast(), cert_len) }.filter(|c| !c.is_empty());
        // SAFETY: as above.
        let key = unsafe { bytes(key_pem.cast(), key_len) }.filter(|k| !k.is_empty());
        match (cert, key) {
            (None, None) => {
                t.set_client_cert(None);
                ok_value(out, 1)
            }
            (Some(c), Some(k)) => match ClientCert::from_pem(c, k) {
                Ok(cc) => {
                    t.set_client_cert(Some(cc));
                    ok_value(out, 1)
                }
                Err(e) => fail(Some(&t), out, &e),
            },
            _ => fail(
                Some(&t),
                out,
                &Error::op("client certificate must be supplied with corresponding private key"),
            ),
        }
    })
}

/// `settrustedstore(store)`: the CA certificates (PEM, one or more) that the
/// next `sslhandshake` with `verify` trusts instead of the system store;
/// NULL/empty: back to the system store. As in OpenResty it applies to the
/// next handshake of the current connection only, needs a connection
/// (ERROR "closed") and fails once the connection is TLS ("ssl handshake
/// already done; trusted store cannot be changed on an established TLS
/// connection"). ERROR "invalid trusted store" when no certificate parses.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_settrustedstore(
    sock: *mut super::tcp_api::cosocket_tcp,
    pem: *const c_char,
    len: usize,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let t = sock_or_return!(sock, out);
        // SAFETY: pem addresses len bytes (or is NULL).
        let store = match unsafe { bytes(pem.cast(), len) }.filter(|p| !p.is_empty()) {
            None => None,
            Some(p) => match parse_trusted_store(p) {
                Ok(s) => Some(s),
                Err(e) => return fail(Some(&t), out, &e),
            },
        };
        match t.set_trusted_store(store) {
            Ok(()) => ok_value(out, 1),
            Err(e) => fail(Some(&t), out, &e),
        }
    })
}
