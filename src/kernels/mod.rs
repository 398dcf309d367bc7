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
//!
//! Also here: ggml's f32 vector arithmetic around the matmuls (`vec`:
//! attention's dot products and softmax, SiLU), in software and on AVX2.
//! [`Isa`] is the one place CPU features are detected: every
//! `#[target_feature]` function of the crate is under `x86` and reached
//! through it, so `ABRIDGE_KERNELS=scalar` turns all of them off.

// The SIMD kernels are `unsafe fn`s (target features, raw block pointers); the
// lint makes each one say in an explicit `unsafe {}` block, with a SAFETY note,
// which of its operations rely on that contract instead of inheriting it.
#![deny(unsafe_op_in_unsafe_fn)]

pub(crate) mod f16;
pub mod kept;
pub mod peak;
mod quantize;
mod scalar;
pub(crate) mod vec;
#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use candle_core::quantized::GgmlDType;
use rayon::prelude::*;

pub use kept::Kept;
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
    // Q5_0 only: fused Q4_1 moved SmolLM2's logits up to 1.006 from
    // llama.cpp's on its translate fixture (unfused they are llama.cpp's own,
    // see tests/parity.rs), and no test model has Q4_0 or Q5_1 weights to
    // check them on. Q6_K: one super-block sum per step is llama.cpp's own
    // order for batches of 8+ rows.
    rows == Rows::Prompt && m >= FUSED_ROWS && matches!(dtype, T::Q5_0 | T::Q6K)
}

/// The instruction sets the kernels come in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    Scalar,
    Avx2,
    /// AVX2 kernels plus VNNI `vpdpbusd`/`vpdpwssd` and AVX-512's 32
    /// registers; 32-element formats on 512-bit vectors (two weight columns
    /// per vector), K-quants on 256-bit ones.
    Avx512Vnni,
    /// AVX-512 VNNI's kernels, and Q4_K prompts on AMX-INT8 tiles
    /// (`x86/packed/amx.rs`).
    Amx,
}

