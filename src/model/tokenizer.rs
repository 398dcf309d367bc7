//! Tokenizer built from GGUF metadata (`tokenizer.ggml.*`), matching llama.cpp's ids.
//!
//! The vocabulary, merges and pre-tokenizer live in a [`tokenizers::Tokenizer`], but
//! [`TextTokenizer::encode`] does not call `Tokenizer::encode` (except for a
//! `tokenizer.json` found beside the model): it first splits the text
//! around special tokens exactly like llama.cpp's `tokenizer_st_partition` (every
//! occurrence of the longest token first, then shorter ones; control tokens only when
//! `parse_special`, user-defined tokens always), then runs the `tokenizers` normalizer,
//! pre-tokenizer and model on the remaining text. HF's added-vocabulary matching
//! (leftmost-longest, and all-or-nothing for specials) is close but not identical, and it
//! would need a second `Tokenizer` to turn special parsing off.
//!
//! * `gpt2` models: byte-level BPE from `tokens` + `merges`. The pre-tokenizer is the
//!   sequence of regex splits llama.cpp uses for `tokenizer.ggml.pre` (llama.cpp's
//!   `llm_tokenizer_bpe`), then a byte-level mapping without its own regex. No NFC
//!   normalization: llama.cpp does none.
//! * `llama` models (SentencePiece BPE such as Gemma 3): the file has scores, no merges.
//!   Every split of a vocabulary token into two vocabulary tokens becomes a merge ranked by
//!   the merged token's score, which reproduces llama.cpp's SPM loop (merge the adjacent
//!   pair whose concatenation has the best score, leftmost first); byte fallback covers
//!   characters outside the vocabulary.
//!
//! # Why candle's `TokenizerFromGguf` gives 729 ids where llama.cpp gives 730 (SmolLM2)
//!
//! Candle has no case for `tokenizer.ggml.pre = "smollm"` and falls back to
//! `ByteLevel::default()`: the GPT-2 regex with `add_prefix_space = true`. HF splits the
//! special tokens out first and pre-tokenizes each remaining fragment on its own, so every
//! fragment after `<|im_start|>`/`<|im_end|>` gains a leading space that neither llama.cpp
//! nor SmolLM2's own tokenizer.json adds: `system` becomes `Ġsystem`, `user` `Ġuser`, the
//! `\n` between turns `ĠĊ` — different ids, same count. The count changes at the final
//! `assistant\n`: SmolLM2 spells `assistant` as `ass` + `istant` but `Ġassistant` as one
//! token, so candle ends one id short. (Candle also skips smollm's per-digit split, which
//! happens not to matter: the vocabulary has no multi-digit tokens.) The parity test
//! `candle_gguf_tokenizer_adds_prefix_spaces` checks this explanation id for id.

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use candle_core::quantized::gguf_file::{self, Value};
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::normalizers::{Prepend, Replace, Sequence as NormalizerSequence};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{
    AddedToken, DecoderWrapper, Model, NormalizerWrapper, OffsetReferential, OffsetType,
    PreTokenizedString, PreTokenizer, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer,
};

use crate::error::{Error, Result};

/// SentencePiece's visible space.
const SPACE: &str = "\u{2581}";

/// Token kinds from `tokenizer.ggml.token_type` (llama.cpp's `llama_token_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenType {
    Undefined,
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

impl TokenType {
    fn from_gguf(v: i64) -> Self {
        match v {
            1 => Self::Normal,
            2 => Self::Unknown,
            3 => Self::Control,
            4 => Self::UserDefined,
            5 => Self::Unused,
            6 => Self::Byte,
            _ => Self::Undefined,
        }
    }

    /// Tokens llama.cpp splits out of the text before BPE/SPM (`cache_special_tokens`).
    fn is_partitioned(self) -> bool {
        matches!(self, Self::Control | Self::UserDefined | Self::Unknown)
    }

    /// Tokens only split out when special tokens are parsed (and skipped when decoding).
    fn is_special(self) -> bool {
        matches!(self, Self::Control | Self::Unknown)
    }
}

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
struct BpePre {
    /// Applied in sequence; each one splits the pieces of the previous one.
    regexes: &'static [&'static str],
    /// llama.cpp's `ignore_merges`: a piece that is a whole vocabulary token is kept.
    ignore_merges: bool,
    /// llama.cpp's default for `add_bos` before `tokenizer.ggml.add_bos_token` overrides it.
    add_bos: bool,
}

