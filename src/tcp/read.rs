//! Receiving: the receive engines driven by recv(2), blocking or from a loop.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Slot, Start, Tcp, lock, sys};
use crate::error::Error;
use crate::event_loop::{EventLoop, solo_timeout_ms};
use crate::receive::{self, Pattern, RecvBuf, ScanState, Span, Step, Until};

/// A receiveuntil iterator, shareable with a loop while its call is pending.
pub struct UntilIter {
    id: usize,
    engine: Mutex<Until>,
}

static NEXT_UNTIL: AtomicUsize = AtomicUsize::new(1);

impl UntilIter {
    pub fn new(pattern: &[u8], inclusive: bool) -> UntilIter {
        UntilIter {
            id: NEXT_UNTIL.fetch_add(1, Ordering::Relaxed),
            engine: Mutex::new(Until::new(pattern, inclusive)),
        }
    }
}

/// What to receive.
#[derive(Clone)]
pub enum ReadRequest {
    Pattern(Pattern),
    /// An iterator call; `usize` is its size argument (0 = none).
    Until(Arc<UntilIter>, usize),
}

/// The result of a receive, with data pointing into the socket's buffer
/// (valid until the next call on the socket).
#[derive(Debug, Clone, Copy)]
pub enum ReadOutcome {
    Data(*const u8, usize),
    /// A sized receiveuntil iterator's `nil, nil, nil`.
    Finished,
    /// `nil, err, partial`; partial is None when the socket was already closed
    /// (OpenResty returns two values then).
    Failed(&'static str, Option<(*const u8, usize)>),
    /// Like `Failed` for an error whose text is owned (kept by the socket).
    FailedOwned(Option<(*const u8, usize)>),
}

/// Internal form of an outcome: spans instead of pointers.
#[derive(Debug, Clone)]
enum Got {
    Data(Span),
    Finished,
    Failed(Error, Option<Span>),
}

struct Op {
    req: ReadRequest,
    scan: ScanState,
}

pub(super) struct PendingRead {
    op: Op,
    token: u64,
    deadline: Instant,
}

#[derive(Default)]
pub(super) struct Reader {
    buf: RecvBuf,
    eof: bool,
    /// SO_RCVTIMEO currently set in the kernel (0 = never set).
    rcvtimeo: u32,
    /// The until iterator that read last (0: another method), so an iterator
    /// knows when someone else consumed its held bytes.
    last_until: usize,
    pending: Option<PendingRead>,
    /// A finished async receive waiting to be fetched, and whether it closes
    /// the read half.
    result: Option<(Got, bool)>,
    /// The TLS layer, once `sslhandshake` succeeded (shared with the writer).
    pub(super) tls: Option<Arc<crate::tls::TlsConn>>,
    /// When a plain recv last came back short, draining the kernel's queue
    /// ([`sys::coarse_now_ns`]; 0: not on this connection).
    pub(super) drained_at: u64,
    /// The solo path has met this connection's non-blocking fd once (it
    /// waited with poll(2) instead of switching the fd to blocking), or
    /// need not (a pooled connection being reused): its next solo wait
    /// switches the fd.
    pub(super) solo_polled: bool,
}

impl Reader {
    pub(super) fn reset(&mut self) {
        self.buf.clear();
        self.eof = false;
        self.rcvtimeo = 0;
        self.last_until = 0;
        self.pending = None;
        self.result = None;
        self.tls = None;
        self.drained_at = 0;
        self.solo_polled = false;
    }

    /// SO_RCVTIMEO as set in the kernel (0 = never set).
    pub(super) fn kernel_timeout(&self) -> u32 {
        self.rcvtimeo
    }

    /// Records SO_RCVTIMEO already set on the fd (a pooled connection's).
    pub(super) fn set_kernel_timeout(&mut self, ms: u32) {
        self.rcvtimeo = ms;
    }

    pub(super) fn unread(&self) -> usize {
        self.buf.len()
    }

    pub(super) fn eof(&self) -> bool {
        self.eof
    }

    fn step(&mut self, op: &mut Op) -> Step {
        match &op.req {
            ReadRequest::Pattern(p) => receive::step(&mut self.buf, *p, &mut op.scan, self.eof),
            ReadRequest::Until(it, size) => {
                let mut eng = lock(&it.engine);
                if self.last_until != it.id {
                    eng.invalidate();
                    self.last_until = it.id;
                }
                eng.step(&mut self.buf, *size, self.eof)
            }
        }
    }

