//! Keepalive connection pools (OpenResty's semantics, reference §4).
//!
//! One registry for the process, keyed by the pool name (`host:port` as
//! passed, the unix path, or the `pool` option). A pool counts its
//! connections (idle, in use, and connects under way); reuse is LIFO, a full
//! pool evicts its least recently pooled idle connection, and with a
//! `backlog` the count is capped at `size` and further connects queue (FIFO)
//! until a connection is pooled or closed.
//!
//! Idle connections are watched by one background thread with its own epoll
//! in which only idle fds are registered: it wakes when the peer sends data,
//! FIN or RST (the connection is closed and dropped at once, so `connect`
//! never hands out a connection the peer has closed) or when an idle timeout
//! expires, and never for sockets in use.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::fxhash::{FxHasher, fx_hash};

/// OpenResty's `lua_socket_pool_size`.
pub const DEFAULT_POOL_SIZE: usize = 30;
/// OpenResty's `lua_socket_keepalive_timeout` (ms).
pub const DEFAULT_IDLE_TIMEOUT_MS: u64 = 60_000;

/// A pool name with its hash, computed once (per connect, or once per
/// thread for a name used again: see `tcp::connect`). Cloning is a
/// reference count increment.
#[derive(Clone, Debug)]
pub struct PoolKey {
    hash: u64,
    name: Arc<str>,
}

impl PoolKey {
    pub fn new(name: &str) -> PoolKey {
        PoolKey {
            hash: fx_hash(name.as_bytes()),
            name: Arc::from(name),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.name
    }
}

impl Default for PoolKey {
    fn default() -> Self {
        PoolKey::new("")
    }
}

impl PartialEq for PoolKey {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.name == other.name
    }
}

impl Eq for PoolKey {}

impl Hash for PoolKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

type Map<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// A connection handed over by the pool.
#[derive(Debug)]
pub struct IdleConn {
    pub fd: i32,
    /// Times it was reused before this hand-over.
    pub reused: u32,
    pub unix: bool,
    /// The fd is in non-blocking mode (made by an asynchronous connect): a
    /// blocking user switches it when it first needs to.
    pub nonblocking: bool,
    pub nodelay: bool,
    /// SO_RCVTIMEO and SO_SNDTIMEO as set in the kernel (ms, 0 = never set),
    /// so a reused connection does not set them again on its first receive
    /// and send.
    pub rcvtimeo: u32,
    pub sndtimeo: u32,
    /// The TLS state of a connection that did `sslhandshake` (OpenResty pools
    /// TLS connections with their TLS state).
    pub tls: Option<std::sync::Arc<crate::tls::TlsConn>>,
}

/// What a connect gets from the pool.
#[derive(Debug)]
pub enum Grant {
    /// A pooled connection: use it, no connect needed.
    Idle(IdleConn),
    /// Permission to open a new connection, counted in the pool: call
    /// [`release`] when it closes or the connect fails.
    Slot,
}

/// Outcome of [`acquire`].
pub enum Acquired {
    Now(Grant),
    /// No pool exists for the key: connect without counting.
    Unpooled,
    /// Queued in the backlog; the waiter's callback will get the grant.
    Queued(u64),
}

/// Receives a queued connect's grant (runs under the registry lock: keep it short).
pub type Notify = Box<dyn FnOnce(Grant) + Send>;

/// Pool health, for users who need to see it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub size: usize,
    /// -1 when the pool has no backlog.
    pub backlog: i64,
    pub idle: usize,
    /// Connections in use or being opened through the pool.
    pub in_use: usize,
    pub waiting: usize,
    pub reuses: u64,
    pub evictions: u64,
}

struct Idle {
    id: u64,
    conn: IdleConn,
    /// Registered in the watcher's epoll (only after WATCH_AFTER idle).
    watched: bool,
    /// In `owners` (and its idle deadline, if any, in `deadlines`): from
    /// `put` for a short idle timeout, else once the watcher takes it in.
    tracked: bool,
}

