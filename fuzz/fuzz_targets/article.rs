//! Arbitrary bytes as a .txt, .md, .html or .jsonl input (first byte picks), in any
//! encoding: an article or a rejection with a reason, never a panic.
#![no_main]

use abridge::article::{read_source_bytes, Article, Format, Source};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let (name, format) = match pick % 4 {
        0 => ("fuzz.txt", Format::Text),
        1 => ("fuzz.md", Format::Markdown),
        2 => ("fuzz.html", Format::Html),
        _ => ("fuzz.jsonl", Format::Jsonl),
    };
    let src = Source {
        path: name.into(),
        format,
    };
    for article in read_source_bytes(&src, bytes) {
        match article {
            Ok(a) => {
                assert!(!a.text.trim().is_empty(), "an accepted article has text");
                assert!(!a.text.contains("\n\n\n"), "normalized: {:?}", a.text);
            }
            Err(r) => assert!(!r.reason.is_empty()),
        }
    }
    // the single-article commands' stricter reader
    let _ = Article::from_bytes(name, bytes);
});
