//! llama.cpp's CPU numerics (llama-cpp-python 0.3.36's ggml, x86 build with
//! AVX-512, flash attention off as that package defaults to) for the
//! operations around the matmuls, reproduced rounding for rounding: given
//! llama.cpp's own inputs, these give its tensors bit for bit (checked on
//! gemma-3-270m and SmolLM2 dumps; with the kernels, the logits of all three
//! test models match). On CPUs without AVX-512 llama.cpp sums in
//! 8 lanes instead of 16; the results then differ in the last bits only.
//! Each has a software form; the SIMD forms give the same bits.

use rayon::prelude::*;

use super::kv::LayerCache;
use crate::kernels::f16::f16_to_f32;

/// Round to the nearest f16 (ties to even), as F16C's conversion does.
pub fn round_f16(x: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("f16c") {
        // SAFETY: F16C was just detected.
        return unsafe { simd::round_f16(x) };
    }
    round_f16_soft(x)
}

/// [`round_f16`] on every value, eight at a time with F16C.
pub fn round_f16_all(xs: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("f16c") {
        // SAFETY: F16C was just detected.
        return unsafe { simd::round_f16_all(xs) };
    }
    xs.iter_mut().for_each(|x| *x = round_f16_soft(*x));
}

/// [`round_f16`] without F16C.
pub fn round_f16_soft(x: f32) -> f32 {
    let e = ((x.to_bits() >> 23) & 0xff) as i32 - 127;
    if e == 128 {
        return x; // inf, nan
    }
    // 10 fraction bits down to 2^-14; below that a fixed step of 2^-24
    let ulp = f32::from_bits(((e.max(-14) - 10 + 127) as u32) << 23);
    let r = (x / ulp).round_ties_even() * ulp;
    if r.abs() >= 65536.0 {
        f32::INFINITY.copysign(x)
    } else {
        r
    }
}

/// The f16 bit pattern of a value `round_f16` returned, |x| < 65536.
fn f16_bits(x: f32) -> u16 {
    let sign = ((x.to_bits() >> 16) & 0x8000) as u16;
    let a = x.abs();
    if a < f32::from_bits(113 << 23) {
        // zero or subnormal: a multiple of 2^-24
        return sign | (a * 16_777_216.0) as u16;
    }
    let e = (a.to_bits() >> 23) as u16 - 112;
    sign | e << 10 | ((a.to_bits() >> 13) & 0x3ff) as u16
}

fn f16_value(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let (e, m) = (((h >> 10) & 0x1f) as i32, (h & 0x3ff) as f32);
    sign * match e {
        0 => m / 16_777_216.0,
        31 if m == 0.0 => f32::INFINITY,
        31 => f32::NAN,
        _ => (1.0 + m / 1024.0) * 2f32.powi(e - 15),
    }
}

/// ggml_rms_norm followed by the weight: the sum of squares in f64, then
/// x * (1/sqrt(mean + eps)) * w in f32 (candle divides by the root).
pub fn rms_norm(x: &mut [f32], w: &[f32], eps: f32) {
    let sum: f64 = x.iter().map(|&v| (v * v) as f64).sum();
    let mean = (sum / x.len() as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    for (v, w) in x.iter_mut().zip(w) {
        *v = *v * scale * *w;
    }
}

/// ggml's GELU: a table over f16 inputs of the tanh approximation
/// (computed in f32, rounded to f16), identity/zero beyond ±10.
fn gelu_table() -> &'static [f32] {
    static TABLE: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        const SQRT_2_OVER_PI: f32 = 0.797_884_6;
        const GELU_COEF_A: f32 = 0.044715;
        (0..=u16::MAX)
            .map(|h| {
                let x = f16_value(h);
                // 1 + a*x*x is contracted to one fma in ggml's build
                let inner = (GELU_COEF_A * x).mul_add(x, 1.0);
                round_f16(0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * inner).tanh()))
            })
            .collect()
    })
}

/// ggml_geglu_split: gate <- gelu(gate) * up.
pub fn geglu(gate: &mut [f32], up: &[f32]) {
    let table = gelu_table();
    for (x, g) in gate.iter_mut().zip(up) {
        *x = if *x <= -10.0 {
            0.0
        } else if *x >= 10.0 {
            *x * g
        } else {
            table[f16_bits(round_f16(*x)) as usize] * g
        };
    }
}

