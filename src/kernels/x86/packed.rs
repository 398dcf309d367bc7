//! Q4_K on AVX2 for many activation rows: each thread repacks the 8 weight
//! columns it is about to use into an interleaved layout with the scales
//! unpacked (in the spirit of llama.cpp's `block_q4_Kx8`, but built on the fly
//! in a scratch buffer, so the weights stay in the read-only map of the GGUF),
//! then runs every row over them.
//!
//! Why: in the GGUF layout one vector holds 32 weights of one column, so each
//! `vpmaddubsw` (32 multiply-adds) needs its own `vpmaddwd` to apply the
//! group scale, and on CPUs with one vector-multiply pipe (AMD Zen 2/3) the
//! two share it. Here i32 lane l of a vector holds 4 consecutive weights of
//! column l: a `vpmaddubsw` with a broadcast of 4 activation bytes gives 8
//! columns' partial sums, which add up in i16 over a whole 32-weight group
//! (16 products of u4 x i8: at most 30,720) before one `vpmaddwd` applies the
//! 8 columns' scales: 9 multiplies per 256 multiply-adds instead of 16.
//!
//! The integer sums are exact and the f32 steps are `scalar::dot_q45k`'s, so
//! results are bit-identical to the other Q4_K kernels in either order.
//!
//! Q5_0 (and any 32-element format with unsigned weights and no minimum) gets
//! the same layout for prompts (`Rows::Prompt`, `Job::fused`): 4 chunks of
//! u5 x i8 pairs add up in i16 (at most 31,496), and each block's whole sum
//! is fused at once, the order `scalar::lanes32` computes with `fused`.

use std::arch::x86_64::*;

use super::block32::{fifth_bits, read_f16, Block32};
use super::kquant::unpack::k4_scales_mins;
use super::kquant::{gemv, tiles, Q4K};
use crate::kernels::quantize::{BlockQ8, BlockQ8K};
use crate::kernels::scalar::Q4_K_BYTES;
use crate::kernels::{Job, Kept};

/// Columns per packed group.
const GROUP: usize = 8;

/// Rows below which packing (once per 8 columns per call) costs more than it
/// saves: the GGUF-layout tiles unpack per row tile instead.
pub const MIN_ROWS: usize = 8;

/// The same when the packed copy is kept (`kernels::kept`), so packing is
/// free: from 4 rows (model 207 on these AVX2 kernels, 8960x1536, 2 threads:
/// 1.35x the GGUF-layout kernels at 4 rows, 1.44x at 8, 1.58x at 16; at 2
/// rows even).
const MIN_ROWS_KEPT: usize = 4;

/// One super-block of 8 columns, interleaved, scales unpacked.
#[derive(Clone, Copy)]
#[repr(C)]
struct Packed {
    /// `q[h][c]`: bytes 32h+4c..32h+4c+4 of column l's nibbles in i32 lane l:
    /// weights 64h+4c.. (group 2h) low, 64h+32+4c.. (group 2h+1) high.
    q: [[__m256i; 8]; 4],
    /// Group j's scale of column l as the i16 pair of lane l.
    sc: [__m256i; 8],
    /// The minimums of groups 2k and 2k+1 of column l as the i16 pair of lane l.
    mins: [__m256i; 4],
    d: __m256,
    dmin: __m256,
}

/// One block of a 32-element format for 8 columns, interleaved.
#[derive(Clone, Copy)]
#[repr(C)]
struct Packed32 {
    /// `q[c]`: the unsigned weights 4c..4c+4 of column l in i32 lane l.
    q: [__m256i; 8],
    d: __m256,
}

type Scratch<P> = std::cell::RefCell<Vec<P>>;

thread_local! {
    static SCRATCH_K: Scratch<Packed> = const { std::cell::RefCell::new(Vec::new()) };
    static SCRATCH_32: Scratch<Packed32> = const { std::cell::RefCell::new(Vec::new()) };
}

