//! `abridge brief DIR`: the desk brief of a finished digest folder.

use std::path::Path;

use anyhow::{Context, Result};

use abridge::model::scheduler::{Scheduler, SchedulerOptions};
use abridge::model::Model;
use abridge::pipeline;
use abridge::pipeline::runner::Runner;

use super::args::{languages, BriefArgs};

pub fn run(args: BriefArgs) -> Result<()> {
    let langs = languages(&args.to)?;
    let model = Model::load(&args.model.model)?;
    write(&model, &args.dir, &langs)
}

/// Writes the brief of `dir`; also run by `digest --brief`.
pub fn write(model: &Model, dir: &Path, langs: &[String]) -> Result<()> {
    let scheduler = Scheduler::start(model.clone(), SchedulerOptions::default())?;
    let window = pipeline::window(model, None);
    let runner = Runner::new(&scheduler, window);
    let written = abridge::brief::brief(&runner, dir, langs)
        .with_context(|| format!("cannot write the brief of {}", dir.display()))?;
    let b = &written.brief;
    eprintln!(
        "abridge: brief of {} articles: stories {}, other articles {}, near-duplicates \
         folded in {}; wrote {} and {}",
        b.articles,
        b.stories.len(),
        b.others.len(),
        b.duplicates,
        written.markdown.display(),
        written.json.display()
    );
    Ok(())
}
