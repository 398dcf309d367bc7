//! Arbitrary bytes as a GGUF file through the whole load path (header, alignment,
//! tensor extents, validation, tokenizer, chat template, weights) and, when it
//! loads, one forward step: refused with an error or run, never a panic.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use abridge::model::Model;
use libfuzzer_sys::fuzz_target;

/// One file per process, in a folder of its own (no tokenizer.json beside it).
fn path() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("abridge-fuzz-gguf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("model.gguf")
    })
}

fuzz_target!(|data: &[u8]| {
    std::fs::write(path(), data).unwrap();
    let Ok(model) = Model::load_path("fuzz".into(), path().clone()) else {
        return;
    };
    if model.weights.config.vocab_size == 0 {
        return;
    }
    let mut cache = model.weights.new_cache(4).unwrap();
    let _ = model
        .weights
        .forward(&[0, 1 % model.weights.config.vocab_size as u32], &mut cache);
    let _ = model.tokenizer.encode("Hello world", true);
});