/// For each group of up to `width` columns in `c0..c1`: `pack(first column, columns,
/// scratch)` into this thread's scratch of `nb` entries, then `run(packed,
/// first column, columns)`. With `kept` (the tensor's kept copies and its
/// column count), each group is packed once, the first time, and kept.
fn groups<P: Copy + Send + Sync + 'static>(
    scratch: &'static std::thread::LocalKey<Scratch<P>>,
    nb: usize,
    width: usize,
    (c0, c1): (usize, usize),
    kept: Option<(&Kept, usize)>,
    pack: impl Fn(usize, usize, &mut [P]),
    run: impl Fn(&[P], usize, usize),
) {
    if let Some((kept, n)) = kept {
        let mut g = c0;
        while g < c1 {
            let cols = (c1 - g).min(width);
            match kept_copy(kept, (n, nb, width), g, cols, &pack) {
                Some(packed) => run(packed, g, cols),
                None => packing(scratch, nb, width, (g, g + cols), &pack, &run),
            }
            g += cols;
        }
        return;
    }
    packing(scratch, nb, width, (c0, c1), &pack, &run)
}

/// The kept copy of the group of `cols` columns from `g` (a multiple of
/// `width`) of a tensor of `n` columns and `nb` super-blocks per column,
/// made by `pack(g, cols, out)` the first time.
fn kept_copy<P: Copy + Send + Sync + 'static>(
    kept: &Kept,
    (n, nb, width): (usize, usize, usize),
    g: usize,
    cols: usize,
    pack: impl FnOnce(usize, usize, &mut [P]),
) -> Option<&[P]> {
    kept.group(g / width, n.div_ceil(width), || {
        // SAFETY: the packed types are vectors and floats: all-zero bytes
        // are valid values.
        let mut v = vec![unsafe { std::mem::zeroed() }; nb];
        pack(g, cols, &mut v);
        v
    })
}

/// [`groups`] without kept copies: each packed into the thread's scratch.
fn packing<P: Copy + 'static>(
    scratch: &'static std::thread::LocalKey<Scratch<P>>,
    nb: usize,
    width: usize,
    (c0, c1): (usize, usize),
    pack: &impl Fn(usize, usize, &mut [P]),
    run: &impl Fn(&[P], usize, usize),
) {
    scratch.with_borrow_mut(|scratch| {
        // Grown only: matmuls of different depths alternate (k = 1536, 8960),
        // and shrinking would zero the entries again on every deeper one.
        if scratch.len() < nb {
            // SAFETY: the packed types are vectors and floats: all-zero bytes
            // are valid values.
            scratch.resize(nb, unsafe { std::mem::zeroed() });
        }
        let packed = &mut scratch[..nb];
        let mut g = c0;
        while g < c1 {
            let cols = (c1 - g).min(width);
            pack(g, cols, packed);
            run(packed, g, cols);
            g += cols;
        }
    });
}

/// Calls `tile(r0, rows)` for rows 0..m in tiles of 4 (the rest last), with
/// the tile height as a const.
macro_rules! tiles4 {
    ($m:expr, |$r0:ident, $R:ident| $body:expr) => {{
        let mut $r0 = 0;
        while $r0 < $m {
            let n = ($m - $r0).min(4);
            match n {
                1 => {
                    const $R: usize = 1;
                    $body
                }
                2 => {
                    const $R: usize = 2;
                    $body
                }
                3 => {
                    const $R: usize = 3;
                    $body
                }
                _ => {
                    const $R: usize = 4;
                    $body
                }
            }
            $r0 += n;
        }
    }};
}

/// Transposes 8 vectors of 8 i32 lanes: lane c of output l is lane l of input c.
#[inline(always)]
pub(super) unsafe fn transpose8(r: [__m256i; 8]) -> [__m256i; 8] {
    // SAFETY: register operations only; AVX2 is available to every caller.
    unsafe {
        let t: [__m256i; 8] = std::array::from_fn(|i| {
            let (a, b) = (r[2 * (i / 2)], r[2 * (i / 2) + 1]);
            if i % 2 == 0 {
                _mm256_unpacklo_epi32(a, b)
            } else {
                _mm256_unpackhi_epi32(a, b)
            }
        });
        // u[4h + x]: rows 4h..4h+4, elements x (low half) and x + 4 (high half)
        let u: [__m256i; 8] = std::array::from_fn(|i| {
            let (h, x) = (i / 4, i % 4);
            let (a, b) = (t[4 * h + x / 2], t[4 * h + 2 + x / 2]);
            if x % 2 == 0 {
                _mm256_unpacklo_epi64(a, b)
            } else {
                _mm256_unpackhi_epi64(a, b)
            }
        });
        std::array::from_fn(|c| {
            let (lo, hi) = (u[c % 4], u[4 + c % 4]);
            if c < 4 {
                _mm256_permute2x128_si256::<0x20>(lo, hi)
            } else {
                _mm256_permute2x128_si256::<0x31>(lo, hi)
            }
        })
    }
}

