//! Receive-pattern engines: pure code over a byte buffer, no I/O.
//!
//! The socket appends what `recv()` returned to a [`RecvBuf`] and asks an engine
//! whether the pattern is satisfied. Results are [`Span`]s into the buffer, so a
//! received value reaches the caller without a copy: the span stays valid until
//! the next call that may write to the buffer ([`RecvBuf::spare`]).
//!
//! The engines reproduce OpenResty's `ngx_http_lua_input_filters.c` and
//! `ngx_http_lua_socket_read_until`: every CR dropped from `*l` lines, partial
//! data consumed on timeout and EOF, the receiveuntil DFA with held bytes.

mod buf;
mod simple;
mod until;

pub use buf::{RecvBuf, Span};
pub use simple::{Pattern, ScanState, step, take_partial, want};
pub use until::Until;

/// How many bytes one `recv()` asks for when a pattern needs more data and
/// does not know how much (OpenResty's default `lua_socket_buffer_size`, one page).
pub const CHUNK: usize = 4096;

/// What an engine says after looking at the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The pattern is satisfied: the value is this span (already consumed).
    Done(Span),
    /// More bytes are needed: read more and call again (or call with `eof`).
    Pending,
    /// End of stream before the pattern was satisfied: the span is the partial
    /// value (consumed); the error is `"closed"`.
    Closed(Span),
    /// A sized receiveuntil iterator reached the pattern on its previous call:
    /// this call is the `nil, nil, nil` one, and the iterator has reset.
    Finished,
}
