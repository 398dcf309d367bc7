//! The dot-product loops of `kernels::peak`'s calibration, on the kernels'
//! instructions (AMX's is beside its kernel, in `packed/amx.rs`).

use std::arch::x86_64::*;
use std::hint::black_box;

pub(in crate::kernels) use super::packed::tdpbsud;

/// 8 independent i16 accumulators of `vpmaddubsw` + `vpaddw` on 32 byte pairs,
/// and one `vpmaddwd` + `vpaddd` per 8 of them: the packed Q4_K kernel's mix
/// (the fastest the AVX2 kernels have); `a` goes through `black_box` every
/// round so nothing is hoisted.
#[target_feature(enable = "avx2")]
pub(in crate::kernels) unsafe fn maddubs(iters: usize) -> i32 {
    let ones = _mm256_set1_epi16(1);
    let b: [__m256i; 8] = std::array::from_fn(|j| _mm256_set1_epi8(j as i8 - 4));
    let mut acc = [_mm256_setzero_si256(); 8];
    let mut wide = _mm256_setzero_si256();
    let mut a = _mm256_set1_epi8(3);
    for i in 0..iters {
        a = black_box(a);
        for j in 0..8 {
            acc[j] = _mm256_add_epi16(acc[j], _mm256_maddubs_epi16(a, b[j]));
        }
        wide = _mm256_add_epi32(wide, _mm256_madd_epi16(acc[i % 8], ones));
    }
    for v in acc {
        wide = _mm256_add_epi32(wide, _mm256_madd_epi16(v, ones));
    }
    _mm256_extract_epi32::<0>(wide)
}

/// 8 independent accumulators of `vpdpbusd` on 64 byte pairs.
#[target_feature(enable = "avx512f,avx512vnni")]
pub(in crate::kernels) unsafe fn dpbusd(iters: usize) -> i32 {
    let b: [__m512i; 8] = std::array::from_fn(|j| _mm512_set1_epi8(j as i8 - 4));
    let mut acc = [_mm512_setzero_si512(); 8];
    let mut a = _mm512_set1_epi8(3);
    for _ in 0..iters {
        a = black_box(a);
        for j in 0..8 {
            acc[j] = _mm512_dpbusd_epi32(acc[j], a, b[j]);
        }
    }
    let mut s = _mm512_setzero_si512();
    for v in acc {
        s = _mm512_add_epi32(s, v);
    }
    _mm512_reduce_add_epi32(s)
}
