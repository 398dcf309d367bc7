//! Activation quantization, done once per activation row and matmul, exactly
//! as llama.cpp's CPU backend does it (x86 path) so our dot products see the
//! same integers as its `ggml_vec_dot_*`.

use super::f16::round_f16;

pub const QK: usize = 32;
pub const QK_K: usize = 256;

/// A 32-element activation block: ggml's `block_q8_0` and `block_q8_1` in one,
/// with scales widened to f32 up front (they are read once per weight row).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct BlockQ8 {
    /// The f16-rounded scale, as `block_q8_0.d` / `block_q8_1.d` hold it.
    pub d: f32,
    /// `block_q8_1.s`: f16(d_unrounded * sum(qs)), for Q4_1/Q5_1 weights.
    pub s: f32,
    /// `sum(qs)`, which `s` is made from.
    pub sum: i32,
    pub qs: [i8; QK],
}

/// ggml's `block_q8_K`: the activation side of every K-quant dot product.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct BlockQ8K {
    pub d: f32,
    pub qs: [i8; QK_K],
    /// Sums of each 16 consecutive `qs`, for the K-quant minimum terms.
    pub bsums: [i16; QK_K / 16],
}

const ZERO_Q8: BlockQ8 = BlockQ8 {
    d: 0.0,
    s: 0.0,
    sum: 0,
    qs: [0; QK],
};
const ZERO_Q8K: BlockQ8K = BlockQ8K {
    d: 0.0,
    qs: [0; QK_K],
    bsums: [0; QK_K / 16],
};

/// `quantize_row_q8_0`/`q8_1` (AVX2 flavour: id = 127/amax, ties to even).
pub fn quantize_q8(x: &[f32], out: &mut [BlockQ8]) {
    debug_assert_eq!(x.len(), out.len() * QK);
    for (xb, b) in x.chunks_exact(QK).zip(out.iter_mut()) {
        let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let mut sum = 0i32;
        for (q, &v) in b.qs.iter_mut().zip(xb) {
            *q = (v * id).round_ties_even() as i8;
            sum += *q as i32;
        }
        b.d = round_f16(d);
        b.s = round_f16(d * sum as f32);
        b.sum = sum;
    }
}

/// `quantize_row_q8_K_ref`: the largest-magnitude value maps to -127.
pub fn quantize_q8k(x: &[f32], out: &mut [BlockQ8K]) {
    debug_assert_eq!(x.len(), out.len() * QK_K);
    for (xb, b) in x.chunks_exact(QK_K).zip(out.iter_mut()) {
        let (mut amax, mut max) = (0f32, 0f32);
        for &v in xb {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        if amax == 0.0 {
            *b = ZERO_Q8K;
            continue;
        }
        let iscale = -127.0 / max;
        for (q, &v) in b.qs.iter_mut().zip(xb) {
            *q = (iscale * v).round_ties_even().min(127.0) as i8;
        }
        for (s, q) in b.bsums.iter_mut().zip(b.qs.chunks_exact(16)) {
            *s = q.iter().map(|&v| v as i16).sum();
        }
        b.d = 1.0 / iscale;
    }
}

/// Quantizes `m` rows of `k` activations, one block row per activation row;
/// large batches in parallel (rows are independent).
pub fn quantize_rows<B: Copy + Send + Sync>(
    x: &[f32],
    k: usize,
    block: usize,
    zero: B,
    quantize: fn(&[f32], &mut [B]),
) -> Vec<B> {
    use rayon::prelude::*;
    let nb = k / block;
    let m = x.len() / k;
    let mut out = vec![zero; m * nb];
    if m >= 8 {
        out.par_chunks_mut(nb)
            .zip(x.par_chunks(k))
            .for_each(|(o, xr)| quantize(xr, o));
    } else {
        out.chunks_mut(nb)
            .zip(x.chunks(k))
            .for_each(|(o, xr)| quantize(xr, o));
    }
    out
}

/// With `quantize` = `quantize_q8` or an identical SIMD version.
pub fn quantize_rows_q8(x: &[f32], k: usize, quantize: fn(&[f32], &mut [BlockQ8])) -> Vec<BlockQ8> {
    quantize_rows(x, k, QK, ZERO_Q8, quantize)
}

/// With `quantize` = `quantize_q8k` or an identical SIMD version.
pub fn quantize_rows_q8k(
    x: &[f32],
    k: usize,
    quantize: fn(&[f32], &mut [BlockQ8K]),
) -> Vec<BlockQ8K> {
    quantize_rows(x, k, QK_K, ZERO_Q8K, quantize)
}
