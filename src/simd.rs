//! The one module that names SIMD types.
//!
//! Every kernel works on [`F32s`] and [`U32s`] vectors of [`LANES`] elements.
//! `wide` picks the machine registers at compile time: one `zmm` register with
//! AVX-512F, two `ymm` with AVX2, four `xmm` with SSE2 or NEON, and plain arrays on
//! targets without SIMD (Cortex-M, RISC-V). The logical width stays 16 everywhere,
//! which is what makes a mask depend on the seed alone and not on the target: the
//! 16 lanes of [`U32s`] are the 16 random streams of [`crate::MaskRng`].

/// Vector of [`LANES`] `f32`.
pub type F32s = wide::f32x16;
/// Vector of [`LANES`] `u32`.
pub type U32s = wide::u32x16;

/// Whether `wide` maps vectors to SIMD registers on this target (SSE2, NEON,
/// WASM SIMD). Where it does not (Cortex-M, RISC-V), vectors are arrays and the
/// dense kernels take a scalar path instead (see `kernels::gemm_scalar`).
pub const HAS_SIMD: bool = cfg!(any(
    target_feature = "sse2",
    target_feature = "neon",
    target_feature = "simd128"
));

/// Elements per vector; also the number of random streams (see [`crate::STREAMS`]).
pub const LANES: usize = 16;

/// Loads [`LANES`] floats from the start of `src` (which must hold at least that many).
#[inline(always)]
pub(crate) fn load_f32s(src: &[f32]) -> F32s {
    let mut lanes = [0.0f32; LANES];
    lanes.copy_from_slice(&src[..LANES]);
    F32s::new(lanes)
}

/// Stores a vector into the first [`LANES`] floats of `dst`.
#[inline(always)]
pub(crate) fn store_f32s(dst: &mut [f32], v: F32s) {
    dst[..LANES].copy_from_slice(v.as_array());
}

/// Stores the first `n <= LANES` lanes into `dst`: one vector store when all
/// of them go, else pieces of 8, 4, 2 and 1 lanes, each a fixed-size move
/// (a `memcpy` call of a run-time length, once per row of a 14- or 28-wide
/// convolution output, took 8% of the CNN's training step).
#[inline(always)]
pub(crate) fn store_lanes(dst: &mut [f32], v: F32s, n: usize) {
    if n == LANES {
        store_f32s(dst, v);
        return;
    }
    let lanes = v.as_array();
    let mut at = 0;
    for piece in [8, 4, 2, 1] {
        if n & piece != 0 {
            match piece {
                8 => dst[at..at + 8].copy_from_slice(&lanes[at..at + 8]),
                4 => dst[at..at + 4].copy_from_slice(&lanes[at..at + 4]),
                2 => dst[at..at + 2].copy_from_slice(&lanes[at..at + 2]),
                _ => dst[at] = lanes[at],
            }
            at += piece;
        }
    }
}

/// Stores `v` at `dst[at..]`: the whole vector where `dst` has room for it
/// (the caller overwrites the lanes past `valid` later), else only the first
/// `valid` lanes. Storing a part goes through the stack, and reading it back
/// in pieces stalls store forwarding, so the whole store is the fast path.
#[inline(always)]
pub(crate) fn store_whole_or_lanes(dst: &mut [f32], at: usize, v: F32s, valid: usize) {
    match dst.get_mut(at..at + LANES) {
        Some(whole) => store_f32s(whole, v),
        None => store_lanes(&mut dst[at..], v, valid.min(LANES)),
    }
}

/// Lane-wise square root, correctly rounded everywhere: the hardware instruction
/// where `wide` has SIMD, libm's `sqrtf` per lane elsewhere (wide's own
/// fallback goes through a slow software `f64` routine).
#[inline(always)]
pub(crate) fn sqrt(v: F32s) -> F32s {
    #[cfg(any(
        target_feature = "sse",
        target_feature = "neon",
        target_feature = "simd128"
    ))]
    {
        v.sqrt()
    }
    #[cfg(not(any(
        target_feature = "sse",
        target_feature = "neon",
        target_feature = "simd128"
    )))]
    {
        F32s::new(v.to_array().map(libm::sqrtf))
    }
}

