//! `abridge models`: the aliases, and the model files found locally.

use std::io::Write;

use anyhow::Result;

use abridge::model::gguf::Gguf;
use abridge::model::resolve::{local_models, models_dir, ModelSpec, ALIASES, DEFAULT_MODEL};

pub fn run() -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "aliases (--model NAME; * is the default):")?;
    for (alias, spec, what) in ALIASES {
        let mark = if *spec == DEFAULT_MODEL { "*" } else { " " };
        // Only local look-ups: listing must not download anything.
        let present = match ModelSpec::parse(spec) {
            Ok(ModelSpec::Hub { file, .. }) => models_dir().join(file).is_file(),
            Ok(ModelSpec::Path(p)) => p.is_file(),
            Err(_) => false,
        };
        let here = if present { "present" } else { "missing" };
        let name = format!("{alias}{mark}");
        writeln!(out, "  {name:<9} {spec}  ({here}; {what})")?;
    }
    writeln!(out)?;
    drop(out);
    let found = local_models();
    if found.is_empty() {
        eprintln!(
            "no models found in {} or the hf-hub cache; run scripts/fetch-models.sh",
            models_dir().display()
        );
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<10} {:>9}  {:<8} path", "arch", "size", "quant")?;
    for path in found {
        match Gguf::header(&path) {
            Ok(g) => writeln!(
                out,
                "{:<10} {:>6} MB  {:<8} {}",
                g.architecture().unwrap_or_else(|_| "?".into()),
                g.file_size / 1_000_000,
                g.quantization(),
                path.display()
            )?,
            Err(e) => writeln!(
                out,
                "{:<10} {:>9}  {:<8} {} ({e})",
                "invalid",
                "-",
                "-",
                path.display()
            )?,
        }
    }
    Ok(())
}
