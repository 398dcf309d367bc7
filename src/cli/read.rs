//! `abridge read`: what the readers make of each input, one JSON line each, with
//! no model loaded.

use std::io::Write;

use anyhow::Result;

use abridge::article::{self, Inputs};

use super::args::ReadArgs;

pub fn run(args: ReadArgs) -> Result<()> {
    let inputs = Inputs::open(&args.inputs, None)?;
    let mut out = std::io::stdout().lock();
    for read in inputs.articles() {
        writeln!(out, "{}", article::report(&read))?;
    }
    Ok(())
}
