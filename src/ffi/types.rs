//! Types shared by the C functions.

#![allow(non_camel_case_types)]

use std::ffi::c_char;

/// Status of every call. The numbers never change.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum cosocket_status {
    /// Done; results are in the `cosocket_result`.
    Ok = 0,
    /// Pending: the operation's token will come out of `cosocket_loop_wait`;
    /// then fetch its result with `cosocket_tcp_result`.
    Again = 1,
    /// A sized receiveuntil iterator's end (OpenResty's `nil, nil, nil`).
    Done = 2,
    /// The operation failed: `result.err` holds OpenResty's message
    /// ("timeout", "closed", "connection refused", ...) and `result.data`
    /// the partial data of a receive (NULL when there is none, as when the
    /// socket was already closed).
    Error = 3,
    /// A required pointer argument was NULL.
    NullParameter = 10,
    /// The handle was freed, never created by this library, or of another type.
    InvalidHandle = 11,
    /// An argument is out of range or malformed; `result.err` says which
    /// (OpenResty raises a Lua error for these, e.g. "bad timeout value").
    InvalidArgument = 12,
    /// A bug in cosocket (a Rust panic was caught); the handle may be unusable.
    Panic = 13,
    /// `cosocket_tcp_result` was called but no operation of that kind finished.
    NoResult = 14,
}

/// Output of an operation. Written on every status when the pointer is not
/// NULL. `data`/`err` point into the socket (or static storage) and stay
/// valid until the next call on the same socket.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct cosocket_result {
    /// Received bytes (or the partial data of a failed receive); NULL if none.
    pub data: *const u8,
    pub data_len: usize,
    /// Error message (not NUL-terminated); NULL on success.
    pub err: *const c_char,
    pub err_len: usize,
    /// Bytes sent, reuse count, option value, or the fd, per call.
    pub value: i64,
}

/// One buffer of a gather send (layout of `struct iovec`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct cosocket_iovec {
    pub base: *const u8,
    pub len: usize,
}

/// Receive patterns of `cosocket_tcp_receive`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum cosocket_pattern {
    /// `*l`: a line; LF removed, every CR dropped.
    Line = 0,
    /// `*a`: everything until the peer closes.
    All = 1,
    /// Exactly `n` bytes.
    Size = 2,
    /// receiveany(n): what has arrived, at most `n` bytes (n > 0).
    Any = 3,
}

/// Which finished asynchronous operation `cosocket_tcp_result` fetches.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum cosocket_op {
    Connect = 0,
    Send = 1,
    Receive = 2,
    /// `cosocket_tcp_sslhandshake_async`.
    Handshake = 3,
}

/// Connect options (OpenResty's options table). Zeroed means defaults.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct cosocket_connect_options {
    /// Pool name (not NUL-terminated), or NULL for the default `host:port` key.
    pub pool: *const c_char,
    pub pool_len: usize,
    /// Pool size (> 0), or 0 for unset.
    pub pool_size: i64,
    /// Backlog (>= 0), or -1 for unset. A zeroed struct means backlog 0, so
    /// set it to -1 unless you want a backlog.
    pub backlog: i64,
}

impl cosocket_result {
    pub(crate) const EMPTY: cosocket_result = cosocket_result {
        data: std::ptr::null(),
        data_len: 0,
        err: std::ptr::null(),
        err_len: 0,
        value: 0,
    };
}

/// Describes a status (a `cosocket_status` value) in English ("ok", "invalid handle", ...). Static string.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_status_str(status: u32) -> *const c_char {
    let s: &'static str = match status {
        0 => "ok\0",
        1 => "again\0",
        2 => "done\0",
        3 => "error\0",
        10 => "null parameter\0",
        11 => "invalid handle\0",
        12 => "invalid argument\0",
        13 => "panic\0",
        14 => "no result\0",
        _ => "unknown status\0",
    };
    s.as_ptr().cast()
}