impl Isa {
    /// The best ISA this CPU runs, once; `ABRIDGE_KERNELS=scalar|avx2|avx512`
    /// caps it (for comparisons; `=candle` turns these kernels off, see
    /// `enabled`).
    pub fn detect() -> Isa {
        static ISA: OnceLock<Isa> = OnceLock::new();
        *ISA.get_or_init(|| {
            let best = Self::available().into_iter().last().unwrap_or(Isa::Scalar);
            match std::env::var("ABRIDGE_KERNELS").as_deref() {
                Ok("scalar") => Isa::Scalar,
                Ok("avx2") if best != Isa::Scalar => Isa::Avx2,
                Ok("avx512") if best == Isa::Amx => Isa::Avx512Vnni,
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
                    if x86::amx_usable() {
                        v.push(Isa::Amx);
                    }
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

/// True with `ABRIDGE_PROMPT_ORDER=llama.cpp`: [`Rows::Prompt`] matmuls take
/// llama.cpp's batched order ([`Rows::Sequence`]) instead of ours, so every
/// test model's logits are llama.cpp's to the bit (`tests/parity.rs` checks
/// the Qwen models so; Q4_K prompts run at about half the speed).
fn llamacpp_prompt_order() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("ABRIDGE_PROMPT_ORDER").as_deref() == Ok("llama.cpp"))
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
    let part = Part {
        dtype,
        w,
        n,
        y,
        kept: None,
    };
    matmul_many_with(isa, &mut [part], k, x, rows)
}

/// One weight matrix of [`matmul_many`]: `y` (m x n) = x · Wᵀ, with `w` the raw
/// GGUF blocks of an (n x k) tensor of type `dtype`.
pub struct Part<'a> {
    pub dtype: GgmlDType,
    pub w: &'a [u8],
    pub n: usize,
    pub y: &'a mut [f32],
    /// Where the packed kernels keep this tensor's packed copy, if anywhere
    /// (see [`kept`]).
    pub kept: Option<&'a Kept>,
}

/// Several matmuls of one input (a layer's q, k and v projections; its gate
/// and up) as one parallel region: the column chunks of all of them are
/// shared out together. In a decode step the small projections cost about
/// as much to hand to the threads as to compute, one dispatch each.
/// Results are those of [`matmul`] on each part.
pub fn matmul_many(parts: &mut [Part], k: usize, x: &[f32], rows: Rows) {
    matmul_many_with(Isa::detect(), parts, k, x, rows).expect("`detect` picks an available ISA")
}

/// Quantized activations, in the format a part's kernel takes.
enum Acts {
    Q8(Vec<BlockQ8>),
    Q8K(Vec<BlockQ8K>),
}

/// [`matmul_many`] with an explicit ISA (see [`matmul_with`]).
pub fn matmul_many_with(
    isa: Isa,
    parts: &mut [Part],
    k: usize,
    x: &[f32],
    rows: Rows,
) -> Result<(), UnsupportedIsa> {
    if !isa.is_available() {
        return Err(UnsupportedIsa(isa));
    }
    let rows = match rows {
        Rows::Prompt if llamacpp_prompt_order() => Rows::Sequence,
        rows => rows,
    };
    let kernels: Vec<Kernel> = parts
        .iter()
        .map(|p| kernel(p.dtype, isa).unwrap_or_else(|| panic!("no kernel for {:?}", p.dtype)))
        .collect();
    // Parts of one activation format and quantizer share one quantization.
    let mut acts: Vec<(usize, Acts)> = Vec::new();
    let mut which = Vec::with_capacity(parts.len());
    for (p, kern) in parts.iter().zip(&kernels) {
        let (block, bytes) = (p.dtype.block_size(), p.dtype.type_size());
        assert!(
            k.is_multiple_of(block) && x.len().is_multiple_of(k),
            "k={k} vs {:?}",
            p.dtype
        );
        assert_eq!(
            p.w.len(),
            p.n * (k / block) * bytes,
            "weight bytes for ({}, {k}) {:?}",
            p.n,
            p.dtype
        );
        assert_eq!(p.y.len(), x.len() / k * p.n);
        let (key, quantize): (usize, &dyn Fn() -> Acts) = match *kern {
            Kernel::Tile(_, q) => (q as usize, &move || {
                Acts::Q8(quantize::quantize_rows_q8(x, k, q))
            }),
            Kernel::TileK(_, q) => (q as usize, &move || {
                Acts::Q8K(quantize::quantize_rows_q8k(x, k, q))
            }),
            Kernel::Dot32(_) => (
                quantize::quantize_q8 as fn(&[f32], &mut [BlockQ8]) as usize,
                &|| Acts::Q8(quantize::quantize_rows_q8(x, k, quantize::quantize_q8)),
            ),
            Kernel::DotK(_) => (
                quantize::quantize_q8k as fn(&[f32], &mut [BlockQ8K]) as usize,
                &|| Acts::Q8K(quantize::quantize_rows_q8k(x, k, quantize::quantize_q8k)),
            ),
        };
        let at = match acts.iter().position(|(q, _)| *q == key) {
            Some(at) => at,
            None => {
                acts.push((key, quantize()));
                acts.len() - 1
            }
        };
        which.push(at);
    }
    let m = x.len() / k;
    // Each part's column chunks, as (part, c0, c1), run by `run`.
    let mut runs: Vec<Box<dyn Fn(usize, usize) + Sync + '_>> = Vec::new();
    let mut tasks = Vec::new();
    let threads = rayon::current_num_threads();
    let work: usize = parts.iter().map(|p| p.w.len()).sum::<usize>() * m;
    let serial = threads == 1 || work < SERIAL_WORK;
    for (i, ((p, kern), at)) in parts.iter_mut().zip(&kernels).zip(&which).enumerate() {
        let nb = k / p.dtype.block_size();
        let row_bytes = nb * p.dtype.type_size();
        let y = OutPtr(p.y.as_mut_ptr());
        let fused = fused(p.dtype, rows, m);
        let (dtype, w, n) = (p.dtype, p.w, p.n);
        let kept = p.kept.filter(|_| kept::keeping());
        let run: Box<dyn Fn(usize, usize) + Sync> = match (*kern, &acts[*at].1) {
            (Kernel::Tile(chunk, _), Acts::Q8(a)) => {
                let mut job = Job::new(w, row_bytes, a, nb, m, n, y, rows);
                job.fused = fused;
                // SAFETY: `kernel` returned this tile for `isa`, which the CPU has
                // (checked above).
                Box::new(move |c0, c1| unsafe { chunk(&job, c0, c1) })
            }
            (Kernel::TileK(chunk, _), Acts::Q8K(a)) => {
                let mut job = Job::new(w, row_bytes, a, nb, m, n, y, rows);
                job.fused = fused;
                job.kept = kept;
                // SAFETY: as above.
                Box::new(move |c0, c1| unsafe { chunk(&job, c0, c1) })
            }
            (Kernel::Dot32(dot), Acts::Q8(a)) => {
                let job = Job::new(w, row_bytes, a, nb, m, n, y, rows);
                Box::new(move |c0, c1| job.by_dot(c0, c1, |w, a, _| dot(w, a, fused)))
            }
            (Kernel::DotK(dot), Acts::Q8K(a)) => {
                let mut job = Job::new(w, row_bytes, a, nb, m, n, y, rows);
                job.fused = fused;
                Box::new(move |c0, c1| {
                    job.by_dot(c0, c1, |w, a, r| dot(w, a, job.batched_k(dtype, r)))
                })
            }
            _ => unreachable!("each kernel's activations are quantized in its format"),
        };
        runs.push(run);
        if serial {
            tasks.push((i, 0, n));
        } else {
            tasks.extend(chunks(n, m, row_bytes, threads).map(|(c0, c1)| (i, c0, c1)));
        }
    }
    if serial {
        tasks.iter().for_each(|&(i, c0, c1)| runs[i](c0, c1));
    } else {
        tasks
            .into_par_iter()
            .for_each(|(i, c0, c1)| runs[i](c0, c1));
    }
    Ok(())
}

/// The column chunks of an (n-column) matmul of m rows shared out over
/// `threads`: a few per thread for balance; fewer, L2-sized ones per thread
/// when many rows reuse them; whole groups of the packed kernels (16 columns
/// on AVX-512).
fn chunks(
    n: usize,
    m: usize,
    row_bytes: usize,
    threads: usize,
) -> impl Iterator<Item = (usize, usize)> {
    let mut cols = n.div_ceil(4 * threads);
    if m > 1 {
        cols = cols.min(CHUNK_BYTES / row_bytes.max(1));
    }
    let cols = cols.max(16).next_multiple_of(16);
    (0..n.div_ceil(cols)).map(move |i| (i * cols, ((i + 1) * cols).min(n)))
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
                    T::Q5K => Kernel::TileK(
                        x86::kquant::tiles::$k::chunk::<{ x86::Q5K }>,
                        x86::quantize_q8k,
                    ),
                    T::Q6K => Kernel::TileK($q6k, x86::quantize_q8k),
                    _ => return None,
                })
            };
        }
        match isa {
            Isa::Amx => tiles!(
                lanes512,
                true,
                avx512,
                x86::chunk_q4k_amx,
                x86::chunk_q6k_vnni
            ),
            Isa::Avx512Vnni => tiles!(
                lanes512,
                true,
                avx512,
                x86::chunk_q4k_vnni,
                x86::chunk_q6k_vnni
            ),
            // Q4_K and Q6_K prompts, many rows: columns repacked on the fly
            // (x86/packed.rs)
            Isa::Avx2 => tiles!(tile32, false, avx2, x86::chunk_q4k, x86::chunk_q6k),
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
    /// The tensor's kept packed copy, when [`kept::keeping`].
    kept: Option<&'a Kept>,
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
            kept: None,
            independent: rows != Rows::Sequence,
            fused: false,
        }
    }

    /// [`batched_k`] for row `r` of this job (for independent rows only a
    /// fused Q6_K prompt, whose batched order is whole super-blocks).
    pub(crate) fn batched_k(&self, dtype: GgmlDType, r: usize) -> bool {
        self.fused || (!self.independent && batched_k(dtype, r, self.m))
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
