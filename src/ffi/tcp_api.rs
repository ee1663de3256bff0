//! `cosocket_tcp_*` and `cosocket_until_*`: the socket, blocking and async.

use std::ffi::c_char;
use std::io::IoSlice;
use std::sync::Arc;

use super::handles::Registry;
use super::plumbing::{
    bad_handle, bytes, fail, loop_or_return, ok_value, port_arg, put, slices, sock_or_return,
};
use super::types::*;
use super::{guard, guard_or};
use crate::error::Error;
use crate::receive::Pattern;
use crate::tcp::{ConnectOpts, ReadOutcome, ReadRequest, SockOption, Start, Tcp, UntilIter};

/// An opaque TCP cosocket. Create with `cosocket_tcp_new`, release with
/// `cosocket_tcp_free`. One reader and one writer may use it at once (from
/// two threads); other concurrent use gets "socket busy ...".
pub struct cosocket_tcp {
    _private: [u8; 0],
}

/// An opaque receiveuntil iterator: a pattern and its match state, usable
/// with any socket. Create with `cosocket_until_new`.
pub struct cosocket_until {
    _private: [u8; 0],
}

pub(crate) static TCP: Registry<Tcp> = Registry::new();
static UNTIL: Registry<UntilIter> = Registry::new();

fn read_outcome(sock: &Tcp, out: *mut cosocket_result, r: ReadOutcome) -> cosocket_status {
    match r {
        ReadOutcome::Data(p, l) => {
            put(
                out,
                cosocket_result {
                    data: p,
                    data_len: l,
                    ..cosocket_result::EMPTY
                },
            );
            cosocket_status::Ok
        }
        ReadOutcome::Finished => {
            put(out, cosocket_result::EMPTY);
            cosocket_status::Done
        }
        ReadOutcome::Failed(msg, partial) => {
            let (d, dl) = partial.unwrap_or((std::ptr::null(), 0));
            put(
                out,
                cosocket_result {
                    data: d,
                    data_len: dl,
                    err: msg.as_ptr().cast(),
                    err_len: msg.len(),
                    value: 0,
                },
            );
            cosocket_status::Error
        }
        ReadOutcome::FailedOwned(partial) => {
            let (d, dl) = partial.unwrap_or((std::ptr::null(), 0));
            let (e, el) = sock.kept_error_ptr().unwrap_or(("error".as_ptr(), 5));
            put(
                out,
                cosocket_result {
                    data: d,
                    data_len: dl,
                    err: e.cast(),
                    err_len: el,
                    value: 0,
                },
            );
            cosocket_status::Error
        }
    }
}

/// Creates a socket (not connected). Never NULL except on allocation failure.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_new() -> *mut cosocket_tcp {
    guard_or(std::ptr::null_mut(), || TCP.insert(Arc::new(Tcp::new())))
}

/// Closes the connection if any (pending async operations are cancelled)
/// and releases the handle. NULL and already-freed handles are ignored.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_free(sock: *mut cosocket_tcp) {
    guard_or((), || {
        if let Some(mut t) = TCP.remove(sock) {
            // The only reference (no call under way, no loop or pool waiter
            // holding it, no weak one to upgrade): dropping closes the fd and
            // releases its pool slot; abort() would also wake waiters and
            // leave loops, and there are none. `get_mut` checks that
            // atomically and, unlike `try_unwrap`, drops in place instead of
            // moving the socket out of its allocation first.
            if Arc::get_mut(&mut t).is_none() {
                t.abort();
            }
        }
    })
}

/// Cancels pending operations and closes the connection, keeping the handle
/// usable (OpenResty closes a socket whose waiting thread is killed).
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_abort(sock: *mut cosocket_tcp) -> cosocket_status {
    guard(|| {
        let t = sock_or_return!(sock, std::ptr::null_mut());
        t.abort();
        cosocket_status::Ok
    })
}

