//! `abridge digest`: many articles into one folder, and the run's outcome as a
//! line on stderr and an exit code.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use abridge::model::scheduler::SchedulerOptions;
use abridge::model::Model;
use anyhow::{Context, Result};

use abridge::{pipeline, progress};

use super::args::DigestArgs;
use super::shared::scheduler;

/// Exit 0 when every article is done, 1 when some failed (the rest are written),
/// 128 + the signal when SIGINT or SIGTERM stopped it. An error is a run that
/// could not start (no model, bad options, unwritable folder, another run
/// writing into it): `main` exits 2 on it.
pub fn run(args: DigestArgs, quiet: bool) -> Result<ExitCode> {
    let reporter = progress::Reporter::new(std::io::stderr().is_terminal(), quiet);
    let result = digest(args, &reporter);
    // The progress bars go before anything else is said.
    reporter.finish();
    Ok(conclude(&result?, quiet))
}

fn digest(args: DigestArgs, reporter: &progress::Reporter) -> Result<pipeline::DigestReport> {
    let DigestArgs {
        inputs,
        out,
        article,
        jobs,
        batch,
        kv_budget,
        force,
        shard,
        shard_count,
        brief,
        model,
    } = args;
    let article = article.options()?;
    anyhow::ensure!(batch > 0, "--batch must be at least 1");
    anyhow::ensure!(kv_budget > 0, "--kv-budget must be at least 1 (MB)");
    let jobs = jobs.unwrap_or(batch);
    anyhow::ensure!(jobs > 0, "--jobs must be at least 1");
    let shard =
        pipeline::shard::Shard::resolve(shard.as_deref(), shard_count, |k| std::env::var(k).ok())?;
    // Refused before the model loads; the digest takes the lock itself.
    pipeline::OutputLock::check(&out, shard.as_ref())?;
    let interrupt =
        pipeline::Interrupt::on_signals().context("cannot set up SIGINT and SIGTERM handling")?;
    let model = Model::load(&model.model)?;
    let opts = pipeline::DigestOptions {
        out,
        article,
        jobs,
        // A batched digest keeps the packed weights its decode batches use
        // (about 1.3x the Q4_K weights more memory; `ABRIDGE_KEEP_PACKED=0`
        // refuses). The server does not: an editor's first request would pay
        // the packing and the memory.
        scheduler: SchedulerOptions {
            keep_packed: batch > 1,
            ..scheduler(batch, kv_budget)
        },
        force,
        interrupt,
        shard,
    };
    let report = pipeline::digest(&model, &inputs, &opts, reporter)?;
    // Not after an interrupt (the user asked to stop) nor for a shard (its
    // brief waits for `merge`); a brief that fails loses no article.
    if brief && report.shard.is_none() && report.interrupted.is_none() {
        let dir = report.index.parent().unwrap_or(Path::new("."));
        if let Err(e) = super::brief::write(&model, dir, &opts.article.languages) {
            tracing::error!("{e:#}; the articles are written, `abridge brief` can retry");
        }
    }
    Ok(report)
}

/// The run's last line, and its exit code.
fn conclude(report: &pipeline::DigestReport, quiet: bool) -> ExitCode {
    // A shard has no index of its own: `merge` writes it.
    let (what, records, written) = match &report.shard {
        Some(shard) => (
            format!("digest shard {}", shard.label()),
            report.manifest.display().to_string(),
            format!(
                "shard manifest {}; abridge merge {} once all {} shards are done",
                report.manifest.display(),
                report.manifest.parent().unwrap_or(Path::new(".")).display(),
                shard.count
            ),
        ),
        None => (
            "digest".to_string(),
            format!(
                "{} and {}",
                report.manifest.display(),
                report.index.display()
            ),
            format!("index {}", report.index.display()),
        ),
    };
    if let (Some(signal), true) = (report.interrupted, report.stopped_reading) {
        eprintln!(
            "abridge: {what} interrupted by {} while reading the inputs ({} read); \
             nothing was written: run the same command again",
            pipeline::signal_name(signal),
            report.unfinished,
        );
        return ExitCode::from(u8::try_from(128 + signal).unwrap_or(1));
    }
    if let Some(signal) = report.interrupted {
        eprintln!(
            "abridge: {what} interrupted by {}: {} ok, {} skipped, {} failed, {} not \
             done; {records} record what is done: run the same command again to \
             resume",
            pipeline::signal_name(signal),
            report.ok,
            report.skipped,
            report.failed,
            report.unfinished,
        );
        return ExitCode::from(u8::try_from(128 + signal).unwrap_or(1));
    }
    if !quiet || report.failed > 0 {
        eprintln!(
            "abridge: {what}: {} ok, {} skipped, {} failed; {written}",
            report.ok, report.skipped, report.failed,
        );
    }
    if report.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