/// An idle connection not yet in the watcher's epoll.
struct Unwatched {
    /// When to add it.
    due: Instant,
    id: u64,
    key: PoolKey,
    /// Its idle deadline, not yet in `deadlines`.
    deadline: Option<Instant>,
}

/// How long a pooled connection stays idle before the watcher's epoll takes
/// it in. Most pooled connections are reused much sooner: registering each
/// one (and removing it at reuse) would cost two epoll_ctl per cycle. A
/// connection closed by the peer meanwhile is still never handed out: the
/// hand-out check sees the FIN.
const WATCH_AFTER: Duration = Duration::from_millis(50);

struct Waiter {
    id: u64,
    notify: Notify,
}

struct Pool {
    size: usize,
    backlog: Option<usize>,
    connections: usize,
    idle: VecDeque<Idle>,
    waiters: VecDeque<Waiter>,
    reuses: u64,
    evictions: u64,
}

impl Pool {
    fn new(size: usize, backlog: Option<usize>) -> Pool {
        Pool {
            size,
            backlog,
            connections: 0,
            idle: VecDeque::new(),
            waiters: VecDeque::new(),
            reuses: 0,
            evictions: 0,
        }
    }
}

#[derive(Default)]
struct Registry {
    pid: u32,
    pools: Map<PoolKey, Pool>,
    /// Idle connection id -> pool key, for tracked idle connections.
    owners: Map<u64, PoolKey>,
    /// Idle deadlines (lazily deleted: checked against `owners`).
    deadlines: BinaryHeap<Reverse<(Instant, u64)>>,
    /// Idle connections not yet in the watcher's epoll, oldest first. Most
    /// are taken again before they are due: then `put` and `acquire` cost
    /// no map or heap update.
    unwatched: VecDeque<Unwatched>,
    watcher: Option<Watcher>,
}

struct Watcher {
    epfd: i32,
    wakefd: i32,
    /// When the watcher thread plans to wake next (None: only on events).
    next_wake: Option<Instant>,
}

static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn registry() -> MutexGuard<'static, Registry> {
    let m = REGISTRY.get_or_init(|| Mutex::new(Registry::default()));
    let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
    let me = crate::runtime::pid();
    if g.pid != me {
        forget_after_fork(&mut g, me);
    }
    g
}

/// In a forked child the pools are the parent's: close our copies of their
/// fds (the parent's connections live on) and start empty.
fn forget_after_fork(g: &mut Registry, me: u32) {
    if g.pid != 0 {
        for pool in g.pools.values_mut() {
            for idle in pool.idle.drain(..) {
                close_fd(idle.conn.fd);
            }
            // Waiters belong to threads that do not exist in the child.
            std::mem::forget(std::mem::take(&mut pool.waiters));
        }
        if let Some(w) = g.watcher.take() {
            close_fd(w.epfd);
            close_fd(w.wakefd);
        }
    }
    g.pools.clear();
    g.owners.clear();
    g.deadlines.clear();
    g.unwatched.clear();
    g.pid = me;
}

