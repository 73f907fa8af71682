//! `bench`: measures build and reload times of every setup (see issue 7). Owned by the bench work.

use anyhow::{bail, Result};
use clap::Args;

use super::Ctx;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Runs per setup and scenario.
    #[arg(short = 'n', long, default_value_t = 3)]
    pub runs: u32,
    /// One run of a subset, to prove the bench works (CI).
    #[arg(long)]
    pub quick: bool,
}

pub fn run(ctx: &Ctx, args: &BenchArgs) -> Result<()> {
    let _ = (ctx, args);
    bail!("bench is not implemented yet")
}
