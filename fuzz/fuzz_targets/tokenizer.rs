//! The real tokenizers on arbitrary bytes: text encoded (with or without special
//! tokens) and decoded back, and arbitrary ids decoded, never a panic. Byte-level
//! BPE (SmolLM2, Qwen) gives back exactly the text it was given when its
//! vocabulary spells every byte of it.
#![no_main]

use abridge::model::tokenizer::{TextTokenizer, TokenStream};
use abridge_fuzz::tokenizers;
use libfuzzer_sys::fuzz_target;

fn ids_of(tok: &TextTokenizer, bytes: &[u8]) -> Vec<u32> {
    // a few past the vocabulary, to see those refused
    let n = tok.vocab_size() as u32 + 8;
    bytes
        .chunks(4)
        .map(|c| {
            let mut b = [0u8; 4];
            b[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(b) % n
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let all = tokenizers();
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    if all.is_empty() {
        return;
    }
    let entry = &all[pick as usize % all.len()];
    let tok = &entry.tokenizer;
    let special = pick & 0x80 != 0;
    let text = String::from_utf8_lossy(rest);
    if let Ok(ids) = tok.encode(&text, special) {
        let decoded = tok.decode(&ids).expect("ids from encode decode");
        // SentencePiece normalizes spaces; byte-level BPE gives the text back
        // when its vocabulary has a token for each byte (else the BPE model drops it)
        if !special && entry.spells(&text) {
            assert_eq!(decoded, text);
        }
    }
    let ids = ids_of(tok, rest);
    let _ = tok.decode(&ids);
    let mut stream = TokenStream::new(tok);
    for id in ids {
        let _ = stream.push(id);
    }
    let _ = stream.finish();
});
