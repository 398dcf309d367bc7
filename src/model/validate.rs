//! Checks that a GGUF's metadata and tensors describe one consistent model,
//! before anything is loaded or computed: the forward pass indexes its buffers
//! by the configuration, so a file that disagrees with itself would otherwise
//! divide by zero or read out of bounds. Every failure is one line naming the
//! key or tensor, what it is and what was expected.

use super::gguf::Gguf;
use super::transformer::Config;
use crate::error::{Error, Result};

fn inconsistent(g: &Gguf, what: String) -> Error {
    Error::Model(format!(
        "{}: {what}; the model file is inconsistent: convert or download it again",
        g.path.display()
    ))
}

/// The configuration's own invariants; `key` prefixes the architecture's keys.
pub(super) fn config(g: &Gguf, c: &Config, key: &dyn Fn(&str) -> String) -> Result<()> {
    let positive = [
        ("embedding_length", c.n_embd),
        ("block_count", c.n_layer),
        ("attention.head_count", c.n_head),
        ("attention.head_count_kv", c.n_kv_head),
        ("context_length", c.context_length),
    ];
    for (k, v) in positive {
        if v == 0 {
            return Err(inconsistent(g, format!("{} is 0", key(k))));
        }
    }
    if !c.n_head.is_multiple_of(c.n_kv_head) {
        return Err(inconsistent(
            g,
            format!(
                "head_count {} is not a multiple of head_count_kv {}",
                c.n_head, c.n_kv_head
            ),
        ));
    }
    let key_length = g.usize(&key("attention.key_length")).ok();
    if key_length.is_none() && !c.n_embd.is_multiple_of(c.n_head) {
        return Err(inconsistent(
            g,
            format!(
                "embedding_length {} is not a multiple of head_count {} (and there is no {})",
                c.n_embd,
                c.n_head,
                key("attention.key_length")
            ),
        ));
    }
    // rope rotates pairs of a head's values
    if c.head_dim == 0 || !c.head_dim.is_multiple_of(2) {
        return Err(inconsistent(
            g,
            format!(
                "head dimension {} is not a positive even number",
                c.head_dim
            ),
        ));
    }
    if let Ok(v) = g.usize(&key("attention.value_length")) {
        if v != c.head_dim {
            return Err(inconsistent(
                g,
                format!(
                    "{} {v} differs from the key length {} (not supported)",
                    key("attention.value_length"),
                    c.head_dim
                ),
            ));
        }
    }
    if matches!(g.usize(&key("attention.sliding_window")), Ok(0)) {
        return Err(inconsistent(
            g,
            format!("{} is 0", key("attention.sliding_window")),
        ));
    }
    Ok(())
}

/// One expected shape (GGUF order) and why it is expected, for the message.
struct Want<'a> {
    dims: Vec<usize>,
    why: &'a str,
}

fn dims_of(g: &Gguf, name: &str) -> Option<Vec<usize>> {
    let info = g.content.tensor_infos.get(name)?;
    Some(info.shape.dims().iter().rev().copied().collect())
}

/// `name` exists (unless `optional`) with shape `want`, stored in a type whose
/// blocks divide its rows.
fn check(g: &Gguf, name: &str, want: &Want, optional: bool) -> Result<()> {
    let Some(dims) = dims_of(g, name) else {
        if optional {
            return Ok(());
        }
        return Err(inconsistent(
            g,
            format!(
                "tensor {name} is missing (expected shape {:?}, {})",
                want.dims, want.why
            ),
        ));
    };
    if dims != want.dims {
        return Err(inconsistent(
            g,
            format!(
                "{name} has shape {dims:?}, expected {:?} ({})",
                want.dims, want.why
            ),
        ));
    }
    let dtype = g.content.tensor_infos[name].ggml_dtype;
    if !dims[0].is_multiple_of(dtype.block_size()) {
        return Err(inconsistent(
            g,
            format!(
                "{name} has rows of {} values, which {dtype:?} (blocks of {}) cannot store",
                dims[0],
                dtype.block_size()
            ),
        ));
    }
    Ok(())
}

fn product(g: &Gguf, a: usize, b: usize) -> Result<usize> {
    a.checked_mul(b)
        .ok_or_else(|| inconsistent(g, format!("{a} × {b} overflows")))
}