    fn partial(&mut self, op: &mut Op) -> Span {
        match &op.req {
            ReadRequest::Pattern(p) => receive::take_partial(&mut self.buf, *p, &mut op.scan),
            ReadRequest::Until(it, _) => lock(&it.engine).take_partial(&mut self.buf),
        }
    }

    fn want(&self, op: &Op) -> usize {
        match &op.req {
            ReadRequest::Pattern(p) => receive::want(&self.buf, *p),
            ReadRequest::Until(it, _) => lock(&it.engine).want(&self.buf),
        }
    }

    fn finish(&mut self, op: &Op) {
        if matches!(op.req, ReadRequest::Pattern(_)) {
            self.last_until = 0;
        }
    }

    fn ptr(&self, s: Span) -> (*const u8, usize) {
        (self.buf.ptr(s), s.len)
    }
}

enum Progress {
    /// The call ended: its result, and whether the read half closes.
    Done(Got, bool),
    /// Would block; true if bytes arrived on the way.
    WouldBlock(bool),
}

/// How [`progress`] waits for bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Non-blocking recv calls; EAGAIN gives `WouldBlock`.
    Never,
    /// Blocking recv calls bounded by SO_RCVTIMEO = this many ms (set
    /// here); an EAGAIN means the read timeout expired.
    Timeout(u32),
    /// At most one blocking recv, bounded by SO_RCVTIMEO as already set
    /// (the loop's solo path); then, or on EAGAIN, `WouldBlock`.
    Once,
}

/// "timeout" with the partial data, once `now` is past the receive's deadline.
fn solo_expired(rd: &mut Reader, p: &mut PendingRead, now: Instant) -> Option<(Got, bool)> {
    if now < p.deadline {
        return None;
    }
    let s = rd.partial(&mut p.op);
    Some((Got::Failed(Error::TIMEOUT, Some(s)), false))
}

/// Runs the engine, reading as needed (see [`Wait`]).
fn progress(
    fd: i32,
    rd: &mut Reader,
    op: &mut Op,
    wait: Wait,
    hint: &AtomicBool,
    mut may_skip: bool,
) -> Progress {
    let mut progressed = false;
    let blocking = wait != Wait::Never;
    loop {
        match rd.step(op) {
            Step::Pending => {}
            Step::Done(s) => return Progress::Done(Got::Data(s), false),
            Step::Finished => return Progress::Done(Got::Finished, false),
            Step::Closed(s) => return Progress::Done(Got::Failed(Error::CLOSED, Some(s)), true),
        }
        if wait == Wait::Once && progressed {
            return Progress::WouldBlock(true);
        }
        let want = rd.want(op);
        if let Wait::Timeout(ms) = wait
            && rd.rcvtimeo != ms
        {
            if let Err(e) = sys::set_io_timeout(fd, libc::SO_RCVTIMEO, ms) {
                let s = rd.partial(op);
                return Progress::Done(Got::Failed(Error::errno(e), Some(s)), true);
            }
            rd.rcvtimeo = ms;
        }
        if may_skip && rd.tls.is_none() && !hint.load(Ordering::Acquire) {
            // Starting an async receive: the last read drained the kernel and
            // no readiness came since, so this recv would only say EAGAIN
            // (the loop's epoll, or its solo recv, will see the data). Only
            // the first recv of a start: after readiness, edge-triggered
            // epoll needs reading until EAGAIN (a FIN may follow the data).
            return Progress::WouldBlock(progressed);
        }
        may_skip = false;
        let got = match &rd.tls {
            None => {
                // Into the buffer (committed there).
                let (r, asked) = sys::recv_into(fd, &mut rd.buf, want, !blocking);
                // A short read drained the socket (TCP returns what is there).
                hint.store(
                    matches!(r, Ok(n) if n == asked || n == 0),
                    Ordering::Release,
                );
                if matches!(r, Ok(n) if n < asked && n > 0) {
                    rd.drained_at = sys::coarse_now_ns(); // for setkeepalive
                }
                r
            }
            // Decrypted bytes, with recv's EOF/EAGAIN/errno contract.
            Some(tls) => {
                let r = tls.recv(fd, rd.buf.spare_init(want), !blocking);
                if let Ok(n) = r {
                    rd.buf.commit(n);
                }
                r
            }
        };
        match got {
            Ok(0) => rd.eof = true,
            Ok(_) => progressed = true,
            Err(libc::EAGAIN) if matches!(wait, Wait::Timeout(_)) => {
                let s = rd.partial(op);
                return Progress::Done(Got::Failed(Error::TIMEOUT, Some(s)), false);
            }
            Err(libc::EAGAIN) => return Progress::WouldBlock(progressed),
            Err(e) => {
                let s = rd.partial(op);
                return Progress::Done(Got::Failed(Error::errno(e), Some(s)), true);
            }
        }
    }
}

