//! What several commands share: reading a prompt file, and
//! the scheduler's options from `--batch` and `--kv-budget`.

use std::path::Path;

use anyhow::{Context, Result};

use abridge::model::scheduler::SchedulerOptions;

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