/// Every tensor the forward pass reads, against `c`. Fills in `c.vocab_size`
/// from the embeddings when the metadata does not give it.
pub(super) fn tensors(g: &Gguf, c: &mut Config, key: &dyn Fn(&str) -> String) -> Result<()> {
    let embd = c.n_embd;
    let rows = match dims_of(g, "token_embd.weight") {
        Some(d) if d.len() == 2 => d[1],
        _ => 0,
    };
    if c.vocab_size == 0 {
        c.vocab_size = rows;
    }
    let vocab_why = format!("embedding_length {embd} × vocabulary {}", c.vocab_size);
    let vocab = Want {
        dims: vec![embd, c.vocab_size],
        why: &vocab_why,
    };
    check(g, "token_embd.weight", &vocab, false)?;
    if c.vocab_size == 0 {
        return Err(inconsistent(g, "the vocabulary is empty".into()));
    }
    check(g, "output.weight", &vocab, true)?;
    let norm_why = format!("embedding_length {embd}");
    let norm = Want {
        dims: vec![embd],
        why: &norm_why,
    };
    check(g, "output_norm.weight", &norm, false)?;
    let hd = c.head_dim;
    let freqs_why = format!("head_dim {hd} / 2");
    let freqs = Want {
        dims: vec![hd / 2],
        why: &freqs_why,
    };
    check(g, "rope_freqs.weight", &freqs, true)?;

    let q = product(g, c.n_head, hd)?;
    let kv = product(g, c.n_kv_head, hd)?;
    let q_why = format!("head_count {} × head_dim {hd}", c.n_head);
    let kv_why = format!("head_count_kv {} × head_dim {hd}", c.n_kv_head);
    let hd_why = format!("head_dim {hd}");
    // the feed-forward width is in the metadata, or else taken from layer 0
    let ff = match g.usize(&key("feed_forward_length")) {
        Ok(ff) => ff,
        Err(_) => dims_of(g, "blk.0.ffn_gate.weight").map_or(0, |d| d.last().copied().unwrap_or(0)),
    };
    if ff == 0 {
        return Err(inconsistent(
            g,
            format!("{} is 0 or missing", key("feed_forward_length")),
        ));
    }
    let ff_why = format!("feed_forward_length {ff}");
    for i in 0..c.n_layer {
        let p = |n: &str| format!("blk.{i}.{n}");
        let linears: [(&str, usize, usize, &str); 7] = [
            ("attn_q", embd, q, &q_why),
            ("attn_k", embd, kv, &kv_why),
            ("attn_v", embd, kv, &kv_why),
            ("attn_output", q, embd, &q_why),
            ("ffn_gate", embd, ff, &ff_why),
            ("ffn_up", embd, ff, &ff_why),
            ("ffn_down", ff, embd, &ff_why),
        ];
        for (name, inp, out, why) in linears {
            let weight = Want {
                dims: vec![inp, out],
                why,
            };
            check(g, &p(&format!("{name}.weight")), &weight, false)?;
            let bias = Want {
                dims: vec![out],
                why,
            };
            check(g, &p(&format!("{name}.bias")), &bias, true)?;
        }
        for name in ["attn_norm", "ffn_norm"] {
            check(g, &p(&format!("{name}.weight")), &norm, false)?;
        }
        for name in ["post_attention_norm", "post_ffw_norm"] {
            check(g, &p(&format!("{name}.weight")), &norm, true)?;
        }
        let head = Want {
            dims: vec![hd],
            why: &hd_why,
        };
        for name in ["attn_q_norm", "attn_k_norm"] {
            check(g, &p(&format!("{name}.weight")), &head, true)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::gguf_file::Value;

    use crate::model::gguf::Gguf;
    use crate::model::synthetic::{TinyGguf, FF, LAYERS};
    use crate::model::transformer::Transformer;
    use crate::Result;

    fn load(t: &TinyGguf) -> Result<Transformer> {
        let f = tempfile::NamedTempFile::new().unwrap();
        t.write(f.path()).unwrap();
        Transformer::load(&mut Gguf::open(f.path())?)
    }

    fn error(t: TinyGguf) -> String {
        match load(&t) {
            Ok(_) => panic!("loaded: {t:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn u32v(v: usize) -> Value {
        Value::U32(v as u32)
    }

    /// Loads, and a first forward pass gives finite logits over the vocabulary.
    fn runs(t: &TinyGguf) -> Result<()> {
        let m = load(t)?;
        let mut cache = m.new_cache(8)?;
        let logits: Vec<f32> = m.forward(&[1, 5, 6], &mut cache)?.to_vec1()?;
        assert_eq!(logits.len(), m.config.vocab_size);
        assert!(logits.iter().all(|x| x.is_finite()), "{logits:?}");
        Ok(())
    }

    #[test]
    fn the_tiny_model_loads_and_runs() {
        runs(&TinyGguf::llama()).unwrap();
        // quantized weights, which the kernels take
        runs(&TinyGguf::llama().weights(candle_core::quantized::GgmlDType::Q8_0)).unwrap();
        // with the optional tensors too
        let t = TinyGguf::llama()
            .tensor("rope_freqs.weight", &[8])
            .tensor("output.weight", &[64, 32])
            .tensor("blk.0.attn_q.bias", &[64])
            .tensor("blk.1.attn_k_norm.weight", &[16]);
        runs(&t).unwrap();
    }

    #[test]
    fn inconsistent_files_name_the_key_or_tensor_and_what_was_expected() {
        let llama = TinyGguf::llama;
        let cases = [
            (
                llama().set("llama.attention.head_count", u32v(0)),
                "llama.attention.head_count is 0",
            ),
            (
                llama().set("llama.attention.head_count_kv", u32v(0)),
                "llama.attention.head_count_kv is 0",
            ),
            (
                llama().set("llama.attention.head_count_kv", u32v(3)),
                "head_count 4 is not a multiple of head_count_kv 3",
            ),
            (
                llama().set("llama.embedding_length", u32v(66)),
                "embedding_length 66 is not a multiple of head_count 4",
            ),
            (
                llama().set("llama.attention.key_length", u32v(15)),
                "head dimension 15 is not a positive even number",
            ),
            (
                llama().tensor("blk.1.attn_q.weight", &[64, 48]),
                "blk.1.attn_q.weight has shape [64, 48], expected [64, 64] \
                 (head_count 4 × head_dim 16)",
            ),
            (
                llama().tensor("blk.0.attn_k.weight", &[64, 16]),
                "blk.0.attn_k.weight has shape [64, 16], expected [64, 32] \
                 (head_count_kv 2 × head_dim 16)",
            ),
            (
                // q/k widths that disagree with the head dimension the metadata gives
                llama().set("llama.attention.key_length", u32v(8)),
                "blk.0.attn_q.weight has shape [64, 64], expected [64, 32] \
                 (head_count 4 × head_dim 8)",
            ),
            (
                llama().tensor("rope_freqs.weight", &[4]),
                "rope_freqs.weight has shape [4], expected [8] (head_dim 16 / 2)",
            ),
            (
                llama().tensor("blk.0.attn_q_norm.weight", &[8]),
                "blk.0.attn_q_norm.weight has shape [8], expected [16] (head_dim 16)",
            ),
            (
                llama().without_tensor("blk.1.ffn_down.weight"),
                "tensor blk.1.ffn_down.weight is missing (expected shape [96, 64]",
            ),
            (
                llama().without_tensor("output_norm.weight"),
                "tensor output_norm.weight is missing",
            ),
            (
                llama().set("llama.block_count", Value::U64(u64::MAX)),
                &format!("tensor blk.{LAYERS}.attn_q.weight is missing"),
            ),
            (
                llama().set("llama.context_length", u32v(0)),
                "llama.context_length is 0",
            ),
            (
                llama().set("llama.feed_forward_length", u32v(0)),
                "llama.feed_forward_length is 0 or missing",
            ),
            (
                llama().set("llama.feed_forward_length", u32v(FF + 2)),
                "blk.0.ffn_gate.weight has shape [64, 96], expected [64, 98]",
            ),
            (
                llama().tensor("token_embd.weight", &[64, 40]),
                "token_embd.weight has shape [64, 40], expected [64, 32] \
                 (embedding_length 64 × vocabulary 32)",
            ),
            (
                llama().tensor("output.weight", &[64, 31]),
                "output.weight has shape [64, 31], expected [64, 32]",
            ),
            (
                llama().set("general.alignment", u32v(0)),
                "general.alignment is 0, but it must be a power of two",
            ),
            (
                llama().set("general.alignment", u32v(24)),
                "general.alignment is 24",
            ),
        ];
        for (t, want) in cases {
            let err = error(t);
            assert!(err.contains(want), "{err}\n  should contain: {want}");
            assert!(err.contains("convert or download it again"), "{err}");
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }

    /// Any integer the configuration reads, set to edge values: the file is
    /// refused or it runs, it never panics.
    #[test]
    fn edge_values_in_the_metadata_never_panic() {
        let keys = [
            "embedding_length",
            "block_count",
            "attention.head_count",
            "attention.head_count_kv",
            "attention.key_length",
            "attention.value_length",
            "feed_forward_length",
            "context_length",
            "general.alignment",
        ];
        let values = [0, 1, 2, 3, 8, 16, 32, 64, u32::MAX as u64, u64::MAX];
        let mut refused = 0;
        for k in keys {
            let key = if k.starts_with("general.") {
                k.to_string()
            } else {
                format!("llama.{k}")
            };
            for v in values {
                let t = TinyGguf::llama().set(&key, Value::U64(v));
                match runs(&t) {
                    Ok(()) => {}
                    Err(e) => {
                        refused += 1;
                        assert_eq!(e.to_string().lines().count(), 1, "{e}");
                    }
                }
            }
        }
        assert!(refused > 0);
    }
}