/// Packs `cols` (1..=8) weight rows starting at `w` (the rest as zeros) into
/// `out`, one `Packed` per super-block.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn pack(w: *const u8, row_bytes: usize, cols: usize, out: &mut [Packed]) {
    // SAFETY: `w` addresses `cols` whole rows of `out.len()` super-blocks;
    // AVX2 is available.
    unsafe {
        let zero = _mm256_setzero_si256();
        for (i, p) in out.iter_mut().enumerate() {
            // The 8 group scales and minimums go through vectors, not scalar
            // stores reloaded as vectors (store forwarding fails on those: at
            // m = 8, 12 such reloads per super-block made packing cost about
            // four rows of compute); d and dmin are two reloads, left as they are.
            let mut d = [0f32; GROUP];
            let mut dmin = [0f32; GROUP];
            // column l's 16 scale bytes: [sc 0-7 | min 0-7]
            let mut b = [_mm_setzero_si128(); GROUP];
            // column l's 32 nibble bytes of weights 64h..64h+64, 4 per i32 lane
            let mut q = [[zero; GROUP]; 4];
            for l in 0..cols {
                let x = w.add(l * row_bytes + i * Q4_K_BYTES);
                d[l] = read_f16(x);
                dmin[l] = read_f16(x.add(2));
                let u = k4_scales_mins(x.add(4));
                b[l] = _mm_setr_epi32(u[0] as i32, u[1] as i32, u[2] as i32, u[3] as i32);
                for (h, q) in q.iter_mut().enumerate() {
                    q[l] = _mm256_loadu_si256(x.add(16 + 32 * h) as *const __m256i);
                }
            }
            // byte j of every column: rows[j] holds columns 0..8 in bytes 0..8
            let rows = transpose_bytes(b);
            p.q = q.map(|cols| transpose8(cols));
            p.sc = std::array::from_fn(|j| {
                // column l's scale j as the i16 pair of lane l
                let v = _mm256_cvtepu8_epi32(rows[j]);
                _mm256_or_si256(v, _mm256_slli_epi32::<16>(v))
            });
            p.mins = std::array::from_fn(|k| {
                // column l's minimums 2k, 2k + 1 as the i16 pair of lane l
                _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(rows[8 + 2 * k], rows[9 + 2 * k]))
            });
            p.d = _mm256_setr_ps(d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]);
            p.dmin = _mm256_setr_ps(
                dmin[0], dmin[1], dmin[2], dmin[3], dmin[4], dmin[5], dmin[6], dmin[7],
            );
        }
    }
}

