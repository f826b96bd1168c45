//! `Xorshift`: the library's unit tests' one source of pseudo-randomness, a seeded xorshift64
//! stream. Compiled for tests only; the simulator's randomness is `sim`'s seeded ChaCha streams.

/// A xorshift64 stream from a nonzero seed.
pub(crate) struct Xorshift(pub(crate) u64);

impl Xorshift {
    /// The next state of the stream.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// The next state, reduced below `bound`.
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}
