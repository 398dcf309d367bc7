//! The K-quant tiles (Q4_K, Q5_K, Q6_K) on the GGUF layout: ggml's AVX2 dot
//! products, with each super-block unpacked once per tile of activation rows
//! (4 of one sequence, 8 independent ones) and the rows' horizontal sums done
//! together. The integer dot products run on 256-bit vectors (`avx2`) or two
//! groups per 512-bit vector (`avx512`: VNNI, `wide512`). Integer sums are
//! exact, so only the f32 steps carry llama.cpp's order.

use std::arch::x86_64::*;

use candle_core::quantized::GgmlDType;

use super::unpack::{mins64, q6k_bytes, scale_shuffle_q6, unpack_q45k, y8, SuperBlock};
use super::{Q4K, Q5K};
use crate::kernels::quantize::BlockQ8K;
use crate::kernels::scalar::{Q4_K_BYTES, Q5_K_BYTES, Q6_K_BYTES};
use crate::kernels::x86::block32::read_f16;
use crate::kernels::x86::hsum::{hsum, hsum4x8, hsum_i32};
use crate::kernels::x86::prefetch;
use crate::kernels::Job;

/// How an ISA takes the dot products of one unpacked K-quant super-block
/// (8 groups of 32 weights as bytes, group scales as i16 pairs) with
/// activation rows: `prepare` once per super-block, then `row_sum` per row
/// gives the 8 groups' scaled sums in 8 i32 lanes (exact, so any
/// arrangement of the lanes gives the same total).
mod wide256 {
    use super::*;

    pub struct Prepared<'a> {
        q: &'a [__m256i; 8],
        sc: &'a [__m256i; 8],
    }

    #[inline(always)]
    pub unsafe fn prepare<'a>(q: &'a [__m256i; 8], sc: &'a [__m256i; 8]) -> Prepared<'a> {
        Prepared { q, sc }
    }

    #[inline(always)]
    pub unsafe fn row_sum(p: &Prepared, y: &BlockQ8K) -> __m256i {
        // SAFETY: AVX2 is available (the crate's baseline); `y8` reads within `y`.
        unsafe {
            let mut s = _mm256_setzero_si256();
            for j in 0..8 {
                s = madd_avx2(s, p.sc[j], _mm256_maddubs_epi16(p.q[j], y8(y, j)));
            }
            s
        }
    }
}

/// `wide256` on 512-bit vectors: two groups per vector, half the instructions.
mod wide512 {
    use super::*;

