//! The 32-element formats on AVX2: an R x C register tile (R activation rows
//! x C weight rows), each weight block unpacked once per R rows and each
//! activation block loaded once per C columns. ggml's 8 f32 lanes per block
//! are kept (`scalar::lanes32`), with `maddubs` + `madd` for the integer
//! dot products.

use std::arch::x86_64::*;

use super::block32::{fifth_bits, splat_f16, Block32};
use super::hsum::hsum;
use super::prefetch;
use crate::kernels::quantize::BlockQ8;
use crate::kernels::Job;

/// Weight columns per tile.
const COLS: usize = 2;

/// Adds the u8 x i8 products of each 4 bytes of `u` and `s` into the i32
/// lanes of `acc`.
#[inline(always)]
unsafe fn dot(acc: __m256i, u: __m256i, s: __m256i) -> __m256i {
    // SAFETY: within this fn's contract: its pointers address whole blocks or
    // rows of the caller's slices, and its target features are available.
    unsafe {
        let pairs = _mm256_maddubs_epi16(u, s);
        _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
    }
}

/// `out[r][c]` = dot(weight row c, activation row r) over `nb` blocks.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
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
        // Q8_0's signed bytes take the sign trick (the unsigned form with
        // the +128 offset could overflow `maddubs`' i16 pairs).
        let sign_trick = T::SIGNED;
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
                    q[c] = _mm256_or_si256(q[c], fifth_bits(p.add(T::QH)));
                }
                u[c] = if sign_trick {
                    _mm256_sign_epi8(q[c], q[c])
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
                    _mm256_sub_epi32(zero, dot(zero, offs, av))
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
                    let p = dot(neg_offs, u[c], s);
                    let scale = _mm256_mul_ps(dw[c], da);
                    acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), scale, acc[r][c]);
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
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn rows<T: Block32, const R: usize>(job: &Job<BlockQ8>, r0: usize, c0: usize, c1: usize) {
    // SAFETY: within this fn's contract: its pointers address whole blocks or
    // rows of the caller's slices, and its target features are available.
    unsafe {
        let a = job.acts.as_ptr().add(r0 * job.nb);
        let w = |c: usize| job.w.as_ptr().add(c * job.row_bytes);
        let mut c = c0;
        while c + COLS <= c1 {
            let mut out = [[0f32; COLS]; R];
            tile::<T, R, COLS>(w(c), job.row_bytes, a, job.nb, &mut out);
            job.store(&out, r0, c);
            c += COLS;
        }
        for c in c..c1 {
            let mut out = [[0f32; 1]; R];
            tile::<T, R, 1>(w(c), job.row_bytes, a, job.nb, &mut out);
            job.store(&out, r0, c);
        }
    }
}

/// Columns `c0..c1` of the output, all rows, in tiles of up to 4 rows x
/// [`COLS`] columns.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn chunk<T: Block32>(job: &Job<BlockQ8>, c0: usize, c1: usize) {
    // SAFETY: within this fn's contract: its pointers address whole blocks or
    // rows of the caller's slices, and its target features are available.
    unsafe {
        row_tiles!(job, c0, c1, rows::<T>, [1, 2, 3], 4);
    }
}
