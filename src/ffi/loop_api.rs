//! `cosocket_loop_*`: the completion queue of asynchronous operations.

use std::time::Duration;

use super::handles::Registry;
use super::plumbing::loop_or_return;
use super::types::*;
use super::{guard, guard_or};
use crate::event_loop::EventLoop;

/// An opaque event loop: asynchronous operations started on it complete
/// during `cosocket_loop_wait`, which must be called by one thread at a time
/// (the loop's owner). Other threads may only call `cosocket_loop_post`.
pub struct cosocket_loop {
    _private: [u8; 0],
}

pub(crate) static LOOPS: Registry<EventLoop> = Registry::new();

/// Creates a loop (its own epoll). NULL if the kernel refuses.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_loop_new() -> *mut cosocket_loop {
    guard_or(std::ptr::null_mut(), || match EventLoop::new() {
        Ok(l) => LOOPS.insert(l),
        Err(_) => std::ptr::null_mut(),
    })
}

/// Releases a loop. Operations still pending on it never complete: abort or
/// free their sockets first. NULL and freed handles are ignored.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_loop_free(lp: *mut cosocket_loop) {
    guard_or((), || drop(LOOPS.remove(lp)))
}

/// A file descriptor that becomes readable when the loop has work: add it to
/// an external poller (epoll, libuv, libevent), and also honour
/// `cosocket_loop_timeout`. -1 for a bad handle. Until this is first
/// called the loop adds sockets to its epoll only when its own wait is
/// about to sleep in it (a receive the wait finishes in a blocking recv
/// costs no epoll_ctl); from then on at once, so the fd never misses one.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_loop_fd(lp: *mut cosocket_loop) -> i32 {
    guard_or(-1, || LOOPS.get(lp).map_or(-1, |l| l.fd()))
}

/// Milliseconds until the earliest deadline of a pending operation or
/// sleep, rounded up (0 when completions are ready), or -1 when nothing is
/// scheduled (or for a bad handle).
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_loop_timeout(lp: *mut cosocket_loop) -> i64 {
    guard_or(-1, || {
        LOOPS
            .get(lp)
            .and_then(|l| l.next_timeout())
            .map_or(-1, |d| {
                d.as_micros().div_ceil(1000).min(i64::MAX as u128) as i64
            })
    })
}

/// Drives the loop: performs pending I/O, fires timers, and writes up to
/// `cap` tokens of finished operations into `tokens`, the count into
/// `*n_out`. Waits up to `timeout_ms` (-1 forever, 0 just polls; other
/// negative values are INVALID_ARGUMENT) when none is ready yet; OK with
/// `*n_out == 0` means the timeout expired. When a single receive is all
/// the loop waits for (no other operation pending, nothing ready, and no
/// `cosocket_loop_post` ever made on this loop) and `timeout_ms` is not 0,
/// the wait is a blocking recv on that socket bounded by the earlier of the
/// timeout, the receive's deadline and any sleep: the same results, two
/// syscalls per round trip.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_loop_wait(
    lp: *mut cosocket_loop,
    tokens: *mut u64,
    cap: usize,
    timeout_ms: i64,
    n_out: *mut usize,
) -> cosocket_status {
    guard(|| {
        let l = loop_or_return!(lp, std::ptr::null_mut());
        if n_out.is_null() || (tokens.is_null() && cap > 0) {
            return cosocket_status::NullParameter;
        }
        let timeout = match timeout_ms {
            -1 => None,
            ms if ms < 0 => return cosocket_status::InvalidArgument,
            ms => Some(Duration::from_millis(ms as u64)),
        };
        let out: &mut [u64] = if cap == 0 {
            &mut []
        } else {
            // SAFETY: tokens points at cap writable u64s.
            unsafe { std::slice::from_raw_parts_mut(tokens, cap) }
        };
        let n = l.wait(out, timeout);
        // SAFETY: checked non-NULL above.
        unsafe { n_out.write(n) };
        cosocket_status::Ok
    })
}

/// Completes `token` after `ms` milliseconds (a scheduler's sleep).
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_loop_sleep(
    lp: *mut cosocket_loop,
    token: u64,
    ms: i64,
) -> cosocket_status {
    guard(|| {
        let l = loop_or_return!(lp, std::ptr::null_mut());
        if ms < 0 {
            return cosocket_status::InvalidArgument;
        }
        l.sleep(token, Duration::from_millis(ms as u64));
        cosocket_status::Ok
    })
}

/// Makes `token` come out of the loop's next wait. Safe from any thread
/// (wakes a waiting loop).
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_loop_post(lp: *mut cosocket_loop, token: u64) -> cosocket_status {
    guard(|| {
        let l = loop_or_return!(lp, std::ptr::null_mut());
        l.post_token(token);
        cosocket_status::Ok
    })
}
