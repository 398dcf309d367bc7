//! IEEE half-precision conversions for block scales. Bit-exact with F16C /
//! ggml (round to nearest, ties to even), so activation scales round as in llama.cpp.

pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h as u32) & 0x8000) << 16;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    match exp {
        0 => {
            // zero or subnormal: man * 2^-24
            let v = man as f32 * (1.0 / 16_777_216.0);
            f32::from_bits(v.to_bits() | sign)
        }
        31 => f32::from_bits(sign | 0x7f80_0000 | (man << 13)),
        _ => f32::from_bits(sign | ((exp + 112) << 23) | (man << 13)),
    }
}

pub fn f32_to_f16(f: f32) -> u16 {
    let x = f.to_bits();
    let sign = ((x >> 16) & 0x8000) as u16;
    let exp = ((x >> 23) & 0xff) as i32;
    let man = x & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if man != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    // Rounds `m >> shift` to nearest, ties to even.
    let round = |m: u32, shift: u32| -> u32 {
        let half = 1u32 << (shift - 1);
        let rem = m & ((1u32 << shift) - 1);
        let r = m >> shift;
        r + u32::from(rem > half || (rem == half && r & 1 == 1))
    };
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        // subnormal half: the implicit bit becomes explicit
        return sign | round(man | 0x80_0000, (14 - e) as u32) as u16;
    }
    // A carry out of the mantissa correctly bumps the exponent (up to inf).
    sign | round(((e as u32) << 23) | man, 13) as u16
}

/// The value a scale has after a round trip through f16, as ggml stores it.
pub fn round_f16(f: f32) -> f32 {
    f16_to_f32(f32_to_f16(f))
}

#[inline]
pub fn read_f16(b: &[u8], at: usize) -> f32 {
    f16_to_f32(u16::from_le_bytes([b[at], b[at + 1]]))
}
