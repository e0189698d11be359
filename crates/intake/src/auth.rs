//! A cache of the registry's intakes for per-event authentication, refreshed when the
//! registry changes (including changes made by the CLI in another process, or, with the
//! registry in PostgreSQL, by another node: every node polls the shared version counter).
//! When the registry cannot be read, the cached intakes keep authenticating, and
//! [`Authenticator::unreachable`] says why for `/readyz`.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::registry::{find_by_key, Intake, Registry, Status};

/// How often the cache asks the registry whether anything changed: a key created, rotated or
/// deleted elsewhere takes effect here within this delay (plus one request).
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
    // The last failure to read the registry, cleared by the next success.
    unreachable: RwLock<Option<String>>,
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
            unreachable: RwLock::new(None),
        })
    }

    /// Why the registry could not be read at the last check, if it could not (the cached
    /// intakes are used meanwhile).
    pub fn unreachable(&self) -> Option<String> {
        self.unreachable.read().ok().and_then(|u| u.clone())
    }

    /// Checks the registry now if the cache is older than the refresh interval (for
    /// `/readyz`, which must notice an outage even when no event arrives).
    pub fn refresh_if_stale(&self) {
        let stale = self
            .cache
            .read()
            .map(|c| c.checked.elapsed() > REFRESH_EVERY)
            .unwrap_or(false);
        if stale {
            self.reload(false);
        }
    }

    fn note(&self, err: Option<String>) {
        if let Ok(mut u) = self.unreachable.write() {
            *u = err;
        }
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
                if self.unreachable().is_none() {
                    tracing::warn!(error = %e, "registry check failed; keeping cached intakes");
                }
                self.note(Some(e.to_string()));
                // Checked, though it failed: a registry that is down is asked again after the
                // refresh interval, not on every request.
                if let Ok(mut c) = self.cache.write() {
                    c.checked = Instant::now();
                }
                return;
            }
        };
        let Ok(mut c) = self.cache.write() else {
            return;
        };
        c.checked = Instant::now();
        if !force && version == c.version {
            drop(c);
            self.note(None);
            return;
        }
        match self.registry.list_intakes() {
            Ok(list) => {
                c.intakes = list;
                c.version = version;
                drop(c);
                if self.unreachable().is_some() {
                    tracing::info!("registry reachable again");
                }
                self.note(None);
            }
            Err(e) => {
                drop(c);
                tracing::warn!(error = %e, "registry reload failed; keeping cached intakes");
                self.note(Some(e.to_string()));
            }
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
