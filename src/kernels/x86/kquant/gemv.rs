//! Q4_K for a few rows in the one-row order (decode), four weight columns
//! at a time in the GGUF layout, on AVX2 and AVX-512 VNNI.
//!
//! Why: the one-row order (llama.cpp's repacked GEMV) needs, per super-block
//! and column, an exact integer sum, i.e. one horizontal sum. The register
//! tiles (`tiles`) pay it per column; here four columns' sums are reduced together,
//! the scales of four super-blocks are unpacked in one vector instead of
//! with scalar bit-twiddling, and the activations' group sums are taken
//! once per row instead of per column. AVX-512 also broadcasts each 32-byte
//! piece of nibbles into a 512-bit vector (low nibbles of a group pair in
//! one half, high in the other, matching 64 contiguous activations) and
//! places the group scales with `vpermw`. The f32 steps per column are
//! `tiles`' (`scalar::dot_q4_k` without `batched`): results are
//! bit-identical. Zen 5, 2 threads, m = 1: about 1.3-1.8x `tiles::avx512`'s tile.

use std::arch::x86_64::*;

use super::unpack::{scale_shuffle_k4, y8};
use super::Q4K;
use crate::kernels::quantize::BlockQ8K;
use crate::kernels::scalar::Q4_K_BYTES;
use crate::kernels::x86::hsum::hsum4x8;
use crate::kernels::x86::prefetch;
use crate::kernels::Job;

/// Columns per tile.
const COLS: usize = 4;

/// Rows per tile, at most: the sums of COLS x ROWS (column, row) pairs stay
/// in registers until the end of a super-block.
const ROWS: usize = 4;

/// The pshufb pattern (per 128-bit lane) and blend masks that unpack the 12
/// scale bytes of a super-block's first 16 (byte b of them at 4 + b) into
/// [sc 0-3 | sc 4-7 | min 0-3 | min 4-7], as `k4_scales_mins`:
/// sc 0-3, min 0-3 are the low 6 bits of b0-3, b4-7; sc 4-7 the low nibbles
/// of b8-11 under the top 2 bits of b0-3; min 4-7 the high nibbles of b8-11
/// under the top 2 bits of b4-7.
const SOURCE: [i8; 16] = [4, 5, 6, 7, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
const TOP: [i8; 16] = [0, 0, 0, 0, 4, 5, 6, 7, 0, 0, 0, 0, 8, 9, 10, 11];

#[inline(always)]
unsafe fn bytes128(t: [i8; 16]) -> __m128i {
    // SAFETY: SSE2 is the x86_64 baseline.
    unsafe { _mm_loadu_si128(t.as_ptr() as *const __m128i) }
}

/// The scale bytes of two super-blocks (one per 128-bit lane of `v`, as
/// their first 16 bytes) unpacked as [`SOURCE`] says.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn scales_mins2(v: __m256i) -> __m256i {
    // SAFETY: AVX2 is available.
    unsafe {
        let rep = |t| _mm256_broadcastsi128_si256(bytes128(t));
        let a = _mm256_shuffle_epi8(v, rep(SOURCE));
        let t = _mm256_shuffle_epi8(v, rep(TOP));
        let low6 = _mm256_and_si256(a, _mm256_set1_epi8(0x3f));
        let top = _mm256_and_si256(_mm256_srli_epi16::<2>(t), _mm256_set1_epi8(0x30));
        let nib_lo = _mm256_and_si256(a, _mm256_set1_epi8(0xf));
        let nib_hi = _mm256_and_si256(_mm256_srli_epi16::<4>(a), _mm256_set1_epi8(0xf));
        // bytes 12-15 of each lane: high nibbles; 4-7, 12-15: with the top bits
        let hi_mask = rep([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1]);
        let packed = _mm256_or_si256(_mm256_blendv_epi8(nib_lo, nib_hi, hi_mask), top);
        let top_mask = rep([0, 0, 0, 0, -1, -1, -1, -1, 0, 0, 0, 0, -1, -1, -1, -1]);
        _mm256_blendv_epi8(low6, packed, top_mask)
    }
}

