//! Token ids must equal llama.cpp's for the three reference models.
//!
//! Fixtures come from llama.cpp (llama-cpp-python): `tokenize-*.json` with add_bos=false and
//! special tokens not parsed; `greedy-*.json` prompts with special tokens parsed.

use crate::common;

use abridge::model::tokenizer::{TextTokenizer, TokenStream};
use candle_core::quantized::gguf_file;

fn load(model: &str) -> (gguf_file::Content, std::path::PathBuf) {
    let path = common::model_path(model);
    let mut file = std::fs::File::open(&path).unwrap();
    let content = gguf_file::Content::read(&mut file).unwrap();
    (content, path)
}

fn tokenizer(model: &str) -> TextTokenizer {
    let (content, path) = load(model);
    TextTokenizer::from_gguf(&content, Some(&path)).unwrap()
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// First index where two id lists differ, with some context, for readable failures.
fn diff(tok: &TextTokenizer, got: &[u32], want: &[u32]) -> String {
    let at = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let show = |ids: &[u32]| {
        ids.iter()
            .skip(at.saturating_sub(3))
            .take(8)
            .map(|&id| format!("{id}:{:?}", tok.token_str(id).unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "lengths {} vs {} (llama.cpp); first difference at {at}\n  ours:      {}\n  llama.cpp: {}",
        got.len(),
        want.len(),
        show(got),
        show(want)
    )
}

fn check_plain_fixture(model: &str, fixture: &str) {
    let tok = tokenizer(model);
    let cases = common::fixture(fixture);
    let mut failures = Vec::new();
    for case in cases.as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let want = ids(&case["ids"]);
        let got = tok.encode(text, false).unwrap();
        if got != want {
            failures.push(format!(
                "{:?}: {}",
                text.chars().take(40).collect::<String>(),
                diff(&tok, &got, &want)
            ));
        }
        // Decoding gives the text back (no control tokens are produced without parsing).
        assert_eq!(
            tok.decode(&got).unwrap(),
            text,
            "{model}: decode round trip"
        );
    }
    assert!(failures.is_empty(), "{model}:\n{}", failures.join("\n"));
}

#[test]
fn smollm2_matches_llama_cpp() {
    check_plain_fixture(common::SMOLLM2, "tokenize-smollm2.json");
}

#[test]
fn qwen_matches_llama_cpp() {
    check_plain_fixture(common::QWEN, "tokenize-qwen2.5-coder-0.5b.json");
}

#[test]
fn qwen15_matches_llama_cpp() {
    check_plain_fixture(common::QWEN15, "tokenize-qwen2.5-coder-1.5b.json");
}

#[test]
fn gemma3_matches_llama_cpp() {
    check_plain_fixture(common::GEMMA3, "tokenize-gemma-3-270m.json");
}

/// Rendered prompts of the greedy fixtures, with special tokens parsed.
#[test]
fn greedy_prompts_match_llama_cpp() {
    let names = common::greedy_fixtures();
    let mut cache: Vec<(String, TextTokenizer)> = Vec::new();
    for name in names {
        let fx = common::fixture(&name);
        let model = fx["model_file"].as_str().unwrap().to_string();
        if !cache.iter().any(|(m, _)| *m == model) {
            let t = tokenizer(&model);
            cache.push((model.clone(), t));
        }
        let tok = &cache.iter().find(|(m, _)| *m == model).unwrap().1;
        let add_bos = fx["add_bos"].as_bool().unwrap();
        assert_eq!(tok.add_bos(), add_bos, "{name}: add_bos");
        let mut got = Vec::new();
        if add_bos {
            got.push(tok.bos_id().unwrap());
        }
        got.extend(tok.encode(fx["prompt"].as_str().unwrap(), true).unwrap());
        let want = ids(&fx["prompt_ids"]);
        assert!(got == want, "{name}: {}", diff(tok, &got, &want));
    }
}

/// Streaming the ids of a text gives the text back, piece by piece.
#[test]
fn token_stream_rebuilds_text() {
    for (model, fixture) in [
        (common::SMOLLM2, "tokenize-smollm2.json"),
        (common::GEMMA3, "tokenize-gemma-3-270m.json"),
    ] {
        let tok = tokenizer(model);
        for case in common::fixture(fixture).as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            let mut stream = TokenStream::new(&tok);
            let mut out = String::new();
            for id in ids(&case["ids"]) {
                if let Some(piece) = stream.push(id).unwrap() {
                    assert!(
                        !piece.contains('\u{FFFD}'),
                        "{model}: split char in {piece:?}"
                    );
                    out.push_str(&piece);
                }
            }
            out.extend(stream.finish().unwrap());
            assert_eq!(out, text, "{model}");
        }
    }
}

#[test]
fn special_ids_and_eog() {
    let smol = tokenizer(common::SMOLLM2);
    assert_eq!(smol.token_id("<|im_end|>"), Some(2));
    assert!(smol.eog_ids().contains(&2));
    assert!(smol.eog_ids().contains(&0)); // <|endoftext|>
    assert!(!smol.add_bos());
    // Control tokens are dropped when decoding.
    assert_eq!(smol.decode(&[1, 9690, 198, 2]).unwrap(), "system\n");

    let gemma = tokenizer(common::GEMMA3);
    assert!(gemma.add_bos());
    assert_eq!(gemma.bos_id(), Some(2));
    let eot = gemma.token_id("<end_of_turn>").unwrap();
    assert!(gemma.eog_ids().contains(&eot));
    assert!(gemma.eog_ids().contains(&1)); // <eos>
    assert_eq!(gemma.vocab_size(), 262144);

    let qwen = tokenizer(common::QWEN);
    let im_end = qwen.token_id("<|im_end|>").unwrap();
    assert_eq!(qwen.eos_id(), Some(im_end));
    assert!(qwen.eog_ids().contains(&im_end));
    // With parse_special the chat markers become single ids; without, plain text.
    let text = "<|im_start|>user\nhi<|im_end|>";
    let parsed = qwen.encode(text, true).unwrap();
    assert_eq!(parsed.first(), qwen.token_id("<|im_start|>").as_ref());
    assert_eq!(parsed.last(), Some(&im_end));
    assert!(!qwen.encode(text, false).unwrap().contains(&im_end));
}

/// Backs the explanation in `src/model/tokenizer.rs` of why candle's own GGUF tokenizer is
/// one id short on this prompt: it puts a space before every fragment between special tokens.
#[test]
fn candle_gguf_tokenizer_adds_prefix_spaces() {
    use candle_core::quantized::tokenizer::TokenizerFromGguf;

    let (content, path) = load(common::SMOLLM2);
    let ours = TextTokenizer::from_gguf(&content, Some(&path)).unwrap();
    let candle = tokenizers::Tokenizer::from_gguf(&content).unwrap();
    let fx = common::fixture("greedy-smollm2-summarize.json");
    let prompt = fx["prompt"].as_str().unwrap();
    let candle_ids = candle.encode(prompt, false).unwrap().get_ids().to_vec();
    assert_eq!((candle_ids.len(), ids(&fx["prompt_ids"]).len()), (729, 730));

    // Our ids with a space before each fragment are exactly candle's ids.
    let specials = ["<|im_start|>", "<|im_end|>"].map(|t| (t, ours.token_id(t).unwrap()));
    let mut spaced = Vec::new();
    let mut rest = prompt;
    loop {
        let next = specials
            .iter()
            .filter_map(|&(t, id)| rest.find(t).map(|at| (at, t, id)))
            .min();
        let at = next.map_or(rest.len(), |(at, _, _)| at);
        if at > 0 {
            let fragment = format!(" {}", &rest[..at]);
            spaced.extend(ours.encode(&fragment, false).unwrap());
        }
        let Some((at, t, id)) = next else { break };
        spaced.push(id);
        rest = &rest[at + t.len()..];
    }
    assert_eq!(spaced, candle_ids);
    // The one id of difference: "assistant" is two tokens, "Ġassistant" one.
    assert_eq!(ours.encode("assistant", false).unwrap().len(), 2);
    assert_eq!(ours.encode(" assistant", false).unwrap().len(), 1);
}

/// `<stem>.tokenizer.json` beside the model file is used instead of the GGUF vocabulary.
#[test]
fn tokenizer_json_beside_model_wins() {
    let qwen = tokenizer(common::QWEN);
    let dir = tempfile::tempdir().unwrap();
    qwen.inner()
        .save(dir.path().join("model.tokenizer.json"), false)
        .unwrap();
    // SmolLM2's metadata, Qwen's tokenizer.json: the ids must be Qwen's.
    let (content, _) = load(common::SMOLLM2);
    let tok = TextTokenizer::from_gguf(&content, Some(&dir.path().join("model.gguf"))).unwrap();
    assert_eq!(tok.vocab_size(), qwen.vocab_size());
    for case in common::fixture("tokenize-qwen2.5-coder-0.5b.json")
        .as_array()
        .unwrap()
    {
        let text = case["text"].as_str().unwrap();
        let want = ids(&case["ids"]);
        assert_eq!(tok.encode(text, false).unwrap(), want, "{text:?}");
        assert_eq!(tok.decode(&want).unwrap(), text);
    }
    let chat = tok.encode("<|im_start|>user", true).unwrap();
    assert_eq!(chat[0], qwen.token_id("<|im_start|>").unwrap());
}
