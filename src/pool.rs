//! Keepalive connection pools (placeholder until the pool lands: every
//! setkeepalive closes the connection).

use crate::error::Result;
use crate::tcp::Tcp;

/// Puts the socket's connection into its pool.
pub fn set_keepalive(sock: &Tcp, _timeout_ms: Option<u64>, _size: Option<i64>) -> Result<()> {
    sock.close()
}
