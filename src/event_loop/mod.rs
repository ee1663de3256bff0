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

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::BuildHasherDefault;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::fxhash::FxHasher;

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
    /// The peer hung up (EPOLLRDHUP, EPOLLHUP or EPOLLERR), called before
    /// the `on_ready` of the same event. Edge-triggered epoll reports a FIN
    /// once, often in the same event as the data before it: a source that
    /// later reads only the data (a short read) must remember that the FIN
    /// is still there to be read.
    fn on_hangup(&self) {}
    /// A timer of `slot` fired: time the operation out, or return the later
    /// deadline it was re-armed to by progress.
    fn on_timer(self: Arc<Self>, lp: &EventLoop, slot: Slot) -> Option<Instant>;
    /// The loop has nothing to do but this source's one pending receive:
    /// wait for it in the kernel on this thread (plain blocking recv calls,
    /// two syscalls per round trip like raw C, instead of recv, epoll_wait
    /// and recv), each bounded by [`solo_timeout_ms`] of the time left before
    /// the operation's own deadline and `limit` (the wait's timeout or
    /// another timer). When the operation's deadline passes it finishes with
    /// "timeout"; when only `limit` passes it stays pending, as after an
    /// epoll_wait that timed out. Returns false when it declined without
    /// waiting (then the loop polls). `now` is the loop's clock reading
    /// taken just before (no user code in between): bounds computed from it
    /// are at most that much later, never earlier, and the solo timeouts
    /// keep milliseconds of margin; expiry is always checked on a fresh one.
    fn solo(self: Arc<Self>, _lp: &EventLoop, _limit: Option<Instant>, _now: Instant) -> bool {
        false
    }
    /// A deferred registration ([`EventLoop::watch_lazy`]) failed when the
    /// loop made it, just before an epoll_wait: finish the pending
    /// operations with `err`, as their start would have when registering
    /// at once. Only sources that defer need it.
    fn watch_failed(self: Arc<Self>, _lp: &EventLoop, _err: Error) {}
}

/// The SO_RCVTIMEO (ms) for one blocking recv of the solo path with
/// `left` before its bound, given the value `current` set in the kernel
/// (0 = none): `current` while it is at most the bound and not much shorter
/// (one setsockopt per change, none per round trip), else a fresh one. The
/// kernel's socket timers run on the jiffy timer wheel, which rounds up by
/// a jiffy and by up to 1/8 of the timeout, so the value is 7/8 of `left`
/// minus 10 ms (kept up to minus 5 ms): an expiry does not overrun the
/// bound, it comes early and the next call waits for the rest. None when
/// less is left than the wheel bounds well: the loop's epoll_wait (hrtimer
/// precise) finishes the wait.
pub(crate) fn solo_timeout_ms(left: Duration, current: u64) -> Option<u64> {
    let room = left.as_millis() as u64 * 7 / 8;
    let target = room.checked_sub(10).filter(|&t| t > 0)?;
    if current > 0 && current + 5 <= room && current * 4 >= target * 3 {
        Some(current)
    } else {
        Some(target)
    }
}

/// Work posted from another thread, run on the loop's thread.
pub type Posted = Box<dyn FnOnce(&EventLoop) + Send>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    Op(u64, u8),
    Sleep(u64),
}

/// A deadline queued in the heap, earliest first (ties by sequence number).
type Queued = Reverse<(Instant, u64, TimerKind)>;

/// The timer of one (source, slot). Arming and disarming only write here:
/// the heap entry stays and is moved (or dropped) when it surfaces, so an
/// operation that finishes before its deadline, the usual case, costs no
/// heap operation at all (the next operation reuses the entry).
#[derive(Clone, Copy, Default)]
struct OpTimer {
    /// The deadline of the pending operation, None when none is armed.
    armed: Option<Instant>,
    /// This timer's entry in the heap (deadline, sequence number); never
    /// later than `armed`.
    queued: Option<(Instant, u64)>,
}

/// A source registered with the loop, with the timers of its two slots.
struct Reg {
    src: Arc<dyn Source>,
    timers: [OpTimer; 2],
    /// An fd whose epoll registration is deferred ([`EventLoop::watch_lazy`]),
    /// its index in `Inner::deferred` and whether it is for writability too.
    deferred: Option<(RawFd, usize, bool)>,
}

