//! The model's grounding check (`--verify`) on the labelled summary sentences in
//! `tests/fixtures/grounding/labels.jsonl`: how many wrong sentences it flags, how
//! many right ones it flags falsely, and what it costs. Every labelled sentence
//! passed the lexical grounding, so anything it catches is new.
//!
//! `cargo bench --bench verify` (default model; `ABRIDGE_VERIFY_MODEL=fast` for
//! another). Needs the models `scripts/fetch-models.sh` provides.

use std::time::Instant;

use abridge::model::scheduler::{Scheduler, SchedulerOptions};
use abridge::model::Model;
use abridge::pipeline::runner::Runner;
use abridge::pipeline::verify::check_claims;

use abridge::bench::cpu;

fn main() -> anyhow::Result<()> {
    let spec = std::env::var("ABRIDGE_VERIFY_MODEL").unwrap_or_else(|_| "default".into());
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/grounding/labels.jsonl"
    );
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(path)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let claims: Vec<(&str, Vec<&str>)> = rows
        .iter()
        .map(|r| {
            let sources = r["sources"].as_array().expect("sources");
            (
                r["sentence"].as_str().expect("sentence"),
                sources
                    .iter()
                    .map(|s| s.as_str().expect("source"))
                    .collect(),
            )
        })
        .collect();
    let model = Model::load(&spec)?;
    let scheduler = Scheduler::start(model.clone(), SchedulerOptions::default())?;
    let runner = Runner::new(&scheduler, 4096);
    let start = Instant::now();
    let verdicts = check_claims(&runner, &claims)?;
    let seconds = start.elapsed().as_secs_f64();
    let (tokens_in, tokens_out) = runner.tokens();

    let (mut caught, mut wrong, mut false_flags, mut right, mut no_verdict) = (0, 0, 0, 0, 0);
    for (row, verdict) in rows.iter().zip(&verdicts) {
        let is_wrong = row["label"] == "unsupported";
        let flagged = *verdict == Some(false);
        no_verdict += usize::from(verdict.is_none());
        if is_wrong {
            wrong += 1;
            caught += usize::from(flagged);
        } else {
            right += 1;
            false_flags += usize::from(flagged);
        }
        if flagged != is_wrong {
            println!(
                "{} {}: {:?}",
                if flagged { "false flag" } else { "missed" },
                row["article"].as_str().unwrap_or(""),
                row["sentence"].as_str().unwrap_or("")
            );
        }
    }
    let flagged = caught + false_flags;
    println!("model {} on {}", model.name, cpu());
    println!(
        "{} sentences ({wrong} unsupported): flagged {flagged}, {caught} rightly; \
         precision {:.2}, recall {:.2}; {false_flags} of {right} right sentences flagged; \
         {no_verdict} without a yes/no",
        rows.len(),
        caught as f64 / flagged.max(1) as f64,
        caught as f64 / wrong.max(1) as f64,
    );
    println!(
        "cost: {seconds:.1} s for {} sentences ({:.2} s each, {:.1} s per 3-sentence \
         summary), {tokens_in} prompt tokens, {tokens_out} generated",
        rows.len(),
        seconds / rows.len() as f64,
        3.0 * seconds / rows.len() as f64
    );
    Ok(())
}
