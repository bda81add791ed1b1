//! Deterministic random streams: each part of the demo draws from its own stream, derived from the
//! seed and a label, so output does not depend on the order parts are generated in.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// FNV-1a over the seed and label: a stable derivation, independent of Rust's hasher.
pub fn stream(seed: u64, label: &str) -> ChaCha8Rng {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.to_le_bytes().iter().chain(label.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    ChaCha8Rng::seed_from_u64(h)
}
