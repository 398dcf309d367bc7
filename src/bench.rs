//! `abridge bench`: load time, prefill and decode speed, and peak memory of a
//! model on one prompt, measured the way llama.cpp's tools report them.

use std::time::Instant;

use crate::error::Result;
use crate::model::{GenerateOptions, Model};

#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    pub model: String,
    pub threads: usize,
    pub load_s: f64,
    pub prompt_tokens: usize,
    pub gen_tokens: usize,
    pub pp_tok_s: f64,
    pub tg_tok_s: f64,
    pub peak_rss_mb: f64,
}

/// Loads `spec`, builds the prompt with `make_prompt`, prefills it and decodes
/// `gen_tokens` tokens greedily (past end-of-generation, for a fixed length).
pub fn run(
    spec: &str,
    gen_tokens: usize,
    make_prompt: impl FnOnce(&Model) -> Result<Vec<u32>>,
) -> Result<BenchReport> {
    let t0 = Instant::now();
    let model = Model::load(spec)?;
    let load_s = t0.elapsed().as_secs_f64();
    let prompt = make_prompt(&model)?;
    let opts = GenerateOptions {
        max_tokens: gen_tokens.max(1),
        ignore_eos: true,
        ..Default::default()
    };
    let g = model.generate(&prompt, &opts, &mut |_| {})?;
    // The first generated token comes from the prefill logits: decode ran n-1 steps.
    let decode_steps = g.generated_tokens().saturating_sub(1);
    Ok(BenchReport {
        model: model.name.clone(),
        threads: rayon::current_num_threads(),
        load_s,
        prompt_tokens: g.prompt_tokens,
        gen_tokens: g.generated_tokens(),
        pp_tok_s: g.prompt_tokens as f64 / g.prompt_seconds,
        tg_tok_s: if g.generate_seconds > 0.0 {
            decode_steps as f64 / g.generate_seconds
        } else {
            0.0
        },
        peak_rss_mb: peak_rss_mb().unwrap_or(0.0),
    })
}

/// The process's peak resident set (VmHWM), in MiB; Linux only.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
