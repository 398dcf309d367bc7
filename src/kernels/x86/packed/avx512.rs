//! The packed Q4_K kernel on AVX-512 VNNI: the parent's layout on 16 columns
//! per 512-bit vector, and `vpdpbusd` (64 u4 x i8 multiply-adds into i32,
//! activations broadcast from memory) instead of `vpmaddubsw` + `vpaddw`.
//! A 32-weight group's sum is then multiplied by its scale in i32 (exact, as
//! in the parent), so results are bit-identical to every other Q4_K kernel.
//!
//! Why: the GGUF-layout VNNI tile (`kquant::tiles::avx512`) unpacks each super-block per
//! column and spends about as many instructions reshuffling as multiplying;
//! on Zen 5, with full-width 512-bit pipes, it reached half of llama.cpp's
//! repacked Q4_K in prefill.

use candle_core::quantized::GgmlDType;

use super::*;
use crate::kernels::scalar::Q6_K_BYTES;
use crate::kernels::x86::kquant::unpack::q6k_bytes;
use crate::kernels::x86::kquant::Q6K;

/// Columns per packed group: one per i32 lane of a 512-bit vector.
const WIDE: usize = 16;

/// Rows from which packing pays here: the VNNI tiles are faster per row than
/// AVX2's (Zen 5, 896x4864, 2 threads: packing ~170 µs, 7 µs per row packed,
/// 27 µs per row in the GGUF layout).
const MIN_ROWS_VNNI: usize = 10;

/// The same for a decode batch (independent rows), where the GGUF-layout
/// tiles take 4 rows per pass over the weights: packing pays from 6 rows
/// (Zen 5, 2 threads, the 1.5B's Q4_K shapes, time before / after: 1.1-1.4x
/// at 6 rows, 1.28-1.45x at 8; 5 rows 1.0-1.1x, within noise).
const MIN_ROWS_VNNI_DECODE: usize = 6;

/// With the packed copy kept (`kernels::kept`), packing is free and the
/// packed tiles win from 2 rows (model 207, 8960x1536, 2 threads, against
/// the GGUF-layout kernels: 1.4x at 2 rows, 2.0x at 4, 1.8x at 8, 2.1x at 16).
const MIN_ROWS_VNNI_KEPT: usize = 2;

/// Weights this big (an lm_head) stream from memory however they are read,
/// and there the GGUF-layout tiles stay faster up to ~12 rows (151936x1024:
/// 0.7-0.9x packed at 6 and 8 rows).
const STREAMED_BYTES: usize = 64 << 20;

/// One super-block of 16 columns, interleaved, scales unpacked.
#[derive(Clone, Copy)]
#[repr(C)]
pub(super) struct Packed16 {
    /// As `Packed::q`, lane l holding column l.
    pub(super) q: [[__m512i; 8]; 4],
    /// Group j's scale of column l as the i32 of lane l.
    pub(super) sc: [__m512i; 8],
    /// As `Packed::mins`.
    pub(super) mins: [__m512i; 4],
    pub(super) d: __m512,
    pub(super) dmin: __m512,
}

thread_local! {
    static SCRATCH: Scratch<Packed16> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Packs `cols` (1..=16) weight rows starting at `w` (the rest as zeros) into
/// `out`, one `Packed16` per super-block.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")]
pub(super) unsafe fn pack(w: *const u8, row_bytes: usize, cols: usize, out: &mut [Packed16]) {
    // SAFETY: `w` addresses `cols` whole rows of `out.len()` super-blocks;
    // the target features are available.
    unsafe {
        let zero = _mm256_setzero_si256();
        for (i, p) in out.iter_mut().enumerate() {
            let (mut d, mut dmin) = ([0f32; WIDE], [0f32; WIDE]);
            let mut sc = [[0i32; WIDE]; 8];
            let mut mins = [[0i16; 2 * WIDE]; 4];
            // q[half][h][l]: column 8 half + l's nibble bytes of weights 64h..64h+64
            let mut q = [[[zero; GROUP]; 4]; 2];
            for l in 0..cols {
                let x = w.add(l * row_bytes + i * Q4_K_BYTES);
                d[l] = read_f16(x);
                dmin[l] = read_f16(x.add(2));
                let bytes: [u8; 16] = std::mem::transmute(k4_scales_mins(x.add(4)));
                for (j, sc) in sc.iter_mut().enumerate() {
                    sc[l] = bytes[j] as i32;
                }
                for (k, mins) in mins.iter_mut().enumerate() {
                    mins[2 * l] = bytes[8 + 2 * k] as i16;
                    mins[2 * l + 1] = bytes[9 + 2 * k] as i16;
                }
                for (h, q) in q[l / GROUP].iter_mut().enumerate() {
                    q[l % GROUP] = _mm256_loadu_si256(x.add(16 + 32 * h) as *const __m256i);
                }
            }
            let [lo, hi] = q.map(|half| half.map(|h| transpose8(h)));
            p.q = std::array::from_fn(|h| {
                std::array::from_fn(|c| {
                    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo[h][c]), hi[h][c])
                })
            });
            p.sc = sc.map(|v| _mm512_loadu_si512(v.as_ptr() as *const __m512i));
            p.mins = mins.map(|v| _mm512_loadu_si512(v.as_ptr() as *const __m512i));
            p.d = _mm512_loadu_ps(d.as_ptr());
            p.dmin = _mm512_loadu_ps(dmin.as_ptr());
        }
    }
}

