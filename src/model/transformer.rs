//! The decoder-only transformer for the architectures abridge runs, built on
//! candle tensors: llama (SmolLM2, Llama 3.x, Mistral), qwen2, qwen3, gemma3.
//!
//! They differ in a handful of switches (rope layout, qkv bias, q/k norms, extra
//! norms, sliding-window layers, activation) described by [`Config`], so one
//! forward pass serves them all. Weights are immutable and shared; each
//! sequence being generated owns a [`KvCache`], so workers can run in parallel
//! on one copy of the weights.

use candle_core::quantized::QTensor;
use candle_core::{DType, Device, Tensor};

use super::gguf::Gguf;
use super::linear::QLinear;
use crate::error::{Error, Result};

pub const SUPPORTED_ARCHITECTURES: &[&str] = &["llama", "qwen2", "qwen3", "gemma3"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Llama,
    Qwen2,
    Qwen3,
    Gemma3,
}

impl Arch {
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
    gelu: bool,
}

impl Config {
    fn from_gguf(g: &Gguf, arch: Arch, arch_name: &str) -> Result<Self> {
        let key = |k: &str| format!("{arch_name}.{k}");
        let n_embd = g.usize(&key("embedding_length"))?;
        let n_head = g.usize(&key("attention.head_count"))?;
        let n_kv_head = g.usize(&key("attention.head_count_kv")).unwrap_or(n_head);
        let head_dim = g
            .usize(&key("attention.key_length"))
            .unwrap_or(n_embd / n_head);
        let gemma = arch == Arch::Gemma3;
        let vocab_size = g
            .get("tokenizer.ggml.tokens")
            .and_then(|v| v.to_vec().ok())
            .map(Vec::len)
            .or_else(|| g.usize(&key("vocab_size")).ok())
            .unwrap_or(0);
        let rope_base = g.f32(&key("rope.freq_base")).unwrap_or(10_000.0);
        Ok(Self {
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
            gelu: gemma,
        })
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
    weight: Tensor,
    eps: f32,
}

impl Norm {
    fn load(g: &mut Gguf, name: &str, eps: f32) -> Result<Self> {
        let weight = g.tensor(name)?.dequantize(&Device::Cpu)?;
        Ok(Self { weight, eps })
    }

    fn load_opt(g: &mut Gguf, name: &str, eps: f32) -> Result<Option<Self>> {
        if g.has_tensor(name) {
            Self::load(g, name, eps).map(Some)
        } else {
            Ok(None)
        }
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::rms_norm(
            &x.contiguous()?,
            &self.weight,
            self.eps,
        )?)
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

/// The weights of a loaded model. Cheap to share: clone the `Arc` it lives in.
pub struct Transformer {
    pub config: Config,
    embeddings: QTensor,
    layers: Vec<Layer>,
    output_norm: Norm,
    lm_head: QLinear,
    /// llama 3.1-style per-frequency rope scaling (`rope_freqs.weight`).
    rope_freqs: Option<Vec<f32>>,
}

impl Transformer {
    pub fn load(g: &mut Gguf) -> Result<Self> {
        let arch_name = g.architecture()?;
        let arch = Arch::from_name(&arch_name).ok_or_else(|| {
            Error::Model(format!(
                "{}: architecture `{arch_name}` is not supported (supported: {}); \
                 use a GGUF model of one of those",
                g.path.display(),
                SUPPORTED_ARCHITECTURES.join(", ")
            ))
        })?;
        let config = Config::from_gguf(g, arch, &arch_name)?;
        let eps = config.eps;
        let embeddings = g.tensor("token_embd.weight")?;
        let lm_head = if g.has_tensor("output.weight") {
            g.tensor("output.weight")?
        } else {
            g.tensor("token_embd.weight")?
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
                let w = g.tensor(&format!("{p}.{name}.weight"))?;
                let bias_name = format!("{p}.{name}.bias");
                let b = if g.has_tensor(&bias_name) {
                    Some(g.tensor(&bias_name)?.dequantize(&Device::Cpu)?)
                } else {
                    None
                };
                QLinear::new(w, b)
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
            lm_head: QLinear::new(lm_head, None)?,
            embeddings,
            layers,
            rope_freqs,
            config,
        })
    }

    /// A KV cache able to hold `capacity` positions.
    pub fn new_cache(&self, capacity: usize) -> Result<KvCache> {
        KvCache::new(&self.config, capacity)
    }

