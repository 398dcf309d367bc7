//! `abridge serve`: the flags checked and handed to the library's server, which
//! blocks this thread until it stops.

use std::io::Write;

use anyhow::Result;

use super::args::{deadline, ServeArgs};
use super::shared::scheduler;

pub fn run(args: ServeArgs) -> Result<()> {
    let ServeArgs {
        host,
        port,
        api_key_file,
        body_limit,
        client_timeout,
        queue,
        batch,
        kv_budget,
        max_article_tokens,
        max_completion_tokens,
        deadline: deadline_s,
        context,
        no_verify,
        digest,
        model,
    } = args;
    anyhow::ensure!(batch > 0, "--batch must be at least 1");
    anyhow::ensure!(queue > 0, "--queue must be at least 1");
    anyhow::ensure!(kv_budget > 0, "--kv-budget must be at least 1 (MB)");
    anyhow::ensure!(body_limit > 0, "--body-limit must be at least 1 (byte)");
    anyhow::ensure!(
        client_timeout > 0,
        "--client-timeout must be at least 1 (second)"
    );
    let api_key = api_key_file
        .as_deref()
        .map(abridge::serve::read_api_key)
        .transpose()?;
    let opts = abridge::serve::ServeOptions {
        host,
        port,
        model: model.model,
        api_key,
        body_limit,
        client_timeout: std::time::Duration::from_secs(client_timeout),
        queue,
        scheduler: scheduler(batch, kv_budget),
        max_article_tokens,
        max_completion_tokens,
        deadline: deadline(deadline_s),
        window: context,
        verify: !no_verify,
        digest,
    };
    // One line on stdout a supervisor (or a test) can wait for, with the real port.
    abridge::serve::run(opts, |addr| {
        println!("abridge: listening on http://{addr}");
        let _ = std::io::stdout().flush();
    })?;
    Ok(())
}
