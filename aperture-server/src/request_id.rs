//! Request ids: `req_<ULID>` (48-bit millisecond time, 80 random bits, Crockford base32).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A request id, also sent to the client as `x-aperture-request-id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl RequestId {
    /// A new id. The random part comes from a per-process random key (seeded by the OS through
    /// `RandomState`) hashed with a counter: unique within the process and unpredictable.
    pub fn new() -> Self {
        static KEY: OnceLock<RandomState> = OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let key = KEY.get_or_init(RandomState::new);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut h1 = key.build_hasher();
        h1.write_u64(n);
        let mut h2 = key.build_hasher();
        h2.write_u64(!n);
        let random = (u128::from(h1.finish()) << 16) ^ u128::from(h2.finish() & 0xFFFF);
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let value = ((millis & 0xFFFF_FFFF_FFFF) << 80) | (random & ((1u128 << 80) - 1));
        let mut out = String::with_capacity(30);
        out.push_str("req_");
        for i in (0..26).rev() {
            out.push(ALPHABET[((value >> (i * 5)) & 31) as usize] as char);
        }
        Self(out)
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_ulids_and_unique() {
        let a = RequestId::new().0;
        let b = RequestId::new().0;
        assert_ne!(a, b);
        assert_eq!(a.len(), 30);
        assert!(a.starts_with("req_"));
        assert!(a[4..].bytes().all(|c| ALPHABET.contains(&c)));
        // The time prefix sorts: ids made later never sort before.
        assert!(a[4..14] <= b[4..14]);
    }
}
