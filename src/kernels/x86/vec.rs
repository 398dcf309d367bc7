//! ggml's f32 vector arithmetic (`kernels::vec`) on AVX2, FMA and F16C:
//! its AVX-512 build's 16 lanes as two 256-bit halves, accumulators in
//! registers, the same bits as `vec::Soft` lane for lane.

use std::arch::x86_64::*;

use crate::kernels::f16::{f16_to_f32, round_f16};
use crate::kernels::vec::{self, OnLanes, LANES};

/// Runs `task` on [`Avx2`], inlined under its target features.
///
/// # Safety
/// The CPU has AVX2, FMA and F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn run<T: OnLanes>(task: T) -> T::Output {
    task.run::<Avx2>()
}

/// [`Lanes`] on AVX2, FMA and F16C. Its methods may only run where the CPU
/// has them: it is used by [`run`] alone.
struct Avx2;

simd_lanes!(Avx2, dot, dots);

/// `impl Lanes for $lanes` with `$dot` and `$dots` as its dot products and
/// this file's SIMD functions for the rest. Its methods may only run under
/// the `run` of `$lanes`' module, whose caller checked the features.
macro_rules! simd_lanes {
    ($lanes:ty, $dot:path, $dots:path) => {
        impl $crate::kernels::vec::Lanes for $lanes {
            #[inline(always)]
            fn dot(batched: bool, a: &[f32], b: &[f32]) -> f32 {
                // SAFETY (all): only called under `run`, whose caller checked the features.
                unsafe { $dot(batched, a, b) }
            }

            #[inline(always)]
            fn dots(
                batched: bool,
                rows: &[f32],
                shape: (usize, usize),
                b: &[f32],
                scale: f32,
                out: &mut [f32],
            ) {
                unsafe { $dots(batched, rows, shape, b, scale, out) }
            }

            #[inline(always)]
            fn softmax_chunk(
                x: &mut [f32; $crate::kernels::vec::LANES],
                max: f32,
                visible: std::ops::Range<usize>,
            ) -> f32 {
                unsafe { $crate::kernels::x86::vec::softmax_chunk(x, max, visible) }
            }

            #[inline(always)]
            fn widen(h: &[u16], out: &mut [f32]) {
                unsafe { $crate::kernels::x86::vec::widen(h, out) }
            }

            #[inline(always)]
            fn round_f16_all(xs: &mut [f32]) {
                unsafe { $crate::kernels::x86::vec::round_f16_all(xs) }
            }

            #[inline(always)]
            fn silu_mul(gate: &mut [f32], up: &[f32]) {
                unsafe { $crate::kernels::x86::vec::silu_mul(gate, up) }
            }
        }
    };
}
pub(super) use simd_lanes;

/// `_mm512_reduce_add_ps` of the 16 lanes `lo`, `hi`, as [`vec::reduce`].
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn reduce16(lo: __m256, hi: __m256) -> f32 {
    let h = _mm256_add_ps(hi, lo);
    let q = _mm_add_ps(_mm256_extractf128_ps::<1>(h), _mm256_castps256_ps128(h));
    // [q0 + q2, q1 + q3, ..], then their sum
    let t = _mm_add_ps(q, _mm_movehl_ps(q, q));
    _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps::<1>(t, t)))
}

/// [`reduce16`] of four 16-lane sums at once, as lanes of the result.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) fn reduce16x4(lo: [__m256; 4], hi: [__m256; 4]) -> __m128 {
    let q: [__m128; 4] = std::array::from_fn(|k| {
        let h = _mm256_add_ps(hi[k], lo[k]);
        _mm_add_ps(_mm256_extractf128_ps::<1>(h), _mm256_castps256_ps128(h))
    });
    // transposed: c[j] holds element j of q[0..4]
    let (t0, t1) = (_mm_unpacklo_ps(q[0], q[1]), _mm_unpacklo_ps(q[2], q[3]));
    let (t2, t3) = (_mm_unpackhi_ps(q[0], q[1]), _mm_unpackhi_ps(q[2], q[3]));
    let (c0, c1) = (_mm_movelh_ps(t0, t1), _mm_movehl_ps(t1, t0));
    let (c2, c3) = (_mm_movelh_ps(t2, t3), _mm_movehl_ps(t3, t2));
    _mm_add_ps(_mm_add_ps(c0, c2), _mm_add_ps(c1, c3))
}

