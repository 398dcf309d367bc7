//! The desk brief's grouping at night-feed sizes: fingerprints, near-duplicates
//! and stories of 1,000 to 10,000 articles, to show the cost grows near-linearly.
//! The articles are made from the labelled set's 77 real ones
//! (tests/fixtures/brief): each is five sentences drawn from them by a fixed
//! sequence, and one in ten is a copy of an earlier one with a sentence changed
//! (a near-duplicate), so the sizes and vocabulary are real news's.
//!
//! `cargo bench --bench brief` (no model needed). With `ABRIDGE_BRIEF_EMBED=MODEL`
//! (e.g. `fast`) it also compares story grouping on the labelled set by TF-IDF
//! (what the brief uses) with grouping by the model's own embeddings (mean
//! final hidden state of each article's prefill), both by the same average
//! linkage over a range of thresholds.

use std::time::Instant;

use abridge::brief::eval::Labelled;
use abridge::brief::{group, Fingerprint};

use abridge::bench::cpu;

/// Story grouping of the labelled set by TF-IDF and by `model`'s embeddings.
fn compare_embeddings(model: &str) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/brief");
    let set = Labelled::read(std::path::Path::new(dir)).expect("the labelled set");
    let model = abridge::model::Model::load(model).expect("the model loads");
    let t = Instant::now();
    let embeddings: Vec<Vec<f32>> = set
        .texts
        .iter()
        .map(|text| {
            let ids = model.tokenizer.encode(text, false).expect("tokens");
            model.weights.embed(&ids).expect("embedding")
        })
        .collect();
    let seconds = t.elapsed().as_secs_f64();
    let prints: Vec<Fingerprint> = set.texts.iter().map(|t| Fingerprint::of(t)).collect();
    let refs: Vec<&Fingerprint> = prints.iter().collect();
    let dups = group::duplicates(&refs);
    println!(
        "\nstories on the labelled set ({} articles): TF-IDF beside {} embeddings \
         ({} dimensions, {seconds:.1} s for all prefills)",
        set.ids.len(),
        model.name,
        embeddings[0].len()
    );
    // the two similarities have their own scales: each gets its own range
    println!("| threshold | TF-IDF precision / recall / ARI | threshold | embeddings precision / recall / ARI |");
    println!("|---|---|---|---|");
    let pairs = group::cosine_pairs(&embeddings);
    let tfidf = [0.08, 0.12, 0.16, 0.2, 0.25, 0.3, 0.4];
    let dense = [0.4, 0.5, 0.6, 0.65, 0.7, 0.8, 0.9];
    for (t, e) in tfidf.into_iter().zip(dense) {
        let (a, b, c) = set.score(&group::stories_at(&refs, &dups, t));
        let (x, y, z) = set.score(&group::cluster(set.ids.len(), pairs.clone(), &dups, e));
        println!("| {t} | {a:.3} / {b:.3} / {c:.3} | {e} | {x:.3} / {y:.3} / {z:.3} |");
    }
}

fn main() {
    if let Ok(model) = std::env::var("ABRIDGE_BRIEF_EMBED") {
        compare_embeddings(&model);
    }
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
            abridge::sentence::sentences(&text)
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
            let mut copy: Vec<String> = abridge::sentence::sentences(&source)
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