#[derive(Default)]
struct Inner {
    socks: HashMap<u64, Reg, BuildHasherDefault<FxHasher>>,
    /// Deadlines, lazily deleted: entries whose timer was re-armed earlier
    /// or whose source went are skipped when they surface.
    heap: BinaryHeap<Queued>,
    /// Heap entries still in use (sleeps and `OpTimer::queued`); the heap
    /// is compacted when the rest outgrows them.
    live: usize,
    /// Armed operation timers.
    armed: usize,
    sleeps: usize,
    /// The (source, slot) armed last: when one timer is armed, the one.
    last_armed: (u64, u8),
    seq: u64,
    ready: VecDeque<u64>,
    /// Ids of the sources with a deferred registration (`Reg::deferred`),
    /// made just before the next epoll_wait.
    deferred: Vec<u64>,
}

impl Inner {
    /// Cancels the deferred registration of `id`; returns its fd.
    fn undefer(&mut self, id: u64) -> Option<(RawFd, bool)> {
        let (fd, pos, out) = self.socks.get_mut(&id)?.deferred.take()?;
        self.deferred.swap_remove(pos);
        if let Some(&moved) = self.deferred.get(pos)
            && let Some((_, p, _)) = self.socks.get_mut(&moved).and_then(|r| r.deferred.as_mut())
        {
            *p = pos;
        }
        Some((fd, out))
    }

    fn arm(&mut self, id: u64, slot: u8, deadline: Instant) {
        let Some(reg) = self.socks.get_mut(&id) else {
            return;
        };
        let t = &mut reg.timers[slot as usize];
        if t.armed.replace(deadline).is_none() {
            self.armed += 1;
        }
        self.last_armed = (id, slot);
        match t.queued {
            // The entry surfaces first and then moves on to `deadline`.
            Some((q, _)) if q <= deadline => {}
            old => {
                self.seq += 1;
                t.queued = Some((deadline, self.seq));
                self.heap
                    .push(Reverse((deadline, self.seq, TimerKind::Op(id, slot))));
                if old.is_none() {
                    self.live += 1;
                } else {
                    self.compact();
                }
            }
        }
    }

    fn disarm(&mut self, id: u64, slot: u8) {
        if let Some(reg) = self.socks.get_mut(&id)
            && reg.timers[slot as usize].armed.take().is_some()
        {
            self.armed -= 1;
        }
    }

    fn remove(&mut self, id: u64) -> Option<Reg> {
        self.undefer(id);
        let reg = self.socks.remove(&id)?;
        for t in &reg.timers {
            self.armed -= t.armed.is_some() as usize;
            self.live -= t.queued.is_some() as usize;
        }
        self.compact();
        Some(reg)
    }

    /// Drops the entries no timer uses once they are the majority (O(n),
    /// amortised over the operations that left them).
    fn compact(&mut self) {
        if self.heap.len() <= 2 * self.live + 64 {
            return;
        }
        let socks = &self.socks;
        self.heap.retain(|Reverse((_, seq, kind))| match *kind {
            TimerKind::Sleep(_) => true,
            TimerKind::Op(id, slot) => socks
                .get(&id)
                .and_then(|r| r.timers[slot as usize].queued)
                .is_some_and(|(_, s)| s == *seq),
        });
    }

    /// The earliest live deadline, after bringing it to the top of the heap
    /// (dropping unused entries, moving re-armed ones to their deadline).
    fn settle(&mut self) -> Option<Instant> {
        loop {
            let Reverse((d, seq, kind)) = *self.heap.peek()?;
            let TimerKind::Op(id, slot) = kind else {
                return Some(d);
            };
            let t = self
                .socks
                .get_mut(&id)
                .map(|r| &mut r.timers[slot as usize])
                .filter(|t| t.queued.is_some_and(|(_, s)| s == seq));
            let Some(t) = t else {
                self.heap.pop(); // left by a re-arm or a forgotten source
                continue;
            };
            match t.armed {
                Some(a) if a == d => return Some(d),
                Some(a) => {
                    self.seq += 1;
                    t.queued = Some((a, self.seq));
                    if let Some(mut top) = self.heap.peek_mut() {
                        *top = Reverse((a, self.seq, kind));
                    }
                }
                None => {
                    t.queued = None;
                    self.live -= 1;
                    self.heap.pop();
                }
            }
        }
    }

