//! ggml's f32 vector arithmetic around the matmuls (llama-cpp-python 0.3.36's
//! ggml, x86 build with AVX-512: 16 lanes), lane for lane: the dot products
//! and softmax of attention, f16 widening and rounding, SiLU. [`Soft`] is the
//! software form; `x86::vec` the AVX2 one and `x86::vec512` its dot products
//! on AVX-512, which give the same bits.
//!
//! `model::ggml` writes attention once over [`Lanes`] and runs it with
//! [`run`], which picks the lanes from the one CPU detection ([`Isa`]): SIMD
//! unless the CPU lacks AVX2, FMA and F16C or `ABRIDGE_KERNELS=scalar`.

use super::f16::{f16_to_f32, round_f16};
use super::Isa;

/// Lanes of ggml's f32 vectors with AVX-512.
pub const LANES: usize = 16;

/// _mm512_reduce_add_ps, as GCC expands it.
pub fn reduce(a: &[f32; LANES]) -> f32 {
    let mut h = [0f32; 8];
    for i in 0..8 {
        h[i] = a[i + 8] + a[i];
    }
    let q = [h[4] + h[0], h[5] + h[1], h[6] + h[2], h[7] + h[3]];
    (q[0] + q[2]) + (q[1] + q[3])
}

/// ggml's vector arithmetic, in software ([`Soft`]) or with SIMD
/// (`x86::vec`): both give the same bits, lane for lane. Attention's
/// operands are f16 values widened to f32 (exactly) once per call.
pub trait Lanes {
    /// Dot product of f16 values held in f32 in the order llama.cpp sums
    /// it: its sgemm (several query rows: one accumulator per lane over
    /// 16-value chunks) or ggml_vec_dot_f16 (one query row: four
    /// accumulators over 64-value chunks, the rest in f64).
    fn dot(batched: bool, a: &[f32], b: &[f32]) -> f32;
    /// `out[i] = dot(batched, rows[i * stride..][..n], b[..n]) * scale` for
    /// each i: a query row against many keys, or probabilities against many
    /// rows of values.
    fn dots(
        batched: bool,
        rows: &[f32],
        (stride, n): (usize, usize),
        b: &[f32],
        scale: f32,
        out: &mut [f32],
    ) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = Self::dot(batched, &rows[i * stride..i * stride + n], &b[..n]) * scale;
        }
    }
    /// `x[l] <- expf(x[l] - max)` for the lanes in `visible`, 0 elsewhere,
    /// over a 16-value chunk; returns its [`reduce`].
    fn softmax_chunk(x: &mut [f32; LANES], max: f32, visible: std::ops::Range<usize>) -> f32;
    /// `out[i] = f16_to_f32(h[i])`.
    fn widen(h: &[u16], out: &mut [f32]);
    /// Each value rounded to the nearest f16 (ties to even), as F16C does.
    fn round_f16_all(xs: &mut [f32]);
    /// `gate[i] <- gate[i] / (1 + expf(-gate[i])) * up[i]`: ggml's SiLU
    /// times `up` on whole vectors (`gate.len()` a multiple of [`LANES`]).
    fn silu_mul(gate: &mut [f32], up: &[f32]);
}

/// The software lanes: the reference the SIMD forms are tested against.
pub struct Soft;

impl Lanes for Soft {
    fn dot(batched: bool, a: &[f32], b: &[f32]) -> f32 {
        if batched && a.len().is_multiple_of(LANES) {
            let mut acc = [0f32; LANES];
            fma_lanes(a, b, &mut acc);
            return reduce(&acc);
        }
        // acc[j * LANES + l] is accumulator j's lane l
        let mut acc = [0f32; 4 * LANES];
        fma_lanes(a, b, &mut acc);
        let mut s = [0f32; LANES];
        for l in 0..LANES {
            s[l] = (acc[l] + acc[2 * LANES + l]) + (acc[LANES + l] + acc[3 * LANES + l]);
        }
        let whole = a.len() / (4 * LANES) * (4 * LANES);
        tail(reduce(&s), &a[whole..], &b[whole..])
    }

    fn softmax_chunk(x: &mut [f32; LANES], max: f32, visible: std::ops::Range<usize>) -> f32 {
        for (l, x) in x.iter_mut().enumerate() {
            *x = if visible.contains(&l) {
                expf(*x - max)
            } else {
                0.0
            };
        }
        reduce(x)
    }

    fn widen(h: &[u16], out: &mut [f32]) {
        for (o, h) in out.iter_mut().zip(h) {
            *o = f16_to_f32(*h);
        }
    }

