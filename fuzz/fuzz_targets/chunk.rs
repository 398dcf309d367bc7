//! Arbitrary text chunked with SmolLM2's tokenizer (first two bytes: budget and
//! overlap): every chunk within the budget by a real count, and the chunks' new
//! text is the whole text. Returns at once when the model file is absent.
#![no_main]

use abridge::chunk::{chunk, Chunk, ChunkOptions, TokenCount};
use abridge_fuzz::{smollm2, squeeze};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(tokenizer) = smollm2() else {
        return;
    };
    let [budget, overlap, rest @ ..] = data else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let opts = ChunkOptions {
        budget: 1 + *budget as usize,
        overlap: *overlap as usize % 64,
    };
    // a character of more tokens than a tiny budget is an error, not a crash
    let Ok(found) = chunk(&text, tokenizer, &opts) else {
        return;
    };
    for c in &found {
        assert!(c.tokens <= opts.budget, "{} > {}", c.tokens, opts.budget);
        assert_eq!(c.tokens, tokenizer.count(&c.text).unwrap());
        assert_eq!(&text[c.span.clone()], c.text);
    }
    let new: Vec<&str> = found.iter().map(Chunk::new_text).collect();
    assert_eq!(squeeze(&new.join(" ")), squeeze(&text));
});
