//! `ziaxdr search` (not built yet: see the open issues).

/// Arguments of `ziaxdr search`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `ziaxdr search`.
pub fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`ziaxdr search` is not built yet")
}
