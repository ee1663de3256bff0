//! Sending: whole buffers or gather lists, blocking or from a loop.

use std::io::IoSlice;
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use super::{Slot, Start, Tcp, lock, sys};
use crate::error::{Error, Result};
use crate::event_loop::EventLoop;

pub(super) struct PendingWrite {
    /// The bytes not yet sent (copied: the caller's buffers are free to go).
    pub(super) data: Vec<u8>,
    pub(super) off: usize,
    pub(super) total: usize,
    pub(super) token: u64,
    pub(super) deadline: Instant,
}

#[derive(Default)]
pub(super) struct Writer {
    /// SO_SNDTIMEO currently set in the kernel (0 = never set).
    sndtimeo: u32,
    /// TCP_NODELAY already set on this connection (nginx sets it on first send).
    nodelay: bool,
    /// The connection is a unix socket (no TCP options).
    pub(super) unix: bool,
    pub(super) pending: Option<PendingWrite>,
    result: Option<(Result<usize>, bool)>,
    /// The TLS layer, once `sslhandshake` succeeded (shared with the reader).
    pub(super) tls: Option<Arc<crate::tls::TlsConn>>,
}

impl Writer {
    pub(super) fn reset(&mut self) {
        self.sndtimeo = 0;
        self.nodelay = false;
        self.pending = None;
        self.result = None;
        self.tls = None;
    }

    /// Marks TCP_NODELAY as already set (a pooled connection keeps it).
    pub(super) fn set_nodelay_known(&mut self, on: bool) {
        self.nodelay = on;
    }

    /// SO_SNDTIMEO as set in the kernel (0 = never set).
    pub(super) fn kernel_timeout(&self) -> u32 {
        self.sndtimeo
    }

    /// Records SO_SNDTIMEO already set on the fd (a pooled connection's).
    pub(super) fn set_kernel_timeout(&mut self, ms: u32) {
        self.sndtimeo = ms;
    }

    pub(super) fn nodelay_known(&self) -> bool {
        self.nodelay
    }
}

