//! Tiny synthetic GGUF files for tests and fuzz seeds: a consistent model of a
//! few kilobytes (with a SentencePiece tokenizer) whose metadata and tensors a
//! test can change one at a time to build exactly the broken file it needs.
//! Public (but hidden) so that unit tests, integration tests and the fuzz crate
//! share one writer.

use std::path::Path;

use candle_core::quantized::{gguf_file::Value, GgmlDType, QTensor};
use candle_core::{Device, Tensor};

use crate::error::{Error, Result};

/// Metadata and tensor shapes of a GGUF file to write. Shapes are in GGUF order
/// (`ne0` first: a projection is `[in, out]`), as llama.cpp and gguf-dump print them.
#[derive(Clone, Debug)]
pub struct TinyGguf {
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<(String, Vec<usize>)>,
    /// How 2-D tensors (projections, embeddings) are stored; the rest stay f32.
    pub weights: GgmlDType,
}

/// Sizes of [`TinyGguf::llama`].
pub const EMBD: usize = 64;
pub const HEADS: usize = 4;
pub const KV_HEADS: usize = 2;
pub const HEAD_DIM: usize = EMBD / HEADS;
pub const FF: usize = 96;
pub const LAYERS: usize = 2;

impl TinyGguf {
    /// Only `general.architecture`, and one tensor so the file has tensor data.
    pub fn bare(arch: &str) -> Self {
        Self {
            metadata: vec![("general.architecture".into(), Value::String(arch.into()))],
            tensors: vec![("token_embd.weight".into(), vec![32, 4])],
            weights: GgmlDType::F32,
        }
    }

    /// Stores the 2-D tensors as `dtype` (their rows must be whole blocks of it):
    /// what `kernels::matmul` runs on.
    pub fn weights(mut self, dtype: GgmlDType) -> Self {
        self.weights = dtype;
        self
    }

    /// A complete, consistent llama model: it loads and runs.
    pub fn llama() -> Self {
        Self::llama_dims(EMBD, HEADS, KV_HEADS, FF, LAYERS)
    }

    /// [`Self::llama`] with other sizes (consistent if `heads` divides `embd` and
    /// `kv_heads` divides `heads`), e.g. a model of a few kilobytes for fuzz seeds.
    pub fn llama_dims(
        embd: usize,
        heads: usize,
        kv_heads: usize,
        ff: usize,
        layers: usize,
    ) -> Self {
        let head_dim = embd / heads;
        let mut tokens: Vec<String> = ["<unk>", "<s>", "</s>", "\u{2581}"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        tokens.extend(('a'..='z').map(String::from));
        tokens.extend(["\u{2581}t".to_string(), "he".to_string()]);
        let types: Vec<Value> = (0..tokens.len())
            .map(|i| {
                Value::I32(match i {
                    0 => 2,     // unknown
                    1 | 2 => 3, // control
                    _ => 1,     // normal
                })
            })
            .collect();
        let scores = (0..tokens.len()).map(|i| Value::F32(-(i as f32))).collect();
        let vocab = tokens.len();
        let mut g = Self::bare("llama");
        g.tensors.clear();
        let u32v = |v: usize| Value::U32(v as u32);
        g = g
            .set("general.alignment", u32v(32))
            .set("llama.embedding_length", u32v(embd))
            .set("llama.block_count", u32v(layers))
            .set("llama.attention.head_count", u32v(heads))
            .set("llama.attention.head_count_kv", u32v(kv_heads))
            .set("llama.feed_forward_length", u32v(ff))
            .set("llama.context_length", u32v(256))
            .set("llama.rope.dimension_count", u32v(head_dim))
            .set("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5))
            .set("tokenizer.ggml.model", Value::String("llama".into()))
            .set(
                "tokenizer.ggml.tokens",
                Value::Array(tokens.into_iter().map(Value::String).collect()),
            )
            .set("tokenizer.ggml.token_type", Value::Array(types))
            .set("tokenizer.ggml.scores", Value::Array(scores))
            .set("tokenizer.ggml.bos_token_id", u32v(1))
            .set("tokenizer.ggml.eos_token_id", u32v(2))
            .tensor("token_embd.weight", &[embd, vocab])
            .tensor("output_norm.weight", &[embd]);
        let (q, kv) = (heads * head_dim, kv_heads * head_dim);
        for i in 0..layers {
            let p = |n: &str| format!("blk.{i}.{n}.weight");
            g = g
                .tensor(&p("attn_norm"), &[embd])
                .tensor(&p("attn_q"), &[embd, q])
                .tensor(&p("attn_k"), &[embd, kv])
                .tensor(&p("attn_v"), &[embd, kv])
                .tensor(&p("attn_output"), &[q, embd])
                .tensor(&p("ffn_norm"), &[embd])
                .tensor(&p("ffn_gate"), &[embd, ff])
                .tensor(&p("ffn_up"), &[embd, ff])
                .tensor(&p("ffn_down"), &[ff, embd]);
        }
        g
    }

    /// Sets (or adds) a metadata key.
    pub fn set(mut self, key: &str, value: Value) -> Self {
        match self.metadata.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.metadata.push((key.into(), value)),
        }
        self
    }

    pub fn remove(mut self, key: &str) -> Self {
        self.metadata.retain(|(k, _)| k != key);
        self
    }

    /// Sets (or adds) a tensor's shape, GGUF order.
    pub fn tensor(mut self, name: &str, dims: &[usize]) -> Self {
        match self.tensors.iter_mut().find(|(n, _)| n == name) {
            Some((_, d)) => *d = dims.to_vec(),
            None => self.tensors.push((name.into(), dims.to_vec())),
        }
        self
    }

    pub fn without_tensor(mut self, name: &str) -> Self {
        self.tensors.retain(|(n, _)| n != name);
        self
    }

    /// The file's bytes. Tensors have small varied values, so a forward pass
    /// computes something other than zeros.
    pub fn bytes(&self) -> Result<Vec<u8>> {
        let tensors = self
            .tensors
            .iter()
            .map(|(name, dims)| {
                let n: usize = dims.iter().product();
                let values = (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) / 400.0);
                let shape: Vec<usize> = dims.iter().rev().copied().collect();
                let t = Tensor::from_iter(values, &Device::Cpu)?.reshape(shape)?;
                let dtype = if dims.len() == 2 {
                    self.weights
                } else {
                    GgmlDType::F32
                };
                Ok((name.as_str(), QTensor::quantize(&t, dtype)?))
            })
            .collect::<Result<Vec<_>>>()?;
        let metadata: Vec<(&str, &Value)> =
            self.metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (*n, t)).collect();
        let mut out = std::io::Cursor::new(Vec::new());
        candle_core::quantized::gguf_file::write(&mut out, &metadata, &tensors)?;
        Ok(out.into_inner())
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.bytes()?).map_err(|e| Error::io(path, e))
    }
}
