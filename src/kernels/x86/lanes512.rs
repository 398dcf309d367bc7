//! The 32-element formats on AVX-512 VNNI. ggml's 8-lane order costs a dot,
//! a conversion, a scale and a fused add per block, row and column, which no
//! grouping of blocks can save (the f32 rounding of every step is the point).
//! 512-bit vectors carry two columns' 8 lanes at once, halving that work
//! (`vpdpbusd`, and 32 registers for the tile); the lanes and their
//! arithmetic are exactly `scalar::lanes32`'s.

use std::arch::x86_64::*;

use super::block32::{fifth_bits_bw, splat_f16, Block32};
use super::hsum::hsum;
use super::prefetch;
use crate::kernels::quantize::BlockQ8;
use crate::kernels::Job;

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
                let m = |i: usize| (cols[i].add(b * T::BYTES + 2) as *const i16).read_unaligned();
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
                let av =
                    _mm512_broadcast_i64x4(_mm256_loadu_si256(ab.qs.as_ptr() as *const __m256i));
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
unsafe fn rows<T: Block32, const R: usize>(job: &Job<BlockQ8>, r0: usize, c0: usize, c1: usize) {
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
