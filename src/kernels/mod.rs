//! Quantized matmul kernels on GGUF blocks as loaded: y (m x n) = x (m x k) · Wᵀ
//! for W (n x k) in ggml's block formats.
//!
//! As in llama.cpp, activations are quantized once per row (Q8_0/Q8_1-style
//! `BlockQ8` for 32-element formats, Q8_K for K-quants) and every dot product
//! runs on integers, so results match llama.cpp's CPU backend up to f32
//! summation order. Kernels: scalar references (`scalar`), and AVX2 / AVX-512
//! VNNI (`x86`) picked at run time. Work is split over output-column chunks on
//! the global rayon pool.

mod f16;
mod quantize;
mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use candle_core::quantized::GgmlDType;
use rayon::prelude::*;

pub use quantize::{BlockQ8, BlockQ8K, Group8};

/// The instruction sets the kernels come in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    Scalar,
    Avx2,
    /// AVX2 kernels plus VNNI `vpdpbusd` and AVX-512's 32 registers (on
    /// 256-bit vectors: no frequency penalty, and no AMX).
    Avx512Vnni,
}

impl Isa {
    /// The best ISA this CPU runs, once; `ABRIDGE_KERNELS=scalar|avx2`
    /// caps it (for comparisons; `=candle` turns these kernels off, see
    /// `enabled`).
    pub fn detect() -> Isa {
        static ISA: OnceLock<Isa> = OnceLock::new();
        *ISA.get_or_init(|| {
            let best = Self::available().into_iter().last().unwrap_or(Isa::Scalar);
            match std::env::var("ABRIDGE_KERNELS").as_deref() {
                Ok("scalar") => Isa::Scalar,
                Ok("avx2") if best != Isa::Scalar => Isa::Avx2,
                _ => best,
            }
        })
    }

    /// Every ISA this CPU can run, weakest first.
    pub fn available() -> Vec<Isa> {
        let mut v = vec![Isa::Scalar];
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx2") && has!("fma") && has!("f16c") {
                v.push(Isa::Avx2);
                if has!("avx512f") && has!("avx512vl") && has!("avx512bw") && has!("avx512vnni") {
                    v.push(Isa::Avx512Vnni);
                }
            }
        }
        v
    }
}

/// Whether `matmul` takes weights of this type (others stay on candle).
pub fn supports(dtype: GgmlDType) -> bool {
    kernel(dtype, Isa::Scalar).is_some()
}

/// False with `ABRIDGE_KERNELS=candle`: callers then use candle's matmul
/// (A/B comparisons of speed and parity).
pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("ABRIDGE_KERNELS").as_deref() != Ok("candle"))
}

/// y (m x n) = x (m x k) · Wᵀ, with `w` the raw GGUF blocks of an (n x k)
/// tensor of type `dtype`. Panics if the type isn't `supports`ed or sizes
/// don't match.
pub fn matmul(dtype: GgmlDType, w: &[u8], n: usize, k: usize, x: &[f32], y: &mut [f32]) {
    matmul_with(Isa::detect(), dtype, w, n, k, x, y)
}

