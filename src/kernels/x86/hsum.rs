//! Horizontal sums: the lanes of a vector added up, in the order the
//! kernels' f32 results depend on (`hsum`) or in any order (integers, exact).

use std::arch::x86_64::*;

/// The sum of 8 f32 lanes as ggml's `hsum_float_8` adds them: the high half
/// onto the low, then the upper pair onto the lower, then the last two.
#[inline(always)]
pub(super) unsafe fn hsum(x: __m256) -> f32 {
    // SAFETY: within this fn's contract: its pointers address whole blocks or
    // rows of the caller's slices, and its target features are available.
    unsafe {
        let s = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
    }
}

/// The sum of 4 i32 lanes (exact: any order).
#[inline(always)]
unsafe fn hsum_i32_4(x: __m128i) -> i32 {
    // SAFETY: within this fn's contract: its pointers address whole blocks or
    // rows of the caller's slices, and its target features are available.
    unsafe {
        let x = _mm_add_epi32(x, _mm_unpackhi_epi64(x, x));
        _mm_cvtsi128_si32(_mm_add_epi32(x, _mm_shuffle_epi32::<0b01>(x)))
    }
}

/// The totals of four vectors of 8 i32 lanes, in lanes 0..4 (exact).
#[inline(always)]
pub(super) unsafe fn hsum4x8(a: __m256i, b: __m256i, c: __m256i, d: __m256i) -> __m128i {
    // SAFETY: AVX2 is available (the callers' target features).
    unsafe {
        let h = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
        _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h))
    }
}

/// The sum of 8 i32 lanes.
#[inline(always)]
pub(super) unsafe fn hsum_i32(x: __m256i) -> i32 {
    // SAFETY: within this fn's contract: its pointers address whole blocks or
    // rows of the caller's slices, and its target features are available.
    unsafe {
        hsum_i32_4(_mm_add_epi32(
            _mm256_castsi256_si128(x),
            _mm256_extracti128_si256(x, 1),
        ))
    }
}
