//! x86-64 SIMD kernels. Everything here is `#[target_feature]`-gated and only
//! reached after run-time detection (see `Isa`), so the crate's global
//! target-cpu doesn't matter. Every kernel is bit-identical to its `scalar`
//! reference: same integers, same f32 operations in the same order (which is
//! llama.cpp's, see `scalar`).
//!
//! 32-element formats run an R x C register tile (R activation rows x C weight
//! rows): each weight block is unpacked once per R rows and each activation
//! block loaded once per C columns. The tile body is written once and
//! instantiated by `tile_isa!` for plain AVX2 (maddubs + madd). Keeping ggml's
//! 8 lanes per block costs a conversion and a fused add per block, row and
//! column; with AVX-512 VNNI, `lanes512` carries two columns per 512-bit
//! vector (`vpdpbusd`, and 32 registers for the tile).
//! K-quants (`k_isa!`) follow ggml's AVX2 dot products, with each super-block
//! unpacked once per tile of activation rows (4 of one sequence, 8 independent
//! ones) and the rows' horizontal sums done together; the integer dot
//! products run on 256-bit vectors (AVX2) or two groups per 512-bit vector
//! (AVX-512 VNNI, `wide512`). Integer sums are exact, so only the f32 steps
//! carry llama.cpp's order.
//! `packed` repacks 8 weight columns at a time into one vector's lanes for
//! jobs with many rows: Q4_K on AVX2 (8+ rows) and Q5_0's fused prompt order
//! on every ISA (`chunk32`).

use std::arch::x86_64::*;

use candle_core::quantized::GgmlDType;

use super::quantize::{BlockQ8, BlockQ8K};
use super::scalar::{Q4_0_BYTES, Q4_1_BYTES, Q5_0_BYTES, Q5_1_BYTES, Q8_0_BYTES};
use super::scalar::{Q4_K_BYTES, Q5_K_BYTES, Q6_K_BYTES};
use super::Job;

mod gemv;
mod packed;
pub use packed::{chunk_q4k, chunk_q4k_vnni, chunk_q6k_vnni};

/// Q5_0 (or Q4_0) columns `c0..c1`: fused jobs (prompts) on the packed
/// kernel, the rest on the ISA's tiles (`lanes512` with `VNNI`).
///
/// # Safety
/// The CPU has the ISA's features (AVX-512 VNNI with `VNNI`, else AVX2, FMA,
/// F16C); `job` holds weights of format `T`.
pub unsafe fn chunk32<T: Block32, const VNNI: bool>(job: &Job<BlockQ8>, c0: usize, c1: usize) {
    // SAFETY: as this fn's contract.
    unsafe {
        if job.fused {
            packed::chunk32::<T>(job, c0, c1)
        } else if VNNI {
            lanes512::chunk::<T>(job, c0, c1)
        } else {
            avx2::chunk::<T>(job, c0, c1)
        }
    }
}

/// How a 32-element weight format looks to the integer dot product.
///
/// Weights are unpacked to unsigned bytes `u` (the operand `maddubs`/`vpdpbusd`
/// want), with value `d * (u - OFFSET)` or, for formats with a min,
/// `d * u + m`. The `- OFFSET` is applied in integers (`OFFSET * sum(a)`), so
/// sums are exactly ggml's.
pub trait Block32 {
    const BYTES: usize;
    /// Subtracted from each unpacked weight; a power of two.
    const OFFSET: i32;
    /// Has an f16 min `m` at byte 2, multiplied by Q8_1's `s`.
    const HAS_MIN: bool;
    /// Q8_0: bytes are already signed. Plain AVX2 can't take them as the
    /// unsigned operand (u8 * i8 pairs would overflow i16 with the +128
    /// offset) and uses the sign trick instead; VNNI uses the offset.
    const SIGNED: bool = false;
    /// Q5_0/Q5_1: byte offset of the 32 fifth bits (0: none). They are
    /// merged by the ISA's own `fifth_bits` (AVX-512 BW does it in one mask op).
    const QH: usize = 0;

    /// The 32 weights as bytes, in element order (without fifth bits).
    ///
    /// # Safety
    /// `p` points to one block; AVX2 is available.
    unsafe fn unpack(p: *const u8) -> __m256i;
}

