//! Connecting: target parsing, name resolution off-thread, every address
//! tried in order within the connect timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::addr::{self, Target};
use super::{Slot, Start, Tcp, lock, state, sys};
use crate::error::{Error, Result};
use crate::event_loop::EventLoop;
use crate::pool::{self, Acquired, Grant, PoolKey};

/// Connect options (OpenResty's `pool`, `pool_size`, `backlog`).
#[derive(Clone, Debug, Default)]
pub struct ConnectOpts {
    /// Custom pool name; None = `host:port` / the unix path as passed.
    pub pool: Option<String>,
    pub pool_size: Option<u32>,
    pub backlog: Option<u32>,
}

/// One address to try.
#[derive(Clone, Debug)]
enum Dest {
    Inet(SocketAddr),
    Unix(Vec<u8>),
}

pub(super) struct PendingConnect {
    token: u64,
    deadline: Instant,
    dests: Vec<Dest>,
    next: usize,
    last_err: Option<Error>,
    generation: u64,
    /// Waiting in the pool's backlog queue (waiter id).
    waiting: Option<u64>,
    host: Vec<u8>,
    port: Option<u16>,
}

impl PendingConnect {
    pub(super) fn waiting(&self) -> Option<u64> {
        self.waiting
    }
}

/// The default pool key: `host:port` exactly as passed, or the unix path.
/// A thread connecting to the same host and port as its previous default
/// key gets that key back after comparing the arguments: no formatting,
/// no UTF-8 check, no hash.
pub fn default_pool_key(host: &[u8], port: Option<u16>) -> PoolKey {
    let cached = LAST_DEFAULT.try_with(|c| {
        let mut c = c.try_borrow_mut().ok()?;
        let (last_host, last_port, last) = &mut *c;
        if let Some(k) = last
            && *last_port == port
            && last_host.as_slice() == host
        {
            return Some(k.clone());
        }
        let k = intern(|s| write_default_key(s, host, port));
        last_host.clear();
        last_host.extend_from_slice(host);
        *last_port = port;
        *last = Some(k.clone());
        Some(k)
    });
    cached
        .ok()
        .flatten()
        .unwrap_or_else(|| intern(|s| write_default_key(s, host, port)))
}

/// Writes `host:port` (host as passed, lossily as UTF-8) without the fmt
/// machinery.
fn write_default_key(s: &mut String, host: &[u8], port: Option<u16>) {
    match std::str::from_utf8(host) {
        Ok(h) => s.push_str(h),
        Err(_) => s.push_str(&String::from_utf8_lossy(host)),
    }
    if let Some(mut p) = port {
        s.push(':');
        let mut digits = [0u8; 5];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (p % 10) as u8;
            p /= 10;
            if p == 0 {
                break;
            }
        }
        s.extend(digits[i..].iter().map(|&d| d as char));
    }
}

type LastDefault = (Vec<u8>, Option<u16>, Option<PoolKey>);

thread_local! {
    /// The last pool key built on this thread, and scratch room to build the
    /// next one: a program connecting to the same pool again gets the key
    /// (its name and hash) without an allocation or a hash.
    static LAST_KEY: std::cell::RefCell<(String, Option<PoolKey>)> =
        const { std::cell::RefCell::new((String::new(), None)) };
    /// The arguments of the last default key made on this thread, and the key.
    static LAST_DEFAULT: std::cell::RefCell<LastDefault> =
        const { std::cell::RefCell::new((Vec::new(), None, None)) };
}

/// The key whose name `build` writes, reusing this thread's last one when equal.
fn intern(build: impl Fn(&mut String)) -> PoolKey {
    let cached = LAST_KEY.try_with(|c| {
        let mut c = c.try_borrow_mut().ok()?;
        let (scratch, last) = &mut *c;
        scratch.clear();
        build(scratch);
        match last {
            Some(k) if k.as_str() == scratch.as_str() => Some(k.clone()),
            _ => {
                let k = PoolKey::new(scratch);
                *last = Some(k.clone());
                Some(k)
            }
        }
    });
    cached.ok().flatten().unwrap_or_else(|| {
        let mut s = String::new();
        build(&mut s);
        PoolKey::new(&s)
    })
}