/// Transposes 8 rows of 16 bytes: output j holds byte j of rows 0..8 in its
/// low 8 bytes.
#[inline(always)]
unsafe fn transpose_bytes(r: [__m128i; 8]) -> [__m128i; 16] {
    // SAFETY: register operations only; SSE2 is the x86_64 baseline.
    unsafe {
        // t[2p + half]: rows 2p, 2p + 1 interleaved, bytes 8 * half..
        let t: [__m128i; 8] = std::array::from_fn(|i| {
            let (a, b) = (r[2 * (i / 2)], r[2 * (i / 2) + 1]);
            if i % 2 == 0 {
                _mm_unpacklo_epi8(a, b)
            } else {
                _mm_unpackhi_epi8(a, b)
            }
        });
        // u[4g + x]: rows 4g..4g+4, bytes 4x..4x+4, 4 rows per byte
        let u: [__m128i; 8] = std::array::from_fn(|i| {
            let (g, x) = (i / 4, i % 4);
            let (a, b) = (t[4 * g + x / 2], t[4 * g + 2 + x / 2]);
            if x % 2 == 0 {
                _mm_unpacklo_epi16(a, b)
            } else {
                _mm_unpackhi_epi16(a, b)
            }
        });
        // bytes 2y, 2y + 1 of all 8 rows: [byte 2y: rows 0-7 | byte 2y + 1: rows 0-7]
        let v: [__m128i; 8] = std::array::from_fn(|y| {
            let (a, b) = (u[y / 2], u[4 + y / 2]);
            if y % 2 == 0 {
                _mm_unpacklo_epi32(a, b)
            } else {
                _mm_unpackhi_epi32(a, b)
            }
        });
        std::array::from_fn(|j| {
            let pair = v[j / 2];
            if j % 2 == 0 {
                pair
            } else {
                _mm_unpackhi_epi64(pair, pair)
            }
        })
    }
}

/// R activation rows from `a` against one packed group: 8 columns per row, in
/// llama.cpp's 4-row GEMM order (`GEMM`: fused per 64 weights) or its one-row
/// order (fused per super-block).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tile<const R: usize, const GEMM: bool>(
    p: &[Packed],
    a: *const BlockQ8K,
    nb: usize,
) -> [__m256; R] {
    // SAFETY: `a` addresses R rows of `nb` blocks, `p` has `nb` entries; AVX2
    // is available.
    unsafe {
        let zero = _mm256_setzero_si256();
        let mut acc = [_mm256_setzero_ps(); R];
        let mut acc_m = [_mm256_setzero_ps(); R];
        for (i, b) in p.iter().enumerate() {
            let y: [&BlockQ8K; R] = std::array::from_fn(|r| &*a.add(r * nb + i));
            let yd: [__m256; R] = std::array::from_fn(|r| _mm256_set1_ps(y[r].d));
            // the activation sums of each 32 as i16, pairs (2k, 2k+1) per i32
            let bs: [[i32; 4]; R] = std::array::from_fn(|r| {
                let v = _mm256_loadu_si256(y[r].bsums.as_ptr() as *const __m256i);
                let h = _mm_hadd_epi16(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
                std::mem::transmute::<__m128i, [i32; 4]>(h)
            });
            // the minimum terms of 64 weights (k), 8 columns in lanes
            let mins =
                |r: usize, k: usize| _mm256_madd_epi16(b.mins[k], _mm256_set1_epi32(bs[r][k]));
            let mut s = [zero; R];
            let m4 = _mm256_set1_epi8(0xf);
            for k in 0..4 {
                // groups 2k (low nibbles) and 2k + 1 (high)
                for half in 0..2 {
                    let j = 2 * k + half;
                    let mut v = [zero; R];
                    for c in 0..8 {
                        let raw = b.q[k][c];
                        let w = if half == 0 {
                            _mm256_and_si256(raw, m4)
                        } else {
                            _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4)
                        };
                        for r in 0..R {
                            let at = y[r].qs.as_ptr().add(32 * j + 4 * c) as *const i32;
                            let x = _mm256_set1_epi32(at.read_unaligned());
                            v[r] = _mm256_add_epi16(v[r], _mm256_maddubs_epi16(w, x));
                        }
                    }
                    for r in 0..R {
                        s[r] = _mm256_add_epi32(s[r], _mm256_madd_epi16(v[r], b.sc[j]));
                    }
                }
                if GEMM {
                    for r in 0..R {
                        let (dd, dm) = (_mm256_mul_ps(b.d, yd[r]), _mm256_mul_ps(b.dmin, yd[r]));
                        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[r]), dd, acc[r]);
                        acc_m[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mins(r, k)), dm, acc_m[r]);
                        s[r] = zero;
                    }
                }
            }
            if !GEMM {
                for r in 0..R {
                    let m = (1..4).fold(mins(r, 0), |m, k| _mm256_add_epi32(m, mins(r, k)));
                    let (dd, dm) = (_mm256_mul_ps(b.d, yd[r]), _mm256_mul_ps(b.dmin, yd[r]));
                    acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[r]), dd, acc[r]);
                    acc_m[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(m), dm, acc_m[r]);
                }
            }
        }
        std::array::from_fn(|r| _mm256_sub_ps(acc[r], acc_m[r]))
    }
}