/// Sets the connect, send and read timeouts (ms). 0 means the default
/// (60 s); negative or >= 2^31 gives INVALID_ARGUMENT "bad timeout value".
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_settimeout(
    sock: *mut cosocket_tcp,
    ms: i64,
    out: *mut cosocket_result,
) -> cosocket_status {
    cosocket_tcp_settimeouts(sock, ms, ms, ms, out)
}

/// Sets connect, send and read timeouts separately (ms; 0 = default).
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_settimeouts(
    sock: *mut cosocket_tcp,
    connect_ms: i64,
    send_ms: i64,
    read_ms: i64,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let t = sock_or_return!(sock, out);
        match t.set_timeouts(connect_ms, send_ms, read_ms) {
            Ok(()) => ok_value(out, 0),
            Err(e) => fail(Some(&t), out, &e),
        }
    })
}

/// The arguments of a connect, or the status of the failure written to
/// `out` (NULL_PARAMETER for a NULL host). The host is borrowed from the
/// caller for the duration of the call (`'a`), not copied.
fn connect_args<'a>(
    t: &Tcp,
    host: *const c_char,
    host_len: usize,
    port: i32,
    opts: *const cosocket_connect_options,
    out: *mut cosocket_result,
) -> Result<(&'a [u8], Option<u16>, ConnectOpts), cosocket_status> {
    if host.is_null() && host_len > 0 {
        fail(Some(t), out, &Error::arg("NULL host"));
        return Err(cosocket_status::NullParameter);
    }
    parse_connect_args(host, host_len, port, opts).map_err(|e| fail(Some(t), out, &e))
}

fn parse_connect_args<'a>(
    host: *const c_char,
    host_len: usize,
    port: i32,
    opts: *const cosocket_connect_options,
) -> Result<(&'a [u8], Option<u16>, ConnectOpts), Error> {
    // SAFETY: host points at host_len bytes per the contract, readable
    // until the connect call returns (`'a` ends within it).
    let host = unsafe { bytes(host.cast(), host_len) }.ok_or(Error::arg("NULL host"))?;
    let port = port_arg(port)?;
    let mut o = ConnectOpts::default();
    if !opts.is_null() {
        // SAFETY: non-NULL opts points at a valid struct.
        let opts = unsafe { &*opts };
        if !opts.pool.is_null() {
            // SAFETY: pool points at pool_len bytes.
            let name = unsafe { bytes(opts.pool.cast(), opts.pool_len) }.unwrap_or_default();
            o.pool = Some(String::from_utf8_lossy(name).into_owned());
        }
        if opts.pool_size < 0 {
            return Err(Error::arg_owned(format!(
                "bad \"pool_size\" option value: {}",
                opts.pool_size
            )));
        }
        if opts.pool_size > 0 {
            o.pool_size = Some(opts.pool_size.min(u32::MAX as i64) as u32);
        }
        if opts.backlog < -1 {
            return Err(Error::arg_owned(format!(
                "bad \"backlog\" option value: {}",
                opts.backlog
            )));
        }
        if opts.backlog >= 0 {
            o.backlog = Some(opts.backlog.min(u32::MAX as i64) as u32);
        }
    }
    Ok((host, port, o))
}

/// Connects (blocking) to `host` (IPv4/IPv6 literal, `[v6]`, a name, or
/// `unix:/path`) and `port` (-1 when absent; ignored for unix sockets).
/// A connected socket is closed first. `opts` may be NULL. Returns ERROR with
/// OpenResty's message ("connection refused", "timeout", "missing the port
/// number", "bad port number: N", "H could not be resolved (3: Host not
/// found)", ...).
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_connect(
    sock: *mut cosocket_tcp,
    host: *const c_char,
    host_len: usize,
    port: i32,
    opts: *const cosocket_connect_options,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let t = sock_or_return!(sock, out);
        let (host, port, o) = match connect_args(&t, host, host_len, port, opts, out) {
            Ok(a) => a,
            Err(st) => return st,
        };
        match t.connect(host, port, &o) {
            Ok(()) => ok_value(out, 1),
            Err(e) => fail(Some(&t), out, &e),
        }
    })
}