fn dests_of(target: Target) -> std::result::Result<Vec<Dest>, (String, u16)> {
    match target {
        Target::Unix(p) => Ok(vec![Dest::Unix(p)]),
        Target::Addr(a) => Ok(vec![Dest::Inet(a)]),
        Target::Name(n, p) => Err((n, p)),
    }
}

/// Opens a non-blocking socket for `dest` (bound to `local` first, for TCP)
/// and starts connecting: Ok((fd, connected_now)). The fd stays
/// non-blocking (async operations use MSG_DONTWAIT anyway; a blocking call
/// switches it when it first needs to).
fn open(dest: &Dest, local: Option<SocketAddr>) -> std::result::Result<(i32, bool), i32> {
    let raw = match dest {
        Dest::Inet(a) => sys::RawAddr::inet(a),
        Dest::Unix(p) => sys::RawAddr::unix(p)?,
    };
    let fd = sys::socket(raw.family(), true)?;
    if let (Dest::Inet(_), Some(local)) = (dest, local)
        && let Err(e) = sys::bind(fd, &sys::RawAddr::inet(&local))
    {
        sys::close(fd);
        return Err(e);
    }
    match sys::connect_start(fd, &raw) {
        Ok(true) => Ok((fd, true)),
        // A loopback handshake has usually finished by the time connect(2)
        // returns EINPROGRESS: one poll(0) spares registering the fd and an
        // epoll_wait for it. Not finished, or failed: the usual way, so
        // errors and timeouts are reported exactly as before.
        Ok(false) => Ok((fd, is_loopback(dest) && sys::connected_now(fd))),
        Err(e) => {
            sys::close(fd);
            Err(e)
        }
    }
}

/// A TCP destination on this host's loopback (127.0.0.0/8, ::1).
fn is_loopback(dest: &Dest) -> bool {
    matches!(dest, Dest::Inet(a) if a.ip().is_loopback())
}

fn resolve_blocking(name: String, port: u16, deadline: Instant) -> Result<Vec<SocketAddr>> {
    let (tx, rx) = std::sync::mpsc::channel();
    crate::runtime::handle().spawn_blocking(move || {
        let _ = tx.send(addr::resolve(&name, port));
    });
    let left = deadline.saturating_duration_since(Instant::now());
    rx.recv_timeout(left).unwrap_or(Err(Error::TIMEOUT))
}

/// A name still to resolve, or the addresses to try.
type Targets = std::result::Result<Vec<Dest>, (String, u16)>;

impl Tcp {
    /// Common start of both connect styles: argument checks, busy checks,
    /// closing a previous connection. Returns the pool key.
    fn connect_begin(&self, host: &[u8], port: Option<u16>, opts: &ConnectOpts) -> Result<PoolKey> {
        let unix = addr::is_unix(host);
        if !unix && port.is_none() {
            return Err(Error::op("missing the port number"));
        }
        let key = match &opts.pool {
            Some(k) => intern(|s| s.push_str(k)),
            None => default_pool_key(host, port),
        };
        let old = self.state.begin_connect(true)?;
        if old & state::OPEN != 0 {
            // A connected object is closed (not pooled) before connecting again.
            let fd = self.fd.swap(-1, std::sync::atomic::Ordering::AcqRel);
            self.unwatch(true);
            sys::close(fd);
            self.release_pool_slot();
        }
        lock(&self.rd).reset();
        lock(&self.wr).reset();
        // Here, not at install: a FIN reported with the connect's own event
        // (the peer accepted, spoke and closed at once) must survive it.
        self.hung_up
            .store(false, std::sync::atomic::Ordering::Release);
        {
            let mut m = lock(&self.meta);
            self.renew_id(&mut m);
            m.pool_key = Some(key.clone());
            m.reused = 0;
            m.unix = unix;
            m.counted = false;
            m.connect_result = None;
        }
        Ok(key)
    }

    /// Parses the target (after the pool had nothing to hand out).
    fn targets(&self, host: &[u8], port: Option<u16>) -> Result<Targets> {
        let unix = addr::is_unix(host);
        addr::parse(host, if unix { None } else { port }).map(dests_of)
    }

