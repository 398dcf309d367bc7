//! The desk brief's grouping against hand labels (tests/fixtures/brief: 77 real
//! articles from the Lee corpus and Reuters-21578, README there), and the brief
//! of a real digest.

use std::collections::BTreeSet;

use abridge::brief::eval::{precision_recall, Labelled};
use abridge::brief::{group, Fingerprint};

use crate::common;

fn labelled() -> Labelled {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/brief");
    Labelled::read(std::path::Path::new(dir)).unwrap()
}

/// Duplicates and stories against the labels. The floors sit a little under
/// what the thresholds in `brief::group` give on this set (printed), so a
/// change that loses a labelled pair or merges two stories fails here.
#[test]
fn duplicates_and_stories_match_the_hand_labels() {
    let set = labelled();
    let prints: Vec<Fingerprint> = set.texts.iter().map(|t| Fingerprint::of(t)).collect();
    let refs: Vec<&Fingerprint> = prints.iter().collect();
    let dups = group::duplicates(&refs);
    let found: BTreeSet<(usize, usize)> = dups.iter().copied().collect();
    let (dp, dr) = precision_recall(&found, &set.duplicates);
    for &(i, j) in found.symmetric_difference(&set.duplicates) {
        eprintln!(
            "duplicate {}: {} {} resemblance {:.2}",
            if set.duplicates.contains(&(i, j)) {
                "missed"
            } else {
                "wrong"
            },
            set.ids[i],
            set.ids[j],
            prints[i].resemblance(&prints[j])
        );
    }
    for t in [0.08, 0.12, 0.16, 0.2, 0.25, 0.3] {
        let (p, r, ari) = set.score(&group::stories_at(&refs, &dups, t));
        eprintln!(
            "stories at {t}: pairwise precision {p:.3} recall {r:.3}, adjusted Rand {ari:.3}"
        );
    }
    let stories = group::stories(&refs, &dups);
    let (sp, sr, ari) = set.score(&stories);
    eprintln!(
        "duplicates: precision {dp:.3} recall {dr:.3} ({} found, {} labelled); stories: \
         pairwise precision {sp:.3} recall {sr:.3}, adjusted Rand {ari:.3} ({} groups, {} labelled)",
        found.len(),
        set.duplicates.len(),
        stories.len(),
        set.story.iter().collect::<BTreeSet<_>>().len()
    );
    for members in &stories {
        let names: Vec<&str> = members.iter().map(|&i| set.ids[i].as_str()).collect();
        eprintln!("  story: {}", names.join(" "));
    }
    assert!(
        dp >= 0.9 && dr >= 0.9,
        "duplicates: precision {dp:.3} recall {dr:.3}"
    );
    assert!(
        sp >= 0.8 && sr >= 0.7 && ari >= 0.7,
        "stories: {sp:.3} {sr:.3} ARI {ari:.3}"
    );
}

/// A digest of two stories of two articles each and one more article (the fast
/// model), then its brief (the default model: the fast one copies the first
/// summary it reads): grouped as labelled, each story's summary written from
/// its articles' summaries, every sentence citing articles of its story.
#[test]
fn a_digest_becomes_stories_with_cited_summaries() {
    let hf = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (inputs, out) = (tmp.path().join("in"), tmp.path().join("out"));
    let picked = ["lee-001", "lee-009", "lee-118", "lee-136", "lee-012"];
    common::write_brief_articles(&inputs, &picked);
    common::digest(hf.path(), "fast", "2", &[], &inputs, &out);
    let o = common::run(
        common::abridge(hf.path())
            .args(["--threads", "2", "brief", "--model", "default"])
            .arg(&out),
    );
    assert!(o.status.success(), "{}", common::stderr(&o));
    let brief: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("brief.json")).unwrap()).unwrap();
    let input_of = |item: &serde_json::Value| -> String {
        let id = item["id"].as_str().unwrap();
        picked
            .iter()
            .find(|p| id.contains(*p))
            .unwrap_or(&id)
            .to_string()
    };
    let mut groups: Vec<Vec<String>> = brief["stories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let mut g: Vec<String> = s["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(input_of)
                .collect();
            g.sort();
            g
        })
        .collect();
    groups.sort();
    assert_eq!(
        groups,
        [["lee-001", "lee-009"], ["lee-118", "lee-136"]],
        "{brief:#}"
    );
    let others: Vec<String> = brief["others"]
        .as_array()
        .unwrap()
        .iter()
        .map(input_of)
        .collect();
    assert_eq!(others, ["lee-012"]);
    for story in brief["stories"].as_array().unwrap() {
        let headline = story["headline"].as_str().unwrap();
        assert!(
            !headline.is_empty() && headline.split_whitespace().count() <= 20,
            "{headline}"
        );
        let ids: Vec<&str> = story["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap())
            .collect();
        let sentences = story["summary"].as_array().unwrap();
        assert!(!sentences.is_empty());
        for s in sentences {
            let cites = s["articles"].as_array().unwrap();
            assert!(
                !cites.is_empty() && cites.iter().all(|c| ids.contains(&c.as_str().unwrap())),
                "{s}"
            );
        }
        // written by the model, not the lead article's summary kept as it was
        let told: Vec<&str> = sentences
            .iter()
            .map(|s| s["sentence"].as_str().unwrap())
            .collect();
        let lead = story["items"][0]["summary"].as_str().unwrap().trim();
        assert_ne!(told.join(" "), lead, "{story:#}");
    }
    // a story told from more than one of its articles
    assert!(
        brief["stories"].as_array().unwrap().iter().any(|story| {
            let cited: BTreeSet<&str> = story["summary"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|s| {
                    s["articles"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a.as_str().unwrap())
                })
                .collect();
            cited.len() > 1
        }),
        "{brief:#}"
    );
    let md = std::fs::read_to_string(out.join("brief.md")).unwrap();
    assert!(
        md.contains("## 1. ") && md.contains("## Other articles"),
        "{md}"
    );

    // --to: each story in French, through the article translations' checks. The
    // tiny model, whose French fails them (a failure must say why): the fast
    // model's failed here too, in 1.6 times the time.
    let o = common::run(
        common::abridge(hf.path())
            .args(["--threads", "2", "brief", "--model", "tiny", "--to", "fr"])
            .arg(&out),
    );
    assert!(o.status.success(), "{}", common::stderr(&o));
    let brief: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("brief.json")).unwrap()).unwrap();
    let md = std::fs::read_to_string(out.join("brief.md")).unwrap();
    for story in brief["stories"].as_array().unwrap() {
        let fr = &story["translations"]["fr"];
        let checks = &fr["checks"];
        assert!(
            checks["language"].is_object() && checks["meaning"].is_object(),
            "{fr:#}"
        );
        match fr["summary"].as_str() {
            Some(text) => {
                for check in ["language", "numbers", "names"] {
                    assert_eq!(checks[check]["passed"], true, "{check}: {fr:#}");
                }
                assert!(!text.is_empty() && md.contains("> **French** — *"), "{md}");
            }
            None => {
                let why = fr["error"].as_str().unwrap_or_default();
                assert!(!why.is_empty() && md.contains("*not published: "), "{fr:#}");
            }
        }
    }
}
