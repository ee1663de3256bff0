//! The event loop that asynchronous operations complete on.
//!
//! Owned and driven by one thread (a C event loop, or the LuaJIT scheduler):
//! its `wait` call runs the readiness reactor (the loop's own edge-triggered
//! epoll) on that thread, performs the I/O of the pending operations there,
//! fires their timers, and returns the tokens of the operations that
//! finished. No runtime thread sits between the kernel and the waiter
//! (reference/peer-baselines.md). Other threads only *post* work (a resolved
//! name), which wakes the loop through an eventfd registered in the epoll.
//!
//! The epoll fd itself is the pollable descriptor an external loop watches.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// epoll data value of the wake-up eventfd (socket ids start at 1).
const WAKE: u64 = 0;
const MAX_EVENTS: usize = 256;

/// Which pending-operation slot of a socket a timer or result belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// connect, receive*, receiveuntil.
    Read,
    /// send.
    Write,
}

/// Something with pending operations the loop drives: a TCP or UDP socket.
pub(crate) trait Source: Send + Sync {
    /// Unique id (epoll data).
    fn id(&self) -> u64;
    /// The fd became readable and/or writable: make progress.
    fn on_ready(self: Arc<Self>, lp: &EventLoop, readable: bool, writable: bool);
    /// A timer of `slot` fired: time the operation out, or return the later
    /// deadline it was re-armed to by progress.
    fn on_timer(self: Arc<Self>, lp: &EventLoop, slot: Slot) -> Option<Instant>;
    /// The loop has nothing to do but this source's one pending receive:
    /// finish it by waiting in the kernel on this thread (a plain blocking
    /// recv, two syscalls per round trip like raw C, instead of recv +
    /// epoll_wait + recv). Returns false to decline (then the loop polls).
    fn solo(self: Arc<Self>, _lp: &EventLoop) -> bool {
        false
    }
}

/// Work posted from another thread, run on the loop's thread.
pub type Posted = Box<dyn FnOnce(&EventLoop) + Send>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    Op(u64, u8),
    Sleep(u64),
}

#[derive(Default)]
struct Inner {
    socks: HashMap<u64, Arc<dyn Source>>,
    /// Timers by (deadline, sequence number).
    timers: BTreeMap<(Instant, u64), TimerKind>,
    /// The one armed timer of each (source id, slot): re-arming replaces it
    /// and a finished operation removes it, so finished operations leave no
    /// timers behind (a busy loop would pile up one per operation).
    armed: HashMap<(u64, u8), (Instant, u64)>,
    timer_seq: u64,
    ready: VecDeque<u64>,
}

impl Inner {
    fn disarm(&mut self, id: u64, slot: u8) {
        if let Some(key) = self.armed.remove(&(id, slot)) {
            self.timers.remove(&key);
        }
    }
}

