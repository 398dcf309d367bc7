//! Quantized matmul kernels on GGUF blocks as loaded: y (m x n) = x (m x k) · Wᵀ
//! for W (n x k) in ggml's block formats.
//!
//! As in llama.cpp, activations are quantized once per row (Q8_0/Q8_1-style
//! `BlockQ8` for 32-element formats, Q8_K for K-quants) and every dot product
//! runs on integers. For the 32-element formats, Q4_K and Q6_K the f32
//! accumulation also follows the kernel llama.cpp's x86 CPU backend picks for
//! the same matmul (see `scalar`), so results match it to the bit. Kernels: scalar
//! references (`scalar`), and AVX2 / AVX-512 VNNI (`x86`) picked at run time,
//! bit-identical to them. Work is split over output-column chunks on the
//! global rayon pool.

// The SIMD kernels are `unsafe fn`s (target features, raw block pointers); the
// lint makes each one say in an explicit `unsafe {}` block, with a SAFETY note,
// which of its operations rely on that contract instead of inheriting it.
#![deny(unsafe_op_in_unsafe_fn)]

pub(crate) mod f16;
pub mod peak;
mod quantize;
mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use candle_core::quantized::GgmlDType;
use rayon::prelude::*;

pub use quantize::{BlockQ8, BlockQ8K};

/// What the rows of an activation matrix are, which decides the f32 order of
/// K-quant results (llama.cpp accumulates a batch of positions differently from
/// one row).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rows {
    /// Consecutive positions of one sequence (a prefill): llama.cpp's batched
    /// order, so prompts match it.
    Sequence,
    /// One row per sequence (a decode batch): each row in the one-row order, so
    /// a sequence's result does not depend on which others share its batch.
    Independent,
    /// Consecutive positions of one sequence in the fastest order that still
    /// gives each row what it would get in any other chunk of 8+ rows: the
    /// one-row order, except that Q5_0 and Q6_K fuse whole blocks when there
    /// are [`FUSED_ROWS`] rows or more (see `scalar`).
    Prompt,
}

/// Rows of a [`Rows::Prompt`] matmul from which Q5_0 and Q6_K fuse whole
/// blocks (the packed kernels pay off from there).
pub const FUSED_ROWS: usize = 8;

/// Whether an (m-row) matmul of `dtype` weights fuses whole blocks.
fn fused(dtype: GgmlDType, rows: Rows, m: usize) -> bool {
    use GgmlDType as T;
    // Q5_0: SmolLM2's Q4_1 drifted to 1.006 from llama.cpp's logits on its
    // translate fixture (the parity tolerance is 1.0), and no test model has
    // Q4_0 or Q5_1 weights to check them on. Q6_K: one super-block sum per
    // step is llama.cpp's own order for batches of 8+ rows.
    rows == Rows::Prompt && m >= FUSED_ROWS && matches!(dtype, T::Q5_0 | T::Q6K)
}

/// The instruction sets the kernels come in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    Scalar,
    Avx2,
    /// AVX2 kernels plus VNNI `vpdpbusd`/`vpdpwssd` and AVX-512's 32
    /// registers; 32-element formats on 512-bit vectors (two weight columns
    /// per vector), K-quants on 256-bit ones. No AMX.
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

    /// Whether this CPU runs `self` (detected once).
    pub fn is_available(self) -> bool {
        static AVAILABLE: OnceLock<Vec<Isa>> = OnceLock::new();
        AVAILABLE.get_or_init(Self::available).contains(&self)
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
pub fn matmul(
    dtype: GgmlDType,
    w: &[u8],
    n: usize,
    k: usize,
    x: &[f32],
    y: &mut [f32],
    rows: Rows,
) {
    matmul_with(Isa::detect(), dtype, w, n, k, x, y, rows).expect("`detect` picks an available ISA")
}

/// The CPU lacks the instructions of the ISA [`matmul_with`] was asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this CPU cannot run the {0:?} kernels (it has {available:?}); pick one of those", available = Isa::available())]
pub struct UnsupportedIsa(pub Isa);

/// `matmul` with an explicit ISA (benchmarks, comparisons), refused when this
/// CPU does not have it: its kernels would execute instructions it lacks.
#[allow(clippy::too_many_arguments)]
pub fn matmul_with(
    isa: Isa,
    dtype: GgmlDType,
    w: &[u8],
    n: usize,
    k: usize,
    x: &[f32],
    y: &mut [f32],
    rows: Rows,
) -> Result<(), UnsupportedIsa> {
    if !isa.is_available() {
        return Err(UnsupportedIsa(isa));
    }
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
            let mut job = Job::new(w, row_bytes, &acts, nb, m, n, y, rows);
            job.fused = fused(dtype, rows, m);
            // SAFETY: `kernel` returned this tile for `isa`, which the CPU has
            // (checked above).
            job.run(|c0, c1| unsafe { chunk(&job, c0, c1) });
        }
        Kernel::TileK(chunk, quantize) => {
            let acts = quantize::quantize_rows_q8k(x, k, quantize);
            let mut job = Job::new(w, row_bytes, &acts, nb, m, n, y, rows);
            job.fused = fused(dtype, rows, m);
            // SAFETY: as above.
            job.run(|c0, c1| unsafe { chunk(&job, c0, c1) });
        }
        Kernel::Dot32(dot) => {
            let acts = quantize::quantize_rows_q8(x, k, quantize::quantize_q8);
            let fused = fused(dtype, rows, m);
            let job = Job::new(w, row_bytes, &acts, nb, m, n, y, rows);
            job.run(|c0, c1| job.by_dot(c0, c1, |w, a, _| dot(w, a, fused)));
        }
        Kernel::DotK(dot) => {
            let acts = quantize::quantize_rows_q8k(x, k, quantize::quantize_q8k);
            let mut job = Job::new(w, row_bytes, &acts, nb, m, n, y, rows);
            job.fused = fused(dtype, rows, m);
            job.run(|c0, c1| job.by_dot(c0, c1, |w, a, r| dot(w, a, job.batched_k(dtype, r))));
        }
    }
    Ok(())
}