/// R activation rows from `a` against one packed group: 16 columns per row,
/// in the same f32 steps as the parent's `tile` (`GEMM`: llama.cpp's 4-row
/// order, fused per 64 weights; else its one-row order, per super-block).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")]
unsafe fn tile<const R: usize, const GEMM: bool>(
    p: &[Packed16],
    a: *const BlockQ8K,
    nb: usize,
) -> [__m512; R] {
    // SAFETY: `a` addresses R rows of `nb` blocks, `p` has `nb` entries; the
    // target features are available.
    unsafe {
        let zero = _mm512_setzero_si512();
        let m4 = _mm512_set1_epi8(0xf);
        let mut acc = [_mm512_setzero_ps(); R];
        let mut acc_m = [_mm512_setzero_ps(); R];
        for (i, b) in p.iter().enumerate() {
            let y: [&BlockQ8K; R] = std::array::from_fn(|r| &*a.add(r * nb + i));
            let yd: [__m512; R] = std::array::from_fn(|r| _mm512_set1_ps(y[r].d));
            // the activation sums of each 32 as i16, pairs (2k, 2k+1) per i32
            let bs: [[i32; 4]; R] = std::array::from_fn(|r| {
                let v = _mm256_loadu_si256(y[r].bsums.as_ptr() as *const __m256i);
                let h = _mm_hadd_epi16(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
                std::mem::transmute::<__m128i, [i32; 4]>(h)
            });
            let mins =
                |r: usize, k: usize| _mm512_madd_epi16(b.mins[k], _mm512_set1_epi32(bs[r][k]));
            let mut s = [zero; R];
            for k in 0..4 {
                for half in 0..2 {
                    let j = 2 * k + half;
                    let mut v = [zero; R];
                    for c in 0..8 {
                        let raw = b.q[k][c];
                        let w = if half == 0 {
                            _mm512_and_si512(raw, m4)
                        } else {
                            _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4)
                        };
                        for r in 0..R {
                            let at = y[r].qs.as_ptr().add(32 * j + 4 * c) as *const i32;
                            let x = _mm512_set1_epi32(at.read_unaligned());
                            v[r] = _mm512_dpbusd_epi32(v[r], w, x);
                        }
                    }
                    for r in 0..R {
                        s[r] = _mm512_add_epi32(s[r], _mm512_mullo_epi32(v[r], b.sc[j]));
                    }
                }
                if GEMM {
                    for r in 0..R {
                        let (dd, dm) = (_mm512_mul_ps(b.d, yd[r]), _mm512_mul_ps(b.dmin, yd[r]));
                        acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[r]), dd, acc[r]);
                        acc_m[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(mins(r, k)), dm, acc_m[r]);
                        s[r] = zero;
                    }
                }
            }
            if !GEMM {
                for r in 0..R {
                    let m = (1..4).fold(mins(r, 0), |m, k| _mm512_add_epi32(m, mins(r, k)));
                    let (dd, dm) = (_mm512_mul_ps(b.d, yd[r]), _mm512_mul_ps(b.dmin, yd[r]));
                    acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[r]), dd, acc[r]);
                    acc_m[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(m), dm, acc_m[r]);
                }
            }
        }
        std::array::from_fn(|r| _mm512_sub_ps(acc[r], acc_m[r]))
    }
}

