//! Handle registries: C sees opaque pointers; every call looks the pointer up
//! here, so a freed, foreign or mistyped handle is an error, not a crash.
//!
//! A handle is not the object's address but a number from one process-wide
//! counter, never reused: once freed, a handle stays invalid even when a new
//! object lands on the same memory (a stale double free cannot release the
//! new object), and handles of different types never collide.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use crate::fxhash::FxHasher;

/// Next handle number. Handles are `BASE + n * 16`: aligned, never NULL, far
/// from small integers a caller might pass by mistake, and (on 64-bit) below
/// 2^47 like any user-space pointer.
static NEXT_HANDLE: AtomicUsize = AtomicUsize::new(1);
const BASE: usize = if usize::BITS == 64 {
    0x7c05_0000_0000_u64 as usize
} else {
    0x4000_0000
};

type Map<T> = HashMap<usize, Arc<T>, BuildHasherDefault<FxHasher>>;

pub struct Registry<T> {
    map: RwLock<Option<Map<T>>>,
}

impl<T> Registry<T> {
    pub const fn new() -> Self {
        Registry {
            map: RwLock::new(None),
        }
    }

    /// Registers `value`; the returned pointer is its handle.
    pub fn insert<H>(&self, value: Arc<T>) -> *mut H {
        let key = BASE.wrapping_add(NEXT_HANDLE.fetch_add(1, Ordering::Relaxed) << 4);
        let mut g = self.map.write().unwrap_or_else(|e| e.into_inner());
        g.get_or_insert_with(Map::default).insert(key, value);
        key as *mut H
    }

    /// The object behind a handle, if it is live.
    #[inline]
    pub fn get<H>(&self, h: *const H) -> Option<Arc<T>> {
        if h.is_null() {
            return None;
        }
        let g = self.map.read().unwrap_or_else(|e| e.into_inner());
        g.as_ref()?.get(&(h as usize)).cloned()
    }

    /// Unregisters a handle; the object lives on while calls still hold it.
    pub fn remove<H>(&self, h: *const H) -> Option<Arc<T>> {
        let mut g = self.map.write().unwrap_or_else(|e| e.into_inner());
        g.as_mut()?.remove(&(h as usize))
    }
}
