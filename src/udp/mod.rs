//! The UDP cosocket (`ngx.socket.udp`): setpeername, send, receive,
//! settimeout, close, bind — with OpenResty's semantics
//! (`reference/udp-api.md`).
//!
//! A connected datagram socket (`connect(2)`, so the kernel filters other
//! senders and reports ICMP errors once, to whichever call comes next),
//! auto-bound for `AF_UNIX` so the peer can answer. Every operation exists
//! in two styles, as for TCP: blocking (the caller's thread waits in
//! recv(2), bounded by SO_RCVTIMEO: two syscalls per request/response, as
//! raw C) and asynchronous (try `MSG_DONTWAIT` first; if nothing is queued,
//! park on an [`EventLoop`] whose owner drives it). Sends never wait, in
//! either style.
//!
//! Unlike TCP the socket is not full duplex: while a receive waits, every
//! other operation gets `socket busy` (see [`state`]).

mod io;
mod peer;
pub mod state;
mod sys;

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

pub use io::Datagram;
pub use peer::parse as parse_peer;

use crate::error::{Error, Result};
use crate::event_loop::{EventLoop, Slot, Source};
pub use crate::tcp::Start;
use state::State;

/// Largest datagram `receive` returns (OpenResty's `UDP_MAX_DATAGRAM_SIZE`);
/// also the default size.
pub const MAX_DATAGRAM: usize = 65536;
/// Read timeout used when none (or a value <= 0) was set
/// (`lua_socket_read_timeout`).
pub const DEFAULT_TIMEOUT_MS: i64 = 60_000;

static NEXT_ID: AtomicU64 = AtomicU64::new(1 << 62);

/// A UDP cosocket.
pub struct Udp {
    id: u64,
    state: State,
    fd: AtomicI32,
    /// The value given to `settimeout`, as is (<= 0 = the default).
    timeout: AtomicI64,
    rd: Mutex<io::Reader>,
    meta: Mutex<Meta>,
}

#[derive(Default)]
struct Meta {
    /// The address `bind` stored, bound at the next `setpeername`.
    local: Option<std::net::SocketAddr>,
    /// The loop this socket's fd is registered with, if any.
    watcher: Option<(Weak<EventLoop>, RawFd)>,
    /// A pending async `setpeername` (resolving) and its result.
    peer: Option<peer::PendingPeer>,
    peer_result: Option<Result<()>>,
    generation: u64,
    /// Keeps an owned error message alive for the C ABI until the next error.
    last_error: Option<Error>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `now + ms`, saturating far in the future for huge timeouts.
fn deadline(ms: i64) -> Instant {
    let now = Instant::now();
    now.checked_add(Duration::from_millis(ms as u64))
        .unwrap_or_else(|| now + Duration::from_secs(1 << 32))
}

impl Default for Udp {
    fn default() -> Self {
        Self::new()
    }
}

impl Udp {
    pub fn new() -> Udp {
        Udp {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            state: State::default(),
            fd: AtomicI32::new(-1),
            timeout: AtomicI64::new(0),
            rd: Mutex::new(io::Reader::default()),
            meta: Mutex::new(Meta::default()),
        }
    }

    /// Unique id (loop registrations); never equal to a TCP socket's.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The socket's fd, or -1.
    pub fn fd(&self) -> RawFd {
        self.fd.load(Ordering::Acquire)
    }

    /// OpenResty's `settimeout`: no validation; `ms` > 0 is the read
    /// timeout, anything else means the 60 s default. Applies to the next
    /// receive (and to name resolution in `setpeername`).
    pub fn set_timeout(&self, ms: i64) {
        self.timeout.store(ms, Ordering::Relaxed);
    }

    /// The effective read timeout in ms.
    pub fn read_timeout_ms(&self) -> i64 {
        match self.timeout.load(Ordering::Relaxed) {
            ms if ms > 0 => ms,
            _ => DEFAULT_TIMEOUT_MS,
        }
    }

    /// What a send or receive would report before any I/O: `closed` when
    /// not connected, `socket busy` while a receive waits.
    pub fn check(&self) -> Result<()> {
        state::usable(self.state.get())
    }

    /// Closes the socket: `closed` if not connected, `socket busy` while a
    /// receive waits. `setpeername` works again afterwards.
    pub fn close(&self) -> Result<()> {
        self.state.take_for_close()?;
        self.release_fd();
        Ok(())
    }

    /// Unregisters and closes the fd (the state word is the caller's).
    fn release_fd(&self) {
        let fd = self.fd.swap(-1, Ordering::AcqRel);
        self.unwatch();
        lock(&self.rd).reset();
        sys::close(fd);
    }

    /// Cancels whatever is pending (a killed Lua thread, `free`) and closes.
    pub fn abort(&self) {
        self.cancel_peer();
        self.state.set(0);
        self.release_fd();
    }

    /// Remembers an owned error so a pointer to its text stays valid.
    pub(crate) fn keep_error(&self, e: &Error) {
        if e.static_str().is_none() {
            lock(&self.meta).last_error = Some(e.clone());
        }
    }

    /// The text of the error kept by `keep_error`, as a raw pointer + len.
    pub fn kept_error_ptr(&self) -> Option<(*const u8, usize)> {
        let m = lock(&self.meta);
        m.last_error
            .as_ref()
            .map(|e| (e.as_str().as_ptr(), e.as_str().len()))
    }

    /// Registers this socket's fd with `lp` (once per fd and loop).
    fn watch(&self, this: &Arc<Udp>, lp: &EventLoop) -> Result<()> {
        let fd = self.fd();
        let mut m = lock(&self.meta);
        if let Some((w, wfd)) = &m.watcher {
            if w.ptr_eq(&lp.weak()) && *wfd == fd {
                return Ok(());
            }
            if let Some(cur) = w.upgrade() {
                cur.forget(self.id, *wfd);
            }
        }
        m.watcher = None;
        // Read interest only: a UDP send never waits (on_ready ignores
        // writability), and EPOLLOUT would only add wake-ups.
        lp.watch(Arc::clone(this) as Arc<dyn Source>, fd, false)?;
        m.watcher = Some((lp.weak(), fd));
        Ok(())
    }

    /// Removes the fd from its loop; must run before the fd is closed.
    fn unwatch(&self) {
        let w = lock(&self.meta).watcher.take();
        if let Some((w, wfd)) = w
            && let Some(lp) = w.upgrade()
        {
            lp.forget(self.id, wfd);
        }
    }
}

impl Source for Udp {
    fn id(&self) -> u64 {
        self.id
    }

    fn on_ready(self: Arc<Self>, lp: &EventLoop, readable: bool, _writable: bool) {
        if readable && self.state.get() & state::READING != 0 {
            self.drive_read(lp, false);
        }
    }

    fn on_timer(self: Arc<Self>, lp: &EventLoop, slot: Slot) -> Option<Instant> {
        match slot {
            Slot::Read => self.drive_read(lp, true),
            Slot::Write => None,
        }
    }

    fn solo(self: Arc<Self>, lp: &EventLoop, limit: Option<Instant>, now: Instant) -> bool {
        self.state.get() & state::READING != 0 && self.solo_read(lp, limit, now)
    }
}

impl Drop for Udp {
    fn drop(&mut self) {
        sys::close(*self.fd.get_mut());
    }
}
