//! `abridge summarize`: one article's grounded summary (and translations), as
//! text or one JSON object.

use abridge::model::Model;
use anyhow::{Context, Result};

use abridge::article::Article;
use abridge::model::scheduler::{Scheduler, SchedulerOptions};
use abridge::pipeline::runner::Runner;
use abridge::pipeline::ArticleResult;
use abridge::{lang, pipeline, render};

use super::args::SummarizeArgs;

pub fn run(args: SummarizeArgs) -> Result<()> {
    let SummarizeArgs {
        input,
        article,
        json,
        model,
    } = args;
    let opts = article.options()?;
    let article = Article::read(&input)?;
    let model = Model::load(&model.model)?;
    let scheduler = Scheduler::start(model.clone(), SchedulerOptions::default())?;
    let runner = Runner::new(&scheduler, opts.window(&model))
        .with_deadline(opts.deadline)
        .with_answer_cap(opts.max_answer_tokens);
    let started = std::time::Instant::now();
    let done = pipeline::process_article(&runner, &article, &opts)
        .with_context(|| format!("cannot summarize {}", article.input))?;
    let tokens = runner.tokens();
    tracing::info!("{} prompt tokens read, {} generated", tokens.0, tokens.1);
    tracing::info!("generation: {}", scheduler.stats);
    let seconds = started.elapsed().as_secs_f64();
    let result = ArticleResult::new(&article, done, opts.style, &model.name, tokens, seconds);
    if json {
        println!("{}", result.to_json());
        return Ok(());
    }
    print!(
        "{}",
        render::plain_summary(&result.summary, &result.support, opts.style)
    );
    for t in &result.done.translations {
        let name = lang::language_name(&t.lang).unwrap_or(&t.lang);
        match &t.outcome {
            Ok(text) => println!("\n{name}:\n{}", render::marked_translation(text, &t.checks)),
            Err(reason) => println!("\n{name}: translation failed: {reason}"),
        }
    }
    for w in &result.warnings {
        tracing::warn!("{w}");
    }
    Ok(())
}
