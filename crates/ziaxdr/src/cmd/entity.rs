//! `ziaxdr entity`: create and list entities (the tenants intakes belong to).

use crate::cmd::intake::Common;

/// Subcommands of `ziaxdr entity`.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Create an entity.
    Create {
        /// Unique name.
        name: String,
        #[command(flatten)]
        common: Common,
    },
    /// List entities.
    List {
        #[command(flatten)]
        common: Common,
    },
}

/// Runs `ziaxdr entity`.
pub fn run(cmd: Command) -> anyhow::Result<i32> {
    match cmd {
        Command::Create { name, common } => {
            let reg = crate::cmd::intake::open(&common)?;
            match reg.create_entity(&name) {
                Ok(e) if common.json => println!("{}", serde_json::to_string(&e)?),
                Ok(e) => println!("created entity {} \"{}\"", e.uuid, e.name),
                Err(intake::registry::RegistryError::Invalid(m)) => {
                    eprintln!("error: {m}");
                    return Ok(2);
                }
                Err(e) => return Err(e.into()),
            }
            Ok(0)
        }
        Command::List { common } => {
            let list = crate::cmd::intake::open(&common)?.list_entities()?;
            if common.json {
                println!("{}", serde_json::to_string(&list)?);
            } else {
                for e in &list {
                    println!("{}  created {}  {}", e.uuid, e.created_at, e.name);
                }
            }
            Ok(0)
        }
    }
}