/// Four super-blocks' (d, dmin) f16 pairs as i32 lanes, and column c's 8
/// scales then 8 minimums as bytes in entry c.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn head_avx2(x: [*const u8; COLS]) -> (__m128i, [__m128i; COLS]) {
    // SAFETY: each `x[c]` addresses a whole super-block; AVX2 is available.
    unsafe {
        let ld = |c: usize| _mm_loadu_si128(x[c] as *const __m128i);
        let v01 = _mm256_set_m128i(ld(1), ld(0));
        let v23 = _mm256_set_m128i(ld(3), ld(2));
        // dword 0 of each lane, in column order
        let dw = _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0);
        let d_dmin = _mm_unpacklo_epi64(
            _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(v01, dw)),
            _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(v23, dw)),
        );
        let (s01, s23) = (scales_mins2(v01), scales_mins2(v23));
        let lanes = [
            _mm256_castsi256_si128(s01),
            _mm256_extracti128_si256::<1>(s01),
            _mm256_castsi256_si128(s23),
            _mm256_extracti128_si256::<1>(s23),
        ];
        (d_dmin, lanes)
    }
}

/// `head_avx2` with the four super-blocks in one 512-bit vector.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")]
unsafe fn head_avx512(x: [*const u8; COLS]) -> (__m128i, [__m128i; COLS]) {
    // SAFETY: each `x[c]` addresses a whole super-block.
    unsafe {
        let ld = |c: usize| _mm_loadu_si128(x[c] as *const __m128i);
        let v = _mm512_inserti32x4::<3>(
            _mm512_inserti32x4::<2>(
                _mm512_inserti32x4::<1>(_mm512_castsi128_si512(ld(0)), ld(1)),
                ld(2),
            ),
            ld(3),
        );
        let d_dmin = _mm512_castsi512_si128(_mm512_permutexvar_epi32(
            _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
            v,
        ));
        let rep = |t| _mm512_broadcast_i32x4(bytes128(t));
        let a = _mm512_shuffle_epi8(v, rep(SOURCE));
        let t = _mm512_shuffle_epi8(v, rep(TOP));
        let low6 = _mm512_and_si512(a, _mm512_set1_epi8(0x3f));
        let top = _mm512_and_si512(_mm512_srli_epi16::<2>(t), _mm512_set1_epi8(0x30));
        let nib_lo = _mm512_and_si512(a, _mm512_set1_epi8(0xf));
        let nib_hi = _mm512_and_si512(_mm512_srli_epi16::<4>(a), _mm512_set1_epi8(0xf));
        // as in `scales_mins2`, with mask registers
        let nib = _mm512_mask_blend_epi8(0xf000_f000_f000_f000, nib_lo, nib_hi);
        let packed = _mm512_or_si512(nib, top);
        let v = _mm512_mask_blend_epi8(0xf0f0_f0f0_f0f0_f0f0, low6, packed);
        let lanes = [
            _mm512_castsi512_si128(v),
            _mm512_extracti32x4_epi32::<1>(v),
            _mm512_extracti32x4_epi32::<2>(v),
            _mm512_extracti32x4_epi32::<3>(v),
        ];
        (d_dmin, lanes)
    }
}

/// One super-block `x` (its scales as i16 in the low half of `scales`)
/// against R activation blocks: each row's 8 group sums, scaled, in the i32
/// lanes of a vector (exact; any arrangement gives the same total).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn sums_avx2<const R: usize>(
    x: *const u8,
    scales: __m128i,
    y: &[&BlockQ8K; R],
) -> [__m256i; R] {
    // SAFETY: `x` addresses a whole super-block; AVX2 is available.
    unsafe {
        let m4 = _mm256_set1_epi8(0xf);
        let scales = _mm256_set_m128i(scales, scales);
        let mut acc = [_mm256_setzero_si256(); R];
        for p in 0..4 {
            let bits = _mm256_loadu_si256(x.add(16 + 32 * p) as *const __m256i);
            let lo = _mm256_and_si256(bits, m4);
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(bits), m4);
            let sl = _mm256_shuffle_epi8(scales, scale_shuffle_k4(2 * p));
            let sh = _mm256_shuffle_epi8(scales, scale_shuffle_k4(2 * p + 1));
            for r in 0..R {
                let pl = _mm256_madd_epi16(sl, _mm256_maddubs_epi16(lo, y8(y[r], 2 * p)));
                let ph = _mm256_madd_epi16(sh, _mm256_maddubs_epi16(hi, y8(y[r], 2 * p + 1)));
                acc[r] = _mm256_add_epi32(acc[r], _mm256_add_epi32(pl, ph));
            }
        }
        acc
    }
}

