//! llama.cpp's CPU numerics (llama-cpp-python 0.3.36's ggml, x86 build with
//! AVX-512, flash attention off as that package defaults to) for the
//! operations around the matmuls, reproduced rounding for rounding: given
//! llama.cpp's own inputs, these give its tensors bit for bit (checked on
//! gemma-3-270m and SmolLM2 dumps; with the kernels, those two models' logits
//! match llama.cpp's, see `tests/parity.rs`). On CPUs without AVX-512
//! llama.cpp sums in 8 lanes instead of 16; the results then differ in the
//! last bits only. The vector arithmetic (attention's dot products and
//! softmax, SiLU) is `kernels::vec`'s, whose SIMD form gives the same bits as
//! its software one.

use rayon::prelude::*;

use super::kv::LayerCache;
use crate::kernels::f16::round_f16;
use crate::kernels::vec::{self, Lanes, OnLanes, LANES};

/// ggml_rms_norm followed by the weight: the sum of squares in f64, then
/// x * (1/sqrt(mean + eps)) * w in f32 (candle divides by the root).
pub fn rms_norm(x: &mut [f32], w: &[f32], eps: f32) {
    let sum: f64 = x.iter().map(|&v| (v * v) as f64).sum();
    let mean = (sum / x.len() as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    for (v, w) in x.iter_mut().zip(w) {
        *v = *v * scale * *w;
    }
}

/// ggml's GELU: a table over f16 inputs of the tanh approximation
/// (computed in f32, rounded to f16), identity/zero beyond ±10.
fn gelu_table() -> &'static [f32] {
    static TABLE: std::sync::OnceLock<Vec<f32>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        const SQRT_2_OVER_PI: f32 = 0.797_884_6;
        const GELU_COEF_A: f32 = 0.044715;
        (0..=u16::MAX)
            .map(|h| {
                let x = half::f16::from_bits(h).to_f32();
                // 1 + a*x*x is contracted to one fma in ggml's build
                let inner = (GELU_COEF_A * x).mul_add(x, 1.0);
                round_f16(0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * inner).tanh()))
            })
            .collect()
    })
}

/// ggml_geglu_split: gate <- gelu(gate) * up.
pub fn geglu(gate: &mut [f32], up: &[f32]) {
    let table = gelu_table();
    for (x, g) in gate.iter_mut().zip(up) {
        *x = if *x <= -10.0 {
            0.0
        } else if *x >= 10.0 {
            *x * g
        } else {
            table[half::f16::from_f32(*x).to_bits() as usize] * g
        };
    }
}

/// ggml_swiglu_split: gate <- silu(gate) * up, silu(x) = x / (1 + e^-x),
/// on rows of `row` values: `expf` for whole vectors of 16, libm's expf
/// for a row's tail as ggml_silu_f32.
pub fn swiglu(gate: &mut [f32], up: &[f32], row: usize) {
    for (gate, up) in gate.chunks_mut(row).zip(up.chunks(row)) {
        let whole = row - row % LANES;
        vec::silu_mul(&mut gate[..whole], &up[..whole]);
        for (x, g) in gate[whole..].iter_mut().zip(&up[whole..]) {
            *x = *x / (1.0 + (-*x).exp()) * g;
        }
    }
}

/// The keys and values of positions from..from + len of every kv head of one
/// layer, widened to f32 once per attention call: every query row of a head
/// group reads all of them, and widening there would repeat the conversion.
struct Widened<'a> {
    /// (kv_head, position, hd)
    k: &'a [f32],
    /// (kv_head, hd, position)
    v: &'a [f32],
    from: usize,
    len: usize,
    hd: usize,
}

