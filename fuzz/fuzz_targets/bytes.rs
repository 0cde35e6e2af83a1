//! The byte decoder the hand-written fuzz targets share: values taken from
//! the front of the input, zeros once it runs out. Each target adds its own
//! ranges (sizes, parameters) in a small trait over `Bytes`.

/// The fuzzer's input, read front to back.
pub struct Bytes<'a>(pub &'a [u8]);

#[allow(dead_code)] // each target uses some of these
impl Bytes<'_> {
    /// The next byte (0 past the end).
    pub fn u8(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }

    /// The next four bytes, little-endian.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// Any `f32`, NaNs and infinities included.
    pub fn f32(&mut self) -> f32 {
        f32::from_bits(self.u32())
    }

    /// Mostly `small(byte)`; a zero byte gives `huge.0` and a one `huge.1`:
    /// sizes that overflow or exhaust memory, now and then.
    pub fn pick_size(&mut self, huge: (usize, usize), small: impl FnOnce(u8) -> usize) -> usize {
        match self.u8() {
            0 => huge.0,
            1 => huge.1,
            b => small(b),
        }
    }

    /// A length near `n`: one less or one more (1 in 8 each), else `usual`.
    pub fn near(&mut self, n: usize, usual: usize) -> usize {
        match self.u8() % 8 {
            0 => n.saturating_sub(1),
            1 => n.saturating_add(1),
            _ => usual,
        }
    }

    /// Any bits one time in four, else `ordinary(k)` for `k` in 1..=3.
    pub fn mostly(&mut self, ordinary: impl FnOnce(u8) -> f32) -> f32 {
        match self.u8() % 4 {
            0 => self.f32(),
            k => ordinary(k),
        }
    }
}
