//! Special tokens: which ids end generation, which tokens are split out of the
//! text before BPE/SPM (llama.cpp's partition), and how they join the vocabulary.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;
use tokenizers::{AddedToken, Tokenizer};

use super::metadata::meta_u32;
use super::{tok_err, TokenType};
use crate::error::Result;

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

/// Control/unknown tokens become special added tokens (skipped by `decode`), user-defined
/// ones ordinary added tokens, so that `inner()` used on its own splits them out too.
pub(super) fn add_tokens(
    tokenizer: &mut Tokenizer,
    tokens: &[String],
    types: &[TokenType],
) -> Result<()> {
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
pub(super) fn eog_ids(
    md: &HashMap<String, Value>,
    tokens: &[String],
    types: &mut [TokenType],
) -> Vec<u32> {
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
pub(super) enum Fragment {
    Text(std::ops::Range<usize>),
    Token(u32),
}

/// llama.cpp's `tokenizer_st_partition`: for each token, longest first, every occurrence in
/// the not-yet-split text becomes that token.
pub(super) fn split_special(
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
