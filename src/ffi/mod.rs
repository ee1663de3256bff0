//! The C ABI: every `extern "C"` function of libcosocket.
//!
//! Conventions (after rustls-ffi): opaque handles created by `_new` and
//! released by `_free` (`_free(NULL)` is a no-op); every function checks its
//! arguments, validates handles against a registry (freed, NULL or foreign
//! pointers give `COSOCKET_STATUS_INVALID_HANDLE`, never undefined
//! behaviour) and catches panics (`COSOCKET_STATUS_PANIC`); one status enum
//! whose numbers never change; a buffer is always followed by its length.

#![allow(non_camel_case_types)]
// C callers pass raw pointers to every function; marking the exports `unsafe`
// changes nothing for C, and each dereference is checked and commented.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

mod codec_api;
mod handles;
mod loop_api;
mod plumbing;
mod tcp_api;
mod tls_api;
mod types;
mod udp_api;

pub use codec_api::*;
pub use loop_api::*;
pub use tcp_api::*;
pub use tls_api::*;
pub use types::*;
pub use udp_api::*;

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs an FFI body, turning a panic into `COSOCKET_STATUS_PANIC`.
pub(crate) fn guard(f: impl FnOnce() -> cosocket_status) -> cosocket_status {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(cosocket_status::Panic)
}

/// Runs an FFI body that returns a value, with `default` on panic.
pub(crate) fn guard_or<T>(default: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(default)
}

/// The library version, e.g. "0.1.0" (static, NUL-terminated).
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_version() -> *const std::ffi::c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Sets the number of background runtime threads (name resolution,
/// housekeeping). Only effective before the first connect; returns false
/// afterwards. Default: the `COSOCKET_WORKERS` environment variable, else 1.
#[unsafe(no_mangle)]
pub extern "C" fn cosocket_set_workers(n: u32) -> bool {
    guard_or(false, || crate::runtime::set_workers(n as usize))
}
