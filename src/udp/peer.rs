//! `setpeername` and `bind`: target parsing (nginx `ngx_parse_url` rules for
//! UDP), name resolution off-thread, socket creation, unix autobind, the
//! local bind, connect(2).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use super::state::{BROKEN, OPEN};
use super::{Start, Udp, lock, sys};
use crate::error::{Error, Result};
use crate::event_loop::EventLoop;
use crate::tcp::{Target, is_unix, resolve};

fn parse_failed(host: &[u8], why: &str) -> Error {
    Error::op_owned(format!(
        "failed to parse host name \"{}\": {why}",
        String::from_utf8_lossy(host)
    ))
}

/// nginx's `ngx_atoi` for a port: digits only, 1..=65535.
fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse::<u16>().ok().filter(|&n| n > 0)
}

/// Parses a `setpeername` host as nginx's `ngx_parse_url(no_resolve)` does:
/// `unix:/path`, `[v6]` (optionally `[v6]:port`), `host` or `host:port`
/// (the embedded port wins). A bare IPv6 address is *not* accepted (nginx
/// reads what follows its first colon as a port: `invalid port`). `port`
/// is the default (0 when absent).
pub fn parse(host: &[u8], port: u16) -> Result<Target> {
    if is_unix(host) {
        let path = &host[5..];
        if path.is_empty() {
            return Err(parse_failed(host, "no path in the unix domain socket"));
        }
        return Ok(Target::Unix(path.to_vec()));
    }
    let text = std::str::from_utf8(host).map_err(|_| parse_failed(host, "invalid host"))?;
    if let Some(rest) = text.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return Err(parse_failed(host, "invalid host"));
        };
        let ip: Ipv6Addr = rest[..end]
            .parse()
            .map_err(|_| parse_failed(host, "invalid IPv6 address"))?;
        let port = match &rest[end + 1..] {
            "" => port,
            p => match p.strip_prefix(':') {
                Some(p) => parse_port(p).ok_or_else(|| parse_failed(host, "invalid port"))?,
                None => return Err(parse_failed(host, "invalid host")),
            },
        };
        return Ok(Target::Addr(SocketAddr::new(IpAddr::V6(ip), port)));
    }
    let (name, port) = match text.find(':') {
        Some(i) => (
            &text[..i],
            parse_port(&text[i + 1..]).ok_or_else(|| parse_failed(host, "invalid port"))?,
        ),
        None => (text, port),
    };
    if name.contains('/') {
        return Err(parse_failed(host, "invalid host"));
    }
    if name.is_empty() {
        return Err(parse_failed(host, "no host"));
    }
    if let Ok(ip) = name.parse::<std::net::Ipv4Addr>() {
        return Ok(Target::Addr(SocketAddr::new(IpAddr::V4(ip), port)));
    }
    if name.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(parse_failed(host, "invalid host"));
    }
    Ok(Target::Name(name.to_string(), port))
}

/// The resolver's answer when it does not finish in time (nginx's text).
fn resolve_timed_out(name: &str) -> Error {
    Error::op_owned(format!(
        "{name} could not be resolved (110: Operation timed out)"
    ))
}

/// Resolves on the runtime's blocking pool; the caller waits at most until
/// `deadline`. nginx picks a random address of the answer; we take the
/// resolver's first (getaddrinfo's preference order).
fn resolve_blocking(name: String, port: u16, deadline: Instant) -> Result<SocketAddr> {
    let (tx, rx) = std::sync::mpsc::channel();
    let n = name.clone();
    crate::runtime::handle().spawn_blocking(move || {
        let _ = tx.send(resolve(&n, port));
    });
    let left = deadline.saturating_duration_since(Instant::now());
    match rx.recv_timeout(left) {
        Ok(r) => r.map(|v| v[0]),
        Err(_) => Err(resolve_timed_out(&name)),
    }
}

/// What `setpeername` connects to, once resolved.
enum Resolved {
    Now(sys::RawAddr),
    Name(String, u16),
}

/// An async `setpeername` waiting for its name.
pub(super) struct PendingPeer {
    token: u64,
    generation: u64,
    /// The runtime timer that ends the resolution at the read timeout.
    timer: Option<tokio::task::AbortHandle>,
}

impl Drop for PendingPeer {
    fn drop(&mut self) {
        if let Some(t) = self.timer.take() {
            t.abort();
        }
    }
}