/// True when an idle connection has data, EOF or an error pending.
fn peer_spoke(fd: i32) -> bool {
    let mut byte = 0u8;
    // SAFETY: one writable byte; MSG_PEEK leaves the socket unchanged.
    let n = unsafe {
        libc::recv(
            fd,
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n >= 0 || crate::tcp::last_errno() != libc::EAGAIN
}

fn close_fd(fd: i32) {
    if fd >= 0 {
        // SAFETY: the pool owns idle fds exclusively.
        unsafe { libc::close(fd) };
    }
}

/// Takes a connection for a connect to `key`: an idle one (LIFO), a counted
/// slot, a place in the backlog queue, or nothing when no pool exists and
/// none is asked for. Creates the pool when `pool_size` or `backlog` is given.
pub fn acquire(
    key: &PoolKey,
    pool_size: Option<u32>,
    backlog: Option<u32>,
    notify: impl FnOnce() -> Notify,
) -> Result<Acquired> {
    let mut g = registry();
    if !g.pools.contains_key(key) {
        if pool_size.is_none() && backlog.is_none() {
            return Ok(Acquired::Unpooled);
        }
        let size = pool_size.map_or(DEFAULT_POOL_SIZE, |s| s as usize);
        g.pools
            .insert(key.clone(), Pool::new(size, backlog.map(|b| b as usize)));
    }
    let g = &mut *g;
    let pool = g.pools.get_mut(key).expect("pool just ensured");
    while let Some(idle) = pool.idle.pop_back() {
        if idle.tracked {
            g.owners.remove(&idle.id);
        }
        if idle.watched {
            unwatch(g.watcher.as_ref(), idle.conn.fd);
        }
        // The watcher may not have seen a FIN/RST/data that has already
        // arrived: check here, so a closed connection is never handed out.
        let spoke = match &idle.conn.tls {
            // TLS-layer records alone (a late session ticket) are consumed.
            Some(t) => !t.absorb_idle(idle.conn.fd),
            None => peer_spoke(idle.conn.fd),
        };
        if spoke {
            close_fd(idle.conn.fd);
            pool.connections = pool.connections.saturating_sub(1);
            continue;
        }
        pool.reuses += 1;
        return Ok(Acquired::Now(Grant::Idle(idle.conn)));
    }
    if let Some(backlog) = pool.backlog
        && pool.connections >= pool.size
    {
        if pool.waiters.len() >= backlog {
            return Err(Error::op("too many waiting connect operations"));
        }
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        pool.waiters.push_back(Waiter {
            id,
            notify: notify(),
        });
        return Ok(Acquired::Queued(id));
    }
    pool.connections += 1;
    Ok(Acquired::Now(Grant::Slot))
}

/// Leaves the backlog queue (timeout, killed thread). False when the waiter
/// was already granted (its notify ran or is about to).
pub fn cancel_wait(key: &PoolKey, waiter: u64) -> bool {
    let mut g = registry();
    let Some(pool) = g.pools.get_mut(key) else {
        return false;
    };
    let before = pool.waiters.len();
    pool.waiters.retain(|w| w.id != waiter);
    let removed = pool.waiters.len() != before;
    maybe_free(&mut g, key);
    removed
}

/// Blocking form of [`acquire`]: waits in the backlog queue until `deadline`.
pub fn acquire_blocking(
    key: &PoolKey,
    pool_size: Option<u32>,
    backlog: Option<u32>,
    deadline: Instant,
) -> Result<Option<Grant>> {
    type Cell = Arc<(Mutex<Option<Grant>>, Condvar)>;
    // Allocated only when the connect queues (the usual acquire does not).
    let mut queued: Option<Cell> = None;
    let acquired = acquire(key, pool_size, backlog, || {
        let cell: Cell = Arc::new((Mutex::new(None), Condvar::new()));
        let c2 = Arc::clone(&cell);
        queued = Some(cell);
        Box::new(move |grant| {
            let (m, cv) = &*c2;
            *m.lock().unwrap_or_else(|e| e.into_inner()) = Some(grant);
            cv.notify_one();
        })
    })?;
    let id = match acquired {
        Acquired::Now(g) => return Ok(Some(g)),
        Acquired::Unpooled => return Ok(None),
        Acquired::Queued(id) => id,
    };
    let Some(cell) = queued else {
        return Err(Error::op("pool queue without a waiter"));
    };
    let (m, cv) = &*cell;
    let mut slot = m.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if let Some(g) = slot.take() {
            return Ok(Some(g));
        }
        let now = Instant::now();
        if now >= deadline {
            drop(slot);
            if cancel_wait(key, id) {
                return Err(Error::TIMEOUT);
            }
            // Granted just as we gave up: the grant is on its way.
            slot = m.lock().unwrap_or_else(|e| e.into_inner());
            while slot.is_none() {
                slot = cv.wait(slot).unwrap_or_else(|e| e.into_inner());
            }
            continue;
        }
        slot = cv
            .wait_timeout(slot, deadline - now)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// A counted connection of pool `key` closed (or its connect failed): frees
/// its place and lets the first queued connect open a new one.
pub fn release(key: &PoolKey) {
    let mut g = registry();
    let Some(pool) = g.pools.get_mut(key) else {
        return;
    };
    pool.connections = pool.connections.saturating_sub(1);
    if pool.connections < pool.size
        && let Some(w) = pool.waiters.pop_front()
    {
        pool.connections += 1;
        (w.notify)(Grant::Slot);
    }
    maybe_free(&mut g, key);
}

/// Gives back a grant nobody will use (its waiter timed out meanwhile).
pub fn give_back(key: &PoolKey, grant: Grant) {
    match grant {
        Grant::Slot => release(key),
        Grant::Idle(conn) => {
            close_fd(conn.fd);
            release(key);
        }
    }
}

fn maybe_free(g: &mut Registry, key: &PoolKey) {
    if let Some(pool) = g.pools.get(key)
        && pool.connections == 0
        && pool.waiters.is_empty()
        && pool.idle.is_empty()
    {
        g.pools.remove(key);
    }
}

/// Adds an idle connection to pool `key` (the connection was checked clean
/// by the socket). `counted`: the pool already counts it. `size` sizes a
/// pool created now. Returns an error (and closes the fd) only if the
/// watcher cannot watch it.
pub fn put(
    key: &PoolKey,
    conn: IdleConn,
    counted: bool,
    size: usize,
    idle_timeout_ms: u64,
) -> Result<()> {
    let mut g = registry();
    let g = &mut *g;
    if !g.pools.contains_key(key) {
        g.pools.insert(key.clone(), Pool::new(size, None));
    }
    let pool = g.pools.get_mut(key).expect("pool just ensured");
    if !counted {
        pool.connections += 1;
    }
    // A queued connect takes the connection straight away (reused + 1).
    if let Some(w) = pool.waiters.pop_front() {
        pool.reuses += 1;
        (w.notify)(Grant::Idle(conn));
        return Ok(());
    }
    if pool.idle.len() >= pool.size {
        if let Some(old) = pool.idle.pop_front() {
            if old.tracked {
                g.owners.remove(&old.id);
            }
            if old.watched {
                unwatch(g.watcher.as_ref(), old.conn.fd);
            }
            close_fd(old.conn.fd);
            pool.connections = pool.connections.saturating_sub(1);
            pool.evictions += 1;
        }
    }
    let pool_size = pool.size;
    if pool_size == 0 {
        close_fd(conn.fd);
        pool.connections = pool.connections.saturating_sub(1);
        maybe_free(g, key);
        return Ok(());
    }
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    if g.watcher.is_none() {
        match start_watcher() {
            Ok(w) => g.watcher = Some(w),
            Err(e) => {
                close_fd(conn.fd);
                let pool = g.pools.get_mut(key).expect("pool exists");
                pool.connections = pool.connections.saturating_sub(1);
                maybe_free(g, key);
                return Err(e);
            }
        }
    }
    let now = Instant::now();
    let due = now + WATCH_AFTER;
    let deadline = (idle_timeout_ms > 0).then(|| now + Duration::from_millis(idle_timeout_ms));
    // A deadline the watcher might reach late (its registrations are
    // batched: up to WATCH_AFTER / 2 after they are due) is tracked now.
    let tracked = deadline.is_some_and(|d| d <= due + WATCH_AFTER);
    g.pools
        .get_mut(key)
        .expect("pool exists")
        .idle
        .push_back(Idle {
            id,
            conn,
            watched: false,
            tracked,
        });
    let mut wake_at = due;
    if tracked && let Some(d) = deadline {
        g.owners.insert(id, key.clone());
        g.deadlines.push(Reverse((d, id)));
        wake_at = wake_at.min(d);
    }
    g.unwatched.push_back(Unwatched {
        due,
        id,
        key: key.clone(),
        deadline: deadline.filter(|_| !tracked),
    });
    let due = wake_at;
    let w = g.watcher.as_mut().expect("watcher started above");
    if w.next_wake.is_none_or(|t| due < t) {
        w.next_wake = Some(due);
        wake(w.wakefd);
    }
    Ok(())
}

/// Statistics of pool `key`, None when it does not exist.
pub fn stats(key: &str) -> Option<Stats> {
    stats_of(&PoolKey::new(key))
}

/// [`stats`] by key.
pub fn stats_of(key: &PoolKey) -> Option<Stats> {
    let g = registry();
    let p = g.pools.get(key)?;
    Some(Stats {
        size: p.size,
        backlog: p.backlog.map_or(-1, |b| b as i64),
        idle: p.idle.len(),
        in_use: p.connections.saturating_sub(p.idle.len()),
        waiting: p.waiters.len(),
        reuses: p.reuses,
        evictions: p.evictions,
    })
}

// ---- the idle watcher -------------------------------------------------------

fn watch(g: &mut Registry, fd: i32, id: u64) -> Result<()> {
    if g.watcher.is_none() {
        g.watcher = Some(start_watcher()?);
    }
    let w = g.watcher.as_ref().expect("watcher");
    let mut ev = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
        u64: id,
    };
    // SAFETY: valid fds and event.
    if unsafe { libc::epoll_ctl(w.epfd, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
        return Err(Error::errno(crate::tcp::last_errno()));
    }
    Ok(())
}

fn unwatch(w: Option<&Watcher>, fd: i32) {
    if let Some(w) = w {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: valid epoll fd; errors (fd not registered) are harmless.
        unsafe { libc::epoll_ctl(w.epfd, libc::EPOLL_CTL_DEL, fd, &mut ev) };
    }
}

fn wake(fd: i32) {
    let one: u64 = 1;
    // SAFETY: writing 8 bytes to our eventfd.
    unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
}

const WAKE_ID: u64 = 0;

fn start_watcher() -> Result<Watcher> {
    // SAFETY: plain syscalls creating fds owned by the watcher.
    let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epfd < 0 {
        return Err(Error::errno(crate::tcp::last_errno()));
    }
    // SAFETY: as above.
    let wakefd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if wakefd < 0 {
        close_fd(epfd);
        return Err(Error::errno(crate::tcp::last_errno()));
    }
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: WAKE_ID,
    };
    // SAFETY: valid fds.
    unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, wakefd, &mut ev) };
    let pid = crate::runtime::pid();
    std::thread::Builder::new()
        .name("cosocket-pool".into())
        .spawn(move || watcher_main(epfd, wakefd, pid))
        .map_err(|e| Error::from_io(&e))?;
    Ok(Watcher {
        epfd,
        wakefd,
        next_wake: None,
    })
}