/// ggml_swiglu_split: gate <- silu(gate) * up, silu(x) = x / (1 + e^-x),
/// on rows of `row` values: `expf` for whole vectors of 16, libm's expf
/// for a row's tail as ggml_silu_f32.
pub fn swiglu(gate: &mut [f32], up: &[f32], row: usize) {
    for (gate, up) in gate.chunks_mut(row).zip(up.chunks(row)) {
        let whole = row - row % LANES;
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if simd::available() {
            // SAFETY: the features were detected.
            unsafe { simd::silu_mul16(&mut gate[..whole], &up[..whole]) };
            done = whole;
        }
        for (i, (x, g)) in gate.iter_mut().zip(up).enumerate().skip(done) {
            let e = if i < whole {
                expf(0.0 - *x)
            } else {
                (-*x).exp()
            };
            *x = *x / (1.0 + e) * g;
        }
    }
}

/// Lanes of ggml's f32 vectors with AVX-512.
const LANES: usize = 16;

/// _mm512_reduce_add_ps, as GCC expands it.
fn reduce(a: &[f32; LANES]) -> f32 {
    let mut h = [0f32; 8];
    for i in 0..8 {
        h[i] = a[i + 8] + a[i];
    }
    let q = [h[4] + h[0], h[5] + h[1], h[6] + h[2], h[7] + h[3]];
    (q[0] + q[2]) + (q[1] + q[3])
}

/// The arithmetic of attention's inner loops, in software ([`Soft`]) or with
/// SIMD (`simd::Avx2`): both give the same bits, lane for lane. Operands are
/// f16 values widened to f32 (exactly) once per attention call.
trait Lanes {
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
}

struct Soft;

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
}

