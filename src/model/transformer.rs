//! The decoder-only transformer for the architectures abridge runs, built on
//! candle tensors: llama (SmolLM2, Llama 3.x, Mistral), qwen2, qwen3, gemma3.
//!
//! They differ in a handful of switches (rope layout, qkv bias, q/k norms, extra
//! norms, sliding-window layers, activation) described by [`Config`], so one
//! forward pass serves them all. Weights are immutable and shared; each
//! sequence being generated owns a [`KvCache`], so workers can run in parallel
//! on one copy of the weights.
//!
//! The parts outside the matmuls compute what llama.cpp's CPU backend computes,
//! down to the rounding (see [`ggml`]): an f16 KV cache with f16 attention
//! operands, ggml's RMS norm, rope and GELU. The activations entering each
//! quantized matmul are themselves rounded to 8 bits per block, so a last-bit
//! difference anywhere can flip one of those roundings; on models with outlier
//! channels (gemma3: values in the hundreds next to values near 1 in one block)
//! one flip moves logits by tenths. Matching the rounding is what keeps us
//! within llama.cpp's logits rather than within its noise.

use super::weights::Blocks;
use candle_core::{Device, Tensor};
use rayon::prelude::*;

use super::gguf::Gguf;
use super::linear::QLinear;
use super::validate;
use crate::error::{Error, Result};
use crate::kernels::f16::{f16_to_f32, f32_to_f16};
use crate::kernels::Rows;

pub const SUPPORTED_ARCHITECTURES: &[&str] = &["llama", "qwen2", "qwen3", "gemma3"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Llama,
    Qwen2,
    Qwen3,
    Gemma3,
}

