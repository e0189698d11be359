//! `ziaxdr rules` (not built yet: see the open issues).

/// Subcommands of `ziaxdr rules`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Placeholder until the subcommands exist.
    List,
}

/// Runs `ziaxdr rules`.
pub fn run(_cmd: Command) -> anyhow::Result<i32> {
    anyhow::bail!("`ziaxdr rules` is not built yet")
}