impl Udp {
    /// Stores the local address for the next `setpeername` (OpenResty's
    /// `bind`, which takes an IP address only; `port` 0 = any, an extension).
    /// Errors with `bad address` when `ip` is not an IPv4/IPv6 literal.
    pub fn bind(&self, ip: &[u8], port: u16) -> Result<()> {
        let ip: IpAddr = std::str::from_utf8(ip)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(Error::op("bad address"))?;
        lock(&self.meta).local = Some(SocketAddr::new(ip, port));
        Ok(())
    }

    /// Common start: busy check, closes the old socket, parses the target.
    fn peer_begin(&self, host: &[u8], port: Option<u16>) -> Result<Resolved> {
        let old = self.state.begin_peer()?;
        if old & OPEN != 0 {
            self.release_fd();
        }
        let target = match parse(host, port.unwrap_or(0)) {
            Ok(t) => t,
            Err(e) => {
                self.state.set(0);
                return Err(e);
            }
        };
        match target {
            Target::Unix(p) => match sys::RawAddr::unix(&p) {
                Ok(a) => Ok(Resolved::Now(a)),
                Err(e) => {
                    self.state.set(0);
                    Err(Error::errno(e))
                }
            },
            Target::Addr(a) => Ok(Resolved::Now(sys::RawAddr::inet(&a))),
            Target::Name(n, p) => Ok(Resolved::Name(n, p)),
        }
    }

    /// Creates, binds and connects the socket; sets the final state.
    fn peer_open(&self, peer: &sys::RawAddr) -> Result<()> {
        let local = lock(&self.meta).local.map(|a| sys::RawAddr::inet(&a));
        match sys::open(peer, local.as_ref()) {
            Ok(fd) => {
                self.install(fd);
                self.state.set(OPEN);
                Ok(())
            }
            Err((Some(fd), e)) => {
                // nginx keeps the half-made socket: send reports the kernel's
                // error, close returns 1 (and receive, which crashes nginx,
                // reports "transport endpoint is not connected").
                self.install(fd);
                self.state.set(OPEN | BROKEN);
                Err(Error::errno(e))
            }
            Err((None, e)) => {
                self.state.set(0);
                Err(Error::errno(e))
            }
        }
    }

    fn install(&self, fd: i32) {
        lock(&self.rd).reset();
        self.fd.store(fd, std::sync::atomic::Ordering::Release);
    }

    /// Blocking `setpeername`: `port` None = absent (0 for IP hosts, unused
    /// for `unix:`). A connected socket is closed first. A host name is
    /// resolved by the system resolver within the read timeout.
    pub fn setpeername(&self, host: &[u8], port: Option<u16>) -> Result<()> {
        let res = match self.peer_begin(host, port) {
            Ok(Resolved::Now(a)) => self.peer_open(&a),
            Ok(Resolved::Name(n, p)) => {
                let deadline = super::deadline(self.read_timeout_ms());
                match resolve_blocking(n, p, deadline) {
                    Ok(a) => self.peer_open(&sys::RawAddr::inet(&a)),
                    Err(e) => {
                        self.state.set(0);
                        Err(e)
                    }
                }
            }
            Err(e) => Err(e),
        };
        if let Err(e) = &res {
            self.keep_error(e);
        }
        res
    }