/// The `tokenizer.ggml.pre` values handled for `gpt2` models (llama.cpp `llama_vocab::impl::load`).
const SUPPORTED_PRE: &str =
    "default, gpt2/gpt-2 (phi-2, mpt, olmo, jais), smollm (starcoder, refact, \
command-r, codeshell, exaone, minerva-7b), qwen2 (deepseek-r1-qwen, stablelm2, megrez), \
llama-bpe (llama3, llama-v3, falcon3, pixtral), dbrx, smaug-bpe";

fn bpe_pre(pre: &str) -> Option<BpePre> {
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

/// Token texts llama.cpp treats as end of generation (`special_eog_ids`), whatever their type.
/// The gpt-oss/solar ones (`<|return|>`, `<|call|>`, ...) are left out: llama.cpp pairs them
/// with a workaround that removes `<|end|>` again.
const EOG_NAMES: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<\u{ff5c}end\u{2581}of\u{2581}sentence\u{ff5c}>",
];

/// Fill-in-the-middle tokens llama.cpp also stops on (pad, repo, file separator), found by
/// metadata key or else by name, as in llama.cpp.
const FIM_EOG: &[(&str, &[&str])] = &[
    (
        "tokenizer.ggml.fim_pad_token_id",
        &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>"],
    ),
    (
        "tokenizer.ggml.fim_rep_token_id",
        &[
            "<|fim_repo|>",
            "<|repo_name|>",
            "<fim-repo>",
            "<REPO>",
            "<reponame>",
        ],
    ),
    ("tokenizer.ggml.fim_sep_token_id", &["<|file_sep|>"]),
];

/// A tokenizer for one model, with llama.cpp's ids and special-token handling.
pub struct TextTokenizer {
    inner: Tokenizer,
    encoder: Encoder,
    /// Per id, from `tokenizer.ggml.token_type` (adjusted like llama.cpp).
    types: Vec<TokenType>,
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: bool,
    eog: Vec<u32>,
    /// Bytes of the longest token's text (see [`Self::longest_token_bytes`]).
    longest: usize,
}

/// `<model stem>.tokenizer.json` beside the model, or a plain `tokenizer.json` when the
/// folder holds only this one model (a hub snapshot): a shared models folder must not
/// give one model's tokenizer to all.
fn tokenizer_json_beside(gguf: &Path) -> Option<std::path::PathBuf> {
    let dir = gguf.parent()?;
    let named = dir.join(format!("{}.tokenizer.json", gguf.file_stem()?.to_str()?));
    if named.is_file() {
        return Some(named);
    }
    let plain = dir.join("tokenizer.json");
    let ggufs = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "gguf"))
        .count();
    (plain.is_file() && ggufs == 1).then_some(plain)
}

enum Encoder {
    /// Built from GGUF metadata: llama.cpp's partition, then `inner`'s pipeline on the rest.
    Gguf {
        /// Partitioned tokens, longest first: (text, id, only when parsing specials).
        partition: Vec<(String, u32, bool)>,
    },
    /// Loaded from a `tokenizer.json`: HF's own added-token handling. `plain` is a copy
    /// that leaves special tokens in the text, made on first use.
    Json { plain: Box<OnceLock<Tokenizer>> },
}

impl TextTokenizer {
    /// Build from GGUF metadata. A `tokenizer.json` beside `gguf_path` wins over the
    /// metadata (special ids and end-of-generation ids still come from the GGUF).
    pub fn from_gguf(content: &gguf_file::Content, gguf_path: Option<&Path>) -> Result<Self> {
        match gguf_path.and_then(tokenizer_json_beside) {
            Some(json) => Self::from_json_and_metadata(&json, &content.metadata),
            None => Self::from_metadata(&content.metadata),
        }
    }

    /// Build from the GGUF metadata alone.
    pub fn from_metadata(md: &HashMap<String, Value>) -> Result<Self> {
        let meta = Meta::read(md)?;
        let mut types = meta.types.clone();
        let (inner, add_bos_default) = match meta.model.as_str() {
            "gpt2" => build_bpe(md, &meta)?,
            "llama" => (build_spm(md, &meta)?, true),
            other => {
                return Err(Error::Tokenizer(format!(
                    "unsupported tokenizer model `{other}` (tokenizer.ggml.model); supported: \
                     `gpt2` (byte-level BPE) and `llama` (SentencePiece)"
                )))
            }
        };
        let eog = eog_ids(md, &meta.tokens, &mut types);
        let mut partition: Vec<(String, u32, bool)> = meta
            .tokens
            .iter()
            .zip(&types)
            .enumerate()
            .filter(|(_, (_, ty))| ty.is_partitioned())
            .map(|(id, (text, ty))| (text.clone(), id as u32, ty.is_special()))
            .collect();
        // llama.cpp sorts by length only; ties keep id order here to be deterministic.
        partition.sort_by_key(|(text, _, _)| std::cmp::Reverse(text.len()));
        let mut inner = inner;
        add_tokens(&mut inner, &meta.tokens, &types)?;
        Ok(Self {
            longest: meta.tokens.iter().map(String::len).max().unwrap_or(1),
            inner,
            encoder: Encoder::Gguf { partition },
            bos: meta.bos,
            eos: meta.eos,
            add_bos: meta_bool(md, "tokenizer.ggml.add_bos_token").unwrap_or(add_bos_default),
            eog,
            types,
        })
    }

