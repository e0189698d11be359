//! `ziaxdr intake`: create, list, rotate, enable/disable and delete intakes. Works on the
//! registry directly, so it can be used while `ziaxdr serve` runs (the server picks changes
//! up within a second).

use std::path::PathBuf;

use intake::registry::{Intake, Registry, RegistryError, Status, DEFAULT_ENTITY_NAME};

/// Options shared by every `intake` and `entity` subcommand.
#[derive(clap::Args, Debug, Clone)]
pub struct Common {
    /// Data directory of the server.
    #[arg(long, env = "ZIAXDR_DATA", default_value = "ziaxdr-data")]
    pub data: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// The cluster's PostgreSQL, when the registry is there.
    #[command(flatten)]
    pub postgres: crate::wiring::PostgresArgs,
}

/// Subcommands of `ziaxdr intake`.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Create an intake and print its key (shown only this once).
    Create {
        /// Display name.
        #[arg(long, default_value = intake::registry::DEFAULT_INTAKE_NAME)]
        name: String,
        /// Format of the events.
        #[arg(long, default_value = intake::registry::FORMAT_ZIA)]
        format: String,
        /// Entity (uuid or name) [default: the first entity, created if none exists].
        #[arg(long)]
        entity: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// List intakes (keys are never shown).
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Replace an intake's key; the old key stops working.
    Rotate {
        /// Intake uuid.
        uuid: String,
        #[command(flatten)]
        common: Common,
    },
    /// Stop accepting events for an intake (senders get 403).
    Disable {
        /// Intake uuid.
        uuid: String,
        #[command(flatten)]
        common: Common,
    },
    /// Accept events for a disabled intake again.
    Enable {
        /// Intake uuid.
        uuid: String,
        #[command(flatten)]
        common: Common,
    },
    /// Delete an intake; its key stops working.
    Delete {
        /// Intake uuid.
        uuid: String,
        #[command(flatten)]
        common: Common,
    },
}

/// Parses a uuid argument with a readable error.
fn parse_uuid(s: &str) -> anyhow::Result<intake::uuid::Uuid> {
    intake::uuid::Uuid::parse_str(s.trim())
        .map_err(|_| anyhow::anyhow!("{s:?} is not an intake uuid"))
}

fn print_intake_text(i: &Intake) {
    println!(
        "{}  {:<8}  {:<12}  entity {}  created {}  {}",
        i.uuid,
        match i.status {
            Status::Enabled => "enabled",
            Status::Disabled => "disabled",
        },
        i.format,
        i.entity_uuid,
        i.created_at,
        i.name
    );
}

/// The registry these options choose (PostgreSQL's with `--postgres`, else the data
/// directory's).
pub(crate) fn open(c: &Common) -> anyhow::Result<Registry> {
    c.postgres.open()?.registry(&c.data)
}

/// Maps "not found" to exit code 2 with a message, other errors to failures.
fn not_found(e: RegistryError) -> anyhow::Result<i32> {
    match e {
        RegistryError::NotFound(m) => {
            eprintln!("error: {m} not found");
            Ok(2)
        }
        other => Err(other.into()),
    }
}

/// Runs `ziaxdr intake`.
pub fn run(cmd: Command) -> anyhow::Result<i32> {
    match cmd {
        Command::Create {
            name,
            format,
            entity,
            common,
        } => {
            let reg = open(&common)?;
            let entity = match entity {
                Some(e) => match reg.find_entity(&e) {
                    Ok(x) => x,
                    Err(e) => return not_found(e),
                },
                None => match reg.list_entities()?.into_iter().next() {
                    Some(e) => e,
                    // Race-free: a server starting for the first time creates it too.
                    None => reg.ensure_entity(DEFAULT_ENTITY_NAME)?,
                },
            };
            let n = reg.create_intake(&name, &format, entity.uuid)?;
            if common.json {
                println!("{}", serde_json::to_string(&n)?);
            } else {
                println!(
                    "created intake {} \"{}\" in entity {}",
                    n.intake.uuid, n.intake.name, entity.name
                );
                println!("intake key: {}", n.intake_key);
                println!(
                    "(the key is shown only now; `ziaxdr intake rotate {}` makes a new one)",
                    n.intake.uuid
                );
            }
            Ok(0)
        }
        Command::List { common } => {
            let list = open(&common)?.list_intakes()?;
            if common.json {
                println!("{}", serde_json::to_string(&list)?);
            } else if list.is_empty() {
                println!("no intakes (create one with `ziaxdr intake create`)");
            } else {
                list.iter().for_each(print_intake_text);
            }
            Ok(0)
        }
        Command::Rotate { uuid, common } => {
            let reg = open(&common)?;
            match reg.rotate_key(parse_uuid(&uuid)?) {
                Ok(n) if common.json => println!("{}", serde_json::to_string(&n)?),
                Ok(n) => println!("new intake key for {}: {}", n.intake.uuid, n.intake_key),
                Err(e) => return not_found(e),
            }
            Ok(0)
        }
        Command::Disable { uuid, common } => set_status(&uuid, &common, Status::Disabled),
        Command::Enable { uuid, common } => set_status(&uuid, &common, Status::Enabled),
        Command::Delete { uuid, common } => {
            let reg = open(&common)?;
            match reg.delete_intake(parse_uuid(&uuid)?) {
                Ok(()) if common.json => println!("{}", serde_json::json!({"deleted": uuid})),
                Ok(()) => println!("deleted intake {uuid}"),
                Err(e) => return not_found(e),
            }
            Ok(0)
        }
    }
}

fn set_status(uuid: &str, common: &Common, status: Status) -> anyhow::Result<i32> {
    let reg = open(common)?;
    match reg.set_status(parse_uuid(uuid)?, status) {
        Ok(i) if common.json => println!("{}", serde_json::to_string(&i)?),
        Ok(i) => print_intake_text(&i),
        Err(e) => return not_found(e),
    }
    Ok(0)
}