/// Rows r0..r0+R of one packed group of `cols` columns at c0.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")]
unsafe fn rows<const R: usize>(
    job: &Job<BlockQ8K>,
    p: &[Packed16],
    r0: usize,
    c0: usize,
    cols: usize,
) {
    // SAFETY: rows r0..r0+R exist (the caller's tiling), `p` has `job.nb` entries.
    unsafe {
        let a = job.acts.as_ptr().add(r0 * job.nb);
        let out = if R == 4 && !job.independent {
            tile::<R, true>(p, a, job.nb)
        } else {
            tile::<R, false>(p, a, job.nb)
        };
        store(job, &out, r0, c0, cols);
    }
}

/// Q4_K columns `c0..c1` for all rows: packed 16 columns at a time when there
/// are enough rows, otherwise the GGUF-layout VNNI tiles.
///
/// # Safety
/// AVX-512 F, VL, BW and VNNI (and AVX2, FMA, F16C) are available; `job`
/// holds Q4_K weights.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")]
pub unsafe fn chunk_q4k(job: &Job<BlockQ8K>, c0: usize, c1: usize) {
    // SAFETY: as this fn's contract; pointers stay within `job`'s slices.
    unsafe {
        let min_rows = if job.kept.is_some() {
            MIN_ROWS_VNNI_KEPT
        } else if job.independent && job.n * job.row_bytes < STREAMED_BYTES {
            MIN_ROWS_VNNI_DECODE
        } else {
            MIN_ROWS_VNNI
        };
        // every row in the one-row order (below 4 rows a sequence has no GEMM group)
        if job.m < min_rows && (job.independent || job.m < 4) {
            return gemv::avx512::chunk_q4k(job, c0, c1);
        }
        if job.m < min_rows {
            return tiles::avx512::chunk::<{ Q4K }>(job, c0, c1);
        }
        groups(
            &SCRATCH,
            job.nb,
            WIDE,
            (c0, c1),
            job.kept.map(|k| (k, job.n)),
            |g, cols, out| pack_group(job, g, cols, out),
            |packed, g, cols| tiles4!(job.m, |r0, R| rows::<R>(job, packed, r0, g, cols)),
        );
    }
}

/// Packs the Q4_K columns `g..g + cols` of `job` into `out`.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")]
unsafe fn pack_group(job: &Job<BlockQ8K>, g: usize, cols: usize, out: &mut [Packed16]) {
    // SAFETY: columns g..g + cols are rows of `job.w`, `out` has `nb` entries;
    // the target features are available.
    unsafe {
        pack(
            job.w.as_ptr().add(g * job.row_bytes),
            job.row_bytes,
            cols,
            out,
        )
    }
}

/// The kept packed copy of the Q4_K columns `g..g + cols` (`g` a multiple of
/// 16), made now if it is not yet: the copy this kernel reads, shared with
/// the AMX kernel's repacking. `None` when no copies are kept.
///
/// # Safety
/// As `chunk_q4k`.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")]
pub(super) unsafe fn kept_group<'a>(
    job: &Job<'a, BlockQ8K>,
    g: usize,
    cols: usize,
) -> Option<&'a [Packed16]> {
    kept_copy(job.kept?, (job.n, job.nb, WIDE), g, cols, |g, cols, out| {
        // SAFETY: as this fn's contract.
        unsafe { pack_group(job, g, cols, out) }
    })
}

/// One Q6_K super-block of 16 columns, interleaved, weights as bytes.
#[derive(Clone, Copy)]
#[repr(C)]
struct Packed6 {
    /// `q[t]`: the weights 4t..4t+4 of column l (0..64, as bytes) in i32 lane l.
    q: [__m512i; 64],
    /// The scale of 16-weight group g of column l as the i32 of lane l.
    sc: [__m512i; 16],
    /// The scales of groups 2p and 2p+1 of column l as the i16 pair of lane l.
    sc_pairs: [__m512i; 8],
    d: __m512,
}