impl Tcp {
    fn outcome(&self, rd: &Reader, got: Got) -> ReadOutcome {
        match got {
            Got::Data(s) => {
                let (p, l) = rd.ptr(s);
                ReadOutcome::Data(p, l)
            }
            Got::Finished => ReadOutcome::Finished,
            Got::Failed(e, partial) => {
                let partial = partial.map(|s| rd.ptr(s));
                match e.as_str() {
                    "closed" => ReadOutcome::Failed("closed", partial),
                    "timeout" => ReadOutcome::Failed("timeout", partial),
                    _ => {
                        self.keep_error(&e);
                        ReadOutcome::FailedOwned(partial)
                    }
                }
            }
        }
    }

    fn refused(&self, e: Error) -> ReadOutcome {
        match e.as_str() {
            "closed" => ReadOutcome::Failed("closed", None),
            "socket busy reading" => ReadOutcome::Failed("socket busy reading", None),
            "socket busy connecting" => ReadOutcome::Failed("socket busy connecting", None),
            _ => {
                self.keep_error(&e);
                ReadOutcome::FailedOwned(None)
            }
        }
    }

    /// Blocking receive.
    pub fn receive(&self, req: ReadRequest) -> ReadOutcome {
        if let Err(e) = self.state.begin_read() {
            return self.refused(e);
        }
        if let ReadRequest::Pattern(Pattern::Size(0)) = req {
            self.state.end_read(false);
            return ReadOutcome::Data(b"".as_ptr(), 0);
        }
        let mut op = Op {
            req,
            scan: ScanState::default(),
        };
        let mut rd = lock(&self.rd);
        let fd = self.fd();
        if let Err(e) = self.ensure_blocking(fd) {
            drop(rd);
            self.state.end_read(false);
            return self.refused(Error::errno(e));
        }
        let timeout = self.read_timeout_ms();
        let (got, close) = match progress(
            fd,
            &mut rd,
            &mut op,
            Wait::Timeout(timeout),
            &self.maybe_readable,
            false,
        ) {
            Progress::Done(g, c) => (g, c),
            Progress::WouldBlock(_) => unreachable!("blocking reads never report EAGAIN"),
        };
        rd.finish(&op);
        let out = self.outcome(&rd, got);
        drop(rd);
        self.state.end_read(close);
        out
    }

    /// Starts a receive on a loop. `Pending` means the token will come out of
    /// the loop's wait; then call [`Tcp::take_read_result`].
    pub fn receive_start(
        self: &Arc<Self>,
        lp: &Arc<EventLoop>,
        token: u64,
        req: ReadRequest,
    ) -> Start<ReadOutcome> {
        if let Err(e) = self.state.begin_read() {
            return Start::Done(self.refused(e));
        }
        if let ReadRequest::Pattern(Pattern::Size(0)) = req {
            self.state.end_read(false);
            return Start::Done(ReadOutcome::Data(b"".as_ptr(), 0));
        }
        let mut op = Op {
            req,
            scan: ScanState::default(),
        };
        let mut rd = lock(&self.rd);
        let fd = self.fd();
        // No skipped recv once the peer hung up: its FIN may sit behind the
        // data a short read took, with no edge left to report it.
        let may_skip = !self.hung_up.load(Ordering::Acquire);
        match progress(
            fd,
            &mut rd,
            &mut op,
            Wait::Never,
            &self.maybe_readable,
            may_skip,
        ) {
            Progress::Done(got, close) => {
                rd.finish(&op);
                let out = self.outcome(&rd, got);
                drop(rd);
                self.state.end_read(close);
                Start::Done(out)
            }
            Progress::WouldBlock(_) => {
                if let Err(e) = self.watch_lazy(self, lp, false) {
                    let s = rd.partial(&mut op);
                    rd.finish(&op);
                    let out = self.outcome(&rd, Got::Failed(e, Some(s)));
                    drop(rd);
                    self.state.end_read(true);
                    return Start::Done(out);
                }
                let deadline =
                    Instant::now() + Duration::from_millis(self.read_timeout_ms() as u64);
                rd.pending = Some(PendingRead {
                    op,
                    token,
                    deadline,
                });
                drop(rd);
                lp.arm(self.id(), Slot::Read, deadline);
                Start::Pending
            }
        }
    }