    /// Runs `ids` at positions `cache.len()..`, appends them to the cache and
    /// returns the logits of the last position, shape (vocab,).
    pub fn forward(&self, ids: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        let c = &self.config;
        let t = ids.len();
        let pos = cache.len;
        if t == 0 {
            return Err(Error::Context("nothing to run: no tokens".into()));
        }
        if pos + t > cache.capacity {
            cache.grow(pos + t)?;
        }
        let dev = Device::Cpu;
        let ids_t = Tensor::new(ids, &dev)?;
        let mut x = self.embeddings.embedding(&ids_t)?.unsqueeze(0)?; // (1, t, d)
        if let Some(s) = c.embed_scale {
            x = (x * s as f64)?;
        }
        let mut ropes: Vec<(f32, (Tensor, Tensor))> = Vec::new();
        for (li, layer) in self.layers.iter().enumerate() {
            if !ropes.iter().any(|(b, _)| *b == layer.rope_base) {
                ropes.push((layer.rope_base, self.rope_tables(layer.rope_base, pos, t)?));
            }
            let (cos, sin) = &ropes.iter().find(|(b, _)| *b == layer.rope_base).unwrap().1;

            let h = layer.attn_norm.forward(&x)?;
            let a = self.attention(layer, &h, cos, sin, &mut cache.layers[li], pos)?;
            let a = match &layer.post_attn_norm {
                Some(n) => n.forward(&a)?,
                None => a,
            };
            x = (x + a)?;
            let h = layer.ffn_norm.forward(&x)?;
            let gate = layer.gate.forward(&h)?;
            let gate = if c.gelu {
                gate.gelu()?
            } else {
                candle_nn::ops::silu(&gate)?
            };
            let m = layer.down.forward(&(gate * layer.up.forward(&h)?)?)?;
            let m = match &layer.post_ffn_norm {
                Some(n) => n.forward(&m)?,
                None => m,
            };
            x = (x + m)?;
        }
        cache.len += t;
        let last = x.narrow(1, t - 1, 1)?;
        let logits = self.lm_head.forward(&self.output_norm.forward(&last)?)?;
        Ok(logits.flatten_all()?)
    }

    /// cos/sin tables, shape (t, head_dim/2), for positions pos..pos+t.
    fn rope_tables(&self, base: f32, pos: usize, t: usize) -> Result<(Tensor, Tensor)> {
        let d = self.config.head_dim;
        let mut inv: Vec<f32> = (0..d / 2)
            .map(|i| 1.0 / base.powf(2.0 * i as f32 / d as f32))
            .collect();
        if let Some(f) = &self.rope_freqs {
            for (v, s) in inv.iter_mut().zip(f) {
                *v /= s;
            }
        }
        let mut cos = Vec::with_capacity(t * d / 2);
        let mut sin = Vec::with_capacity(t * d / 2);
        for p in pos..pos + t {
            for f in &inv {
                let a = p as f32 * f;
                cos.push(a.cos());
                sin.push(a.sin());
            }
        }
        let dev = Device::Cpu;
        Ok((
            Tensor::from_vec(cos, (t, d / 2), &dev)?,
            Tensor::from_vec(sin, (t, d / 2), &dev)?,
        ))
    }

