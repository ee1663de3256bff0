//! The UDP socket's state word: one atomic, so that the busy rule and close
//! are single CAS operations across threads.
//!
//! OpenResty's UDP cosocket is not full duplex: while a `receive()` waits,
//! `send`, `close`, `setpeername` and a second `receive` all get
//! `"socket busy"`. A socket that is not connected (never, closed, or still
//! resolving its peer's name) answers `"closed"` to everything but
//! `setpeername`, which answers `"socket busy"` while a resolution runs.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{Error, Result};

/// An fd exists (connected, or half-made by a failed `setpeername`).
pub const OPEN: u32 = 1;
/// `setpeername`'s bind/connect failed: the fd is kept but not connected
/// (nginx's quirk, without its crash on receive).
pub const BROKEN: u32 = 1 << 1;
/// A receive is under way (blocking or parked on a loop).
pub const READING: u32 = 1 << 2;
/// `setpeername` is resolving a name or connecting (no fd yet).
pub const RESOLVING: u32 = 1 << 3;
/// Sends in flight (blocking senders on several threads), counted from here.
const SEND_SHIFT: u32 = 8;
const SEND_ONE: u32 = 1 << SEND_SHIFT;
const SEND_MASK: u32 = !(SEND_ONE - 1);

/// OpenResty's busy text for UDP (one word for every operation).
pub const BUSY: Error = Error::op("socket busy");

/// What a send or a receive gets before anything else, from the word `s`:
/// `closed`, then `socket busy` while a receive waits (nginx's order).
#[inline]
pub fn usable(s: u32) -> Result<()> {
    if s & OPEN == 0 {
        return Err(Error::CLOSED);
    }
    if s & READING != 0 {
        return Err(BUSY);
    }
    Ok(())
}

#[derive(Debug, Default)]
pub struct State(AtomicU32);

impl State {
    #[inline]
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Acquire)
    }

    pub fn set(&self, v: u32) {
        self.0.store(v, Ordering::Release);
    }

    /// Updates the word with `f` (which may refuse with an error) atomically;
    /// returns the old word.
    #[inline]
    fn update(&self, mut f: impl FnMut(u32) -> Result<u32>) -> Result<u32> {
        let mut cur = self.get();
        loop {
            let new = f(cur)?;
            match self
                .0
                .compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(cur),
                Err(seen) => cur = seen,
            }
        }
    }

    /// Starts a send: `closed`, then `socket busy` (nginx's order).
    #[inline]
    pub fn begin_send(&self) -> Result<u32> {
        self.update(|s| usable(s).map(|()| s + SEND_ONE))
    }

    #[inline]
    pub fn end_send(&self) {
        self.0.fetch_sub(SEND_ONE, Ordering::AcqRel);
    }

    /// Starts a receive: `closed`, then `socket busy`. Returns the old word
    /// (the caller checks [`BROKEN`]).
    #[inline]
    pub fn begin_read(&self) -> Result<u32> {
        self.update(|s| usable(s).map(|()| s | READING))
    }

    #[inline]
    pub fn end_read(&self) {
        self.0.fetch_and(!READING, Ordering::AcqRel);
    }

    /// Takes the socket for `close`: `closed`, then `socket busy` (a receive
    /// or a send in flight). Clears the word; returns the old one.
    pub fn take_for_close(&self) -> Result<u32> {
        self.update(|s| {
            if s & OPEN == 0 {
                return Err(Error::CLOSED);
            }
            if s & (READING | SEND_MASK) != 0 {
                return Err(BUSY);
            }
            Ok(0)
        })
    }

    /// Takes the socket for `setpeername`: `socket busy` while a receive,
    /// a send or another resolution runs. Moves to [`RESOLVING`]; returns
    /// the old word (the caller closes the old fd if [`OPEN`]).
    pub fn begin_peer(&self) -> Result<u32> {
        self.update(|s| {
            if s & (READING | RESOLVING | SEND_MASK) != 0 {
                return Err(BUSY);
            }
            Ok(RESOLVING)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_rule_and_order_of_checks() {
        let s = State::default();
        assert_eq!(s.begin_send().unwrap_err(), Error::CLOSED);
        assert_eq!(s.begin_read().unwrap_err(), Error::CLOSED);
        assert_eq!(s.take_for_close().unwrap_err(), Error::CLOSED);
        s.set(OPEN);
        s.begin_read().unwrap();
        assert_eq!(s.begin_send().unwrap_err(), BUSY);
        assert_eq!(s.begin_read().unwrap_err(), BUSY);
        assert_eq!(s.take_for_close().unwrap_err(), BUSY);
        assert_eq!(s.begin_peer().unwrap_err(), BUSY);
        s.end_read();
        s.begin_send().unwrap();
        s.begin_send().unwrap();
        s.begin_read().unwrap();
        s.end_read();
        assert_eq!(s.take_for_close().unwrap_err(), BUSY);
        s.end_send();
        s.end_send();
        assert_eq!(s.begin_peer().unwrap(), OPEN);
        // Resolving: operations see a closed socket, setpeername is busy.
        assert_eq!(s.begin_send().unwrap_err(), Error::CLOSED);
        assert_eq!(s.take_for_close().unwrap_err(), Error::CLOSED);
        assert_eq!(s.begin_peer().unwrap_err(), BUSY);
        s.set(OPEN);
        assert_eq!(s.take_for_close().unwrap(), OPEN);
        assert_eq!(s.get(), 0);
    }
}
