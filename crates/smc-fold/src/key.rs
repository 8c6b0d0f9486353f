//! Keyed 96-bit fingerprints of `delta_key` strings and keyed hashes of label
//! tuples.
//!
//! The fold never stores a `delta_key`: it stores 96 bits of
//! `xxh3-128(secret, key)` (see `Table` for the collision analysis). The
//! secret is 192 random bytes drawn once per process, so the fingerprints of a
//! given key differ between runs and nobody can precompute colliding keys.
//! (XXH3 is not a cryptographic hash; the secret defeats offline collision
//! search, which is what matters here: the keys are chosen by the SMC, not by
//! a party that can observe our fingerprints.)

use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;

use xxhash_rust::xxh3::{SecretInput, xxh3_64_with_seed, xxh3_128_with_secret_input};

/// Size of the XXH3 secret (the library's default secret size).
const SECRET_LEN: usize = 192;

struct Keys {
    secret: SecretInput<[u8; SECRET_LEN]>,
    label_seed: u64,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        // std's RandomState is seeded from the operating system's randomness
        // once per process; SipHash keyed with it is a PRF, so hashing a
        // counter yields unpredictable bytes without another dependency.
        let state = RandomState::new();
        let mut secret = [0u8; SECRET_LEN];
        for (i, chunk) in secret.chunks_mut(8).enumerate() {
            let word = state.hash_one(i as u64).to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Keys {
            // Cannot fail: SECRET_LEN (192) is above XXH3's minimum (136).
            secret: SecretInput::new(secret),
            label_seed: state.hash_one(u64::MAX),
        }
    })
}

/// The keyed fingerprint of one `delta_key`: the low 96 bits of its keyed
/// XXH3-128, stored as three `u32` words so that a table slot (fingerprint +
/// group id) is 16 bytes with 4-byte alignment (a `(u128, u32)` pair takes 32,
/// all 128 bits as `[u32; 4]` 20).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyHash([u32; 3]);

impl KeyHash {
    pub(crate) fn of(key: &str) -> Self {
        let h = xxh3_128_with_secret_input(key.as_bytes(), &keys().secret);
        KeyHash([h as u32, (h >> 32) as u32, (h >> 64) as u32])
    }

    /// 64 of the fingerprint's bits, used as the hash-table hash. They are
    /// already uniformly distributed, so no further mixing is needed.
    #[inline]
    pub(crate) fn table_hash(self) -> u64 {
        u64::from(self.0[0]) | (u64::from(self.0[1]) << 32)
    }
}

/// Keyed hash of a label tuple given slot by slot. Each slot is hashed on its
/// own (so `["ab", "c"]` and `["a", "bc"]` differ) and chained through the
/// seed, so the position of each value matters.
pub(crate) fn hash_labels<'a>(slots: impl Iterator<Item = &'a str>) -> u64 {
    slots.fold(keys().label_seed, |h, s| xxh3_64_with_seed(s.as_bytes(), h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable_within_a_process_and_distinct() {
        let a = KeyHash::of("AAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(a, KeyHash::of("AAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
        assert_ne!(a, KeyHash::of("AAAAAAAAAAAAAAAAAAAAAAAAAAAB"));
        assert_ne!(KeyHash::of(""), KeyHash::of(" "));
    }

    #[test]
    fn secret_is_not_the_default() {
        // With the library's default secret and seed 0 the fingerprint would
        // be this value; a random secret makes it differ.
        let k = "some-delta-key";
        let default = xxhash_rust::xxh3::xxh3_128(k.as_bytes());
        let h = KeyHash::of(k).0;
        let ours = u128::from(h[0]) | (u128::from(h[1]) << 32) | (u128::from(h[2]) << 64);
        assert_ne!(ours, default & ((1 << 96) - 1));
    }

    #[test]
    fn label_hash_respects_boundaries_and_order() {
        let h = |v: &[&str]| hash_labels(v.iter().copied());
        assert_ne!(h(&["ab", "c"]), h(&["a", "bc"]));
        assert_ne!(h(&["a", "b"]), h(&["b", "a"]));
        assert_ne!(h(&["", "a"]), h(&["a", ""]));
        let stored: [std::sync::Arc<str>; 2] = ["x".into(), "y".into()];
        assert_eq!(h(&["x", "y"]), hash_labels(stored.iter().map(|s| &**s)));
    }
}
