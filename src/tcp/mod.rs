//! The TCP cosocket: connect, send, receive, close, timeouts, options.
//!
//! Every operation exists in two styles sharing one implementation:
//! blocking (the caller's thread waits in the kernel: plain recv/send on a
//! blocking fd bounded by SO_RCVTIMEO/SO_SNDTIMEO, as raw C would) and
//! asynchronous (the operation starts now, and if it must wait it is parked on
//! an [`EventLoop`](crate::event_loop::EventLoop) whose owner drives it).
//!
//! A socket has independent read and write halves (OpenResty's full-duplex
//! cosockets): one reader and one writer may work at once, each under its own
//! lock; a second reader gets `socket busy reading`.

mod addr;
mod connect;
mod keepalive;
mod options;
mod read;
pub mod state;
pub(crate) mod sys;
mod tls;
mod write;

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

pub use addr::{Target, is_unix, parse as parse_target, resolve};
pub use connect::ConnectOpts;
pub use options::SockOption;
pub use read::{ReadOutcome, ReadRequest, UntilIter};
pub use tls::{HandshakeOpts, Handshaked};

use crate::error::{Error, Result};
use crate::event_loop::{EventLoop, Source};
use state::State;

/// Default for every timeout left at 0 (OpenResty's `lua_socket_*_timeout`).
pub const DEFAULT_TIMEOUT_MS: u32 = 60_000;
/// Largest accepted timeout (OpenResty raises `bad timeout value` above).
pub const MAX_TIMEOUT_MS: i64 = (1 << 31) - 1;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub use crate::event_loop::Slot;

/// Outcome of starting an asynchronous operation.
#[derive(Debug)]
pub enum Start<T> {
    /// Finished without waiting.
    Done(T),
    /// Parked on the loop: its token will come out of `wait`, then fetch the
    /// result with the socket's `take_*_result`.
    Pending,
}

/// A TCP cosocket.
pub struct Tcp {
    /// The loop registration id (epoll data, timers): renewed by each
    /// connect, so a stale event of an earlier connection of this object
    /// (whose fd was closed without EPOLL_CTL_DEL) never reaches this one.
    id: AtomicU64,
    state: State,
    fd: AtomicI32,
    /// The fd is in non-blocking mode (made for an asynchronous connect):
    /// a blocking call switches it first ([`Tcp::ensure_blocking`]).
    nonblock: std::sync::atomic::AtomicBool,
    /// connect, send, read timeouts in ms; 0 = default.
    timeouts: [AtomicU32; 3],
    rd: Mutex<read::Reader>,
    /// Data may be waiting in the kernel: false only after a non-blocking
    /// read came back short (or EAGAIN) and no readiness event arrived since.
    /// Lets an async receive skip a recv that would only say EAGAIN.
    maybe_readable: std::sync::atomic::AtomicBool,
    /// The loop reported the peer's FIN or an error on this connection:
    /// from then on a short read no longer means the socket is drained (the
    /// FIN's one edge may have come with the data), so nothing skips a recv.
    hung_up: std::sync::atomic::AtomicBool,
    wr: Mutex<write::Writer>,
    meta: Mutex<Meta>,
    /// Mirror of `Meta::watcher` for [`Tcp::watch`]'s lock-free check: the
    /// loop's address (0: none) and the fd registered. Written only under
    /// the meta lock (address cleared first, set last, see
    /// [`Tcp::publish_watcher`]); the address cannot be reused by another
    /// loop while `Meta::watcher` holds its `Weak` (which keeps the
    /// allocation).
    watch_loop: std::sync::atomic::AtomicUsize,
    watch_fd: AtomicI32,
    /// Mirror of `Meta::watch_out`, published like `watch_fd`.
    watch_out: std::sync::atomic::AtomicBool,
    /// TLS settings and the async handshake (not touched by plain I/O).
    tls: Mutex<tls::TlsSlot>,
}