thread_local! {
    static SCRATCH_6: Scratch<Packed6> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Packs `cols` (1..=16) Q6_K weight rows starting at `w` (the rest as zeros)
/// into `out`, one `Packed6` per super-block.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")]
unsafe fn pack6(w: *const u8, row_bytes: usize, cols: usize, out: &mut [Packed6]) {
    // SAFETY: `w` addresses `cols` whole rows of `out.len()` super-blocks;
    // the target features are available.
    unsafe {
        let zero = _mm256_setzero_si256();
        for (i, p) in out.iter_mut().enumerate() {
            let mut d = [0f32; WIDE];
            let mut sc = [[0i32; WIDE]; 16];
            let mut pairs = [[0i16; 2 * WIDE]; 8];
            // q[half][g][l]: column 8 half + l's weights 32g..32g+32
            let mut q = [[[zero; GROUP]; 8]; 2];
            for l in 0..cols {
                let x = w.add(l * row_bytes + i * Q6_K_BYTES);
                d[l] = read_f16(x.add(208));
                for g in 0..16 {
                    let s = *x.add(192 + g) as i8;
                    sc[g][l] = s as i32;
                    pairs[g / 2][2 * l + g % 2] = s as i16;
                }
                let bytes = q6k_bytes(x);
                for (g, q) in q[l / GROUP].iter_mut().enumerate() {
                    q[l % GROUP] = bytes[g];
                }
            }
            let [lo, hi] = q.map(|half| half.map(|g| transpose8(g)));
            p.q = std::array::from_fn(|t| {
                let (g, c) = (t / 8, t % 8);
                _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo[g][c]), hi[g][c])
            });
            p.sc = sc.map(|v| _mm512_loadu_si512(v.as_ptr() as *const __m512i));
            p.sc_pairs = pairs.map(|v| _mm512_loadu_si512(v.as_ptr() as *const __m512i));
            p.d = _mm512_loadu_ps(d.as_ptr());
        }
    }
}

/// R activation rows from `a` against one packed Q6_K group, 16 columns per
/// row, in `scalar::dot_q6_k`'s batched order (one super-block sum per step).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")]
unsafe fn tile6<const R: usize>(p: &[Packed6], a: *const BlockQ8K, nb: usize) -> [__m512; R] {
    // SAFETY: `a` addresses R rows of `nb` blocks, `p` has `nb` entries; the
    // target features are available.
    unsafe {
        let zero = _mm512_setzero_si512();
        let mut acc = [_mm512_setzero_ps(); R];
        for (i, b) in p.iter().enumerate() {
            let y: [&BlockQ8K; R] = std::array::from_fn(|r| &*a.add(r * nb + i));
            let mut s = [zero; R];
            for g in 0..16 {
                let mut v = [zero; R];
                for t in 4 * g..4 * g + 4 {
                    for r in 0..R {
                        let at = y[r].qs.as_ptr().add(4 * t) as *const i32;
                        let x = _mm512_set1_epi32(at.read_unaligned());
                        v[r] = _mm512_dpbusd_epi32(v[r], b.q[t], x);
                    }
                }
                for r in 0..R {
                    s[r] = _mm512_add_epi32(s[r], _mm512_mullo_epi32(v[r], b.sc[g]));
                }
            }
            for r in 0..R {
                // the -32 of every weight: 32 * sum_g scale_g * bsum_g
                let bs = y[r].bsums.as_ptr() as *const i32;
                let mut corr = zero;
                for (k, pair) in b.sc_pairs.iter().enumerate() {
                    let x = _mm512_set1_epi32(bs.add(k).read_unaligned());
                    corr = _mm512_dpwssd_epi32(corr, *pair, x);
                }
                let sum = _mm512_sub_epi32(s[r], _mm512_slli_epi32(corr, 5));
                let sd = _mm512_mul_ps(_mm512_cvtepi32_ps(sum), b.d);
                acc[r] = _mm512_fmadd_ps(sd, _mm512_set1_ps(y[r].d), acc[r]);
            }
        }
        acc
    }
}

/// Q6_K columns `c0..c1` for all rows: packed 16 columns at a time in the
/// batched order (fused prompts, or a gemma3 prefill of 8+ rows) when there
/// are enough rows, otherwise the GGUF-layout VNNI tiles.
///
/// # Safety
/// As `chunk_q4k`; `job` holds Q6_K weights.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")]
pub unsafe fn chunk_q6k(job: &Job<BlockQ8K>, c0: usize, c1: usize) {
    // SAFETY: as this fn's contract; pointers stay within `job`'s slices.
    unsafe {
        if job.m < MIN_ROWS_VNNI || !job.batched_k(GgmlDType::Q6K, 0) {
            return tiles::avx512::chunk::<{ Q6K }>(job, c0, c1);
        }
        groups(
            &SCRATCH_6,
            job.nb,
            WIDE,
            (c0, c1),
            None,
            |g, cols, out| {
                let w = job.w.as_ptr().add(g * job.row_bytes);
                pack6(w, job.row_bytes, cols, out)
            },
            |packed, g, cols| {
                tiles4!(job.m, |r0, R| {
                    let a = job.acts.as_ptr().add(r0 * job.nb);
                    store(job, &tile6::<R>(packed, a, job.nb), r0, g, cols);
                })
            },
        );
    }
}
