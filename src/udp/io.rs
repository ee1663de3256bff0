//! send (one datagram, never waits) and receive (one datagram per call,
//! blocking or parked on a loop).

use std::io::IoSlice;
use std::sync::Arc;
use std::time::Instant;

use super::state::BROKEN;
use super::{MAX_DATAGRAM, Slot, Start, Udp, lock, sys};
use crate::error::{Error, Result};
use crate::event_loop::{EventLoop, solo_timeout_ms};

/// A received datagram: pointer + length into the socket's own buffer,
/// valid until the next call on the socket.
pub type Datagram = (*const u8, usize);

/// nginx's text when fewer bytes left than asked.
const PARTIAL_WRITE: Error = Error::op("partial write");

pub(super) struct PendingRead {
    token: u64,
    size: usize,
    deadline: Instant,
}

#[derive(Default)]
pub(super) struct Reader {
    /// Receive buffer; grows to the largest size asked (at most 64 KiB).
    buf: Vec<u8>,
    /// SO_RCVTIMEO currently set in the kernel, in ms (0 = never set).
    rcvtimeo: i64,
    pending: Option<PendingRead>,
    /// A finished async receive waiting to be fetched: the datagram length.
    result: Option<Result<usize>>,
}

impl Reader {
    pub(super) fn reset(&mut self) {
        self.rcvtimeo = 0;
        self.pending = None;
        self.result = None;
    }

    fn room(&mut self, size: usize) -> &mut [u8] {
        if self.buf.len() < size {
            self.buf.resize(size, 0);
        }
        &mut self.buf[..size]
    }

    fn datagram(&self, n: usize) -> Datagram {
        (self.buf.as_ptr(), n)
    }
}

fn recv_error(e: i32) -> Error {
    Error::errno(e)
}

/// The error a receive on a half-made socket reports (nginx crashes there).
fn not_connected() -> Error {
    Error::errno(libc::ENOTCONN)
}

impl Udp {
    /// Sends the buffers as ONE datagram (a gather list is not split).
    /// Never waits (OpenResty calls send(2) once on a non-blocking socket):
    /// a full socket buffer is the error `resource temporarily unavailable`.
    /// An ICMP error pending from an earlier datagram is reported here once
    /// (`connection refused`).
    pub fn send(&self, bufs: &[IoSlice<'_>]) -> Result<()> {
        self.state.begin_send()?;
        let fd = self.fd();
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let res = if bufs.is_empty() {
            let iov = [libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            }];
            sys::sendmsg(fd, &iov)
        } else if bufs.len() > libc::UIO_MAXIOV as usize {
            let joined: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
            let iov = [libc::iovec {
                iov_base: joined.as_ptr() as *mut libc::c_void,
                iov_len: joined.len(),
            }];
            sys::sendmsg(fd, &iov)
        } else {
            // SAFETY: IoSlice is ABI-compatible with iovec on Unix.
            let iov = unsafe {
                std::slice::from_raw_parts(bufs.as_ptr().cast::<libc::iovec>(), bufs.len())
            };
            sys::sendmsg(fd, iov)
        };
        self.state.end_send();
        match res {
            Ok(n) if n == total => Ok(()),
            Ok(_) => Err(PARTIAL_WRITE),
            Err(e) => Err(Error::errno(e)),
        }
    }

    /// Blocking receive of one datagram, truncated to `size` (at most
    /// 65536; 0 consumes a datagram and returns ""). Waits up to the read
    /// timeout: `timeout` leaves the socket usable.
    pub fn receive(&self, size: usize) -> Result<Datagram> {
        let old = self.state.begin_read()?;
        if old & BROKEN != 0 {
            self.state.end_read();
            return Err(not_connected());
        }
        let size = size.min(MAX_DATAGRAM);
        let mut rd = lock(&self.rd);
        let fd = self.fd();
        let ms = self.read_timeout_ms();
        let mut res = Ok(());
        if rd.rcvtimeo != ms {
            match sys::set_rcvtimeo(fd, ms) {
                Ok(()) => rd.rcvtimeo = ms,
                Err(e) => res = Err(recv_error(e)),
            }
        }
        let res = res.and_then(|()| match sys::recv(fd, rd.room(size), false) {
            Ok(n) => Ok(rd.datagram(n)),
            Err(libc::EAGAIN) => Err(Error::TIMEOUT),
            Err(e) => Err(recv_error(e)),
        });
        drop(rd);
        self.state.end_read();
        res
    }