/// Whether activation row `r` of `m` takes llama.cpp's batched kernel for a
/// K-quant, whose f32 accumulation differs from its one-row kernel's: Q4_K
/// (repacked) rows in whole groups of 4 go through its GEMM, the rest
/// through its GEMV; Q6_K batches of 8+ rows through the tiled matmul. The
/// SIMD tiles make the same split (Q4_K/Q5_K: 4-row tiles; Q6_K: `m`).
pub(crate) fn batched_k(dtype: GgmlDType, r: usize, m: usize) -> bool {
    match dtype {
        GgmlDType::Q6K => m >= 8,
        _ => r < m - m % 4,
    }
}

/// A dot product of one weight row (raw blocks) with one activation row, told
/// whether it fuses whole blocks (`fused`).
type DotFn<A> = fn(&[u8], &[A], bool) -> f32;
/// The same for K-quants, told whether the row is `batched_k`.
type DotKFn = fn(&[u8], &[BlockQ8K], bool) -> f32;

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
    DotK(DotKFn),
}

fn kernel(dtype: GgmlDType, isa: Isa) -> Option<Kernel> {
    use GgmlDType as T;
    #[cfg(target_arch = "x86_64")]
    {
        // The tiles of one ISA's modules, for the 32-element and K formats.
        // (Q5_0: `x86::chunk32` takes fused jobs to the packed kernel, the
        // rest to the ISA's tiles)
        macro_rules! tiles {
            ($b32:ident, $vnni:literal, $k:ident, $q4k:expr, $q6k:expr) => {
                return Some(match dtype {
                    T::Q4_0 => Kernel::Tile(x86::$b32::chunk::<x86::Q4_0>, x86::quantize_q8),
                    T::Q4_1 => Kernel::Tile(x86::$b32::chunk::<x86::Q4_1>, x86::quantize_q8),
                    T::Q5_0 => Kernel::Tile(x86::chunk32::<x86::Q5_0, $vnni>, x86::quantize_q8),
                    T::Q5_1 => Kernel::Tile(x86::$b32::chunk::<x86::Q5_1>, x86::quantize_q8),
                    T::Q8_0 => Kernel::Tile(x86::$b32::chunk::<x86::Q8_0>, x86::quantize_q8),
                    T::Q4K => Kernel::TileK($q4k, x86::quantize_q8k),
                    T::Q5K => Kernel::TileK(x86::$k::chunk::<{ x86::Q5K }>, x86::quantize_q8k),
                    T::Q6K => Kernel::TileK($q6k, x86::quantize_q8k),
                    _ => return None,
                })
            };
        }
        match isa {
            Isa::Avx512Vnni => {
                tiles!(
                    lanes512,
                    true,
                    k_avx512,
                    x86::chunk_q4k_vnni,
                    x86::chunk_q6k_vnni
                )
            }
            // Q4_K, many rows: columns repacked on the fly (x86/packed.rs)
            Isa::Avx2 => tiles!(
                avx2,
                false,
                k_avx2,
                x86::chunk_q4k,
                x86::k_avx2::chunk::<{ x86::Q6K }>
            ),
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
    m: usize,
    n: usize,
    y: OutPtr,
    /// [`Rows::Independent`] or [`Rows::Prompt`]: every row in the one-row order.
    pub(crate) independent: bool,
    /// Q5_0 and Q6_K fuse whole blocks (`fused`).
    pub(crate) fused: bool,
}

/// Below this many weight bytes x rows a matmul runs on the calling thread:
/// waking the pool (tens of µs) would cost more than it saves. 256 KB is
/// ~10-20 µs of single-thread GEMV, e.g. Qwen's k/v projections in decode.
const SERIAL_WORK: usize = 256 << 10;
/// Weights of one column chunk in a prefill stay in L2 across row tiles.
const CHUNK_BYTES: usize = 128 << 10;

impl<'a, A: Sync> Job<'a, A> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        w: &'a [u8],
        row_bytes: usize,
        acts: &'a [A],
        nb: usize,
        m: usize,
        n: usize,
        y: OutPtr,
        rows: Rows,
    ) -> Self {
        Self {
            w,
            row_bytes,
            acts,
            nb,
            m,
            n,
            y,
            independent: rows != Rows::Sequence,
            fused: false,
        }
    }

    /// [`batched_k`] for row `r` of this job (for independent rows only a
    /// fused Q6_K prompt, whose batched order is whole super-blocks).
    pub(crate) fn batched_k(&self, dtype: GgmlDType, r: usize) -> bool {
        self.fused || (!self.independent && batched_k(dtype, r, self.m))
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
        // whole groups of the packed kernels (16 columns on AVX-512)
        let cols = cols.max(16).next_multiple_of(16);
        let n = self.n;
        (0..n.div_ceil(cols))
            .into_par_iter()
            .for_each(|i| f(i * cols, ((i + 1) * cols).min(n)));
    }

    /// Columns c0..c1 one dot product at a time (`dot(weights, acts, row)`);
    /// each weight row is reused (from cache) by all activation rows.
    fn by_dot(&self, c0: usize, c1: usize, dot: impl Fn(&[u8], &[A], usize) -> f32) {
        for c in c0..c1 {
            let wr = &self.w[c * self.row_bytes..(c + 1) * self.row_bytes];
            for r in 0..self.m {
                let ar = &self.acts[r * self.nb..(r + 1) * self.nb];
                let v = dot(wr, ar, r);
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
