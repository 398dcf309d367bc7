//! Scalar reference dot products, one weight row against one quantized
//! activation row. The SIMD kernels are tested against these.
//!
//! Integer sums are exact whatever the order; the f32 accumulation follows
//! what llama.cpp's x86 CPU backend (AVX2/AVX-512 build) does for the same
//! matmul, so that results match it to the bit (gemma3's outlier activations
//! turn last-bit differences into visible logit drift):
//! - 32-element formats (`lanes32`): ggml's 8 f32 lanes, lane j of each
//!   block taking the integer sum of its elements 4j..4j+4, scaled and fused
//!   into the lane; one horizontal sum at the end. Both `ggml_vec_dot_q*_q8_0`
//!   (one token) and llamafile's `tinyBLAS_Q0_AVX` (batches of Q5_0/Q8_0) do
//!   exactly this; `ggml_vec_dot_q4_1_q8_1`/`q5_1` (all batches) also fuse
//!   min * s into a scalar, added last. (Q4_0 weights with rows in multiples
//!   of 8 are repacked by llama.cpp, which then sums otherwise.)
//! - Q4_K: llama.cpp repacks the weights (`q4_K_8x8`); its GEMV fuses one
//!   whole super-block integer sum per step, its 4-row GEMM one per 64
//!   weights, with the minimum terms in a second accumulator.
//! - Q6_K: one token `ggml_vec_dot_q6_K_q8_K`'s 8 lanes; batches of 8+ rows
//!   the tiled K-quant matmul (one super-block sum per step), which prompts
//!   (`Rows::Prompt`) in chunks of 8+ rows take too: it is per row, and it
//!   lets a kernel keep 16 columns in the lanes of a vector.
//! - Q5_K: as Q4_K (not llama.cpp's order: it doesn't repack Q5_K).
//!
//! One order is ours, for speed (`Rows::Prompt`, the prompts of every model
//! but gemma3, in chunks of 8+ rows): Q5_0 fuses each block's whole integer
//! sum into one f32 accumulator instead of ggml's 8 lanes, so a kernel can
//! keep 8 weight columns in the lanes of a vector (128 rows on 2 Zen 2
//! threads: 2.6x the 8-lane kernel's throughput). It differs from llama.cpp
//! in the last bits, within the Qwen models' parity tolerance; decode rows
//! and gemma3 keep ggml's order. (Fused Q4_1 moved SmolLM2's logits, which
//! are otherwise llama.cpp's own, by up to 1.006.)
//! Every ISA computes every order, so results do not depend on the CPU.

use super::f16::read_f16;
use super::quantize::{BlockQ8, BlockQ8K};

/// Weight block layouts (bytes): ggml's `block_*` structs, packed.
pub const Q4_0_BYTES: usize = 18; // d, qs[16]
pub const Q4_1_BYTES: usize = 20; // d, m, qs[16]
pub const Q5_0_BYTES: usize = 22; // d, qh[4], qs[16]
pub const Q5_1_BYTES: usize = 24; // d, m, qh[4], qs[16]
pub const Q8_0_BYTES: usize = 34; // d, qs[32]
pub const Q4_K_BYTES: usize = 144; // d, dmin, scales[12], qs[128]
pub const Q5_K_BYTES: usize = 176; // d, dmin, scales[12], qh[32], qs[128]
pub const Q6_K_BYTES: usize = 210; // ql[128], qh[64], scales[16], d

/// Element j of a nibble-packed 32-block: low nibbles first, then high.
fn nibble(qs: &[u8], j: usize) -> i32 {
    if j < 16 {
        (qs[j] & 0xf) as i32
    } else {
        (qs[j - 16] >> 4) as i32
    }
}

/// The fifth bit of element j of a Q5 block.
fn high_bit(qh: &[u8], j: usize) -> i32 {
    let qh = u32::from_le_bytes([qh[0], qh[1], qh[2], qh[3]]);
    (((qh >> j) & 1) << 4) as i32
}

/// ggml's `hsum_float_8` (and llamafile's `hsum`): halves, then pairs.
pub fn hsum8(x: [f32; 8]) -> f32 {
    let s: [f32; 4] = std::array::from_fn(|i| x[i + 4] + x[i]);
    (s[0] + s[2]) + (s[1] + s[3])
}