    /// Starts a receive on a loop: a datagram already queued (or a pending
    /// ICMP error) finishes at once; otherwise the socket waits on the loop
    /// and `token` comes out of its wait (then [`Udp::take_read_result`]).
    pub fn receive_start(
        self: &Arc<Self>,
        lp: &Arc<EventLoop>,
        token: u64,
        size: usize,
    ) -> Start<Result<Datagram>> {
        let old = match self.state.begin_read() {
            Ok(s) => s,
            Err(e) => return Start::Done(Err(e)),
        };
        if old & BROKEN != 0 {
            self.state.end_read();
            return Start::Done(Err(not_connected()));
        }
        let size = size.min(MAX_DATAGRAM);
        let mut rd = lock(&self.rd);
        let fd = self.fd();
        let res = match sys::recv(fd, rd.room(size), true) {
            Ok(n) => Ok(rd.datagram(n)),
            Err(libc::EAGAIN) => {
                if let Err(e) = self.watch(self, lp) {
                    Err(e)
                } else {
                    let deadline = super::deadline(self.read_timeout_ms());
                    rd.pending = Some(PendingRead {
                        token,
                        size,
                        deadline,
                    });
                    drop(rd);
                    lp.arm(self.id, Slot::Read, deadline);
                    return Start::Pending;
                }
            }
            Err(e) => Err(recv_error(e)),
        };
        drop(rd);
        self.state.end_read();
        Start::Done(res)
    }

    /// Continues a pending receive after readiness (`timer` false) or its
    /// timer; returns the later deadline if the timer fired early.
    pub(super) fn drive_read(&self, lp: &EventLoop, timer: bool) -> Option<Instant> {
        let mut rd = lock(&self.rd);
        let p = rd.pending.take()?;
        let res = if timer {
            if p.deadline > Instant::now() {
                let d = p.deadline;
                rd.pending = Some(p);
                return Some(d);
            }
            Err(Error::TIMEOUT)
        } else {
            let fd = self.fd();
            match sys::recv(fd, rd.room(p.size), true) {
                Ok(n) => Ok(n),
                Err(libc::EAGAIN) => {
                    rd.pending = Some(p);
                    return None;
                }
                Err(e) => Err(recv_error(e)),
            }
        };
        rd.result = Some(res);
        drop(rd);
        lp.complete_op(self.id, Slot::Read, p.token);
        None
    }

    /// The loop's solo path (see `Source::solo`): the pending receive is all
    /// the loop waits for, so wait for the datagram in blocking recv calls,
    /// each bounded by the time left before the earlier of its deadline and
    /// `limit`. "timeout" only once the deadline has passed; still pending
    /// when `limit` comes first. False when it declined without waiting.
    pub(super) fn solo_read(&self, lp: &EventLoop, limit: Option<Instant>, now: Instant) -> bool {
        let mut rd = lock(&self.rd);
        let Some(p) = rd.pending.as_ref() else {
            return false;
        };
        let (deadline, size) = (p.deadline, p.size);
        let bound = limit.map_or(deadline, |l| l.min(deadline));
        let fd = self.fd();
        let mut waited = false;
        // The loop's reading first (see `Source::solo`), then fresh ones.
        let mut now = now;
        let res = loop {
            let left = bound.saturating_duration_since(now);
            let Some(ms) = solo_timeout_ms(left, rd.rcvtimeo.max(0) as u64) else {
                return waited;
            };
            let ms = ms.min(i64::MAX as u64) as i64;
            if rd.rcvtimeo != ms {
                if let Err(e) = sys::set_rcvtimeo(fd, ms) {
                    break Err(recv_error(e));
                }
                rd.rcvtimeo = ms;
            }
            waited = true;
            match sys::recv(fd, rd.room(size), false) {
                Ok(n) => break Ok(n),
                Err(libc::EAGAIN) => {
                    now = Instant::now();
                    if now >= deadline {
                        break Err(Error::TIMEOUT);
                    }
                }
                Err(e) => break Err(recv_error(e)),
            }
        };
        let Some(p) = rd.pending.take() else {
            return waited;
        };
        rd.result = Some(res);
        drop(rd);
        lp.complete_op(self.id, Slot::Read, p.token);
        true
    }

    /// Fetches a finished async receive (ends the receive: the socket is no
    /// longer busy).
    pub fn take_read_result(&self) -> Option<Result<Datagram>> {
        let mut rd = lock(&self.rd);
        let res = rd.result.take()?;
        let out = res.map(|n| rd.datagram(n));
        drop(rd);
        self.state.end_read();
        Some(out)
    }
}