/// `sums_avx2` on 512-bit vectors, a group pair per vector.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")]
unsafe fn sums_avx512<const R: usize>(
    x: *const u8,
    scales: __m128i,
    y: &[&BlockQ8K; R],
) -> [__m256i; R] {
    // SAFETY: `x` addresses a whole super-block, each `y[r]` a whole block.
    unsafe {
        let m4 = _mm512_set1_epi8(0xf);
        // the low nibbles of 32 bytes in the lower half, the high ones in the upper
        let shift = _mm512_inserti64x4::<1>(_mm512_setzero_si512(), _mm256_set1_epi16(4));
        let scales = _mm512_castsi128_si512(scales);
        let mut acc = [_mm512_setzero_si512(); R];
        for p in 0..4 {
            let bits =
                _mm512_broadcast_i64x4(_mm256_loadu_si256(x.add(16 + 32 * p) as *const __m256i));
            let q = _mm512_and_si512(_mm512_srlv_epi16(bits, shift), m4);
            // i16 scale 2p in the lower half, 2p + 1 in the upper
            let idx = _mm512_inserti64x4::<1>(
                _mm512_set1_epi16(2 * p as i16),
                _mm256_set1_epi16(2 * p as i16 + 1),
            );
            let sc = _mm512_permutexvar_epi16(idx, scales);
            for r in 0..R {
                let yq = _mm512_loadu_si512(y[r].qs.as_ptr().add(64 * p) as *const __m512i);
                acc[r] = _mm512_dpwssd_epi32(acc[r], sc, _mm512_maddubs_epi16(q, yq));
            }
        }
        acc.map(|v| _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64::<1>(v)))
    }
}