    /// Continues a pending receive after readiness or its timer; returns a
    /// later deadline when the timer fired early (progress re-armed it).
    pub(super) fn drive_read(self: &Arc<Self>, lp: &EventLoop, timer: bool) -> Option<Instant> {
        let mut rd = lock(&self.rd);
        let mut p = rd.pending.take()?;
        let fd = self.fd();
        let done = if timer {
            let now = Instant::now();
            if p.deadline > now {
                let d = p.deadline;
                rd.pending = Some(p);
                return Some(d);
            }
            let s = rd.partial(&mut p.op);
            Some((Got::Failed(Error::TIMEOUT, Some(s)), false))
        } else {
            match progress(
                fd,
                &mut rd,
                &mut p.op,
                Wait::Never,
                &self.maybe_readable,
                false,
            ) {
                Progress::Done(g, c) => Some((g, c)),
                Progress::WouldBlock(progressed) => {
                    if progressed {
                        p.deadline =
                            Instant::now() + Duration::from_millis(self.read_timeout_ms() as u64);
                    }
                    None
                }
            }
        };
        self.settle(rd, p, done, lp);
        None
    }

    /// The loop's solo path (see `Source::solo`): wait for the pending
    /// receive in blocking recv calls on the loop's thread, each bounded by
    /// the time left before the earlier of its deadline (re-armed on
    /// progress, the inactivity timeout) and `limit`. Finishes the receive
    /// as `drive_read` would, "timeout" only once its deadline has passed;
    /// returns with it still pending when `limit` comes first. False when
    /// it declined without waiting.
    pub(super) fn solo_read(
        self: &Arc<Self>,
        lp: &EventLoop,
        limit: Option<Instant>,
        now: Instant,
    ) -> bool {
        let mut rd = lock(&self.rd);
        // A TLS record may need several recv calls: only when no other bound applies.
        if rd.tls.is_some() && limit.is_some() {
            return false;
        }
        // A fresh non-blocking fd (an async connect's) needs fcntl and
        // SO_RCVTIMEO before a blocking recv: two syscalls to save one per
        // wait. A connection that waits only once (connect, one request,
        // close) waits in poll(2) instead; one that waits again pays them
        // once and saves a syscall on every wait after.
        if !rd.solo_polled && self.nonblock.load(Ordering::Acquire) {
            rd.solo_polled = true;
            if rd.tls.is_some() {
                return false;
            }
            return self.solo_poll(lp, rd, limit, now);
        }
        let fd = self.fd();
        if self.ensure_blocking(fd).is_err() {
            return false;
        }
        let Some(mut p) = rd.pending.take() else {
            return false;
        };
        let mut waited = false;
        // The loop's reading first (see `Source::solo`), then fresh ones.
        let mut now = now;
        let done = loop {
            let bound = limit.map_or(p.deadline, |l| l.min(p.deadline));
            let left = bound.saturating_duration_since(now);
            let Some(ms) = solo_timeout_ms(left, rd.rcvtimeo as u64) else {
                break None;
            };
            let ms = ms.min(u32::MAX as u64) as u32;
            if ms != rd.rcvtimeo {
                if let Err(e) = sys::set_io_timeout(fd, libc::SO_RCVTIMEO, ms) {
                    let s = rd.partial(&mut p.op);
                    break Some((Got::Failed(Error::errno(e), Some(s)), true));
                }
                rd.rcvtimeo = ms;
            }
            waited = true;
            if let Some(r) = self.solo_progress(fd, &mut rd, &mut p, Wait::Once, &mut now) {
                break Some(r);
            }
        };
        self.settle(rd, p, done, lp);
        waited
    }

