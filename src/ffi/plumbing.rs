//! What every `*_api` module does around the core call: reading pointer
//! arguments, looking up handles, writing the `cosocket_result`.

use std::borrow::Cow;
use std::io::IoSlice;
use std::sync::Arc;

use super::types::*;
use crate::error::{Error, Kind};
use crate::tcp::Tcp;
use crate::udp::Udp;

/// A socket that keeps the text of its last owned error alive, so that
/// `result.err` may point at it until the next call on the socket.
pub(super) trait KeepsError {
    fn keep_error(&self, e: &Error);
    fn kept_error_ptr(&self) -> Option<(*const u8, usize)>;
}

impl KeepsError for Tcp {
    fn keep_error(&self, e: &Error) {
        Tcp::keep_error(self, e)
    }
    fn kept_error_ptr(&self) -> Option<(*const u8, usize)> {
        Tcp::kept_error_ptr(self)
    }
}

impl KeepsError for Udp {
    fn keep_error(&self, e: &Error) {
        Udp::keep_error(self, e)
    }
    fn kept_error_ptr(&self) -> Option<(*const u8, usize)> {
        Udp::kept_error_ptr(self)
    }
}

impl<T: KeepsError> KeepsError for Arc<T> {
    fn keep_error(&self, e: &Error) {
        T::keep_error(self, e)
    }
    fn kept_error_ptr(&self) -> Option<(*const u8, usize)> {
        T::kept_error_ptr(self)
    }
}

/// Writes `v` to the caller's `out` (a result, a handle cell) unless `out`
/// is NULL.
pub(super) fn put<T>(out: *mut T, v: T) {
    if !out.is_null() {
        // SAFETY: the caller passes a writable pointer or NULL.
        unsafe { out.write(v) };
    }
}

/// OK with `result.value` = `value`.
pub(super) fn ok_value(out: *mut cosocket_result, value: i64) -> cosocket_status {
    put(
        out,
        cosocket_result {
            value,
            ..cosocket_result::EMPTY
        },
    );
    cosocket_status::Ok
}

/// Writes an error; owned texts are kept alive by the socket (without one,
/// an owned text is reported as "error"). ERROR for an operation error,
/// INVALID_ARGUMENT for an argument error.
pub(super) fn fail<S: KeepsError>(
    sock: Option<&S>,
    out: *mut cosocket_result,
    e: &Error,
) -> cosocket_status {
    let (ptr, len) = match (e.static_str(), sock) {
        (Some(s), _) => (s.as_ptr(), s.len()),
        (None, Some(s)) => {
            s.keep_error(e);
            s.kept_error_ptr().unwrap_or(("error".as_ptr(), 5))
        }
        (None, None) => ("error".as_ptr(), 5),
    };
    put(
        out,
        cosocket_result {
            err: ptr.cast(),
            err_len: len,
            ..cosocket_result::EMPTY
        },
    );
    match e.kind() {
        Kind::Op => cosocket_status::Error,
        Kind::Arg => cosocket_status::InvalidArgument,
    }
}

/// Reports a bad handle: NULL_PARAMETER for NULL, INVALID_HANDLE otherwise.
pub(super) fn bad_handle<P>(
    h: *const P,
    what: &'static str,
    out: *mut cosocket_result,
) -> cosocket_status {
    fail(None::<&Tcp>, out, &Error::arg(what));
    if h.is_null() {
        cosocket_status::NullParameter
    } else {
        cosocket_status::InvalidHandle
    }
}

/// Looks a handle up in a registry, or returns INVALID_HANDLE /
/// NULL_PARAMETER (with `what` in `result.err`) from the calling function.
macro_rules! handle_or_return {
    ($registry:expr, $h:expr, $what:expr, $out:expr) => {{
        match $registry.get($h) {
            Some(v) => v,
            None => return $crate::ffi::plumbing::bad_handle($h, $what, $out),
        }
    }};
}

