//! `cosocket_udp_*`: the UDP cosocket (`ngx.socket.udp`), blocking and async.

use std::ffi::c_char;
use std::sync::Arc;

use super::handles::Registry;
use super::loop_api::cosocket_loop;
use super::plumbing::{
    bytes, fail, loop_or_return, ok_value, port_arg, put, slices, udp_or_return,
};
use super::types::*;
use super::{guard, guard_or};
use crate::error::Error;
use crate::udp::{Datagram, Start, Udp};

/// An opaque UDP cosocket (OpenResty's `ngx.socket.udp()` object). Create
/// with `cosocket_udp_new`, connect it with `cosocket_udp_setpeername`,
/// release with `cosocket_udp_free`.
///
/// Not full duplex, as in OpenResty: while a receive waits (blocking on
/// another thread, or pending on a loop), every other operation on the
/// socket gets ERROR "socket busy".
pub struct cosocket_udp {
    _private: [u8; 0],
}

pub(crate) static UDP: Registry<Udp> = Registry::new();

fn datagram(
    sock: &Udp,
    out: *mut cosocket_result,
    r: crate::error::Result<Datagram>,
) -> cosocket_status {
    match r {
        Ok((p, l)) => {
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
        Err(e) => fail(Some(sock), out, &e),
    }
}

/// Creates a UDP socket object (not connected). NULL only on allocation
/// failure.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_udp_new() -> *mut cosocket_udp {
    guard_or(std::ptr::null_mut(), || UDP.insert(Arc::new(Udp::new())))
}

/// Closes the socket if any (a pending receive or name resolution is
/// cancelled; its token never comes out of the loop) and releases the
/// handle. NULL and already-freed handles are ignored.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_udp_free(sock: *mut cosocket_udp) {
    guard_or((), || {
        if let Some(u) = UDP.remove(sock) {
            u.abort();
        }
    })
}

/// Cancels a pending operation and closes the socket, keeping the handle
/// usable (OpenResty closes the socket of a killed thread).
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_udp_abort(sock: *mut cosocket_udp) -> cosocket_status {
    guard(|| {
        let u = udp_or_return!(sock, std::ptr::null_mut());
        u.abort();
        cosocket_status::Ok
    })
}

/// Sets the read timeout in ms, as OpenResty's `settimeout`: no validation
/// (always OK); `ms` > 0 is the timeout of each later receive, 0 or
/// negative means the 60 s default. Set before `setpeername`, it also
/// bounds the resolution of a host name.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_udp_settimeout(
    sock: *mut cosocket_udp,
    ms: i64,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let u = udp_or_return!(sock, out);
        u.set_timeout(ms);
        ok_value(out, 0)
    })
}

/// Stores a local address that the next `setpeername` binds the socket to
/// before connecting (OpenResty's `bind`, v0.10.27+). `ip` is an IPv4 or
/// IPv6 literal (no brackets); `port` -1 or 0 = any (a cosocket extension).
/// ERROR "bad address" when `ip` does not parse, "bad port number: N".
/// A bind failure makes the next `setpeername` fail with the errno text
/// ("address already in use", "invalid argument" for a family mismatch).
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_udp_bind(
    sock: *mut cosocket_udp,
    ip: *const c_char,
    ip_len: usize,
    port: i32,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let u = udp_or_return!(sock, out);
        // SAFETY: ip points at ip_len bytes.
        let Some(ip) = (unsafe { bytes(ip.cast(), ip_len) }) else {
            fail(Some(&u), out, &Error::arg("NULL address"));
            return cosocket_status::NullParameter;
        };
        let port = match port_arg(port) {
            Ok(p) => p.unwrap_or(0),
            Err(e) => return fail(Some(&u), out, &e),
        };
        match u.bind(ip, port) {
            Ok(()) => ok_value(out, 1),
            Err(e) => fail(Some(&u), out, &e),
        }
    })
}

/// The host and port of a setpeername, or the status of the failure
/// written to `out` (NULL_PARAMETER for a NULL host).
fn peer_args<'a>(
    u: &Udp,
    host: *const c_char,
    len: usize,
    port: i32,
    out: *mut cosocket_result,
) -> Result<(&'a [u8], Option<u16>), cosocket_status> {
    // SAFETY: host points at len bytes per the contract.
    let Some(host) = (unsafe { bytes(host.cast(), len) }) else {
        fail(Some(u), out, &Error::arg("NULL host"));
        return Err(cosocket_status::NullParameter);
    };
    let port = port_arg(port).map_err(|e| fail(Some(u), out, &e))?;
    Ok((host, port))
}

