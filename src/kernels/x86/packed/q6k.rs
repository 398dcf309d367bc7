//! Q6_K prompts on AVX2: the parent's interleaved layout for 6-bit weights,
//! in the batched order (one super-block sum per step: fused prompts, or a
//! gemma3 prefill of 8+ rows).
//!
//! Why: the GGUF-layout tiles in that order reached 70-83 GFLOP/s at 128 rows
//! on Zen 3 (family 25 model 1, 1536x8960), under half of the packed Q4_K
//! kernel, and Q6_K holds the 1.5B's ffn_down in half its layers (16% of a
//! prefill there). Here i32 lane l of a vector holds 4 consecutive weights
//! (0..64, as bytes) of column l: a `vpmaddubsw` with a broadcast of 4
//! activation bytes gives 8 columns' partial sums. Two of those add up in i16
//! (u6 x i8 pairs: at most 32,256 in size), and one `vpmaddwd` per 8 weights
//! applies the 8 columns' 16-weight group scales: 12 multiplies per 256
//! multiply-adds instead of the GGUF layout's 16, and no horizontal sums.
//!
//! The integer sums are exact and the f32 steps are `scalar::dot_q6_k`'s
//! batched ones (as `avx512::tile6`), so results are bit-identical to the
//! other Q6_K kernels in that order.

use candle_core::quantized::GgmlDType;

use super::*;
use crate::kernels::scalar::Q6_K_BYTES;
use crate::kernels::x86::kquant::unpack::q6k_bytes;
use crate::kernels::x86::kquant::Q6K;

/// One Q6_K super-block of 8 columns, interleaved, weights as bytes.
#[derive(Clone, Copy)]
#[repr(C)]
struct Packed6 {
    /// `q[t]`: the weights 4t..4t+4 of column l (0..64, as bytes) in i32 lane l.
    q: [__m256i; 64],
    /// The scale of 16-weight group g of column l as both i16 of lane l.
    sc: [__m256i; 16],
    /// The scales of groups 2p and 2p+1 of column l as the i16 pair of lane l.
    sc_pairs: [__m256i; 8],
    d: __m256,
}

thread_local! {
    static SCRATCH: Scratch<Packed6> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Packs `cols` (1..=8) Q6_K weight rows starting at `w` (the rest as zeros)
/// into `out`, one `Packed6` per super-block.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn pack(w: *const u8, row_bytes: usize, cols: usize, out: &mut [Packed6]) {
    // SAFETY: `w` addresses `cols` whole rows of `out.len()` super-blocks;
    // AVX2 is available.
    unsafe {
        let zero = _mm256_setzero_si256();
        for (i, p) in out.iter_mut().enumerate() {
            let mut d = [0f32; GROUP];
            // column l's 16 group scales (i8)
            let mut sc = [_mm_setzero_si128(); GROUP];
            // q[g][l]: column l's weights 32g..32g+32
            let mut q = [[zero; GROUP]; 8];
            for l in 0..cols {
                let x = w.add(l * row_bytes + i * Q6_K_BYTES);
                d[l] = read_f16(x.add(208));
                sc[l] = _mm_loadu_si128(x.add(192) as *const __m128i);
                for (g, v) in q6k_bytes(x).into_iter().enumerate() {
                    q[g][l] = v;
                }
            }
            // scale j of every column: rows[j] holds columns 0..8 in bytes 0..8
            let rows = transpose_bytes(sc);
            let q = q.map(|cols| transpose8(cols));
            p.q = std::array::from_fn(|t| q[t / 8][t % 8]);
            p.sc =
                std::array::from_fn(|j| _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(rows[j], rows[j])));
            p.sc_pairs = std::array::from_fn(|k| {
                _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(rows[2 * k], rows[2 * k + 1]))
            });
            p.d = _mm256_loadu_ps(d.as_ptr());
        }
    }
}

/// R activation rows from `a` against one packed group, 8 columns per row,
/// in `scalar::dot_q6_k`'s batched order (one super-block sum per step).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tile<const R: usize>(p: &[Packed6], a: *const BlockQ8K, nb: usize) -> [__m256; R] {
    // SAFETY: `a` addresses R rows of `nb` blocks, `p` has `nb` entries; AVX2
    // is available.
    unsafe {
        let zero = _mm256_setzero_si256();
        let mut acc = [_mm256_setzero_ps(); R];
        for (i, b) in p.iter().enumerate() {
            let y: [&BlockQ8K; R] = std::array::from_fn(|r| &*a.add(r * nb + i));
            let mut s = [zero; R];
            // 8 weights (two vectors) at a time: their pairs' sums stay within i16
            for half in 0..32 {
                let x = y.map(|y| y.qs.as_ptr().add(8 * half));
                add_run(&mut s, &b.q[2 * half..2 * half + 2], x, b.sc[half / 2]);
            }
            for r in 0..R {
                // the -32 of every weight: 32 * sum_g scale_g * bsum_g
                let bs = y[r].bsums.as_ptr() as *const i32;
                let mut corr = zero;
                for (k, pair) in b.sc_pairs.iter().enumerate() {
                    let x = _mm256_set1_epi32(bs.add(k).read_unaligned());
                    corr = _mm256_add_epi32(corr, _mm256_madd_epi16(*pair, x));
                }
                let sum = _mm256_sub_epi32(s[r], _mm256_slli_epi32(corr, 5));
                let sd = _mm256_mul_ps(_mm256_cvtepi32_ps(sum), b.d);
                acc[r] = _mm256_fmadd_ps(sd, _mm256_set1_ps(y[r].d), acc[r]);
            }
        }
        acc
    }
}

/// Q6_K columns `c0..c1` for all rows: packed 8 columns at a time in the
/// batched order when there are enough rows, otherwise the GGUF-layout tiles
/// (which keep the one-row order of decode batches).
///
/// # Safety
/// AVX2, FMA and F16C are available; `job` holds Q6_K weights.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn chunk_q6k(job: &Job<BlockQ8K>, c0: usize, c1: usize) {
    // SAFETY: as this fn's contract; pointers stay within `job`'s slices.
    unsafe {
        if job.m < MIN_ROWS || !job.batched_k(GgmlDType::Q6K, 0) {
            return tiles::avx2::chunk::<{ Q6K }>(job, c0, c1);
        }
        groups(
            &SCRATCH,
            job.nb,
            GROUP,
            (c0, c1),
            None,
            |g, cols, out| {
                let w = job.w.as_ptr().add(g * job.row_bytes);
                pack(w, job.row_bytes, cols, out)
            },
            |packed, g, cols| {
                tiles4!(job.m, |r0, R| {
                    let a = job.acts.as_ptr().add(r0 * job.nb);
                    store(job, &tile::<R>(packed, a, job.nb), r0, g, cols);
                })
            },
        );
    }
}
