//! `abridge translate`: one article, paragraph by paragraph, into one language,
//! with its numbers and names checked.

use abridge::model::Model;
use anyhow::{Context, Result};

use abridge::article::Article;
use abridge::model::scheduler::{Scheduler, SchedulerOptions};
use abridge::pipeline::runner::Runner;
use abridge::{lang, pipeline, render};

use super::args::TranslateArgs;

pub fn run(args: TranslateArgs) -> Result<()> {
    let TranslateArgs {
        input,
        to,
        context,
        json,
        model,
    } = args;
    let code = lang::language_code(&to).with_context(|| {
        format!("unknown language `{to}`: give an ISO 639-1 code or English name (fr, German, ...)")
    })?;
    let article = Article::read(&input)?;
    let model = Model::load(&model.model)?;
    let window = pipeline::window(&model, context);
    let scheduler = Scheduler::start(model.clone(), SchedulerOptions::default())?;
    let runner = Runner::new(&scheduler, window);
    let t = pipeline::translate::translate(&runner, &article.text, code);
    if json {
        let value = serde_json::json!({
            "input": article.input,
            "lang": t.lang,
            "translation": t.outcome.as_ref().ok(),
            "error": t.outcome.as_ref().err(),
            "checks": t.checks,
        });
        println!("{value}");
    }
    match t.outcome {
        Ok(text) => {
            if !json {
                println!("{}", render::marked_translation(&text, &t.checks));
            }
            if let Some(w) = t.warning {
                tracing::warn!("{w}");
            }
            Ok(())
        }
        Err(reason) => anyhow::bail!(
            "the {} translation of {} was not published: {reason}",
            lang::language_name(code).unwrap_or(code),
            article.input
        ),
    }
}