    fn attention(
        &self,
        layer: &Layer,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        cache: &mut LayerCache,
        pos: usize,
    ) -> Result<Tensor> {
        let c = &self.config;
        let (_, t, _) = x.dims3()?;
        let (nh, nkv, hd) = (c.n_head, c.n_kv_head, c.head_dim);
        let q = layer.wq.forward(x)?.reshape((1, t, nh, hd))?;
        let k = layer.wk.forward(x)?.reshape((1, t, nkv, hd))?;
        let v = layer.wv.forward(x)?.reshape((1, t, nkv, hd))?;
        let q = match &layer.q_norm {
            Some(n) => n.forward(&q)?,
            None => q,
        };
        let k = match &layer.k_norm {
            Some(n) => n.forward(&k)?,
            None => k,
        };
        // (1, heads, t, hd) for rope and attention
        let q = q.transpose(1, 2)?.contiguous()?;
        let k = k.transpose(1, 2)?.contiguous()?;
        let v = v.transpose(1, 2)?.contiguous()?;
        let (q, k) = match c.rope_layout {
            RopeLayout::Interleaved => (
                candle_nn::rotary_emb::rope_i(&q, cos, sin)?,
                candle_nn::rotary_emb::rope_i(&k, cos, sin)?,
            ),
            RopeLayout::Neox => (
                candle_nn::rotary_emb::rope(&q, cos, sin)?,
                candle_nn::rotary_emb::rope(&k, cos, sin)?,
            ),
        };
        cache.k.slice_set(&k, 2, pos)?;
        cache.v.slice_set(&v, 2, pos)?;
        let total = pos + t;
        // A sliding-window layer never looks further back than the window.
        let start = layer.window.map_or(0, |w| (pos + 1).saturating_sub(w));
        let keys = cache.k.narrow(2, start, total - start)?;
        let values = cache.v.narrow(2, start, total - start)?;
        let span = total - start;

        // Grouped-query attention without copying K/V per head: the `g` query
        // heads sharing a kv head become extra rows of one matmul.
        let g = nh / nkv;
        let q = (q * c.attn_scale as f64)?.reshape((1, nkv, g * t, hd))?;
        let scores = q.matmul(&keys.t()?)?; // (1, nkv, g*t, span)
                                            // One new token sees every key from `start`: no mask needed.
        let scores = if t > 1 {
            let mask = attention_mask(t, pos, start, span, layer.window)?;
            scores
                .reshape((1, nkv, g, t, span))?
                .broadcast_add(&mask)?
                .reshape((1, nkv, g * t, span))?
        } else {
            scores
        };
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let out = probs.matmul(&values.contiguous()?)?; // (1, nkv, g*t, hd)
        let out = out
            .reshape((1, nh, t, hd))?
            .transpose(1, 2)?
            .reshape((1, t, nh * hd))?;
        layer.wo.forward(&out)
    }
}

/// Additive mask (t, span): query `i` is at position `pos + i`, key `j` at
/// `start + j`. Masked: the future, and (sliding layers) keys `window` or more
/// positions back, as llama.cpp does.
fn attention_mask(
    t: usize,
    pos: usize,
    start: usize,
    span: usize,
    window: Option<usize>,
) -> Result<Tensor> {
    let mut m = vec![0f32; t * span];
    for i in 0..t {
        let qp = pos + i;
        for j in 0..span {
            let kp = start + j;
            let masked = kp > qp || window.is_some_and(|w| qp - kp >= w);
            if masked {
                m[i * span + j] = f32::NEG_INFINITY;
            }
        }
    }
    Ok(Tensor::from_vec(m, (t, span), &Device::Cpu)?)
}

struct LayerCache {
    k: Tensor,
    v: Tensor,
}

/// Preallocated keys and values of one sequence: appending a token writes in
/// place instead of re-concatenating the whole cache.
pub struct KvCache {
    layers: Vec<LayerCache>,
    len: usize,
    capacity: usize,
    shape: (usize, usize),
}

impl KvCache {
    fn new(c: &Config, capacity: usize) -> Result<Self> {
        let capacity = capacity.max(1);
        let layers = (0..c.n_layer)
            .map(|_| {
                let z = || {
                    Tensor::zeros(
                        (1, c.n_kv_head, capacity, c.head_dim),
                        DType::F32,
                        &Device::Cpu,
                    )
                };
                Ok(LayerCache { k: z()?, v: z()? })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            layers,
            len: 0,
            capacity,
            shape: (c.n_kv_head, c.head_dim),
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

    /// Rare (only when a caller underestimates): double, copying what is there.
    fn grow(&mut self, needed: usize) -> Result<()> {
        let capacity = needed.max(self.capacity * 2);
        let (nkv, hd) = self.shape;
        for l in &mut self.layers {
            for t in [&mut l.k, &mut l.v] {
                let bigger = Tensor::zeros((1, nkv, capacity, hd), DType::F32, &Device::Cpu)?;
                if self.len > 0 {
                    bigger.slice_set(&t.narrow(2, 0, self.len)?.contiguous()?, 2, 0)?;
                }
                *t = bigger;
            }
        }
        self.capacity = capacity;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_is_causal_and_windowed() {
        let m = attention_mask(3, 2, 0, 5, Some(2)).unwrap();
        let m: Vec<Vec<f32>> = m.to_vec2().unwrap();
        // query at pos 2 sees keys 1,2; pos 3 sees 2,3; pos 4 sees 3,4
        let seen: Vec<Vec<usize>> = m
            .iter()
            .map(|r| (0..5).filter(|&j| r[j] == 0.0).collect())
            .collect();
        assert_eq!(seen, vec![vec![1, 2], vec![2, 3], vec![3, 4]]);
        let m: Vec<Vec<f32>> = attention_mask(2, 0, 0, 2, None).unwrap().to_vec2().unwrap();
        assert_eq!(m[0][1], f32::NEG_INFINITY);
        assert_eq!(m[1], vec![0.0, 0.0]);
    }

    #[test]
    fn arch_names() {
        assert_eq!(Arch::from_name("qwen2"), Some(Arch::Qwen2));
        assert_eq!(Arch::from_name("mamba"), None);
    }
}
