//! The translation meaning check's surprisal on the default model: the English
//! taught as the translation's translation back, through the scheduler as the
//! translation step asks it. A word swapped for another ("drug squad" as "service
//! médical") makes the English more surprising than a faithful translation does;
//! the labelled sentences get the surprisal stored beside their labels, which the
//! threshold test in `check::meaning` reads (`cargo bench --bench channel` wrote it).

use crate::common;

use abridge::check::meaning::Meaning;
use abridge::model::scheduler::{Scheduler, SchedulerOptions};
use abridge::model::{Model, Prompt};
use abridge::pipeline::runner::{Ask, Runner, Writes};

fn stored(source: &str, lang: &str) -> (String, f32) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/meaning-labels.jsonl"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let row: serde_json::Value = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["source"] == source && r["lang"] == lang)
        .unwrap_or_else(|| panic!("no labelled {lang} sentence {source:?}"));
    (
        row["translation"].as_str().unwrap().to_string(),
        row["surprisal"].as_f64().unwrap() as f32,
    )
}

#[test]
fn a_swapped_word_is_surprising_and_the_stored_surprisals_hold() {
    let model = Model::load_path("default".into(), common::model_path(common::QWEN15)).unwrap();
    let scheduler = Scheduler::start(model, SchedulerOptions::default()).unwrap();
    let runner = Runner::new(&scheduler, 4096);
    let english = "Drug squad detectives arrested two men in Sydney on Monday.";
    // (English, translation, language, stored surprisal if labelled)
    let mut cases: Vec<(String, String, &str, Option<f32>)> = vec![
        (
            english.into(),
            "Des enquêteurs de la brigade des stupéfiants ont arrêté deux hommes à Sydney \
             lundi."
                .into(),
            "fr",
            None,
        ),
        (
            english.into(),
            "Les enquêteurs du service médical ont arrêté deux hommes à Sydney lundi.".into(),
            "fr",
            None,
        ),
    ];
    for source in [
        "Four relocated.",
        "Gambill said the win was a great way to start the tennis year.",
        "South Dakota Gov. Kristi Noem is defending her state's anti-drug campaign with the \
         slogan \"Meth, we're on it.\"",
    ] {
        let (translation, surprisal) = stored(source, "fr");
        cases.push((source.into(), translation, "fr", Some(surprisal)));
    }
    let asks: Vec<Ask> = cases
        .iter()
        .map(|(english, translation, lang, _)| {
            let prompt = Prompt::back_translation(translation, lang, true);
            Ask::taught(prompt, english, Writes::RoundTrip(lang.to_string()))
        })
        .collect();
    let got: Vec<f32> = runner
        .answer_all(&asks)
        .unwrap()
        .iter()
        .map(|a| {
            assert!(a.text.is_empty(), "a taught answer generates nothing");
            a.surprisal()
        })
        .collect();
    println!("{got:?}");
    // A swapped word makes the English more than twice as surprising. Not
    // enough to mark it: 20 nats is under the threshold, and its round trip
    // keeps 0.74 of the terms ("Medical service investigators arrested ..."),
    // so neither part of the check doubts it (docs/checks.md says so).
    assert!(
        got[1] > 2.0 * got[0],
        "faithful {}, swapped {}",
        got[0],
        got[1]
    );
    // The labelled wrong one is marked on its surprisal alone, whatever its
    // round trip; the faithful ones are not.
    let doubtful = |s: f32, score: f32| {
        let terms = Meaning {
            score,
            ..Default::default()
        };
        terms.with_surprisal(s).doubtful()
    };
    assert!(!doubtful(got[2], 1.0) && !doubtful(got[3], 1.0));
    assert!(doubtful(got[4], 1.0), "{}", got[4]);
    for ((source, _, _, want), got) in cases.iter().zip(&got).skip(2) {
        let want = want.unwrap();
        assert!((got - want).abs() < 0.5, "{source}: {got} against {want}");
    }
}
