//! `ziaxdr entity` (not built yet: see the open issues).

/// Subcommands of `ziaxdr entity`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Placeholder until the subcommands exist.
    List,
}

/// Runs `ziaxdr entity`.
pub fn run(_cmd: Command) -> anyhow::Result<i32> {
    anyhow::bail!("`ziaxdr entity` is not built yet")
}