/// The f16 at `p`, broadcast to 8 lanes (one F16C conversion).
#[inline]
#[target_feature(enable = "avx2,f16c")]
unsafe fn splat_f16(p: *const u8) -> __m256 {
    // SAFETY: within this fn's contract: its pointers address whole blocks or
    // rows of the caller's slices, and its target features are available.
    unsafe { _mm256_cvtph_ps(_mm_set1_epi16((p as *const i16).read_unaligned())) }
}

#[inline]
#[target_feature(enable = "avx2,f16c")]
unsafe fn read_f16(p: *const u8) -> f32 {
    // SAFETY: within this fn's contract: its pointers address whole blocks or
    // rows of the caller's slices, and its target features are available.
    unsafe { _mm256_cvtss_f32(splat_f16(p)) }
}

/// 16 bytes of nibbles -> 32 bytes: low nibbles (elements 0..16), then high.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn nibbles(p: *const u8) -> __m256i {
    // SAFETY: within this fn's contract: its pointers address whole blocks or
    // rows of the caller's slices, and its target features are available.
    unsafe {
        let t = _mm_loadu_si128(p as *const __m128i);
        let b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
        _mm256_and_si256(b, _mm256_set1_epi8(0xf))
    }
}

/// The 32 bits at `p` spread to bytes: 0x10 where the bit is set (ggml's
/// `bytes_from_bits_32`, then masked to the fifth weight bit).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn fifth_bits(p: *const u8) -> __m256i {
    // SAFETY: within this fn's contract: its pointers address whole blocks or
    // rows of the caller's slices, and its target features are available.
    unsafe {
        let x = (p as *const u32).read_unaligned();
        let shuf = _mm256_set_epi64x(
            0x0303030303030303,
            0x0202020202020202,
            0x0101010101010101,
            0,
        );
        let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(x as i32), shuf);
        let bits = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
        let set = _mm256_cmpeq_epi8(bits, _mm256_set1_epi64x(-1));
        _mm256_and_si256(set, _mm256_set1_epi8(0x10))
    }
}

/// `fifth_bits` as one masked move.
#[inline]
#[target_feature(enable = "avx2,avx512f,avx512vl,avx512bw")]
unsafe fn fifth_bits_bw(p: *const u8) -> __m256i {
    // SAFETY: within this fn's contract: its pointers address whole blocks or
    // rows of the caller's slices, and its target features are available.
    unsafe {
        let bits = (p as *const u32).read_unaligned();
        _mm256_maskz_mov_epi8(bits, _mm256_set1_epi8(0x10))
    }
}

/// Declares a `Block32` format: name, block bytes, offset, has-min, signed,
/// fifth-bits offset, and how to unpack block pointer `p`.
/// Runs `$rows::<$g, R>` over successive tiles of R rows for columns c0..c1:
/// R is `$max`, or one of the smaller `$n` heights for the last tile (row
/// counts are const generics, so each height is its own kernel).
macro_rules! row_tiles {
    ($job:expr, $c0:expr, $c1:expr, $rows:ident::<$g:tt>, [$($n:literal),+], $max:literal) => {{
        let mut r0 = 0;
        while r0 < $job.m {
            let n = ($job.m - r0).min($max);
            match n {
                $($n => $rows::<$g, $n>($job, r0, $c0, $c1),)+
                _ => $rows::<$g, $max>($job, r0, $c0, $c1),
            }
            r0 += n;
        }
    }};
}

macro_rules! block32 {
    ($name:ident, $bytes:expr, $offset:expr, $min:expr, $signed:expr, $qh:expr, |$p:ident| $unpack:expr) => {
        pub struct $name;
        impl Block32 for $name {
            const BYTES: usize = $bytes;
            const OFFSET: i32 = $offset;
            const HAS_MIN: bool = $min;
            const SIGNED: bool = $signed;
            const QH: usize = $qh;
            #[inline]
            #[target_feature(enable = "avx2")]
            unsafe fn unpack($p: *const u8) -> __m256i {
                // SAFETY: within this fn's contract: its pointers address whole blocks or
                // rows of the caller's slices, and its target features are available.
                unsafe { $unpack }
            }
        }
    };
}

block32!(Q4_0, Q4_0_BYTES, 8, false, false, 0, |p| nibbles(p.add(2)));
block32!(Q4_1, Q4_1_BYTES, 0, true, false, 0, |p| nibbles(p.add(4)));
block32!(Q5_0, Q5_0_BYTES, 16, false, false, 2, |p| nibbles(p.add(6)));
block32!(Q5_1, Q5_1_BYTES, 0, true, false, 4, |p| nibbles(p.add(8)));
block32!(Q8_0, Q8_0_BYTES, 128, false, true, 0, |p| {
    _mm256_loadu_si256(p.add(2) as *const __m256i)
});

