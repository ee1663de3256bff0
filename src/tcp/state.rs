//! The socket's state word: which halves are open and which operations are
//! under way. One atomic, so that busy checks and close are a single CAS and
//! a reader and a writer on two threads never race.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{Error, Result};

pub const OPEN: u32 = 1; // a connection exists (fd valid)
pub const RD_CLOSED: u32 = 1 << 1; // read half closed by an error or EOF
pub const WR_CLOSED: u32 = 1 << 2; // write half closed by an error
pub const RESOLVING: u32 = 1 << 3; // connect: resolving the name (no fd yet)
pub const CONNECTING: u32 = 1 << 4; // connect: TCP handshake under way
pub const READING: u32 = 1 << 5;
pub const WRITING: u32 = 1 << 6;

const BUSY: u32 = RESOLVING | CONNECTING | READING | WRITING;

#[derive(Debug, Default)]
pub struct State(AtomicU32);

impl State {
    #[inline]
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Acquire)
    }

    /// Updates the word with `f` (which may refuse with an error) atomically.
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

    /// Starts a read: busy connecting, busy reading, closed (in that order).
    #[inline]
    pub fn begin_read(&self) -> Result<()> {
        self.update(|s| {
            if s & RESOLVING != 0 {
                return Err(Error::CLOSED);
            }
            if s & CONNECTING != 0 {
                return Err(Error::BUSY_CONNECTING);
            }
            if s & OPEN == 0 || s & RD_CLOSED != 0 {
                return Err(Error::CLOSED);
            }
            if s & READING != 0 {
                return Err(Error::BUSY_READING);
            }
            Ok(s | READING)
        })
        .map(drop)
    }

    /// Starts a send: busy connecting, closed, busy writing.
    #[inline]
    pub fn begin_write(&self) -> Result<()> {
        self.update(|s| {
            if s & RESOLVING != 0 {
                return Err(Error::CLOSED);
            }
            if s & CONNECTING != 0 {
                return Err(Error::BUSY_CONNECTING);
            }
            if s & OPEN == 0 || s & WR_CLOSED != 0 {
                return Err(Error::CLOSED);
            }
            if s & WRITING != 0 {
                return Err(Error::BUSY_WRITING);
            }
            Ok(s | WRITING)
        })
        .map(drop)
    }

    /// Ends a read, closing the read half if `close_half`.
    #[inline]
    pub fn end_read(&self, close_half: bool) {
        let clear = READING;
        let set = if close_half { RD_CLOSED } else { 0 };
        let _ = self.update(|s| Ok((s & !clear) | set));
    }

    #[inline]
    pub fn end_write(&self, close_half: bool) {
        let set = if close_half { WR_CLOSED } else { 0 };
        let _ = self.update(|s| Ok((s & !WRITING) | set));
    }

    /// Checks for an exclusive operation (connect, close, setkeepalive):
    /// busy connecting, busy reading, busy writing.
    pub fn check_idle(&self, s: u32) -> Result<()> {
        if s & (RESOLVING | CONNECTING) != 0 {
            return Err(Error::BUSY_CONNECTING);
        }
        if s & READING != 0 {
            return Err(Error::BUSY_READING);
        }
        if s & WRITING != 0 {
            return Err(Error::BUSY_WRITING);
        }
        Ok(())
    }

    /// Enters connecting (from any idle state); returns the old word.
    pub fn begin_connect(&self, resolving: bool) -> Result<u32> {
        let phase = if resolving { RESOLVING } else { CONNECTING };
        self.update(|s| {
            self.check_idle(s)?;
            Ok(phase)
        })
    }

    /// Enters a TLS handshake (`OPEN | CONNECTING`: "socket busy connecting"
    /// for everyone else): closed, then busy checks, as OpenResty orders them.
    pub fn begin_handshake(&self) -> Result<u32> {
        self.update(|s| {
            if s & RESOLVING != 0 {
                return Err(Error::CLOSED);
            }
            if s & CONNECTING != 0 {
                return Err(Error::BUSY_CONNECTING);
            }
            if s & OPEN == 0 || s & (RD_CLOSED | WR_CLOSED) != 0 {
                return Err(Error::CLOSED);
            }
            self.check_idle(s)?;
            Ok(s | CONNECTING)
        })
    }

    /// Leaves a TLS handshake that did not close the connection.
    pub fn end_handshake(&self) {
        let _ = self.update(|s| {
            if s & OPEN == 0 {
                return Err(Error::CLOSED); // aborted meanwhile: stay closed
            }
            Ok(s & !CONNECTING)
        });
    }

    /// Moves from resolving to the TCP handshake.
    pub fn resolved(&self) {
        let _ = self.update(|s| Ok((s & !RESOLVING) | CONNECTING));
    }

    /// Takes an exclusive close: Ok(old word) when idle; clears everything.
    pub fn take_for_close(&self) -> Result<u32> {
        self.update(|s| {
            if s & RESOLVING != 0 {
                return Err(Error::CLOSED);
            }
            self.check_idle(s)?;
            if s & OPEN == 0 || s & (RD_CLOSED | WR_CLOSED) == (RD_CLOSED | WR_CLOSED) {
                return Err(Error::CLOSED);
            }
            Ok(0)
        })
    }

    pub fn set(&self, v: u32) {
        self.0.store(v, Ordering::Release);
    }

    #[inline]
    pub fn is_busy(s: u32) -> bool {
        s & BUSY != 0
    }
}