fn watcher_main(epfd: i32, wakefd: i32, pid: u32) {
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 64];
    let mut timeout_ms: i32 = -1;
    loop {
        // SAFETY: events is a valid buffer.
        let n =
            unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), events.len() as i32, timeout_ms) };
        let mut g = registry();
        if g.pid != pid || g.watcher.as_ref().is_none_or(|w| w.epfd != epfd) {
            return; // forked away or replaced
        }
        for ev in &events[..n.max(0) as usize] {
            if ev.u64 == WAKE_ID {
                let mut buf = 0u64;
                // SAFETY: reading 8 bytes from our eventfd.
                unsafe { libc::read(wakefd, (&mut buf as *mut u64).cast(), 8) };
                continue;
            }
            // Data, FIN or RST on an idle connection: it cannot be reused,
            // unless all that came is TLS-layer records (a TLS 1.3 session
            // ticket sent after the response), which are consumed.
            if tls_still_clean(&g, ev.u64) {
                continue;
            }
            drop_idle(&mut g, ev.u64, false);
        }
        let now = Instant::now();
        while let Some(u) = g.unwatched.front() {
            if u.due > now {
                break;
            }
            if let Some(u) = g.unwatched.pop_front() {
                register_idle(&mut g, u);
            }
        }
        while let Some(Reverse((d, id))) = g.deadlines.peek().copied() {
            if !g.owners.contains_key(&id) {
                g.deadlines.pop();
                continue;
            }
            if d > now {
                break;
            }
            g.deadlines.pop();
            drop_idle(&mut g, id, true);
        }
        let mut next = g.deadlines.peek().map(|Reverse((d, _))| *d);
        if let Some(due) = g.unwatched.front().map(|u| u.due) {
            // Batch registrations: wake at most every WATCH_AFTER / 2.
            let due = due.max(now + WATCH_AFTER / 2);
            next = Some(next.map_or(due, |n| n.min(due)));
        }
        if let Some(w) = g.watcher.as_mut() {
            w.next_wake = next;
        }
        timeout_ms = match next {
            None => -1,
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .as_millis()
                .clamp(1, i32::MAX as u128) as i32,
        };
    }
}

