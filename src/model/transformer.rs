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

use super::ggml;
use super::gguf::Gguf;
pub use super::kv::KvCache;
use super::linear::QLinear;
use super::validate;
use crate::error::{Error, Result};
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

    /// Whether every projection runs on abridge's kernels, whose rows are
    /// computed one by one whatever their number: candle's fallback (float
    /// weights, `ABRIDGE_KERNELS=candle`) may sum a row differently in a
    /// larger matmul, so a checked draft would not be exactly a decode step.
    pub fn rows_independent(&self) -> bool {
        self.linears().all(QLinear::is_ours)
    }

    fn linears(&self) -> impl Iterator<Item = &QLinear> {
        self.layers
            .iter()
            .flat_map(|l| [&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down])
            .chain([&self.lm_head])
    }

    /// What one position's forward costs in its matmuls: multiply-adds, bytes of
    /// weights read, and how many of those bytes are used in place from the map.
    pub fn matmul_cost(&self) -> MatmulCost {
        let mut cost = MatmulCost::default();
        for linear in self.linears() {
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
        let logits = self.run(ids, &[ids.len()], &mut [cache], Pass::Prompt)?;
        Ok(logits.flatten_all()?)
    }

    /// Whether [`Self::forward_prompts`] gives each sequence exactly what
    /// [`Self::forward`] gives it alone, for chunks of [`FUSED_ROWS`](crate::kernels::FUSED_ROWS) rows or
    /// more: the prompt order computes each row on its own from there (llama.cpp's
    /// batched order, gemma's, groups rows; candle's fallback may sum a row
    /// differently in a larger matmul).
    pub fn batches_prompts(&self) -> bool {
        self.config.prompt_order() == Rows::Prompt && self.rows_independent()
    }

    /// One prefill step of several sequences at once: `chunks[b]` runs at
    /// positions `caches[b].len()..` of sequence b and is appended to its cache.
    /// Every weight is read once for all the rows. Returns each sequence's last
    /// row's logits, (sequences, vocab): where [`Self::batches_prompts`] and every
    /// chunk has at least [`FUSED_ROWS`](crate::kernels::FUSED_ROWS) rows, what `forward` gives each alone.
    pub fn forward_prompts(
        &self,
        chunks: &[&[u32]],
        caches: &mut [&mut KvCache],
    ) -> Result<Tensor> {
        if chunks.is_empty() || chunks.len() != caches.len() || chunks.iter().any(|c| c.is_empty())
        {
            return Err(Error::Context(format!(
                "a prefill step needs a non-empty chunk per sequence ({} chunks, {} sequences)",
                chunks.len(),
                caches.len()
            )));
        }
        let last: Vec<usize> = chunks.iter().map(|c| c.len() - 1).collect();
        self.forward_prompt_rows(chunks, caches, &last)
    }

    /// [`Self::forward_prompts`], returning the logits of rows `from[b]..` of
    /// each chunk b, one sequence's rows after another's (rows, vocab): the
    /// log-probabilities of a prompt's own tokens, for scoring a text the model
    /// is taught rather than asked to write. The rows are computed as in
    /// `forward_prompts`; only the output projection runs for more of them.
    pub fn forward_prompt_rows(
        &self,
        chunks: &[&[u32]],
        caches: &mut [&mut KvCache],
        from: &[usize],
    ) -> Result<Tensor> {
        if chunks.is_empty()
            || chunks.len() != caches.len()
            || chunks.len() != from.len()
            || chunks.iter().zip(from).any(|(c, f)| *f >= c.len())
        {
            return Err(Error::Context(format!(
                "a prefill step needs a non-empty chunk per sequence and a row of it to \
                 start the logits at ({} chunks, {} sequences, {} starts)",
                chunks.len(),
                caches.len(),
                from.len()
            )));
        }
        let ids: Vec<u32> = chunks.concat();
        let lens: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
        self.run_rows(&ids, &lens, caches, Pass::Prompt, Some(from))
    }

    /// Runs `ids` at positions `cache.len()..` of one sequence, each row
    /// computed exactly as a one-row decode step would compute it, and returns
    /// every row's logits, (rows, vocab): drafted tokens checked in one pass.
    /// The caller truncates the cache to the rows it keeps.
    pub fn verify(&self, ids: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        if ids.is_empty() {
            return Err(Error::Context("nothing to run: no tokens".into()));
        }
        self.run(ids, &[ids.len()], &mut [cache], Pass::Verify)
    }

    /// The mean of the final hidden states (after the output norm) of `ids`, a
    /// text's embedding from the model's own prefill, read in prompt-sized
    /// chunks. (For comparing story grouping by embeddings with TF-IDF.)
    pub fn embed(&self, ids: &[u32]) -> Result<Vec<f32>> {
        if ids.is_empty() {
            return Err(Error::Context("nothing to embed: no tokens".into()));
        }
        let mut cache = self.new_cache(ids.len())?;
        let mut sum = vec![0f64; self.config.n_embd];
        for chunk in ids.chunks(super::generate::PREFILL_CHUNK) {
            let h: Vec<Vec<f32>> = self
                .run(chunk, &[chunk.len()], &mut [&mut cache], Pass::Hidden)?
                .to_vec2()?;
            for row in h {
                for (s, x) in sum.iter_mut().zip(row) {
                    *s += x as f64;
                }
            }
        }
        Ok(sum.iter().map(|s| (s / ids.len() as f64) as f32).collect())
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
        self.run(ids, &vec![1; ids.len()], caches, Pass::Decode)
    }

    /// The forward pass of `pass` over `ids`, `lens[b]` rows of sequence b
    /// after another; the logits of each sequence's last row, (sequences,
    /// vocab), or of every row when verifying.
    fn run(
        &self,
        ids: &[u32],
        lens: &[usize],
        caches: &mut [&mut KvCache],
        pass: Pass,
    ) -> Result<Tensor> {
        self.run_rows(ids, lens, caches, pass, None)
    }

    /// [`Self::run`], with the logits of rows `from[b]..` of each sequence b
    /// where `from` is given.
    fn run_rows(
        &self,
        ids: &[u32],
        lens: &[usize],
        caches: &mut [&mut KvCache],
        pass: Pass,
        from: Option<&[usize]>,
    ) -> Result<Tensor> {
        let c = &self.config;
        // The matmuls' f32 order for these rows: see `Config::prompt_order`.
        let mm = match pass {
            Pass::Prompt | Pass::Hidden => c.prompt_order(),
            Pass::Decode | Pass::Verify => Rows::Independent,
        };
        // (first row, rows, position) of each sequence
        let spans: Vec<(usize, usize, usize)> = lens
            .iter()
            .zip(caches.iter())
            .scan(0, |r0, (&t, k)| {
                *r0 += t;
                Some((*r0 - t, t, k.len))
            })
            .collect();
        debug_assert_eq!(lens.iter().sum::<usize>(), ids.len());
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
            let a = self.attention(layer, li, &h, rope, caches, &spans, (mm, pass))?;
            let a = match &layer.post_attn_norm {
                Some(n) => n.forward(&a)?,
                None => a,
            };
            x = (x + a)?;
            let h = layer.ffn_norm.forward(&x)?;
            let [gate, up]: [Tensor; 2] = QLinear::forward_many(&[&layer.gate, &layer.up], &h, mm)?
                .try_into()
                .expect("two layers, two outputs");
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
        if pass == Pass::Hidden {
            return self.output_norm.forward(&x.squeeze(0)?);
        }
        let last: Vec<u32> = match (pass, from) {
            (Pass::Verify | Pass::Hidden, _) => (0..ids.len() as u32).collect(),
            (Pass::Prompt | Pass::Decode, Some(from)) => spans
                .iter()
                .zip(from)
                .flat_map(|(&(r0, t, _), &f)| (r0 + f) as u32..(r0 + t) as u32)
                .collect(),
            (Pass::Prompt | Pass::Decode, None) => spans
                .iter()
                .map(|&(r0, t, _)| (r0 + t - 1) as u32)
                .collect(),
        };
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
        (rows, pass): (Rows, Pass),
    ) -> Result<Tensor> {
        let c = &self.config;
        let (_, n, _) = x.dims3()?;
        let (nh, nkv, hd) = (c.n_head, c.n_kv_head, c.head_dim);
        // (rows, heads, hd), as the projections lay them out
        let flat = |y: Tensor| -> Result<Vec<f32>> { Ok(y.flatten_all()?.to_vec1()?) };
        let [q, k, v]: [Tensor; 3] =
            QLinear::forward_many(&[&layer.wq, &layer.wk, &layer.wv], x, rows)?
                .try_into()
                .expect("three layers, three outputs");
        let (mut q, mut k, v) = (flat(q)?, flat(k)?, flat(v)?);
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
            // A prompt's rows sum in llama.cpp's batched order; checked
            // drafts sum as the decode steps they stand for.
            let batched = matches!(pass, Pass::Prompt | Pass::Hidden) && t > 1;
            out.extend(ggml::attention(
                q,
                cache,
                (nh, pos, t),
                layer.window,
                kq_scale,
                batched,
            ));
        }
        layer
            .wo
            .forward_rows(&Tensor::from_vec(out, (1, n, nh * hd), &Device::Cpu)?, rows)
    }
}

/// What a forward pass runs, which fixes its f32 order and the logits it returns.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Consecutive positions of one sequence in the prompt order; the last row's logits.
    Prompt,
    /// One row per sequence; each row's logits.
    Decode,
    /// Consecutive positions of one sequence, each row as `Decode` computes
    /// it; every row's logits.
    Verify,
    /// Consecutive positions of one sequence in the prompt order; every row's
    /// final hidden state (after the output norm), no logits.
    Hidden,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_names() {
        assert_eq!(Arch::from_name("qwen2"), Some(Arch::Qwen2));
        assert_eq!(Arch::from_name("mamba"), None);
    }
}
