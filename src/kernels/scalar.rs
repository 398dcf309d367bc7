//! Scalar reference dot products, one weight row against one quantized
//! activation row, following ggml's generic `ggml_vec_dot_*` (integer sums per
//! block, then the f32 scales). The SIMD kernels are tested against these.

use super::f16::read_f16;
use super::quantize::{BlockQ8, BlockQ8K, QK, QK_K};

/// Weight block layouts (bytes): ggml's `block_*` structs, packed.
pub const Q4_0_BYTES: usize = 18; // d, qs[16]
pub const Q4_1_BYTES: usize = 20; // d, m, qs[16]
pub const Q5_0_BYTES: usize = 22; // d, qh[4], qs[16]
pub const Q5_1_BYTES: usize = 24; // d, m, qh[4], qs[16]
pub const Q8_0_BYTES: usize = 34; // d, qs[32]
pub const Q4_K_BYTES: usize = 144; // d, dmin, scales[12], qs[128]
pub const Q5_K_BYTES: usize = 176; // d, dmin, scales[12], qh[32], qs[128]
pub const Q6_K_BYTES: usize = 210; // ql[128], qh[64], scales[16], d

/// Sum over a 32-block of q[j] * a[j], with q given by `q(j)`.
fn isum(a: &BlockQ8, q: impl Fn(usize) -> i32) -> i32 {
    (0..QK).map(|j| q(j) * a.qs[j] as i32).sum()
}

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

pub fn dot_q4_0(w: &[u8], a: &[BlockQ8]) -> f32 {
    let blocks = w.chunks_exact(Q4_0_BYTES).zip(a);
    blocks
        .map(|(b, a)| {
            let s = isum(a, |j| nibble(&b[2..], j) - 8);
            s as f32 * read_f16(b, 0) * a.d
        })
        .sum()
}

pub fn dot_q4_1(w: &[u8], a: &[BlockQ8]) -> f32 {
    let blocks = w.chunks_exact(Q4_1_BYTES).zip(a);
    blocks
        .map(|(b, a)| {
            let s = isum(a, |j| nibble(&b[4..], j));
            s as f32 * read_f16(b, 0) * a.d + read_f16(b, 2) * a.s
        })
        .sum()
}

pub fn dot_q5_0(w: &[u8], a: &[BlockQ8]) -> f32 {
    let blocks = w.chunks_exact(Q5_0_BYTES).zip(a);
    blocks
        .map(|(b, a)| {
            let s = isum(a, |j| (nibble(&b[6..], j) | high_bit(&b[2..], j)) - 16);
            s as f32 * read_f16(b, 0) * a.d
        })
        .sum()
}

pub fn dot_q5_1(w: &[u8], a: &[BlockQ8]) -> f32 {
    let blocks = w.chunks_exact(Q5_1_BYTES).zip(a);
    blocks
        .map(|(b, a)| {
            let s = isum(a, |j| nibble(&b[8..], j) | high_bit(&b[4..], j));
            s as f32 * read_f16(b, 0) * a.d + read_f16(b, 2) * a.s
        })
        .sum()
}

pub fn dot_q8_0(w: &[u8], a: &[BlockQ8]) -> f32 {
    let blocks = w.chunks_exact(Q8_0_BYTES).zip(a);
    blocks
        .map(|(b, a)| {
            let s = isum(a, |j| b[2 + j] as i8 as i32);
            s as f32 * read_f16(b, 0) * a.d
        })
        .sum()
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
/// the unsigned weight i (0..256) of block b.
fn dot_q45k(w: &[u8], bytes: usize, a: &[BlockQ8K], q: impl Fn(&[u8], usize) -> i32) -> f32 {
    let blocks = w.chunks_exact(bytes).zip(a);
    blocks
        .map(|(b, a)| {
            let (mut sums, mut mins) = (0i32, 0i32);
            for j in 0..8 {
                let (sc, m) = scale_min_k4(j, &b[4..16]);
                let s: i32 = (32 * j..32 * j + 32)
                    .map(|i| q(b, i) * a.qs[i] as i32)
                    .sum();
                sums += sc * s;
                mins += m * (a.bsums[2 * j] as i32 + a.bsums[2 * j + 1] as i32);
            }
            a.d * (read_f16(b, 0) * sums as f32 - read_f16(b, 2) * mins as f32)
        })
        .sum()
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

pub fn dot_q4_k(w: &[u8], a: &[BlockQ8K]) -> f32 {
    dot_q45k(w, Q4_K_BYTES, a, |b, i| nibble_k(&b[16..], i))
}

pub fn dot_q5_k(w: &[u8], a: &[BlockQ8K]) -> f32 {
    dot_q45k(w, Q5_K_BYTES, a, |b, i| {
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

pub fn dot_q6_k(w: &[u8], a: &[BlockQ8K]) -> f32 {
    let blocks = w.chunks_exact(Q6_K_BYTES).zip(a);
    blocks
        .map(|(b, a)| {
            let sums: i32 = (0..QK_K / 16)
                .map(|j| {
                    let sc = b[192 + j] as i8 as i32;
                    let s: i32 = (16 * j..16 * j + 16)
                        .map(|i| q6k(b, i) * a.qs[i] as i32)
                        .sum();
                    sc * s
                })
                .sum();
            a.d * read_f16(b, 208) * sums as f32
        })
        .sum()
}
