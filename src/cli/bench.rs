//! `abridge bench`: load time, prefill and decode speed, peak memory and the
//! roofline, as text or JSON.

use anyhow::Result;

use abridge::bench;
use abridge::prompts::Prompt;

use super::args::BenchArgs;
use super::shared::read_prompt_file;

pub fn run(args: BenchArgs) -> Result<()> {
    let BenchArgs {
        prompt_file,
        raw,
        gen_tokens,
        json,
        write_prompt_ids,
        model,
    } = args;
    let text = read_prompt_file(&prompt_file)?;
    let report = bench::run(&model.model, gen_tokens, |m| {
        let ids = if raw {
            m.raw_prompt(&text)?
        } else {
            m.prompt_tokens(&Prompt::summary(&text, 3, m.is_chat()))?
        };
        if let Some(path) = &write_prompt_ids {
            let json = serde_json::to_string(&ids).expect("ids serialize");
            std::fs::write(path, json).map_err(|e| abridge::Error::io(path, e))?;
        }
        Ok(ids)
    })?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let r = &report.roofline;
        println!(
            "model {}\nthreads {}\nload {:.2} s\nprompt {} tokens\nprefill {:.1} tok/s\ndecode {:.1} tok/s ({} tokens)\npeak RSS {:.0} MiB ({:.0} MiB of weights mapped, {:.0} MiB shared)\nroofline ({}): prefill {:.0} of {:.0} Gop/s ({:.0}%), decode {:.1} of {:.1} GB/s ({:.0}%)",
            report.model,
            report.threads,
            report.load_s,
            report.prompt_tokens,
            report.pp_tok_s,
            report.tg_tok_s,
            report.gen_tokens,
            report.peak_rss_mb,
            report.weights_mapped_mb,
            report.weights_shared_mb,
            r.isa,
            r.prefill_gops,
            r.peak_gops,
            100.0 * r.prefill_of_peak,
            r.decode_gbs,
            r.peak_gbs,
            100.0 * r.decode_of_peak,
        );
    }
    Ok(())
}