    pub struct Prepared {
        q: [__m512i; 4],
        sc: [__m512i; 4],
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")]
    pub unsafe fn prepare(q: &[__m256i; 8], sc: &[__m256i; 8]) -> Prepared {
        let pair = |v: &[__m256i; 8], p: usize| {
            _mm512_inserti64x4::<1>(_mm512_castsi256_si512(v[2 * p]), v[2 * p + 1])
        };
        Prepared {
            q: std::array::from_fn(|p| pair(q, p)),
            sc: std::array::from_fn(|p| pair(sc, p)),
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")]
    pub unsafe fn row_sum(p: &Prepared, y: &BlockQ8K) -> __m256i {
        // SAFETY: the 4 loads read y.qs (256 bytes) in 64-byte pieces.
        unsafe {
            let mut s = _mm512_setzero_si512();
            for j in 0..4 {
                let y = _mm512_loadu_si512(y.qs.as_ptr().add(64 * j) as *const __m512i);
                s = _mm512_dpwssd_epi32(s, p.sc[j], _mm512_maddubs_epi16(p.q[j], y));
            }
            _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64::<1>(s))
        }
    }
}

/// Instantiates the K-quant tiles for one ISA: `$madd(acc, a, b)` adds the
/// i16 x i16 pair products of a and b into the i32 lanes of acc.
macro_rules! k_isa {
    ($isa:ident, $features:literal, $madd:ident, $wide:ident) => {
        pub mod $isa {
            use super::*;

            /// Q4_K (`HIGH` = false) or Q5_K for a whole group of 4 rows in
            /// llama.cpp's batched (GEMM) order, as `scalar::dot_q4_k` with
            /// `batched`: sums fuse into f32 per 64 weights, rows in lanes.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn tile_q45k_gemm<const HIGH: bool>(
                w: *const u8,
                a: *const BlockQ8K,
                nb: usize,
                out: &mut [f32; 4],
            ) {
                // SAFETY: within this fn's contract: its pointers address whole blocks or
                // rows of the caller's slices, and its target features are available.
                unsafe {
                    let bytes = if HIGH { Q5_K_BYTES } else { Q4_K_BYTES };
                    let zero = _mm256_setzero_si256();
                    let (mut acc4, mut acc4_m) = (_mm_setzero_ps(), _mm_setzero_ps());
                    for i in 0..nb {
                        let x = w.add(i * bytes);
                        for line in (0..bytes).step_by(64) {
                            prefetch(x.wrapping_add(4 * nb * bytes + line));
                        }
                        let SuperBlock {
                            d,
                            dmin,
                            mins,
                            q,
                            sc,
                        } = unpack_q45k::<HIGH>(x);
                        // a whole group: rows in the 4 lanes, one step per 64 weights
                        let y: [&BlockQ8K; 4] = std::array::from_fn(|r| &*a.add(r * nb + i));
                        let ad = _mm_setr_ps(y[0].d, y[1].d, y[2].d, y[3].d);
                        let (dd, dm) = (
                            _mm_mul_ps(_mm_set1_ps(d), ad),
                            _mm_mul_ps(_mm_set1_ps(dmin), ad),
                        );
                        // Minimum terms, rows in lanes: the 32-sums of two rows
                        // as i16 pairs (groups 2k, 2k+1) per i32, transposed to
                        // [k = 0 | k = 2] and [1 | 3] x rows, times the mins.
                        let bs =
                            |r: usize| _mm256_loadu_si256(y[r].bsums.as_ptr() as *const __m256i);
                        let (v01, v23) = (
                            _mm256_hadd_epi16(bs(0), bs(1)),
                            _mm256_hadd_epi16(bs(2), bs(3)),
                        );
                        let (lo, hi) = (
                            _mm256_unpacklo_epi32(v01, v23),
                            _mm256_unpackhi_epi32(v01, v23),
                        );
                        let m02 = _mm256_set_m128i(
                            _mm_shuffle_epi32::<0b10_10_10_10>(mins),
                            _mm_shuffle_epi32::<0>(mins),
                        );
                        let m13 = _mm256_set_m128i(
                            _mm_shuffle_epi32::<0b11_11_11_11>(mins),
                            _mm_shuffle_epi32::<0b01_01_01_01>(mins),
                        );
                        let mk02 = _mm256_cvtepi32_ps(_mm256_madd_epi16(
                            _mm256_unpacklo_epi32(lo, hi),
                            m02,
                        ));
                        let mk13 = _mm256_cvtepi32_ps(_mm256_madd_epi16(
                            _mm256_unpackhi_epi32(lo, hi),
                            m13,
                        ));
                        // the scaled sums of each 64 (k), rows in lanes, two k
                        // per vector: [2kp | 2kp + 1]
                        for kp in 0..2 {
                            let mut h = [zero; 2];
                            for (k, h) in (2 * kp..2 * kp + 2).zip(&mut h) {
                                let j = 2 * k;
                                let mut s = [zero; 4];
                                for r in 0..4 {
                                    let p = _mm256_maddubs_epi16(q[j], y8(y[r], j));
                                    s[r] = $madd(zero, sc[j], p);
                                    let p = _mm256_maddubs_epi16(q[j + 1], y8(y[r], j + 1));
                                    s[r] = $madd(s[r], sc[j + 1], p);
                                }
                                *h = _mm256_hadd_epi32(
                                    _mm256_hadd_epi32(s[0], s[1]),
                                    _mm256_hadd_epi32(s[2], s[3]),
                                );
                            }
                            let sums = _mm256_cvtepi32_ps(_mm256_add_epi32(
                                _mm256_permute2x128_si256::<0x20>(h[0], h[1]),
                                _mm256_permute2x128_si256::<0x31>(h[0], h[1]),
                            ));
                            let half = |v: __m256| {
                                if kp == 0 {
                                    _mm256_castps256_ps128(v)
                                } else {
                                    _mm256_extractf128_ps::<1>(v)
                                }
                            };
                            acc4 = _mm_fmadd_ps(_mm256_castps256_ps128(sums), dd, acc4);
                            acc4_m = _mm_fmadd_ps(half(mk02), dm, acc4_m);
                            acc4 = _mm_fmadd_ps(_mm256_extractf128_ps::<1>(sums), dd, acc4);
                            acc4_m = _mm_fmadd_ps(half(mk13), dm, acc4_m);
                        }
                    }
                    _mm_storeu_ps(out.as_mut_ptr(), _mm_sub_ps(acc4, acc4_m));
                }
            }

            /// Q4_K (`HIGH` = false) or Q5_K for R rows, each in llama.cpp's
            /// one-row (GEMV) order whatever R is: per super-block an exact
            /// integer sum S and minimum term M, then S·(d·y.d) and M·(dmin·y.d)
            /// fused into f32, as `scalar::dot_q4_k` without `batched`. The
            /// super-block is unpacked once for all rows, and the rows'
            /// horizontal sums are done together, rows in lanes.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn tile_q45k_rows<const HIGH: bool, const R: usize>(
                w: *const u8,
                a: *const BlockQ8K,
                nb: usize,
                out: &mut [f32; R],
            ) {
                // SAFETY: within this fn's contract: its pointers address whole blocks or
                // rows of the caller's slices, and its target features are available.
                unsafe {
                    const { assert!(R >= 1 && R <= 8) };
                    let bytes = if HIGH { Q5_K_BYTES } else { Q4_K_BYTES };
                    // rows 4g..4g+4 in the lanes of group g (missing rows: zeros)
                    let mut acc_s = [_mm_setzero_ps(); 2];
                    let mut acc_m = [_mm_setzero_ps(); 2];
                    for i in 0..nb {
                        let x = w.add(i * bytes);
                        for line in (0..bytes).step_by(64) {
                            prefetch(x.wrapping_add(4 * nb * bytes + line));
                        }
                        let block = unpack_q45k::<HIGH>(x);
                        let prepared = $wide::prepare(&block.q, &block.sc);
                        let mut s = [_mm256_setzero_si256(); 8];
                        let mut m = [_mm_setzero_si128(); 8];
                        let mut yd = [0f32; 8];
                        for r in 0..R {
                            let y = &*a.add(r * nb + i);
                            s[r] = $wide::row_sum(&prepared, y);
                            m[r] = mins64(block.mins, y);
                            yd[r] = y.d;
                        }
                        for g in 0..R.div_ceil(4) {
                            let (s, m) = (&s[4 * g..4 * g + 4], &m[4 * g..4 * g + 4]);
                            let sums = hsum4x8(s[0], s[1], s[2], s[3]);
                            let mins = _mm_hadd_epi32(
                                _mm_hadd_epi32(m[0], m[1]),
                                _mm_hadd_epi32(m[2], m[3]),
                            );
                            let yd = _mm_loadu_ps(yd.as_ptr().add(4 * g));
                            let dd = _mm_mul_ps(_mm_set1_ps(block.d), yd);
                            let dm = _mm_mul_ps(_mm_set1_ps(block.dmin), yd);
                            acc_s[g] = _mm_fmadd_ps(_mm_cvtepi32_ps(sums), dd, acc_s[g]);
                            acc_m[g] = _mm_fmadd_ps(_mm_cvtepi32_ps(mins), dm, acc_m[g]);
                        }
                    }
                    let mut v = [0f32; 8];
                    for g in 0..2 {
                        _mm_storeu_ps(v.as_mut_ptr().add(4 * g), _mm_sub_ps(acc_s[g], acc_m[g]));
                    }
                    out.copy_from_slice(&v[..R]);
                }
            }

            /// Q6_K: `out[r]` = dot(weight row, activation row r), in
            /// `scalar::dot_q6_k`'s order (`tiled`: a batch of 8+ rows).
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn tile_q6k<const R: usize>(
                w: *const u8,
                a: *const BlockQ8K,
                nb: usize,
                tiled: bool,
                out: &mut [f32; R],
            ) {
                // SAFETY: within this fn's contract: its pointers address whole blocks or
                // rows of the caller's slices, and its target features are available.
                unsafe {
                    let zero = _mm256_setzero_si256();
                    let mut acc = [_mm256_setzero_ps(); R];
                    let mut sum = [0f32; R];
                    // tiled, 4 rows: rows in lanes
                    let mut sum4 = _mm_setzero_ps();
                    let mut sumis = [zero; R];
                    for i in 0..nb {
                        let x = w.add(i * Q6_K_BYTES);
                        for line in (0..Q6_K_BYTES).step_by(64) {
                            prefetch(x.wrapping_add(4 * nb * Q6_K_BYTES + line));
                        }
                        let d = read_f16(x.add(208));
                        let sc_bytes = _mm_loadu_si128(x.add(192) as *const __m128i);
                        let scales16 = _mm256_cvtepi8_epi16(sc_bytes);
                        let q = q6k_bytes(x);
                        let sc: [__m256i; 8] = std::array::from_fn(|g| {
                            let pair = _mm_shuffle_epi8(sc_bytes, scale_shuffle_q6(g));
                            _mm256_cvtepi8_epi16(pair)
                        });
                        let prepared = $wide::prepare(&q, &sc);
                        for r in 0..R {
                            let y = &*a.add(r * nb + i);
                            let mut sumi = $wide::row_sum(&prepared, y);
                            // the -32 of every weight: 32 * sum_j scale_j * bsum_j
                            let bsums = _mm256_loadu_si256(y.bsums.as_ptr() as *const __m256i);
                            let corr = _mm256_madd_epi16(scales16, bsums);
                            sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(corr, 5));
                            if tiled && R == 4 {
                                sumis[r] = sumi;
                            } else if tiled {
                                sum[r] = (hsum_i32(sumi) as f32 * d).mul_add(y.d, sum[r]);
                            } else {
                                let dd = _mm256_set1_ps(y.d * d);
                                acc[r] = _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(sumi), acc[r]);
                            }
                        }
                        if tiled && R == 4 {
                            // the 4 rows' super-block sums in 4 lanes
                            let sums = hsum4x8(sumis[0], sumis[1], sumis[2], sumis[3 % R]);
                            let y = |r: usize| (*a.add(r * nb + i)).d;
                            let ad = _mm_setr_ps(y(0), y(1), y(2), y(3 % R));
                            let res = _mm_mul_ps(_mm_cvtepi32_ps(sums), _mm_set1_ps(d));
                            sum4 = _mm_fmadd_ps(res, ad, sum4);
                        }
                    }
                    if tiled && R == 4 {
                        let mut v = [0f32; 4];
                        _mm_storeu_ps(v.as_mut_ptr(), sum4);
                        out.copy_from_slice(&v[..R]);
                        return;
                    }
                    for r in 0..R {
                        out[r] = if tiled { sum[r] } else { hsum(acc[r]) };
                    }
                }
            }