    fn round_f16_all(xs: &mut [f32]) {
        xs.iter_mut().for_each(|x| *x = round_f16(*x));
    }

    fn silu_mul(gate: &mut [f32], up: &[f32]) {
        debug_assert!(gate.len().is_multiple_of(LANES));
        for (x, g) in gate.iter_mut().zip(up) {
            *x = *x / (1.0 + expf(0.0 - *x)) * g;
        }
    }
}

/// ggml_vec_dot_f16's leftovers past its whole chunks, added to `sum` in f64.
pub(super) fn tail(sum: f32, a: &[f32], b: &[f32]) -> f32 {
    let sum = a
        .iter()
        .zip(b)
        .fold(sum as f64, |sum, (a, b)| sum + (a * b) as f64);
    sum as f32
}

/// `acc[i] = fma(a[i], b[i], acc[i])` over each whole `W`-value chunk of
/// `a` and `b`: every lane on its own.
fn fma_lanes<const W: usize>(a: &[f32], b: &[f32], acc: &mut [f32; W]) {
    for (a, b) in a.chunks_exact(W).zip(b.chunks_exact(W)) {
        for l in 0..W {
            acc[l] = a[l].mul_add(b[l], acc[l]);
        }
    }
}

/// ggml_v_expf (AVX-512): exp from a degree-5 polynomial and a scaling by 2^n.
pub fn expf(x: f32) -> f32 {
    let c = f32::from_bits;
    let r = c(0x4b40_0000); // 1.5 * 2^23
    let n = x.mul_add(c(0x3fb8_aa3b), r) - r; // round(x / ln 2)
    if n.abs() > 192.0 {
        return if n <= 0.0 { 0.0 } else { f32::INFINITY };
    }
    let b = (-n).mul_add(c(0x35bf_be8e), (-n).mul_add(c(0x3f31_7200), x));
    let u = b * b;
    let j = c(0x3c07_2010)
        .mul_add(b, c(0x3d2b_9f17))
        .mul_add(u, c(0x3e2a_af33).mul_add(b, c(0x3eff_fedb)))
        .mul_add(u, c(0x3f7f_fff6).mul_add(b, 1.0));
    // _mm512_scalef_ps: one rounding; 2^n built exactly (|n| <= 192)
    let scale = f64::from_bits(((n as i64 + 1023) as u64) << 52);
    (j as f64 * scale) as f32
}

/// Work written once over [`Lanes`] (an attention row, ...), run by [`run`]
/// on the lanes this CPU has. For the SIMD lanes `run::<L>` is inlined into
/// a function with their target features, so implementations should be
/// `#[inline(always)]` all the way down to the [`Lanes`] calls.
pub trait OnLanes {
    type Output;
    fn run<L: Lanes>(self) -> Self::Output;
}

/// Runs `task` on the SIMD lanes where [`simd`] says so, else on [`Soft`]:
/// the same bits either way.
#[inline]
pub fn run<T: OnLanes>(task: T) -> T::Output {
    #[cfg(target_arch = "x86_64")]
    if simd() {
        // SAFETY: `detect` and `simd` say the CPU has the features.
        return unsafe {
            match Isa::detect() {
                Isa::Avx512Vnni | Isa::Amx => super::x86::vec512::run(task),
                _ => super::x86::vec::run(task),
            }
        };
    }
    task.run::<Soft>()
}

/// Whether [`run`] takes the SIMD lanes: the CPU has AVX2, FMA and F16C
/// (`Isa::Avx2`) and `ABRIDGE_KERNELS` does not cap the kernels at `scalar`.
pub fn simd() -> bool {
    Isa::detect() != Isa::Scalar
}

/// [`Lanes::silu_mul`] on the lanes [`run`] picks.
pub fn silu_mul(gate: &mut [f32], up: &[f32]) {
    struct SiluMul<'a>(&'a mut [f32], &'a [f32]);
    impl OnLanes for SiluMul<'_> {
        type Output = ();
        #[inline(always)]
        fn run<L: Lanes>(self) {
            L::silu_mul(self.0, self.1)
        }
    }
    run(SiluMul(gate, up))
}

/// Test inputs over a wide range (±10), as attention and the FFN see them:
/// a fixed xorshift sequence from `seed`.
#[cfg(test)]
pub(crate) fn test_values(n: usize, seed: u32) -> Vec<f32> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x % 20_001) as f32 / 1000.0 - 10.0
        })
        .collect()
}