/// Connects the socket to `host` and `port` (-1 when absent: port 0) —
/// an IPv4 literal, `[v6]`, `host:port`, a host name (system resolver,
/// within the read timeout), or `unix:/path` (a datagram unix socket,
/// auto-bound so the peer can answer; `port` unused). Never waits for the
/// peer: a port nobody listens on succeeds (the ICMP error comes later).
/// A connected socket is closed first (the new one has a new local port).
/// OK: `result.value` 1. ERROR: "bad port number: N" (socket untouched),
/// "socket busy", `failed to parse host name "H": why`, "H could not be
/// resolved (3: Host not found)", or the errno text of bind/connect
/// ("no such file or directory", "connection refused"); after a
/// bind/connect error the half-made socket is kept, as nginx does: send
/// reports the kernel's error, receive "transport endpoint is not
/// connected", close 1.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_udp_setpeername(
    sock: *mut cosocket_udp,
    host: *const c_char,
    host_len: usize,
    port: i32,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let u = udp_or_return!(sock, out);
        let (host, port) = match peer_args(&u, host, host_len, port, out) {
            Ok(a) => a,
            Err(st) => return st,
        };
        match u.setpeername(host, port) {
            Ok(()) => ok_value(out, 1),
            Err(e) => fail(Some(&u), out, &e),
        }
    })
}

/// `cosocket_udp_setpeername` on `lp`: OK/ERROR when finished at once
/// (addresses, unix paths, errors); AGAIN while a host name resolves:
/// `token` will come out of `cosocket_loop_wait`, then call
/// `cosocket_udp_result(sock, COSOCKET_OP_CONNECT, ...)`. Meanwhile send,
/// receive and close get "closed" and setpeername "socket busy".
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_udp_setpeername_async(
    sock: *mut cosocket_udp,
    lp: *mut cosocket_loop,
    token: u64,
    host: *const c_char,
    host_len: usize,
    port: i32,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let u = udp_or_return!(sock, out);
        let l = loop_or_return!(lp, out);
        let (host, port) = match peer_args(&u, host, host_len, port, out) {
            Ok(a) => a,
            Err(st) => return st,
        };
        match u.setpeername_start(&l, token, host, port) {
            Start::Done(Ok(())) => ok_value(out, 1),
            Start::Done(Err(e)) => fail(Some(&u), out, &e),
            Start::Pending => cosocket_status::Again,
        }
    })
}

/// The body of every send: the gather list as one datagram.
fn send(
    u: &Udp,
    iov: *const cosocket_iovec,
    n: usize,
    out: *mut cosocket_result,
) -> cosocket_status {
    let Some(bufs) = slices(iov, n) else {
        fail(Some(u), out, &Error::arg("NULL buffer"));
        return cosocket_status::NullParameter;
    };
    match u.send(&bufs) {
        Ok(()) => ok_value(out, 1),
        Err(e) => fail(Some(u), out, &e),
    }
}

/// Sends `len` bytes as ONE datagram (`len` 0 sends an empty datagram).
/// Never waits. OK: `result.value` is 1 (OpenResty returns 1, not a byte
/// count). ERROR: "closed", "socket busy" (a receive waits), "connection
/// refused" (an ICMP error from an earlier datagram, reported once),
/// "message too long", "resource temporarily unavailable" (socket buffer
/// full), "partial write". The socket stays usable after each.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_udp_send(
    sock: *mut cosocket_udp,
    data: *const u8,
    len: usize,
    out: *mut cosocket_result,
) -> cosocket_status {
    let iov = cosocket_iovec { base: data, len };
    cosocket_udp_sendv(sock, &iov, 1, out)
}

/// Sends a gather list of `n` buffers as ONE datagram (their
/// concatenation; `n` 0 sends an empty datagram). As `cosocket_udp_send`.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_udp_sendv(
    sock: *mut cosocket_udp,
    iov: *const cosocket_iovec,
    n: usize,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let u = udp_or_return!(sock, out);
        send(&u, iov, n, out)
    })
}

/// `cosocket_udp_send` for loop users: a UDP send never waits, so this
/// always finishes at once (OK or ERROR, never AGAIN; `token` is unused).
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_udp_send_async(
    sock: *mut cosocket_udp,
    lp: *mut cosocket_loop,
    token: u64,
    data: *const u8,
    len: usize,
    out: *mut cosocket_result,
) -> cosocket_status {
    let iov = cosocket_iovec { base: data, len };
    cosocket_udp_sendv_async(sock, lp, token, &iov, 1, out)
}