impl Widened<'_> {
    /// The keys of positions lo..hi, one after the other.
    fn keys(&self, h: usize, lo: usize, hi: usize) -> &[f32] {
        let at = h * self.len - self.from;
        &self.k[(at + lo) * self.hd..(at + hi) * self.hd]
    }

    /// The values of positions lo..hi as `hd` rows: (values, stride).
    fn value_rows(&self, h: usize, lo: usize, hi: usize) -> (&[f32], usize) {
        let first = h * self.hd * self.len + lo - self.from;
        let last = first + (self.hd - 1) * self.len;
        (&self.v[first..last + hi - lo], self.len)
    }
}

/// Kv head `h`'s keys and values at positions `span`, to be widened into
/// `k` (position, hd) and `v` (hd, position).
struct WidenHead<'a> {
    cache: &'a LayerCache,
    h: usize,
    span: std::ops::Range<usize>,
    k: &'a mut [f32],
    v: &'a mut [f32],
}

impl OnLanes for WidenHead<'_> {
    type Output = ();

    #[inline(always)]
    fn run<L: Lanes>(self) {
        let Self {
            cache,
            h,
            span,
            k,
            v,
        } = self;
        L::widen(cache.keys(h, span.start, span.end), k);
        let (values, stride) = cache.value_rows(h, span.start, span.end);
        let len = span.len();
        for (d, row) in v.chunks_exact_mut(len).enumerate() {
            L::widen(&values[d * stride..d * stride + len], row);
        }
    }
}

thread_local! {
    /// [`Widened`]'s memory, reused (grown only) from call to call.
    static WIDE: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What every row of one attention call shares.
struct Row<'a> {
    q: &'a [f32],
    wide: &'a Widened<'a>,
    n_head: usize,
    group: usize,
    pos: usize,
    window: Option<usize>,
    kq_scale: f32,
    /// Several query rows (llama.cpp's sgemm order) or one.
    batched: bool,
}

/// Causal (and windowed) attention without flash attention, as llama.cpp
/// runs it: q·k on f16 operands, softmax in f32 with a f64 sum, the
/// probabilities rounded to f16 for the weighted sum of f16 values.
/// `q`: (t, heads, hd) rows for positions pos..pos+t (already in the
/// cache); returns the (t, heads * hd) output.
/// `batched` sums the q·k dots in llama.cpp's batched (prompt) order.
pub fn attention(
    q: &[f32],
    cache: &LayerCache,
    (n_head, pos, t): (usize, usize, usize),
    window: Option<usize>,
    kq_scale: f32,
    batched: bool,
) -> Vec<f32> {
    attention_with(
        &|cache, h, span, k, v| {
            vec::run(WidenHead {
                cache,
                h,
                span,
                k,
                v,
            })
        },
        &|row, r, out| vec::run(Attend { row, r, out }),
        (q, cache, n_head, pos, t, window, kq_scale, batched),
    )
}

type WidenFn = dyn Fn(&LayerCache, usize, std::ops::Range<usize>, &mut [f32], &mut [f32]) + Sync;
type AttendFn = dyn Fn(&Row, usize, &mut [f32]) + Sync;

/// [`attention`] with the given widening of a kv head and output rows
/// (each on the lanes they pick).
fn attention_with(
    widen: &WidenFn,
    attend: &AttendFn,
    (q, cache, n_head, pos, t, window, kq_scale, batched): (
        &[f32],
        &LayerCache,
        usize,
        usize,
        usize,
        Option<usize>,
        f32,
        bool,
    ),
) -> Vec<f32> {
    let (hd, nkv) = (cache.head_dim, cache.n_kv_head);
    // every row's keys lie within the first row's window start and the last
    // row's position, in whole 64-position chunks
    let lo = window.map_or(0, |w| (pos + 1).saturating_sub(w));
    let (from, to) = (lo / 64 * 64, (pos + t).next_multiple_of(64));
    let len = to - from;
    let mut out = vec![0f32; t * n_head * hd];
    WIDE.with_borrow_mut(|buf| {
        let per_head = len * hd;
        if buf.len() < 2 * nkv * per_head {
            buf.resize(2 * nkv * per_head, 0.0);
        }
        let (k, v) = buf[..2 * nkv * per_head].split_at_mut(nkv * per_head);
        k.par_chunks_mut(per_head)
            .zip(v.par_chunks_mut(per_head))
            .enumerate()
            .for_each(|(h, (k, v))| widen(cache, h, from..to, k, v));
        let wide = Widened {
            k,
            v,
            from,
            len,
            hd,
        };
        let row = Row {
            q,
            wide: &wide,
            n_head,
            group: n_head / nkv,
            pos,
            window,
            kq_scale,
            batched,
        };
        out.par_chunks_mut(hd)
            .enumerate()
            .for_each(|(r, out)| attend(&row, r, out));
    });
    out
}

