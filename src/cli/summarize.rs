//! `abridge summarize`: one article's grounded summary (and translations), as
//! text or one JSON object.

use anyhow::{Context, Result};

use abridge::article::Article;
use abridge::model::scheduler::{Scheduler, SchedulerOptions};
use abridge::pipeline::runner::Runner;
use abridge::{lang, pipeline, render};

use super::args::SummarizeArgs;
use super::shared::load;

pub fn run(args: SummarizeArgs) -> Result<()> {
    let SummarizeArgs {
        input,
        article,
        json,
        model,
    } = args;
    let opts = article.options()?;
    let article = Article::read(&input)?;
    let model = load(&model.model)?;
    let scheduler = Scheduler::start(model.clone(), SchedulerOptions::default())?;
    let runner = Runner::new(&scheduler, opts.window(&model))
        .with_deadline(opts.deadline)
        .with_answer_cap(opts.max_answer_tokens);
    let done = pipeline::process_article(&runner, &article, &opts)
        .with_context(|| format!("cannot summarize {}", article.input))?;
    let mut warnings = article.warnings.clone();
    warnings.extend(done.summary.warnings.iter().map(|w| w.message.clone()));
    let (tokens_in, tokens_out) = runner.tokens();
    tracing::info!("{tokens_in} prompt tokens read, {tokens_out} generated");
    tracing::info!("generation: {}", scheduler.stats);
    if json {
        let mut value = done.to_json(&warnings, (tokens_in, tokens_out));
        value["input"] = article.input.clone().into();
        value["title"] = article.title.clone().into();
        value["model"] = model.name.clone().into();
        println!("{value}");
    } else {
        print!(
            "{}",
            render::plain_summary(&done.summary.text, &done.summary.support, opts.style)
        );
        for t in &done.translations {
            let name = lang::language_name(&t.lang).unwrap_or(&t.lang);
            match &t.outcome {
                Ok(text) => {
                    println!("\n{name}:\n{}", render::marked_translation(text, &t.checks))
                }
                Err(reason) => println!("\n{name}: translation failed: {reason}"),
            }
        }
        for w in &warnings {
            tracing::warn!("{w}");
        }
    }
    Ok(())
}