/// Adds a still-idle connection to the watcher's epoll (it has been idle for
/// WATCH_AFTER), tracking it (and its idle deadline) first if `put` did not;
/// one that cannot be watched is closed.
fn register_idle(g: &mut Registry, u: Unwatched) {
    let Some(idle) = g
        .pools
        .get_mut(&u.key)
        .and_then(|p| p.idle.iter_mut().find(|i| i.id == u.id))
    else {
        return; // reused or closed meanwhile
    };
    let fd = idle.conn.fd;
    if !idle.tracked {
        idle.tracked = true;
        g.owners.insert(u.id, u.key.clone());
        if let Some(d) = u.deadline {
            g.deadlines.push(Reverse((d, u.id)));
        }
    }
    if watch(g, fd, u.id).is_err() {
        drop_idle(g, u.id, false);
        return;
    }
    if let Some(i) = g
        .pools
        .get_mut(&u.key)
        .and_then(|p| p.idle.iter_mut().find(|i| i.id == u.id))
    {
        i.watched = true;
    }
}

/// For an idle TLS connection that became readable: absorbs TLS-layer
/// records and tells whether the connection is still clean.
fn tls_still_clean(g: &Registry, id: u64) -> bool {
    let Some(key) = g.owners.get(&id) else {
        return false;
    };
    g.pools
        .get(key)
        .and_then(|p| p.idle.iter().find(|i| i.id == id))
        .and_then(|i| i.conn.tls.as_ref().map(|t| t.absorb_idle(i.conn.fd)))
        .unwrap_or(false)
}

/// Closes and removes an idle connection (peer activity or idle timeout).
fn drop_idle(g: &mut Registry, id: u64, _expired: bool) {
    let Some(key) = g.owners.remove(&id) else {
        return;
    };
    let w = g.watcher.as_ref().map(|w| Watcher {
        epfd: w.epfd,
        wakefd: w.wakefd,
        next_wake: None,
    });
    if let Some(pool) = g.pools.get_mut(&key)
        && let Some(pos) = pool.idle.iter().position(|i| i.id == id)
    {
        let idle = pool.idle.remove(pos).expect("position is valid");
        unwatch(w.as_ref(), idle.conn.fd);
        close_fd(idle.conn.fd);
        pool.connections = pool.connections.saturating_sub(1);
        if pool.connections < pool.size
            && let Some(wt) = pool.waiters.pop_front()
        {
            pool.connections += 1;
            (wt.notify)(Grant::Slot);
        }
    }
    maybe_free(g, &key);
}
