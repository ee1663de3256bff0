//! TLS for TCP cosockets (OpenResty's `sslhandshake`), on rustls.
//!
//! - [`config`]: the *ring* crypto provider, the system trust store (loaded
//!   once), trust stores and client certificates from PEM, one
//!   `ClientConfig` per handshake.
//! - [`verify`]: server certificate verification reporting OpenSSL's
//!   `"N: text"` strings and `"certificate host mismatch"`.
//! - [`session`]: session handles for resumption.
//! - [`stream`]: [`TlsConn`], the rustls connection driven over the socket's
//!   own fd with the socket core's recv/send contract (no tokio: the socket
//!   does its I/O on the caller's thread or the event loop's).
//!
//! The socket side (the handshake as an operation, busy states, the pool)
//! lives in `tcp/tls.rs`.

mod config;
mod session;
mod stream;
mod verify;

pub use config::{ClientCert, TrustedStore, parse_trusted_store};
pub use session::SslSession;
pub use stream::{Hs, TLS_ERRNO, TlsConn};
pub use verify::HOST_MISMATCH;

pub(crate) use config::{Settings, client_config};
pub(crate) use verify::{name_matches, take_failure};
