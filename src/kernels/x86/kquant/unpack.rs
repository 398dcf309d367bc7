//! K-quant super-blocks (Q4_K, Q5_K, Q6_K) unpacked for the integer dot
//! products, as ggml's AVX2 `ggml_vec_dot_q*_K_q8_K` unpacks them: weights
//! as bytes, scales and minimums as i16, and the activation pieces they meet.

use std::arch::x86_64::*;

use crate::kernels::quantize::BlockQ8K;
use crate::kernels::x86::block32::read_f16;

/// Unpacks the 12 scale bytes of Q4_K/Q5_K into 8 scales then 8 mins
/// (ggml's `utmp` dance).
#[inline(always)]
pub(in crate::kernels::x86) unsafe fn k4_scales_mins(p: *const u8) -> [u32; 4] {
    // SAFETY: within this fn's contract: its pointers address whole blocks or
    // rows of the caller's slices, and its target features are available.
    unsafe {
        const KMASK1: u32 = 0x3f3f3f3f;
        const KMASK2: u32 = 0x0f0f0f0f;
        const KMASK3: u32 = 0x03030303;
        let rd =
            |i: usize| u32::from_le_bytes([*p.add(i), *p.add(i + 1), *p.add(i + 2), *p.add(i + 3)]);
        let mut u = [rd(0), rd(4), rd(8), 0];
        u[3] = ((u[2] >> 4) & KMASK2) | (((u[1] >> 6) & KMASK3) << 4);
        let uaux = u[1] & KMASK1;
        u[1] = (u[2] & KMASK2) | (((u[0] >> 6) & KMASK3) << 4);
        u[2] = uaux;
        u[0] &= KMASK1;
        u
    }
}

/// `_mm256_shuffle_epi8` patterns broadcasting i16 scale `i` (0..8) of a
/// 128-bit lane to all its 16-bit elements.
#[inline(always)]
pub(in crate::kernels::x86) unsafe fn scale_shuffle_k4(i: usize) -> __m256i {
    static SHUFFLE: [[u8; 32]; 8] = {
        let mut t = [[0u8; 32]; 8];
        let mut i = 0;
        while i < 8 {
            let mut j = 0;
            while j < 32 {
                t[i][j] = (2 * i + j % 2) as u8;
                j += 1;
            }
            i += 1;
        }
        t
    };
    // SAFETY: SHUFFLE's rows are 32 bytes (indexing checks the row), and
    // the caller has the target features this load needs.
    unsafe { _mm256_loadu_si256(SHUFFLE[i].as_ptr() as *const __m256i) }
}

/// `_mm_shuffle_epi8` patterns for Q6_K: bytes 2g (x8) then 2g+1 (x8), the
/// scales of the two 16-weight halves of 32-weight group g.
#[inline(always)]
pub(in crate::kernels::x86) unsafe fn scale_shuffle_q6(g: usize) -> __m128i {
    static SHUFFLE: [[u8; 16]; 8] = {
        let mut t = [[0u8; 16]; 8];
        let mut g = 0;
        while g < 8 {
            let mut j = 0;
            while j < 16 {
                t[g][j] = (2 * g + j / 8) as u8;
                j += 1;
            }
            g += 1;
        }
        t
    };
    // SAFETY: SHUFFLE's rows are 16 bytes (indexing checks the row), and
    // the caller has the target features this load needs.
    unsafe { _mm_loadu_si128(SHUFFLE[g].as_ptr() as *const __m128i) }
}

/// One Q4_K/Q5_K super-block unpacked: its scales, and its 8 groups of 32
/// weights as bytes with their group scales as i16 pairs.
pub(super) struct SuperBlock {
    pub d: f32,
    pub dmin: f32,
    /// The 8 group minimums as i16.
    pub mins: __m128i,
    pub q: [__m256i; 8],
    pub sc: [__m256i; 8],
}