/// `quantize::quantize_q8` with AVX2, bit-identical (as llama.cpp's AVX2
/// `quantize_row_q8_0`/`q8_1`: same products, ties-to-even rounding, F16C).
pub fn quantize_q8(x: &[f32], out: &mut [BlockQ8]) {
    assert!(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("f16c"));
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

/// Fetches weights a few rows ahead: rows are short (a KB or so), too short
/// for the hardware prefetcher to ramp up on when a GEMV streams them from
/// DRAM. Never faults, so it may point past the weights.
#[inline(always)]
unsafe fn prefetch(p: *const u8) {
    // SAFETY: within this fn's contract: its pointers address whole blocks or
    // rows of the caller's slices, and its target features are available.
    unsafe {
        _mm_prefetch::<_MM_HINT_T0>(p as *const i8);
    }
}

/// `quantize::quantize_q8k` with AVX2, bit-identical.
pub fn quantize_q8k(x: &[f32], out: &mut [BlockQ8K]) {
    assert!(is_x86_feature_detected!("avx2"));
    assert_eq!(x.len(), out.len() * 256);
    // SAFETY: feature checked; sizes match.
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

#[inline(always)]
unsafe fn hsum(x: __m256) -> f32 {
    // SAFETY: within this fn's contract: its pointers address whole blocks or
    // rows of the caller's slices, and its target features are available.
    unsafe {
        let s = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
    }
}

/// Instantiates the 32-block tile kernels for one ISA: `$dot(acc, u, s)` adds
/// the u8 x i8 products of each 4 bytes into the i32 lanes of `acc`.
macro_rules! tile_isa {
    ($isa:ident, $features:literal, vnni: $vnni:expr, $dot:ident, $fifth:ident, $rows:literal x $cols:literal) => {
        pub mod $isa {
            use super::*;

            /// `out[r][c]` = dot(weight row c, activation row r) over `nb` blocks.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn tile<T: Block32, const R: usize, const C: usize>(
                w: *const u8,
                row_bytes: usize,
                a: *const BlockQ8,
                nb: usize,
                out: &mut [[f32; C]; R],
            ) {
                // SAFETY: within this fn's contract: its pointers address whole blocks or
                // rows of the caller's slices, and its target features are available.
                unsafe {
                    // The sign trick only where the unsigned form could overflow.
                    let sign_trick = T::SIGNED && !$vnni;
                    let zero = _mm256_setzero_si256();
                    let mut acc = [[_mm256_setzero_ps(); C]; R];
                    // Q4_1/Q5_1: min * s fused per column, column c in lane c
                    let mut mins = [_mm_setzero_ps(); R];
                    for b in 0..nb {
                        let mut u = [zero; C];
                        let mut q = [zero; C];
                        let mut dw = [_mm256_setzero_ps(); C];
                        let mut mw = _mm_setzero_si128();
                        for c in 0..C {
                            let p = w.add(c * row_bytes + b * T::BYTES);
                            prefetch(p.wrapping_add(8 * C * row_bytes));
                            q[c] = T::unpack(p);
                            if T::QH != 0 {
                                q[c] = _mm256_or_si256(q[c], $fifth(p.add(T::QH)));
                            }
                            u[c] = if sign_trick {
                                _mm256_sign_epi8(q[c], q[c])
                            } else if T::SIGNED {
                                _mm256_xor_si256(q[c], _mm256_set1_epi8(-128))
                            } else {
                                q[c]
                            };
                            dw[c] = splat_f16(p);
                            if T::HAS_MIN {
                                let m = (p.add(2) as *const i16).read_unaligned();
                                mw = match c {
                                    0 => _mm_insert_epi16::<0>(mw, m as i32),
                                    _ => _mm_insert_epi16::<1>(mw, m as i32),
                                };
                            }
                        }
                        let mw = _mm_cvtph_ps(mw);
                        for r in 0..R {
                            let ab = &*a.add(r * nb + b);
                            let av = _mm256_loadu_si256(ab.qs.as_ptr() as *const __m256i);
                            let da = _mm256_set1_ps(ab.d);
                            // -OFFSET * (sum of a's 4 bytes) in each lane: the dot
                            // accumulates onto it, so each lane holds exactly
                            // ggml's signed lane sum (see `scalar`), at one dot
                            // per row for all C columns.
                            let neg_offs = if T::OFFSET != 0 && !sign_trick {
                                let offs = _mm256_set1_epi8(T::OFFSET as u8 as i8);
                                _mm256_sub_epi32(zero, $dot(zero, offs, av))
                            } else {
                                zero
                            };
                            if T::HAS_MIN {
                                mins[r] = _mm_fmadd_ps(mw, _mm_set1_ps(ab.s), mins[r]);
                            }
                            for c in 0..C {
                                let s = if sign_trick {
                                    _mm256_sign_epi8(av, q[c])
                                } else {
                                    av
                                };
                                let p = $dot(neg_offs, u[c], s);
                                let scale = _mm256_mul_ps(dw[c], da);
                                acc[r][c] =
                                    _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), scale, acc[r][c]);
                            }
                        }
                    }
                    for r in 0..R {
                        let mut m = [0f32; 4];
                        _mm_storeu_ps(m.as_mut_ptr(), mins[r]);
                        for c in 0..C {
                            out[r][c] = hsum(acc[r][c]);
                            if T::HAS_MIN {
                                out[r][c] += m[c];
                            }
                        }
                    }
                }
            }

            /// Rows r0..r0+R of columns c0..c1: full C-wide tiles, then single
            /// columns.
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn rows<T: Block32, const R: usize>(
                job: &Job<BlockQ8>,
                r0: usize,
                c0: usize,
                c1: usize,
            ) {
                // SAFETY: within this fn's contract: its pointers address whole blocks or
                // rows of the caller's slices, and its target features are available.
                unsafe {
                    let a = job.acts.as_ptr().add(r0 * job.nb);
                    let w = |c: usize| job.w.as_ptr().add(c * job.row_bytes);
                    let mut c = c0;
                    while c + $cols <= c1 {
                        let mut out = [[0f32; $cols]; R];
                        tile::<T, R, $cols>(w(c), job.row_bytes, a, job.nb, &mut out);
                        job.store(&out, r0, c);
                        c += $cols;
                    }
                    for c in c..c1 {
                        let mut out = [[0f32; 1]; R];
                        tile::<T, R, 1>(w(c), job.row_bytes, a, job.nb, &mut out);
                        job.store(&out, r0, c);
                    }
                }
            }

            /// Columns `c0..c1` of the output, all rows, in tiles of up to
            /// $rows rows x $cols columns.
            #[target_feature(enable = $features)]
            pub unsafe fn chunk<T: Block32>(job: &Job<BlockQ8>, c0: usize, c1: usize) {
                // SAFETY: within this fn's contract: its pointers address whole blocks or
                // rows of the caller's slices, and its target features are available.
                unsafe {
                    const _: () = assert!($rows == 4, "row_tiles! below lists the heights under 4");
                    row_tiles!(job, c0, c1, rows::<T>, [1, 2, 3], 4);
                }
            }
        }
    };
}

