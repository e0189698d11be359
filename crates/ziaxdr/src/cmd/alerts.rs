//! `ziaxdr alerts` (not built yet: see the open issues).

/// Subcommands of `ziaxdr alerts`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Placeholder until the subcommands exist.
    List,
}

/// Runs `ziaxdr alerts`.
pub fn run(_cmd: Command) -> anyhow::Result<i32> {
    anyhow::bail!("`ziaxdr alerts` is not built yet")
}