/// `Soft::dot`, lane for lane.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot(batched: bool, a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    // SAFETY (both): i + 8 <= n for every i they are called with.
    let x = |i: usize| unsafe { _mm256_loadu_ps(a.as_ptr().add(i)) };
    let y = |i: usize| unsafe { _mm256_loadu_ps(b.as_ptr().add(i)) };
    if batched && n.is_multiple_of(LANES) {
        let (mut lo, mut hi) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        for i in (0..n).step_by(LANES) {
            lo = _mm256_fmadd_ps(x(i), y(i), lo);
            hi = _mm256_fmadd_ps(x(i + 8), y(i + 8), hi);
        }
        return reduce16(lo, hi);
    }
    // acc[2j], acc[2j + 1]: lanes 0-7 and 8-15 of accumulator j
    let mut acc = [_mm256_setzero_ps(); 8];
    let whole = n / (4 * LANES) * (4 * LANES);
    for i in (0..whole).step_by(4 * LANES) {
        for (v, acc) in acc.iter_mut().enumerate() {
            *acc = _mm256_fmadd_ps(x(i + 8 * v), y(i + 8 * v), *acc);
        }
    }
    let s = |h: usize| {
        _mm256_add_ps(
            _mm256_add_ps(acc[h], acc[4 + h]),
            _mm256_add_ps(acc[2 + h], acc[6 + h]),
        )
    };
    vec::tail(reduce16(s(0), s(1)), &a[whole..n], &b[whole..n])
}

/// `Soft::dots`, lane for lane: in the batched order four rows at a time
/// (sharing the loads of `b`, their horizontal sums done together).
#[target_feature(enable = "avx2,fma,f16c")]
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
    let mut i = 0;
    if batched && n.is_multiple_of(LANES) {
        let scale4 = _mm_set1_ps(scale);
        while i + 4 <= count {
            let r: [*const f32; 4] = std::array::from_fn(|k| rows[(i + k) * stride..].as_ptr());
            // SAFETY: rows i..i+4 hold n values each, b n (asserted).
            let sums = unsafe { dots4_batched(r, b.as_ptr(), n) };
            // SAFETY: i + 4 <= count.
            unsafe { _mm_storeu_ps(out.as_mut_ptr().add(i), _mm_mul_ps(sums, scale4)) };
            i += 4;
        }
    }
    for (k, o) in out.iter_mut().enumerate().skip(i) {
        // SAFETY: the features are enabled here.
        *o = unsafe { dot(batched, &rows[k * stride..k * stride + n], &b[..n]) } * scale;
    }
}

/// Four batched-order dots of `n` (a multiple of 16) values of rows `r`
/// with `b`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dots4_batched(r: [*const f32; 4], b: *const f32, n: usize) -> __m128 {
    let (mut lo, mut hi) = ([_mm256_setzero_ps(); 4], [_mm256_setzero_ps(); 4]);
    for i in (0..n).step_by(LANES) {
        // SAFETY: i + 16 <= n values of each row and of b.
        unsafe {
            let (b0, b1) = (_mm256_loadu_ps(b.add(i)), _mm256_loadu_ps(b.add(i + 8)));
            for k in 0..4 {
                lo[k] = _mm256_fmadd_ps(_mm256_loadu_ps(r[k].add(i)), b0, lo[k]);
                hi[k] = _mm256_fmadd_ps(_mm256_loadu_ps(r[k].add(i + 8)), b1, hi[k]);
            }
        }
    }
    reduce16x4(lo, hi)
}

