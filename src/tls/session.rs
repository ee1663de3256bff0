//! TLS sessions for resumption: OpenResty's `sslhandshake` returns one and
//! takes one back.
//!
//! A session is a live handle: the connection that produced it keeps adding
//! what the server sends for resumption (TLS 1.3 tickets usually arrive just
//! *after* the handshake, with the first response), so a session taken at
//! handshake time becomes resumable once the connection has read anything.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use rustls::NamedGroup;
use rustls::client::{ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::ServerName;

/// TLS 1.3 tickets kept per session (servers usually send two).
const MAX_TICKETS: usize = 8;

#[derive(Default)]
struct Data {
    tls12: Option<Tls12ClientSessionValue>,
    tls13: VecDeque<Tls13ClientSessionValue>,
    kx_hint: Option<NamedGroup>,
}

/// What a later handshake needs to resume a TLS session.
#[derive(Default)]
pub struct SslSession {
    data: Mutex<Data>,
    /// The trusted store and client certificate of the connection that made
    /// it: rustls resumes only under the same objects, so they stay alive.
    _keep: Vec<Arc<dyn std::any::Any + Send + Sync>>,
}

impl fmt::Debug for SslSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SslSession")
            .field("resumable", &self.is_resumable())
            .finish()
    }
}

impl SslSession {
    pub(crate) fn new(keep: Vec<Arc<dyn std::any::Any + Send + Sync>>) -> SslSession {
        SslSession {
            data: Mutex::default(),
            _keep: keep,
        }
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True when it holds a TLS 1.2 session or an unused TLS 1.3 ticket.
    pub fn is_resumable(&self) -> bool {
        let d = self.data();
        d.tls12.is_some() || !d.tls13.is_empty()
    }
}

/// The session store of one handshake: resumes from `reuse` (the caller's
/// session) and records into `save` (the connection's own session).
#[derive(Debug)]
pub(crate) struct ConnStore {
    pub(crate) reuse: Option<Arc<SslSession>>,
    pub(crate) save: Arc<SslSession>,
}

impl ClientSessionStore for ConnStore {
    fn set_kx_hint(&self, _: ServerName<'static>, group: NamedGroup) {
        self.save.data().kx_hint = Some(group);
    }

    fn kx_hint(&self, _: &ServerName<'_>) -> Option<NamedGroup> {
        self.reuse.as_ref().and_then(|s| s.data().kx_hint)
    }

    fn set_tls12_session(&self, _: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.save.data().tls12 = Some(value);
    }

    fn tls12_session(&self, _: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        // A TLS 1.2 session may resume many connections (as with OpenSSL).
        self.reuse.as_ref().and_then(|s| s.data().tls12.clone())
    }

    fn remove_tls12_session(&self, _: &ServerName<'static>) {
        if let Some(s) = &self.reuse {
            s.data().tls12 = None;
        }
    }

    fn insert_tls13_ticket(&self, _: ServerName<'static>, value: Tls13ClientSessionValue) {
        let mut d = self.save.data();
        if d.tls13.len() == MAX_TICKETS {
            d.tls13.pop_front();
        }
        d.tls13.push_back(value);
    }

    fn take_tls13_ticket(&self, _: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        // TLS 1.3 tickets are single-use (RFC 8446 §C.4): the newest goes.
        self.reuse.as_ref().and_then(|s| s.data().tls13.pop_back())
    }
}