/// Connection facts that change only under an exclusive operation.
#[derive(Default)]
struct Meta {
    pool_key: Option<crate::pool::PoolKey>,
    reused: u32,
    unix: bool,
    /// The loop this socket's fd is registered with, if any.
    watcher: Option<(Weak<EventLoop>, RawFd)>,
    /// The registration with `watcher` includes EPOLLOUT (some connect,
    /// send or handshake had to wait for writability); set by every
    /// registration of an fd, so valid whenever `watcher` has one.
    watch_out: bool,
    connect: Option<connect::PendingConnect>,
    /// The connection is counted by the pool named `pool_key`.
    counted: bool,
    connect_result: Option<Result<()>>,
    /// Keeps an owned error message alive for the C ABI until the next call.
    last_error: Option<Error>,
    /// Local address to bind before connecting (`bind()`, nginx's proxy_bind).
    bind: Option<std::net::SocketAddr>,
    /// An fd was closed while still in a loop's epoll set under the current
    /// id: the next connect takes a new id.
    stale_id: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Default for Tcp {
    fn default() -> Self {
        Self::new()
    }
}

impl Tcp {
    pub fn new() -> Tcp {
        Tcp {
            id: AtomicU64::new(NEXT_ID.fetch_add(1, Ordering::Relaxed)),
            state: State::default(),
            fd: AtomicI32::new(-1),
            nonblock: std::sync::atomic::AtomicBool::new(false),
            timeouts: Default::default(),
            rd: Mutex::new(read::Reader::default()),
            maybe_readable: std::sync::atomic::AtomicBool::new(true),
            hung_up: std::sync::atomic::AtomicBool::new(false),
            wr: Mutex::new(write::Writer::default()),
            meta: Mutex::new(Meta::default()),
            watch_loop: std::sync::atomic::AtomicUsize::new(0),
            watch_fd: AtomicI32::new(-1),
            watch_out: std::sync::atomic::AtomicBool::new(false),
            tls: Mutex::new(tls::TlsSlot::default()),
        }
    }

    /// Unique id of the current connection's loop registration.
    #[inline]
    pub fn id(&self) -> u64 {
        self.id.load(Ordering::Relaxed)
    }

    /// Takes a new registration id if a closed fd may still carry the
    /// current one; only while no loop knows this socket (a connect).
    fn renew_id(&self, m: &mut Meta) {
        if m.watcher.is_none() && std::mem::take(&mut m.stale_id) {
            self.id
                .store(NEXT_ID.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
        }
    }

    /// Makes the fd blocking if an asynchronous connect left it
    /// non-blocking: blocking recv/send rely on SO_RCVTIMEO/SO_SNDTIMEO.
    #[inline]
    pub(crate) fn ensure_blocking(&self, fd: RawFd) -> std::result::Result<(), i32> {
        if self.nonblock.load(Ordering::Acquire) {
            sys::set_blocking(fd)?;
            self.nonblock.store(false, Ordering::Release);
        }
        Ok(())
    }

    /// The connection's fd, or -1.
    pub fn fd(&self) -> RawFd {
        self.fd.load(Ordering::Acquire)
    }

    /// Sets connect, send and read timeouts in ms (0 = the 60 s default).
    /// Errors with `bad timeout value` outside 0..2^31.
    pub fn set_timeouts(&self, connect: i64, send: i64, read: i64) -> Result<()> {
        for v in [connect, send, read] {
            if !(0..=MAX_TIMEOUT_MS).contains(&v) {
                return Err(Error::arg("bad timeout value"));
            }
        }
        for (slot, v) in self.timeouts.iter().zip([connect, send, read]) {
            slot.store(v as u32, Ordering::Relaxed);
        }
        Ok(())
    }

    pub fn set_timeout(&self, ms: i64) -> Result<()> {
        self.set_timeouts(ms, ms, ms)
    }

    fn timeout_ms(&self, which: usize) -> u32 {
        match self.timeouts[which].load(Ordering::Relaxed) {
            0 => DEFAULT_TIMEOUT_MS,
            v => v,
        }
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms(0) as u64)
    }