/// Starts a connect on `lp`. OK/ERROR: finished now. AGAIN: `token` will
/// come out of `cosocket_loop_wait`; then call `cosocket_tcp_result` with
/// `COSOCKET_OP_CONNECT`.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_connect_async(
    sock: *mut cosocket_tcp,
    lp: *mut super::loop_api::cosocket_loop,
    token: u64,
    host: *const c_char,
    host_len: usize,
    port: i32,
    opts: *const cosocket_connect_options,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let t = sock_or_return!(sock, out);
        let l = loop_or_return!(lp, out);
        let (host, port, o) = match connect_args(&t, host, host_len, port, opts, out) {
            Ok(a) => a,
            Err(st) => return st,
        };
        match t.connect_start(&l, token, host, port, &o) {
            Start::Done(Ok(())) => ok_value(out, 1),
            Start::Done(Err(e)) => fail(Some(&t), out, &e),
            Start::Pending => cosocket_status::Again,
        }
    })
}

/// Sends `len` bytes (blocking) and returns when all are in the kernel's
/// buffer; `result.value` is the byte count. A send timeout or error closes
/// the write half ("timeout", "broken pipe", "closed" afterwards).
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_send(
    sock: *mut cosocket_tcp,
    data: *const u8,
    len: usize,
    out: *mut cosocket_result,
) -> cosocket_status {
    // One buffer: no gather list to check or convert (~30 instructions).
    guard(|| {
        let t = sock_or_return!(sock, out);
        // SAFETY: data points at len readable bytes per the contract (or is
        // NULL, which `bytes` refuses unless len is 0).
        let Some(b) = (unsafe { bytes(data, len) }) else {
            fail(Some(&t), out, &Error::arg("NULL buffer"));
            return cosocket_status::NullParameter;
        };
        match t.send(&[IoSlice::new(b)]) {
            Ok(n) => ok_value(out, n as i64),
            Err(e) => fail(Some(&t), out, &e),
        }
    })
}

/// Sends a gather list of buffers as one stream (blocking).
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_sendv(
    sock: *mut cosocket_tcp,
    iov: *const cosocket_iovec,
    n: usize,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let t = sock_or_return!(sock, out);
        let Some(bufs) = slices(iov, n) else {
            fail(Some(&t), out, &Error::arg("NULL buffer"));
            return cosocket_status::NullParameter;
        };
        match t.send(&bufs) {
            Ok(n) => ok_value(out, n as i64),
            Err(e) => fail(Some(&t), out, &e),
        }
    })
}

/// Starts a send on `lp` (bytes the kernel does not take at once are copied).
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_send_async(
    sock: *mut cosocket_tcp,
    lp: *mut super::loop_api::cosocket_loop,
    token: u64,
    data: *const u8,
    len: usize,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let t = sock_or_return!(sock, out);
        let l = loop_or_return!(lp, out);
        // SAFETY: as in `cosocket_tcp_send`.
        let Some(b) = (unsafe { bytes(data, len) }) else {
            fail(Some(&t), out, &Error::arg("NULL buffer"));
            return cosocket_status::NullParameter;
        };
        match t.send_start(&l, token, &[IoSlice::new(b)]) {
            Start::Done(Ok(n)) => ok_value(out, n as i64),
            Start::Done(Err(e)) => fail(Some(&t), out, &e),
            Start::Pending => cosocket_status::Again,
        }
    })
}

/// Starts a gather send on `lp`.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_sendv_async(
    sock: *mut cosocket_tcp,
    lp: *mut super::loop_api::cosocket_loop,
    token: u64,
    iov: *const cosocket_iovec,
    n: usize,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let t = sock_or_return!(sock, out);
        let l = loop_or_return!(lp, out);
        let Some(bufs) = slices(iov, n) else {
            fail(Some(&t), out, &Error::arg("NULL buffer"));
            return cosocket_status::NullParameter;
        };
        match t.send_start(&l, token, &bufs) {
            Start::Done(Ok(n)) => ok_value(out, n as i64),
            Start::Done(Err(e)) => fail(Some(&t), out, &e),
            Start::Pending => cosocket_status::Again,
        }
    })
}

