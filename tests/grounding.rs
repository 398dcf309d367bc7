//! The model's grounding check on the default model: wrong relations that every
//! lexical check passes (all words and names are in the cited sentences) are
//! flagged, and sentences the sources state are not. Cases from the labelled set
//! `tests/fixtures/grounding/labels.jsonl`; `cargo bench --bench verify` measures
//! the whole set.

use crate::common;

use abridge::model::scheduler::{Scheduler, SchedulerOptions};
use abridge::model::Model;
use abridge::pipeline::runner::Runner;
use abridge::pipeline::verify::check_claims;

fn labelled(prefix: &str) -> (String, Vec<String>, bool) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/grounding/labels.jsonl"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let row: serde_json::Value = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["sentence"].as_str().unwrap().starts_with(prefix))
        .unwrap_or_else(|| panic!("no labelled sentence starts with {prefix:?}"));
    let sources = row["sources"].as_array().unwrap();
    (
        row["sentence"].as_str().unwrap().to_string(),
        sources
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect(),
        row["label"] == "supported",
    )
}

#[test]
fn wrong_relations_are_flagged_and_stated_facts_are_not() {
    let cases = [
        // A call to withdraw told as a withdrawal.
        "The government has withdrawn military units",
        // A detail the cited sentences do not have.
        "The campaign includes both digital and TV ads and is aimed",
        "The White House has repeatedly lied",
        "Twitter pledged to take",
        "Two US service members were killed",
        "The girl was found hidden in a laundry basket",
    ]
    .map(labelled);
    let model = Model::load_path("default".into(), common::model_path(common::QWEN15)).unwrap();
    let scheduler = Scheduler::start(model, SchedulerOptions::default()).unwrap();
    let runner = Runner::new(&scheduler, 4096);
    let claims: Vec<(&str, Vec<&str>)> = cases
        .iter()
        .map(|(s, sources, _)| (s.as_str(), sources.iter().map(String::as_str).collect()))
        .collect();
    let verdicts = check_claims(&runner, &claims).unwrap();
    for ((sentence, _, supported), verdict) in cases.iter().zip(verdicts) {
        assert_eq!(verdict, Some(*supported), "{sentence}");
    }
}
