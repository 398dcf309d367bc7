//! IEEE half-precision conversions for block scales and the KV cache, on the
//! `half` crate: round to nearest, ties to even, bit-exact with F16C (which
//! `half` uses where the CPU has it) and ggml, so scales round as in llama.cpp.

use half::f16;

pub fn f16_to_f32(h: u16) -> f32 {
    f16::from_bits(h).to_f32()
}

pub fn f32_to_f16(f: f32) -> u16 {
    f16::from_f32(f).to_bits()
}

/// The value `f` has after a round trip through f16, as ggml stores it.
pub fn round_f16(f: f32) -> f32 {
    f16::from_f32(f).to_f32()
}

#[inline]
pub fn read_f16(b: &[u8], at: usize) -> f32 {
    f16_to_f32(u16::from_le_bytes([b[at], b[at + 1]]))
}