    fn send_timeout_ms(&self) -> u32 {
        self.timeout_ms(1)
    }

    fn read_timeout_ms(&self) -> u32 {
        self.timeout_ms(2)
    }

    /// Sets (or clears) the local address later connects originate from.
    /// Port 0 lets the kernel choose. Applied at the next connect.
    pub fn set_bind(&self, addr: Option<std::net::SocketAddr>) {
        lock(&self.meta).bind = addr;
    }

    /// How many times the current connection came from the pool.
    /// `0` during the TCP handshake; "closed" while resolving (no
    /// connection yet, reference §1.1).
    pub fn reused_times(&self) -> Result<u32> {
        let s = self.state.get();
        if s & state::CONNECTING != 0 {
            return Ok(0);
        }
        if s & state::OPEN == 0
            || s & (state::RD_CLOSED | state::WR_CLOSED) == (state::RD_CLOSED | state::WR_CLOSED)
        {
            return Err(Error::CLOSED);
        }
        Ok(lock(&self.meta).reused)
    }

    /// Closes the connection (never pools it).
    pub fn close(&self) -> Result<()> {
        self.state.take_for_close()?;
        self.release_fd(true);
        Ok(())
    }

    /// Forgets the connection: the fd is closed if `close_fd`, otherwise the
    /// caller has taken it (pool). Buffers and loop registration are reset.
    fn release_fd(&self, close_fd: bool) -> RawFd {
        let fd = self.fd.swap(-1, Ordering::AcqRel);
        self.unwatch(close_fd);
        lock(&self.rd).reset();
        lock(&self.wr).reset();
        if close_fd {
            sys::close(fd);
            self.release_pool_slot();
        }
        fd
    }

    /// A connection counted by a pool is gone: tell the pool.
    pub(crate) fn release_pool_slot(&self) {
        let key = {
            let mut m = lock(&self.meta);
            if !std::mem::take(&mut m.counted) {
                return;
            }
            m.pool_key.clone()
        };
        if let Some(key) = key {
            crate::pool::release(&key);
        }
    }

    /// Cancels whatever is pending (a killed Lua thread) and closes.
    pub fn abort(&self) {
        let waiting = {
            let mut m = lock(&self.meta);
            m.connect_result = None;
            let c = m.connect.take();
            c.and_then(|c| c.waiting().zip(m.pool_key.clone()))
        };
        if let Some((id, key)) = waiting {
            crate::pool::cancel_wait(&key, id);
        }
        let s = self.state.get();
        let handshaking = s & (state::OPEN | state::CONNECTING) == state::OPEN | state::CONNECTING;
        if s & (state::READING | state::WRITING) != 0 || handshaking {
            // A thread blocked in recv/send (or a blocking TLS handshake)
            // holds the half's lock until its timeout: wake it (EOF / EPIPE)
            // before release_fd takes the locks.
            sys::shutdown(self.fd());
        }
        lock(&self.tls).cancel();
        self.state.set(0);
        self.release_fd(true);
    }

    /// Remembers an owned error so a pointer to its text stays valid.
    pub(crate) fn keep_error(&self, e: &Error) {
        if !e.as_str().is_empty() {
            lock(&self.meta).last_error = Some(e.clone());
        }
    }

    /// The text of the error kept by [`keep_error`], as a raw pointer + len.
    pub fn kept_error_ptr(&self) -> Option<(*const u8, usize)> {
        let m = lock(&self.meta);
        m.last_error
            .as_ref()
            .map(|e| (e.as_str().as_ptr(), e.as_str().len()))
    }

    /// Mirrors `m.watcher` into the atomics [`Tcp::watch`] checks without
    /// the lock; call (under the meta lock) after every change of it.
    fn publish_watcher(&self, m: &Meta) {
        self.watch_loop.store(0, Ordering::Release);
        if let Some((w, wfd)) = &m.watcher {
            self.watch_fd.store(*wfd, Ordering::Release);
            self.watch_out.store(m.watch_out, Ordering::Release);
            self.watch_loop
                .store(w.as_ptr() as usize, Ordering::Release);
        }
    }