    /// A lower bound of the earliest live deadline (the heap's top, maybe
    /// unused or moved on): nothing is due before it. No lookup, no heap
    /// change: the per-wait check.
    fn earliest_bound(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((d, _, _))| *d)
    }

    fn take_ready(&mut self, out: &mut [u64]) -> usize {
        let n = self.ready.len().min(out.len());
        for (slot, tok) in out.iter_mut().zip(self.ready.drain(..n)) {
            *slot = tok;
        }
        n
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
    /// Work running off the loop's thread that will post back without an
    /// armed timer of its own (a UDP peer's name resolution): while any is
    /// outstanding the solo path stays off, since a post cannot wake a recv.
    outside: Arc<AtomicUsize>,
    /// `Inner::deferred` may be non-empty (written under the inner lock):
    /// the per-epoll_wait check without the lock.
    has_deferred: AtomicBool,
    /// The epoll fd was handed out ([`EventLoop::fd`]): an external poller
    /// may sleep on it before any `wait`, so registrations are made at once.
    external: AtomicBool,
}

/// Counts one piece of outside work for [`EventLoop::outside_work`] while
/// alive; move it into the task and let it drop after the task posted (or
/// when the task is aborted).
pub(crate) struct OutsideWork(Arc<AtomicUsize>);

impl Drop for OutsideWork {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// A Slot from its index in `OpTimer` arrays.
fn slot_of(i: u8) -> Slot {
    if i == Slot::Read as u8 {
        Slot::Read
    } else {
        Slot::Write
    }
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
            outside: Arc::new(AtomicUsize::new(0)),
            has_deferred: AtomicBool::new(false),
            external: AtomicBool::new(false),
        }))
    }

    /// The pollable fd: readable when `wait(…, 0)` has work to do (also check
    /// [`EventLoop::next_timeout`] for timers).
    ///
    /// From the first call on, every registration is made at once (an
    /// external poller sleeps on this fd without calling `wait` first, so
    /// it must not lack one an operation needs), and those deferred until
    /// now are made here. A loop whose fd was never handed out is only
    /// ever slept on by its own `wait`, which makes them before epoll_wait.
    pub fn fd(&self) -> RawFd {
        if !self.external.load(Ordering::Acquire) {
            {
                let _inner = lock(&self.inner);
                self.external.store(true, Ordering::Release);
            }
            self.flush_deferred();
        }
        self.epfd
    }

    pub(crate) fn weak(&self) -> Weak<EventLoop> {
        self.me.clone()
    }

    /// Keeps `sock` (and its armed timers if it is already known).
    fn register(&self, sock: Arc<dyn Source>) {
        let mut inner = lock(&self.inner);
        Self::register_locked(&mut inner, sock);
    }

    fn register_locked(inner: &mut Inner, sock: Arc<dyn Source>) -> &mut Reg {
        inner.socks.entry(sock.id()).or_insert_with(|| Reg {
            src: sock,
            timers: [OpTimer::default(); 2],
            deferred: None,
        })
    }

    /// Registers a socket's fd, edge-triggered, for readability (with
    /// EPOLLRDHUP) and, if `out`, writability. A source that waits for
    /// nothing but reads is registered without EPOLLOUT: the writable edge
    /// of a fresh socket would otherwise wake the next epoll_wait for
    /// nothing. [`EventLoop::watch_out`] adds it when a send must wait.
    pub(crate) fn watch(&self, sock: Arc<dyn Source>, fd: RawFd, out: bool) -> Result<()> {
        let id = sock.id();
        // A deferred registration is made here instead (keeping its EPOLLOUT).
        let out = out || lock(&self.inner).undefer(id).is_some_and(|(_, o)| o);
        Self::epoll_add(self.epfd, id, fd, out)?;
        self.register(sock);
        Ok(())
    }

    /// Like [`EventLoop::watch`], but the epoll_ctl is deferred until the
    /// loop really sleeps in epoll_wait (or its fd is handed out, see
    /// [`EventLoop::fd`]), so an operation the solo path finishes, which
    /// never involves the epoll, costs no EPOLL_CTL_ADD and, when its fd
    /// leaves the loop, no EPOLL_CTL_DEL. No readiness is lost by
    /// registering late: EPOLL_CTL_ADD checks the fd's current state and
    /// reports it as an event if it is ready. The pending operation's timer
    /// fires either way. Should the late epoll_ctl fail, the loop calls the
    /// source's [`Source::watch_failed`].
    pub(crate) fn watch_lazy(&self, sock: Arc<dyn Source>, fd: RawFd, out: bool) -> Result<()> {
        {
            let mut inner = lock(&self.inner);
            if !self.external.load(Ordering::Acquire) {
                let id = sock.id();
                if let Some(d) = inner.socks.get_mut(&id).and_then(|r| r.deferred.as_mut())
                    && d.0 == fd
                {
                    d.2 |= out;
                    return Ok(());
                }
                inner.undefer(id);
                let pos = inner.deferred.len();
                inner.deferred.push(id);
                Self::register_locked(&mut inner, sock).deferred = Some((fd, pos, out));
                self.has_deferred.store(true, Ordering::Release);
                return Ok(());
            }
        }
        self.watch(sock, fd, out)
    }

    /// Makes the deferred registration of `id`, if any, now.
    pub(crate) fn watch_now(&self, id: u64) -> Result<()> {
        let fd = lock(&self.inner).undefer(id);
        match fd {
            Some((fd, out)) => Self::epoll_add(self.epfd, id, fd, out),
            None => Ok(()),
        }
    }

    /// Adds writability to the registration of source `id`'s `fd` (made by
    /// [`EventLoop::watch`] or [`EventLoop::watch_lazy`] without `out`): a
    /// send must wait. A deferred registration is made with EPOLLOUT; a
    /// made one is changed with EPOLL_CTL_MOD, which, like EPOLL_CTL_ADD,
    /// checks the fd's current state, so an fd that is writable already
    /// is reported by the next epoll_wait (no edge is lost).
    pub(crate) fn watch_out(&self, id: u64, fd: RawFd) -> Result<()> {
        {
            let mut inner = lock(&self.inner);
            if let Some(d) = inner.socks.get_mut(&id).and_then(|r| r.deferred.as_mut())
                && d.0 == fd
            {
                d.2 = true;
                return Ok(());
            }
        }
        Self::epoll_ctl(self.epfd, libc::EPOLL_CTL_MOD, id, fd, true).map_err(Error::errno)
    }

    /// Makes every deferred registration (before an epoll_wait); a failure
    /// finishes the source's pending operations with the error.
    fn flush_deferred(&self) {
        if !self.has_deferred.load(Ordering::Acquire) {
            return;
        }
        let mut failed = Vec::new();
        {
            let mut inner = lock(&self.inner);
            self.has_deferred.store(false, Ordering::Release);
            let mut ids = std::mem::take(&mut inner.deferred);
            for id in &ids {
                let Some(reg) = inner.socks.get_mut(id) else {
                    continue;
                };
                let Some((fd, _, out)) = reg.deferred.take() else {
                    continue;
                };
                if let Err(e) = Self::epoll_add(self.epfd, *id, fd, out) {
                    failed.push((Arc::clone(&reg.src), e));
                }
            }
            // Keep the allocation for the next round.
            ids.clear();
            inner.deferred = ids;
        }
        for (src, e) in failed {
            src.watch_failed(self, e);
        }
    }

    /// EPOLL_CTL_ADD of `fd` with data `id` (MOD if it is there already),
    /// edge-triggered, for EPOLLIN|EPOLLRDHUP and, if `out`, EPOLLOUT.
    fn epoll_add(epfd: RawFd, id: u64, fd: RawFd, out: bool) -> Result<()> {
        match Self::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, id, fd, out) {
            Err(libc::EEXIST) => Self::epoll_ctl(epfd, libc::EPOLL_CTL_MOD, id, fd, out),
            r => r,
        }
        .map_err(Error::errno)
    }

    fn epoll_ctl(
        epfd: RawFd,
        op: i32,
        id: u64,
        fd: RawFd,
        out: bool,
    ) -> std::result::Result<(), i32> {
        let mut events = libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET;
        if out {
            events |= libc::EPOLLOUT;
        }
        let mut ev = libc::epoll_event {
            events: events as u32,
            u64: id,
        };
        // SAFETY: valid fds and event.
        if unsafe { libc::epoll_ctl(epfd, op, fd, &mut ev) } < 0 {
            return Err(errno());
        }
        Ok(())
    }

    /// Keeps a source reachable for its timers before it has an fd (a
    /// connect still resolving its host name).
    pub(crate) fn hold(&self, sock: Arc<dyn Source>) {
        self.register(sock);
    }

    /// Removes one fd of source `id` from the epoll (or cancels its
    /// deferred registration), keeping the source and its timers (a connect
    /// moving on to the next address); call before closing the fd.
    pub(crate) fn unregister_fd(&self, id: u64, fd: RawFd) {
        if lock(&self.inner).undefer(id).is_some_and(|(d, _)| d == fd) {
            return; // never added
        }
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: valid epoll fd; an fd that is not registered only yields an error.
        unsafe { libc::epoll_ctl(self.epfd, libc::EPOLL_CTL_DEL, fd, &mut ev) };
    }

    /// Unregisters a socket; call before its fd is closed.
    /// A deferred registration of `fd` is cancelled: no EPOLL_CTL_DEL.
    pub(crate) fn forget(&self, id: u64, fd: RawFd) {
        let (removed, deferred) = {
            let mut inner = lock(&self.inner);
            let deferred = inner.undefer(id);
            (inner.remove(id), deferred)
        };
        if fd >= 0 && deferred.map(|(d, _)| d) != Some(fd) {
            let mut ev = libc::epoll_event { events: 0, u64: 0 };
            // SAFETY: valid epoll fd; a stale fd only yields an error we ignore.
            unsafe { libc::epoll_ctl(self.epfd, libc::EPOLL_CTL_DEL, fd, &mut ev) };
        }
        drop(removed);
    }

    /// Arms the timer of a pending operation (replacing the slot's previous
    /// one) of a registered source: O(1), no allocation once the slot's heap
    /// entry exists.
    pub(crate) fn arm(&self, id: u64, slot: Slot, deadline: Instant) {
        lock(&self.inner).arm(id, slot as u8, deadline);
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
        let deadline = Instant::now() + dur;
        let mut inner = lock(&self.inner);
        inner.seq += 1;
        let seq = inner.seq;
        inner
            .heap
            .push(Reverse((deadline, seq, TimerKind::Sleep(token))));
        inner.sleeps += 1;
        inner.live += 1;
    }

    /// Reports `token` as finished on the next wait (any thread).
    pub fn post_token(&self, token: u64) {
        self.solo_ok.store(false, Ordering::Relaxed);
        self.post(Box::new(move |lp: &EventLoop| lp.complete(token)));
    }

    /// Marks work started off the loop's thread that will [`post`] back
    /// with no armed timer on this loop: the solo path stays off until the
    /// returned guard drops.
    ///
    /// [`post`]: EventLoop::post
    pub(crate) fn outside_work(&self) -> OutsideWork {
        self.outside.fetch_add(1, Ordering::AcqRel);
        OutsideWork(Arc::clone(&self.outside))
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

    /// Time until the earliest armed timer or sleep, Some(ZERO) when
    /// completions are ready, None when nothing is scheduled.
    pub fn next_timeout(&self) -> Option<Duration> {
        let mut inner = lock(&self.inner);
        if !inner.ready.is_empty() {
            return Some(Duration::ZERO);
        }
        inner
            .settle()
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// (fds in the epoll set, deferred registrations), the wake-up eventfd
    /// not counted; from /proc (tests only).
    #[cfg(test)]
    pub(crate) fn registrations(&self) -> (usize, usize) {
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", self.epfd))
            .expect("epoll fdinfo");
        let added = info.lines().filter(|l| l.starts_with("tfd:")).count();
        (added - 1, lock(&self.inner).deferred.len())
    }

    /// The events `fd` is registered for in the epoll set, None when it is
    /// not there; from /proc (tests only).
    #[cfg(test)]
    pub(crate) fn interest(&self, fd: RawFd) -> Option<u32> {
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", self.epfd))
            .expect("epoll fdinfo");
        info.lines().find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("tfd:") && w.next()?.parse::<RawFd>().ok()? == fd)
                .then(|| {
                    w.next().filter(|k| *k == "events:")?;
                    u32::from_str_radix(w.next()?, 16).ok()
                })
                .flatten()
        })
    }

    /// Number of operations and sleeps the loop is tracking.
    pub fn pending(&self) -> usize {
        let inner = lock(&self.inner);
        inner.ready.len() + inner.armed + inner.sleeps
    }

    /// Waits up to `timeout` (None = forever) for finished operations and
    /// writes their tokens into `out`; returns how many. Returns early with 0
    /// only when the timeout expires.
    pub fn wait(&self, out: &mut [u64], timeout: Option<Duration>) -> usize {
        if out.is_empty() {
            return 0;
        }
        let mut now = Instant::now();
        let deadline = timeout.map(|t| now + t);
        // Written by epoll_wait before being read; left uninitialised
        // (zeroing 3 KiB per wait was the loop's largest per-call cost).
        let mut events = [const { MaybeUninit::<libc::epoll_event>::uninit() }; MAX_EVENTS];
        // After one epoll_wait that finished nothing (a fresh registration's
        // writable edge, say), waiting in it again costs one syscall; the
        // solo path could cost three on a fresh non-blocking fd.
        let mut solo_allowed = true;
        loop {
            let (timer, solo) = {
                let mut inner = lock(&self.inner);
                let n = inner.take_ready(out);
                if n > 0 {
                    return n;
                }
                // Waking at an entry that turns out unused only costs a loop.
                let timer = inner.earliest_bound();
                let solo = if !solo_allowed || timeout == Some(Duration::ZERO) {
                    None
                } else {
                    self.solo_candidate(&inner)
                        .map(|s| (s, if inner.sleeps > 0 { timer } else { None }))
                };
                (timer, solo)
            };
            let until = match (deadline, timer) {
                (Some(d), Some(t)) => Some(d.min(t)),
                (d, t) => d.or(t),
            };
            // Nothing due yet: the solo path may wait instead of epoll_wait.
            let waited = until.is_none_or(|u| u > now)
                && solo.is_some_and(|(src, sleep)| {
                    let limit = match (deadline, sleep) {
                        (Some(d), Some(s)) => Some(d.min(s)),
                        (d, s) => d.or(s),
                    };
                    src.solo(self, limit, now)
                });
            if !waited {
                solo_allowed = false;
                self.flush_deferred();
                let ms = match until {
                    None => -1,
                    Some(u) => {
                        let ms = u.saturating_duration_since(now).as_micros().div_ceil(1000);
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
            }
            now = Instant::now();
            let due = {
                let mut inner = lock(&self.inner);
                let due = inner.earliest_bound().is_some_and(|d| d <= now);
                let n = if due { 0 } else { inner.take_ready(out) };
                if n > 0 {
                    return n;
                }
                due
            };
            if due {
                self.fire_timers(now);
                let n = lock(&self.inner).take_ready(out);
                if n > 0 {
                    return n;
                }
            }
            if deadline.is_some_and(|d| now >= d) {
                return 0;
            }
        }
    }

    /// The source whose single pending receive is all the loop waits for:
    /// nothing ready (checked by the caller), nothing posted, and one armed
    /// operation timer, a read's. Sleeps may be armed: they bound the wait.
    fn solo_candidate(&self, inner: &Inner) -> Option<Arc<dyn Source>> {
        if !self.solo_ok.load(Ordering::Relaxed)
            || self.outside.load(Ordering::Acquire) != 0
            || self.wake_pending.load(Ordering::Acquire)
            || inner.armed != 1
        {
            return None;
        }
        let (id, slot) = inner.last_armed;
        if slot != Slot::Read as u8 {
            return None;
        }
        let reg = inner.socks.get(&id)?;
        reg.timers[slot as usize].armed?;
        Some(Arc::clone(&reg.src))
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
        let sock = lock(&self.inner)
            .socks
            .get(&data)
            .map(|r| Arc::clone(&r.src));
        if let Some(sock) = sock {
            let err = events & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0;
            if err || events & libc::EPOLLRDHUP as u32 != 0 {
                sock.on_hangup();
            }
            let readable = err || events & (libc::EPOLLIN | libc::EPOLLRDHUP) as u32 != 0;
            let writable = err || events & libc::EPOLLOUT as u32 != 0;
            sock.on_ready(self, readable, writable);
        }
    }

    /// Fires every timer due at `now`, none earlier than its deadline.
    fn fire_timers(&self, now: Instant) {
        loop {
            let (sock, slot) = {
                let mut inner = lock(&self.inner);
                if inner.earliest_bound().is_none_or(|d| d > now) {
                    return;
                }
                match inner.settle() {
                    Some(d) if d <= now => {}
                    _ => return,
                }
                let Some(Reverse((_, _, kind))) = inner.heap.pop() else {
                    return;
                };
                inner.live -= 1;
                match kind {
                    TimerKind::Sleep(token) => {
                        inner.sleeps -= 1;
                        inner.ready.push_back(token);
                        continue;
                    }
                    TimerKind::Op(id, slot) => {
                        // settle() left a live entry with armed == deadline.
                        let Some(reg) = inner.socks.get_mut(&id) else {
                            continue;
                        };
                        reg.timers[slot as usize] = OpTimer::default();
                        let src = Arc::clone(&reg.src);
                        inner.armed -= 1;
                        (src, slot_of(slot))
                    }
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    /// A source with no fd: records when its timers fire.
    struct Probe {
        id: u64,
        fired: Mutex<Vec<(Slot, Instant)>>,
    }

    static NEXT: AtomicU64 = AtomicU64::new(1 << 40);

    fn probe(lp: &EventLoop) -> Arc<Probe> {
        let p = Arc::new(Probe {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            fired: Mutex::new(Vec::new()),
        });
        lp.hold(Arc::clone(&p) as Arc<dyn Source>);
        p
    }

    impl Source for Probe {
        fn id(&self) -> u64 {
            self.id
        }
        fn on_ready(self: Arc<Self>, _: &EventLoop, _: bool, _: bool) {}
        fn on_timer(self: Arc<Self>, lp: &EventLoop, slot: Slot) -> Option<Instant> {
            lock(&self.fired).push((slot, Instant::now()));
            lp.complete(self.id * 2 + slot as u64);
            None
        }
    }

    /// Bounds of `next_timeout` for a deadline `d`, taken around the call.
    fn assert_next(lp: &EventLoop, d: Instant) {
        let before = Instant::now();
        let t = lp.next_timeout().expect("a timer");
        let after = Instant::now();
        assert!(t <= d.saturating_duration_since(before), "{t:?} past {d:?}");
        assert!(
            t >= d.saturating_duration_since(after),
            "{t:?} before {d:?}"
        );
    }

    fn drain(lp: &EventLoop, n: usize) -> Vec<u64> {
        let end = Instant::now() + Duration::from_secs(20);
        let mut got = Vec::new();
        let mut buf = [0u64; 64];
        while got.len() < n {
            assert!(Instant::now() < end, "timers never fired: {got:?}");
            let k = lp.wait(&mut buf, Some(Duration::from_secs(1)));
            got.extend_from_slice(&buf[..k]);
        }
        got
    }

    #[test]
    fn solo_timeout_stays_under_the_bound_and_sticks() {
        assert_eq!(solo_timeout_ms(Duration::from_millis(11), 0), None);
        let t = solo_timeout_ms(Duration::from_secs(10), 0).unwrap();
        assert!(t > 0 && t + t / 8 + 10 <= 10_000, "{t}");
        // Kept while it fits and is not much shorter: no setsockopt per call.
        assert_eq!(solo_timeout_ms(Duration::from_millis(9_999), t), Some(t));
        assert_eq!(solo_timeout_ms(Duration::from_millis(9_997), t), Some(t));
        assert_eq!(solo_timeout_ms(Duration::from_secs(60), t), Some(52_490));
        assert!(solo_timeout_ms(Duration::from_millis(100), t).unwrap() < 100);
    }

    #[test]
    fn many_timers_armed_and_cancelled() {
        let lp = EventLoop::new().unwrap();
        let base = Instant::now() + Duration::from_millis(200);
        let probes: Vec<_> = (0..300).map(|_| probe(&lp)).collect();
        // Arm every read and write timer, then re-arm them (later and
        // earlier) and cancel all but a few, in scrambled order.
        for (i, p) in probes.iter().enumerate() {
            let d = base + Duration::from_millis(((i * 7919) % 300) as u64);
            lp.arm(p.id, Slot::Read, d + Duration::from_secs(5));
            lp.arm(p.id, Slot::Write, d);
            lp.arm(p.id, Slot::Read, d);
        }
        let mut live = Vec::new();
        for (i, p) in probes.iter().enumerate() {
            let d = base + Duration::from_millis(((i * 7919) % 300) as u64);
            if i % 50 == 7 {
                live.push((p.id, Slot::Read, d));
                lp.complete_op(p.id, Slot::Write, 0);
            } else {
                lp.complete_op(p.id, Slot::Read, 0);
                lp.complete_op(p.id, Slot::Write, 0);
            }
        }
        let mut buf = [0u64; 1024];
        assert_eq!(lp.wait(&mut buf, Some(Duration::ZERO)), 600 - live.len());
        assert_eq!(lp.pending(), live.len());
        let first = live.iter().map(|l| l.2).min().unwrap();
        assert_next(&lp, first);
        // A sleep due sooner is the earliest; cancelled timers never fire,
        // live ones never early.
        let sleep_at = Instant::now() + Duration::from_millis(50);
        lp.sleep(1, Duration::from_millis(50));
        assert!(lp.next_timeout().unwrap() <= Duration::from_millis(50));
        let got = drain(&lp, live.len() + 1);
        assert_eq!(got[0], 1, "the sleep is due first");
        assert!(Instant::now() >= sleep_at);
        for p in &probes {
            let fired = lock(&p.fired);
            match live.iter().find(|l| l.0 == p.id) {
                None => assert!(fired.is_empty(), "a cancelled timer fired"),
                Some(&(_, slot, d)) => {
                    assert_eq!(fired.len(), 1);
                    assert_eq!(fired[0].0, slot);
                    assert!(fired[0].1 >= d, "fired early");
                }
            }
        }
        assert_eq!(lp.pending(), 0);
        assert_eq!(lp.next_timeout(), None);
    }

    #[test]
    fn rearming_earlier_and_forgetting_leave_no_heap_behind() {
        let lp = EventLoop::new().unwrap();
        let far = Instant::now() + Duration::from_secs(3600);
        let p = probe(&lp);
        for i in 0..10_000u64 {
            // Each re-arm is earlier than the queued entry: a new entry.
            lp.arm(p.id, Slot::Read, far - Duration::from_millis(i));
        }
        for _ in 0..1_000 {
            let q = probe(&lp);
            lp.arm(q.id, Slot::Read, far);
            lp.forget(q.id, -1);
        }
        {
            let inner = lock(&lp.inner);
            assert!(
                inner.heap.len() <= 2 * inner.live + 64,
                "{}",
                inner.heap.len()
            );
            assert_eq!(inner.armed, 1);
        }
        assert_next(&lp, far - Duration::from_millis(9_999));
        lp.complete_op(p.id, Slot::Read, 0);
        let mut buf = [0u64; 4];
        assert_eq!(lp.wait(&mut buf, Some(Duration::ZERO)), 1);
        assert_eq!(lp.next_timeout(), None);
        assert_eq!(lp.pending(), 0);
    }

    #[test]
    fn a_rearmed_timer_fires_at_its_new_deadline_only() {
        let lp = EventLoop::new().unwrap();
        let p = probe(&lp);
        let now = Instant::now();
        lp.arm(p.id, Slot::Read, now + Duration::from_millis(20));
        lp.arm(p.id, Slot::Read, now + Duration::from_millis(120));
        assert_next(&lp, now + Duration::from_millis(120));
        let got = drain(&lp, 1);
        assert_eq!(got, [p.id * 2]);
        let fired = lock(&p.fired);
        assert_eq!(fired.len(), 1);
        assert!(fired[0].1 >= now + Duration::from_millis(120));
    }
}