    fn from_json_and_metadata(json: &Path, md: &HashMap<String, Value>) -> Result<Self> {
        let inner = Tokenizer::from_file(json)
            .map_err(|e| Error::Tokenizer(format!("{}: {e}", json.display())))?;
        let meta = Meta::read(md)?;
        let mut types = meta.types.clone();
        let eog = eog_ids(md, &meta.tokens, &mut types);
        let longest = inner.get_vocab(true).keys().map(String::len).max();
        let add_bos_default = meta.model == "llama"
            || meta
                .pre
                .as_deref()
                .and_then(bpe_pre)
                .is_some_and(|p| p.add_bos);
        Ok(Self {
            inner,
            encoder: Encoder::Json {
                plain: Box::default(),
            },
            longest: longest.unwrap_or(1),
            bos: meta.bos,
            eos: meta.eos,
            add_bos: meta_bool(md, "tokenizer.ggml.add_bos_token").unwrap_or(add_bos_default),
            eog,
            types,
        })
    }

    /// Token ids for `text`, never adding BOS/EOS.
    ///
    /// `parse_special`: control tokens written in the text (`<|im_start|>`) become their ids,
    /// as for a rendered chat prompt; when false they are tokenized as plain text
    /// (llama.cpp `parse_special = false`). User-defined tokens are always matched.
    pub fn encode(&self, text: &str, parse_special: bool) -> Result<Vec<u32>> {
        match &self.encoder {
            Encoder::Gguf { partition } => {
                let mut ids = Vec::new();
                for frag in split_special(text, partition, parse_special) {
                    match frag {
                        Fragment::Token(id) => ids.push(id),
                        Fragment::Text(range) => self.encode_plain(&text[range], &mut ids)?,
                    }
                }
                Ok(ids)
            }
            Encoder::Json { plain } => {
                let tok = if parse_special {
                    &self.inner
                } else {
                    plain.get_or_init(|| {
                        let mut t = self.inner.clone();
                        t.set_encode_special_tokens(true);
                        t
                    })
                };
                let enc = tok.encode(text, false).map_err(tok_err)?;
                Ok(enc.get_ids().to_vec())
            }
        }
    }

    /// Normalizer, pre-tokenizer and model on text holding no special tokens.
    fn encode_plain(&self, text: &str, ids: &mut Vec<u32>) -> Result<()> {
        let mut pre = PreTokenizedString::from(text);
        if let Some(n) = self.inner.get_normalizer() {
            pre.normalize(|s| tokenizers::Normalizer::normalize(n, s))
                .map_err(tok_err)?;
        }
        if let Some(p) = self.inner.get_pre_tokenizer() {
            p.pre_tokenize(&mut pre).map_err(tok_err)?;
        }
        let model = self.inner.get_model();
        pre.tokenize(|s| model.tokenize(s.get())).map_err(tok_err)?;
        for (_, _, tokens) in pre.get_splits(OffsetReferential::Original, OffsetType::Byte) {
            ids.extend(tokens.iter().flatten().map(|t| t.id));
        }
        Ok(())
    }

