//! Handle registries: C sees opaque pointers; every call looks the pointer up
//! here, so a freed, foreign or mistyped handle is an error, not a crash.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, RwLock};

/// Pointers are unique and aligned: a multiply is a good enough hash.
#[derive(Default)]
pub struct PtrHasher(u64);

impl Hasher for PtrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64 >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type Map<T> = HashMap<usize, Arc<T>, BuildHasherDefault<PtrHasher>>;

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
        let key = Arc::as_ptr(&value) as usize;
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
