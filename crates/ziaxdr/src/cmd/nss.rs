//! `ziaxdr nss` (not built yet: see the open issues).

/// Subcommands of `ziaxdr nss`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Placeholder until the subcommands exist.
    List,
}

/// Runs `ziaxdr nss`.
pub fn run(_cmd: Command) -> anyhow::Result<i32> {
    anyhow::bail!("`ziaxdr nss` is not built yet")
}