    /// Registers this socket's fd with `lp` (once per fd and loop) at once,
    /// also when an earlier operation's registration is still deferred
    /// (connect and TLS handshake: cold, and their failures are handled at
    /// their start); `out`: for writability too (see [`Tcp::watch_lazy`]).
    pub(crate) fn watch(&self, this: &Arc<Tcp>, lp: &EventLoop, out: bool) -> Result<()> {
        self.watch_slow(this, lp, false, out)
    }

    /// Registers this socket's fd with `lp` (once per fd and loop), the
    /// epoll_ctl deferred until the loop sleeps in epoll_wait
    /// ([`EventLoop::watch_lazy`]): a receive or send the loop's solo path
    /// finishes never touches the epoll, nor does the setkeepalive after it.
    ///
    /// `out`: a send waits for writability. A socket is registered for
    /// EPOLLOUT only from the first wait that needs it on (one
    /// EPOLL_CTL_MOD when it was registered without): the writable edge of
    /// a fresh socket only waking epoll_wait for nothing is what a socket
    /// whose receives alone wait (the usual case) is spared. EPOLLOUT then
    /// stays: once the edge is consumed, an idle writable socket wakes
    /// nobody (the send buffer only signals space after a send filled it),
    /// and removing it would cost a syscall per blocked send.
    #[inline]
    pub(crate) fn watch_lazy(&self, this: &Arc<Tcp>, lp: &EventLoop, out: bool) -> Result<()> {
        // Already watched by this loop with this fd (every receive start
        // after the first): two loads instead of the meta lock.
        let me = lp as *const EventLoop as usize;
        if self.watch_loop.load(Ordering::Acquire) == me {
            let fd = self.fd();
            if fd >= 0
                && self.watch_fd.load(Ordering::Acquire) == fd
                && (!out || self.watch_out.load(Ordering::Acquire))
                && self.watch_loop.load(Ordering::Acquire) == me
            {
                return Ok(());
            }
        }
        self.watch_slow(this, lp, true, out)
    }

    /// Adds writability to the registration of this socket's fd with `lp`
    /// (a TLS handshake that registered to read now waits to write).
    pub(crate) fn watch_out(&self, this: &Arc<Tcp>, lp: &EventLoop) -> Result<()> {
        self.watch_lazy(this, lp, true)
    }

    #[cold]
    fn watch_slow(&self, this: &Arc<Tcp>, lp: &EventLoop, lazy: bool, out: bool) -> Result<()> {
        let fd = self.fd();
        let mut m = lock(&self.meta);
        if let Some((w, wfd)) = &m.watcher {
            if w.ptr_eq(&lp.weak()) {
                if *wfd == fd {
                    if out && !m.watch_out {
                        lp.watch_out(self.id(), fd)?;
                        m.watch_out = true;
                    }
                    self.publish_watcher(&m);
                    return if lazy {
                        Ok(())
                    } else {
                        lp.watch_now(self.id())
                    };
                }
                // Same loop, new fd: keep the source and its armed timers.
                if *wfd >= 0 {
                    lp.unregister_fd(self.id(), *wfd);
                }
            } else if let Some(cur) = w.upgrade() {
                cur.forget(self.id(), *wfd);
            }
        }
        m.watcher = None;
        self.publish_watcher(&m);
        let src = Arc::clone(this) as Arc<dyn Source>;
        if lazy {
            lp.watch_lazy(src, fd, out)?;
        } else {
            lp.watch(src, fd, out)?;
        }
        m.watcher = Some((lp.weak(), fd));
        m.watch_out = out;
        self.publish_watcher(&m);
        Ok(())
    }

    /// Makes `lp` keep this socket for its timers while it has no fd yet.
    pub(crate) fn hold_on(&self, this: &Arc<Tcp>, lp: &EventLoop) {
        let mut m = lock(&self.meta);
        if m.watcher.is_none() {
            lp.hold(Arc::clone(this) as Arc<dyn Source>);
            m.watcher = Some((lp.weak(), -1));
            self.publish_watcher(&m);
        }
    }