/// `Soft::widen` with F16C.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn widen(h: &[u16], out: &mut [f32]) {
    let n = h.len().min(out.len());
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n values of both.
        unsafe {
            let v = _mm256_cvtph_ps(_mm_loadu_si128(h.as_ptr().add(i).cast()));
            _mm256_storeu_ps(out.as_mut_ptr().add(i), v);
        }
        i += 8;
    }
    for (o, h) in out[i..n].iter_mut().zip(&h[i..n]) {
        *o = f16_to_f32(*h);
    }
}
/// `expf` on 8 lanes, lane for lane.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn expf8(x: __m256) -> __m256 {
    let c = |bits: u32| _mm256_set1_ps(f32::from_bits(bits));
    let r = c(0x4b40_0000);
    let n = _mm256_sub_ps(_mm256_fmadd_ps(x, c(0x3fb8_aa3b), r), r);
    let neg = _mm256_sub_ps(_mm256_setzero_ps(), n);
    let b = _mm256_fmadd_ps(neg, c(0x35bf_be8e), _mm256_fmadd_ps(neg, c(0x3f31_7200), x));
    let u = _mm256_mul_ps(b, b);
    let j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(
            _mm256_fmadd_ps(c(0x3c07_2010), b, c(0x3d2b_9f17)),
            u,
            _mm256_fmadd_ps(c(0x3e2a_af33), b, c(0x3eff_fedb)),
        ),
        u,
        _mm256_fmadd_ps(c(0x3f7f_fff6), b, _mm256_set1_ps(1.0)),
    );
    // j * 2^n rounded once, as _mm512_scalef_ps: in f64, 4 lanes at a time
    let e = _mm256_cvtps_epi32(n);
    let scaled = |j: __m128, e: __m128i| {
        let e = _mm256_add_epi64(_mm256_cvtepi32_epi64(e), _mm256_set1_epi64x(1023));
        let scale = _mm256_castsi256_pd(_mm256_slli_epi64::<52>(e));
        _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtps_pd(j), scale))
    };
    let y = _mm256_set_m128(
        scaled(
            _mm256_extractf128_ps::<1>(j),
            _mm256_extracti128_si256::<1>(e),
        ),
        scaled(_mm256_castps256_ps128(j), _mm256_castsi256_si128(e)),
    );
    // |n| > 192: 0 below, infinity above (the scale above is garbage there)
    let abs = _mm256_andnot_ps(_mm256_set1_ps(-0.0), n);
    let out = _mm256_cmp_ps::<_CMP_GT_OQ>(abs, _mm256_set1_ps(192.0));
    let pos = _mm256_cmp_ps::<_CMP_GT_OQ>(n, _mm256_setzero_ps());
    let far = _mm256_and_ps(pos, _mm256_set1_ps(f32::INFINITY));
    _mm256_blendv_ps(y, far, out)
}

/// `Soft::softmax_chunk`, lane for lane.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn softmax_chunk(
    x: &mut [f32; LANES],
    max: f32,
    visible: std::ops::Range<usize>,
) -> f32 {
    let (lo_at, hi_at) = (
        _mm256_set1_epi32(visible.start as i32 - 1),
        _mm256_set1_epi32(visible.end as i32),
    );
    let max = _mm256_set1_ps(max);
    let mut e = [_mm256_setzero_ps(); 2];
    for (h, e) in e.iter_mut().enumerate() {
        let lane = _mm256_add_epi32(
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
            _mm256_set1_epi32(8 * h as i32),
        );
        let seen = _mm256_and_si256(
            _mm256_cmpgt_epi32(lane, lo_at),
            _mm256_cmpgt_epi32(hi_at, lane),
        );
        // SAFETY: x holds 16 values.
        let v = unsafe { _mm256_loadu_ps(x.as_ptr().add(8 * h)) };
        *e = _mm256_and_ps(expf8(_mm256_sub_ps(v, max)), _mm256_castsi256_ps(seen));
        // SAFETY: as above.
        unsafe { _mm256_storeu_ps(x.as_mut_ptr().add(8 * h), *e) };
    }
    reduce16(e[0], e[1])
}

/// `Soft::silu_mul`, lane for lane.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn silu_mul(gate: &mut [f32], up: &[f32]) {
    for (x, g) in gate.chunks_exact_mut(8).zip(up.chunks_exact(8)) {
        // SAFETY: 8 values each.
        unsafe {
            let v = _mm256_loadu_ps(x.as_ptr());
            let e = expf8(_mm256_sub_ps(_mm256_setzero_ps(), v));
            let s = _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0), e));
            _mm256_storeu_ps(
                x.as_mut_ptr(),
                _mm256_mul_ps(s, _mm256_loadu_ps(g.as_ptr())),
            );
        }
    }
}