/// A module of tiles for one ISA: `$head` and `$sums` as above, and
/// `$fallback` for the columns left over.
macro_rules! gemv_isa {
    ($isa:ident, $features:literal, $head:ident, $sums:ident, $fallback:ident) => {
        pub mod $isa {
            use super::*;

            /// Columns c..c+4 for R rows from `a`: one f32 vector of the 4
            /// columns per row.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn tile<const R: usize>(
                w: *const u8,
                row_bytes: usize,
                a: *const BlockQ8K,
                nb: usize,
            ) -> [__m128; R] {
                // SAFETY: `w` addresses COLS rows of `nb` super-blocks `row_bytes`
                // apart, `a` R rows of `nb` blocks; the target features are available.
                unsafe {
                    let mut acc_s = [_mm_setzero_ps(); R];
                    let mut acc_m = [_mm_setzero_ps(); R];
                    for i in 0..nb {
                        let y: [&BlockQ8K; R] = std::array::from_fn(|r| &*a.add(r * nb + i));
                        let x: [*const u8; COLS] =
                            std::array::from_fn(|c| w.add(c * row_bytes + i * Q4_K_BYTES));
                        // the same super-blocks of the next tile's columns
                        for x in x {
                            for line in (0..Q4_K_BYTES).step_by(64) {
                                prefetch(x.wrapping_add(COLS * row_bytes + line));
                            }
                        }
                        let (d_dmin, sc_mins) = $head(x);
                        let mut s = [[_mm256_setzero_si256(); COLS]; R];
                        let mut mins = [_mm_setzero_si128(); COLS];
                        for c in 0..COLS {
                            let sc_mins = _mm256_cvtepu8_epi16(sc_mins[c]);
                            mins[c] = _mm256_extracti128_si256::<1>(sc_mins);
                            let sums = $sums::<R>(x[c], _mm256_castsi256_si128(sc_mins), &y);
                            for r in 0..R {
                                s[r][c] = sums[r];
                            }
                        }
                        // [d | dmin] of the 4 columns
                        let dm = _mm256_permutevar8x32_ps(
                            _mm256_cvtph_ps(d_dmin),
                            _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7),
                        );
                        let (d, dmin) =
                            (_mm256_castps256_ps128(dm), _mm256_extractf128_ps::<1>(dm));
                        for r in 0..R {
                            let [s0, s1, s2, s3] = s[r];
                            let sums = hsum4x8(s0, s1, s2, s3);
                            // the minimum terms, as `mins64`
                            let bsums = _mm256_loadu_si256(y[r].bsums.as_ptr() as *const __m256i);
                            let q8s = _mm_hadd_epi16(
                                _mm256_castsi256_si128(bsums),
                                _mm256_extracti128_si256::<1>(bsums),
                            );
                            let m: [__m128i; COLS] =
                                std::array::from_fn(|c| _mm_madd_epi16(mins[c], q8s));
                            let m = _mm_hadd_epi32(
                                _mm_hadd_epi32(m[0], m[1]),
                                _mm_hadd_epi32(m[2], m[3]),
                            );
                            let yd = _mm_set1_ps(y[r].d);
                            acc_s[r] =
                                _mm_fmadd_ps(_mm_cvtepi32_ps(sums), _mm_mul_ps(d, yd), acc_s[r]);
                            acc_m[r] =
                                _mm_fmadd_ps(_mm_cvtepi32_ps(m), _mm_mul_ps(dmin, yd), acc_m[r]);
                        }
                    }
                    std::array::from_fn(|r| _mm_sub_ps(acc_s[r], acc_m[r]))
                }
            }

            /// Rows r0..r0+R of columns c0..c1 (a multiple of COLS apart).
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn rows<const R: usize>(job: &Job<BlockQ8K>, r0: usize, c0: usize, c1: usize) {
                // SAFETY: rows r0..r0+R and columns c0..c1 are within `job`.
                unsafe {
                    let a = job.acts.as_ptr().add(r0 * job.nb);
                    for c in (c0..c1).step_by(COLS) {
                        let w = job.w.as_ptr().add(c * job.row_bytes);
                        let v = tile::<R>(w, job.row_bytes, a, job.nb);
                        let out = v.map(|v| std::mem::transmute::<__m128, [f32; COLS]>(v));
                        job.store(&out, r0, c);
                    }
                }
            }

            /// Columns `c0..c1` of a Q4_K job whose rows all take the one-row
            /// order (`job.independent`, or fewer than 4 rows).
            ///
            /// # Safety
            /// The CPU has this module's target features; `job` holds Q4_K weights.
            #[target_feature(enable = $features)]
            pub unsafe fn chunk_q4k(job: &Job<BlockQ8K>, c0: usize, c1: usize) {
                // SAFETY: as this fn's contract.
                unsafe {
                    debug_assert!(job.independent || job.m < 4);
                    let split = c0 + (c1 - c0) / COLS * COLS;
                    let mut r0 = 0;
                    while r0 < job.m {
                        let n = (job.m - r0).min(ROWS);
                        match n {
                            1 => rows::<1>(job, r0, c0, split),
                            2 => rows::<2>(job, r0, c0, split),
                            3 => rows::<3>(job, r0, c0, split),
                            _ => rows::<ROWS>(job, r0, c0, split),
                        }
                        r0 += n;
                    }
                    if split < c1 {
                        super::super::tiles::$fallback::chunk::<{ Q4K }>(job, split, c1);
                    }
                }
            }
        }
    };
}

gemv_isa!(avx2, "avx2,fma,f16c", head_avx2, sums_avx2, avx2);
gemv_isa!(
    avx512,
    "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni",
    head_avx512,
    sums_avx512,
    avx512
);
