//! `ziaxdr serve` (not built yet: see the open issues).

/// Arguments of `ziaxdr serve`.
#[derive(clap::Args)]
pub struct Args {}

/// Runs `ziaxdr serve`.
pub fn run(_args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("`ziaxdr serve` is not built yet")
}
