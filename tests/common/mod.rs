//! Shared helpers for the integration tests (`mod common;`).
#![allow(dead_code)]

pub mod peer;
pub mod tcp;
