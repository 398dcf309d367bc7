//! Byte-level BPE (`tokenizer.ggml.model = gpt2`): llama.cpp's pre-tokenizer
//! families (`tokenizer.ggml.pre`) and the `tokenizers` pipeline built from them.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer};

use super::metadata::{meta_array, vocab_map, Meta};
use super::tok_err;
use crate::error::{Error, Result};

/// GPT-2's split. llama.cpp's string lacks the final `|\s+`, but it never runs that string
/// as a regex: its hand-written matcher (`unicode_regex_split_custom_gpt2`) includes the
/// `\s+` fallback, as HF's GPT-2 pattern does.
const RE_GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
const RE_LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const RE_QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// llama.cpp's `LLAMA_VOCAB_PRE_TYPE_DEFAULT` (also used when `tokenizer.ggml.pre` is missing).
const RE_DEFAULT: &[&str] = &[
    r"[\p{P}\$\+<=>\^~\|]+",
    RE_GPT2,
    r"\p{N}+",
    r"[0-9][0-9][0-9]",
];

/// How llama.cpp pre-tokenizes one `tokenizer.ggml.pre` family of byte-level BPE models.
pub(super) struct BpePre {
    /// Applied in sequence; each one splits the pieces of the previous one.
    pub(super) regexes: &'static [&'static str],
    /// llama.cpp's `ignore_merges`: a piece that is a whole vocabulary token is kept.
    pub(super) ignore_merges: bool,
    /// llama.cpp's default for `add_bos` before `tokenizer.ggml.add_bos_token` overrides it.
    pub(super) add_bos: bool,
}

/// The `tokenizer.ggml.pre` values handled for `gpt2` models (llama.cpp `llama_vocab::impl::load`).
const SUPPORTED_PRE: &str =
    "default, gpt2/gpt-2 (phi-2, mpt, olmo, jais), smollm (starcoder, refact, \
command-r, codeshell, exaone, minerva-7b), qwen2 (deepseek-r1-qwen, stablelm2, megrez), \
llama-bpe (llama3, llama-v3, falcon3, pixtral), dbrx, smaug-bpe";

pub(super) fn bpe_pre(pre: &str) -> Option<BpePre> {
    let (regexes, ignore_merges, add_bos): (&'static [&'static str], bool, bool) = match pre {
        "default" => (RE_DEFAULT, false, false),
        "gpt2" | "gpt-2" | "phi-2" | "mpt" | "olmo" | "jais" => (&[RE_GPT2], false, false),
        "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva-7b" => {
            (&[r"\p{N}", RE_GPT2], false, false)
        }
        "qwen2" | "deepseek-r1-qwen" | "stablelm2" | "megrez" => (&[RE_QWEN2], false, false),
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "pixtral" => (&[RE_LLAMA3], true, true),
        "dbrx" | "smaug-bpe" => (&[RE_LLAMA3], false, false),
        _ => return None,
    };
    Some(BpePre {
        regexes,
        ignore_merges,
        add_bos,
    })
}

/// Byte-level BPE (`tokenizer.ggml.model = gpt2`); also returns llama.cpp's `add_bos` default.
pub(super) fn build_bpe(md: &HashMap<String, Value>, meta: &Meta) -> Result<(Tokenizer, bool)> {
    let pre_name = meta.pre.as_deref().unwrap_or("default");
    let pre = bpe_pre(pre_name).ok_or_else(|| {
        Error::Tokenizer(format!(
            "unsupported pre-tokenizer `{pre_name}` (tokenizer.ggml.pre) for a gpt2 tokenizer; \
             supported: {SUPPORTED_PRE}"
        ))
    })?;
    let merges_value = md.get("tokenizer.ggml.merges").ok_or_else(|| {
        Error::Tokenizer("gpt2 tokenizer without tokenizer.ggml.merges in the GGUF".into())
    })?;
    let vocab = vocab_map(&meta.tokens)?;
    let mut merges = Vec::new();
    for v in meta_array(merges_value, "tokenizer.ggml.merges")? {
        let m = v.to_string().map_err(|_| {
            Error::Tokenizer("a tokenizer.ggml.merges entry is not a string".into())
        })?;
        // Like llama.cpp: split at the first space after the first byte.
        let split = m.bytes().skip(1).position(|b| b == b' ').map(|i| i + 1);
        let Some(i) = split else {
            return Err(Error::Tokenizer(format!(
                "bad merge `{m}` in tokenizer.ggml.merges"
            )));
        };
        let (a, b) = (&m[..i], &m[i + 1..]);
        // llama.cpp keeps merges whose parts can never appear; the HF model rejects them.
        if vocab.contains_key(a) && vocab.contains_key(b) && vocab.contains_key(&*format!("{a}{b}"))
        {
            merges.push((a.to_string(), b.to_string()));
        }
    }
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .ignore_merges(pre.ignore_merges)
        .build()
        .map_err(tok_err)?;
    let mut tokenizer = Tokenizer::new(bpe);
    let mut steps: Vec<PreTokenizerWrapper> = Vec::new();
    for re in pre.regexes {
        let split = Split::new(
            SplitPattern::Regex(re.to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(tok_err)?;
        steps.push(split.into());
    }
    steps.push(ByteLevel::new(false, false, false).into());
    tokenizer.with_pre_tokenizer(Some(PreSequence::new(steps)));
    tokenizer.with_decoder(Some(ByteLevelDecoder::new(false, false, false)));
    Ok((tokenizer, pre.add_bos))
}