/// A completion queue with its own reactor.
pub struct EventLoop {
    epfd: RawFd,
    wakefd: RawFd,
    me: Weak<EventLoop>,
    inner: Mutex<Inner>,
    posted: Mutex<Vec<Posted>>,
    wake_pending: AtomicBool,
    /// No `post_token` was ever made: nobody outside the loop's thread
    /// expects a waiting `wait` to wake, so the solo path may block in recv.
    solo_ok: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

impl EventLoop {
    pub fn new() -> Result<Arc<EventLoop>> {
        // SAFETY: plain syscalls; fds are owned by the loop and closed in Drop.
        let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epfd < 0 {
            return Err(Error::errno(errno()));
        }
        // SAFETY: as above.
        let wakefd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if wakefd < 0 {
            let e = errno();
            // SAFETY: epfd is ours.
            unsafe { libc::close(epfd) };
            return Err(Error::errno(e));
        }
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: WAKE,
        };
        // SAFETY: valid fds and event.
        if unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, wakefd, &mut ev) } < 0 {
            let e = errno();
            // SAFETY: both fds are ours.
            unsafe {
                libc::close(epfd);
                libc::close(wakefd);
            }
            return Err(Error::errno(e));
        }
        Ok(Arc::new_cyclic(|me| EventLoop {
            epfd,
            wakefd,
            me: me.clone(),
            inner: Mutex::new(Inner::default()),
            posted: Mutex::new(Vec::new()),
            wake_pending: AtomicBool::new(false),
            solo_ok: AtomicBool::new(true),
        }))
    }

    /// The pollable fd: readable when `wait(…, 0)` has work to do (also check
    /// [`EventLoop::next_timeout`] for timers).
    pub fn fd(&self) -> RawFd {
        self.epfd
    }

    pub(crate) fn weak(&self) -> Weak<EventLoop> {
        self.me.clone()
    }

    /// Registers a socket's fd (edge-triggered, read and write interest).
    pub(crate) fn watch(&self, sock: Arc<dyn Source>, fd: RawFd) -> Result<()> {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: sock.id(),
        };
        // SAFETY: valid fds and event.
        let rc = unsafe { libc::epoll_ctl(self.epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if rc < 0 {
            let e = errno();
            if e != libc::EEXIST {
                return Err(Error::errno(e));
            }
            // SAFETY: as above.
            if unsafe { libc::epoll_ctl(self.epfd, libc::EPOLL_CTL_MOD, fd, &mut ev) } < 0 {
                return Err(Error::errno(errno()));
            }
        }
        lock(&self.inner).socks.insert(sock.id(), sock);
        Ok(())
    }

    /// Keeps a source reachable for its timers before it has an fd (a
    /// connect still resolving its host name).
    pub(crate) fn hold(&self, sock: Arc<dyn Source>) {
        lock(&self.inner).socks.insert(sock.id(), sock);
    }

    /// Removes one fd from the epoll, keeping the source and its timers (a
    /// connect moving on to the next address); call before closing the fd.
    pub(crate) fn unregister_fd(&self, fd: RawFd) {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: valid epoll fd; an fd that is not registered only yields an error.
        unsafe { libc::epoll_ctl(self.epfd, libc::EPOLL_CTL_DEL, fd, &mut ev) };
    }

    /// Unregisters a socket; call before its fd is closed.
    pub(crate) fn forget(&self, id: u64, fd: RawFd) {
        if fd >= 0 {
            let mut ev = libc::epoll_event { events: 0, u64: 0 };
            // SAFETY: valid epoll fd; a stale fd only yields an error we ignore.
            unsafe { libc::epoll_ctl(self.epfd, libc::EPOLL_CTL_DEL, fd, &mut ev) };
        }
        let removed = {
            let mut inner = lock(&self.inner);
            inner.disarm(id, Slot::Read as u8);
            inner.disarm(id, Slot::Write as u8);
            inner.socks.remove(&id)
        };
        drop(removed);
    }

    /// Arms the timer of a pending operation (replacing the slot's previous one).
    pub(crate) fn arm(&self, id: u64, slot: Slot, deadline: Instant) {
        let kind = TimerKind::Op(id, slot as u8);
        let mut inner = lock(&self.inner);
        inner.disarm(id, slot as u8);
        inner.timer_seq += 1;
        let key = (deadline, inner.timer_seq);
        inner.timers.insert(key, kind);
        inner.armed.insert((id, slot as u8), key);
    }

    /// Reports `token` as finished.
    pub(crate) fn complete(&self, token: u64) {
        lock(&self.inner).ready.push_back(token);
    }

    /// Reports the operation of `id`'s `slot` as finished: its timer goes
    /// and `token` comes out of the next wait.
    pub(crate) fn complete_op(&self, id: u64, slot: Slot, token: u64) {
        let mut inner = lock(&self.inner);
        inner.disarm(id, slot as u8);
        inner.ready.push_back(token);
    }

    /// Completes `token` after `dur` (the scheduler's sleep).
    pub fn sleep(&self, token: u64, dur: Duration) {
        let mut inner = lock(&self.inner);
        inner.timer_seq += 1;
        let key = (Instant::now() + dur, inner.timer_seq);
        inner.timers.insert(key, TimerKind::Sleep(token));
    }

    /// Reports `token` as finished on the next wait (any thread).
    pub fn post_token(&self, token: u64) {
        self.solo_ok.store(false, Ordering::Relaxed);
        self.post(Box::new(move |lp: &EventLoop| lp.complete(token)));
    }

    /// Runs `f` on the loop's thread during its next wait (any thread).
    pub(crate) fn post(&self, f: Posted) {
        lock(&self.posted).push(f);
        if !self.wake_pending.swap(true, Ordering::AcqRel) {
            let one: u64 = 1;
            // SAFETY: writing 8 bytes to our eventfd.
            unsafe { libc::write(self.wakefd, (&one as *const u64).cast(), 8) };
        }
    }

    /// Time until the next timer, Some(ZERO) when completions are ready, None
    /// when nothing is scheduled.
    pub fn next_timeout(&self) -> Option<Duration> {
        let inner = lock(&self.inner);
        if !inner.ready.is_empty() {
            return Some(Duration::ZERO);
        }
        inner
            .timers
            .first_key_value()
            .map(|((d, _), _)| d.saturating_duration_since(Instant::now()))
    }

    /// Number of operations and sleeps the loop is tracking.
    pub fn pending(&self) -> usize {
        let inner = lock(&self.inner);
        inner.ready.len() + inner.timers.len()
    }

    /// Waits up to `timeout` (None = forever) for finished operations and
    /// writes their tokens into `out`; returns how many. Returns early with 0
    /// only when the timeout expires.
    pub fn wait(&self, out: &mut [u64], timeout: Option<Duration>) -> usize {
        let deadline = timeout.map(|t| Instant::now() + t);
        // Written by epoll_wait before being read; left uninitialised
        // (zeroing 3 KiB per wait was the loop's largest per-call cost).
        let mut events = [const { MaybeUninit::<libc::epoll_event>::uninit() }; MAX_EVENTS];
        loop {
            let n = self.take_ready(out);
            if n > 0 || out.is_empty() {
                return n;
            }
            if deadline.is_none()
                && let Some(src) = self.solo_candidate()
                && src.solo(self)
            {
                continue;
            }
            let now = Instant::now();
            let mut until = deadline.map(|d| d.saturating_duration_since(now));
            if let Some(t) = self.next_timer_in(now) {
                until = Some(until.map_or(t, |u| u.min(t)));
            }
            let ms = match until {
                None => -1,
                Some(d) => {
                    let ms = d.as_micros().div_ceil(1000);
                    ms.min(i32::MAX as u128) as i32
                }
            };
            // SAFETY: events is a writable buffer of MAX_EVENTS entries.
            let got = unsafe {
                libc::epoll_wait(self.epfd, events.as_mut_ptr().cast(), MAX_EVENTS as i32, ms)
            };
            for ev in events.iter().take(got.max(0) as usize) {
                // SAFETY: epoll_wait initialised the first `got` entries.
                let ev = unsafe { ev.assume_init() };
                self.dispatch(ev.u64, ev.events);
            }
            self.fire_timers();
            let n = self.take_ready(out);
            if n > 0 {
                return n;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return 0;
            }
        }
    }

    /// The source whose single pending receive is all the loop waits for:
    /// nothing ready, nothing posted, one armed operation timer (a read) and
    /// no other timer (sleep) that could be due sooner.
    fn solo_candidate(&self) -> Option<Arc<dyn Source>> {
        if !self.solo_ok.load(Ordering::Relaxed) || self.wake_pending.load(Ordering::Acquire) {
            return None;
        }
        let inner = lock(&self.inner);
        if !inner.ready.is_empty() || inner.armed.len() != 1 || inner.timers.len() != 1 {
            return None;
        }
        let (&(id, slot), _) = inner.armed.iter().next()?;
        if slot != Slot::Read as u8 {
            return None;
        }
        inner.socks.get(&id).cloned()
    }

    fn take_ready(&self, out: &mut [u64]) -> usize {
        let mut inner = lock(&self.inner);
        let n = inner.ready.len().min(out.len());
        for slot in out.iter_mut().take(n) {
            *slot = inner.ready.pop_front().unwrap_or_default();
        }
        n
    }

    fn next_timer_in(&self, now: Instant) -> Option<Duration> {
        lock(&self.inner)
            .timers
            .first_key_value()
            .map(|((d, _), _)| d.saturating_duration_since(now))
    }

    fn dispatch(&self, data: u64, events: u32) {
        if data == WAKE {
            let mut buf = 0u64;
            // SAFETY: reading 8 bytes from our eventfd.
            unsafe { libc::read(self.wakefd, (&mut buf as *mut u64).cast(), 8) };
            self.wake_pending.store(false, Ordering::Release);
            let posted = std::mem::take(&mut *lock(&self.posted));
            for f in posted {
                f(self);
            }
            return;
        }
        let sock = lock(&self.inner).socks.get(&data).cloned();
        if let Some(sock) = sock {
            let err = events & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0;
            let readable = err || events & (libc::EPOLLIN | libc::EPOLLRDHUP) as u32 != 0;
            let writable = err || events & libc::EPOLLOUT as u32 != 0;
            sock.on_ready(self, readable, writable);
        }
    }

    fn fire_timers(&self) {
        let now = Instant::now();
        loop {
            let kind = {
                let mut inner = lock(&self.inner);
                match inner.timers.first_key_value() {
                    Some(((d, _), _)) if *d <= now => {}
                    _ => return,
                }
                let Some((_, kind)) = inner.timers.pop_first() else {
                    return;
                };
                match kind {
                    TimerKind::Sleep(token) => {
                        inner.ready.push_back(token);
                        continue;
                    }
                    TimerKind::Op(id, slot) => {
                        inner.armed.remove(&(id, slot));
                        inner.socks.get(&id).cloned().map(|s| (s, slot))
                    }
                }
            };
            let Some((sock, slot)) = kind else { continue };
            let slot = if slot == Slot::Read as u8 {
                Slot::Read
            } else {
                Slot::Write
            };
            let id = sock.id();
            if let Some(later) = sock.on_timer(self, slot) {
                self.arm(id, slot, later);
            }
        }
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        // SAFETY: the loop owns both fds.
        unsafe {
            libc::close(self.epfd);
            libc::close(self.wakefd);
        }
    }
}