    /// A connect that did not produce a connection: back to closed, and the
    /// pool slot it held (if any) is released.
    fn connect_failed(&self) {
        self.state.set(0);
        self.release_pool_slot();
        // An async connect may have left the loop holding this socket.
        self.unwatch(false);
    }

    /// Blocking connect. `port` is ignored for `unix:` hosts (but is part of
    /// the default pool key, as in OpenResty).
    pub fn connect(&self, host: &[u8], port: Option<u16>, opts: &ConnectOpts) -> Result<()> {
        let res = self.connect_blocking(host, port, opts);
        if let Err(e) = &res {
            self.keep_error(e);
        }
        res
    }

    fn connect_blocking(&self, host: &[u8], port: Option<u16>, opts: &ConnectOpts) -> Result<()> {
        let key = self.connect_begin(host, port, opts)?;
        let deadline = Instant::now() + self.connect_timeout();
        match pool::acquire_blocking(&key, opts.pool_size, opts.backlog, deadline) {
            Ok(Some(Grant::Idle(conn))) => {
                self.install_pooled(conn);
                return Ok(());
            }
            Ok(Some(Grant::Slot)) => lock(&self.meta).counted = true,
            Ok(None) => {}
            Err(e) => {
                self.state.set(0);
                return Err(e);
            }
        }
        let dests = match self.targets(host, port) {
            Ok(Ok(d)) => d,
            Ok(Err((name, port))) => match resolve_blocking(name, port, deadline) {
                Ok(addrs) => addrs.into_iter().map(Dest::Inet).collect(),
                Err(e) => {
                    self.connect_failed();
                    return Err(e);
                }
            },
            Err(e) => {
                self.connect_failed();
                return Err(e);
            }
        };
        self.state.resolved();
        let mut last = Error::CLOSED;
        for dest in &dests {
            match self.connect_one_blocking(dest, deadline) {
                Ok((fd, sndtimeo)) => {
                    self.install(fd, matches!(dest, Dest::Unix(_)), false, sndtimeo);
                    return Ok(());
                }
                Err(e) => {
                    let timeout = e.is_timeout();
                    last = e;
                    if timeout {
                        break;
                    }
                }
            }
        }
        self.connect_failed();
        Err(last)
    }

    /// A blocking connect on the caller's thread: a plain connect(2) bounded
    /// by SO_SNDTIMEO (Linux ends it with EINPROGRESS when that expires):
    /// socket, setsockopt, connect, against 8 syscalls for a non-blocking
    /// connect + poll + SO_ERROR + switching the fd mode back and forth.
    /// Returns the fd and the SO_SNDTIMEO left set on it (ms).
    fn connect_one_blocking(&self, dest: &Dest, deadline: Instant) -> Result<(i32, u32)> {
        let local = lock(&self.meta).bind;
        let raw = match dest {
            Dest::Inet(a) => sys::RawAddr::inet(a),
            Dest::Unix(p) => sys::RawAddr::unix(p).map_err(Error::errno)?,
        };
        let fd = sys::socket(raw.family(), false).map_err(Error::errno)?;
        let fail = |e: Error| {
            sys::close(fd);
            Err(e)
        };
        if let (Dest::Inet(_), Some(local)) = (dest, local)
            && let Err(e) = sys::bind(fd, &sys::RawAddr::inet(&local))
        {
            return fail(Error::errno(e));
        }
        // Rounded up: when the connect starts within a millisecond of the
        // call (an address literal, no backlog wait), this is exactly the
        // connect timeout, and a send timeout equal to it (the default: both
        // 60 s) finds SO_SNDTIMEO already set.
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = left.as_micros().div_ceil(1000).clamp(1, u32::MAX as u128) as u32;
        if let Err(e) = sys::set_io_timeout(fd, libc::SO_SNDTIMEO, ms) {
            return fail(Error::errno(e));
        }
        match sys::connect_blocking(fd, &raw) {
            Ok(()) => Ok((fd, ms)),
            Err(libc::EINPROGRESS | libc::EAGAIN) => fail(Error::TIMEOUT),
            Err(libc::EINTR) => {
                // Interrupted: the handshake goes on; wait for it the long way.
                let left = deadline.saturating_duration_since(Instant::now());
                let res = match sys::poll_one(fd, libc::POLLOUT, Some(left)) {
                    Ok(true) => sys::connect_finish(fd).map_err(Error::errno),
                    Ok(false) => Err(Error::TIMEOUT),
                    Err(e) => Err(Error::errno(e)),
                };
                match res {
                    Ok(()) => Ok((fd, ms)),
                    Err(e) => fail(e),
                }
            }
            Err(e) => fail(Error::errno(e)),
        }
    }

