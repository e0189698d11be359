//! `ziaxdr simulate` (not built yet: see the open issues).

/// Arguments of `ziaxdr simulate`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `ziaxdr simulate`.
pub fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`ziaxdr simulate` is not built yet")
}
