//! Activation quantization on AVX2 (with FMA and F16C), bit-identical to
//! `kernels::quantize`'s (and so to llama.cpp's).

use std::arch::x86_64::*;

use crate::kernels::quantize::{BlockQ8, BlockQ8K};
use crate::kernels::Isa;

/// `quantize::quantize_q8` with AVX2, bit-identical (as llama.cpp's AVX2
/// `quantize_row_q8_0`/`q8_1`: same products, ties-to-even rounding, F16C).
pub fn quantize_q8(x: &[f32], out: &mut [BlockQ8]) {
    // `Isa::Avx2` is every feature `quantize_q8_avx2` enables (FMA included).
    assert!(Isa::Avx2.is_available());
    assert_eq!(x.len(), out.len() * 32);
    // SAFETY: features checked; sizes match.
    unsafe { quantize_q8_avx2(x, out) }
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn quantize_q8_avx2(x: &[f32], out: &mut [BlockQ8]) {
    // SAFETY: within this fn's contract: its pointers address whole blocks or
    // rows of the caller's slices, and its target features are available.
    unsafe {
        let round_f16 = |v: f32| {
            let h = _mm_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm_set_ss(v));
            _mm_cvtss_f32(_mm_cvtph_ps(h))
        };
        let abs_mask = _mm256_set1_ps(-0.0);
        for (xb, b) in x.chunks_exact(32).zip(out.iter_mut()) {
            let p = xb.as_ptr();
            let v = [0, 8, 16, 24].map(|i| _mm256_loadu_ps(p.add(i)));
            let a = v.map(|v| _mm256_andnot_ps(abs_mask, v));
            let m = _mm256_max_ps(_mm256_max_ps(a[0], a[1]), _mm256_max_ps(a[2], a[3]));
            let m = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
            let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
            let amax = _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
            let d = amax / 127.0;
            let id = _mm256_set1_ps(if amax != 0.0 { 127.0 / amax } else { 0.0 });
            // cvtps rounds to nearest even (the default MXCSR mode)
            let i = v.map(|v| _mm256_cvtps_epi32(_mm256_mul_ps(v, id)));
            let sum = _mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3]));
            let sum = _mm_add_epi32(
                _mm256_extracti128_si256(sum, 1),
                _mm256_castsi256_si128(sum),
            );
            let sum = _mm_hadd_epi32(sum, sum);
            let sum = _mm_cvtsi128_si32(_mm_hadd_epi32(sum, sum));
            // packs interleave 128-bit lanes; the permute restores element order
            let i16s = [
                _mm256_packs_epi32(i[0], i[1]),
                _mm256_packs_epi32(i[2], i[3]),
            ];
            let i8s = _mm256_packs_epi16(i16s[0], i16s[1]);
            let i8s = _mm256_permutevar8x32_epi32(i8s, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256(b.qs.as_mut_ptr() as *mut __m256i, i8s);
            b.d = round_f16(d);
            b.s = round_f16(d * sum as f32);
            b.sum = sum;
        }
    }
}

/// `quantize::quantize_q8k` with AVX2, bit-identical.
pub fn quantize_q8k(x: &[f32], out: &mut [BlockQ8K]) {
    // `Isa::Avx2` covers the features `quantize_q8k_avx2` enables (FMA included).
    assert!(Isa::Avx2.is_available());
    assert_eq!(x.len(), out.len() * 256);
    // SAFETY: features checked; sizes match.
    unsafe { quantize_q8k_avx2(x, out) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn quantize_q8k_avx2(x: &[f32], out: &mut [BlockQ8K]) {
    // SAFETY: within this fn's contract: its pointers address whole blocks or
    // rows of the caller's slices, and its target features are available.
    unsafe {
        let abs_mask = _mm256_set1_ps(-0.0);
        for (xb, b) in x.chunks_exact(256).zip(out.iter_mut()) {
            let v: [__m256; 32] = std::array::from_fn(|i| _mm256_loadu_ps(xb.as_ptr().add(8 * i)));
            let m = v.iter().fold(_mm256_setzero_ps(), |m, v| {
                _mm256_max_ps(m, _mm256_andnot_ps(abs_mask, *v))
            });
            let m = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
            let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
            let amax = _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
            if amax == 0.0 {
                b.d = 0.0;
                b.qs = [0; 256];
                b.bsums = [0; 16];
                continue;
            }
            // The reference takes the sign of the first value of largest magnitude.
            let first = xb.iter().position(|v| v.abs() == amax).unwrap_or(0);
            let iscale = -127.0 / xb[first];
            let mul = _mm256_set1_ps(iscale);
            for (i, (qs, bsum)) in b.qs.chunks_exact_mut(16).zip(&mut b.bsums).enumerate() {
                // cvtps rounds to nearest even; |values| <= 127, so packs don't clip
                let lo = _mm256_cvtps_epi32(_mm256_mul_ps(v[2 * i], mul));
                let hi = _mm256_cvtps_epi32(_mm256_mul_ps(v[2 * i + 1], mul));
                let sum = _mm256_add_epi32(lo, hi);
                let sum = _mm_add_epi32(
                    _mm256_extracti128_si256(sum, 1),
                    _mm256_castsi256_si128(sum),
                );
                let sum = _mm_hadd_epi32(sum, sum);
                *bsum = _mm_cvtsi128_si32(_mm_hadd_epi32(sum, sum)) as i16;
                let i16s = _mm256_permute4x64_epi64(_mm256_packs_epi32(lo, hi), 0b11_01_10_00);
                let i8s = _mm_packs_epi16(
                    _mm256_castsi256_si128(i16s),
                    _mm256_extracti128_si256(i16s, 1),
                );
                _mm_storeu_si128(qs.as_mut_ptr() as *mut __m128i, i8s);
            }
            b.d = 1.0 / iscale;
        }
    }
}