#[inline(always)]
unsafe fn dot_avx2(acc: __m256i, u: __m256i, s: __m256i) -> __m256i {
    // SAFETY: within this fn's contract: its pointers address whole blocks or
    // rows of the caller's slices, and its target features are available.
    unsafe {
        let pairs = _mm256_maddubs_epi16(u, s);
        _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
    }
}

tile_isa!(avx2, "avx2,fma,f16c", vnni: false, dot_avx2, fifth_bits, 4 x 2);

// ---- 32-element formats on AVX-512 VNNI. ggml's 8-lane order costs a dot, a
// conversion, a scale and a fused add per block, row and column, which no
// grouping of blocks can save (the f32 rounding of every step is the point).
// 512-bit vectors carry two columns' 8 lanes at once, halving that work; the
// lanes and their arithmetic are exactly `scalar::lanes32`'s.

pub mod lanes512 {
    use super::*;

    /// Block `q`'s weights as unsigned bytes (value + OFFSET) and its scale;
    /// prefetches `ahead` bytes on.
    #[inline(always)]
    unsafe fn unpack_unsigned<T: Block32>(q: *const u8, ahead: usize) -> (__m256i, __m256) {
        // SAFETY: within this fn's contract: its pointers address whole blocks or
        // rows of the caller's slices, and its target features are available.
        unsafe {
            prefetch(q.wrapping_add(ahead));
            let mut v = T::unpack(q);
            if T::QH != 0 {
                v = _mm256_or_si256(v, fifth_bits_bw(q.add(T::QH)));
            }
            if T::SIGNED {
                v = _mm256_xor_si256(v, _mm256_set1_epi8(-128));
            }
            (v, splat_f16(q))
        }
    }

