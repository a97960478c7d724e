//! Hashing. FNV-1a 64: a hash that stays the same across runs, platforms and Rust versions, for
//! values that are persisted (cursor line hashes, incident fingerprints); std's hashers promise no
//! such thing. [`FastMap`]: the per-line maps (endpoints, clients), with foldhash, several times
//! cheaper than std's SipHash and still seeded per map, so client-chosen keys cannot force collisions
//! offline.

/// A `HashMap` for hot per-line lookups.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// A `HashSet` for hot per-line lookups.
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// An FNV-1a 64 hasher; feed bytes with [`Fnv1a::write`].
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub fn finish(self) -> u64 {
        self.0
    }
}

/// FNV-1a 64 of `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = Fnv1a::default();
    h.write(bytes);
    h.finish()
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_values() {
        assert_eq!(super::fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(super::fnv1a(b"a"), 0xaf63dc4c8601ec8c);
    }
}