    /// `setpeername` on a loop: finishes at once for addresses and unix
    /// paths; a host name is resolved on the runtime and the operation's
    /// token comes out of the loop's wait (then [`Udp::take_peer_result`]).
    pub fn setpeername_start(
        self: &Arc<Self>,
        lp: &Arc<EventLoop>,
        token: u64,
        host: &[u8],
        port: Option<u16>,
    ) -> Start<Result<()>> {
        let res = match self.peer_begin(host, port) {
            Ok(Resolved::Now(a)) => self.peer_open(&a),
            Ok(Resolved::Name(name, p)) => {
                let generation = {
                    let mut m = lock(&self.meta);
                    m.generation += 1;
                    m.peer = Some(PendingPeer {
                        token,
                        generation: m.generation,
                        timer: None,
                    });
                    m.peer_result = None;
                    m.generation
                };
                let rt = crate::runtime::handle();
                // The read timeout bounds the resolution (nginx: resolver_timeout):
                // a runtime timer posts the timeout to the loop, off the hot path.
                let weak_me = Arc::downgrade(self);
                let weak = lp.weak();
                let (n, ms) = (name.clone(), self.read_timeout_ms());
                // Both tasks post back with no armed loop timer: keep the
                // loop's solo path (a blocking recv a post cannot wake) off
                // until each has posted or been aborted.
                let busy = lp.outside_work();
                let timer = rt.spawn(async move {
                    let _busy = busy;
                    let ms = ms.clamp(1, u32::MAX as i64) as u64;
                    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                    if let (Some(me), Some(lp)) = (weak_me.upgrade(), weak.upgrade()) {
                        lp.post(Box::new(move |lp: &EventLoop| {
                            me.on_resolved(lp, generation, Err(resolve_timed_out(&n)))
                        }));
                    }
                });
                match lock(&self.meta).peer.as_mut() {
                    Some(pp) if pp.generation == generation => {
                        pp.timer = Some(timer.abort_handle())
                    }
                    _ => timer.abort(),
                }
                let me = Arc::clone(self);
                let weak = lp.weak();
                let busy = lp.outside_work();
                rt.spawn_blocking(move || {
                    let res = resolve(&name, p).map(|v| v[0]);
                    if let Some(lp) = weak.upgrade() {
                        lp.post(Box::new(move |lp: &EventLoop| {
                            me.on_resolved(lp, generation, res)
                        }));
                    }
                    drop(busy); // after the post: its wake-up is pending now
                });
                return Start::Pending;
            }
            Err(e) => Err(e),
        };
        if let Err(e) = &res {
            self.keep_error(e);
        }
        Start::Done(res)
    }

    fn on_resolved(&self, lp: &EventLoop, generation: u64, res: Result<SocketAddr>) {
        let token = {
            let mut m = lock(&self.meta);
            match &m.peer {
                Some(p) if p.generation == generation => {}
                _ => return,
            }
            m.peer.take().map(|p| p.token)
        };
        let Some(token) = token else { return };
        let res = match res {
            Ok(a) => self.peer_open(&sys::RawAddr::inet(&a)),
            Err(e) => {
                self.state.set(0);
                Err(e)
            }
        };
        {
            let mut m = lock(&self.meta);
            if let Err(e) = &res {
                m.last_error = Some(e.clone());
            }
            m.peer_result = Some(res);
        }
        lp.complete(token);
    }

    /// Fetches a finished async `setpeername`.
    pub fn take_peer_result(&self) -> Option<Result<()>> {
        lock(&self.meta).peer_result.take()
    }

    /// Forgets a pending async `setpeername` (abort).
    pub(super) fn cancel_peer(&self) {
        let mut m = lock(&self.meta);
        m.generation += 1;
        m.peer = None;
        m.peer_result = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(host: &str) -> String {
        parse(host.as_bytes(), 53).unwrap_err().as_str().to_string()
    }

    #[test]
    fn parses_like_ngx_parse_url() {
        assert_eq!(
            parse(b"127.0.0.1", 53).unwrap(),
            Target::Addr("127.0.0.1:53".parse().unwrap())
        );
        assert_eq!(
            parse(b"[::1]", 53).unwrap(),
            Target::Addr("[::1]:53".parse().unwrap())
        );
        assert_eq!(
            parse(b"[::1]:54", 53).unwrap(),
            Target::Addr("[::1]:54".parse().unwrap())
        );
        assert_eq!(
            parse(b"127.0.0.1:5353", 53).unwrap(),
            Target::Addr("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(
            parse(b"unix:/tmp/d.sock", 0).unwrap(),
            Target::Unix(b"/tmp/d.sock".to_vec())
        );
        assert_eq!(
            parse(b"localhost", 0).unwrap(),
            Target::Name("localhost".into(), 0)
        );
        assert_eq!(
            parse(b"127.0.0.256", 1).unwrap(),
            Target::Name("127.0.0.256".into(), 1)
        );
        assert_eq!(
            err("::1"),
            "failed to parse host name \"::1\": invalid port"
        );
        assert_eq!(err(""), "failed to parse host name \"\": no host");
        assert_eq!(err(":53"), "failed to parse host name \":53\": no host");
        assert_eq!(
            err("unix:"),
            "failed to parse host name \"unix:\": no path in the unix domain socket"
        );
        assert_eq!(
            err("a:0"),
            "failed to parse host name \"a:0\": invalid port"
        );
        assert_eq!(
            err("[::1"),
            "failed to parse host name \"[::1\": invalid host"
        );
        assert_eq!(
            err("[zz]"),
            "failed to parse host name \"[zz]\": invalid IPv6 address"
        );
    }
}