    /// 8 lanes of column pair p's first column in the low half, the second's
    /// in the high half: `out[r][2p + h]` = dot(weight row 2p + h, activation
    /// row r). `cols[2p + h]` points at each weight row (a pair may repeat a
    /// column).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")]
    unsafe fn tile<T: Block32, const R: usize, const P: usize>(
        cols: [*const u8; 4],
        a: *const BlockQ8,
        nb: usize,
        ahead: usize,
        out: &mut [[f32; 4]; R],
    ) {
        // SAFETY: within this fn's contract: its pointers address whole blocks or
        // rows of the caller's slices, and its target features are available.
        unsafe {
            let zero = _mm512_setzero_si512();
            let offs = _mm512_set1_epi8(T::OFFSET as u8 as i8);
            let mut acc = [[_mm512_setzero_ps(); P]; R];
            // Q4_1/Q5_1: min * s fused per column (lane i: `cols[i]`)
            let mut mins = [_mm_setzero_ps(); R];
            for b in 0..nb {
                let mut u = [zero; P];
                let mut dw = [_mm512_setzero_ps(); P];
                let mw = if T::HAS_MIN {
                    let m =
                        |i: usize| (cols[i].add(b * T::BYTES + 2) as *const i16).read_unaligned();
                    _mm_cvtph_ps(_mm_set_epi16(0, 0, 0, 0, m(3), m(2), m(1), m(0)))
                } else {
                    _mm_setzero_ps()
                };
                for p in 0..P {
                    let (u0, d0) = unpack_unsigned::<T>(cols[2 * p].add(b * T::BYTES), ahead);
                    let (u1, d1) = unpack_unsigned::<T>(cols[2 * p + 1].add(b * T::BYTES), ahead);
                    u[p] = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(u0), u1);
                    dw[p] = _mm512_castpd_ps(_mm512_insertf64x4::<1>(
                        _mm512_castpd256_pd512(_mm256_castps_pd(d0)),
                        _mm256_castps_pd(d1),
                    ));
                }
                for (r, acc) in acc.iter_mut().enumerate() {
                    let ab = &*a.add(r * nb + b);
                    let av = _mm512_broadcast_i64x4(_mm256_loadu_si256(
                        ab.qs.as_ptr() as *const __m256i
                    ));
                    // -OFFSET * (sum of each 4 activation bytes): lanes become
                    // ggml's signed sums (see the 256-bit tile)
                    let neg_offs = if T::OFFSET != 0 {
                        _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, offs, av))
                    } else {
                        zero
                    };
                    if T::HAS_MIN {
                        mins[r] = _mm_fmadd_ps(mw, _mm_set1_ps(ab.s), mins[r]);
                    }
                    let da = _mm512_set1_ps(ab.d);
                    for p in 0..P {
                        let dot = _mm512_dpbusd_epi32(neg_offs, u[p], av);
                        let scale = _mm512_mul_ps(dw[p], da);
                        acc[p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, acc[p]);
                    }
                }
            }
            for r in 0..R {
                let mut m = [0f32; 4];
                _mm_storeu_ps(m.as_mut_ptr(), mins[r]);
                for p in 0..P {
                    let v = _mm512_castps_pd(acc[r][p]);
                    out[r][2 * p] = hsum(_mm256_castpd_ps(_mm512_castpd512_pd256(v)));
                    out[r][2 * p + 1] = hsum(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(v)));
                    if T::HAS_MIN {
                        out[r][2 * p] += m[2 * p];
                        out[r][2 * p + 1] += m[2 * p + 1];
                    }
                }
            }
        }
    }

    /// Rows r0..r0+R of columns c0..c1: 4 columns at a time, then a pair,
    /// then a last column paired with itself.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")]
    unsafe fn rows<T: Block32, const R: usize>(
        job: &Job<BlockQ8>,
        r0: usize,
        c0: usize,
        c1: usize,
    ) {
        // SAFETY: within this fn's contract: its pointers address whole blocks or
        // rows of the caller's slices, and its target features are available.
        unsafe {
            let a = job.acts.as_ptr().add(r0 * job.nb);
            let w = |c: usize| job.w.as_ptr().add(c * job.row_bytes);
            // weights 4 tiles on: rows are too short for the hardware
            // prefetcher when a GEMV streams them from DRAM
            let ahead = 16 * job.row_bytes;
            let mut c = c0;
            let mut out = [[0f32; 4]; R];
            while c + 4 <= c1 {
                tile::<T, R, 2>(
                    [w(c), w(c + 1), w(c + 2), w(c + 3)],
                    a,
                    job.nb,
                    ahead,
                    &mut out,
                );
                job.store(&out.map(|o| [o[0], o[1], o[2], o[3]]), r0, c);
                c += 4;
            }
            while c < c1 {
                let c2 = (c + 1).min(c1 - 1);
                tile::<T, R, 1>([w(c), w(c2), w(c), w(c2)], a, job.nb, ahead, &mut out);
                if c2 > c {
                    job.store(&out.map(|o| [o[0], o[1]]), r0, c);
                } else {
                    job.store(&out.map(|o| [o[0]]), r0, c);
                }
                c = c2 + 1;
            }
        }
    }

    /// Columns `c0..c1` of the output, all rows, in tiles of up to 8 rows x
    /// 4 columns.
    #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")]
    pub unsafe fn chunk<T: Block32>(job: &Job<BlockQ8>, c0: usize, c1: usize) {
        // SAFETY: within this fn's contract: its pointers address whole blocks or
        // rows of the caller's slices, and its target features are available.
        unsafe {
            row_tiles!(job, c0, c1, rows::<T>, [1, 2, 3, 4, 5, 6, 7], 8);
        }
    }
}

