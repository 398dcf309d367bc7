//! The 32-element weight formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) as the
//! integer dot products take them: each block unpacked to 32 bytes, with its
//! f16 scale. Shared by every kernel of these formats (`tile32`, `lanes512`,
//! `packed`).

use std::arch::x86_64::*;

use crate::kernels::scalar::{Q4_0_BYTES, Q4_1_BYTES, Q5_0_BYTES, Q5_1_BYTES, Q8_0_BYTES};

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
pub(super) unsafe fn splat_f16(p: *const u8) -> __m256 {
    // SAFETY: within this fn's contract: its pointers address whole blocks or
    // rows of the caller's slices, and its target features are available.
    unsafe { _mm256_cvtph_ps(_mm_set1_epi16((p as *const i16).read_unaligned())) }
}

#[inline]
#[target_feature(enable = "avx2,f16c")]
pub(in crate::kernels::x86) unsafe fn read_f16(p: *const u8) -> f32 {
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
pub(super) unsafe fn fifth_bits(p: *const u8) -> __m256i {
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
pub(super) unsafe fn fifth_bits_bw(p: *const u8) -> __m256i {
    // SAFETY: within this fn's contract: its pointers address whole blocks or
    // rows of the caller's slices, and its target features are available.
    unsafe {
        let bits = (p as *const u32).read_unaligned();
        _mm256_maskz_mov_epi8(bits, _mm256_set1_epi8(0x10))
    }
}

/// Declares a `Block32` format: name, block bytes, offset, has-min, signed,
/// fifth-bits offset, and how to unpack block pointer `p`.
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