    /// Makes `fd` this socket's connection. `nonblocking`: the fd's mode;
    /// `sndtimeo`: SO_SNDTIMEO as set on it (ms, 0 = never set).
    pub(super) fn install(&self, fd: i32, unix: bool, nonblocking: bool, sndtimeo: u32) {
        lock(&self.rd).reset();
        self.maybe_readable
            .store(true, std::sync::atomic::Ordering::Release);
        {
            let mut wr = lock(&self.wr);
            wr.reset();
            wr.unix = unix;
            wr.set_kernel_timeout(sndtimeo);
        }
        self.nonblock
            .store(nonblocking, std::sync::atomic::Ordering::Release);
        self.fd.store(fd, std::sync::atomic::Ordering::Release);
        self.state.set(state::OPEN);
    }

    /// Starts a connect on a loop.
    pub fn connect_start(
        self: &Arc<Self>,
        lp: &Arc<EventLoop>,
        token: u64,
        host: &[u8],
        port: Option<u16>,
        opts: &ConnectOpts,
    ) -> Start<Result<()>> {
        let key = match self.connect_begin(host, port, opts) {
            Ok(k) => k,
            Err(e) => {
                self.keep_error(&e);
                return Start::Done(Err(e));
            }
        };
        let deadline = Instant::now() + self.connect_timeout();
        let generation = {
            let mut m = lock(&self.meta);
            // Unique per connect attempt, so that a late resolution or pool
            // grant of an aborted or timed-out attempt is never taken for a
            // later one (a per-socket "previous + 1" restarted at 1).
            static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);
            let generation = NEXT_GENERATION.fetch_add(1, Ordering::Relaxed);
            m.connect = Some(PendingConnect {
                token,
                deadline,
                dests: Vec::new(),
                next: 0,
                last_err: None,
                generation,
                waiting: None,
                host: host.to_vec(),
                port,
            });
            generation
        };
        let me = Arc::clone(self);
        let weak = Arc::downgrade(lp);
        let notify = move || -> pool::Notify {
            Box::new(move |grant: Grant| match weak.upgrade() {
                Some(lp) => lp.post(Box::new(move |lp: &EventLoop| {
                    me.on_pool_grant(lp, generation, grant)
                })),
                None => {
                    let key = lock(&me.meta).pool_key.clone().unwrap_or_default();
                    pool::give_back(&key, grant);
                }
            })
        };
        let started = match pool::acquire(&key, opts.pool_size, opts.backlog, notify) {
            Ok(Acquired::Now(Grant::Idle(conn))) => {
                lock(&self.meta).connect = None;
                self.install_pooled(conn);
                return Start::Done(Ok(()));
            }
            Ok(Acquired::Now(Grant::Slot)) => {
                lock(&self.meta).counted = true;
                self.continue_connect(lp)
            }
            Ok(Acquired::Unpooled) => self.continue_connect(lp),
            Ok(Acquired::Queued(id)) => {
                if let Some(c) = lock(&self.meta).connect.as_mut() {
                    c.waiting = Some(id);
                }
                None
            }
            Err(e) => Some(Err(e)),
        };
        match started {
            Some(res) => {
                lock(&self.meta).connect = None;
                if let Err(e) = &res {
                    self.connect_failed();
                    self.keep_error(e);
                }
                Start::Done(res)
            }
            None => {
                // The timer must find the socket even while the name resolves.
                self.hold_on(self, lp);
                lp.arm(self.id(), Slot::Read, deadline);
                Start::Pending
            }
        }
    }

    /// After the pool: parse, resolve (off-thread) or try the addresses.
    /// None = parked on the loop.
    fn continue_connect(self: &Arc<Self>, lp: &EventLoop) -> Option<Result<()>> {
        let (host, port, generation) = {
            let m = lock(&self.meta);
            let c = m.connect.as_ref()?;
            (c.host.clone(), c.port, c.generation)
        };
        match self.targets(&host, port) {
            Err(e) => Some(Err(e)),
            Ok(Ok(d)) => {
                lock(&self.meta).connect.as_mut()?.dests = d;
                self.state.resolved();
                self.try_dests(lp)
            }
            Ok(Err((name, port))) => {
                let me = Arc::clone(self);
                let weak = lp.weak();
                crate::runtime::handle().spawn_blocking(move || {
                    let res = addr::resolve(&name, port);
                    if let Some(lp) = weak.upgrade() {
                        lp.post(Box::new(move |lp: &EventLoop| {
                            me.on_resolved(lp, generation, res)
                        }));
                    }
                });
                None
            }
        }
    }

    /// A queued connect was granted a pooled connection or a slot.
    fn on_pool_grant(self: &Arc<Self>, lp: &EventLoop, generation: u64, grant: Grant) {
        let live = {
            let mut m = lock(&self.meta);
            match m.connect.as_mut() {
                Some(c) if c.generation == generation && c.waiting.is_some() => {
                    c.waiting = None;
                    true
                }
                _ => false,
            }
        };
        if !live {
            let key = lock(&self.meta).pool_key.clone().unwrap_or_default();
            pool::give_back(&key, grant);
            return;
        }
        match grant {
            Grant::Idle(conn) => {
                self.install_pooled(conn);
                self.finish_connect(lp, Ok(()));
            }
            Grant::Slot => {
                lock(&self.meta).counted = true;
                if let Some(r) = self.continue_connect(lp) {
                    if r.is_err() {
                        self.connect_failed();
                    }
                    self.finish_connect(lp, r);
                }
            }
        }
    }

    /// Tries the remaining addresses until one connects now, one is in
    /// progress (None, parked), or none is left (Some(error)).
    fn try_dests(self: &Arc<Self>, lp: &EventLoop) -> Option<Result<()>> {
        loop {
            let dest = {
                let mut m = lock(&self.meta);
                let c = m.connect.as_mut()?;
                if c.next >= c.dests.len() {
                    let e = c.last_err.take().unwrap_or(Error::CLOSED);
                    drop(m);
                    self.connect_failed();
                    return Some(Err(e));
                }
                c.next += 1;
                c.dests[c.next - 1].clone()
            };
            let local = lock(&self.meta).bind;
            match open(&dest, local) {
                Ok((fd, true)) => {
                    self.install(fd, matches!(dest, Dest::Unix(_)), true, 0);
                    return Some(Ok(()));
                }
                Ok((fd, false)) => {
                    self.nonblock
                        .store(true, std::sync::atomic::Ordering::Release);
                    self.fd.store(fd, std::sync::atomic::Ordering::Release);
                    if let Err(e) = self.watch(self, lp, true) {
                        self.drop_fd_from_loop(fd);
                        self.fd.store(-1, std::sync::atomic::Ordering::Release);
                        sys::close(fd);
                        if let Some(c) = lock(&self.meta).connect.as_mut() {
                            c.last_err = Some(e);
                        }
                        continue;
                    }
                    return None;
                }
                Err(e) => {
                    if let Some(c) = lock(&self.meta).connect.as_mut() {
                        c.last_err = Some(Error::errno(e));
                    }
                }
            }
        }
    }

    /// Ends a pending connect with `res` and wakes its waiter.
    fn finish_connect(&self, lp: &EventLoop, res: Result<()>) {
        let token = {
            let mut m = lock(&self.meta);
            let Some(c) = m.connect.take() else { return };
            if let Err(e) = &res {
                m.last_error = Some(e.clone());
            }
            let failed = res.is_err();
            m.connect_result = Some(res);
            (c.token, failed)
        };
        let (token, failed) = token;
        if failed {
            // Drop the loop's hold on a socket that never got (or lost) its fd.
            self.unwatch(false);
        }
        lp.complete_op(self.id(), Slot::Read, token);
    }

    fn on_resolved(
        self: &Arc<Self>,
        lp: &EventLoop,
        generation: u64,
        res: Result<Vec<SocketAddr>>,
    ) {
        {
            let mut m = lock(&self.meta);
            match m.connect.as_mut() {
                Some(c) if c.generation == generation && c.dests.is_empty() => {
                    if let Ok(addrs) = &res {
                        c.dests = addrs.iter().copied().map(Dest::Inet).collect();
                    }
                }
                _ => return,
            }
        }
        if let Err(e) = res {
            self.connect_failed();
            self.finish_connect(lp, Err(e));
            return;
        }
        self.state.resolved();
        if let Some(r) = self.try_dests(lp) {
            self.finish_connect(lp, r);
        }
    }

    /// The in-progress connect's fd became writable (or failed). epoll
    /// reports a TCP connect that failed with EPOLLERR (and EPOLLHUP), which
    /// the loop passes as readable + writable, and one still in progress
    /// with nothing: writable alone means connected, with no
    /// getsockopt(SO_ERROR). Anything else asks SO_ERROR (and a unix socket
    /// always does).
    pub(super) fn drive_connect(self: &Arc<Self>, lp: &EventLoop, readable: bool, writable: bool) {
        let unix = {
            let m = lock(&self.meta);
            if m.connect.is_none() {
                return;
            }
            m.unix
        };
        let fd = self.fd();
        if fd < 0 {
            return;
        }
        let res = if writable && !readable && !unix {
            Ok(())
        } else {
            sys::connect_finish(fd)
        };
        match res {
            Ok(()) => {
                self.install(fd, unix, true, 0);
                self.finish_connect(lp, Ok(()));
            }
            Err(e) => {
                self.drop_fd_from_loop(fd);
                self.fd.store(-1, std::sync::atomic::Ordering::Release);
                sys::close(fd);
                if let Some(c) = lock(&self.meta).connect.as_mut() {
                    c.last_err = Some(Error::errno(e));
                }
                if let Some(r) = self.try_dests(lp) {
                    self.finish_connect(lp, r);
                }
            }
        }
    }

    pub(super) fn connect_timed_out(self: &Arc<Self>, lp: &EventLoop) -> Option<Instant> {
        let waiting = {
            let m = lock(&self.meta);
            let c = m.connect.as_ref()?;
            if c.deadline > Instant::now() {
                return Some(c.deadline);
            }
            c.waiting.zip(m.pool_key.clone())
        };
        if let Some((id, key)) = waiting {
            // If the grant is already on its way, on_pool_grant gives it back.
            pool::cancel_wait(&key, id);
        }
        let fd = self.fd();
        if fd >= 0 {
            self.unwatch(true);
            self.fd.store(-1, std::sync::atomic::Ordering::Release);
            sys::close(fd);
        }
        self.connect_failed();
        self.finish_connect(lp, Err(Error::TIMEOUT));
        None
    }

    /// Fetches a finished async connect.
    pub fn take_connect_result(&self) -> Option<Result<()>> {
        lock(&self.meta).connect_result.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keys_as_openresty_formats_them() {
        for (host, port, want) in [
            (&b"127.0.0.1"[..], Some(6379), "127.0.0.1:6379"),
            (b"localhost", Some(0), "localhost:0"),
            (b"h", Some(7), "h:7"),
            (b"h", Some(65535), "h:65535"),
            (b"h", Some(10000), "h:10000"),
            (b"unix:/tmp/s", None, "unix:/tmp/s"),
            (b"unix:/tmp/s", Some(80), "unix:/tmp/s:80"),
            (b"\xffx", Some(1), "\u{fffd}x:1"),
        ] {
            let k = default_pool_key(host, port);
            assert_eq!(k.as_str(), want);
            assert_eq!(k, PoolKey::new(want), "same name, same key and hash");
        }
    }

    #[test]
    fn interned_keys_follow_the_name() {
        let a = default_pool_key(b"a", Some(1));
        let a2 = default_pool_key(b"a", Some(1));
        assert_eq!(a, a2);
        let b = intern(|s| s.push_str("a:1x"));
        assert_ne!(a, b);
        assert_eq!(b.as_str(), "a:1x");
        assert_eq!(default_pool_key(b"a", Some(1)).as_str(), "a:1");
    }
}