fn send_some(fd: i32, bufs: &[IoSlice<'_>], blocking: bool) -> std::result::Result<usize, i32> {
    if bufs.len() == 1 {
        sys::send(fd, &bufs[0], !blocking)
    } else {
        // SAFETY: IoSlice is ABI-compatible with iovec on Unix.
        let iov =
            unsafe { std::slice::from_raw_parts(bufs.as_ptr().cast::<libc::iovec>(), bufs.len()) };
        sys::sendv(fd, iov, !blocking)
    }
}

/// Drops empty slices so `advance_slices` and sendmsg never see them.
fn nonempty<'a>(bufs: &'a [IoSlice<'a>]) -> Vec<IoSlice<'a>> {
    bufs.iter()
        .filter(|b| !b.is_empty())
        .map(|b| IoSlice::new(b))
        .collect()
}

impl Tcp {
    fn prepare_send(&self, wr: &mut super::write::Writer, fd: i32) {
        if !wr.nodelay && !wr.unix {
            // Like nginx's tcp_nodelay: small request lines must not wait for Nagle.
            let _ = sys::setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
            wr.nodelay = true;
        }
    }

    /// Blocking send of all the bytes (a gather list is sent as one stream).
    /// Returns the byte count once everything is in the kernel's buffer.
    pub fn send(&self, bufs: &[IoSlice<'_>]) -> Result<usize> {
        self.state.begin_write()?;
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            self.state.end_write(false);
            return Ok(0);
        }
        let mut wr = lock(&self.wr);
        let fd = self.fd();
        self.prepare_send(&mut wr, fd);
        if let Some(tls) = wr.tls.clone() {
            return self.tls_send(&tls, fd, bufs); // `wr` held, as below
        }
        if let Err(e) = self.ensure_blocking(fd) {
            drop(wr);
            self.state.end_write(true);
            return Err(Error::errno(e));
        }
        let timeout = self.send_timeout_ms();
        if wr.sndtimeo != timeout {
            if let Err(e) = sys::set_io_timeout(fd, libc::SO_SNDTIMEO, timeout) {
                drop(wr);
                self.state.end_write(true);
                return Err(Error::errno(e));
            }
            wr.sndtimeo = timeout;
        }
        // `wr` stays locked while sending, as the reader keeps `rd`: abort()
        // must not close (and the kernel reuse) the fd under a blocked send.
        let res = if bufs.len() == 1 {
            send_all_one(fd, &bufs[0])
        } else {
            let mut owned = nonempty(bufs);
            let mut slices: &mut [IoSlice<'_>] = &mut owned;
            let mut sent = 0;
            loop {
                match send_some(fd, slices, true) {
                    Ok(n) => {
                        sent += n;
                        if sent == total {
                            break Ok(total);
                        }
                        IoSlice::advance_slices(&mut slices, n);
                    }
                    Err(e) => break Err(e),
                }
            }
        };
        drop(wr);
        self.end_send(res)
    }

    /// Ends a blocking send: the write half is closed after an error, and
    /// EAGAIN (the send timeout expired) is "timeout".
    #[inline]
    pub(super) fn end_send(&self, res: std::result::Result<usize, i32>) -> Result<usize> {
        match res {
            Ok(n) => {
                self.state.end_write(false);
                Ok(n)
            }
            Err(e) => {
                self.state.end_write(true);
                Err(if e == libc::EAGAIN {
                    Error::TIMEOUT
                } else {
                    Error::errno(e)
                })
            }
        }
    }

    /// Starts a send on a loop: whatever the kernel does not take now is
    /// copied and sent as the socket becomes writable.
    pub fn send_start(
        self: &Arc<Self>,
        lp: &Arc<EventLoop>,
        token: u64,
        bufs: &[IoSlice<'_>],
    ) -> Start<Result<usize>> {
        if let Err(e) = self.state.begin_write() {
            return Start::Done(Err(e));
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            self.state.end_write(false);
            return Start::Done(Ok(0));
        }
        let mut wr = lock(&self.wr);
        let fd = self.fd();
        self.prepare_send(&mut wr, fd);
        if let Some(tls) = wr.tls.clone() {
            return self.tls_send_start(lp, token, wr, &tls, bufs, total);
        }
        let mut sent = 0;
        // One buffer (a Lua string send) needs no filtered copy.
        let mut single;
        let mut owned;
        let mut slices: &mut [IoSlice<'_>] = if bufs.len() == 1 {
            single = [bufs[0]];
            &mut single
        } else {
            owned = nonempty(bufs);
            &mut owned
        };
        // Send until EAGAIN: the loop's epoll is edge-triggered, so parking
        // after a short write that was not EAGAIN (sendmsg takes at most
        // UIO_MAXIOV buffers) would wait for an edge that never comes.
        loop {
            match send_some(fd, slices, false) {
                Ok(n) => {
                    sent += n;
                    if sent == total || n == 0 {
                        break;
                    }
                    IoSlice::advance_slices(&mut slices, n);
                }
                Err(libc::EAGAIN) => break,
                Err(e) => {
                    drop(wr);
                    self.state.end_write(true);
                    return Start::Done(Err(Error::errno(e)));
                }
            }
        }
        if sent == total {
            drop(wr);
            self.state.end_write(false);
            return Start::Done(Ok(total));
        }
        self.park_send(lp, token, wr, bufs, sent, total)
    }

    /// Parks what the kernel (or rustls) did not take of a send started on
    /// `lp`: the bytes of `bufs` past the first `sent` are copied and sent
    /// as the socket becomes writable; `token` comes out of the loop when
    /// all `total` bytes are sent, on an error or at the send timeout.
    pub(super) fn park_send(
        self: &Arc<Self>,
        lp: &Arc<EventLoop>,
        token: u64,
        mut wr: MutexGuard<'_, Writer>,
        bufs: &[IoSlice<'_>],
        sent: usize,
        total: usize,
    ) -> Start<Result<usize>> {
        if let Err(e) = self.watch_lazy(self, lp, true) {
            drop(wr);
            self.state.end_write(true);
            return Start::Done(Err(e));
        }
        let mut data = Vec::with_capacity(total - sent);
        let mut skip = sent;
        for b in bufs {
            if skip >= b.len() {
                skip -= b.len();
                continue;
            }
            data.extend_from_slice(&b[skip..]);
            skip = 0;
        }
        let deadline = Instant::now() + Duration::from_millis(self.send_timeout_ms() as u64);
        wr.pending = Some(PendingWrite {
            data,
            off: 0,
            total,
            token,
            deadline,
        });
        drop(wr);
        lp.arm(self.id(), Slot::Write, deadline);
        Start::Pending
    }

    pub(super) fn drive_write(self: &Arc<Self>, lp: &EventLoop, timer: bool) -> Option<Instant> {
        let mut wr = lock(&self.wr);
        let mut p = wr.pending.take()?;
        let fd = self.fd();
        let done: Option<(Result<usize>, bool)> = if timer {
            if p.deadline > Instant::now() {
                let d = p.deadline;
                wr.pending = Some(p);
                return Some(d);
            }
            Some((Err(Error::TIMEOUT), true))
        } else if let Some(tls) = wr.tls.clone() {
            self.tls_drive_send(&tls, fd, &mut p)
        } else {
            let mut out = None;
            loop {
                match sys::send(fd, &p.data[p.off..], true) {
                    Ok(n) => {
                        p.off += n;
                        if p.off == p.data.len() {
                            out = Some((Ok(p.total), false));
                            break;
                        }
                        p.deadline =
                            Instant::now() + Duration::from_millis(self.send_timeout_ms() as u64);
                    }
                    Err(libc::EAGAIN) => break,
                    Err(e) => {
                        out = Some((Err(Error::errno(e)), true));
                        break;
                    }
                }
            }
            out
        };
        match done {
            Some(res) => {
                wr.result = Some(res);
                drop(wr);
                lp.complete_op(self.id(), Slot::Write, p.token);
            }
            None => wr.pending = Some(p),
        }
        None
    }

    /// Ends a pending send with `e` (its deferred registration failed), as
    /// its start would have: write half closed.
    pub(super) fn fail_write(&self, lp: &EventLoop, e: &Error) {
        let mut wr = lock(&self.wr);
        let Some(p) = wr.pending.take() else {
            return;
        };
        wr.result = Some((Err(e.clone()), true));
        drop(wr);
        lp.complete_op(self.id(), Slot::Write, p.token);
    }

    /// Fetches a finished async send (ends the write operation).
    pub fn take_write_result(&self) -> Option<Result<usize>> {
        let (res, close) = lock(&self.wr).result.take()?;
        self.state.end_write(close);
        if let Err(e) = &res {
            self.keep_error(e);
        }
        Some(res)
    }
}

fn send_all_one(fd: i32, buf: &[u8]) -> std::result::Result<usize, i32> {
    let mut off = 0;
    while off < buf.len() {
        off += sys::send(fd, &buf[off..], false)?;
    }
    Ok(buf.len())
}