// ---- K-quants: ggml's AVX2 `ggml_vec_dot_q*_K_q8_K`, restructured so each
// 256-weight super-block (weights and scales) is unpacked once for a tile of
// activation rows.

/// Unpacks the 12 scale bytes of Q4_K/Q5_K into 8 scales then 8 mins
/// (ggml's `utmp` dance).
#[inline(always)]
unsafe fn k4_scales_mins(p: *const u8) -> [u32; 4] {
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
unsafe fn scale_shuffle_k4(i: usize) -> __m256i {
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
unsafe fn scale_shuffle_q6(g: usize) -> __m128i {
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

/// Q4_K/Q5_K minimum terms of each 64 weights: `mins` (i16 min_j) times
/// the activation sums of groups 2k and 2k+1, in lane k.
#[inline(always)]
unsafe fn mins64(mins: __m128i, y: &BlockQ8K) -> __m128i {
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
unsafe fn y8(y: &BlockQ8K, j: usize) -> __m256i {
    // SAFETY: within this fn's contract: its pointers address whole blocks or
    // rows of the caller's slices, and its target features are available.
    unsafe { _mm256_loadu_si256(y.qs.as_ptr().add(32 * j) as *const __m256i) }
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
unsafe fn hsum4x8(a: __m256i, b: __m256i, c: __m256i, d: __m256i) -> __m128i {
    // SAFETY: AVX2 is available (the callers' target features).
    unsafe {
        let h = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
        _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h))
    }
}

/// The sum of 8 i32 lanes.
#[inline(always)]
unsafe fn hsum_i32(x: __m256i) -> i32 {
    // SAFETY: within this fn's contract: its pointers address whole blocks or
    // rows of the caller's slices, and its target features are available.
    unsafe {
        hsum_i32_4(_mm_add_epi32(
            _mm256_castsi256_si128(x),
            _mm256_extracti128_si256(x, 1),
        ))
    }
}

/// One Q4_K/Q5_K super-block unpacked: its scales, and its 8 groups of 32
/// weights as bytes with their group scales as i16 pairs.
struct SuperBlock {
    d: f32,
    dmin: f32,
    /// The 8 group minimums as i16.
    mins: __m128i,
    q: [__m256i; 8],
    sc: [__m256i; 8],
}

/// Unpacks the super-block at `x` (Q5_K with `HIGH`).
#[inline(always)]
unsafe fn unpack_q45k<const HIGH: bool>(x: *const u8) -> SuperBlock {
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

/// The 256 weights of the Q6_K super-block at `x` as bytes 0..64 (the -32
/// is applied through the activation sums), 32 per vector in element order.
#[inline(always)]
unsafe fn q6k_bytes(x: *const u8) -> [__m256i; 8] {
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

/// Which K-quant a `k_isa` chunk runs.
pub const Q4K: u8 = 4;
pub const Q5K: u8 = 5;
pub const Q6K: u8 = 6;

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

k_isa!(k_avx2, "avx2,fma,f16c", madd_avx2, wide256);
k_isa!(
    k_avx512,
    "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni",
    madd_vnni,
    wide512
);