/// Rows r0..r0+R of one packed group of `cols` columns at c0.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn rows<const R: usize>(
    job: &Job<BlockQ8K>,
    p: &[Packed],
    r0: usize,
    c0: usize,
    cols: usize,
) {
    // SAFETY: rows r0..r0+R exist (the caller's tiling), `p` has `job.nb` entries.
    unsafe {
        let a = job.acts.as_ptr().add(r0 * job.nb);
        // a whole group of 4 rows of one sequence: llama.cpp's GEMM order
        let out = if R == 4 && !job.independent {
            tile::<R, true>(p, a, job.nb)
        } else {
            tile::<R, false>(p, a, job.nb)
        };
        store(job, &out, r0, c0, cols);
    }
}

/// Q4_K columns `c0..c1` for all rows: packed 8 columns at a time when there
/// are enough rows, otherwise the GGUF-layout tiles.
///
/// # Safety
/// AVX2, FMA and F16C are available; `job` holds Q4_K weights.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn chunk_q4k(job: &Job<BlockQ8K>, c0: usize, c1: usize) {
    // SAFETY: as this fn's contract; pointers stay within `job`'s slices.
    unsafe {
        // every row in the one-row order (below 4 rows a sequence has no GEMM group)
        let min_rows = if job.kept.is_some() {
            MIN_ROWS_KEPT
        } else {
            MIN_ROWS
        };
        if job.m < min_rows && (job.independent || job.m < 4) {
            return gemv::avx2::chunk_q4k(job, c0, c1);
        }
        if job.m < min_rows {
            return tiles::avx2::chunk::<{ Q4K }>(job, c0, c1);
        }
        groups(
            &SCRATCH_K,
            job.nb,
            GROUP,
            (c0, c1),
            job.kept.map(|k| (k, job.n)),
            |g, cols, out| {
                let w = job.w.as_ptr().add(g * job.row_bytes);
                pack(w, job.row_bytes, cols, out)
            },
            |packed, g, cols| tiles4!(job.m, |r0, R| rows::<R>(job, packed, r0, g, cols)),
        );
    }
}

/// Packs `cols` (1..=8) weight rows of format `T` starting at `w` (the rest as
/// zeros) into `out`, one `Packed32` per block.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn pack32<T: Block32>(w: *const u8, row_bytes: usize, cols: usize, out: &mut [Packed32]) {
    // SAFETY: `w` addresses `cols` whole rows of `out.len()` blocks; AVX2 is
    // available.
    unsafe {
        for (b, p) in out.iter_mut().enumerate() {
            let mut d = [0f32; GROUP];
            let mut q = [_mm256_setzero_si256(); GROUP];
            for l in 0..cols {
                let x = w.add(l * row_bytes + b * T::BYTES);
                d[l] = read_f16(x);
                q[l] = T::unpack(x);
                if T::QH != 0 {
                    q[l] = _mm256_or_si256(q[l], fifth_bits(x.add(T::QH)));
                }
            }
            p.q = transpose8(q);
            p.d = _mm256_loadu_ps(d.as_ptr());
        }
    }
}

/// R activation rows from `a` against one packed group of a 32-element
/// format: 8 columns per row, each block fused whole (`scalar::lanes32` with
/// `fused`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn tile32<T: Block32, const R: usize>(
    p: &[Packed32],
    a: *const BlockQ8,
    nb: usize,
) -> [__m256; R] {
    // SAFETY: `a` addresses R rows of `nb` blocks, `p` has `nb` entries; AVX2
    // is available.
    unsafe {
        let zero = _mm256_setzero_si256();
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_ps(); R];
        for (b, p) in p.iter().enumerate() {
            let y: [&BlockQ8; R] = std::array::from_fn(|r| &*a.add(r * nb + b));
            let mut s = [zero; R];
            // two halves of 4 chunks: u5 x i8 pairs stay within i16
            for half in 0..2 {
                let x = y.map(|y| y.qs.as_ptr().add(16 * half));
                add_run(&mut s, &p.q[4 * half..4 * half + 4], x, ones);
            }
            for r in 0..R {
                if T::OFFSET != 0 {
                    let offs = _mm256_set1_epi32(T::OFFSET * y[r].sum);
                    s[r] = _mm256_sub_epi32(s[r], offs);
                }
                let d = _mm256_mul_ps(p.d, _mm256_set1_ps(y[r].d));
                acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[r]), d, acc[r]);
            }
        }
        acc
    }
}

