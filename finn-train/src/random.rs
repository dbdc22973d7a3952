//! SplitMix64 (Steele, Lea, Flood 2014): a tiny deterministic stream, the same on every
//! platform, for initial parameters and sampled data.

/// A SplitMix64 stream.
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    /// The stream whose state starts at `state`.
    pub(crate) fn new(state: u64) -> Self {
        SplitMix64(state)
    }

    /// The next value, uniform in [0, 1) with 53 random bits.
    pub(crate) fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}
