//! setkeepalive: checking a connection clean and handing it to its pool.

use std::sync::Arc;

use super::{Tcp, lock, state, sys};
use crate::error::{Error, Result};
use crate::pool::{self, IdleConn};

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
        {
            let rd = lock(&self.rd);
            if rd.eof() {
                return Err(Error::CLOSED);
            }
            // Over TLS, plaintext decrypted (or ciphertext read) but not
            // handed out counts too.
            if rd.unread() > 0 || rd.tls.as_ref().is_some_and(|t| t.has_unread()) {
                return Err(Error::op("unread data in buffer"));
            }
        }
        let key = lock(&self.meta).pool_key.clone().unwrap_or_default();
        if let Some(size) = size
            && size <= 0
            && pool::stats_of(&key).is_none()
        {
            return Err(Error::arg_owned(format!(
                "bad \"pool_size\" option value: {size}"
            )));
        }
        let tls = lock(&self.rd).tls.clone();
        // One MSG_PEEK answers both questions below (nginx also peeks once).
        let probe = tls.is_none().then(|| sys::pending(self.fd()));
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
        let rcvtimeo = lock(&self.rd).kernel_timeout();
        let (reused, unix, counted) = {
            let mut m = lock(&self.meta);
            (m.reused, m.unix, std::mem::take(&mut m.counted))
        };
        let fd = self.release_fd(false);
        let conn = IdleConn {
            fd,
            reused,
            unix,
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

    /// Makes a pooled connection this socket's connection.
    pub(super) fn install_pooled(&self, conn: IdleConn) {
        self.install(conn.fd, conn.unix);
        {
            let mut wr = lock(&self.wr);
            wr.set_nodelay_known(conn.nodelay);
            wr.set_kernel_timeout(conn.sndtimeo);
        }
        lock(&self.rd).set_kernel_timeout(conn.rcvtimeo);
        if let Some(t) = conn.tls {
            lock(&self.rd).tls = Some(Arc::clone(&t));
            lock(&self.wr).tls = Some(t);
        }
        let mut m = lock(&self.meta);
        m.reused = conn.reused + 1;
        m.counted = true;
    }
}
