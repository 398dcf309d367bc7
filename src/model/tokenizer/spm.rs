//! SentencePiece BPE (`tokenizer.ggml.model = llama`, such as Gemma 3): merges
//! derived from the scores, byte fallback for characters outside the vocabulary.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::normalizers::{Prepend, Replace, Sequence as NormalizerSequence};
use tokenizers::{DecoderWrapper, NormalizerWrapper, Tokenizer};

use super::metadata::{meta_array, meta_bool, meta_u32, value_f32, vocab_map, Meta};
use super::tok_err;
use crate::error::{Error, Result};

/// SentencePiece's visible space.
pub(super) const SPACE: &str = "\u{2581}";

/// SentencePiece BPE (`tokenizer.ggml.model = llama`): merges derived from the scores.
pub(super) fn build_spm(md: &HashMap<String, Value>, meta: &Meta) -> Result<Tokenizer> {
    let scores: Vec<f32> = match md.get("tokenizer.ggml.scores") {
        Some(v) => meta_array(v, "tokenizer.ggml.scores")?
            .iter()
            .map(|v| value_f32(v).unwrap_or(0.0))
            .collect(),
        None => vec![0.0; meta.tokens.len()],
    };
    if scores.len() < meta.tokens.len() {
        return Err(Error::Tokenizer(format!(
            "tokenizer.ggml.scores has {} entries for {} tokens",
            scores.len(),
            meta.tokens.len()
        )));
    }
    let vocab = vocab_map(&meta.tokens)?;
    let merges = merges_from_scores(&meta.tokens, &scores, &vocab);
    let mut builder = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .byte_fallback(true);
    let unk =
        meta_u32(md, "tokenizer.ggml.unknown_token_id").and_then(|id| meta.tokens.get(id as usize));
    if let Some(unk) = unk {
        builder = builder.unk_token(unk.clone());
    }
    let mut tokenizer = Tokenizer::new(builder.build().map_err(tok_err)?);

    // llama.cpp's SPM default is to prefix a space; Gemma 3 turns it off.
    let add_space_prefix = meta_bool(md, "tokenizer.ggml.add_space_prefix").unwrap_or(true);
    let mut normalizers: Vec<NormalizerWrapper> = Vec::new();
    if add_space_prefix {
        normalizers.push(Prepend::new(SPACE.to_string()).into());
    }
    normalizers.push(Replace::new(" ", SPACE).map_err(tok_err)?.into());
    tokenizer
        .with_normalizer(Some(NormalizerSequence::new(normalizers)))
        .map_err(tok_err)?;

    let mut decoders: Vec<DecoderWrapper> = vec![
        Replace::new(SPACE, " ").map_err(tok_err)?.into(),
        ByteFallback::new().into(),
        Fuse::new().into(),
    ];
    if add_space_prefix {
        decoders.push(Strip::new(' ', 1, 0).into());
    }
    tokenizer.with_decoder(Some(DecoderSequence::new(decoders)));
    Ok(tokenizer)
}

/// BPE merges equivalent to SentencePiece's score-driven merging.
///
/// llama.cpp's SPM tokenizer repeatedly joins the adjacent pair whose concatenation is a
/// vocabulary token with the highest score. A BPE whose merges are every (left, right)
/// split of each vocabulary token, ranked by that token's score (highest first), does the
/// same. Where scores tie, llama.cpp takes the leftmost pair while a BPE rank must be
/// unique: ties go to the lower id, then the earlier split point. Only tokens sharing a
/// score can differ, and in Gemma 3 those are control/user-defined tokens (all -1000),
/// which the special-token split has usually taken out already.
fn merges_from_scores(tokens: &[String], scores: &[f32], vocab: &Vocab) -> Vec<(String, String)> {
    let mut found: Vec<(f32, u32, usize)> = Vec::new();
    for (id, tok) in tokens.iter().enumerate() {
        for (k, _) in tok.char_indices().skip(1) {
            if vocab.contains_key(&tok[..k]) && vocab.contains_key(&tok[k..]) {
                found.push((scores[id], id as u32, k));
            }
        }
    }
    found.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    found
        .into_iter()
        .map(|(_, id, k)| {
            let t = &tokens[id as usize];
            (t[..k].to_string(), t[k..].to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_follow_the_merged_tokens_score() {
        let tokens: Vec<String> = ["a", "b", "c", "ab", "bc", "abc"]
            .map(String::from)
            .to_vec();
        let scores = [0.0, 0.0, 0.0, -2.0, -1.0, -3.0];
        let vocab = vocab_map(&tokens).unwrap();
        let merges = merges_from_scores(&tokens, &scores, &vocab);
        let pairs: Vec<(&str, &str)> = merges
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        // bc (-1) before ab (-2) before both splits of abc (-3), split point order.
        assert_eq!(pairs, [("b", "c"), ("a", "b"), ("a", "bc"), ("ab", "c")]);
    }
}
