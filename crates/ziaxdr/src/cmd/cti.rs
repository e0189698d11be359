//! `ziaxdr cti` (not built yet: see the open issues).

/// Subcommands of `ziaxdr cti`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Placeholder until the subcommands exist.
    List,
}

/// Runs `ziaxdr cti`.
pub fn run(_cmd: Command) -> anyhow::Result<i32> {
    anyhow::bail!("`ziaxdr cti` is not built yet")
}
