//! Randomness for the fault tests (hostile and live-scribbled regions).

/// splitmix64: a small, fast, seedable generator, so a failing case can be replayed from its
/// seed (the tests print it).
pub struct Rng(u64);

impl Rng {
    /// Stream `stream` of seed `seed` (several independent streams per seed).
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut r = Rng(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F));
        r.next();
        r
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    pub fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
    /// A value likely to hit an edge: near `good`, a power of two, or extreme.
    pub fn interesting(&mut self, good: u64) -> u64 {
        match self.below(12) {
            0 => self.next(),
            1 => 0,
            2 => 1,
            3 => u64::MAX,
            4 => u64::MAX - self.below(4),
            5 => 1 << self.below(64),
            6 => good ^ (1 << self.below(64)),
            7 => good.wrapping_add(self.below(5)).wrapping_sub(2),
            8 => good.wrapping_mul(2),
            9 => u32::MAX as u64 + self.below(3),
            10 => 1 << 31 | self.below(1 << 16),
            _ => good.wrapping_add(self.below(1 << 20)),
        }
    }
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}
