//! A cache of the registry's intakes for per-event authentication, refreshed when the
//! registry changes (including changes made by the CLI in another process).

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::registry::{find_by_key, Intake, Registry, Status};

/// How often the cache asks SQLite whether anything changed.
const REFRESH_EVERY: Duration = Duration::from_millis(500);
/// After a miss (unknown key), how soon the cache may check again: a just-created intake
/// works within this delay, while a flood of bad keys cannot hammer the database.
const REFRESH_ON_MISS_AFTER: Duration = Duration::from_millis(50);

/// The result of presenting a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The key belongs to an enabled intake.
    Ok(Intake),
    /// The key belongs to a disabled intake (403).
    Disabled(Intake),
    /// No intake has this key (401).
    Unknown,
}

struct Cache {
    intakes: Vec<Intake>,
    version: i64,
    checked: Instant,
}

/// Authenticates intake keys against a cached copy of the registry.
pub struct Authenticator {
    registry: Arc<Registry>,
    cache: RwLock<Cache>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authenticator")
    }
}

impl Authenticator {
    /// Loads the registry's intakes.
    pub fn new(registry: Arc<Registry>) -> Result<Authenticator, crate::registry::RegistryError> {
        let version = registry.data_version()?;
        let intakes = registry.list_intakes()?;
        Ok(Authenticator {
            registry,
            cache: RwLock::new(Cache {
                intakes,
                version,
                checked: Instant::now(),
            }),
        })
    }

    /// The registry behind the cache.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Reloads now (after a change made through this process's own connection, which
    /// SQLite's `data_version` does not report).
    pub fn invalidate(&self) {
        self.reload(true);
    }

    fn reload(&self, force: bool) {
        let version = match self.registry.data_version() {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "registry check failed; keeping cached intakes");
                return;
            }
        };
        let Ok(mut c) = self.cache.write() else {
            return;
        };
        c.checked = Instant::now();
        if !force && version == c.version {
            return;
        }
        match self.registry.list_intakes() {
            Ok(list) => {
                c.intakes = list;
                c.version = version;
            }
            Err(e) => tracing::warn!(error = %e, "registry reload failed; keeping cached intakes"),
        }
    }

    fn lookup_cached(&self, key: &str) -> (AuthOutcome, Duration) {
        let Ok(c) = self.cache.read() else {
            return (AuthOutcome::Unknown, Duration::MAX);
        };
        let age = c.checked.elapsed();
        let out = match find_by_key(&c.intakes, key) {
            Some(i) if i.status == Status::Enabled => AuthOutcome::Ok(i.clone()),
            Some(i) => AuthOutcome::Disabled(i.clone()),
            None => AuthOutcome::Unknown,
        };
        (out, age)
    }

    /// Authenticates `key`.
    pub fn lookup(&self, key: &str) -> AuthOutcome {
        let (out, age) = self.lookup_cached(key);
        let stale =
            age > REFRESH_EVERY || (out == AuthOutcome::Unknown && age > REFRESH_ON_MISS_AFTER);
        if !stale {
            return out;
        }
        self.reload(false);
        self.lookup_cached(key).0
    }

    /// The cached intake with this uuid.
    pub fn intake(&self, uuid: uuid::Uuid) -> Option<Intake> {
        self.cache
            .read()
            .ok()
            .and_then(|c| c.intakes.iter().find(|i| i.uuid == uuid).cloned())
    }
}
