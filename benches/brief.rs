//! The desk brief's grouping at night-feed sizes: fingerprints, near-duplicates
//! and stories of 1,000 to 10,000 articles, to show the cost grows near-linearly.
//! The articles are made from the labelled set's 77 real ones
//! (tests/fixtures/brief): each is five sentences drawn from them by a fixed
//! sequence, and one in ten is a copy of an earlier one with a sentence changed
//! (a near-duplicate), so the sizes and vocabulary are real news's.
//!
//! `cargo bench --bench brief` (no model needed).

use std::time::Instant;

use abridge::brief::{group, Fingerprint};

fn cpu() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map_or(String::new(), |(_, v)| v.trim().to_string())
    };
    format!(
        "{} (family {}, model {})",
        field("model name"),
        field("cpu family"),
        field("model\t")
    )
}

fn main() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/brief/articles.jsonl"
    );
    let sentences: Vec<String> = std::fs::read_to_string(path)
        .expect("the labelled set")
        .lines()
        .flat_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let text = v["text"].as_str().unwrap().to_string();
            abridge::chunk::sentences(&text)
                .iter()
                .map(|s| s.text(&text).trim().to_string())
                .collect::<Vec<_>>()
        })
        .filter(|s| s.split_whitespace().count() > 4)
        .collect();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut texts: Vec<String> = Vec::new();
    for i in 0..10_000 {
        if i % 10 == 9 {
            let source = texts[next(i)].clone();
            let mut copy: Vec<String> = abridge::chunk::sentences(&source)
                .iter()
                .map(|s| s.text(&source).to_string())
                .collect();
            let at = next(copy.len().max(1));
            copy[at] = sentences[next(sentences.len())].clone();
            texts.push(copy.join(" "));
        } else {
            let picked: Vec<&str> = (0..5)
                .map(|_| sentences[next(sentences.len())].as_str())
                .collect();
            texts.push(picked.join(" "));
        }
    }
    println!("CPU: {}, {} threads", cpu(), rayon::current_num_threads());
    println!(
        "| articles | fingerprints (s) | near-duplicates (s) | pairs | stories (s) | groups |"
    );
    println!("|---|---|---|---|---|---|");
    for n in [1_000, 2_500, 5_000, 10_000] {
        let t = Instant::now();
        let prints: Vec<Fingerprint> = texts[..n].iter().map(|t| Fingerprint::of(t)).collect();
        let fp = t.elapsed().as_secs_f64();
        let refs: Vec<&Fingerprint> = prints.iter().collect();
        let t = Instant::now();
        let dups = group::duplicates(&refs);
        let dp = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let stories = group::stories(&refs, &dups);
        let st = t.elapsed().as_secs_f64();
        println!(
            "| {n} | {fp:.2} | {dp:.3} | {} | {st:.2} | {} |",
            dups.len(),
            stories.len()
        );
    }
}
