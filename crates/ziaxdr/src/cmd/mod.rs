//! One module per subcommand. Each exposes its clap `Args` (or `Command`) and a `run`
//! returning the process exit code.

/// Fills each named `Option` field of `$a` that is unset from `$b` (flags and environment
/// first, then the `--config` file).
macro_rules! merge {
    ($a:ident, $b:ident, $($f:ident),*) => { $( if $a.$f.is_none() { $a.$f = $b.$f.take(); } )* };
}

pub mod alerts;
pub mod cti;
pub mod demo;
pub mod entity;
pub mod forward;
pub mod import;
pub mod intake;
pub mod nss;
pub mod parse;
pub mod rules;
pub mod search;
pub mod serve;
pub mod simulate;
pub mod zia;

/// Reads and parses a `--config` TOML file into `T`, naming the file in any error.
pub(crate) fn read_toml<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
) -> anyhow::Result<T> {
    use anyhow::Context;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("bad config {}", path.display()))
}
