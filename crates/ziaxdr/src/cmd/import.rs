//! `ziaxdr import` (not built yet: see the open issues).

/// Arguments of `ziaxdr import`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `ziaxdr import`.
pub fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`ziaxdr import` is not built yet")
}