    /// The solo path's first wait on a fresh non-blocking fd: poll(2) for
    /// readability, then non-blocking recv calls, so the fd keeps its mode
    /// and never joins the epoll set (recv, poll, recv, where the epoll
    /// path takes recv, epoll_ctl, epoll_wait, recv). Same contract as
    /// [`Tcp::solo_read`]; poll's timeout is precise, so no margin.
    fn solo_poll(
        self: &Arc<Self>,
        lp: &EventLoop,
        mut rd: std::sync::MutexGuard<'_, Reader>,
        limit: Option<Instant>,
        now: Instant,
    ) -> bool {
        let Some(mut p) = rd.pending.take() else {
            return false;
        };
        let fd = self.fd();
        let mut waited = false;
        let mut now = now;
        let done = loop {
            let bound = limit.map_or(p.deadline, |l| l.min(p.deadline));
            let left = bound.saturating_duration_since(now);
            if left.is_zero() {
                break None;
            }
            let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
            waited = true;
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN | libc::POLLRDHUP,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
            if rc < 0 && sys::errno() != libc::EINTR {
                let s = rd.partial(&mut p.op);
                break Some((Got::Failed(Error::errno(sys::errno()), Some(s)), true));
            }
            if rc > 0 {
                if pfd.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0 {
                    // What the epoll's on_hangup would have recorded.
                    self.hung_up.store(true, Ordering::Release);
                }
                if let Some(r) = self.solo_progress(fd, &mut rd, &mut p, Wait::Never, &mut now) {
                    break Some(r);
                }
                continue;
            }
            now = Instant::now();
            if let Some(r) = solo_expired(&mut rd, &mut p, now) {
                break Some(r);
            }
        };
        self.settle(rd, p, done, lp);
        waited
    }

    /// One read step of a solo wait: the result when the receive finished
    /// or its deadline passed, None to wait again. Progress re-arms the
    /// inactivity deadline; `now` is read afresh.
    fn solo_progress(
        &self,
        fd: i32,
        rd: &mut Reader,
        p: &mut PendingRead,
        wait: Wait,
        now: &mut Instant,
    ) -> Option<(Got, bool)> {
        let progressed = match progress(fd, rd, &mut p.op, wait, &self.maybe_readable, false) {
            Progress::Done(g, c) => return Some((g, c)),
            Progress::WouldBlock(progressed) => progressed,
        };
        *now = Instant::now();
        if progressed {
            p.deadline = *now + Duration::from_millis(self.read_timeout_ms() as u64);
            return None;
        }
        solo_expired(rd, p, *now)
    }

    /// Ends a pending receive with `e` (its deferred registration failed),
    /// as its start would have: partial data, read half closed.
    pub(super) fn fail_read(&self, lp: &EventLoop, e: &Error) {
        let mut rd = lock(&self.rd);
        let Some(mut p) = rd.pending.take() else {
            return;
        };
        let s = rd.partial(&mut p.op);
        let res = Some((Got::Failed(e.clone(), Some(s)), true));
        self.settle(rd, p, res, lp);
    }

    /// Completes the pending receive `p` with `res` (the result and whether
    /// it closes the read half) and reports its token, or parks it again
    /// when `res` is None.
    fn settle(
        &self,
        mut rd: std::sync::MutexGuard<'_, Reader>,
        p: PendingRead,
        res: Option<(Got, bool)>,
        lp: &EventLoop,
    ) {
        match res {
            Some(res) => {
                rd.finish(&p.op);
                rd.result = Some(res);
                drop(rd);
                lp.complete_op(self.id(), Slot::Read, p.token);
            }
            None => rd.pending = Some(p),
        }
    }

    /// Fetches a finished async receive (ends the read operation).
    pub fn take_read_result(&self) -> Option<ReadOutcome> {
        let mut rd = lock(&self.rd);
        let (got, close) = rd.result.take()?;
        let out = self.outcome(&rd, got);
        drop(rd);
        self.state.end_read(close);
        Some(out)
    }

    /// Bytes received but not yet handed out.
    pub fn unread_len(&self) -> usize {
        lock(&self.rd).unread()
    }
}