/// Unpacks the super-block at `x` (Q5_K with `HIGH`).
#[inline(always)]
pub(super) unsafe fn unpack_q45k<const HIGH: bool>(x: *const u8) -> SuperBlock {
    // SAFETY: within this fn's contract: `x` addresses one whole super-block,
    // and AVX2 is available.
    unsafe {
        let qs_at = if HIGH { 48 } else { 16 };
        let m4 = _mm256_set1_epi8(0xf);
        let zero = _mm256_setzero_si256();
        let (d, dmin) = (read_f16(x), read_f16(x.add(2)));
        let u = k4_scales_mins(x.add(4));
        let mins_and_scales = _mm256_cvtepu8_epi16(_mm_set_epi32(
            u[3] as i32,
            u[2] as i32,
            u[1] as i32,
            u[0] as i32,
        ));
        let mins = _mm256_extracti128_si256(mins_and_scales, 1);
        let sc128 = _mm256_castsi256_si128(mins_and_scales);
        let scales = _mm256_set_m128i(sc128, sc128);
        let hbits = if HIGH {
            _mm256_loadu_si256(x.add(16) as *const __m256i)
        } else {
            zero
        };
        // bit k of each qh byte -> 0x10 (Q5_K's fifth bit)
        let fifth = |k: usize| {
            let mask = _mm256_set1_epi8(1 << k);
            let set = _mm256_cmpeq_epi8(_mm256_and_si256(hbits, mask), mask);
            _mm256_and_si256(set, _mm256_set1_epi8(0x10))
        };
        // 8 groups of 32 weights and their scales (as i16 pairs)
        let mut q = [zero; 8];
        let mut sc = [zero; 8];
        for j in 0..4 {
            let bits = _mm256_loadu_si256(x.add(qs_at + 32 * j) as *const __m256i);
            q[2 * j] = _mm256_and_si256(bits, m4);
            q[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            if HIGH {
                q[2 * j] = _mm256_or_si256(q[2 * j], fifth(2 * j));
                q[2 * j + 1] = _mm256_or_si256(q[2 * j + 1], fifth(2 * j + 1));
            }
            sc[2 * j] = _mm256_shuffle_epi8(scales, scale_shuffle_k4(2 * j));
            sc[2 * j + 1] = _mm256_shuffle_epi8(scales, scale_shuffle_k4(2 * j + 1));
        }
        SuperBlock {
            d,
            dmin,
            mins,
            q,
            sc,
        }
    }
}

/// The 256 weights of the Q6_K super-block at `x` as bytes 0..64 (the -32
/// is applied through the activation sums), 32 per vector in element order.
#[inline(always)]
pub(in crate::kernels::x86) unsafe fn q6k_bytes(x: *const u8) -> [__m256i; 8] {
    // SAFETY: `x` addresses one whole super-block; AVX2 is available.
    unsafe {
        let (m4, m2) = (_mm256_set1_epi8(0xf), _mm256_set1_epi8(3));
        let mut q = [_mm256_setzero_si256(); 8];
        for h in 0..2 {
            let bits1 = _mm256_loadu_si256(x.add(64 * h) as *const __m256i);
            let bits2 = _mm256_loadu_si256(x.add(64 * h + 32) as *const __m256i);
            let hb = _mm256_loadu_si256(x.add(128 + 32 * h) as *const __m256i);
            let high = |k: i32| {
                let s = _mm256_srl_epi16(hb, _mm_cvtsi32_si128(2 * k));
                _mm256_slli_epi16(_mm256_and_si256(s, m2), 4)
            };
            let lo = |v: __m256i| _mm256_and_si256(v, m4);
            let hi = |v: __m256i| _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
            q[4 * h] = _mm256_or_si256(lo(bits1), high(0));
            q[4 * h + 1] = _mm256_or_si256(lo(bits2), high(1));
            q[4 * h + 2] = _mm256_or_si256(hi(bits1), high(2));
            q[4 * h + 3] = _mm256_or_si256(hi(bits2), high(3));
        }
        q
    }
}

/// Q4_K/Q5_K minimum terms of each 64 weights: `mins` (i16 min_j) times
/// the activation sums of groups 2k and 2k+1, in lane k.
#[inline(always)]
pub(super) unsafe fn mins64(mins: __m128i, y: &BlockQ8K) -> __m128i {
    // SAFETY: within this fn's contract: its pointers address whole blocks or
    // rows of the caller's slices, and its target features are available.
    unsafe {
        let bsums = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
        let q8s = _mm_hadd_epi16(
            _mm256_castsi256_si128(bsums),
            _mm256_extracti128_si256(bsums, 1),
        );
        _mm_madd_epi16(mins, q8s)
    }
}

/// Activations 32j..32j+32 of a Q8_K block.
#[inline(always)]
pub(in crate::kernels::x86) unsafe fn y8(y: &BlockQ8K, j: usize) -> __m256i {
    // SAFETY: within this fn's contract: its pointers address whole blocks or
    // rows of the caller's slices, and its target features are available.
    unsafe { _mm256_loadu_si256(y.qs.as_ptr().add(32 * j) as *const __m256i) }
}
