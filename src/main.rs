//! The `abridge` command line: parses arguments, sets up logging and threads,
//! and runs the command's module in `cli/`. Results go to stdout, everything
//! else to stderr.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use cli::args::{Cli, Command};

/// Each layer allocates and frees megabytes of activations; with glibc's malloc,
/// whether they come back as fresh (faulting) pages depends on the sizes of other
/// allocations (the KV cache), and prefill speed varied by 20% with them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_e` (mimalloc.h).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Exit 0 on success; 1 when the command failed (the digest: some articles
/// failed) or panicked; 2 when it could not start (bad `--threads`, a digest
/// refused before its first article); 128 + the signal for an interrupted digest.
fn main() -> ExitCode {
    // Freed pages are returned to the OS after 10 ms by default, shorter than a
    // layer's prefill: the next layer's buffers then fault in again (5% of prefill).
    // SAFETY: set before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 1000) };
    let cli = Cli::parse();
    cli::setup::init_logging(cli.verbose, cli.quiet);
    if let Err(e) = cli::setup::init_threads(cli.threads) {
        return fail(e, ExitCode::from(2));
    }
    // A panic is a bug, reported once as an internal error naming the input (the
    // digest also catches it per article and goes on); its details at -vv.
    std::panic::set_hook(Box::new(|info| tracing::debug!("{info}")));
    let subject = cli.command.subject();
    let quiet = cli.quiet;
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cli.command, quiet)));
    outcome.unwrap_or_else(|panic| {
        eprintln!(
            "abridge: error: internal error while working on {subject}: {}; please report it \
             with that input",
            abridge::error::panic_message(&*panic)
        );
        ExitCode::FAILURE
    })
}

fn run(command: Command, quiet: bool) -> ExitCode {
    match command {
        Command::Digest(args) => {
            cli::digest::run(args, quiet).unwrap_or_else(|e| fail(e, ExitCode::from(2)))
        }
        // Not on a worker of the pool: the server blocks its thread until it stops.
        Command::Serve(args) => done(cli::serve::run(args)),
        Command::Summarize(args) => on_pool(|| cli::summarize::run(args)),
        Command::Translate(args) => on_pool(|| cli::translate::run(args)),
        Command::Generate(args) => on_pool(|| cli::generate::run(args)),
        Command::Brief(args) => on_pool(|| cli::brief::run(args)),
        Command::Merge(args) => on_pool(|| cli::merge::run(args)),
        Command::Read(args) => on_pool(|| cli::read::run(args)),
        Command::Models => on_pool(cli::models::run),
        Command::Bench(args) => on_pool(|| cli::bench::run(args)),
    }
}

/// Runs the command on a worker of the pool: each matmul's parallel split is then
/// picked up by the other (spinning) workers instead of waking the pool from outside.
fn on_pool(command: impl FnOnce() -> anyhow::Result<()> + Send) -> ExitCode {
    done(rayon::scope(|_| command()))
}

fn done(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e, ExitCode::FAILURE),
    }
}

/// The error's one line on stderr, with its causes.
fn fail(e: anyhow::Error, code: ExitCode) -> ExitCode {
    eprintln!("abridge: error: {e:#}");
    code
}
