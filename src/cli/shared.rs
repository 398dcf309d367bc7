//! What several commands share: loading the model, reading a prompt file, and
//! the scheduler's options from `--batch` and `--kv-budget`.

use std::path::Path;

use anyhow::{Context, Result};

use abridge::model::scheduler::SchedulerOptions;
use abridge::model::Model;

/// Loads `--model`, logging how long it took.
pub fn load(spec: &str) -> Result<Model> {
    let t = std::time::Instant::now();
    let model = Model::load(spec)?;
    tracing::info!(
        "loaded {} ({}, {}) in {:.1}s",
        model.name,
        model.architecture,
        model.quantization,
        t.elapsed().as_secs_f64()
    );
    Ok(model)
}

/// `--prompt-file`'s text (`generate`, `bench`), refused when empty.
pub fn read_prompt_file(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read prompt file {}", path.display()))?;
    anyhow::ensure!(
        !text.trim().is_empty(),
        "prompt file {} is empty",
        path.display()
    );
    Ok(text)
}

/// `--batch` and `--kv-budget` (in MB) as the scheduler's options; each command
/// checks them itself, in the order of its flags' errors.
pub fn scheduler(batch: usize, kv_budget_mb: usize) -> SchedulerOptions {
    SchedulerOptions {
        batch,
        kv_budget: kv_budget_mb << 20,
        ..SchedulerOptions::default()
    }
}
