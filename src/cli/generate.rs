//! `abridge generate`: a file's text fed to the model as written, its completion
//! printed (streamed to a terminal).

use std::io::{IsTerminal, Write};

use anyhow::Result;

use abridge::model::{GenerateOptions, Model};

use super::args::GenerateArgs;
use super::shared::read_prompt_file;

pub fn run(args: GenerateArgs) -> Result<()> {
    let text = read_prompt_file(&args.prompt_file)?;
    let model = Model::load(&args.model.model)?;
    let prompt = model.raw_prompt(&text)?;
    print_tokens(&model, &prompt, &args.sampling.options())
}

/// Streams the text to a terminal as it comes; otherwise prints it whole.
fn print_tokens(model: &Model, prompt: &[u32], opts: &GenerateOptions) -> Result<()> {
    let stream = std::io::stdout().is_terminal();
    let mut out = std::io::stdout().lock();
    let mut on_text = |piece: &str| {
        if stream {
            let _ = out.write_all(piece.as_bytes());
            let _ = out.flush();
        }
    };
    tracing::info!("reading {} prompt tokens", prompt.len());
    let g = model.generate(prompt, opts, &mut on_text)?;
    let mut out = std::io::stdout().lock();
    if stream {
        writeln!(out)?;
    } else {
        writeln!(out, "{}", g.text.trim())?;
    }
    tracing::info!(
        "{} prompt tokens at {:.1} tok/s, {} generated at {:.1} tok/s ({:?})",
        g.prompt_tokens,
        g.prompt_tokens as f64 / g.prompt_seconds,
        g.generated_tokens(),
        g.generated_tokens() as f64 / g.generate_seconds.max(1e-9),
        g.stop
    );
    Ok(())
}
