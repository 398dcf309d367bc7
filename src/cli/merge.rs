//! `abridge merge DIR`: a sharded digest's shards combined into its index and manifest.

use anyhow::Result;

use abridge::pipeline;

use super::args::MergeArgs;

pub fn run(args: MergeArgs) -> Result<()> {
    let report = pipeline::merge::merge(&args.dir)?;
    eprintln!(
        "abridge: merge of {} shards: {} ok, {} skipped, {} failed; index {}",
        report.shards,
        report.ok,
        report.skipped,
        report.failed,
        report.index.display()
    );
    Ok(())
}