            /// Rows r0..r0+R of columns c0..c1, one weight row at a time.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn rows<const F: u8, const R: usize>(
                job: &Job<BlockQ8K>,
                r0: usize,
                c0: usize,
                c1: usize,
            ) {
                // SAFETY: within this fn's contract: its pointers address whole blocks or
                // rows of the caller's slices, and its target features are available.
                unsafe {
                    let a = job.acts.as_ptr().add(r0 * job.nb);
                    for c in c0..c1 {
                        let w = job.w.as_ptr().add(c * job.row_bytes);
                        let mut out = [0f32; R];
                        match F {
                            // a whole group of 4 rows of one sequence: llama.cpp's GEMM order
                            Q4K | Q5K if R == 4 && !job.independent => {
                                let out4 = <&mut [f32; 4]>::try_from(&mut out[..]).expect("R = 4");
                                if F == Q4K {
                                    tile_q45k_gemm::<false>(w, a, job.nb, out4)
                                } else {
                                    tile_q45k_gemm::<true>(w, a, job.nb, out4)
                                }
                            }
                            Q4K => tile_q45k_rows::<false, R>(w, a, job.nb, &mut out),
                            Q5K => tile_q45k_rows::<true, R>(w, a, job.nb, &mut out),
                            _ => tile_q6k::<R>(
                                w,
                                a,
                                job.nb,
                                job.batched_k(GgmlDType::Q6K, 0),
                                &mut out,
                            ),
                        }
                        job.store(&out.map(|v| [v]), r0, c);
                    }
                }
            }

            /// Columns `c0..c1` of the output, all rows, 4 rows at a time;
            /// independent rows 8 at a time (in the one-row order).
            #[target_feature(enable = $features)]
            pub unsafe fn chunk<const F: u8>(job: &Job<BlockQ8K>, c0: usize, c1: usize) {
                // SAFETY: within this fn's contract: its pointers address whole blocks or
                // rows of the caller's slices, and its target features are available.
                unsafe {
                    if job.independent {
                        row_tiles!(job, c0, c1, rows::<F>, [1, 2, 3, 4, 5, 6, 7], 8);
                    } else {
                        row_tiles!(job, c0, c1, rows::<F>, [1, 2, 3], 4);
                    }
                }
            }
        }
    };
}

#[inline(always)]
unsafe fn madd_avx2(acc: __m256i, a: __m256i, b: __m256i) -> __m256i {
    // SAFETY: within this fn's contract: its pointers address whole blocks or
    // rows of the caller's slices, and its target features are available.
    unsafe { _mm256_add_epi32(acc, _mm256_madd_epi16(a, b)) }
}

#[inline(always)]
unsafe fn madd_vnni(acc: __m256i, a: __m256i, b: __m256i) -> __m256i {
    // SAFETY: within this fn's contract: its pointers address whole blocks or
    // rows of the caller's slices, and its target features are available.
    unsafe { _mm256_dpwssd_epi32(acc, a, b) }
}

k_isa!(avx2, "avx2,fma,f16c", madd_avx2, wide256);
k_isa!(
    avx512,
    "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni",
    madd_vnni,
    wide512
);