/// `s[r] +=` the products of one run of packed vectors `w` (8 columns in lanes,
/// 4 weights per lane) with row r's activations from `x[r]` (4 bytes per vector,
/// broadcast), summed in i16 (the caller keeps the run short enough), then
/// multiplied by `scale` per i16 pair into i32.
#[inline(always)]
unsafe fn add_run<const R: usize>(
    s: &mut [__m256i; R],
    w: &[__m256i],
    x: [*const i8; R],
    scale: __m256i,
) {
    // SAFETY: each `x[r]` addresses 4 bytes per vector of `w`; AVX2 is available
    // to every caller.
    unsafe {
        let mut v = [_mm256_setzero_si256(); R];
        for (c, w) in w.iter().enumerate() {
            for r in 0..R {
                let at = x[r].add(4 * c) as *const i32;
                let b = _mm256_set1_epi32(at.read_unaligned());
                v[r] = _mm256_add_epi16(v[r], _mm256_maddubs_epi16(*w, b));
            }
        }
        for r in 0..R {
            s[r] = _mm256_add_epi32(s[r], _mm256_madd_epi16(v[r], scale));
        }
    }
}

/// Columns `c0..c1` of a fused 32-element job (`Job::fused`), all rows.
///
/// # Safety
/// AVX2, FMA and F16C are available; `job` holds weights of format `T`,
/// which has unsigned weights of 5 bits at most and no minimum (Q4_0, Q5_0).
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn chunk32<T: Block32>(job: &Job<BlockQ8>, c0: usize, c1: usize) {
    // SAFETY: as this fn's contract; pointers stay within `job`'s slices.
    unsafe {
        const {
            assert!(
                !T::SIGNED && !T::HAS_MIN,
                "unsigned weights without a minimum"
            )
        };
        groups(
            &SCRATCH_32,
            job.nb,
            GROUP,
            (c0, c1),
            None,
            |g, cols, out| {
                let w = job.w.as_ptr().add(g * job.row_bytes);
                pack32::<T>(w, job.row_bytes, cols, out)
            },
            |packed, g, cols| {
                tiles4!(job.m, |r0, R| {
                    let a = job.acts.as_ptr().add(r0 * job.nb);
                    let out = tile32::<T, R>(packed, a, job.nb);
                    store(job, &out, r0, g, cols);
                })
            },
        );
    }
}

/// Writes the first `cols` lanes of each row's vector of f32 lanes (256 or
/// 512 bits) at (r0 + r, c0).
fn store<A: Sync, V: Copy>(job: &Job<A>, out: &[V], r0: usize, c0: usize, cols: usize) {
    const { assert!(std::mem::size_of::<V>() <= 64) };
    for (r, v) in out.iter().enumerate() {
        let mut row = [0f32; 16];
        // SAFETY: `V` is a vector of at most 16 f32 lanes (checked above).
        unsafe {
            let lanes = std::mem::size_of::<V>() / 4;
            std::ptr::copy_nonoverlapping(v as *const V as *const f32, row.as_mut_ptr(), lanes);
        }
        for (c, v) in row[..cols].iter().enumerate() {
            job.store(&[[*v]], r0 + r, c0 + c);
        }
    }
}

mod amx;
mod avx512;
mod q6k;
pub(in crate::kernels) use amx::tdpbsud;
pub use amx::{chunk_q4k as chunk_q4k_amx, usable as amx_usable};
pub use avx512::{chunk_q4k as chunk_q4k_vnni, chunk_q6k as chunk_q6k_vnni};
pub use q6k::chunk_q6k;
