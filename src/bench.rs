//! `abridge bench`: load time, prefill and decode speed, and peak memory of a
//! model on one prompt, measured the way llama.cpp's tools report them.

use std::path::Path;
use std::time::Instant;

use crate::error::Result;
use crate::kernels;
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
    /// Weights used in place from the model file's read-only map (not copied).
    pub weights_mapped_mb: f64,
    /// Of this process's pages of the model file, those other processes map too.
    pub weights_shared_mb: f64,
    pub roofline: Roofline,
}

/// How far prefill and decode are from this machine's ceilings: prefill as integer
/// multiply-add throughput (2 operations each, like GFLOP/s) against the kernels'
/// dot-product loop at full speed; decode as bytes read per second (every weight
/// once per token, plus the KV cache) against a plain read of a large buffer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Roofline {
    pub isa: String,
    pub prefill_gops: f64,
    pub peak_gops: f64,
    pub prefill_of_peak: f64,
    pub decode_gbs: f64,
    pub peak_gbs: f64,
    pub decode_of_peak: f64,
}

impl Roofline {
    fn measure(
        model: &Model,
        prompt_tokens: usize,
        pp_tok_s: f64,
        gen: usize,
        tg_tok_s: f64,
    ) -> Self {
        let isa = kernels::Isa::detect();
        let cost = model.weights.matmul_cost();
        let prefill_gops = 2.0 * cost.params as f64 * pp_tok_s / 1e9;
        let mean_position = prompt_tokens + gen / 2;
        let kv = model.weights.kv_bytes_per_position() * mean_position;
        let decode_gbs = (cost.bytes + kv) as f64 * tg_tok_s / 1e9;
        let peak_gops = kernels::peak::int8_gops(isa);
        let peak_gbs = kernels::peak::read_gbs();
        Self {
            isa: format!("{isa:?}"),
            prefill_gops,
            peak_gops,
            prefill_of_peak: prefill_gops / peak_gops,
            decode_gbs,
            peak_gbs,
            decode_of_peak: decode_gbs / peak_gbs,
        }
    }
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
    let pp_tok_s = g.prompt_tokens as f64 / g.prompt_seconds;
    let tg_tok_s = if g.generate_seconds > 0.0 {
        decode_steps as f64 / g.generate_seconds
    } else {
        0.0
    };
    // Read before the calibration, whose buffer would count.
    let peak_rss_mb = peak_rss_mb().unwrap_or(0.0);
    let weights_shared_mb = shared_mb(&model.path).unwrap_or(0.0);
    Ok(BenchReport {
        model: model.name.clone(),
        threads: rayon::current_num_threads(),
        load_s,
        prompt_tokens: g.prompt_tokens,
        gen_tokens: g.generated_tokens(),
        pp_tok_s,
        tg_tok_s,
        peak_rss_mb,
        weights_mapped_mb: model.weights.matmul_cost().mapped_bytes as f64 / MIB,
        weights_shared_mb,
        roofline: Roofline::measure(&model, g.prompt_tokens, pp_tok_s, decode_steps, tg_tok_s),
    })
}

const MIB: f64 = (1 << 20) as f64;

/// Shared (clean or dirty) MiB of this process's mappings of `path`, from
/// /proc/self/smaps; Linux only.
pub fn shared_mb(path: &Path) -> Option<f64> {
    let path = path.canonicalize().ok()?;
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    let mut kb = 0u64;
    let mut inside = false;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or_default();
        if first.contains('-') && !first.ends_with(':') {
            // A mapping's header: address range, perms, offset, dev, inode, path.
            let name = fields.skip(4).collect::<Vec<_>>().join(" ");
            inside = Path::new(&name) == path;
        } else if inside && (first == "Shared_Clean:" || first == "Shared_Dirty:") {
            kb += fields.next()?.parse::<u64>().ok()?;
        }
    }
    Some(kb as f64 / 1024.0)
}

/// The process's peak resident set (VmHWM), in MiB; Linux only.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The CPU as benchmark figures name it: `/proc/cpuinfo`'s model name, family and
/// model (empty fields where it is not Linux).
pub fn cpu() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map_or(String::new(), |(_, v)| v.trim().to_string())
    };
    format!(
        "{} (family {}, model {})",
        field("model name"),
        field("cpu family"),
        field("model\t")
    )
}
