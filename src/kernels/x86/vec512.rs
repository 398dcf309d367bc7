//! ggml's f32 dot products (`kernels::vec::Lanes::dot` and `dots`) on AVX-512:
//! attention's query-key and probability-value dots, the prompt's largest cost
//! after the matmuls. ggml's 16 lanes are one register here (two halves on
//! AVX2), and `dots` takes four rows at a time in both orders, sharing the
//! loads of the other operand and the horizontal sums: in the one-row order
//! too, where AVX2 has too few registers for it (four accumulators per row).
//! The lanes and their sums are `vec::Soft`'s, so the
//! bits are the same; the rest of `Lanes` is AVX2's.

use std::arch::x86_64::*;

use super::vec::{reduce16, reduce16x4, simd_lanes};
use crate::kernels::vec::{self, OnLanes, LANES};

/// Runs `task` on [`Avx512`], inlined under its target features.
///
/// # Safety
/// The CPU has AVX2, FMA, F16C, AVX-512 F and VL.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl")]
pub unsafe fn run<T: OnLanes>(task: T) -> T::Output {
    task.run::<Avx512>()
}

/// [`Lanes`] with AVX-512 dot products. Its methods may only run where the
/// CPU has the features: it is used by [`run`] alone.
struct Avx512;

simd_lanes!(Avx512, dot, dots);

/// A register's two 256-bit halves, for the AVX2 reductions (ggml's order).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl")]
fn halves(v: __m512) -> (__m256, __m256) {
    (
        _mm512_castps512_ps256(v),
        _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v))),
    )
}

/// The one-row order's four accumulators of 16 lanes, summed as `Soft::dot`:
/// (0 + 2) + (1 + 3).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl")]
fn fold4(acc: [__m512; 4]) -> __m512 {
    _mm512_add_ps(_mm512_add_ps(acc[0], acc[2]), _mm512_add_ps(acc[1], acc[3]))
}

/// [`reduce16x4`] of four 16-lane registers.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl")]
fn reduce4(s: [__m512; 4]) -> __m128 {
    let (mut lo, mut hi) = ([_mm256_setzero_ps(); 4], [_mm256_setzero_ps(); 4]);
    for k in 0..4 {
        (lo[k], hi[k]) = halves(s[k]);
    }
    reduce16x4(lo, hi)
}

/// `Soft::dot`, lane for lane.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl")]
unsafe fn dot(batched: bool, a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let x = |i: usize| unsafe { _mm512_loadu_ps(a.as_ptr().add(i)) };
    let y = |i: usize| unsafe { _mm512_loadu_ps(b.as_ptr().add(i)) };
    if batched && n.is_multiple_of(LANES) {
        let mut acc = _mm512_setzero_ps();
        for i in (0..n).step_by(LANES) {
            acc = _mm512_fmadd_ps(x(i), y(i), acc);
        }
        let (lo, hi) = halves(acc);
        return reduce16(lo, hi);
    }
    let mut acc = [_mm512_setzero_ps(); 4];
    let whole = n / (4 * LANES) * (4 * LANES);
    for i in (0..whole).step_by(4 * LANES) {
        for (j, acc) in acc.iter_mut().enumerate() {
            *acc = _mm512_fmadd_ps(x(i + LANES * j), y(i + LANES * j), *acc);
        }
    }
    let (lo, hi) = halves(fold4(acc));
    vec::tail(reduce16(lo, hi), &a[whole..n], &b[whole..n])
}

/// `Soft::dots`, lane for lane, four rows at a time.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl")]
unsafe fn dots(
    batched: bool,
    rows: &[f32],
    (stride, n): (usize, usize),
    b: &[f32],
    scale: f32,
    out: &mut [f32],
) {
    let count = out.len();
    assert!(b.len() >= n && (count == 0 || rows.len() >= (count - 1) * stride + n));
    let scale4 = _mm_set1_ps(scale);
    let mut i = 0;
    while i + 4 <= count {
        let r: [*const f32; 4] = std::array::from_fn(|k| rows[(i + k) * stride..].as_ptr());
        let mut sums = [0f32; 4];
        if batched && n.is_multiple_of(LANES) {
            // SAFETY: rows i..i+4 hold n values each, b n (asserted); i + 4 <= count.
            unsafe {
                let s = _mm_mul_ps(dots4_batched(r, b.as_ptr(), n), scale4);
                _mm_storeu_ps(out.as_mut_ptr().add(i), s);
            }
        } else {
            let whole = n / (4 * LANES) * (4 * LANES);
            // SAFETY: as above.
            unsafe { _mm_storeu_ps(sums.as_mut_ptr(), dots4(r, b.as_ptr(), whole)) };
            for (k, sum) in sums.into_iter().enumerate() {
                let row = &rows[(i + k) * stride..(i + k) * stride + n];
                out[i + k] = vec::tail(sum, &row[whole..], &b[whole..n]) * scale;
            }
        }
        i += 4;
    }
    for (k, o) in out.iter_mut().enumerate().skip(i) {
        // SAFETY: the features are enabled here.
        *o = unsafe { dot(batched, &rows[k * stride..k * stride + n], &b[..n]) } * scale;
    }
}

/// Four batched-order dots of `n` (a multiple of 16) values of rows `r`
/// with `b`: one accumulator each.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl")]
unsafe fn dots4_batched(r: [*const f32; 4], b: *const f32, n: usize) -> __m128 {
    let mut acc = [_mm512_setzero_ps(); 4];
    for i in (0..n).step_by(LANES) {
        // SAFETY: i + 16 <= n values of each row and of b.
        unsafe {
            let y = _mm512_loadu_ps(b.add(i));
            for (acc, r) in acc.iter_mut().zip(r) {
                *acc = _mm512_fmadd_ps(_mm512_loadu_ps(r.add(i)), y, *acc);
            }
        }
    }
    reduce4(acc)
}

/// Four one-row-order dots over the first `whole` (a multiple of 64) values
/// of rows `r` with `b`, before their tails: four accumulators each.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl")]
unsafe fn dots4(r: [*const f32; 4], b: *const f32, whole: usize) -> __m128 {
    let mut acc = [[_mm512_setzero_ps(); 4]; 4];
    for i in (0..whole).step_by(4 * LANES) {
        for j in 0..4 {
            // SAFETY: i + 64 <= whole values of each row and of b.
            unsafe {
                let at = i + LANES * j;
                let y = _mm512_loadu_ps(b.add(at));
                for (acc, r) in acc.iter_mut().zip(r) {
                    acc[j] = _mm512_fmadd_ps(_mm512_loadu_ps(r.add(at)), y, acc[j]);
                }
            }
        }
    }
    reduce4([fold4(acc[0]), fold4(acc[1]), fold4(acc[2]), fold4(acc[3])])
}