    /// Text of `ids`, leaving out control tokens.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, true).map_err(tok_err)
    }

    /// The raw vocabulary string of `id` (e.g. `Ġthe`, `▁the`, `<0x0A>`).
    pub fn token_str(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Type of `id` from the GGUF metadata (control tokens include llama.cpp's name-detected ones).
    pub fn token_type(&self, id: u32) -> Option<TokenType> {
        self.types.get(id as usize).copied()
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos_id(&self) -> Option<u32> {
        self.eos
    }

    /// `tokenizer.ggml.add_bos_token`, else llama.cpp's default (true for SentencePiece and
    /// the llama3 pre-tokenizer family, false for other byte-level BPE).
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// Ids that end generation, sorted: EOS, EOT/EOM and the tokens llama.cpp recognizes by
    /// name (`<|im_end|>`, `<end_of_turn>`, ..., and the FIM pad/repo/file-separator tokens).
    pub fn eog_ids(&self) -> Vec<u32> {
        self.eog.clone()
    }

    pub fn is_eog(&self, id: u32) -> bool {
        self.eog.binary_search(&id).is_ok()
    }

    /// Bytes of the longest token's text. A token stands for at most that many
    /// bytes of input (byte-level BPE spells each byte with one or two, SentencePiece
    /// its space with three), so a text of `n` bytes has at least `n / this` tokens.
    pub fn longest_token_bytes(&self) -> usize {
        self.longest
    }

    pub fn vocab_size(&self) -> usize {
        match self.encoder {
            Encoder::Gguf { .. } => self.types.len(),
            Encoder::Json { .. } => self.inner.get_vocab_size(true),
        }
    }

    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

fn tok_err(e: tokenizers::Error) -> Error {
    Error::Tokenizer(e.to_string())
}

/// The `tokenizer.ggml.*` values every model needs.
struct Meta {
    model: String,
    pre: Option<String>,
    tokens: Vec<String>,
    types: Vec<TokenType>,
    bos: Option<u32>,
    eos: Option<u32>,
}

impl Meta {
    fn read(md: &HashMap<String, Value>) -> Result<Self> {
        let model = meta_str(md, "tokenizer.ggml.model")?
            .ok_or_else(|| Error::Tokenizer("no tokenizer.ggml.model in the GGUF".into()))?
            .to_string();
        let pre = meta_str(md, "tokenizer.ggml.pre")?.map(str::to_string);
        let list = md
            .get("tokenizer.ggml.tokens")
            .ok_or_else(|| Error::Tokenizer("no tokenizer.ggml.tokens in the GGUF".into()))?;
        let mut tokens = Vec::new();
        for (i, v) in meta_array(list, "tokenizer.ggml.tokens")?
            .iter()
            .enumerate()
        {
            let s = v.to_string().map_err(|_| {
                Error::Tokenizer(format!("tokenizer.ggml.tokens[{i}] is not a string"))
            })?;
            // llama.cpp renames empty tokens so that every id has a distinct text.
            tokens.push(if s.is_empty() {
                format!("[EMPTY_{i}]")
            } else {
                s.clone()
            });
        }
        let types = match md.get("tokenizer.ggml.token_type") {
            Some(v) => {
                let arr = meta_array(v, "tokenizer.ggml.token_type")?;
                if arr.len() < tokens.len() {
                    return Err(Error::Tokenizer(format!(
                        "tokenizer.ggml.token_type has {} entries for {} tokens",
                        arr.len(),
                        tokens.len()
                    )));
                }
                arr.iter()
                    .take(tokens.len())
                    .map(|v| TokenType::from_gguf(value_i64(v).unwrap_or(0)))
                    .collect()
            }
            None => vec![TokenType::Normal; tokens.len()],
        };
        let id = |key: &str| meta_u32(md, key).filter(|&id| (id as usize) < tokens.len());
        let (bos, eos) = (
            id("tokenizer.ggml.bos_token_id"),
            id("tokenizer.ggml.eos_token_id"),
        );
        Ok(Self {
            model,
            pre,
            tokens,
            types,
            bos,
            eos,
        })
    }
}

/// Byte-level BPE (`tokenizer.ggml.model = gpt2`); also returns llama.cpp's `add_bos` default.
fn build_bpe(md: &HashMap<String, Value>, meta: &Meta) -> Result<(Tokenizer, bool)> {
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

/// SentencePiece BPE (`tokenizer.ggml.model = llama`): merges derived from the scores.
fn build_spm(md: &HashMap<String, Value>, meta: &Meta) -> Result<Tokenizer> {
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

fn vocab_map(tokens: &[String]) -> Result<Vocab> {
    let mut vocab = Vocab::with_capacity(tokens.len());
    for (id, t) in tokens.iter().enumerate() {
        if let Some(first) = vocab.insert(t.clone(), id as u32) {
            return Err(Error::Tokenizer(format!(
                "duplicate token {t:?} in the vocabulary (ids {first} and {id})"
            )));
        }
    }
    Ok(vocab)
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

/// Control/unknown tokens become special added tokens (skipped by `decode`), user-defined
/// ones ordinary added tokens, so that `inner()` used on its own splits them out too.
fn add_tokens(tokenizer: &mut Tokenizer, tokens: &[String], types: &[TokenType]) -> Result<()> {
    let mut special = Vec::new();
    let mut user = Vec::new();
    for (t, ty) in tokens.iter().zip(types) {
        if ty.is_special() {
            special.push(AddedToken::from(t.clone(), true).normalized(false));
        } else if *ty == TokenType::UserDefined {
            user.push(AddedToken::from(t.clone(), false).normalized(false));
        }
    }
    tokenizer.add_special_tokens(special).map_err(tok_err)?;
    tokenizer.add_tokens(user).map_err(tok_err)?;
    Ok(())
}

/// End-of-generation ids as llama.cpp collects them; tokens found by name become control
/// tokens, as llama.cpp forces them to be.
fn eog_ids(md: &HashMap<String, Value>, tokens: &[String], types: &mut [TokenType]) -> Vec<u32> {
    let valid = |id: u32| (id as usize) < tokens.len();
    let by_name = |names: &[&str]| -> Vec<u32> {
        tokens
            .iter()
            .enumerate()
            .filter(|(_, t)| names.contains(&t.as_str()))
            .map(|(id, _)| id as u32)
            .collect()
    };
    let mut eog: Vec<u32> = [
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.eot_token_id",
        "tokenizer.ggml.eom_token_id",
    ]
    .iter()
    .filter_map(|k| meta_u32(md, k))
    .filter(|&id| valid(id))
    .collect();
    let mut named = by_name(EOG_NAMES);
    for (key, names) in FIM_EOG {
        match meta_u32(md, key).filter(|&id| valid(id)) {
            Some(id) => eog.push(id),
            // llama.cpp keeps the first name it meets; take the lowest id.
            None => named.extend(by_name(names).first()),
        }
    }
    for &id in &named {
        let ty = &mut types[id as usize];
        if !ty.is_special() {
            *ty = TokenType::Control;
        }
    }
    eog.extend(named);
    eog.sort_unstable();
    eog.dedup();
    eog
}

#[derive(Debug, PartialEq, Eq)]
enum Fragment {
    Text(std::ops::Range<usize>),
    Token(u32),
}

/// llama.cpp's `tokenizer_st_partition`: for each token, longest first, every occurrence in
/// the not-yet-split text becomes that token.
fn split_special(
    text: &str,
    partition: &[(String, u32, bool)],
    parse_special: bool,
) -> Vec<Fragment> {
    let mut frags = if text.is_empty() {
        Vec::new()
    } else {
        vec![Fragment::Text(0..text.len())]
    };
    // Cheap pre-check (most of Gemma's 6k control tokens start with `<`).
    let mut present = [false; 256];
    text.bytes().for_each(|b| present[b as usize] = true);
    for (tok, id, special) in partition {
        if (*special && !parse_special) || !present[tok.as_bytes()[0] as usize] {
            continue;
        }
        if !frags
            .iter()
            .any(|f| matches!(f, Fragment::Text(r) if text[r.clone()].contains(tok.as_str())))
        {
            continue;
        }
        let mut next = Vec::with_capacity(frags.len() + 2);
        for frag in frags {
            let Fragment::Text(range) = frag else {
                next.push(frag);
                continue;
            };
            let mut start = range.start;
            while let Some(pos) = text[start..range.end].find(tok.as_str()) {
                let at = start + pos;
                if at > start {
                    next.push(Fragment::Text(start..at));
                }
                next.push(Fragment::Token(*id));
                start = at + tok.len();
            }
            if start < range.end {
                next.push(Fragment::Text(start..range.end));
            }
        }
        frags = next;
    }
    frags
}

/// Streams text out of generated ids.
///
/// Each step decodes the ids since the last emitted piece, with one id of context before
/// them, and emits the new suffix. The context id keeps decoders that strip a leading
/// space (SentencePiece) from eating real spaces; a trailing U+FFFD means a character is
/// split over ids (byte-level BPE or byte fallback), so the text waits for the next id.
pub struct TokenStream<'a> {
    tok: &'a TextTokenizer,
    ids: Vec<u32>,
    /// Start of the decode window (one id before the unsent ones).
    prev: usize,
    /// First id whose text has not been sent.
    current: usize,
}

impl<'a> TokenStream<'a> {
    pub fn new(tok: &'a TextTokenizer) -> Self {
        Self {
            tok,
            ids: Vec::new(),
            prev: 0,
            current: 0,
        }
    }

    /// Add one generated id; returns the text it completes, if any.
    pub fn push(&mut self, id: u32) -> Result<Option<String>> {
        let sent = self.tok.decode(&self.ids[self.prev..self.current])?;
        self.ids.push(id);
        let text = self.tok.decode(&self.ids[self.prev..])?;
        if text.ends_with('\u{FFFD}') || text.len() <= sent.len() {
            return Ok(None);
        }
        self.take(&text, &sent).map(Some)
    }

    /// The text still held back (an incomplete character at the end of generation).
    pub fn finish(&mut self) -> Result<Option<String>> {
        if self.current == self.ids.len() {
            return Ok(None);
        }
        let sent = self.tok.decode(&self.ids[self.prev..self.current])?;
        let text = self.tok.decode(&self.ids[self.prev..])?;
        let rest = self.take(&text, &sent)?;
        Ok(Some(rest).filter(|s| !s.is_empty()))
    }

    /// Text of the unsent ids, given the decoded window with and without them; moves on.
    fn take(&mut self, text: &str, sent: &str) -> Result<String> {
        let rest = match text.strip_prefix(sent) {
            Some(rest) => rest.to_string(),
            // The new ids changed how the sent ones decode (byte fallback turns a whole
            // run of invalid bytes into U+FFFD): decode the unsent ids alone.
            None => self.tok.decode(&self.ids[self.current..])?,
        };
        self.prev = self.current;
        self.current = self.ids.len();
        Ok(rest)
    }
}

fn meta_str<'a>(md: &'a HashMap<String, Value>, key: &str) -> Result<Option<&'a str>> {
    match md.get(key) {
        None => Ok(None),
        Some(v) => v
            .to_string()
            .map(|s| Some(s.as_str()))
            .map_err(|_| Error::Tokenizer(format!("{key} is not a string"))),
    }
}

fn meta_array<'a>(v: &'a Value, key: &str) -> Result<&'a Vec<Value>> {
    v.to_vec()
        .map_err(|_| Error::Tokenizer(format!("{key} is not an array")))
}

fn meta_u32(md: &HashMap<String, Value>, key: &str) -> Option<u32> {
    md.get(key)
        .and_then(value_i64)
        .and_then(|v| u32::try_from(v).ok())
}

fn meta_bool(md: &HashMap<String, Value>, key: &str) -> Option<bool> {
    match md.get(key)? {
        Value::Bool(b) => Some(*b),
        v => value_i64(v).map(|i| i != 0),
    }
}

fn value_i64(v: &Value) -> Option<i64> {
    Some(match v {
        Value::U8(x) => *x as i64,
        Value::I8(x) => *x as i64,
        Value::U16(x) => *x as i64,
        Value::I16(x) => *x as i64,
        Value::U32(x) => *x as i64,
        Value::I32(x) => *x as i64,
        Value::U64(x) => i64::try_from(*x).ok()?,
        Value::I64(x) => *x,
        _ => return None,
    })
}

fn value_f32(v: &Value) -> Option<f32> {
    match v {
        Value::F32(x) => Some(*x),
        Value::F64(x) => Some(*x as f32),
        v => value_i64(v).map(|i| i as f32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Value {
        Value::Array(items.iter().map(|s| Value::String(s.to_string())).collect())
    }

    /// Metadata for a SentencePiece vocabulary: the given pieces (score, type) after the
    /// 256 byte tokens.
    fn spm_metadata(pieces: &[(&str, f32, i32)], add_space_prefix: bool) -> HashMap<String, Value> {
        let mut tokens = vec!["<unk>".to_string(), "<s>".into(), "</s>".into()];
        let mut scores = vec![0.0, 0.0, 0.0];
        let mut types = vec![2, 3, 3];
        for b in 0..=255u8 {
            tokens.push(format!("<0x{b:02X}>"));
            scores.push(0.0);
            types.push(6);
        }
        for (t, s, ty) in pieces {
            tokens.push(t.to_string());
            scores.push(*s);
            types.push(*ty);
        }
        let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
        HashMap::from([
            ("tokenizer.ggml.model".into(), Value::String("llama".into())),
            ("tokenizer.ggml.tokens".into(), strings(&refs)),
            (
                "tokenizer.ggml.scores".into(),
                Value::Array(scores.into_iter().map(Value::F32).collect()),
            ),
            (
                "tokenizer.ggml.token_type".into(),
                Value::Array(types.into_iter().map(Value::I32).collect()),
            ),
            ("tokenizer.ggml.bos_token_id".into(), Value::U32(1)),
            ("tokenizer.ggml.eos_token_id".into(), Value::U32(2)),
            ("tokenizer.ggml.unknown_token_id".into(), Value::U32(0)),
            (
                "tokenizer.ggml.add_space_prefix".into(),
                Value::Bool(add_space_prefix),
            ),
        ])
    }

    /// llama.cpp's SPM loop written plainly: join the adjacent pair whose concatenation is
    /// the best-scored vocabulary token (leftmost on ties) until none is left, then spell
    /// leftovers as byte tokens.
    fn reference_spm(text: &str, tokens: &[String], scores: &[f32]) -> Vec<u32> {
        let id_of = |s: &str| tokens.iter().position(|t| t == s);
        let text = text.replace(' ', SPACE);
        let mut syms: Vec<String> = text.chars().map(String::from).collect();
        loop {
            let mut best: Option<(f32, usize)> = None;
            for i in 0..syms.len().saturating_sub(1) {
                if let Some(id) = id_of(&format!("{}{}", syms[i], syms[i + 1])) {
                    if best.is_none_or(|(s, _)| scores[id] > s) {
                        best = Some((scores[id], i));
                    }
                }
            }
            let Some((_, i)) = best else { break };
            let right = syms.remove(i + 1);
            syms[i].push_str(&right);
        }
        let mut ids = Vec::new();
        for s in syms {
            match id_of(&s) {
                Some(id) => ids.push(id as u32),
                None => ids.extend(
                    s.bytes()
                        .map(|b| id_of(&format!("<0x{b:02X}>")).unwrap() as u32),
                ),
            }
        }
        ids
    }

    /// Models share one tokenizer across threads (`Arc<TextTokenizer>`).
    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<TextTokenizer>();
    }

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

    /// BPE-from-scores gives the same ids as the SentencePiece algorithm, including where
    /// greedy-by-score differs from longest match and where bytes stand in for characters.
    #[test]
    fn spm_from_scores_matches_reference_algorithm() {
        let pieces: &[(&str, f32, i32)] = &[
            ("\u{2581}", -1.0, 1),
            ("a", -2.0, 1),
            ("b", -3.0, 1),
            ("c", -4.0, 1),
            ("ab", -9.0, 1),
            ("bc", -5.0, 1),
            ("abc", -6.0, 1),
            ("\u{2581}a", -7.0, 1),
            ("\u{2581}ab", -8.0, 1),
            ("ca", -10.0, 1),
            ("cab", -11.0, 1),
            ("aa", -12.0, 1),
            ("aaa", -13.0, 1),
        ];
        let md = spm_metadata(pieces, false);
        let tok = TextTokenizer::from_metadata(&md).unwrap();
        let meta = Meta::read(&md).unwrap();
        let scores: Vec<f32> = meta_array(&md["tokenizer.ggml.scores"], "")
            .unwrap()
            .iter()
            .map(|v| value_f32(v).unwrap())
            .collect();
        let alphabet = ['a', 'b', 'c', ' ', 'z', 'é'];
        let mut seed = 0x2545_f491_u32;
        for _ in 0..400 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let len = 1 + (seed >> 16) as usize % 9;
            let text: String = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    alphabet[(seed >> 16) as usize % alphabet.len()]
                })
                .collect();
            let want = reference_spm(&text, &meta.tokens, &scores);
            assert_eq!(tok.encode(&text, false).unwrap(), want, "{text:?}");
            assert_eq!(tok.decode(&want).unwrap(), text);
        }
    }

    #[test]
    fn space_prefix_goes_before_each_fragment_and_not_into_streamed_text() {
        let pieces: &[(&str, f32, i32)] = &[
            ("\u{2581}", -1.0, 1),
            ("h", -2.0, 1),
            ("i", -3.0, 1),
            ("hi", -4.0, 1),
            ("\u{2581}hi", -5.0, 1),
        ];
        let tok = TextTokenizer::from_metadata(&spm_metadata(pieces, true)).unwrap();
        let hi = tok.token_id("\u{2581}hi").unwrap();
        // Like llama.cpp: text after a parsed special token gets the prefix again.
        assert_eq!(tok.encode("hi</s>hi", true).unwrap(), [hi, 2, hi]);
        assert_eq!(tok.decode(&[hi, hi]).unwrap(), "hi hi");
        let mut stream = TokenStream::new(&tok);
        let mut out = String::new();
        for id in [hi, hi, hi] {
            out.extend(stream.push(id).unwrap());
        }
        out.extend(stream.finish().unwrap());
        assert_eq!(out, "hi hi hi");
    }

    #[test]
    fn stream_waits_for_characters_split_over_byte_tokens() {
        let tok = TextTokenizer::from_metadata(&spm_metadata(&[], false)).unwrap();
        let byte = |b: u8| tok.token_id(&format!("<0x{b:02X}>")).unwrap();
        let mut stream = TokenStream::new(&tok);
        assert_eq!(stream.push(byte(b'a')).unwrap().as_deref(), Some("a"));
        assert_eq!(stream.push(byte(0xC3)).unwrap(), None);
        assert_eq!(stream.push(byte(0xA9)).unwrap().as_deref(), Some("é"));
        assert_eq!(stream.push(byte(0xE2)).unwrap(), None);
        assert_eq!(stream.finish().unwrap().as_deref(), Some("\u{FFFD}"));
    }

    #[test]
    fn partition_takes_longest_tokens_first() {
        let partition = vec![
            ("\n\n".to_string(), 8, false),
            ("<c>".to_string(), 7, true),
            ("\n".to_string(), 9, false),
        ];
        let text = "a\n\n\n<c>b";
        use Fragment::*;
        assert_eq!(
            split_special(text, &partition, true),
            [Text(0..1), Token(8), Token(9), Token(7), Text(7..8)]
        );
        // Control tokens stay text unless parsed; user-defined ones are always split out.
        assert_eq!(
            split_special(text, &partition, false),
            [Text(0..1), Token(8), Token(9), Text(4..8)]
        );
        assert!(split_special("", &partition, true).is_empty());
    }

    #[test]
    fn eog_ids_come_from_metadata_and_names() {
        let tokens = [
            "<|endoftext|>",
            "<|im_start|>",
            "<|im_end|>",
            "hello",
            "<end_of_turn>",
            "<|file_sep|>",
            "<|eom_id|>",
        ];
        let mut md = HashMap::from([
            ("tokenizer.ggml.eos_token_id".to_string(), Value::U32(3)),
            ("tokenizer.ggml.eot_token_id".to_string(), Value::U32(1)),
        ]);
        let owned: Vec<String> = tokens.iter().map(|s| s.to_string()).collect();
        let mut types = vec![TokenType::Normal; tokens.len()];
        types[1] = TokenType::Control;
        let eog = eog_ids(&md, &owned, &mut types);
        assert_eq!(eog, [0, 1, 2, 3, 4, 5, 6]);
        // Name matches become control tokens, as llama.cpp forces them.
        assert_eq!(types[2], TokenType::Control);
        assert_eq!(types[3], TokenType::Normal);

        // An explicit FIM key replaces the name lookup; out-of-range ids are ignored.
        md.insert("tokenizer.ggml.fim_sep_token_id".into(), Value::U32(3));
        md.insert("tokenizer.ggml.eos_token_id".into(), Value::U32(2));
        md.insert("tokenizer.ggml.eom_token_id".into(), Value::U32(99));
        md.remove("tokenizer.ggml.eot_token_id");
        let eog = eog_ids(&md, &owned, &mut types);
        assert_eq!(eog, [0, 2, 3, 4, 6]);
    }

    #[test]
    fn unsupported_tokenizers_are_named() {
        let mut md = spm_metadata(&[], false);
        md.insert("tokenizer.ggml.model".into(), Value::String("t5".into()));
        let err = TextTokenizer::from_metadata(&md).err().unwrap().to_string();
        assert!(err.contains("`t5`") && err.contains("gpt2"), "{err}");

        md.insert("tokenizer.ggml.model".into(), Value::String("gpt2".into()));
        md.insert("tokenizer.ggml.pre".into(), Value::String("tekken".into()));
        md.insert("tokenizer.ggml.merges".into(), strings(&[]));
        let err = TextTokenizer::from_metadata(&md).err().unwrap().to_string();
        assert!(err.contains("`tekken`") && err.contains("smollm"), "{err}");
    }

    /// The smollm pre-tokenizer splits digits one by one before merges; gpt2's does not.
    #[test]
    fn smollm_splits_digits_before_merging() {
        let md = |pre: &str| {
            HashMap::from([
                (
                    "tokenizer.ggml.model".to_string(),
                    Value::String("gpt2".into()),
                ),
                ("tokenizer.ggml.pre".into(), Value::String(pre.into())),
                (
                    "tokenizer.ggml.tokens".into(),
                    strings(&["1", "2", "12", "\u{120}", "\u{120}1"]),
                ),
                (
                    "tokenizer.ggml.merges".into(),
                    strings(&["1 2", "\u{120} 1"]),
                ),
            ])
        };
        let smollm = TextTokenizer::from_metadata(&md("smollm")).unwrap();
        let gpt2 = TextTokenizer::from_metadata(&md("gpt2")).unwrap();
        // smollm: "1" "2" "Ġ" "1" "2", so neither "12" nor "Ġ1" can form.
        assert_eq!(smollm.encode("12 12", false).unwrap(), [0, 1, 3, 0, 1]);
        // gpt2: "12" "Ġ12"; merge "1 2" ranks before "Ġ 1".
        assert_eq!(gpt2.encode("12 12", false).unwrap(), [2, 3, 2]);
        assert!(!smollm.add_bos());
        assert_eq!(smollm.decode(&[0, 1, 3, 0, 1]).unwrap(), "12 12");
    }
}
