//! cosocket: OpenResty's cosocket TCP API for plain LuaJIT and C.
//!
//! Rooms: [`runtime`] (the background tokio runtime), [`receive`] (pure
//! receive-pattern engines), [`tcp`] (the socket), [`tls`] (its TLS layer),
//! [`event_loop`] (the completion queue and reactor of asynchronous calls),
//! [`pool`] (keepalive connection pools) and `ffi` (the C ABI, the only place
//! that knows of C).

pub mod codec;
pub mod error;
pub mod event_loop;
pub mod ffi;
mod fxhash;
pub mod pool;
pub mod receive;
pub mod runtime;
pub mod tcp;
pub mod tls;
pub mod udp;
