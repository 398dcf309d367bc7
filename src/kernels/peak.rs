//! Calibration loops for the roofline `abridge bench` reports: how fast this machine
//! runs the integer dot products the kernels are made of, and how fast it reads
//! memory, on the threads of the current rayon pool. Short (a fraction of a second)
//! and approximate: the ceilings a model's prefill and decode are compared with.

use std::hint::black_box;
use std::time::Instant;

use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use super::x86::peak as x86;
use super::Isa;

/// Integer multiply-adds per second, counted as 2 operations each (as GFLOP/s
/// count a fused multiply-add), in billions: the instruction mix of `isa`'s kernels
/// (AVX2: `vpmaddubsw` + `vpaddw`, with a `vpmaddwd` per 8 as in the packed Q4_K
/// kernel; AVX-512 VNNI: `vpdpbusd` on 512-bit vectors; AMX: `tdpbsud` on
/// whole tiles) on independent accumulators, best of a few runs.
pub fn int8_gops(isa: Isa) -> f64 {
    // Enough work per thread to dwarf the start-up (~30 ms on these machines).
    const ITERS: usize = 2_000_000;
    let threads = rayon::current_num_threads();
    best_of(3, || {
        let t = Instant::now();
        let ops: f64 = (0..threads)
            .into_par_iter()
            .map(|_| dot_loop(isa, ITERS))
            .sum();
        ops / t.elapsed().as_secs_f64() / 1e9
    })
}

/// Read bandwidth in GB/s (1e9 bytes) over a buffer far larger than the caches,
/// split over the pool's threads, best of a few passes.
pub fn read_gbs() -> f64 {
    const BYTES: usize = 256 << 20;
    let buf = vec![1u64; BYTES / 8];
    let threads = rayon::current_num_threads();
    let chunk = buf.len().div_ceil(threads);
    best_of(4, || {
        let t = Instant::now();
        let sum: u64 = buf
            .par_chunks(chunk)
            .map(|c| c.iter().fold(0u64, |a, &x| a.wrapping_add(x)))
            .sum();
        black_box(sum);
        BYTES as f64 / t.elapsed().as_secs_f64() / 1e9
    })
}

fn best_of(runs: usize, f: impl Fn() -> f64) -> f64 {
    (0..runs).map(|_| f()).fold(0.0, f64::max)
}

/// Runs `iters` rounds of `isa`'s dot-product step; returns the operations done.
fn dot_loop(isa: Isa, iters: usize) -> f64 {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 if isa.is_available() => {
            // SAFETY: the CPU has AVX2 (checked on the line above).
            black_box(unsafe { x86::maddubs(iters) });
            (iters * 8 * 32 * 2) as f64
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni if isa.is_available() => {
            // SAFETY: the CPU has AVX-512 VNNI (checked on the line above).
            black_box(unsafe { x86::dpbusd(iters) });
            (iters * 8 * 64 * 2) as f64
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Amx if isa.is_available() => {
            // Each round is 4 tiles of 16 x 16 x 64 multiply-adds; a sixteenth
            // of the rounds keeps the time near the others'.
            let rounds = iters / 16;
            // SAFETY: AMX is usable (checked on the line above).
            black_box(unsafe { x86::tdpbsud(rounds) });
            (rounds * 4 * 16 * 16 * 64 * 2) as f64
        }
        _ => {
            let (a, b) = (black_box([3u8; 32]), black_box([-2i8; 32]));
            let mut acc = [0i32; 8];
            for _ in 0..iters / 16 {
                let a = black_box(a);
                for (j, s) in acc.iter_mut().enumerate() {
                    let d: i32 = a
                        .iter()
                        .zip(&b)
                        .map(|(&x, &y)| x as i32 * (y as i32 + j as i32))
                        .sum();
                    *s = s.wrapping_add(d);
                }
            }
            black_box(acc);
            (iters / 16 * 8 * 32 * 2) as f64
        }
    }
}