/// Reinterprets the bits of a float vector as integers.
#[inline(always)]
pub(crate) fn bits_of(v: F32s) -> U32s {
    wide::bytemuck::cast(v)
}

/// Reinterprets the bits of an integer vector as floats.
#[inline(always)]
pub(crate) fn f32s_from_bits(v: U32s) -> F32s {
    wide::bytemuck::cast(v)
}

/// GEMM register tile: rows of the output computed at once.
///
/// With AVX-512 a [`F32s`] is one of 32 `zmm` registers, so an 8 x 2-vector tile
/// (16 accumulators) fits with room for the operands (8 x 1 on Zen 4: see
/// [`GEMM_NV`]). Narrower targets split each
/// [`F32s`] into 2 or 4 registers (or none), so their tile is one vector wide and
/// as tall as their registers allow: 6 rows with AVX (12 of the 16 `ymm`, the
/// shape BLIS uses on Haswell), 2 with SSE2 only (8 of the 16 `xmm`; 4 rows
/// took all 16 for accumulators and ran slower), 4 elsewhere (NEON has 32
/// registers).
#[cfg(target_feature = "avx512f")]
pub const GEMM_MR: usize = 8;
/// GEMM register tile: output columns computed at once, in vectors.
///
/// Two where 512-bit multiply-adds run at full width (Intel, Zen 5). One on
/// AMD Zen 4, which runs each 512-bit operation as two 256-bit halves: there
/// the 8 x 1 tile was as fast or faster at every shape measured, 17-30% on the
/// weight gradients of small batches ((32, 256, 256): 66 -> 55 us), twice as
/// fast on a 10-output layer, 2% slower at 1024^3. Zen 4 is
/// told apart at compile time as AVX-512 with BF16 but without AVX-VNNI, which
/// Zen 5 and Intel's BF16 parts (Sapphire Rapids on) have; Cooper Lake, the one
/// other such part, gets the narrow tile too. The tile changes no sum's order,
/// so every AVX-512 machine computes the same bits.
#[cfg(target_feature = "avx512f")]
pub const GEMM_NV: usize = if ZEN4 { 1 } else { 2 };
/// AVX-512 with BF16 and without AVX-VNNI: AMD Zen 4 (see [`GEMM_NV`]).
#[cfg(target_feature = "avx512f")]
const ZEN4: bool = cfg!(all(
    target_feature = "avx512bf16",
    not(target_feature = "avxvnni")
));

/// GEMM register tile: rows of the output computed at once.
#[cfg(not(target_feature = "avx512f"))]
pub const GEMM_MR: usize = if cfg!(target_feature = "avx") {
    6
} else if cfg!(target_feature = "sse2") {
    2
} else {
    4
};
/// GEMM register tile: output columns computed at once, in vectors.
#[cfg(not(target_feature = "avx512f"))]
pub const GEMM_NV: usize = 1;
/// GEMM depth block: rows of the packed panel (`GEMM_KC * GEMM_NV * LANES`
/// floats: 16 KiB, 32 KiB with AVX-512 off Zen 4), which stays in the L1 data
/// cache of every core with SSE2, NEON or WASM SIMD (32 KiB or more). The same
/// on every target, because each depth block's sum is added to the last: with
/// 128 rows on NEON, a 300-input layer summed 128 + 128 + 44 there and 256 + 44
/// on x86, and the two trained to different bits (`tests/cross_target.rs`).
pub const GEMM_KC: usize = 256;

/// Transposes a 16 x 16 block: `out[c].lane(r) = rows[r].lane(c)`.
///
/// Four stages, each swapping one bit of the row index with the same bit of the
/// column index by two-source shuffles (`vpermt2ps` with AVX-512); wide's own
/// `transpose` is lane by lane.
#[inline(always)]
pub(crate) fn transpose16(rows: [F32s; LANES]) -> [F32s; LANES] {
    if !SHUFFLES_IN_REGISTERS {
        return gather_lanes(rows, |c, r| (r, c));
    }
    let mut m = rows;
    swap_index_bit::<8, LANES>(&mut m);
    swap_index_bit::<4, LANES>(&mut m);
    swap_index_bit::<2, LANES>(&mut m);
    swap_index_bit::<1, LANES>(&mut m);
    m
}