fn pattern(kind: u32, n: usize) -> Result<Pattern, Error> {
    // A plain integer: a C caller may pass any value, which must not be UB.
    Ok(match kind {
        0 => Pattern::Line,
        1 => Pattern::All,
        2 if n <= isize::MAX as usize => Pattern::Size(n),
        2 => return Err(Error::arg("bad number argument")),
        3 if n > 0 && n <= isize::MAX as usize => Pattern::Any(n),
        3 => return Err(Error::arg("bad max argument")),
        _ => return Err(Error::arg("bad pattern argument")),
    })
}

/// Receives (blocking) by pattern `kind` (a `cosocket_pattern`): LINE, ALL, SIZE (`n` bytes; 0 returns ""
/// at once) or ANY (at most `n` > 0 bytes of what has arrived). OK: `data`.
/// ERROR: `err` ("closed", "timeout", errno text) and the partial `data`
/// (consumed); `data` is NULL when the socket was already closed. A read
/// timeout leaves the socket usable; other errors close the read half.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_receive(
    sock: *mut cosocket_tcp,
    kind: u32,
    n: usize,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let t = sock_or_return!(sock, out);
        let p = match pattern(kind, n) {
            Ok(p) => p,
            Err(e) => return fail(Some(&t), out, &e),
        };
        let r = t.receive(ReadRequest::Pattern(p));
        read_outcome(&t, out, r)
    })
}

/// Starts a receive on `lp`; AGAIN means wait for `token`, then
/// `cosocket_tcp_result(sock, COSOCKET_OP_RECEIVE, ...)`.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_receive_async(
    sock: *mut cosocket_tcp,
    lp: *mut super::loop_api::cosocket_loop,
    token: u64,
    kind: u32,
    n: usize,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let t = sock_or_return!(sock, out);
        let l = loop_or_return!(lp, out);
        let p = match pattern(kind, n) {
            Ok(p) => p,
            Err(e) => return fail(Some(&t), out, &e),
        };
        match t.receive_start(&l, token, ReadRequest::Pattern(p)) {
            Start::Done(r) => read_outcome(&t, out, r),
            Start::Pending => cosocket_status::Again,
        }
    })
}

/// Creates a receiveuntil iterator for a non-empty literal pattern; NULL if
/// `pattern` is NULL or empty (OpenResty: "pattern is empty").
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_until_new(
    pattern: *const u8,
    len: usize,
    inclusive: bool,
) -> *mut cosocket_until {
    guard_or(std::ptr::null_mut(), || {
        // SAFETY: pattern points at len bytes.
        match unsafe { bytes(pattern, len) } {
            Some(p) if !p.is_empty() => UNTIL.insert(Arc::new(UntilIter::new(p, inclusive))),
            _ => std::ptr::null_mut(),
        }
    })
}

/// Releases an iterator. NULL and freed handles are ignored.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_until_free(it: *mut cosocket_until) {
    guard_or((), || drop(UNTIL.remove(it)))
}

fn until_request(it: *mut cosocket_until, size: usize) -> Option<ReadRequest> {
    UNTIL.get(it).map(|u| ReadRequest::Until(u, size))
}

/// One iterator call (blocking): OK with the data before the pattern (and
/// the pattern too when inclusive); with `size` > 0, chunks of about `size`
/// bytes, then DONE (OpenResty's `nil, nil, nil`) once the pattern is
/// reached. ERROR as for `cosocket_tcp_receive`.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_receiveuntil(
    sock: *mut cosocket_tcp,
    it: *mut cosocket_until,
    size: usize,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let t = sock_or_return!(sock, out);
        let Some(req) = until_request(it, size) else {
            return bad_handle(it, "invalid iterator handle", out);
        };
        let r = t.receive(req);
        read_outcome(&t, out, r)
    })
}

