//! What runs before any command: logging and the thread pool.

use std::io::IsTerminal;

use anyhow::{Context, Result};

pub fn init_logging(verbose: u8, quiet: bool) {
    // An editor at a terminal sees what it is waiting for; logs and pipes stay quiet.
    let default = if std::io::stderr().is_terminal() {
        "info"
    } else {
        "warn"
    };
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => default,
        (false, 1) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ABRIDGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("abridge={level}")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .init();
}

pub fn init_threads(threads: Option<usize>) -> Result<()> {
    let n = threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    anyhow::ensure!(n > 0, "--threads must be at least 1");
    // candle sizes its own matmul parallelism from this variable.
    std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .context("cannot start the thread pool")
}