/// A 32-element format in ggml's 8-lane order (see the module docs), or with
/// `fused` one fused step per block of its whole integer sum (prompts, see
/// `Rows::Prompt`); `q(b, j)` is weight j of block b, signed or, with a `min`
/// (an f16 at byte 2, times Q8_1's `s`), unsigned.
fn lanes32(
    w: &[u8],
    bytes: usize,
    a: &[BlockQ8],
    min: bool,
    fused: bool,
    q: impl Fn(&[u8], usize) -> i32,
) -> f32 {
    let (mut acc, mut mins) = ([0f32; 8], 0f32);
    let mut sum = 0f32;
    for (b, a) in w.chunks_exact(bytes).zip(a) {
        let d = read_f16(b, 0) * a.d;
        let lane = |j: usize| {
            (4 * j..4 * j + 4)
                .map(|i| q(b, i) * a.qs[i] as i32)
                .sum::<i32>()
        };
        if fused {
            sum = ((0..8).map(lane).sum::<i32>() as f32).mul_add(d, sum);
        } else {
            for (j, acc) in acc.iter_mut().enumerate() {
                *acc = (lane(j) as f32).mul_add(d, *acc);
            }
        }
        if min {
            mins = read_f16(b, 2).mul_add(a.s, mins);
        }
    }
    let dots = if fused { sum } else { hsum8(acc) };
    if min {
        dots + mins
    } else {
        dots
    }
}

pub fn dot_q4_0(w: &[u8], a: &[BlockQ8], fused: bool) -> f32 {
    lanes32(w, Q4_0_BYTES, a, false, fused, |b, j| {
        nibble(&b[2..], j) - 8
    })
}

pub fn dot_q4_1(w: &[u8], a: &[BlockQ8], fused: bool) -> f32 {
    lanes32(w, Q4_1_BYTES, a, true, fused, |b, j| nibble(&b[4..], j))
}

pub fn dot_q5_0(w: &[u8], a: &[BlockQ8], fused: bool) -> f32 {
    lanes32(w, Q5_0_BYTES, a, false, fused, |b, j| {
        (nibble(&b[6..], j) | high_bit(&b[2..], j)) - 16
    })
}

pub fn dot_q5_1(w: &[u8], a: &[BlockQ8], fused: bool) -> f32 {
    lanes32(w, Q5_1_BYTES, a, true, fused, |b, j| {
        nibble(&b[8..], j) | high_bit(&b[4..], j)
    })
}

pub fn dot_q8_0(w: &[u8], a: &[BlockQ8], fused: bool) -> f32 {
    lanes32(w, Q8_0_BYTES, a, false, fused, |b, j| b[2 + j] as i8 as i32)
}

/// ggml's `get_scale_min_k4`: 6-bit scale and min of sub-block j (0..8) of
/// the 12 packed bytes of a Q4_K/Q5_K block.
pub fn scale_min_k4(j: usize, q: &[u8]) -> (i32, i32) {
    if j < 4 {
        ((q[j] & 63) as i32, (q[j + 4] & 63) as i32)
    } else {
        (
            ((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4)) as i32,
            ((q[j + 4] >> 4) | ((q[j] >> 6) << 4)) as i32,
        )
    }
}

/// Q4_K and Q5_K: 8 sub-blocks of 32, value = d*sc*q - dmin*m; `q(b, i)` is
/// the unsigned weight i (0..256) of block b. Per super-block, the scaled
/// integer sums and the minimum terms go to two accumulators, fused once per
/// super-block (`gemm` false: llama.cpp's repacked Q4_K GEMV) or once per 64
/// weights (`gemm`: its 4-row GEMM); the result is their difference.
fn dot_q45k(
    w: &[u8],
    bytes: usize,
    a: &[BlockQ8K],
    gemm: bool,
    q: impl Fn(&[u8], usize) -> i32,
) -> f32 {
    let (mut acc, mut acc_m) = (0f32, 0f32);
    for (b, a) in w.chunks_exact(bytes).zip(a) {
        let (d, dmin) = (read_f16(b, 0) * a.d, read_f16(b, 2) * a.d);
        // (scaled sum, minimum term) of each 64 weights
        let pairs: [(i32, i32); 4] = std::array::from_fn(|k| {
            let (mut sums, mut mins) = (0, 0);
            for j in 2 * k..2 * k + 2 {
                let (sc, m) = scale_min_k4(j, &b[4..16]);
                let s: i32 = (32 * j..32 * j + 32)
                    .map(|i| q(b, i) * a.qs[i] as i32)
                    .sum();
                sums += sc * s;
                mins += m * (a.bsums[2 * j] as i32 + a.bsums[2 * j + 1] as i32);
            }
            (sums, mins)
        });
        if gemm {
            for (s, m) in pairs {
                acc = (s as f32).mul_add(d, acc);
                acc_m = (m as f32).mul_add(dmin, acc_m);
            }
        } else {
            let (s, m) = pairs.iter().fold((0, 0), |(s, m), p| (s + p.0, m + p.1));
            acc = (s as f32).mul_add(d, acc);
            acc_m = (m as f32).mul_add(dmin, acc_m);
        }
    }
    acc - acc_m
}

