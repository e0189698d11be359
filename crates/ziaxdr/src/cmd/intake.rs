//! `ziaxdr intake` (not built yet: see the open issues).

/// Subcommands of `ziaxdr intake`.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Placeholder until the subcommands exist.
    List,
}

/// Runs `ziaxdr intake`.
pub fn run(_cmd: Command) -> anyhow::Result<i32> {
    anyhow::bail!("`ziaxdr intake` is not built yet")
}