impl Arch {
    /// The file's architecture, or an error naming it and what is supported.
    pub fn of(g: &Gguf) -> Result<(Self, String)> {
        let name = g.architecture()?;
        match Self::from_name(&name) {
            Some(arch) => Ok((arch, name)),
            None => Err(Error::Model(format!(
                "{}: architecture `{name}` is not supported (supported: {}); \
                 use a GGUF model of one of those",
                g.path.display(),
                SUPPORTED_ARCHITECTURES.join(", ")
            ))),
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "llama" | "mistral" => Arch::Llama,
            "qwen2" => Arch::Qwen2,
            "qwen3" => Arch::Qwen3,
            "gemma3" => Arch::Gemma3,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RopeLayout {
    /// Pairs are adjacent (x0,x1),(x2,x3)...: llama GGUFs have permuted q/k weights.
    Interleaved,
    /// Pairs are split halves (x0,x_{d/2}),...: qwen, gemma.
    Neox,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub arch: Arch,
    pub n_layer: usize,
    pub n_embd: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub context_length: usize,
    pub vocab_size: usize,
    eps: f32,
    rope_base: f32,
    /// Base for sliding-window layers (gemma3 uses a different one).
    rope_base_local: f32,
    rope_layout: RopeLayout,
    /// Layer `i` is a sliding-window layer when `i % pattern < pattern - 1`.
    sliding_window: Option<(usize, usize)>,
    embed_scale: Option<f32>,
    attn_scale: f32,
    /// gemma scales q before attention (f32, then rounded to f16 with it);
    /// the others scale q·k inside the softmax.
    scale_q: bool,
    gelu: bool,
}

impl Config {
    /// The f32 order of a prompt's matmuls. llama.cpp's batched order
    /// (`Rows::Sequence`) matches its prompts to the bit, but its Q4_K 4-row
    /// order costs twice the time of one-row tiles (92 vs 199 GFLOP/s, one
    /// AVX-512 thread). The last-bit differences of the one-row order stay
    /// within the parity tolerance except for gemma3, whose outlier
    /// activations turn them into logit drift (1.36 against llama.cpp's
    /// top-5 at one step of the translate fixture): gemma3 keeps the batched order.
    /// The others take `Rows::Prompt`: the one-row order, with 32-element
    /// formats fused per block in chunks of 8+ rows (the packed kernels).
    pub fn prompt_order(&self) -> Rows {
        match self.arch {
            Arch::Gemma3 => Rows::Sequence,
            _ => Rows::Prompt,
        }
    }

    fn from_gguf(g: &Gguf, arch: Arch, arch_name: &str) -> Result<Self> {
        let key = |k: &str| format!("{arch_name}.{k}");
        let n_embd = g.usize(&key("embedding_length"))?;
        let n_head = g.usize(&key("attention.head_count"))?;
        let n_kv_head = g.usize(&key("attention.head_count_kv")).unwrap_or(n_head);
        // (validate::config rejects a head_count of 0)
        let head_dim = g
            .usize(&key("attention.key_length"))
            .unwrap_or(n_embd.checked_div(n_head).unwrap_or(0));
        let gemma = arch == Arch::Gemma3;
        let vocab_size = g
            .get("tokenizer.ggml.tokens")
            .and_then(|v| v.to_vec().ok())
            .map(Vec::len)
            .or_else(|| g.usize(&key("vocab_size")).ok())
            .unwrap_or(0);
        let rope_base = g.f32(&key("rope.freq_base")).unwrap_or(10_000.0);
        let config = Self {
            arch,
            n_layer: g.usize(&key("block_count"))?,
            n_embd,
            n_head,
            n_kv_head,
            head_dim,
            context_length: g.usize(&key("context_length")).unwrap_or(4096),
            vocab_size,
            eps: g.f32(&key("attention.layer_norm_rms_epsilon"))?,
            rope_base,
            rope_base_local: if gemma { 10_000.0 } else { rope_base },
            rope_layout: match arch {
                Arch::Llama => RopeLayout::Interleaved,
                _ => RopeLayout::Neox,
            },
            sliding_window: if gemma {
                g.usize(&key("attention.sliding_window"))
                    .ok()
                    .map(|w| (w, 6))
            } else {
                None
            },
            embed_scale: gemma.then(|| (n_embd as f32).sqrt()),
            // gemma3's query_pre_attn_scalar is head_dim for the sizes llama.cpp knows
            // (but 27B), and GGUF does not carry it.
            attn_scale: 1.0 / (head_dim as f32).sqrt(),
            scale_q: gemma,
            gelu: gemma,
        };
        validate::config(g, &config, &key)?;
        Ok(config)
    }

    fn layer_window(&self, layer: usize) -> Option<usize> {
        self.sliding_window
            .and_then(|(w, pattern)| (layer % pattern < pattern - 1).then_some(w))
    }

    fn layer_rope_base(&self, layer: usize) -> f32 {
        if self.layer_window(layer).is_some() {
            self.rope_base_local
        } else {
            self.rope_base
        }
    }
}

struct Norm {
    weight: Vec<f32>,
    eps: f32,
}

impl Norm {
    fn load(g: &mut Gguf, name: &str, eps: f32) -> Result<Self> {
        let weight = g.tensor(name)?.dequantize(&Device::Cpu)?.to_vec1()?;
        Ok(Self { weight, eps })
    }

    fn load_opt(g: &mut Gguf, name: &str, eps: f32) -> Result<Option<Self>> {
        if g.has_tensor(name) {
            Self::load(g, name, eps).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Over the last dimension, which must be the weight's length.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut v: Vec<f32> = x.flatten_all()?.to_vec1()?;
        self.apply(&mut v);
        Ok(Tensor::from_vec(v, x.dims(), &Device::Cpu)?)
    }

    /// In place on rows of the weight's length.
    fn apply(&self, v: &mut [f32]) {
        for row in v.chunks_exact_mut(self.weight.len()) {
            ggml::rms_norm(row, &self.weight, self.eps);
        }
    }
}

struct Layer {
    attn_norm: Norm,
    wq: QLinear,
    wk: QLinear,
    wv: QLinear,
    wo: QLinear,
    q_norm: Option<Norm>,
    k_norm: Option<Norm>,
    post_attn_norm: Option<Norm>,
    ffn_norm: Norm,
    gate: QLinear,
    up: QLinear,
    down: QLinear,
    post_ffn_norm: Option<Norm>,
    window: Option<usize>,
    rope_base: f32,
}

/// See [`Transformer::matmul_cost`].
#[derive(Debug, Clone, Copy, Default)]
pub struct MatmulCost {
    pub params: usize,
    pub bytes: usize,
    pub mapped_bytes: usize,
}

/// The weights of a loaded model. Cheap to share: clone the `Arc` it lives in.
pub struct Transformer {
    pub config: Config,
    embeddings: Blocks,
    layers: Vec<Layer>,
    output_norm: Norm,
    lm_head: QLinear,
    /// llama 3.1-style per-frequency rope scaling (`rope_freqs.weight`).
    rope_freqs: Option<Vec<f32>>,
}

impl Transformer {
    pub fn load(g: &mut Gguf) -> Result<Self> {
        let (arch, arch_name) = Arch::of(g)?;
        let mut config = Config::from_gguf(g, arch, &arch_name)?;
        validate::tensors(g, &mut config, &|k| format!("{arch_name}.{k}"))?;
        let eps = config.eps;
        let embeddings = g.blocks("token_embd.weight")?;
        // Tied embeddings (no output.weight) are shared, not loaded twice.
        let lm_head = if g.has_tensor("output.weight") {
            QLinear::load(g.blocks("output.weight")?, None)?
        } else {
            QLinear::load(embeddings.clone(), None)?
        };
        let rope_freqs = if g.has_tensor("rope_freqs.weight") {
            Some(
                g.tensor("rope_freqs.weight")?
                    .dequantize(&Device::Cpu)?
                    .to_vec1::<f32>()?,
            )
        } else {
            None
        };
        let mut layers = Vec::with_capacity(config.n_layer);
        for i in 0..config.n_layer {
            let p = format!("blk.{i}");
            let linear = |g: &mut Gguf, name: &str| -> Result<QLinear> {
                let w = g.blocks(&format!("{p}.{name}.weight"))?;
                let bias_name = format!("{p}.{name}.bias");
                let b = if g.has_tensor(&bias_name) {
                    Some(g.tensor(&bias_name)?.dequantize(&Device::Cpu)?)
                } else {
                    None
                };
                QLinear::load(w, b)
            };
            layers.push(Layer {
                attn_norm: Norm::load(g, &format!("{p}.attn_norm.weight"), eps)?,
                wq: linear(g, "attn_q")?,
                wk: linear(g, "attn_k")?,
                wv: linear(g, "attn_v")?,
                wo: linear(g, "attn_output")?,
                q_norm: Norm::load_opt(g, &format!("{p}.attn_q_norm.weight"), eps)?,
                k_norm: Norm::load_opt(g, &format!("{p}.attn_k_norm.weight"), eps)?,
                post_attn_norm: Norm::load_opt(g, &format!("{p}.post_attention_norm.weight"), eps)?,
                ffn_norm: Norm::load(g, &format!("{p}.ffn_norm.weight"), eps)?,
                gate: linear(g, "ffn_gate")?,
                up: linear(g, "ffn_up")?,
                down: linear(g, "ffn_down")?,
                post_ffn_norm: Norm::load_opt(g, &format!("{p}.post_ffw_norm.weight"), eps)?,
                window: config.layer_window(i),
                rope_base: config.layer_rope_base(i),
            });
        }
        Ok(Self {
            output_norm: Norm::load(g, "output_norm.weight", eps)?,
            lm_head,
            embeddings,
            layers,
            rope_freqs,
            config,
        })
    }

    /// What one position's forward costs in its matmuls: multiply-adds, bytes of
    /// weights read, and how many of those bytes are used in place from the map.
    pub fn matmul_cost(&self) -> MatmulCost {
        let mut cost = MatmulCost::default();
        let layers = self
            .layers
            .iter()
            .flat_map(|l| [&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down]);
        for linear in layers.chain([&self.lm_head]) {
            let (bytes, mapped) = linear.weight_bytes();
            cost.params += linear.params();
            cost.bytes += bytes;
            cost.mapped_bytes += if mapped { bytes } else { 0 };
        }
        cost
    }

    /// Bytes of KV cache per position (keys and values of every layer, f16).
    pub fn kv_bytes_per_position(&self) -> usize {
        let c = &self.config;
        c.n_layer * 2 * c.n_kv_head * c.head_dim * 2
    }

    /// A KV cache able to hold `capacity` positions.
    pub fn new_cache(&self, capacity: usize) -> Result<KvCache> {
        KvCache::new(&self.config, capacity)
    }

    /// Runs `ids` at positions `cache.len()..` of one sequence, appends them to the
    /// cache and returns the logits of the last position, shape (vocab,).
    pub fn forward(&self, ids: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        if ids.is_empty() {
            return Err(Error::Context("nothing to run: no tokens".into()));
        }
        let logits = self.run(ids, &mut [cache], Rows::Sequence)?;
        Ok(logits.flatten_all()?)
    }

    /// One decode step of several sequences at once: `ids[b]` is appended to
    /// `caches[b]`. Every weight is read once for the whole batch, and each row
    /// computes what it would alone. Returns the logits, shape (batch, vocab).
    pub fn decode(&self, ids: &[u32], caches: &mut [&mut KvCache]) -> Result<Tensor> {
        if ids.is_empty() || ids.len() != caches.len() {
            return Err(Error::Context(format!(
                "a decode step needs one token per sequence ({} tokens, {} sequences)",
                ids.len(),
                caches.len()
            )));
        }
        self.run(ids, caches, Rows::Independent)
    }

    /// The forward pass over the rows of one sequence (`Rows::Sequence`, one
    /// cache) or one row per sequence (`Rows::Independent`); the logits of each
    /// sequence's last row, (sequences, vocab).
    fn run(&self, ids: &[u32], caches: &mut [&mut KvCache], rows: Rows) -> Result<Tensor> {
        let c = &self.config;
        // The matmuls' f32 order for these rows: see `Config::prompt_order`.
        let mm = match rows {
            Rows::Sequence | Rows::Prompt => c.prompt_order(),
            Rows::Independent => Rows::Independent,
        };
        // (first row, rows, position) of each sequence
        let spans: Vec<(usize, usize, usize)> = match rows {
            Rows::Sequence | Rows::Prompt => vec![(0, ids.len(), caches[0].len)],
            Rows::Independent => caches
                .iter()
                .enumerate()
                .map(|(b, k)| (b, 1, k.len))
                .collect(),
        };
        for (cache, &(_, t, pos)) in caches.iter_mut().zip(&spans) {
            if pos + t > cache.capacity {
                cache.grow(pos + t)?;
            }
        }
        let dev = Device::Cpu;
        let mut x = self.embeddings.rows(ids)?.unsqueeze(0)?; // (1, rows, d)
        if let Some(s) = c.embed_scale {
            x = (x * s as f64)?;
        }
        // rotations per rope base, one table per sequence
        let mut ropes: Vec<(f32, Vec<Rope>)> = Vec::new();
        for (li, layer) in self.layers.iter().enumerate() {
            if !ropes.iter().any(|(b, _)| *b == layer.rope_base) {
                let base = layer.rope_base;
                let tables = spans.iter().map(|&(_, t, pos)| self.rope(base, pos, t));
                ropes.push((base, tables.collect()));
            }
            let rope = &ropes.iter().find(|(b, _)| *b == layer.rope_base).unwrap().1;

            let h = layer.attn_norm.forward(&x)?;
            let a = self.attention(layer, li, &h, rope, caches, &spans, mm)?;
            let a = match &layer.post_attn_norm {
                Some(n) => n.forward(&a)?,
                None => a,
            };
            x = (x + a)?;
            let h = layer.ffn_norm.forward(&x)?;
            let gate = layer.gate.forward_rows(&h, mm)?;
            let up = layer.up.forward_rows(&h, mm)?;
            let act = {
                let mut g: Vec<f32> = gate.flatten_all()?.to_vec1()?;
                let up: Vec<f32> = up.flatten_all()?.to_vec1()?;
                if c.gelu {
                    ggml::geglu(&mut g, &up);
                } else {
                    let row = *gate.dims().last().expect("(.., ffn) activations");
                    ggml::swiglu(&mut g, &up, row);
                }
                Tensor::from_vec(g, gate.dims(), &Device::Cpu)?
            };
            let m = layer.down.forward_rows(&act, mm)?;
            let m = match &layer.post_ffn_norm {
                Some(n) => n.forward(&m)?,
                None => m,
            };
            x = (x + m)?;
        }
        for (cache, &(_, t, _)) in caches.iter_mut().zip(&spans) {
            cache.len += t;
        }
        let last: Vec<u32> = spans
            .iter()
            .map(|&(r0, t, _)| (r0 + t - 1) as u32)
            .collect();
        let last = x.squeeze(0)?.index_select(&Tensor::new(last, &dev)?, 0)?;
        let logits = self
            .lm_head
            .forward_rows(&self.output_norm.forward(&last)?, mm)?;
        Ok(logits)
    }

    /// Rotations for positions pos..pos+t.
    fn rope(&self, base: f32, pos: usize, t: usize) -> Rope {
        let c = &self.config;
        Rope::new(
            base,
            self.rope_freqs.as_deref(),
            c.head_dim,
            c.rope_layout,
            pos,
            t,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn attention(
        &self,
        layer: &Layer,
        li: usize,
        x: &Tensor,
        ropes: &[Rope],
        caches: &mut [&mut KvCache],
        spans: &[(usize, usize, usize)],
        rows: Rows,
    ) -> Result<Tensor> {
        let c = &self.config;
        let (_, n, _) = x.dims3()?;
        let (nh, nkv, hd) = (c.n_head, c.n_kv_head, c.head_dim);
        // (rows, heads, hd), as the projections lay them out
        let flat = |y: Tensor| -> Result<Vec<f32>> { Ok(y.flatten_all()?.to_vec1()?) };
        let mut q = flat(layer.wq.forward_rows(x, rows)?)?;
        let mut k = flat(layer.wk.forward_rows(x, rows)?)?;
        let v = flat(layer.wv.forward_rows(x, rows)?)?;
        if let Some(norm) = &layer.q_norm {
            norm.apply(&mut q);
        }
        if let Some(norm) = &layer.k_norm {
            norm.apply(&mut k);
        }
        let kq_scale = if c.scale_q { 1.0 } else { c.attn_scale };
        let mut out = Vec::with_capacity(n * nh * hd);
        for ((cache, rope), &(r0, t, pos)) in caches.iter_mut().zip(ropes).zip(spans) {
            let q = &mut q[r0 * nh * hd..(r0 + t) * nh * hd];
            let (k, v) = (
                &mut k[r0 * nkv * hd..(r0 + t) * nkv * hd],
                &v[r0 * nkv * hd..(r0 + t) * nkv * hd],
            );
            rope.apply(q, nh);
            rope.apply(k, nkv);
            if c.scale_q {
                for x in q.iter_mut() {
                    *x *= c.attn_scale;
                }
            }
            let cache = &mut cache.layers[li];
            cache.append(k, v, pos, t);
            out.extend(ggml::attention(
                q,
                cache,
                nh,
                pos,
                t,
                layer.window,
                kq_scale,
            ));
        }
        layer
            .wo
            .forward_rows(&Tensor::from_vec(out, (1, n, nh * hd), &Device::Cpu)?, rows)
    }
}

/// Positions 0..capacity-1 of one layer, rounded to f16 as in llama.cpp's
/// default cache: keys (kv_head, position, hd), values transposed
/// (kv_head, hd, position) so the probability-weighted sum runs along a row,
/// as llama.cpp stores them without flash attention.
struct LayerCache {
    /// f16 bit patterns, as llama.cpp's cache holds them (half of f32's memory).
    k: Vec<u16>,
    v: Vec<u16>,
    n_kv_head: usize,
    head_dim: usize,
    /// A multiple of 64: `ggml::attention` reads whole 64-position chunks.
    capacity: usize,
}

impl LayerCache {
    fn new(n_kv_head: usize, head_dim: usize, capacity: usize) -> Self {
        let capacity = capacity.max(1).next_multiple_of(64);
        let n = n_kv_head * capacity * head_dim;
        Self {
            k: vec![0; n],
            v: vec![0; n],
            n_kv_head,
            head_dim,
            capacity,
        }
    }

    fn key(&self, kv_head: usize, p: usize) -> &[u16] {
        let at = (kv_head * self.capacity + p) * self.head_dim;
        &self.k[at..at + self.head_dim]
    }

    /// Values of dimension `d` at positions from..to.
    fn values(&self, kv_head: usize, d: usize, from: usize, to: usize) -> &[u16] {
        let row = (kv_head * self.head_dim + d) * self.capacity;
        &self.v[row + from..row + to]
    }

    /// Stores `t` positions from `pos`; `k`, `v` are (t, kv_head, hd) rows.
    fn append(&mut self, k: &[f32], v: &[f32], pos: usize, t: usize) {
        let (nkv, hd, cap) = (self.n_kv_head, self.head_dim, self.capacity);
        for i in 0..t {
            for h in 0..nkv {
                let src = (i * nkv + h) * hd;
                let dst = (h * cap + pos + i) * hd;
                for d in 0..hd {
                    self.k[dst + d] = f32_to_f16(k[src + d]);
                    self.v[(h * hd + d) * cap + pos + i] = f32_to_f16(v[src + d]);
                }
            }
        }
    }

    /// The same positions 0..len in a cache of (at least) `capacity`.
    fn resized(&self, capacity: usize, len: usize) -> Self {
        let mut new = Self::new(self.n_kv_head, self.head_dim, capacity);
        let hd = self.head_dim;
        for h in 0..self.n_kv_head {
            let (old, at) = (h * self.capacity * hd, h * new.capacity * hd);
            new.k[at..at + len * hd].copy_from_slice(&self.k[old..old + len * hd]);
            for d in 0..hd {
                let (old, at) = ((h * hd + d) * self.capacity, (h * hd + d) * new.capacity);
                new.v[at..at + len].copy_from_slice(&self.v[old..old + len]);
            }
        }
        new
    }
}

/// Preallocated keys and values of one sequence: appending a token writes in
/// place instead of re-concatenating the whole cache.
pub struct KvCache {
    layers: Vec<LayerCache>,
    len: usize,
    capacity: usize,
}

impl KvCache {
    fn new(c: &Config, capacity: usize) -> Result<Self> {
        let capacity = capacity.max(1).next_multiple_of(64);
        let layers = (0..c.n_layer)
            .map(|_| LayerCache::new(c.n_kv_head, c.head_dim, capacity))
            .collect();
        Ok(Self {
            layers,
            len: 0,
            capacity,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// The positions held, in a cache of their own size: a prompt prefix to reuse.
    pub fn snapshot(&self) -> KvCache {
        self.extended(self.len)
    }

    /// A copy of the positions held, able to hold `capacity` positions.
    pub fn extended(&self, capacity: usize) -> KvCache {
        let capacity = capacity.max(self.len).max(1).next_multiple_of(64);
        KvCache {
            layers: self
                .layers
                .iter()
                .map(|l| l.resized(capacity, self.len))
                .collect(),
            len: self.len,
            capacity,
        }
    }

    /// Memory held, in bytes.
    pub fn bytes(&self) -> usize {
        self.layers
            .iter()
            .map(|l| 2 * (l.k.len() + l.v.len()))
            .sum()
    }

    /// Rare (only when a caller underestimates): double, copying what is there.
    fn grow(&mut self, needed: usize) -> Result<()> {
        let capacity = needed.max(self.capacity * 2);
        for l in &mut self.layers {
            *l = l.resized(capacity, self.len);
            self.capacity = l.capacity;
        }
        Ok(())
    }
}

/// Rotary embedding tables for a run of positions, computed as ggml does:
/// theta starts at the position and is multiplied by base^(-2/d) once per
/// pair (in f32, so the error grows along the pairs exactly as in llama.cpp).
struct Rope {
    /// (t, hd/2) each
    cos: Vec<f32>,
    sin: Vec<f32>,
    head_dim: usize,
    layout: RopeLayout,
}

impl Rope {
    fn new(
        base: f32,
        freq_factors: Option<&[f32]>,
        head_dim: usize,
        layout: RopeLayout,
        pos: usize,
        t: usize,
    ) -> Self {
        let half = head_dim / 2;
        let theta_scale = base.powf(-2.0 / head_dim as f32);
        let mut cos = Vec::with_capacity(t * half);
        let mut sin = Vec::with_capacity(t * half);
        for p in pos..pos + t {
            let mut theta = p as f32;
            for i in 0..half {
                let th = freq_factors.map_or(theta, |f| theta / f[i]);
                cos.push(th.cos());
                sin.push(th.sin());
                theta *= theta_scale;
            }
        }
        Self {
            cos,
            sin,
            head_dim,
            layout,
        }
    }

    /// Rotates (t, heads, hd) rows in place. ggml's C is compiled with FMA
    /// contraction, which turns `x0*cos - x1*sin` into fma(x0, cos, -(x1*sin))
    /// and `x0*sin + x1*cos` into fma(x0, sin, x1*cos): done here explicitly.
    fn apply(&self, x: &mut [f32], heads: usize) {
        let (hd, half) = (self.head_dim, self.head_dim / 2);
        for (r, row) in x.chunks_exact_mut(hd).enumerate() {
            let at = r / heads * half;
            let (cos, sin) = (&self.cos[at..at + half], &self.sin[at..at + half]);
            for i in 0..half {
                let (a, b) = match self.layout {
                    RopeLayout::Interleaved => (2 * i, 2 * i + 1),
                    RopeLayout::Neox => (i, i + half),
                };
                let (x0, x1) = (row[a], row[b]);
                row[a] = x0.mul_add(cos[i], -(x1 * sin[i]));
                row[b] = x0.mul_add(sin[i], x1 * cos[i]);
            }
        }
    }
}

/// llama.cpp's CPU numerics (llama-cpp-python 0.3.36's ggml, x86 build with
/// AVX-512, flash attention off as that package defaults to) for the
/// operations around the matmuls, reproduced rounding for rounding: given
/// llama.cpp's own inputs, these give its tensors bit for bit (checked on
/// gemma-3-270m and SmolLM2 dumps; with the kernels, the logits of all three
/// test models match). On CPUs without AVX-512 llama.cpp sums in
/// 8 lanes instead of 16; the results then differ in the last bits only.
mod ggml {
    use super::*;

    /// Round to the nearest f16 (ties to even), as F16C's conversion does.
    pub fn round_f16(x: f32) -> f32 {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("f16c") {
            // SAFETY: F16C was just detected.
            return unsafe { simd::round_f16(x) };
        }
        round_f16_soft(x)
    }

    /// [`round_f16`] on every value, eight at a time with F16C.
    pub fn round_f16_all(xs: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("f16c") {
            // SAFETY: F16C was just detected.
            return unsafe { simd::round_f16_all(xs) };
        }
        xs.iter_mut().for_each(|x| *x = round_f16_soft(*x));
    }

    /// [`round_f16`] without F16C.
    pub fn round_f16_soft(x: f32) -> f32 {
        let e = ((x.to_bits() >> 23) & 0xff) as i32 - 127;
        if e == 128 {
            return x; // inf, nan
        }
        // 10 fraction bits down to 2^-14; below that a fixed step of 2^-24
        let ulp = f32::from_bits(((e.max(-14) - 10 + 127) as u32) << 23);
        let r = (x / ulp).round_ties_even() * ulp;
        if r.abs() >= 65536.0 {
            f32::INFINITY.copysign(x)
        } else {
            r
        }
    }

    /// The f16 bit pattern of a value `round_f16` returned, |x| < 65536.
    fn f16_bits(x: f32) -> u16 {
        let sign = ((x.to_bits() >> 16) & 0x8000) as u16;
        let a = x.abs();
        if a < f32::from_bits(113 << 23) {
            // zero or subnormal: a multiple of 2^-24
            return sign | (a * 16_777_216.0) as u16;
        }
        let e = (a.to_bits() >> 23) as u16 - 112;
        sign | e << 10 | ((a.to_bits() >> 13) & 0x3ff) as u16
    }

    fn f16_value(h: u16) -> f32 {
        let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
        let (e, m) = (((h >> 10) & 0x1f) as i32, (h & 0x3ff) as f32);
        sign * match e {
            0 => m / 16_777_216.0,
            31 if m == 0.0 => f32::INFINITY,
            31 => f32::NAN,
            _ => (1.0 + m / 1024.0) * 2f32.powi(e - 15),
        }
    }

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
                    let x = f16_value(h);
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
                table[f16_bits(round_f16(*x)) as usize] * g
            };
        }
    }

    /// ggml_swiglu_split: gate <- silu(gate) * up, silu(x) = x / (1 + e^-x),
    /// on rows of `row` values: `expf` for whole vectors of 16, libm's expf
    /// for a row's tail as ggml_silu_f32.
    pub fn swiglu(gate: &mut [f32], up: &[f32], row: usize) {
        for (gate, up) in gate.chunks_mut(row).zip(up.chunks(row)) {
            let whole = row - row % LANES;
            for (i, (x, g)) in gate.iter_mut().zip(up).enumerate() {
                let e = if i < whole {
                    expf(0.0 - *x)
                } else {
                    (-*x).exp()
                };
                *x = *x / (1.0 + e) * g;
            }
        }
    }

    /// Lanes of ggml's f32 vectors with AVX-512.
    const LANES: usize = 16;

    /// _mm512_reduce_add_ps, as GCC expands it.
    fn reduce(a: &[f32; LANES]) -> f32 {
        let mut h = [0f32; 8];
        for i in 0..8 {
            h[i] = a[i + 8] + a[i];
        }
        let q = [h[4] + h[0], h[5] + h[1], h[6] + h[2], h[7] + h[3]];
        (q[0] + q[2]) + (q[1] + q[3])
    }

    /// Dot product of f16 values (`a` as stored, `b` rounded to f16 and held
    /// in f32) in the order llama.cpp sums it: its sgemm (several query rows:
    /// one accumulator per lane over 16-value chunks) or ggml_vec_dot_f16 (one
    /// query row: four accumulators over 64-value chunks, the rest in f64).
    fn dot(batched: bool, a: &[u16], b: &[f32]) -> f32 {
        if batched && a.len().is_multiple_of(LANES) {
            let mut acc = [0f32; LANES];
            fma_lanes(a, b, &mut acc);
            return reduce(&acc);
        }
        // acc[j * LANES + l] is accumulator j's lane l
        let mut acc = [0f32; 4 * LANES];
        fma_lanes(a, b, &mut acc);
        let mut s = [0f32; LANES];
        for l in 0..LANES {
            s[l] = (acc[l] + acc[2 * LANES + l]) + (acc[LANES + l] + acc[3 * LANES + l]);
        }
        let whole = a.len() / (4 * LANES) * (4 * LANES);
        let sum = a[whole..]
            .iter()
            .zip(&b[whole..])
            .fold(reduce(&s) as f64, |sum, (a, b)| {
                sum + (f16_to_f32(*a) * b) as f64
            });
        sum as f32
    }

    /// `acc[i] = fma(a[i], b[i], acc[i])` over each whole `W`-value chunk of
    /// `a` and `b`: every lane on its own, so SIMD sums in the same order.
    fn fma_lanes<const W: usize>(a: &[u16], b: &[f32], acc: &mut [f32; W]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c")
        {
            // SAFETY: AVX2, FMA and F16C were just detected.
            return unsafe { simd::fma_lanes(a, b, acc) };
        }
        fma_lanes_soft(a, b, acc)
    }

    /// [`fma_lanes`] without SIMD.
    pub fn fma_lanes_soft<const W: usize>(a: &[u16], b: &[f32], acc: &mut [f32; W]) {
        for (a, b) in a.chunks_exact(W).zip(b.chunks_exact(W)) {
            for l in 0..W {
                acc[l] = f16_to_f32(a[l]).mul_add(b[l], acc[l]);
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    pub(super) mod simd {
        use std::arch::x86_64::*;

        /// `W` a multiple of 8, at most 64.
        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn fma_lanes<const W: usize>(a: &[u16], b: &[f32], acc: &mut [f32; W]) {
            let n = W / 8;
            let mut v = [_mm256_setzero_ps(); 8];
            for (i, v) in v[..n].iter_mut().enumerate() {
                *v = _mm256_loadu_ps(acc.as_ptr().add(8 * i));
            }
            for (a, b) in a.chunks_exact(W).zip(b.chunks_exact(W)) {
                for (i, v) in v[..n].iter_mut().enumerate() {
                    let x = _mm_loadu_si128(a.as_ptr().add(8 * i) as *const __m128i);
                    let x = _mm256_cvtph_ps(x);
                    let y = _mm256_loadu_ps(b.as_ptr().add(8 * i));
                    *v = _mm256_fmadd_ps(x, y, *v);
                }
            }
            for (i, v) in v[..n].iter().enumerate() {
                _mm256_storeu_ps(acc.as_mut_ptr().add(8 * i), *v);
            }
        }

        #[target_feature(enable = "avx,f16c")]
        pub unsafe fn round_f16_all(xs: &mut [f32]) {
            let mut chunks = xs.chunks_exact_mut(8);
            for c in &mut chunks {
                let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm256_loadu_ps(c.as_ptr()));
                _mm256_storeu_ps(c.as_mut_ptr(), _mm256_cvtph_ps(h));
            }
            for x in chunks.into_remainder() {
                *x = round_f16(*x);
            }
        }

        #[target_feature(enable = "f16c")]
        pub unsafe fn round_f16(x: f32) -> f32 {
            let h = _mm_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm_set_ss(x));
            _mm_cvtss_f32(_mm_cvtph_ps(h))
        }
    }

    /// ggml_v_expf (AVX-512): exp from a degree-5 polynomial and a scaling by 2^n.
    fn expf(x: f32) -> f32 {
        let c = f32::from_bits;
        let r = c(0x4b40_0000); // 1.5 * 2^23
        let n = x.mul_add(c(0x3fb8_aa3b), r) - r; // round(x / ln 2)
        if n.abs() > 192.0 {
            return if n <= 0.0 { 0.0 } else { f32::INFINITY };
        }
        let b = (-n).mul_add(c(0x35bf_be8e), (-n).mul_add(c(0x3f31_7200), x));
        let u = b * b;
        let j = c(0x3c07_2010)
            .mul_add(b, c(0x3d2b_9f17))
            .mul_add(u, c(0x3e2a_af33).mul_add(b, c(0x3eff_fedb)))
            .mul_add(u, c(0x3f7f_fff6).mul_add(b, 1.0));
        // _mm512_scalef_ps: one rounding; 2^n built exactly (|n| <= 192)
        let scale = f64::from_bits(((n as i64 + 1023) as u64) << 52);
        (j as f64 * scale) as f32
    }

    /// Causal (and windowed) attention without flash attention, as llama.cpp
    /// runs it: q·k on f16 operands, softmax in f32 with a f64 sum, the
    /// probabilities rounded to f16 for the weighted sum of f16 values.
    /// `q`: (t, heads, hd) rows for positions pos..pos+t (already in the
    /// cache); returns the (t, heads * hd) output.
    pub fn attention(
        q: &[f32],
        cache: &LayerCache,
        n_head: usize,
        pos: usize,
        t: usize,
        window: Option<usize>,
        kq_scale: f32,
    ) -> Vec<f32> {
        let hd = cache.head_dim;
        let group = n_head / cache.n_kv_head;
        let batched = t > 1;
        let mut out = vec![0f32; t * n_head * hd];
        out.par_chunks_mut(hd).enumerate().for_each(|(r, out)| {
            let (qp, kv_head) = (pos + r / n_head, r % n_head / group);
            let mut q = q[r * hd..(r + 1) * hd].to_vec();
            round_f16_all(&mut q);
            // keys lo..=qp are visible; work on whole 64-position chunks from
            // `from` so every position keeps its lane in llama.cpp's sums
            let lo = window.map_or(0, |w| (qp + 1).saturating_sub(w));
            let from = lo / 64 * 64;
            let to = (qp + 1).next_multiple_of(64);
            let mut p = vec![0f32; to - from];
            for j in lo..=qp {
                p[j - from] = dot(batched, cache.key(kv_head, j), &q) * kq_scale;
            }
            let visible = lo - from..qp + 1 - from;
            let max = p[visible.clone()]
                .iter()
                .fold(f32::NEG_INFINITY, |m, &x| m.max(x));
            let mut sum = 0f64;
            for (ci, chunk) in p.chunks_exact_mut(LANES).enumerate() {
                let mut e = [0f32; LANES];
                for (l, x) in chunk.iter_mut().enumerate() {
                    if visible.contains(&(ci * LANES + l)) {
                        e[l] = expf(*x - max);
                    }
                    *x = e[l];
                }
                sum += reduce(&e) as f64;
            }
            let inv = (1.0 / sum) as f32;
            for x in &mut p {
                *x *= inv;
            }
            round_f16_all(&mut p);
            for (d, o) in out.iter_mut().enumerate() {
                *o = dot(batched, cache.values(kv_head, d, from, to), &p);
            }
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_rounding() {
        use ggml::round_f16;
        assert_eq!(round_f16(1.0), 1.0);
        // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even
        assert_eq!(round_f16(1.0 + 1.0 / 2048.0), 1.0);
        assert_eq!(round_f16(1.0 + 3.0 / 2048.0), 1.0 + 2.0 / 1024.0);
        assert_eq!(round_f16(65504.0), 65504.0);
        assert_eq!(round_f16(65520.0), f32::INFINITY);
        // subnormals step by 2^-24
        assert_eq!(round_f16(3.4e-7), 6.0 / 16_777_216.0);
        assert_eq!(round_f16(-1e-9), 0.0);
    }

    #[test]
    fn f16_rounding_with_f16c_matches_the_software_rounding() {
        let mut x = 0x1234_5678u32;
        for _ in 0..200_000 {
            // xorshift over all bit patterns but NaNs
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let v = f32::from_bits(x);
            if !v.is_nan() {
                assert_eq!(ggml::round_f16(v), ggml::round_f16_soft(v), "{v:e}");
                let mut all = [v; 11];
                ggml::round_f16_all(&mut all);
                assert_eq!(all, [ggml::round_f16_soft(v); 11], "{v:e}");
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn simd_lanes_sum_as_the_scalar_lanes() {
        if !(std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c"))
        {
            return;
        }
        let a: Vec<u16> = (0..704)
            .map(|i| f32_to_f16(((i * 37 % 101) as f32 - 50.0) / 7.0))
            .collect();
        let b: Vec<f32> = (0..704)
            .map(|i| ((i * 53 % 97) as f32 - 48.0) / 3.0)
            .collect();
        fn both<const W: usize>(a: &[u16], b: &[f32]) {
            let (mut x, mut y) = ([0.5f32; W], [0.5f32; W]);
            ggml::fma_lanes_soft(a, b, &mut x);
            // SAFETY: the features were detected above.
            unsafe { ggml::simd::fma_lanes(a, b, &mut y) };
            assert_eq!(x, y);
        }
        both::<16>(&a, &b);
        both::<64>(&a, &b);
        both::<16>(&a[..40], &b[..40]);
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
            let out = ggml::attention(&q, &cache, 1, 0, t, window, 0.125);
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

    #[test]
    fn arch_names() {
        assert_eq!(Arch::from_name("qwen2"), Some(Arch::Qwen2));
        assert_eq!(Arch::from_name("mamba"), None);
    }
}
