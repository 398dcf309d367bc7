//! Reading the `tokenizer.ggml.*` values of a GGUF file.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;
use tokenizers::models::bpe::Vocab;

use super::TokenType;
use crate::error::{Error, Result};

/// The `tokenizer.ggml.*` values every model needs.
pub(super) struct Meta {
    pub(super) model: String,
    pub(super) pre: Option<String>,
    pub(super) tokens: Vec<String>,
    pub(super) types: Vec<TokenType>,
    pub(super) bos: Option<u32>,
    pub(super) eos: Option<u32>,
}

impl Meta {
    pub(super) fn read(md: &HashMap<String, Value>) -> Result<Self> {
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

pub(super) fn vocab_map(tokens: &[String]) -> Result<Vocab> {
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

pub(super) fn meta_str<'a>(md: &'a HashMap<String, Value>, key: &str) -> Result<Option<&'a str>> {
    match md.get(key) {
        None => Ok(None),
        Some(v) => v
            .to_string()
            .map(|s| Some(s.as_str()))
            .map_err(|_| Error::Tokenizer(format!("{key} is not a string"))),
    }
}

pub(super) fn meta_array<'a>(v: &'a Value, key: &str) -> Result<&'a Vec<Value>> {
    v.to_vec()
        .map_err(|_| Error::Tokenizer(format!("{key} is not an array")))
}

pub(super) fn meta_u32(md: &HashMap<String, Value>, key: &str) -> Option<u32> {
    md.get(key)
        .and_then(value_i64)
        .and_then(|v| u32::try_from(v).ok())
}

pub(super) fn meta_bool(md: &HashMap<String, Value>, key: &str) -> Option<bool> {
    match md.get(key)? {
        Value::Bool(b) => Some(*b),
        v => value_i64(v).map(|i| i != 0),
    }
}

pub(super) fn value_i64(v: &Value) -> Option<i64> {
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

pub(super) fn value_f32(v: &Value) -> Option<f32> {
    match v {
        Value::F32(x) => Some(*x),
        Value::F64(x) => Some(*x as f32),
        v => value_i64(v).map(|i| i as f32),
    }
}