/// `cosocket_udp_sendv` for loop users: never AGAIN (see
/// `cosocket_udp_send_async`).
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_udp_sendv_async(
    sock: *mut cosocket_udp,
    lp: *mut cosocket_loop,
    _token: u64,
    iov: *const cosocket_iovec,
    n: usize,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let u = udp_or_return!(sock, out);
        let _l = loop_or_return!(lp, out);
        send(&u, iov, n, out)
    })
}

/// Receives (blocking) exactly one datagram: at most `size` bytes (values
/// above 65536 mean 65536); a longer datagram is truncated and its rest
/// discarded; `size` 0 consumes a datagram and returns "". Waits up to the
/// read timeout. OK: `data`/`data_len` (valid until the next call on the
/// socket). ERROR: "timeout" (the socket stays usable; a late datagram is
/// returned by the next call), "closed", "socket busy", "connection
/// refused" (ICMP, reported once), other errno texts.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_udp_receive(
    sock: *mut cosocket_udp,
    size: usize,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let u = udp_or_return!(sock, out);
        let r = u.receive(size);
        datagram(&u, out, r)
    })
}

/// Starts a receive on `lp`: OK/ERROR when a datagram (or an error) is
/// already there; AGAIN otherwise: `token` comes out of
/// `cosocket_loop_wait` when a datagram arrives or the read timeout
/// expires, then call `cosocket_udp_result(sock, COSOCKET_OP_RECEIVE, ...)`.
/// The socket is busy until that result is fetched.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_udp_receive_async(
    sock: *mut cosocket_udp,
    lp: *mut cosocket_loop,
    token: u64,
    size: usize,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let u = udp_or_return!(sock, out);
        let l = loop_or_return!(lp, out);
        match u.receive_start(&l, token, size) {
            Start::Done(r) => datagram(&u, out, r),
            Start::Pending => cosocket_status::Again,
        }
    })
}

/// Fetches the result of a finished asynchronous operation; `op` is a
/// `cosocket_op`: COSOCKET_OP_CONNECT for `setpeername_async`,
/// COSOCKET_OP_RECEIVE for `receive_async` (COSOCKET_OP_SEND never has a
/// result: sends finish at once). NO_RESULT if none is waiting.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_udp_result(
    sock: *mut cosocket_udp,
    op: u32,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let u = udp_or_return!(sock, out);
        match op {
            0 => match u.take_peer_result() {
                Some(Ok(())) => ok_value(out, 1),
                Some(Err(e)) => fail(Some(&u), out, &e),
                None => cosocket_status::NoResult,
            },
            1 => cosocket_status::NoResult,
            2 => match u.take_read_result() {
                Some(r) => datagram(&u, out, r),
                None => cosocket_status::NoResult,
            },
            _ => fail(Some(&u), out, &Error::arg("bad op")),
        }
    })
}

/// Closes the socket. OK: `result.value` 1. ERROR "closed" when not
/// connected, "socket busy" while a receive waits. `setpeername` may be
/// called again afterwards.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_udp_close(
    sock: *mut cosocket_udp,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let u = udp_or_return!(sock, out);
        match u.close() {
            Ok(()) => ok_value(out, 1),
            Err(e) => fail(Some(&u), out, &e),
        }
    })
}

/// Reports, without any I/O, the error a send or receive would give before
/// looking at its arguments: ERROR "closed" (not connected) or "socket
/// busy" (a receive waits); OK otherwise. (OpenResty checks these before it
/// validates the data of `send` and the size of `receive`.)
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_udp_check(
    sock: *mut cosocket_udp,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let u = udp_or_return!(sock, out);
        match u.check() {
            Ok(()) => ok_value(out, 0),
            Err(e) => fail(Some(&u), out, &e),
        }
    })
}

/// The socket's file descriptor in `result.value`; ERROR "closed" if none.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_udp_getfd(
    sock: *mut cosocket_udp,
    out: *mut cosocket_result,
) -> cosocket_status {
    guard(|| {
        let u = udp_or_return!(sock, out);
        match u.fd() {
            fd if fd >= 0 => ok_value(out, fd as i64),
            _ => fail(Some(&u), out, &Error::CLOSED),
        }
    })
}
