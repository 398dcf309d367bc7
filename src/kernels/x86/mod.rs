//! x86-64 SIMD: the quantized matmul kernels and ggml's f32 vector arithmetic
//! (`vec`). Everything here is `#[target_feature]`-gated and only reached
//! after run-time detection (`Isa`, the one place CPU features are looked
//! up), so the crate's global target-cpu doesn't matter. Every kernel is
//! bit-identical to its software reference (`scalar`, `kernels::vec::Soft`):
//! same integers, same f32 operations in the same order (llama.cpp's).
//!
//! By format family:
//! - `block32`: the 32-element formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) as
//!   bytes for the integer dot products; `tile32` runs them in register tiles
//!   on AVX2, `lanes512` two columns per 512-bit vector on AVX-512 VNNI;
//! - `kquant`: the K-quants (Q4_K, Q5_K, Q6_K) on the GGUF layout;
//! - `packed`: weight columns repacked into one vector's lanes for jobs with
//!   many rows: Q4_K (8+ rows) and Q6_K prompts on AVX2, Q4_K and Q6_K on
//!   AVX-512, Q4_K prompts on AMX, and Q5_0's fused prompt order on every ISA (`chunk32`);
//! - `quantize`: the activations' 8-bit quantization;
//! - `vec`: ggml's f32 vector arithmetic around attention and the FFN;
//!   `vec512` its dot products on AVX-512, four rows at a time in both orders;
//! - `hsum`: horizontal sums shared by the kernels;
//! - `peak`: the calibration loops of `kernels::peak` (`abridge bench`).

use std::arch::x86_64::*;

use super::quantize::BlockQ8;
use super::Job;

/// Runs `$rows::<$g, R>` over successive tiles of R rows for columns c0..c1:
/// R is `$max`, or one of the smaller `$n` heights for the last tile (row
/// counts are const generics, so each height is its own kernel).
macro_rules! row_tiles {
    ($job:expr, $c0:expr, $c1:expr, $rows:ident::<$g:tt>, [$($n:literal),+], $max:literal) => {{
        let mut r0 = 0;
        while r0 < $job.m {
            let n = ($job.m - r0).min($max);
            match n {
                $($n => $rows::<$g, $n>($job, r0, $c0, $c1),)+
                _ => $rows::<$g, $max>($job, r0, $c0, $c1),
            }
            r0 += n;
        }
    }};
}

mod block32;
mod hsum;
pub mod kquant;
pub mod lanes512;
mod packed;
pub(super) mod peak;
mod quantize;
pub mod tile32;
pub mod vec;
pub mod vec512;

pub use block32::{Block32, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0};
pub use kquant::Q5K;
pub use packed::{amx_usable, chunk_q4k, chunk_q4k_amx, chunk_q4k_vnni, chunk_q6k, chunk_q6k_vnni};
pub use quantize::{quantize_q8, quantize_q8k};

/// Q5_0 (or Q4_0) columns `c0..c1`: fused jobs (prompts) on the packed
/// kernel, the rest on the ISA's tiles (`lanes512` with `VNNI`).
///
/// # Safety
/// The CPU has the ISA's features (AVX-512 VNNI with `VNNI`, else AVX2, FMA,
/// F16C); `job` holds weights of format `T`.
pub unsafe fn chunk32<T: Block32, const VNNI: bool>(job: &Job<BlockQ8>, c0: usize, c1: usize) {
    // SAFETY: as this fn's contract.
    unsafe {
        if job.fused {
            packed::chunk32::<T>(job, c0, c1)
        } else if VNNI {
            lanes512::chunk::<T>(job, c0, c1)
        } else {
            tile32::chunk::<T>(job, c0, c1)
        }
    }
}

/// Fetches weights a few rows ahead: rows are short (a KB or so), too short
/// for the hardware prefetcher to ramp up on when a GEMV streams them from
/// DRAM. Never faults, so it may point past the weights.
#[inline(always)]
unsafe fn prefetch(p: *const u8) {
    // SAFETY: a prefetch never faults, whatever the address; SSE is the
    // x86_64 baseline.
    unsafe {
        _mm_prefetch::<_MM_HINT_T0>(p as *const i8);
    }
}