/// Element i of a K-quant's 4-bit array: each 32 bytes hold 64 elements,
/// low nibbles first.
fn nibble_k(qs: &[u8], i: usize) -> i32 {
    let byte = qs[(i / 64) * 32 + i % 32];
    (if (i / 32).is_multiple_of(2) {
        byte & 0xf
    } else {
        byte >> 4
    }) as i32
}

/// `batched`: a row of a whole group of 4 (llama.cpp's repacked GEMM).
pub fn dot_q4_k(w: &[u8], a: &[BlockQ8K], batched: bool) -> f32 {
    dot_q45k(w, Q4_K_BYTES, a, batched, |b, i| nibble_k(&b[16..], i))
}

/// As Q4_K (llama.cpp doesn't repack Q5_K on x86: not its order).
pub fn dot_q5_k(w: &[u8], a: &[BlockQ8K], batched: bool) -> f32 {
    dot_q45k(w, Q5_K_BYTES, a, batched, |b, i| {
        // qh bit (i / 32) of byte i % 32
        let hi = ((b[16 + i % 32] >> (i / 32)) & 1) as i32;
        nibble_k(&b[48..], i) | (hi << 4)
    })
}

/// Q6_K weight i (0..256), in -32..32.
fn q6k(b: &[u8], i: usize) -> i32 {
    let (half, r) = (i / 128, i % 128);
    let (quarter, l) = (r / 32, r % 32);
    let ql = &b[64 * half..];
    let qh = b[128 + 32 * half + l];
    let lo = match quarter {
        0 => ql[l] & 0xf,
        1 => ql[l + 32] & 0xf,
        2 => ql[l] >> 4,
        _ => ql[l + 32] >> 4,
    };
    let hi = (qh >> (2 * quarter)) & 3;
    (lo | (hi << 4)) as i32 - 32
}

/// `batched` (8+ activation rows): llama.cpp's tiled matmul, one fused step
/// per super-block of its scaled integer sum. Otherwise the 8 lanes of its
/// AVX2 `ggml_vec_dot_q6_K_q8_K`: weights taken unsigned (0..64), lane u
/// summing elements 4u..4u+4 of each 32, the -32 offset subtracted per lane
/// as 32 * (scale * bsum) of the 16-sums 2u and 2u+1.
pub fn dot_q6_k(w: &[u8], a: &[BlockQ8K], batched: bool) -> f32 {
    let mut acc = [0f32; 8];
    let mut sum = 0f32;
    for (b, a) in w.chunks_exact(Q6_K_BYTES).zip(a) {
        let sc = |j: usize| b[192 + j] as i8 as i32;
        let lanes: [i32; 8] = std::array::from_fn(|u| {
            let dots: i32 = (0..8)
                .map(|g| {
                    let s: i32 = (32 * g + 4 * u..32 * g + 4 * u + 4)
                        .map(|i| (q6k(b, i) + 32) * a.qs[i] as i32)
                        .sum();
                    sc(2 * g + u / 4) * s
                })
                .sum();
            let bsums =
                sc(2 * u) * a.bsums[2 * u] as i32 + sc(2 * u + 1) * a.bsums[2 * u + 1] as i32;
            dots - 32 * bsums
        });
        let dw = read_f16(b, 208);
        if batched {
            let s: i32 = lanes.iter().sum();
            sum = (s as f32 * dw).mul_add(a.d, sum);
        } else {
            let d = a.d * dw;
            for (acc, l) in acc.iter_mut().zip(lanes) {
                *acc = (l as f32).mul_add(d, *acc);
            }
        }
    }
    if batched {
        sum
    } else {
        hsum8(acc)
    }
}