/// `matmul` with an explicit ISA (which the CPU must support).
pub fn matmul_with(
    isa: Isa,
    dtype: GgmlDType,
    w: &[u8],
    n: usize,
    k: usize,
    x: &[f32],
    y: &mut [f32],
) {
    let kern = kernel(dtype, isa).unwrap_or_else(|| panic!("no kernel for {dtype:?}"));
    let (block, bytes) = (dtype.block_size(), dtype.type_size());
    assert!(
        k.is_multiple_of(block) && x.len().is_multiple_of(k),
        "k={k} vs {dtype:?}"
    );
    let (m, nb) = (x.len() / k, k / block);
    assert_eq!(
        w.len(),
        n * nb * bytes,
        "weight bytes for ({n}, {k}) {dtype:?}"
    );
    assert_eq!(y.len(), m * n);
    let y = OutPtr(y.as_mut_ptr());
    let row_bytes = nb * bytes;
    match kern {
        Kernel::Tile(chunk, quantize) => {
            let acts = quantize::quantize_rows_q8(x, k, quantize);
            // Worth the transposition only when weights are reused by rows.
            let groups = if m >= GROUP_ROWS {
                quantize::group_rows(&acts, nb)
            } else {
                Vec::new()
            };
            let mut job = Job::new(w, row_bytes, &acts, nb, m, n, y);
            if !groups.is_empty() {
                (job.groups, job.ng) = (&groups, nb / 8);
            }
            // SAFETY: `kernel` returned this tile for an ISA the CPU has.
            job.run(|c0, c1| unsafe { chunk(&job, c0, c1) });
        }
        Kernel::TileK(chunk, quantize) => {
            let acts = quantize::quantize_rows_q8k(x, k, quantize);
            let job = Job::new(w, row_bytes, &acts, nb, m, n, y);
            // SAFETY: as above.
            job.run(|c0, c1| unsafe { chunk(&job, c0, c1) });
        }
        Kernel::Dot32(dot) => {
            let acts = quantize::quantize_rows_q8(x, k, quantize::quantize_q8);
            let job = Job::new(w, row_bytes, &acts, nb, m, n, y);
            job.run(|c0, c1| job.by_dot(c0, c1, dot));
        }
        Kernel::DotK(dot) => {
            let acts = quantize::quantize_rows_q8k(x, k, quantize::quantize_q8k);
            let job = Job::new(w, row_bytes, &acts, nb, m, n, y);
            job.run(|c0, c1| job.by_dot(c0, c1, dot));
        }
    }
}

/// A dot product of one weight row (raw blocks) with one activation row.
type DotFn<A> = unsafe fn(&[u8], &[A]) -> f32;

#[derive(Clone, Copy)]
enum Kernel {
    /// A register-tiled kernel computing output columns c0..c1 for all rows,
    /// and the activation quantizer of its ISA.
    Tile(
        unsafe fn(&Job<BlockQ8>, usize, usize),
        fn(&[f32], &mut [BlockQ8]),
    ),
    TileK(
        unsafe fn(&Job<BlockQ8K>, usize, usize),
        fn(&[f32], &mut [BlockQ8K]),
    ),
    Dot32(DotFn<BlockQ8>),
    DotK(DotFn<BlockQ8K>),
}

fn kernel(dtype: GgmlDType, isa: Isa) -> Option<Kernel> {
    use GgmlDType as T;
    #[cfg(target_arch = "x86_64")]
    {
        // The tiles of one ISA's modules, for the 32-element and K formats.
        macro_rules! tiles {
            ($b32:ident, $k:ident) => {
                return Some(match dtype {
                    T::Q4_0 => Kernel::Tile(x86::$b32::chunk::<x86::Q4_0>, x86::quantize_q8),
                    T::Q4_1 => Kernel::Tile(x86::$b32::chunk::<x86::Q4_1>, x86::quantize_q8),
                    T::Q5_0 => Kernel::Tile(x86::$b32::chunk::<x86::Q5_0>, x86::quantize_q8),
                    T::Q5_1 => Kernel::Tile(x86::$b32::chunk::<x86::Q5_1>, x86::quantize_q8),
                    T::Q8_0 => Kernel::Tile(x86::$b32::chunk::<x86::Q8_0>, x86::quantize_q8),
                    T::Q4K => Kernel::TileK(x86::$k::chunk::<{ x86::Q4K }>, x86::quantize_q8k),
                    T::Q5K => Kernel::TileK(x86::$k::chunk::<{ x86::Q5K }>, x86::quantize_q8k),
                    T::Q6K => Kernel::TileK(x86::$k::chunk::<{ x86::Q6K }>, x86::quantize_q8k),
                    _ => return None,
                })
            };
        }
        match isa {
            Isa::Avx512Vnni => tiles!(avx512, k_avx512),
            Isa::Avx2 => tiles!(avx2, k_avx2),
            Isa::Scalar => {}
        }
    }
    let _ = isa;
    Some(match dtype {
        T::Q4_0 => Kernel::Dot32(scalar::dot_q4_0),
        T::Q4_1 => Kernel::Dot32(scalar::dot_q4_1),
        T::Q5_0 => Kernel::Dot32(scalar::dot_q5_0),
        T::Q5_1 => Kernel::Dot32(scalar::dot_q5_1),
        T::Q8_0 => Kernel::Dot32(scalar::dot_q8_0),
        T::Q4K => Kernel::DotK(scalar::dot_q4_k),
        T::Q5K => Kernel::DotK(scalar::dot_q5_k),
        T::Q6K => Kernel::DotK(scalar::dot_q6_k),
        _ => return None,
    })
}

