//! receiveuntil: streaming pattern search with held bytes (OpenResty's DFA).
//! (Stub: being written — see the receive engines task.)

use super::{RecvBuf, Span, Step};

/// One receiveuntil iterator: the compiled pattern and its match state.
#[derive(Debug, Clone)]
pub struct Until {
    pattern: Vec<u8>,
    inclusive: bool,
}

impl Until {
    /// `pattern` is not empty (the caller returns "pattern is empty" first).
    pub fn new(pattern: &[u8], inclusive: bool) -> Self {
        Until {
            pattern: pattern.to_vec(),
            inclusive,
        }
    }

    /// One iterator call. `size == 0` means no size argument.
    pub fn step(&mut self, buf: &mut RecvBuf, size: usize, eof: bool) -> Step {
        let _ = (buf, size, eof, &self.pattern, self.inclusive);
        todo!()
    }

    /// Ends the call early (read timeout or read error): consumes and returns
    /// the partial value.
    pub fn take_partial(&mut self, buf: &mut RecvBuf) -> Span {
        let _ = buf;
        todo!()
    }

    /// Another read method consumed bytes from the buffer since this
    /// iterator's last call: forget held-match state.
    pub fn invalidate(&mut self) {}

    /// How many bytes the next `recv()` should ask for.
    pub fn want(&self, buf: &RecvBuf) -> usize {
        let _ = buf;
        super::CHUNK
    }
}