    /// Takes `fd` out of its loop's epoll but keeps the registration and
    /// timers (a connect trying the next address); call before closing `fd`.
    pub(crate) fn drop_fd_from_loop(&self, fd: RawFd) {
        let mut m = lock(&self.meta);
        if let Some((w, wfd)) = &mut m.watcher
            && *wfd == fd
        {
            if let Some(lp) = w.upgrade() {
                lp.unregister_fd(self.id(), fd);
            }
            *wfd = -1;
            self.publish_watcher(&m);
        }
    }

    /// Removes the socket from its loop; must run before the fd is closed.
    /// `closing`: the fd is about to be closed, which takes it out of the
    /// epoll set (sockets are never dup'ed, and are close-on-exec), so no
    /// EPOLL_CTL_DEL (nginx's NGX_CLOSE_EVENT). Should the file outlive the
    /// close anyway (a fork without exec, a user's dup of `getfd`), its
    /// events carry this registration's id, which the loop has forgotten
    /// and the next connect renews: they are ignored.
    fn unwatch(&self, closing: bool) {
        let w = {
            let mut m = lock(&self.meta);
            let w = m.watcher.take();
            self.publish_watcher(&m);
            if closing && w.as_ref().is_some_and(|(_, wfd)| *wfd >= 0) {
                m.stale_id = true;
            }
            w
        };
        if let Some((w, wfd)) = w
            && let Some(lp) = w.upgrade()
        {
            lp.forget(self.id(), if closing { -1 } else { wfd });
        }
    }
}

impl Source for Tcp {
    fn id(&self) -> u64 {
        Tcp::id(self)
    }

    fn on_hangup(&self) {
        self.hung_up.store(true, Ordering::Release);
    }

    fn solo(
        self: Arc<Self>,
        lp: &EventLoop,
        limit: Option<std::time::Instant>,
        now: std::time::Instant,
    ) -> bool {
        let s = self.state.get();
        if s & (state::CONNECTING | state::RESOLVING) != 0 || s & state::READING == 0 {
            return false;
        }
        self.solo_read(lp, limit, now)
    }

    /// Drives pending operations after readiness.
    fn on_ready(self: Arc<Self>, lp: &EventLoop, readable: bool, writable: bool) {
        let s = self.state.get();
        if s & (state::CONNECTING | state::RESOLVING) != 0 {
            if s & state::OPEN != 0 {
                self.drive_handshake(lp); // TLS handshake on an open connection
            } else if writable || readable {
                self.drive_connect(lp, readable, writable);
            }
            return;
        }
        if readable {
            self.maybe_readable.store(true, Ordering::Release);
        }
        if s & state::READING != 0 && readable {
            self.drive_read(lp, false);
        }
        if s & state::WRITING != 0 && writable {
            self.drive_write(lp, false);
        }
    }

    /// The deferred registration failed: the socket leaves the loop (the
    /// next operation registers again) and its pending receive and send end
    /// with the error, as their start would have ended registering at once.
    /// (A connect and a TLS handshake register at once: never deferred.)
    fn watch_failed(self: Arc<Self>, lp: &EventLoop, err: Error) {
        {
            let mut m = lock(&self.meta);
            if m.watcher
                .as_ref()
                .is_some_and(|(w, _)| w.ptr_eq(&lp.weak()))
            {
                m.watcher = None;
                self.publish_watcher(&m);
            }
        }
        // Never added: nothing to EPOLL_CTL_DEL.
        lp.forget(self.id(), -1);
        self.fail_read(lp, &err);
        self.fail_write(lp, &err);
    }

