//! One module per subcommand. Each exposes its clap `Args` (or `Command`) and a `run`
//! returning the process exit code.

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