/// ggml_vec_dot_f16's leftovers past its whole chunks, added to `sum` in f64.
fn tail(sum: f32, a: &[f32], b: &[f32]) -> f32 {
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

#[cfg(target_arch = "x86_64")]
mod simd {
    use super::{Lanes, LANES};
    use std::arch::x86_64::*;

    /// Whether this CPU has what [`Avx2`] uses (detected once).
    pub fn available() -> bool {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| {
            use std::arch::is_x86_feature_detected as has;
            has!("avx2") && has!("fma") && has!("f16c")
        })
    }

    /// [`Lanes`] on AVX2, FMA and F16C, accumulators in registers. Its
    /// methods may only run where [`available`] says so.
    pub struct Avx2;

    impl Lanes for Avx2 {
        #[inline(always)]
        fn dot(batched: bool, a: &[f32], b: &[f32]) -> f32 {
            // SAFETY: only called where `available` (see `attention`).
            unsafe { dot(batched, a, b) }
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
            // SAFETY: as above.
            unsafe { dots(batched, rows, shape, b, scale, out) }
        }

        #[inline(always)]
        fn softmax_chunk(x: &mut [f32; LANES], max: f32, visible: std::ops::Range<usize>) -> f32 {
            // SAFETY: as above.
            unsafe { softmax_chunk(x, max, visible) }
        }

        #[inline(always)]
        fn widen(h: &[u16], out: &mut [f32]) {
            // SAFETY: as above.
            unsafe { widen(h, out) }
        }
    }

    /// `_mm512_reduce_add_ps` of the 16 lanes `lo`, `hi`, as [`super::reduce`].
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn reduce16(lo: __m256, hi: __m256) -> f32 {
        let h = _mm256_add_ps(hi, lo);
        let q = _mm_add_ps(_mm256_extractf128_ps::<1>(h), _mm256_castps256_ps128(h));
        // [q0 + q2, q1 + q3, ..], then their sum
        let t = _mm_add_ps(q, _mm_movehl_ps(q, q));
        _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps::<1>(t, t)))
    }

    /// [`reduce16`] of four 16-lane sums at once, as lanes of the result.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn reduce16x4(lo: [__m256; 4], hi: [__m256; 4]) -> __m128 {
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
        super::tail(reduce16(s(0), s(1)), &a[whole..n], &b[whole..n])
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
    unsafe fn widen(h: &[u16], out: &mut [f32]) {
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
            *o = crate::kernels::f16::f16_to_f32(*h);
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
    unsafe fn softmax_chunk(
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

    /// `super::swiglu` on whole vectors of 16 (the rest is left to it).
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn silu_mul16(gate: &mut [f32], up: &[f32]) {
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

    /// Attention rows with these lanes (see `super::attention`).
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn attend(row: &super::Row, r: usize, out: &mut [f32]) {
        super::attend::<Avx2>(row, r, out)
    }

    /// One kv head's operands with these lanes (see `super::widen_head`).
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn widen_head(
        cache: &super::LayerCache,
        h: usize,
        span: std::ops::Range<usize>,
        k: &mut [f32],
        v: &mut [f32],
    ) {
        super::widen_head::<Avx2>(cache, h, span, k, v)
    }

    #[target_feature(enable = "avx,f16c")]
    pub unsafe fn round_f16_all(xs: &mut [f32]) {
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

    #[target_feature(enable = "f16c")]
    pub unsafe fn round_f16(x: f32) -> f32 {
        let h = _mm_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm_set_ss(x));
        _mm_cvtss_f32(_mm_cvtph_ps(h))
    }
}

/// ggml_v_expf (AVX-512): exp from a degree-5 polynomial and a scaling by 2^n.
fn expf(x: f32) -> f32 {
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

/// The keys and values of positions from..from + len of every kv head of one
/// layer, widened to f32 once per attention call: every query row of a head
/// group reads all of them, and widening there would repeat the conversion.
struct Widened<'a> {
    /// (kv_head, position, hd)
    k: &'a [f32],
    /// (kv_head, hd, position)
    v: &'a [f32],
    from: usize,
    len: usize,
    hd: usize,
}

impl Widened<'_> {
    /// The keys of positions lo..hi, one after the other.
    fn keys(&self, h: usize, lo: usize, hi: usize) -> &[f32] {
        let at = h * self.len - self.from;
        &self.k[(at + lo) * self.hd..(at + hi) * self.hd]
    }

    /// The values of positions lo..hi as `hd` rows: (values, stride).
    fn value_rows(&self, h: usize, lo: usize, hi: usize) -> (&[f32], usize) {
        let first = h * self.hd * self.len + lo - self.from;
        let last = first + (self.hd - 1) * self.len;
        (&self.v[first..last + hi - lo], self.len)
    }
}

/// Widens kv head `h`'s keys and values at positions `span` into `k`
/// (position, hd) and `v` (hd, position).
#[inline(always)]
fn widen_head<L: Lanes>(
    cache: &LayerCache,
    h: usize,
    span: std::ops::Range<usize>,
    k: &mut [f32],
    v: &mut [f32],
) {
    L::widen(cache.keys(h, span.start, span.end), k);
    let (values, stride) = cache.value_rows(h, span.start, span.end);
    let len = span.len();
    for (d, row) in v.chunks_exact_mut(len).enumerate() {
        L::widen(&values[d * stride..d * stride + len], row);
    }
}

thread_local! {
    /// [`Widened`]'s memory, reused (grown only) from call to call.
    static WIDE: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What every row of one attention call shares.
struct Row<'a> {
    q: &'a [f32],
    wide: &'a Widened<'a>,
    n_head: usize,
    group: usize,
    pos: usize,
    window: Option<usize>,
    kq_scale: f32,
    /// Several query rows (llama.cpp's sgemm order) or one.
    batched: bool,
}

/// Causal (and windowed) attention without flash attention, as llama.cpp
/// runs it: q·k on f16 operands, softmax in f32 with a f64 sum, the
/// probabilities rounded to f16 for the weighted sum of f16 values.
/// `q`: (t, heads, hd) rows for positions pos..pos+t (already in the
/// cache); returns the (t, heads * hd) output.
/// `batched` sums the q·k dots in llama.cpp's batched (prompt) order.
pub fn attention(
    q: &[f32],
    cache: &LayerCache,
    (n_head, pos, t): (usize, usize, usize),
    window: Option<usize>,
    kq_scale: f32,
    batched: bool,
) -> Vec<f32> {
    #[cfg(target_arch = "x86_64")]
    if simd::available() {
        return attention_with(
            // SAFETY (both): the features were detected.
            &|c, h, span, k, v| unsafe { simd::widen_head(c, h, span, k, v) },
            &|row, r, out| unsafe { simd::attend(row, r, out) },
            (q, cache, n_head, pos, t, window, kq_scale, batched),
        );
    }
    attention_with(
        &widen_head::<Soft>,
        &attend::<Soft>,
        (q, cache, n_head, pos, t, window, kq_scale, batched),
    )
}

type WidenFn = dyn Fn(&LayerCache, usize, std::ops::Range<usize>, &mut [f32], &mut [f32]) + Sync;
type AttendFn = dyn Fn(&Row, usize, &mut [f32]) + Sync;

/// [`attention`] with the given lanes' widening and rows.
fn attention_with(
    widen: &WidenFn,
    attend: &AttendFn,
    (q, cache, n_head, pos, t, window, kq_scale, batched): (
        &[f32],
        &LayerCache,
        usize,
        usize,
        usize,
        Option<usize>,
        f32,
        bool,
    ),
) -> Vec<f32> {
    let (hd, nkv) = (cache.head_dim, cache.n_kv_head);
    // every row's keys lie within the first row's window start and the last
    // row's position, in whole 64-position chunks
    let lo = window.map_or(0, |w| (pos + 1).saturating_sub(w));
    let (from, to) = (lo / 64 * 64, (pos + t).next_multiple_of(64));
    let len = to - from;
    let mut out = vec![0f32; t * n_head * hd];
    WIDE.with_borrow_mut(|buf| {
        let per_head = len * hd;
        if buf.len() < 2 * nkv * per_head {
            buf.resize(2 * nkv * per_head, 0.0);
        }
        let (k, v) = buf[..2 * nkv * per_head].split_at_mut(nkv * per_head);
        k.par_chunks_mut(per_head)
            .zip(v.par_chunks_mut(per_head))
            .enumerate()
            .for_each(|(h, (k, v))| widen(cache, h, from..to, k, v));
        let wide = Widened {
            k,
            v,
            from,
            len,
            hd,
        };
        let row = Row {
            q,
            wide: &wide,
            n_head,
            group: n_head / nkv,
            pos,
            window,
            kq_scale,
            batched,
        };
        out.par_chunks_mut(hd)
            .enumerate()
            .for_each(|(r, out)| attend(&row, r, out));
    });
    out
}

/// Output row `r` (position pos + r / heads, head r % heads) of [`attention`].
#[inline(always)]
fn attend<L: Lanes>(row: &Row, r: usize, out: &mut [f32]) {
    let hd = row.wide.hd;
    let (qp, kv_head) = (row.pos + r / row.n_head, r % row.n_head / row.group);
    let mut q = row.q[r * hd..(r + 1) * hd].to_vec();
    round_f16_all(&mut q);
    // keys lo..=qp are visible; work on whole 64-position chunks from
    // `from` so every position keeps its lane in llama.cpp's sums
    let lo = row.window.map_or(0, |w| (qp + 1).saturating_sub(w));
    let from = lo / 64 * 64;
    let to = (qp + 1).next_multiple_of(64);
    let mut p = vec![0f32; to - from];
    let keys = row.wide.keys(kv_head, lo, qp + 1);
    let scores = &mut p[lo - from..qp + 1 - from];
    L::dots(row.batched, keys, (hd, hd), &q, row.kq_scale, scores);
    let visible = lo - from..qp + 1 - from;
    let max = p[visible.clone()]
        .iter()
        .fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    let mut sum = 0f64;
    for (ci, chunk) in p.chunks_exact_mut(LANES).enumerate() {
        let at = ci * LANES;
        let seen = visible.start.clamp(at, at + LANES) - at..visible.end.clamp(at, at + LANES) - at;
        let chunk: &mut [f32; LANES] = chunk.try_into().expect("whole chunks");
        sum += L::softmax_chunk(chunk, max, seen) as f64;
    }
    let inv = (1.0 / sum) as f32;
    for x in &mut p {
        *x *= inv;
    }
    round_f16_all(&mut p);
    let (values, stride) = row.wide.value_rows(kv_head, from, to);
    L::dots(row.batched, values, (stride, to - from), &p, 1.0, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_rounding() {
        assert_eq!(round_f16(1.0), 1.0);
        // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even
        assert_eq!(round_f16(1.0 + 1.0 / 2048.0), 1.0);
        assert_eq!(round_f16(1.0 + 3.0 / 2048.0), 1.0 + 2.0 / 1024.0);
        assert_eq!(round_f16(65504.0), 65504.0);
        assert_eq!(round_f16(65520.0), f32::INFINITY);
        // subnormals step by 2^-24
        assert_eq!(round_f16(3.4e-7), 6.0 / 16_777_216.0);
        assert_eq!(round_f16(-1e-9), 0.0);
    }

    #[test]
    fn f16_rounding_with_f16c_matches_the_software_rounding() {
        let mut x = 0x1234_5678u32;
        for _ in 0..200_000 {
            // xorshift over all bit patterns but NaNs
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let v = f32::from_bits(x);
            if !v.is_nan() {
                assert_eq!(round_f16(v), round_f16_soft(v), "{v:e}");
                let mut all = [v; 11];
                round_f16_all(&mut all);
                assert_eq!(all, [round_f16_soft(v); 11], "{v:e}");
            }
        }
    }

    /// Inputs for the SIMD/software comparisons: values over a wide range,
    /// with f16 operands where the callers have them.
    fn values(n: usize, seed: u32) -> Vec<f32> {
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

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn simd_lanes_compute_the_software_bits() {
        if !simd::available() {
            return;
        }
        use simd::Avx2;
        let mut a = values(704, 7);
        round_f16_all(&mut a);
        let mut b = values(704, 11);
        round_f16_all(&mut b);
        for n in [16, 40, 64, 100, 128, 256, 640, 704] {
            for batched in [false, true] {
                let (x, y) = (
                    Soft::dot(batched, &a[..n], &b[..n]),
                    Avx2::dot(batched, &a[..n], &b[..n]),
                );
                assert_eq!(x.to_bits(), y.to_bits(), "dot n={n} batched={batched}");
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
                    Avx2::softmax_chunk(&mut v, *max, visible.clone()),
                );
                assert_eq!(x.to_bits(), y.to_bits());
                assert_eq!(s.map(f32::to_bits), v.map(f32::to_bits), "{c:?} - {max}");
            }
        }
        // swiglu: whole vectors through the SIMD exp, then the tail
        let (gate, up) = (values(2 * 37, 5), values(2 * 37, 9));
        let mut soft = gate.clone();
        for (x, g) in soft
            .iter_mut()
            .zip(&up)
            .enumerate()
            .map(|(i, p)| (i % 37, p))
            .filter(|(i, _)| *i < 32)
            .map(|(_, p)| p)
        {
            *x = *x / (1.0 + expf(0.0 - *x)) * g;
        }
        for (i, (x, g)) in soft.iter_mut().zip(&up).enumerate() {
            if i % 37 >= 32 {
                *x = *x / (1.0 + (-*x).exp()) * g;
            }
        }
        let mut fast = gate.clone();
        swiglu(&mut fast, &up, 37);
        assert_eq!(
            soft.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            fast.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn attention_rows_are_the_same_with_and_without_simd() {
        let (hd, heads, kv_heads, t) = (64, 4, 2, 150);
        let mut cache = LayerCache::new(kv_heads, hd, t);
        let (k, v) = (values(t * kv_heads * hd, 21), values(t * kv_heads * hd, 23));
        cache.append(&k, &v, 0, t);
        let q = values(t * heads * hd, 29);
        for (pos, rows, window) in [
            (0, t, None),
            (149, 1, None),
            (100, 50, Some(70)),
            (120, 1, Some(33)),
            (3, 5, None),
        ] {
            let q = &q[..rows * heads * hd];
            let batched = rows > 1;
            let args = (q, &cache, heads, pos, rows, window, 0.125, batched);
            let got = attention(q, &cache, (heads, pos, rows), window, 0.125, batched);
            let soft = attention_with(&widen_head::<Soft>, &attend::<Soft>, args);
            let bits = |x: &[f32]| x.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&soft), "pos {pos} rows {rows}");
        }
    }

    #[test]
    fn attention_is_softmax_weighted_and_windowed() {
        // one head, hd 64, 5 positions; window 2: position p sees p-1 and p
        let (hd, t) = (64, 5);
        let mut cache = LayerCache::new(1, hd, t);
        let k: Vec<f32> = (0..t * hd)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 8.0)
            .collect();
        let v: Vec<f32> = (0..t * hd)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / 4.0)
            .collect();
        let q: Vec<f32> = (0..t * hd)
            .map(|i| ((i * 3 % 7) as f32 - 3.0) / 8.0)
            .collect();
        cache.append(&k, &v, 0, t);
        for window in [None, Some(2)] {
            let out = attention(&q, &cache, (1, 0, t), window, 0.125, true);
            for i in 0..t {
                let lo = window.map_or(0, |w| (i + 1).saturating_sub(w));
                let s: Vec<f64> = (lo..=i)
                    .map(|j| {
                        (0..hd)
                            .map(|d| (q[i * hd + d] * k[j * hd + d]) as f64)
                            .sum::<f64>()
                            * 0.125
                    })
                    .collect();
                let m = s.iter().cloned().fold(f64::MIN, f64::max);
                let z: f64 = s.iter().map(|x| (x - m).exp()).sum();
                for d in 0..hd {
                    let want: f64 = (lo..=i)
                        .map(|j| (s[j - lo] - m).exp() / z * v[j * hd + d] as f64)
                        .sum();
                    let got = out[i * hd + d] as f64;
                    assert!(
                        (got - want).abs() < 1e-2,
                        "{window:?} {i} {d}: {got} vs {want}"
                    );
                }
            }
        }
    }
}