/// Starts an iterator call on `lp` (see `cosocket_tcp_receive_async`).
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_receiveuntil_async(
    sock: *mut cosocket_tcp,
    lp: *mut super::loop_api::cosocket_loop,
    token: u64,
    it: *mut cosocket_until,
    size: usize,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let t = sock_or_return!(sock, out);
        let l = loop_or_return!(lp, out);
        let Some(req) = until_request(it, size) else {
            return bad_handle(it, "invalid iterator handle", out);
        };
        match t.receive_start(&l, token, req) {
            Start::Done(r) => read_outcome(&t, out, r),
            Start::Pending => cosocket_status::Again,
        }
    })
}

/// Fetches the result of a finished asynchronous operation (after its token
/// came out of `cosocket_loop_wait`); `op` is a `cosocket_op`. NO_RESULT if
/// none is waiting.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_result(
    sock: *mut cosocket_tcp,
    op: u32,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let t = sock_or_return!(sock, out);
        match op {
            0 => match t.take_connect_result() {
                Some(Ok(())) => ok_value(out, 1),
                Some(Err(e)) => fail(Some(&t), out, &e),
                None => cosocket_status::NoResult,
            },
            1 => match t.take_write_result() {
                Some(Ok(n)) => ok_value(out, n as i64),
                Some(Err(e)) => fail(Some(&t), out, &e),
                None => cosocket_status::NoResult,
            },
            2 => match t.take_read_result() {
                Some(r) => read_outcome(&t, out, r),
                None => cosocket_status::NoResult,
            },
            3 => super::tls_api::handshake_result(&t, out),
            _ => fail(Some(&t), out, &Error::arg("bad op")),
        }
    })
}

/// Closes the connection (never pools it). ERROR "closed" if not connected.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_close(
    sock: *mut cosocket_tcp,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let t = sock_or_return!(sock, out);
        match t.close() {
            Ok(()) => ok_value(out, 1),
            Err(e) => fail(Some(&t), out, &e),
        }
    })
}

/// Puts the connection into the keepalive pool (`timeout_ms`: idle timeout,
/// -1 default 60 s, 0 forever; `size`: pool size if the pool is created now,
/// -1 default 30, other values <= 0 give INVALID_ARGUMENT). The socket is then closed. ERROR "unread data in buffer"
/// (socket stays open), "connection in dubious state", "closed".
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_setkeepalive(
    sock: *mut cosocket_tcp,
    timeout_ms: i64,
    size: i64,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let t = sock_or_return!(sock, out);
        let timeout = if timeout_ms < 0 {
            None
        } else {
            Some(timeout_ms as u64)
        };
        // -1 means "default"; any other value (even negative) is checked.
        let size = if size == -1 { None } else { Some(size) };
        match t.set_keepalive(timeout, size) {
            Ok(()) => ok_value(out, 1),
            Err(e) => fail(Some(&t), out, &e),
        }
    })
}

/// `result.value` = how many times this connection was reused from the pool.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_getreusedtimes(
    sock: *mut cosocket_tcp,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let t = sock_or_return!(sock, out);
        match t.reused_times() {
            Ok(n) => ok_value(out, n as i64),
            Err(e) => fail(Some(&t), out, &e),
        }
    })
}

fn option_name(name: *const c_char, len: usize) -> Result<SockOption, Error> {
    // SAFETY: name points at len bytes.
    let n =
        unsafe { bytes(name.cast(), len) }.ok_or(Error::op("missing the \"option\" argument"))?;
    if n.is_empty() {
        return Err(Error::op("missing the \"option\" argument"));
    }
    SockOption::from_name(n).ok_or_else(|| {
        Error::op_owned(format!("unsupported option {}", String::from_utf8_lossy(n)))
    })
}

/// Sets a socket option by name: "keepalive", "reuseaddr", "tcp-nodelay",
/// "sndbuf", "rcvbuf", "keepintvl", "keepcnt".
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_setoption(
    sock: *mut cosocket_tcp,
    name: *const c_char,
    name_len: usize,
    value: i64,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let t = sock_or_return!(sock, out);
        let r = option_name(name, name_len).and_then(|o| t.set_option(o, value));
        match r {
            Ok(()) => ok_value(out, 1),
            Err(e) => fail(Some(&t), out, &e),
        }
    })
}