/// Output row `r` (position pos + r / heads, head r % heads) of [`attention`].
struct Attend<'a> {
    row: &'a Row<'a>,
    r: usize,
    out: &'a mut [f32],
}

impl OnLanes for Attend<'_> {
    type Output = ();

    #[inline(always)]
    fn run<L: Lanes>(self) {
        let Self { row, r, out } = self;
        let hd = row.wide.hd;
        let (qp, kv_head) = (row.pos + r / row.n_head, r % row.n_head / row.group);
        let mut q = row.q[r * hd..(r + 1) * hd].to_vec();
        L::round_f16_all(&mut q);
        // keys lo..=qp are visible; work on whole 64-position chunks from
        // `from` so every position keeps its lane in llama.cpp's sums
        let lo = row.window.map_or(0, |w| (qp + 1).saturating_sub(w));
        let from = lo / 64 * 64;
        let to = (qp + 1).next_multiple_of(64);
        let mut p = vec![0f32; to - from];
        let keys = row.wide.keys(kv_head, lo, qp + 1);
        let scores = &mut p[lo - from..qp + 1 - from];
        L::dots(row.batched, keys, (hd, hd), &q, row.kq_scale, scores);
        let visible = lo - from..qp + 1 - from;
        let max = p[visible.clone()]
            .iter()
            .fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        let mut sum = 0f64;
        for (ci, chunk) in p.chunks_exact_mut(LANES).enumerate() {
            let at = ci * LANES;
            let seen =
                visible.start.clamp(at, at + LANES) - at..visible.end.clamp(at, at + LANES) - at;
            let chunk: &mut [f32; LANES] = chunk.try_into().expect("whole chunks");
            sum += L::softmax_chunk(chunk, max, seen) as f64;
        }
        let inv = (1.0 / sum) as f32;
        for x in &mut p {
            *x *= inv;
        }
        L::round_f16_all(&mut p);
        let (values, stride) = row.wide.value_rows(kv_head, from, to);
        L::dots(row.batched, values, (stride, to - from), &p, 1.0, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::vec::{test_values as values, Soft};

    /// Whole vectors of 16 through ggml's `expf` (on the lanes `vec::run`
    /// picks), then the row's tail through libm's.
    #[test]
    fn swiglu_takes_ggml_exp_on_whole_vectors_and_libm_on_the_tail() {
        let (gate, up) = (values(2 * 37, 5), values(2 * 37, 9));
        let mut want = gate.clone();
        for (i, (x, g)) in want.iter_mut().zip(&up).enumerate() {
            let e = if i % 37 < 32 {
                vec::expf(0.0 - *x)
            } else {
                (-*x).exp()
            };
            *x = *x / (1.0 + e) * g;
        }
        let mut got = gate.clone();
        swiglu(&mut got, &up, 37);
        assert_eq!(
            want.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            got.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn attention_rows_are_the_same_with_and_without_simd() {
        let (hd, heads, kv_heads, t) = (64, 4, 2, 150);
        let mut cache = LayerCache::new(kv_heads, hd, t);
        let (k, v) = (values(t * kv_heads * hd, 21), values(t * kv_heads * hd, 23));
        cache.append(&k, &v, 0, t);
        let q = values(t * heads * hd, 29);
        for (pos, rows, window) in [
            (0, t, None),
            (149, 1, None),
            (100, 50, Some(70)),
            (120, 1, Some(33)),
            (3, 5, None),
        ] {
            let q = &q[..rows * heads * hd];
            let batched = rows > 1;
            let args = (q, &cache, heads, pos, rows, window, 0.125, batched);
            let got = attention(q, &cache, (heads, pos, rows), window, 0.125, batched);
            let soft = attention_with(
                &|cache, h, span, k, v| {
                    WidenHead {
                        cache,
                        h,
                        span,
                        k,
                        v,
                    }
                    .run::<Soft>()
                },
                &|row, r, out| Attend { row, r, out }.run::<Soft>(),
                args,
            );
            let bits = |x: &[f32]| x.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&soft), "pos {pos} rows {rows}");
        }
    }

    #[test]
    fn attention_is_softmax_weighted_and_windowed() {
        // one head, hd 64, 5 positions; window 2: position p sees p-1 and p
        let (hd, t) = (64, 5);
        let mut cache = LayerCache::new(1, hd, t);
        let k: Vec<f32> = (0..t * hd)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 8.0)
            .collect();
        let v: Vec<f32> = (0..t * hd)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / 4.0)
            .collect();
        let q: Vec<f32> = (0..t * hd)
            .map(|i| ((i * 3 % 7) as f32 - 3.0) / 8.0)
            .collect();
        cache.append(&k, &v, 0, t);
        for window in [None, Some(2)] {
            let out = attention(&q, &cache, (1, 0, t), window, 0.125, true);
            for i in 0..t {
                let lo = window.map_or(0, |w| (i + 1).saturating_sub(w));
                let s: Vec<f64> = (lo..=i)
                    .map(|j| {
                        (0..hd)
                            .map(|d| (q[i * hd + d] * k[j * hd + d]) as f64)
                            .sum::<f64>()
                            * 0.125
                    })
                    .collect();
                let m = s.iter().cloned().fold(f64::MIN, f64::max);
                let z: f64 = s.iter().map(|x| (x - m).exp()).sum();
                for d in 0..hd {
                    let want: f64 = (lo..=i)
                        .map(|j| (s[j - lo] - m).exp() / z * v[j * hd + d] as f64)
                        .sum();
                    let got = out[i * hd + d] as f64;
                    assert!(
                        (got - want).abs() < 1e-2,
                        "{window:?} {i} {d}: {got} vs {want}"
                    );
                }
            }
        }
    }

    /// The ggml-order norms and activations against candle-nn's, a well-kept
    /// implementation of the same formulas in another order: they agree to float
    /// rounding (a formula error, a wrong epsilon or a swapped operand would not).
    #[test]
    fn norms_and_activations_agree_with_candle_nn() {
        use candle_core::{Device, Tensor};
        let n = 1536;
        let x = values(n, 7);
        let w = values(n, 11);
        let up = values(n, 13);
        let close = |ours: &[f32], theirs: &[f32], what: &str| {
            for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
                let tolerance = 1e-5 * (1.0 + b.abs());
                assert!(
                    (a - b).abs() <= tolerance,
                    "{what}[{i}]: {a} vs candle-nn {b}"
                );
            }
        };
        let t = |v: &[f32]| Tensor::from_slice(v, (1, v.len()), &Device::Cpu).unwrap();
        let out = |t: Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();

        let mut ours = x.clone();
        rms_norm(&mut ours, &w, 1e-6);
        let theirs = candle_nn::ops::rms_norm(&t(&x), &t(&w).squeeze(0).unwrap(), 1e-6).unwrap();
        close(&ours, &out(theirs), "rms_norm");

        let mut ours = x.clone();
        swiglu(&mut ours, &up, n);
        let theirs = (candle_nn::ops::silu(&t(&x)).unwrap() * t(&up)).unwrap();
        close(&ours, &out(theirs), "swiglu");
    }
}