/// Looks up a TCP socket handle or returns INVALID_HANDLE / NULL_PARAMETER.
macro_rules! sock_or_return {
    ($h:expr, $out:expr) => {
        $crate::ffi::plumbing::handle_or_return!(
            $crate::ffi::tcp_api::TCP,
            $h,
            "invalid socket handle",
            $out
        )
    };
}

/// Looks up a UDP socket handle or returns INVALID_HANDLE / NULL_PARAMETER.
macro_rules! udp_or_return {
    ($h:expr, $out:expr) => {
        $crate::ffi::plumbing::handle_or_return!(
            $crate::ffi::udp_api::UDP,
            $h,
            "invalid socket handle",
            $out
        )
    };
}

/// Looks up a loop handle or returns INVALID_HANDLE / NULL_PARAMETER.
macro_rules! loop_or_return {
    ($h:expr, $out:expr) => {
        $crate::ffi::plumbing::handle_or_return!(
            $crate::ffi::loop_api::LOOPS,
            $h,
            "invalid loop handle",
            $out
        )
    };
}

pub(super) use {handle_or_return, loop_or_return, sock_or_return, udp_or_return};

/// The `len` bytes at `p`: empty when `len` is 0 (`p` may then be NULL),
/// `None` when `p` is NULL otherwise.
///
/// # Safety
/// `p` must be NULL or point at `len` readable bytes that outlive `'a`.
pub(super) unsafe fn bytes<'a>(p: *const u8, len: usize) -> Option<&'a [u8]> {
    if len == 0 {
        return Some(&[]);
    }
    if p.is_null() {
        return None;
    }
    // SAFETY: the caller promises p points at len readable bytes.
    Some(unsafe { std::slice::from_raw_parts(p, len) })
}

/// A gather list of `n` buffers; `None` when `iov` is NULL (with `n` > 0)
/// or an entry has a NULL base and a non-zero length. Borrowed without a
/// copy when every base is non-NULL (`cosocket_iovec` has the layout of
/// `struct iovec`, which `IoSlice` wraps): sends allocate nothing.
#[inline]
pub(super) fn slices<'a>(iov: *const cosocket_iovec, n: usize) -> Option<Cow<'a, [IoSlice<'a>]>> {
    if n == 0 {
        return Some(Cow::Borrowed(&[]));
    }
    if iov.is_null() {
        return None;
    }
    // SAFETY: iov points at n entries per the contract.
    let entries = unsafe { std::slice::from_raw_parts(iov, n) };
    if entries.iter().all(|e| !e.base.is_null()) {
        const _: () = assert!(
            std::mem::size_of::<cosocket_iovec>() == std::mem::size_of::<IoSlice<'_>>()
                && std::mem::align_of::<cosocket_iovec>() == std::mem::align_of::<IoSlice<'_>>()
        );
        // SAFETY: IoSlice is ABI-compatible with iovec on Unix, as is
        // cosocket_iovec (pointer, length); every base is non-NULL and
        // describes len readable bytes per the contract.
        let borrowed = unsafe { std::slice::from_raw_parts(iov.cast::<IoSlice<'a>>(), n) };
        return Some(Cow::Borrowed(borrowed));
    }
    let mut v = Vec::with_capacity(n);
    for e in entries {
        // SAFETY: each entry describes len readable bytes.
        v.push(IoSlice::new(unsafe { bytes(e.base, e.len) }?));
    }
    Some(Cow::Owned(v))
}

/// A port argument: -1 = absent; otherwise 0..=65535, else OpenResty's
/// returned (not raised) "bad port number: N".
pub(super) fn port_arg(port: i32) -> Result<Option<u16>, Error> {
    match port {
        -1 => Ok(None),
        p if (0..=65535).contains(&p) => Ok(Some(p as u16)),
        p => Err(Error::op_owned(format!("bad port number: {p}"))),
    }
}