/// `Soft::round_f16_all`, eight at a time.
#[target_feature(enable = "avx,f16c")]
pub(super) unsafe fn round_f16_all(xs: &mut [f32]) {
    let mut chunks = xs.chunks_exact_mut(8);
    for c in &mut chunks {
        // SAFETY: 8 values.
        unsafe {
            let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm256_loadu_ps(c.as_ptr()));
            _mm256_storeu_ps(c.as_mut_ptr(), _mm256_cvtph_ps(h));
        }
    }
    for x in chunks.into_remainder() {
        *x = round_f16(*x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::tests::skipped;
    use crate::kernels::vec::{test_values as values, Lanes, Soft};
    use crate::kernels::Isa;

    fn bits(x: &[f32]) -> Vec<u32> {
        x.iter().map(|x| x.to_bits()).collect()
    }

    /// Each operation of [`Avx2`] and of the AVX-512 lanes (`vec512`) gives
    /// [`Soft`]'s bits. Called directly, not through `vec::run`, so
    /// `ABRIDGE_KERNELS` does not decide what is tested.
    #[test]
    fn simd_lanes_compute_the_software_bits() {
        if !Isa::Avx2.is_available() {
            skipped("the AVX2 vector lanes (this CPU lacks AVX2, FMA or F16C)");
            return;
        }
        // SAFETY: the features were checked; `Check::run` calls `Avx2` alone.
        unsafe { run(Check) };
        if Isa::Avx512Vnni.is_available() {
            // SAFETY: as above, for AVX-512.
            unsafe { super::super::vec512::run(Check) };
        } else {
            skipped("the AVX-512 vector lanes (this CPU lacks AVX-512)");
        }
        struct Check;
        impl OnLanes for Check {
            type Output = ();
            fn run<L: Lanes>(self) {
                check::<L>()
            }
        }
        fn check<L: Lanes>() {
            let (mut a, mut b) = (values(704, 7), values(704, 11));
            L::round_f16_all(&mut a);
            L::round_f16_all(&mut b);
            for n in [16, 40, 64, 100, 128, 200, 256, 640, 704] {
                for batched in [false, true] {
                    let (x, y) = (
                        Soft::dot(batched, &a[..n], &b[..n]),
                        L::dot(batched, &a[..n], &b[..n]),
                    );
                    assert_eq!(x.to_bits(), y.to_bits(), "dot n={n} batched={batched}");
                    // four rows at a time, then one by one
                    let (stride, count) = (n + 3, 7);
                    let rows = values(stride * count, n as u32);
                    let (mut x, mut y) = (vec![0f32; count], vec![0f32; count]);
                    Soft::dots(batched, &rows, (stride, n), &b, 0.125, &mut x);
                    L::dots(batched, &rows, (stride, n), &b, 0.125, &mut y);
                    assert_eq!(bits(&x), bits(&y), "dots n={n} batched={batched}");
                }
            }
            // exponentials from far below (0) to above (infinity) the range
            let x: Vec<f32> = values(4096, 3).iter().map(|v| v * 20.0).collect();
            for (c, max) in x
                .chunks_exact(LANES)
                .zip([0.0, 3.5, -150.0, 90.0].iter().cycle())
            {
                for visible in [0..16, 3..11, 0..0, 15..16] {
                    let (mut s, mut v): ([f32; LANES], [f32; LANES]) =
                        (c.try_into().unwrap(), c.try_into().unwrap());
                    let (x, y) = (
                        Soft::softmax_chunk(&mut s, *max, visible.clone()),
                        L::softmax_chunk(&mut v, *max, visible.clone()),
                    );
                    assert_eq!(x.to_bits(), y.to_bits());
                    assert_eq!(s.map(f32::to_bits), v.map(f32::to_bits), "{c:?} - {max}");
                }
            }
            let (gate, up) = (values(64, 5), values(64, 9));
            let (mut x, mut y) = (gate.clone(), gate);
            Soft::silu_mul(&mut x, &up);
            L::silu_mul(&mut y, &up);
            assert_eq!(bits(&x), bits(&y), "silu_mul");
            let h: Vec<u16> = (0..=u16::MAX).collect();
            let (mut x, mut y) = (vec![0f32; h.len()], vec![0f32; h.len()]);
            Soft::widen(&h, &mut x);
            L::widen(&h, &mut y);
            assert_eq!(bits(&x), bits(&y), "widen");
        }
    }

    /// F16C's rounding, eight at a time, is `half`'s, whose software form
    /// (`from_f32_const`, used where the CPU has no F16C) is the same again.
    #[test]
    fn f16_rounding_with_f16c_matches_the_software_rounding() {
        if !Isa::Avx2.is_available() {
            skipped("F16C's rounding (this CPU lacks AVX2, FMA or F16C)");
            return;
        }
        let mut x = 0x1234_5678u32;
        for _ in 0..200_000 {
            // xorshift over all bit patterns but NaNs
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let v = f32::from_bits(x);
            if !v.is_nan() {
                let soft = half::f16::from_f32_const(v).to_f32_const();
                assert_eq!(round_f16(v), soft, "{v:e}");
                let mut all = [v; 11];
                // SAFETY: the features were checked.
                unsafe { round_f16_all(&mut all) };
                assert_eq!(all, [soft; 11], "{v:e}");
            }
        }
    }
}