/// Transposes 8 rows of 16 lanes by halves: lane `r` of `out[s]` is lane `s`
/// of `rows[r]`, and lane `8 + r` is lane `s + 8`. Three of
/// [`transpose16`]'s stages (the row index has no bit 8), 24 shuffles.
#[inline(always)]
pub(crate) fn transpose8_halves(rows: [F32s; 8]) -> [F32s; 8] {
    if !SHUFFLES_IN_REGISTERS {
        return gather_lanes(rows, |s, l| (l % 8, s + 8 * (l / 8)));
    }
    let mut m = rows;
    swap_index_bit::<4, 8>(&mut m);
    swap_index_bit::<2, 8>(&mut m);
    swap_index_bit::<1, 8>(&mut m);
    m
}

/// Whether a 16-lane two-source shuffle is one instruction (AVX-512). With
/// narrower vectors `wide` builds it lane by lane through calls that are not
/// inlined (57% of an AVX2 batch-1 forward), so the transposes and the
/// reduction there go through memory instead, element by element.
const SHUFFLES_IN_REGISTERS: bool = cfg!(target_feature = "avx512f");

/// `[a, b].shuffle(indices)`: lane `l` is lane `indices[l]` of `a` (below 16)
/// or of `b` (16 to 31; higher bits ignored, as AVX-512 does). Without
/// AVX-512, element by element through an array (see
/// [`SHUFFLES_IN_REGISTERS`]).
#[inline(always)]
pub(crate) fn shuffle_pair(pair: [F32s; 2], indices: U32s) -> F32s {
    use wide::ShuffleExt;
    if SHUFFLES_IN_REGISTERS {
        return pair.shuffle(indices);
    }
    let (a, b) = (pair[0].to_array(), pair[1].to_array());
    let indices = indices.to_array();
    F32s::new(core::array::from_fn(|l| {
        let i = indices[l] as usize & (2 * LANES - 1);
        if i < LANES {
            a[i]
        } else {
            b[i - LANES]
        }
    }))
}

/// The transposes element by element, for targets without 16-lane
/// shuffles: lane `l` of `out[v]` is lane `j` of `rows[i]`, `(i, j) = from(v, l)`.
#[inline(always)]
fn gather_lanes<const N: usize, const M: usize>(
    rows: [F32s; N],
    from: impl Fn(usize, usize) -> (usize, usize),
) -> [F32s; M] {
    let lanes = rows.map(|r| r.to_array());
    core::array::from_fn(|v| {
        F32s::new(core::array::from_fn(|l| {
            let (i, j) = from(v, l);
            lanes[i][j]
        }))
    })
}

/// One transposition stage: swaps bit `BIT` of the vector index with the same
/// bit of the lane index, a pair of two-source shuffles per vector pair.
#[inline(always)]
fn swap_index_bit<const BIT: usize, const N: usize>(m: &mut [F32s; N]) {
    const fn indices(bit: usize, high: bool) -> [u32; LANES] {
        let mut idx = [0u32; LANES];
        let mut c = 0;
        while c < LANES {
            let set = c & bit != 0;
            idx[c] = match (high, set) {
                (false, false) => c as u32,
                (false, true) => (LANES + (c ^ bit)) as u32,
                (true, false) => (c ^ bit) as u32,
                (true, true) => (LANES + c) as u32,
            };
            c += 1;
        }
        idx
    }
    let lo = U32s::new(const { indices(BIT, false) });
    let hi = U32s::new(const { indices(BIT, true) });
    for r in 0..N {
        if r & BIT == 0 {
            let (a, b) = (m[r], m[r | BIT]);
            m[r] = shuffle_pair([a, b], lo);
            m[r | BIT] = shuffle_pair([a, b], hi);
        }
    }
}

