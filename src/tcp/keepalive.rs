//! setkeepalive: checking a connection clean and handing it to its pool.

use std::sync::Arc;

use super::{Tcp, lock, state, sys};
use crate::error::{Error, Result};
use crate::pool::{self, IdleConn};

/// See [`Tcp::fresh_drain`]: 1 ms, which a coarse clock ticking every 1-10
/// ms can only satisfy with two equal readings.
const DRAIN_WINDOW_NS: u64 = 1_000_000;

impl Tcp {
    /// OpenResty's `setkeepalive(timeout, size)`: `timeout_ms` None = 60 s,
    /// Some(0) = no idle timeout; `size` sizes a pool created now (None =
    /// 30). On success the object is closed; "unread data in buffer" leaves
    /// it open; "connection in dubious state" closes it.
    pub fn set_keepalive(&self, timeout_ms: Option<u64>, size: Option<i64>) -> Result<()> {
        let s = self.state.get();
        // No connection yet while resolving (or queued in a backlog): closed;
        // during the TCP handshake: busy connecting (reference §1.1).
        if s & state::CONNECTING == 0 && s & state::OPEN == 0 {
            return Err(Error::CLOSED);
        }
        self.state.check_idle(s)?;
        if s & (state::RD_CLOSED | state::WR_CLOSED) != 0 {
            return Err(Error::CLOSED);
        }
        let (tls, drained_at, rcvtimeo) = {
            let rd = lock(&self.rd);
            if rd.eof() {
                return Err(Error::CLOSED);
            }
            // Over TLS, plaintext decrypted (or ciphertext read) but not
            // handed out counts too.
            if rd.unread() > 0 || rd.tls.as_ref().is_some_and(|t| t.has_unread()) {
                return Err(Error::op("unread data in buffer"));
            }
            (rd.tls.clone(), rd.drained_at, rd.kernel_timeout())
        };
        let key = lock(&self.meta).pool_key.clone().unwrap_or_default();
        if let Some(size) = size
            && size <= 0
            && pool::stats_of(&key).is_none()
        {
            return Err(Error::arg_owned(format!(
                "bad \"pool_size\" option value: {size}"
            )));
        }
        // One MSG_PEEK answers both questions below (nginx also peeks once),
        // unless the last read just drained the socket (see `fresh_drain`).
        let probe = match tls {
            Some(_) => None,
            None if self.fresh_drain(drained_at) => Some(sys::Pending::Nothing),
            None => Some(sys::pending(self.fd())),
        };
        if probe == Some(sys::Pending::Fin) {
            // nginx sees the FIN (EPOLLRDHUP) and answers "closed", leaving
            // the object as it was: close() still works.
            return Err(Error::CLOSED);
        }
        // Take the connection exclusively (a concurrent call may have raced us).
        self.state.take_for_close()?;
        let fd = self.fd();
        let clean = match &tls {
            // Data, or an error pending.
            None => probe == Some(sys::Pending::Nothing),
            // TLS-layer records (a TLS 1.3 session ticket) are consumed.
            Some(t) => t.absorb_idle(fd),
        };
        if !clean {
            // Data, EOF or an error pending: not safe for the next user.
            self.release_fd(true);
            return Err(Error::op("connection in dubious state"));
        }
        let (nodelay, sndtimeo) = {
            let wr = lock(&self.wr);
            (wr.nodelay_known(), wr.kernel_timeout())
        };
        let (reused, unix, counted) = {
            let mut m = lock(&self.meta);
            (m.reused, m.unix, std::mem::take(&mut m.counted))
        };
        let fd = self.release_fd(false);
        let conn = IdleConn {
            fd,
            reused,
            unix,
            nonblocking: self.nonblock.load(std::sync::atomic::Ordering::Acquire),
            nodelay,
            rcvtimeo,
            sndtimeo,
            tls,
        };
        let size = size.map_or(pool::DEFAULT_POOL_SIZE, |s| {
            s.min((usize::MAX >> 1) as i64) as usize
        });
        pool::put(
            &key,
            conn,
            counted,
            size,
            timeout_ms.unwrap_or(pool::DEFAULT_IDLE_TIMEOUT_MS),
        )
    }

    /// True when the last recv drained the kernel's queue (came back short)
    /// less than one tick of the coarse clock ago (under [`DRAIN_WINDOW_NS`]:
    /// the same reading of CLOCK_MONOTONIC_COARSE, so at most 1-10 ms by the
    /// kernel's HZ, 4 ms here) and no readiness has been seen since: then
    /// setkeepalive skips its MSG_PEEK.
    ///
    /// nginx answers "closed" / "connection in dubious state" only for what
    /// its event loop has already reported: after a short read its
    /// `rev->ready` is 0 until the loop runs again, so a FIN or data that
    /// arrives between the read and a setkeepalive called without yielding
    /// goes unnoticed there too, and the call returns 1. Skipping the peek in
    /// that window therefore returns what nginx returns, and nothing unsafe
    /// gets reused: the pool's hand-out peek (and its watcher) still drop a
    /// connection the peer closed or spoke on before anyone gets it.
    fn fresh_drain(&self, drained_at: u64) -> bool {
        drained_at != 0
            && !self
                .maybe_readable
                .load(std::sync::atomic::Ordering::Acquire)
            && !self.hung_up.load(std::sync::atomic::Ordering::Acquire)
            && sys::coarse_now_ns().wrapping_sub(drained_at) < DRAIN_WINDOW_NS
    }

    /// Makes a pooled connection this socket's connection.
    pub(super) fn install_pooled(&self, conn: IdleConn) {
        self.install(conn.fd, conn.unix, conn.nonblocking, conn.sndtimeo);
        lock(&self.wr).set_nodelay_known(conn.nodelay);
        {
            let mut rd = lock(&self.rd);
            rd.set_kernel_timeout(conn.rcvtimeo);
            // A reused connection is one that waits again: the solo path
            // may pay fcntl once on its non-blocking fd (see
            // `Tcp::solo_read`) instead of poll(2) on every reuse.
            rd.solo_polled = true;
        }
        if let Some(t) = conn.tls {
            lock(&self.rd).tls = Some(Arc::clone(&t));
            lock(&self.wr).tls = Some(t);
        }
        let mut m = lock(&self.meta);
        m.reused = conn.reused + 1;
        m.counted = true;
    }
}
