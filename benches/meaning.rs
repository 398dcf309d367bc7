//! The translation meaning check on the round trips labelled by reading in
//! `tests/fixtures/meaning-labels.jsonl`: what the lexical comparison flags
//! (`check::meaning`), what the model's own claim check flags when asked whether
//! the round trip says anything the English does not (a substitution: "fighter"
//! for "helicopter") or the English anything the round trip does not (a loss), and
//! their unions, each as precision and recall of the "wrong" label, with the cost.
//!
//! `cargo bench --bench meaning` (default model; `ABRIDGE_MEANING_MODEL=fast` for
//! another, `none` for the lexical check alone; `ABRIDGE_MEANING_LABELS=<jsonl>` for
//! another labelled set, e.g. `tests/fixtures/meaning-labels-2.jsonl`, read after
//! the threshold was set: held out for it). Needs the models
//! `scripts/fetch-models.sh` provides.

use std::time::Instant;

use abridge::bench::cpu;
use abridge::check::meaning::compare_with_names;
use abridge::check::translation::names_written;
use abridge::model::scheduler::{Scheduler, SchedulerOptions};
use abridge::model::Model;
use abridge::pipeline::runner::Runner;
use abridge::pipeline::verify::check_claims;

/// Precision and recall of `flags` against `wrong`, as one line.
fn score(name: &str, flags: &[bool], wrong: &[bool]) -> String {
    let flagged = flags.iter().filter(|f| **f).count();
    let hit = flags.iter().zip(wrong).filter(|(f, w)| **f && **w).count();
    let total = wrong.iter().filter(|w| **w).count();
    format!(
        "{name:<32} flags {flagged:>3}, {hit:>3} of {total} wrong: precision {:.2}, recall {:.2}",
        hit as f64 / flagged.max(1) as f64,
        hit as f64 / total.max(1) as f64
    )
}

/// [`score`] of each named set of flags, per target language.
fn per_language(rows: &[serde_json::Value], wrong: &[bool], flags: &[(&str, &[bool])]) {
    for lang in ["fr", "de", "es"] {
        let pick = |v: &[bool]| -> Vec<bool> {
            v.iter()
                .zip(rows)
                .filter(|(_, r)| r["lang"] == lang)
                .map(|(x, _)| *x)
                .collect()
        };
        let w = pick(wrong);
        for (name, f) in flags {
            println!("{}", score(&format!("{lang}: {name}"), &pick(f), &w));
        }
    }
}

fn main() -> anyhow::Result<()> {
    let spec = std::env::var("ABRIDGE_MEANING_MODEL").unwrap_or_else(|_| "default".into());
    let path = std::env::var("ABRIDGE_MEANING_LABELS").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/meaning-labels.jsonl"
        )
        .into()
    });
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&path)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let field = |r: &serde_json::Value, k: &str| r[k].as_str().unwrap_or_default().to_string();
    let wrong: Vec<bool> = rows.iter().map(|r| r["label"] == "wrong").collect();
    let lexical: Vec<bool> = rows
        .iter()
        .map(|r| {
            let (en, tr, back) = (
                field(r, "source"),
                field(r, "translation"),
                field(r, "back"),
            );
            let written = names_written(&en, &tr, &field(r, "lang"));
            compare_with_names(&en, &back, &written).doubtful()
        })
        .collect();
    println!(
        "{path}: {} round trips, {} labelled wrong",
        rows.len(),
        wrong.iter().filter(|w| **w).count()
    );
    if spec == "none" {
        println!("{}", score("lexical (check::meaning)", &lexical, &wrong));
        per_language(&rows, &wrong, &[("lexical", &lexical)]);
        return Ok(());
    }

    let model = Model::load(&spec)?;
    let scheduler = Scheduler::start(model.clone(), SchedulerOptions::default())?;
    let runner = Runner::new(&scheduler, 4096);
    let sources: Vec<String> = rows.iter().map(|r| field(r, "source")).collect();
    let backs: Vec<String> = rows.iter().map(|r| field(r, "back")).collect();
    let start = Instant::now();
    // The round trip as the claim: does it say what the English does not?
    let added: Vec<(&str, Vec<&str>)> = backs
        .iter()
        .zip(&sources)
        .map(|(b, s)| (b.as_str(), vec![s.as_str()]))
        .collect();
    let adds = check_claims(&runner, &added)?;
    // The English as the claim: did the round trip lose something?
    let lost: Vec<(&str, Vec<&str>)> = sources
        .iter()
        .zip(&backs)
        .map(|(s, b)| (s.as_str(), vec![b.as_str()]))
        .collect();
    let loses = check_claims(&runner, &lost)?;
    let seconds = start.elapsed().as_secs_f64();
    let (tokens_in, tokens_out) = runner.tokens();

    let says_more: Vec<bool> = adds.iter().map(|v| *v == Some(false)).collect();
    let says_less: Vec<bool> = loses.iter().map(|v| *v == Some(false)).collect();
    let or =
        |a: &[bool], b: &[bool]| -> Vec<bool> { a.iter().zip(b).map(|(x, y)| *x || *y).collect() };
    let and =
        |a: &[bool], b: &[bool]| -> Vec<bool> { a.iter().zip(b).map(|(x, y)| *x && *y).collect() };
    println!("model {} on {}", model.name, cpu());
    println!("{}", score("lexical (check::meaning)", &lexical, &wrong));
    println!("{}", score("model: round trip adds", &says_more, &wrong));
    println!("{}", score("model: round trip loses", &says_less, &wrong));
    println!(
        "{}",
        score(
            "model: adds and loses",
            &and(&says_more, &says_less),
            &wrong
        )
    );
    println!(
        "{}",
        score("lexical or adds", &or(&lexical, &says_more), &wrong)
    );
    println!(
        "{}",
        score("lexical or loses", &or(&lexical, &says_less), &wrong)
    );
    println!(
        "{}",
        score(
            "lexical or (adds and loses)",
            &or(&lexical, &and(&says_more, &says_less)),
            &wrong
        )
    );
    let lexical_or_adds = or(&lexical, &says_more);
    per_language(
        &rows,
        &wrong,
        &[("lexical", &lexical), ("lexical or adds", &lexical_or_adds)],
    );
    println!(
        "cost: {seconds:.1} s for {} claims ({:.2} s each), {tokens_in} prompt tokens, \
         {tokens_out} generated",
        2 * rows.len(),
        seconds / (2 * rows.len()) as f64
    );
    Ok(())
}
