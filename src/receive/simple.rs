//! `*l`, `*a`, exact size and receiveany engines.
//! (Stub: being written — see the receive engines task.)

use super::{RecvBuf, Span, Step};

/// The receive patterns other than receiveuntil.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// `*l`: up to LF; the LF is consumed, every CR in the line dropped.
    Line,
    /// `*a`: everything until EOF (success even when empty).
    All,
    /// Exactly `n` bytes (`0` is answered before any engine runs).
    Size(usize),
    /// receiveany(max): whatever is buffered, at most `max` bytes.
    Any(usize),
}

/// Progress of one receive call across several reads (reset when it ends).
#[derive(Clone, Copy, Debug, Default)]
pub struct ScanState {
    /// Unread bytes already searched (no LF among them).
    pub scanned: usize,
}

/// Runs the engine over the buffer. `eof` says the peer closed its side and no
/// more bytes will come.
pub fn step(buf: &mut RecvBuf, pat: Pattern, st: &mut ScanState, eof: bool) -> Step {
    let _ = (buf, pat, st, eof);
    todo!()
}

/// Ends the call early (read timeout or read error): consumes and returns the
/// bytes this call gathered, in the form the pattern would have returned them.
pub fn take_partial(buf: &mut RecvBuf, pat: Pattern, st: &mut ScanState) -> Span {
    let _ = (buf, pat, st);
    todo!()
}

/// How many bytes the next `recv()` should ask for.
pub fn want(buf: &RecvBuf, pat: Pattern) -> usize {
    let _ = (buf, pat);
    todo!()
}
