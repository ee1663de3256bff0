//! One fast, non-cryptographic hasher for the library's internal maps:
//! FxHash (rustc's): rotate, xor, multiply per 8-byte word.
//!
//! It is not HashDoS-resistant, and need not be: every key hashed with it
//! comes from this process, never from the network: pool names (the
//! program's own connect arguments), loop source ids and C handles (counters
//! of ours).

use std::hash::Hasher;

const K: u64 = 0x517c_c1b7_2722_0a95;

#[inline]
fn add(h: u64, w: u64) -> u64 {
    (h.rotate_left(5) ^ w).wrapping_mul(K)
}

/// FxHash of a byte string (the length included, so that names differing
/// only by trailing NULs differ).
pub fn fx_hash(bytes: &[u8]) -> u64 {
    let mut h = 0u64;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        h = add(h, u64::from_le_bytes(b));
    }
    for &b in words.remainder() {
        h = add(h, u64::from(b));
    }
    add(h, bytes.len() as u64)
}

/// `Hasher` for maps keyed by integers or pre-hashed keys.
#[derive(Default)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    /// Rotated so that the low bits, which pick the bucket, also depend on
    /// the high bits of the product: keys that are multiples of 16 (C
    /// handles) would otherwise all land in every 16th bucket.
    #[inline]
    fn finish(&self) -> u64 {
        self.0.rotate_left(26)
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = add(self.0, fx_hash(bytes));
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = add(self.0, n);
    }
    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.0 = add(self.0, n as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::hash::{BuildHasher, BuildHasherDefault};

    #[test]
    fn aligned_keys_spread_over_low_bits() {
        // 1024 handles 16 apart: their hashes' low 10 bits (a 1024-bucket
        // table) must not collapse onto a few buckets.
        let b = BuildHasherDefault::<FxHasher>::default();
        let buckets: HashSet<u64> = (0..1024u64)
            .map(|i| b.hash_one(0x7c05_0000_0000u64 + (i << 4)) & 1023)
            .collect();
        assert!(buckets.len() > 512, "{} buckets used", buckets.len());
    }

    #[test]
    fn byte_strings_differ_by_length_and_content() {
        assert_ne!(fx_hash(b"a:1"), fx_hash(b"a:2"));
        assert_ne!(fx_hash(b"ab"), fx_hash(b"ab\0"));
        assert_eq!(fx_hash(b"127.0.0.1:6379"), fx_hash(b"127.0.0.1:6379"));
    }
}