    /// A pending operation's timer fired.
    fn on_timer(self: Arc<Self>, lp: &EventLoop, slot: Slot) -> Option<std::time::Instant> {
        match slot {
            Slot::Read => {
                let s = self.state.get();
                if s & (state::CONNECTING | state::RESOLVING) != 0 {
                    if s & state::OPEN != 0 {
                        self.handshake_timed_out(lp)
                    } else {
                        self.connect_timed_out(lp)
                    }
                } else {
                    self.drive_read(lp, true)
                }
            }
            Slot::Write => self.drive_write(lp, true),
        }
    }
}

impl Drop for Tcp {
    fn drop(&mut self) {
        let fd = *self.fd.get_mut();
        if fd >= 0 {
            sys::close(fd);
            self.release_pool_slot();
        }
    }
}

/// The calling thread's errno.
pub(crate) fn last_errno() -> i32 {
    sys::errno()
}

#[cfg(test)]
mod tests {
    //! Deferred epoll registration (`EventLoop::watch_lazy`): what reaches
    //! the epoll set, seen in /proc.
    use super::*;
    use crate::receive::Pattern;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// A peer answering each line after `delay_ms` (so a receive started
    /// right after the request finds nothing and goes pending).
    fn slow_echo(delay_ms: u64) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(c) = c else { return };
                std::thread::spawn(move || {
                    let mut w = c.try_clone().unwrap();
                    for line in BufReader::new(c).lines() {
                        let Ok(line) = line else { return };
                        std::thread::sleep(Duration::from_millis(delay_ms));
                        if w.write_all(format!("{line}\n").as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        port
    }

    fn sock(port: u16) -> Arc<Tcp> {
        let s = Arc::new(Tcp::new());
        s.set_timeout(5000).unwrap();
        s.connect(b"127.0.0.1", Some(port), &ConnectOpts::default())
            .unwrap();
        s
    }

    fn line_start(s: &Arc<Tcp>, lp: &Arc<EventLoop>, token: u64) {
        assert_eq!(
            s.send(&[std::io::IoSlice::new(b"x\n")])
                .map_err(|e| e.to_string()),
            Ok(2)
        );
        let r = s.receive_start(lp, token, ReadRequest::Pattern(Pattern::Line));
        assert!(matches!(r, Start::Pending), "the reply comes later");
    }

    fn got_line(s: &Tcp) {
        match s.take_read_result().expect("result") {
            ReadOutcome::Data(p, n) => {
                // SAFETY: the outcome points into the socket's buffer.
                assert_eq!(unsafe { std::slice::from_raw_parts(p, n) }, b"x");
            }
            o => panic!("{o:?}"),
        }
    }

    fn wait_all(lp: &EventLoop, want: &[u64], timeout: Option<Duration>) {
        let mut got = Vec::new();
        let mut buf = [0u64; 8];
        while got.len() < want.len() {
            let n = lp.wait(&mut buf, timeout.or(Some(Duration::from_secs(10))));
            assert!(n > 0, "tokens {want:?} never came: {got:?}");
            got.extend_from_slice(&buf[..n]);
        }
        got.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn a_receive_the_solo_path_finishes_never_reaches_the_epoll() {
        let port = slow_echo(20);
        let lp = EventLoop::new().unwrap();
        for round in 0..3 {
            let s = sock(port);
            assert_eq!(s.reused_times().unwrap(), round, "from the pool");
            line_start(&s, &lp, 1);
            assert_eq!(lp.registrations(), (0, 1), "deferred, not added");
            let mut buf = [0u64; 4];
            assert_eq!(lp.wait(&mut buf, None), 1); // the solo path
            got_line(&s);
            assert_eq!(lp.registrations(), (0, 1));
            s.set_keepalive(None, None).unwrap();
            assert_eq!(lp.registrations(), (0, 0), "nothing to EPOLL_CTL_DEL");
        }
        // Two receives pending at once: no solo path, the epoll is slept on
        // and both fds are added first.
        let a = sock(port);
        let b = sock(port);
        line_start(&a, &lp, 1);
        line_start(&b, &lp, 2);
        assert_eq!(lp.registrations(), (0, 2));
        wait_all(&lp, &[1, 2], None);
        assert_eq!(lp.registrations(), (2, 0));
        got_line(&a);
        got_line(&b);
        // Registered fds stay registered for later receives.
        line_start(&a, &lp, 3);
        wait_all(&lp, &[3], None);
        got_line(&a);
        assert_eq!(lp.registrations(), (2, 0));
        a.set_keepalive(None, None).unwrap();
        assert_eq!(lp.registrations(), (1, 0), "EPOLL_CTL_DEL before pooling");
        b.close().unwrap();
        assert_eq!(lp.registrations(), (0, 0), "closed, out of the set");
    }

    #[test]
    fn abort_and_a_new_loop_drop_a_deferred_registration() {
        let port = slow_echo(20);
        let lp = EventLoop::new().unwrap();
        let s = sock(port);
        line_start(&s, &lp, 1);
        assert_eq!(lp.registrations(), (0, 1));
        s.abort();
        assert_eq!(lp.registrations(), (0, 0));
        let mut buf = [0u64; 4];
        assert_eq!(lp.wait(&mut buf, Some(Duration::from_millis(50))), 0);
        assert_eq!(lp.pending(), 0);
        // Deferred on one loop, then moved to another.
        let other = EventLoop::new().unwrap();
        let s = sock(port);
        line_start(&s, &lp, 1);
        wait_all(&lp, &[1], None);
        got_line(&s);
        line_start(&s, &other, 2);
        assert_eq!(lp.registrations(), (0, 0));
        assert_eq!(other.registrations(), (0, 1));
        wait_all(&other, &[2], Some(Duration::from_secs(10)));
        let (added, deferred) = other.registrations();
        assert_eq!(added + deferred, 1);
        got_line(&s);
        s.close().unwrap();
    }

    /// A peer that sends "x\n" when `reply` fires, reads nothing until
    /// `drain` fires, then reads to the end and reports the byte count.
    fn stalling_peer() -> (
        u16,
        std::sync::mpsc::Sender<()>,
        std::sync::mpsc::Sender<()>,
        std::sync::mpsc::Receiver<usize>,
    ) {
        use std::io::Read;
        use std::sync::mpsc::channel;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let (reply_tx, reply_rx) = channel::<()>();
        let (drain_tx, drain_rx) = channel::<()>();
        let (count_tx, count_rx) = channel();
        std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            reply_rx.recv().unwrap();
            c.write_all(b"x\n").unwrap();
            drain_rx.recv().unwrap();
            let mut n = 0;
            let mut buf = vec![0u8; 1 << 16];
            while let Ok(k) = c.read(&mut buf) {
                if k == 0 {
                    break;
                }
                n += k;
            }
            count_tx.send(n).unwrap();
        });
        (port, reply_tx, drain_tx, count_rx)
    }

    const READ_ONLY: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP) as u32;
    const OUT: u32 = libc::EPOLLOUT as u32;

    /// Interest without EPOLLET, EPOLLERR and EPOLLHUP (the kernel adds
    /// the last two to every registration).
    fn interest(lp: &EventLoop, s: &Tcp) -> Option<u32> {
        let implied = libc::EPOLLET | libc::EPOLLERR | libc::EPOLLHUP;
        lp.interest(s.fd()).map(|e| e & !(implied as u32))
    }

    #[test]
    fn registered_for_reads_only_until_a_send_waits() {
        const BIG: usize = 8 << 20;
        // made: the receive's registration is made before the send
        // blocks (EPOLL_CTL_MOD adds EPOLLOUT); deferred: the send blocks
        // while it is still deferred (EPOLL_CTL_ADD with EPOLLOUT).
        for made in [true, false] {
            let (port, reply, drain, count) = stalling_peer();
            let lp = EventLoop::new().unwrap();
            let s = sock(port);
            if made {
                let _ = lp.fd(); // registrations are made at once
            }
            let r = s.receive_start(&lp, 1, ReadRequest::Pattern(Pattern::Line));
            assert!(matches!(r, Start::Pending), "the peer has sent nothing");
            if made {
                assert_eq!(interest(&lp, &s), Some(READ_ONLY));
                reply.send(()).unwrap();
                wait_all(&lp, &[1], None);
                got_line(&s);
            } else {
                assert_eq!(lp.registrations(), (0, 1));
            }
            let data = vec![7u8; BIG];
            match s.send_start(&lp, 2, &[std::io::IoSlice::new(&data)]) {
                Start::Pending => {}
                Start::Done(r) => panic!("8 MB to a peer not reading finished at once: {r:?}"),
            }
            if made {
                assert_eq!(interest(&lp, &s), Some(READ_ONLY | OUT), "EPOLL_CTL_MOD");
                drain.send(()).unwrap();
                wait_all(&lp, &[2], None);
            } else {
                assert_eq!(lp.registrations(), (0, 1), "still deferred");
                reply.send(()).unwrap();
                drain.send(()).unwrap();
                wait_all(&lp, &[1, 2], None);
                got_line(&s);
                assert_eq!(interest(&lp, &s), Some(READ_ONLY | OUT));
            }
            assert_eq!(
                s.take_write_result().map(|r| r.map_err(|e| e.to_string())),
                Some(Ok(BIG))
            );
            // EPOLLOUT stays; later receives and sends work as before.
            s.close().unwrap();
            assert_eq!(count.recv().unwrap(), BIG);
            assert_eq!(lp.pending(), 0);
        }
    }

    /// An async connect's non-blocking fd: its first receive that waits
    /// takes the solo path in poll(2), the fd left non-blocking and out of
    /// the epoll set (fcntl + SO_RCVTIMEO would cost more than they save
    /// on a connection that waits once); once pooled and reused, it waits
    /// again, so the solo path switches it and waits in recv.
    #[test]
    fn a_reused_async_connection_waits_on_the_solo_path() {
        let port = slow_echo(20);
        let lp = EventLoop::new().unwrap();
        let s = Arc::new(Tcp::new());
        s.set_timeout(5000).unwrap();
        for round in 0..3 {
            match s.connect_start(&lp, 9, b"127.0.0.1", Some(port), &ConnectOpts::default()) {
                Start::Done(r) => r.unwrap(),
                Start::Pending => {
                    wait_all(&lp, &[9], None);
                    s.take_connect_result().unwrap().unwrap();
                }
            }
            assert_eq!(s.reused_times().unwrap(), round);
            // Sent async: a blocking send would make the fd blocking.
            match s.send_start(&lp, 8, &[std::io::IoSlice::new(b"x\n")]) {
                Start::Done(r) => assert_eq!(r.map_err(|e| e.to_string()), Ok(2)),
                Start::Pending => panic!("2 bytes did not fit"),
            }
            let r = s.receive_start(&lp, 1, ReadRequest::Pattern(Pattern::Line));
            assert!(matches!(r, Start::Pending), "the reply comes later");
            wait_all(&lp, &[1], None);
            got_line(&s);
            assert_eq!(lp.registrations(), (0, 1), "the solo path, not the epoll");
            // SAFETY: F_GETFL on our open fd.
            let flags = unsafe { libc::fcntl(s.fd(), libc::F_GETFL) };
            assert_eq!(
                flags & libc::O_NONBLOCK != 0,
                round == 0,
                "round {round}: poll(2) first, a blocking recv after"
            );
            s.set_keepalive(None, None).unwrap();
            assert_eq!(lp.registrations(), (0, 0));
        }
    }

    #[test]
    fn a_handed_out_loop_fd_registers_at_once() {
        let port = slow_echo(20);
        let lp = EventLoop::new().unwrap();
        let s = sock(port);
        line_start(&s, &lp, 1);
        assert_eq!(lp.registrations(), (0, 1));
        let _ = lp.fd(); // deferred ones are made now, later ones at once
        assert_eq!(lp.registrations(), (1, 0));
        let t = sock(port);
        line_start(&t, &lp, 2);
        assert_eq!(lp.registrations(), (2, 0));
        wait_all(&lp, &[1, 2], None);
        got_line(&s);
        got_line(&t);
    }
}