/// Reads a socket option by name into `result.value`.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_getoption(
    sock: *mut cosocket_tcp,
    name: *const c_char,
    name_len: usize,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let t = sock_or_return!(sock, out);
        let r = option_name(name, name_len).and_then(|o| t.get_option(o));
        match r {
            Ok(v) => ok_value(out, v),
            Err(e) => fail(Some(&t), out, &e),
        }
    })
}

/// The connection's file descriptor in `result.value`; ERROR "closed" if none.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_getfd(
    sock: *mut cosocket_tcp,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let t = sock_or_return!(sock, out);
        match t.fd() {
            fd if fd >= 0 => ok_value(out, fd as i64),
            _ => fail(Some(&t), out, &Error::CLOSED),
        }
    })
}

/// Health of one keepalive pool (see `cosocket_pool_get_stats`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct cosocket_pool_stats {
    /// Most idle connections kept.
    pub size: u64,
    /// Backlog (queued connects allowed), -1 when the pool has none.
    pub backlog: i64,
    /// Idle connections in the pool now.
    pub idle: u64,
    /// Connections in use (or being opened) counted by the pool.
    pub in_use: u64,
    /// Connects waiting in the backlog queue.
    pub waiting: u64,
    /// Connections handed out from the pool since it was created.
    pub reuses: u64,
    /// Idle connections closed to make room (pool full).
    pub evictions: u64,
}

/// Reads the statistics of the pool named `key` (`host:port` as passed to
/// connect, the `unix:` path, or the `pool` option). OK and `*out` filled,
/// or ERROR when no such pool exists (pools vanish when their last
/// connection closes).
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_pool_get_stats(
    key: *const c_char,
    key_len: usize,
    out: *mut cosocket_pool_stats,
) -> cosocket_status {
    guard(|| {
        if out.is_null() {
            return cosocket_status::NullParameter;
        }
        // SAFETY: key points at key_len bytes.
        let Some(k) = (unsafe { bytes(key.cast(), key_len) }) else {
            return cosocket_status::NullParameter;
        };
        match crate::pool::stats(&String::from_utf8_lossy(k)) {
            Some(s) => {
                // SAFETY: out checked non-NULL.
                unsafe {
                    out.write(cosocket_pool_stats {
                        size: s.size as u64,
                        backlog: s.backlog,
                        idle: s.idle as u64,
                        in_use: s.in_use as u64,
                        waiting: s.waiting as u64,
                        reuses: s.reuses,
                        evictions: s.evictions,
                    })
                };
                cosocket_status::Ok
            }
            None => cosocket_status::Error,
        }
    })
}

/// Makes later connects of this socket originate from the local address
/// `ip` (an IPv4 or IPv6 literal, not NUL-terminated) and `port` (0: any),
/// like nginx's proxy_bind (OpenResty's `tcpsock:bind`). ERROR "bad address"
/// for anything but an IP literal, "bad port number: N" outside 0..65535.
/// A family mismatch surfaces at connect ("address family not supported by
/// protocol").
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_tcp_bind(
    sock: *mut cosocket_tcp,
    ip: *const c_char,
    ip_len: usize,
    port: i32,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let t = sock_or_return!(sock, out);
        if !(0..=65535).contains(&port) {
            return fail(
                Some(&t),
                out,
                &Error::op_owned(format!("bad port number: {port}")),
            );
        }
        // SAFETY: ip points at ip_len bytes.
        let Some(text) = (unsafe { bytes(ip.cast(), ip_len) }) else {
            return bad_handle(std::ptr::null::<u8>(), "NULL address", out);
        };
        let text = std::str::from_utf8(text).unwrap_or("");
        let text = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(text);
        match text.parse::<std::net::IpAddr>() {
            Ok(ip) => {
                t.set_bind(Some(std::net::SocketAddr::new(ip, port as u16)));
                ok_value(out, 1)
            }
            Err(_) => fail(Some(&t), out, &Error::op("bad address")),
        }
    })
}