/// The output, written by several threads at disjoint columns.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: chunks write disjoint (row, column) cells; see `Job::store`.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

/// One matmul: weights, quantized activations and where results go.
pub struct Job<'a, A> {
    w: &'a [u8],
    row_bytes: usize,
    acts: &'a [A],
    nb: usize,
    /// The activations again as `Group8`s (`ng` per row), for many rows of
    /// 32-element formats; empty otherwise.
    groups: &'a [Group8],
    ng: usize,
    m: usize,
    n: usize,
    y: OutPtr,
}

/// Below this many weight bytes x rows a matmul runs on the calling thread:
/// waking the pool (tens of µs) would cost more than it saves. 256 KB is
/// ~10-20 µs of single-thread GEMV, e.g. Qwen's k/v projections in decode.
const SERIAL_WORK: usize = 256 << 10;
/// From this many activation rows on, 32-element tiles use `Group8`s.
const GROUP_ROWS: usize = 4;
/// Weights of one column chunk in a prefill stay in L2 across row tiles.
const CHUNK_BYTES: usize = 128 << 10;

impl<'a, A: Sync> Job<'a, A> {
    fn new(
        w: &'a [u8],
        row_bytes: usize,
        acts: &'a [A],
        nb: usize,
        m: usize,
        n: usize,
        y: OutPtr,
    ) -> Self {
        Self {
            w,
            row_bytes,
            acts,
            nb,
            groups: &[],
            ng: 0,
            m,
            n,
            y,
        }
    }

    /// Splits the columns into chunks over the rayon pool.
    fn run(&self, f: impl Fn(usize, usize) + Sync) {
        let threads = rayon::current_num_threads();
        if threads == 1 || self.m * self.w.len() < SERIAL_WORK {
            return f(0, self.n);
        }
        // A few chunks per thread for balance; fewer, L2-sized ones per
        // thread when many rows reuse them.
        let mut cols = self.n.div_ceil(4 * threads);
        if self.m > 1 {
            cols = cols.min(CHUNK_BYTES / self.row_bytes.max(1));
        }
        let cols = cols.max(8).next_multiple_of(4);
        let n = self.n;
        (0..n.div_ceil(cols))
            .into_par_iter()
            .for_each(|i| f(i * cols, ((i + 1) * cols).min(n)));
    }

    /// Columns c0..c1 one dot product at a time; each weight row is reused
    /// (from cache) by all activation rows.
    fn by_dot(&self, c0: usize, c1: usize, dot: DotFn<A>) {
        for c in c0..c1 {
            let wr = &self.w[c * self.row_bytes..(c + 1) * self.row_bytes];
            for r in 0..self.m {
                let ar = &self.acts[r * self.nb..(r + 1) * self.nb];
                // SAFETY: `kernel` only hands out dots for ISAs the CPU has.
                let v = unsafe { dot(wr, ar) };
                self.store(&[[v]], r, c);
            }
        }
    }

    /// Writes an R x C tile of results at (r0, c0).
    fn store<const R: usize, const C: usize>(&self, out: &[[f32; C]; R], r0: usize, c0: usize) {
        assert!(r0 + R <= self.m && c0 + C <= self.n);
        for (r, row) in out.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                // SAFETY: in bounds (checked above); each cell belongs to
                // exactly one column chunk, so no two threads write it.
                unsafe { *self.y.0.add((r0 + r) * self.n + c0 + c) = *v };
            }
        }
    }
}
