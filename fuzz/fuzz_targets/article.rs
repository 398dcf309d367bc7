//! Arbitrary bytes as a .txt, .md, .html or .jsonl input (first byte picks), in any
//! encoding: an article or a rejection with a reason, never a panic; JSON Lines read
//! through a small buffer give the same records.
#![no_main]

use abridge::article::{read_jsonl, read_source_bytes, Format, Source};
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
    let articles: Vec<_> = read_source_bytes(&src, bytes).collect();
    if format == Format::Jsonl {
        // Streamed through a small buffer, lines split across reads: the same records.
        let reader = std::io::BufReader::with_capacity(1 + usize::from(pick / 4) % 64, bytes);
        let streamed: Vec<_> = read_jsonl(&src, reader).collect();
        assert_eq!(articles, streamed);
    }
    for article in articles {
        match article {
            Ok(a) => {
                assert!(!a.text.trim().is_empty(), "an accepted article has text");
                assert!(!a.text.contains("\n\n\n"), "normalized: {:?}", a.text);
            }
            Err(r) => assert!(!r.reason.is_empty()),
        }
    }
});