/// Sums each of 16 vectors: lane `c` of the result is the sum of the lanes of
/// `acc[bit_reverse4(c)]` (so store output `o` in `acc[bit_reverse4(o)]` to get
/// it back in lane `o`). Four stages of shuffle, blend and add, 45 operations in all.
#[inline(always)]
pub(crate) fn reduce16(acc: [F32s; LANES]) -> F32s {
    if !SHUFFLES_IN_REGISTERS {
        // Each vector summed on its own (wide adds the halves, then within one).
        return F32s::new(core::array::from_fn(|c| acc[bit_reverse4(c)].reduce_add()));
    }
    /// Lane `c` takes lane `c ^ bit` of the pair's second vector where bit
    /// `bit` of `c` is set, of the first elsewhere.
    const fn indices(bit: usize) -> [u32; LANES] {
        let mut idx = [0u32; LANES];
        let mut c = 0;
        while c < LANES {
            let from_b = c & bit != 0;
            let lane = c ^ bit;
            idx[c] = if from_b {
                (LANES + lane) as u32
            } else {
                lane as u32
            };
            c += 1;
        }
        idx
    }
    const fn from_b(bit: usize) -> [f32; LANES] {
        let mut lanes = [0.0f32; LANES];
        let mut c = 0;
        while c < LANES {
            if c & bit != 0 {
                lanes[c] = 1.0;
            }
            c += 1;
        }
        lanes
    }
    // The lanes that stay in place are a blend (not a shuffle): on Intel,
    // shuffles of 512-bit vectors share port 5 with one of the FMA units,
    // while a blend may run on either port.
    macro_rules! stage {
        ($bit:expr, $v:expr, $n:expr) => {{
            let own = F32s::new(const { from_b($bit) }).simd_gt(F32s::ZERO);
            let partner = U32s::new(const { indices($bit) });
            let v = $v;
            let out: [F32s; $n] = core::array::from_fn(|p| {
                let pair = [v[2 * p], v[2 * p + 1]];
                own.select(pair[1], pair[0]) + shuffle_pair(pair, partner)
            });
            out
        }};
    }
    let s8 = stage!(8, acc, 8);
    let s4 = stage!(4, s8, 4);
    let s2 = stage!(2, s4, 2);
    let s1 = stage!(1, s2, 1);
    s1[0]
}

/// Reverses the 4 low bits of `i` (the lane order of [`reduce16`]).
#[inline(always)]
pub(crate) const fn bit_reverse4(i: usize) -> usize {
    ((i & 1) << 3) | ((i & 2) << 1) | ((i & 4) >> 1) | ((i & 8) >> 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose16_transposes() {
        let rows: [F32s; LANES] =
            core::array::from_fn(|r| F32s::new(core::array::from_fn(|c| (r * 100 + c) as f32)));
        let t = transpose16(rows);
        for (c, col) in t.iter().enumerate() {
            for (r, &v) in col.as_array().iter().enumerate() {
                assert_eq!(v, (r * 100 + c) as f32);
            }
        }
    }

    #[test]
    fn transpose8_halves_puts_two_columns_in_each_vector() {
        let rows: [F32s; 8] =
            core::array::from_fn(|r| F32s::new(core::array::from_fn(|c| (r * 100 + c) as f32)));
        let t = transpose8_halves(rows);
        for (s, v) in t.iter().enumerate() {
            for (lane, &x) in v.as_array().iter().enumerate() {
                let (r, c) = (lane % 8, s + 8 * (lane / 8));
                assert_eq!(x, (r * 100 + c) as f32, "vector {s} lane {lane}");
            }
        }
    }

    #[test]
    fn reduce16_sums_each_vector_in_bit_reversed_slots() {
        let acc: [F32s; LANES] = core::array::from_fn(|a| {
            F32s::new(core::array::from_fn(|l| {
                (bit_reverse4(a) * 1000 + l) as f32
            }))
        });
        let sums = reduce16(acc);
        for (o, &s) in sums.as_array().iter().enumerate() {
            assert_eq!(s, (o * 1000 * 16 + 120) as f32, "output {o}");
        }
    }
}
