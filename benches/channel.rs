//! Would the channel score find wrong translations better than the lexical round
//! trip? The channel score of a translation is how unlikely the model finds the
//! English source as its translation back: -log P(English | translation), taught
//! (teacher-forced) through the back-translation prompt, with no text generated
//! (noisy-channel reranking, Yee et al. 2019). A word the translation lost or
//! changed ("caretaker" after "président de cabinet") is one the model does not
//! expect. Measured on the round trips labelled by reading, as the area under
//! the ROC curve of each score and as precision and recall when each flags as
//! many sentences as the lexical check (`check::meaning`) does.
//!
//! `cargo bench --bench channel` (default model; `ABRIDGE_MEANING_LABELS=<jsonl>`
//! for another labelled set, e.g. `tests/fixtures/meaning-labels-2.jsonl`). Needs
//! the models `scripts/fetch-models.sh` provides.

use std::time::Instant;

use abridge::bench::cpu;
use abridge::check::meaning::compare_with_names;
use abridge::check::translation::names_written;
use abridge::model::scheduler::{Scheduler, SchedulerOptions};
use abridge::model::{Model, Prompt};
use abridge::pipeline::runner::{Ask, Runner, Writes};

/// Area under the ROC curve of `score` (higher: more likely wrong) against `wrong`.
fn auc(score: &[f64], wrong: &[bool]) -> f64 {
    let (mut pairs, mut above) = (0.0, 0.0);
    for (s, w) in score.iter().zip(wrong) {
        for (t, v) in score.iter().zip(wrong) {
            if *w && !*v {
                pairs += 1.0;
                above += if s > t {
                    1.0
                } else if s == t {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    above / pairs
}

/// The `n` highest of `score`, as flags.
fn top(score: &[f64], n: usize) -> Vec<bool> {
    let mut sorted = score.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let cut = sorted.get(n.max(1) - 1).copied().unwrap_or(f64::MAX);
    score.iter().map(|s| *s >= cut).collect()
}

fn precision_recall(name: &str, flags: &[bool], wrong: &[bool]) -> String {
    let flagged = flags.iter().filter(|f| **f).count();
    let hit = flags.iter().zip(wrong).filter(|(f, w)| **f && **w).count();
    let total = wrong.iter().filter(|w| **w).count();
    format!(
        "{name:<36} flags {flagged:>3}, {hit:>3} of {total} wrong: precision {:.2}, recall {:.2}",
        hit as f64 / flagged.max(1) as f64,
        hit as f64 / total.max(1) as f64
    )
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
    let lexical: Vec<(f64, bool, bool)> = rows
        .iter()
        .map(|r| {
            let written = names_written(
                &field(r, "source"),
                &field(r, "translation"),
                &field(r, "lang"),
            );
            let m = compare_with_names(&field(r, "source"), &field(r, "back"), &written);
            (1.0 - m.score as f64, m.doubtful(), !m.problems.is_empty())
        })
        .collect();

    let model = Model::load(&spec)?;
    let scheduler = Scheduler::start(model.clone(), SchedulerOptions::default())?;
    let runner = Runner::new(&scheduler, 4096);
    let start = Instant::now();
    // As the translation check asks it: the English taught as the answer to the
    // back-translation prompt, every sentence in one batch.
    let asks: Vec<Ask> = rows
        .iter()
        .map(|r| {
            let lang = field(r, "lang");
            let prompt = Prompt::back_translation(&field(r, "translation"), &lang, model.is_chat());
            Ask::taught(prompt, &field(r, "source"), Writes::RoundTrip(lang))
        })
        .collect();
    let answers = runner.answer_all(&asks)?;
    let channel: Vec<f64> = answers.iter().map(|a| a.surprisal() as f64).collect();
    let tokens: Vec<f64> = answers.iter().map(|a| a.logprobs.len() as f64).collect();
    let seconds = start.elapsed().as_secs_f64();
    // The figures beside the labels, for the check's threshold test (`check::meaning`).
    if std::env::var_os("ABRIDGE_CHANNEL_WRITE").is_some() {
        let lines: Vec<String> = std::fs::read_to_string(&path)?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .zip(&channel)
            .map(|(line, c)| {
                let mut row: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(line)?;
                row.insert("surprisal".into(), ((c * 100.0).round() / 100.0).into());
                serde_json::to_string(&row)
            })
            .collect::<Result<_, _>>()?;
        std::fs::write(&path, lines.join("\n") + "\n")?;
    }
    let lexical_score: Vec<f64> = lexical.iter().map(|l| l.0).collect();
    let doubtful: Vec<bool> = lexical.iter().map(|l| l.1).collect();
    let per_token: Vec<f64> = channel.iter().zip(&tokens).map(|(c, n)| c / n).collect();
    let n = doubtful.iter().filter(|d| **d).count();
    println!(
        "{path}: {} round trips, {} labelled wrong; model {} on {}",
        rows.len(),
        wrong.iter().filter(|w| **w).count(),
        model.name,
        cpu()
    );
    for (name, score) in [
        ("lexical 1 - score", &lexical_score),
        ("channel cost", &channel),
        ("channel cost per token", &per_token),
        ("source tokens (length alone)", &tokens),
    ] {
        println!("{name:<36} AUC {:.3}", auc(score, &wrong));
    }
    println!(
        "{}",
        precision_recall("lexical check (doubtful)", &doubtful, &wrong)
    );
    let costly = top(&channel, n);
    println!(
        "{}",
        precision_recall("channel cost, as many flags", &costly, &wrong)
    );
    let either: Vec<bool> = doubtful
        .iter()
        .zip(&costly)
        .map(|(a, b)| *a || *b)
        .collect();
    println!(
        "{}",
        precision_recall("lexical or channel", &either, &wrong)
    );
    let both: Vec<bool> = doubtful
        .iter()
        .zip(&costly)
        .map(|(a, b)| *a && *b)
        .collect();
    println!("{}", precision_recall("lexical and channel", &both, &wrong));
    println!(
        "cost: {seconds:.1} s for {} sentences ({:.2} s each)",
        rows.len(),
        seconds / rows.len() as f64
    );
    Ok(())
}
