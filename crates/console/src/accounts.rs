//! Who may sign in and with what rights: local users with argon2id-hashed passwords and roles,
//! browser sessions, and API tokens, kept in the SQLite file `DATA/console.db`.
//!
//! Only hashes of secrets are stored: argon2id PHC strings for passwords, SHA-256 for session
//! tokens and API token secrets (those are 32 random bytes, so a fast hash is enough).

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::{Rng, RngCore};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How long a browser session lasts unless [`Accounts::with_session_ttl`] says otherwise.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Failed sign-ins for one name, within [`LOCKOUT_WINDOW`], after which sign-in is refused.
pub const LOCKOUT_ATTEMPTS: i64 = 5;
/// The window over which failed sign-ins are counted, and how long a lockout lasts.
pub const LOCKOUT_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Sign-in attempts one source address may make per minute; beyond it 429.
pub const SIGN_INS_PER_ADDRESS_PER_MINUTE: u32 = 20;
/// Sign-ins verified at once, from all addresses (each argon2 check takes 19 MiB); beyond
/// it 429.
pub const MAX_CONCURRENT_SIGN_INS: usize = 4;
/// The shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;
/// The longest password accepted (argon2 takes any length; this bounds the work per request).
pub const MAX_PASSWORD_LEN: usize = 1024;
/// The prefix of every API token secret, so that a bearer token says what it is.
pub const TOKEN_PREFIX: &str = "zxt_";

/// Verified against when the user does not exist, so that timing does not tell which names
/// exist. Same parameters as `Argon2::default()` (a test checks), for the same cost.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$emlheGRyLWR1bW15LXNsdA$LiyLcJmFmMqhA44j7ZyGXX0kvy+VyhJhYggQCSF8U70";

/// How often at most a token's `last_used_at` is written (a token may call many times a second).
const LAST_USED_EVERY: i64 = 60;

/// What went wrong in an account operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is not acceptable; the message is fit to show to the user.
    #[error("{0}")]
    Invalid(String),
    /// The caller may not do this to this object (someone else's saved search).
    #[error("{0}")]
    Forbidden(String),
    /// The named user or token does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// Too many failed sign-ins for this name; retry once the window has passed.
    #[error("too many failed sign-ins; try again later")]
    LockedOut,
    /// Too many sign-ins from this address, or at once; retry after the duration.
    #[error("too many sign-ins; try again in {} s", .0.as_secs())]
    Throttled(Duration),
    /// The accounts database failed.
    #[error("accounts database: {0}")]
    Db(#[from] rusqlite::Error),
    /// Password hashing failed (or a stored hash is unreadable).
    #[error("password hashing: {0}")]
    Hash(argon2::password_hash::Error),
}

/// What a user or token may do; each role includes the rights of the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Everything, including users, tokens and intakes.
    Admin,
    /// Read, plus triage: alerts, rules and CTI.
    Analyst,
    /// Read only.
    ReadOnly,
}

impl Role {
    /// True when this role includes the rights of `needed`.
    pub fn allows(self, needed: Role) -> bool {
        self.rank() >= needed.rank()
    }

    fn rank(self) -> u8 {
        match self {
            Role::Admin => 2,
            Role::Analyst => 1,
            Role::ReadOnly => 0,
        }
    }

    /// The role's name as stored and serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::ReadOnly => "read-only",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;

    fn from_str(s: &str) -> Result<Role, Error> {
        match s {
            "admin" => Ok(Role::Admin),
            "analyst" => Ok(Role::Analyst),
            "read-only" => Ok(Role::ReadOnly),
            other => Err(Error::Invalid(format!(
                "unknown role {other:?}: use admin, analyst or read-only"
            ))),
        }
    }
}

/// A console user, without secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// The sign-in name.
    pub name: String,
    /// What the user may do.
    pub role: Role,
    /// When the user was created (RFC 3339, UTC).
    pub created_at: String,
    /// A disabled user cannot sign in and has no session; the account and its history stay.
    #[serde(default)]
    pub disabled: bool,
}

/// At most this many saved searches per user.
pub const MAX_SAVED_SEARCHES: i64 = 200;
/// The longest saved query, in bytes.
pub const MAX_SAVED_QUERY_LEN: usize = 4096;

/// A search saved by a user, for themselves or shared with every user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSearch {
    /// Its id (UUID).
    pub id: String,
    /// Who saved it.
    pub owner: String,
    /// Its name, as shown.
    pub name: String,
    /// The query, in the Events query language.
    pub query: String,
    /// The time range: a preset such as `24h`, or empty for the whole default range.
    pub since: String,
    /// The columns shown, comma separated (empty: the default ones).
    pub columns: String,
    /// Every user sees it (else only its owner).
    pub shared: bool,
    /// When it was saved (RFC 3339, UTC).
    pub created_at: String,
}

/// A session just created: the cookie value and CSRF token, returned once.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The cookie value (32 random bytes, base64url).
    pub token: String,
    /// The token state-changing requests must echo in `X-CSRF-Token`.
    pub csrf: String,
    /// When the session ends (unix seconds).
    pub expires_at: i64,
}

/// A live session, as found from its cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The signed-in user's name.
    pub user: String,
    /// The user's current role.
    pub role: Role,
    /// The session's CSRF token.
    pub csrf: String,
    /// When the session ends (unix seconds).
    pub expires_at: i64,
}

/// An API token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// The token's id (UUID), used to revoke it.
    pub id: String,
    /// What the token is for, as its creator named it.
    pub name: String,
    /// What the token may do.
    pub role: Role,
    /// Who created it.
    pub created_by: String,
    /// When it was created (RFC 3339, UTC).
    pub created_at: String,
    /// When it was last used (RFC 3339, UTC; updated at most once a minute).
    pub last_used_at: Option<String>,
    /// The user it acts for: refused while that user is disabled or deleted, and never more
    /// than that user's current role. `None` for a token made with the server's admin token.
    pub owner: Option<String>,
    /// Whether it works now (its owner, if any, exists and is enabled).
    pub usable: bool,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash BLOB PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_id);
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions(expires_at);
CREATE TABLE IF NOT EXISTS login_failures (
    name TEXT NOT NULL COLLATE NOCASE,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_name ON login_failures(name, at);
CREATE TABLE IF NOT EXISTS api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    secret_hash BLOB NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    last_used_unix INTEGER,
    owner TEXT COLLATE NOCASE
);
CREATE TABLE IF NOT EXISTS saved_searches (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL COLLATE NOCASE,
    name TEXT NOT NULL,
    query TEXT NOT NULL,
    since TEXT NOT NULL,
    columns TEXT NOT NULL,
    shared INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS saved_searches_owner ON saved_searches(owner);
";

/// The console's accounts, sessions and API tokens; share it in an `Arc`.
pub struct Accounts {
    conn: Mutex<Connection>,
    session_ttl: Duration,
    /// Added to the system clock; only tests move it.
    clock_skew: AtomicI64,
    throttle: Mutex<Throttle>,
}

/// Sign-ins per source address in the current minute, and sign-ins being verified.
#[derive(Default)]
struct Throttle {
    per_address: std::collections::HashMap<String, (i64, u32)>,
    running: usize,
}

/// A sign-in allowed by [`Accounts::throttle_sign_in`]; leaves the running count when
/// dropped.
pub struct SignInPermit<'a>(&'a Accounts);

impl Drop for SignInPermit<'_> {
    fn drop(&mut self) {
        let mut t = self.0.throttle.lock().unwrap_or_else(|e| e.into_inner());
        t.running = t.running.saturating_sub(1);
    }
}

impl fmt::Debug for Accounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accounts")
            .field("session_ttl", &self.session_ttl)
            .finish_non_exhaustive()
    }
}

impl Accounts {
    /// Opens (creating if needed) `data_dir/console.db`.
    pub fn open(data_dir: &Path) -> Result<Accounts, Error> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| Error::Invalid(format!("cannot create {}: {e}", data_dir.display())))?;
        let conn = Connection::open(data_dir.join("console.db"))?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        // Failures are counted per name and source address (databases from before have no
        // address column; the error for one that has it is ignored).
        let _ = conn.execute(
            "ALTER TABLE login_failures ADD COLUMN addr TEXT NOT NULL DEFAULT ''",
            [],
        );
        // Users can be disabled (databases from before have no such column).
        let has_disabled: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info('users') WHERE name = 'disabled')",
            [],
            |r| r.get(0),
        )?;
        if !has_disabled {
            conn.execute_batch(
                "ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;",
            )?;
        }
        // A token acts for the user who made it (databases from before have no owner column:
        // the creator is the owner, except for tokens made with the server's admin token).
        let has_owner: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info('api_tokens') WHERE name = 'owner')",
            [],
            |r| r.get(0),
        )?;
        if !has_owner {
            conn.execute_batch("ALTER TABLE api_tokens ADD COLUMN owner TEXT COLLATE NOCASE;")?;
            conn.execute(
                "UPDATE api_tokens SET owner = created_by WHERE created_by != ?1",
                params![crate::auth::ADMIN_TOKEN_PRINCIPAL],
            )?;
        }
        Ok(Accounts {
            conn: Mutex::new(conn),
            session_ttl: SESSION_TTL,
            clock_skew: AtomicI64::new(0),
            throttle: Mutex::new(Throttle::default()),
        })
    }

    /// The same accounts with sessions lasting `ttl` (12 hours by default).
    pub fn with_session_ttl(mut self, ttl: Duration) -> Accounts {
        self.session_ttl = ttl;
        self
    }

    /// How long new sessions last.
    pub fn session_ttl(&self) -> Duration {
        self.session_ttl
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll
        // back on drop), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now(&self) -> i64 {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        secs + self.clock_skew.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    fn advance_clock(&self, secs: i64) {
        self.clock_skew.fetch_add(secs, Ordering::Relaxed);
    }

    fn now_rfc3339(&self) -> String {
        rfc3339(self.now())
    }

    /// When there are no users yet, creates `admin` (role admin) with a random password and
    /// returns that password, once; otherwise `None`.
    pub fn ensure_admin(&self) -> Result<Option<String>, Error> {
        if self.user_count()? > 0 {
            return Ok(None);
        }
        let password: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(20)
            .map(char::from)
            .collect();
        let hash = hash_password(&password)?;
        let c = self.conn();
        // Insert only if still empty: two processes starting at once create one admin.
        let n = c.execute(
            "INSERT INTO users (name, role, password_hash, created_at)
             SELECT 'admin', 'admin', ?1, ?2 WHERE NOT EXISTS (SELECT 1 FROM users)",
            params![hash, self.now_rfc3339()],
        )?;
        Ok((n == 1).then_some(password))
    }

    fn user_count(&self) -> Result<i64, Error> {
        Ok(self
            .conn()
            .query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?)
    }

    /// Creates a user.
    pub fn create_user(&self, name: &str, role: Role, password: &str) -> Result<User, Error> {
        check_name(name)?;
        check_password(password)?;
        let hash = hash_password(password)?;
        let created_at = self.now_rfc3339();
        let c = self.conn();
        let exists: bool = c.query_row(
            "SELECT EXISTS (SELECT 1 FROM users WHERE name = ?1)",
            params![name],
            |r| r.get(0),
        )?;
        if exists {
            return Err(Error::Invalid(format!("user {name} already exists")));
        }
        c.execute(
            "INSERT INTO users (name, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![name, role.as_str(), hash, created_at],
        )?;
        Ok(User {
            name: name.to_string(),
            role,
            created_at,
            disabled: false,
        })
    }

    /// One user, by name (names compare case-insensitively).
    pub fn user(&self, name: &str) -> Result<Option<User>, Error> {
        self.conn()
            .query_row(
                "SELECT name, role, created_at, disabled FROM users WHERE name = ?1",
                params![name],
                user_row,
            )
            .optional()?
            .transpose()
    }

    /// Every user, by name.
    pub fn list_users(&self) -> Result<Vec<User>, Error> {
        let c = self.conn();
        let mut st =
            c.prepare("SELECT name, role, created_at, disabled FROM users ORDER BY name")?;
        let rows = st.query_map([], user_row)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r??);
        }
        Ok(out)
    }

    /// Deletes a user, their sessions and the API tokens acting for them (a later user of
    /// the same name inherits none); refuses to delete the last admin.
    pub fn delete_user(&self, name: &str) -> Result<(), Error> {
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let role = role_of(&tx, name)?;
        if role == Role::Admin && admin_count(&tx)? <= 1 {
            return Err(Error::Invalid(
                "cannot delete the last admin: make another user admin first".into(),
            ));
        }
        tx.execute(
            "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?1)",
            params![name],
        )?;
        tx.execute("DELETE FROM api_tokens WHERE owner = ?1", params![name])?;
        tx.execute("DELETE FROM users WHERE name = ?1", params![name])?;
        tx.commit()?;
        Ok(())
    }

    /// Changes a user's role (effective at once, sessions included); refuses to demote the
    /// last admin.
    pub fn set_role(&self, name: &str, role: Role) -> Result<User, Error> {
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = role_of(&tx, name)?;
        if current == Role::Admin && role != Role::Admin && admin_count(&tx)? <= 1 {
            return Err(Error::Invalid(
                "cannot demote the last admin: make another user admin first".into(),
            ));
        }
        tx.execute(
            "UPDATE users SET role = ?1 WHERE name = ?2",
            params![role.as_str(), name],
        )?;
        let user = tx
            .query_row(
                "SELECT name, role, created_at, disabled FROM users WHERE name = ?1",
                params![name],
                user_row,
            )
            .optional()?
            .transpose()?
            .ok_or_else(|| Error::NotFound(format!("user {name}")))?;
        tx.commit()?;
        Ok(user)
    }

    /// Sets a user's password and ends all their sessions (a reset must lock out whoever
    /// held the old one).
    pub fn set_password(&self, name: &str, password: &str) -> Result<(), Error> {
        self.set_password_keeping(name, password, None)
    }

    /// Sets a user's password and ends all their sessions except `keep` (the session token
    /// of the user changing their own password, who stays signed in).
    pub fn set_password_keeping(
        &self,
        name: &str,
        password: &str,
        keep: Option<&str>,
    ) -> Result<(), Error> {
        check_password(password)?;
        let hash = hash_password(password)?;
        let keep_hash = keep.map(|t| sha256(t).to_vec()).unwrap_or_default();
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "UPDATE users SET password_hash = ?1 WHERE name = ?2",
            params![hash, name],
        )?;
        if n == 0 {
            return Err(Error::NotFound(format!("user {name}")));
        }
        tx.execute(
            "DELETE FROM sessions
             WHERE user_id = (SELECT id FROM users WHERE name = ?1) AND token_hash != ?2",
            params![name, keep_hash],
        )?;
        tx.execute("DELETE FROM login_failures WHERE name = ?1", params![name])?;
        tx.commit()?;
        Ok(())
    }

    /// Checks a user's password: `Some(user)` when right, `None` when the user is unknown or
    /// the password wrong (the two take the same time), [`Error::LockedOut`] after
    /// [`LOCKOUT_ATTEMPTS`] failures within [`LOCKOUT_WINDOW`].
    pub fn verify_password(&self, name: &str, password: &str) -> Result<Option<User>, Error> {
        self.verify_password_from(name, password, "")
    }

    /// Whether a sign-in from `addr` may be tried now: `Err` with the time to wait when that
    /// address made [`SIGN_INS_PER_ADDRESS_PER_MINUTE`] attempts this minute or
    /// [`MAX_CONCURRENT_SIGN_INS`] are being verified.
    pub fn throttle_sign_in(&self, addr: &str) -> Result<SignInPermit<'_>, Duration> {
        let now = self.now();
        let minute = now.div_euclid(60);
        let mut t = self.throttle.lock().unwrap_or_else(|e| e.into_inner());
        if t.per_address.len() > 100_000 {
            // Old minutes only: bounded memory under many addresses.
            t.per_address.retain(|_, (m, _)| *m == minute);
        }
        let (m, n) = t.per_address.entry(addr.to_string()).or_insert((minute, 0));
        if *m != minute {
            *m = minute;
            *n = 0;
        }
        if *n >= SIGN_INS_PER_ADDRESS_PER_MINUTE {
            return Err(Duration::from_secs((60 - now.rem_euclid(60)).max(1) as u64));
        }
        *n += 1;
        if t.running >= MAX_CONCURRENT_SIGN_INS {
            return Err(Duration::from_secs(1));
        }
        t.running += 1;
        Ok(SignInPermit(self))
    }

    /// [`Accounts::verify_password`] for a sign-in from `addr`: failures lock out only that
    /// name from that address, so that nobody can keep a user (the admin) out by failing
    /// on purpose from elsewhere; each failure is logged (name and address, never the
    /// password).
    pub fn verify_password_from(
        &self,
        name: &str,
        password: &str,
        addr: &str,
    ) -> Result<Option<User>, Error> {
        let r = self.verify_password_impl(name, password, addr);
        match &r {
            Ok(None) => tracing::warn!(user = %name, addr, "failed sign-in"),
            Err(Error::LockedOut) => {
                tracing::warn!(user = %name, addr, "sign-in refused: locked out")
            }
            _ => {}
        }
        r
    }

    fn verify_password_impl(
        &self,
        name: &str,
        password: &str,
        addr: &str,
    ) -> Result<Option<User>, Error> {
        if check_name(name).is_err() {
            // No such user can exist; not recorded, so junk names cannot fill the table.
            let _ = verify_hash(DUMMY_HASH, password);
            return Ok(None);
        }
        let now = self.now();
        let since = now - LOCKOUT_WINDOW.as_secs() as i64;
        let found = {
            let c = self.conn();
            c.execute("DELETE FROM login_failures WHERE at <= ?1", params![since])?;
            let failures: i64 = c.query_row(
                "SELECT COUNT(*) FROM login_failures WHERE name = ?1 AND addr = ?3 AND at > ?2",
                params![name, since, addr],
                |r| r.get(0),
            )?;
            if failures >= LOCKOUT_ATTEMPTS {
                return Err(Error::LockedOut);
            }
            // Counted as a failure before verifying, so that parallel guesses cannot all slip
            // in before the first one is recorded; a success clears it.
            c.execute(
                "INSERT INTO login_failures (name, at, addr) VALUES (?1, ?2, ?3)",
                params![name, now, addr],
            )?;
            c.query_row(
                "SELECT name, role, created_at, disabled, password_hash FROM users WHERE name = ?1",
                params![name],
                |r| Ok((user_row(r)?, r.get::<_, String>(4)?)),
            )
            .optional()?
        };
        let Some((user, hash)) = found else {
            // Same work as for a real user, result ignored.
            let _ = verify_hash(DUMMY_HASH, password);
            return Ok(None);
        };
        let user = user?;
        if !verify_hash(&hash, password)? || user.disabled {
            // A disabled user is refused like a wrong password, after the same work.
            return Ok(None);
        }
        self.conn().execute(
            "DELETE FROM login_failures WHERE name = ?1 AND addr = ?2",
            params![name, addr],
        )?;
        Ok(Some(user))
    }

    /// Starts a session for `user`; only the token's SHA-256 is stored.
    pub fn create_session(&self, user: &User) -> Result<NewSession, Error> {
        let token = random_b64(32);
        let csrf = random_b64(32);
        let now = self.now();
        let expires_at = now + self.session_ttl.as_secs() as i64;
        let c = self.conn();
        c.execute("DELETE FROM sessions WHERE expires_at <= ?1", params![now])?;
        let n = c.execute(
            "INSERT INTO sessions (token_hash, user_id, csrf, expires_at)
             SELECT ?1, id, ?2, ?3 FROM users WHERE name = ?4 AND disabled = 0",
            params![sha256(&token).to_vec(), csrf, expires_at, user.name],
        )?;
        if n == 0 {
            return Err(Error::NotFound(format!("user {}", user.name)));
        }
        Ok(NewSession {
            token,
            csrf,
            expires_at,
        })
    }

    /// The live session for a cookie value, with the user's current role; an expired one is
    /// deleted and `None`.
    pub fn session(&self, token: &str) -> Result<Option<Session>, Error> {
        let hash = sha256(token).to_vec();
        let c = self.conn();
        let row = c
            .query_row(
                "SELECT u.name, u.role, s.csrf, s.expires_at
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = ?1 AND u.disabled = 0",
                params![hash],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                },
            )
            .optional()?;
        let Some((user, role, csrf, expires_at)) = row else {
            return Ok(None);
        };
        if expires_at <= self.now() {
            c.execute("DELETE FROM sessions WHERE token_hash = ?1", params![hash])?;
            return Ok(None);
        }
        Ok(Some(Session {
            user,
            role: role.parse()?,
            csrf,
            expires_at,
        }))
    }

    /// Ends a session (nothing happens if it does not exist).
    pub fn end_session(&self, token: &str) -> Result<(), Error> {
        self.conn().execute(
            "DELETE FROM sessions WHERE token_hash = ?1",
            params![sha256(token).to_vec()],
        )?;
        Ok(())
    }

    /// Disables a user (ending their sessions at once) or enables them again; refuses to
    /// disable the last admin who can sign in.
    pub fn set_disabled(&self, name: &str, disabled: bool) -> Result<User, Error> {
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let role = role_of(&tx, name)?;
        if disabled && role == Role::Admin && admin_count(&tx)? <= 1 {
            return Err(Error::Invalid(
                "cannot disable the last admin: make another user admin first".into(),
            ));
        }
        tx.execute(
            "UPDATE users SET disabled = ?1 WHERE name = ?2",
            params![disabled, name],
        )?;
        if disabled {
            tx.execute(
                "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?1)",
                params![name],
            )?;
        }
        let user = tx
            .query_row(
                "SELECT name, role, created_at, disabled FROM users WHERE name = ?1",
                params![name],
                user_row,
            )
            .optional()?
            .transpose()?
            .ok_or_else(|| Error::NotFound(format!("user {name}")))?;
        tx.commit()?;
        Ok(user)
    }

    /// Saves a search for `owner` (shared: every user sees it). At most
    /// [`MAX_SAVED_SEARCHES`] per user; the query at most [`MAX_SAVED_QUERY_LEN`] bytes.
    pub fn save_search(
        &self,
        owner: &str,
        name: &str,
        query: &str,
        since: &str,
        columns: &str,
        shared: bool,
    ) -> Result<SavedSearch, Error> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(Error::Invalid(
                "a saved search's name is 1 to 100 characters, without control characters".into(),
            ));
        }
        if query.len() > MAX_SAVED_QUERY_LEN || columns.len() > MAX_SAVED_QUERY_LEN {
            return Err(Error::Invalid(format!(
                "a saved query or its columns are at most {MAX_SAVED_QUERY_LEN} bytes"
            )));
        }
        if since.len() > 16 || !since.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::Invalid(
                "a saved search's range is a preset such as 24h".into(),
            ));
        }
        let s = SavedSearch {
            id: uuid::Uuid::new_v4().to_string(),
            owner: owner.to_string(),
            name: name.to_string(),
            query: query.to_string(),
            since: since.to_string(),
            columns: columns.to_string(),
            shared,
            created_at: self.now_rfc3339(),
        };
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n: i64 = tx.query_row(
            "SELECT COUNT(*) FROM saved_searches WHERE owner = ?1",
            params![owner],
            |r| r.get(0),
        )?;
        if n >= MAX_SAVED_SEARCHES {
            return Err(Error::Invalid(format!(
                "at most {MAX_SAVED_SEARCHES} saved searches per user: delete some first"
            )));
        }
        tx.execute(
            "INSERT INTO saved_searches (id, owner, name, query, since, columns, shared, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![s.id, s.owner, s.name, s.query, s.since, s.columns, s.shared, s.created_at],
        )?;
        tx.commit()?;
        Ok(s)
    }

    /// The searches `viewer` sees: their own and the shared ones, by name.
    pub fn saved_searches(&self, viewer: &str) -> Result<Vec<SavedSearch>, Error> {
        let c = self.conn();
        let mut st = c.prepare(
            "SELECT id, owner, name, query, since, columns, shared, created_at
             FROM saved_searches WHERE owner = ?1 OR shared = 1 ORDER BY name, created_at",
        )?;
        let rows = st.query_map(params![viewer], |r| {
            Ok(SavedSearch {
                id: r.get(0)?,
                owner: r.get(1)?,
                name: r.get(2)?,
                query: r.get(3)?,
                since: r.get(4)?,
                columns: r.get(5)?,
                shared: r.get(6)?,
                created_at: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes a saved search; only its owner may, or an admin (`as_admin`).
    pub fn delete_search(&self, id: &str, by: &str, as_admin: bool) -> Result<(), Error> {
        let c = self.conn();
        let owner: Option<String> = c
            .query_row(
                "SELECT owner FROM saved_searches WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(owner) = owner else {
            return Err(Error::NotFound(format!("saved search {id}")));
        };
        if !as_admin && !owner.eq_ignore_ascii_case(by) {
            return Err(Error::Forbidden(format!(
                "only {owner} or an admin can delete this saved search"
            )));
        }
        c.execute("DELETE FROM saved_searches WHERE id = ?1", params![id])?;
        Ok(())
    }

    /// The names of the users who can sign in, for assigning alerts.
    pub fn active_user_names(&self) -> Result<Vec<String>, Error> {
        let c = self.conn();
        let mut st = c.prepare("SELECT name FROM users WHERE disabled = 0 ORDER BY name")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Creates an API token acting for `owner` (a user; `None` only for the server's admin
    /// token); returns it and its secret (`zxt_…`), which is shown only now.
    pub fn create_token(
        &self,
        name: &str,
        role: Role,
        created_by: &str,
        owner: Option<&str>,
    ) -> Result<(TokenInfo, String), Error> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(Error::Invalid(
                "a token name is 1 to 64 characters, without control characters".into(),
            ));
        }
        let secret = format!("{TOKEN_PREFIX}{}", random_b64(32));
        let info = TokenInfo {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_string(),
            role,
            created_by: created_by.to_string(),
            created_at: self.now_rfc3339(),
            last_used_at: None,
            owner: owner.map(str::to_string),
            usable: true,
        };
        let c = self.conn();
        if let Some(owner) = owner {
            let enabled: Option<bool> = c
                .query_row(
                    "SELECT disabled = 0 FROM users WHERE name = ?1",
                    params![owner],
                    |r| r.get(0),
                )
                .optional()?;
            if enabled != Some(true) {
                return Err(Error::Invalid(format!(
                    "a token cannot act for {owner}: no such user who can sign in"
                )));
            }
        }
        c.execute(
            "INSERT INTO api_tokens (id, name, role, secret_hash, created_by, created_at, owner)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                info.id,
                info.name,
                role.as_str(),
                sha256(&secret).to_vec(),
                info.created_by,
                info.created_at,
                info.owner
            ],
        )?;
        Ok((info, secret))
    }

    /// Every API token, oldest first.
    pub fn list_tokens(&self) -> Result<Vec<TokenInfo>, Error> {
        let c = self.conn();
        let mut st = c.prepare(
            "SELECT t.id, t.name, t.role, t.created_by, t.created_at, t.last_used_at, t.owner,
                    t.owner IS NULL OR COALESCE(u.disabled = 0, 0)
             FROM api_tokens t LEFT JOIN users u ON u.name = t.owner
             ORDER BY t.created_at, t.id",
        )?;
        let rows = st.query_map([], token_row)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r??);
        }
        Ok(out)
    }

    /// Revokes an API token.
    pub fn revoke_token(&self, id: &str) -> Result<(), Error> {
        let n = self
            .conn()
            .execute("DELETE FROM api_tokens WHERE id = ?1", params![id])?;
        if n == 0 {
            return Err(Error::NotFound(format!("token {id}")));
        }
        Ok(())
    }

    /// The API token whose secret this is, if it works: not while its owner is disabled or
    /// deleted, and with the lesser of its role and its owner's current one. Records its use
    /// (at most once a minute).
    pub fn token(&self, secret: &str) -> Result<Option<TokenInfo>, Error> {
        if !secret.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let hash = sha256(secret);
        let c = self.conn();
        let row = c
            .query_row(
                "SELECT t.id, t.name, t.role, t.created_by, t.created_at, t.last_used_at, t.owner,
                        t.owner IS NULL OR COALESCE(u.disabled = 0, 0),
                        t.secret_hash, t.last_used_unix, u.role
                 FROM api_tokens t LEFT JOIN users u ON u.name = t.owner
                 WHERE t.secret_hash = ?1",
                params![hash.to_vec()],
                |r| {
                    Ok((
                        token_row(r)?,
                        r.get::<_, Vec<u8>>(8)?,
                        r.get::<_, Option<i64>>(9)?,
                        r.get::<_, Option<String>>(10)?,
                    ))
                },
            )
            .optional()?;
        let Some((info, stored, last_used, owner_role)) = row else {
            return Ok(None);
        };
        if !bool::from(stored.as_slice().ct_eq(hash.as_slice())) {
            return Ok(None);
        }
        let mut info = info?;
        // Disabling or deleting a user stops their tokens at once, and a demotion caps them.
        if !info.usable {
            return Ok(None);
        }
        if let Some(owner_role) = owner_role {
            let owner_role: Role = owner_role.parse()?;
            if !owner_role.allows(info.role) {
                info.role = owner_role;
            }
        }
        let now = self.now();
        if last_used.is_none_or(|t| now - t >= LAST_USED_EVERY) {
            let at = rfc3339(now);
            c.execute(
                "UPDATE api_tokens SET last_used_at = ?1, last_used_unix = ?2 WHERE id = ?3",
                params![at, now, info.id],
            )?;
            info.last_used_at = Some(at);
        }
        Ok(Some(info))
    }
}

fn role_of(c: &Connection, name: &str) -> Result<Role, Error> {
    c.query_row(
        "SELECT role FROM users WHERE name = ?1",
        params![name],
        |r| r.get::<_, String>(0),
    )
    .optional()?
    .ok_or_else(|| Error::NotFound(format!("user {name}")))?
    .parse()
}

/// Admins who can sign in (a disabled admin cannot rescue anyone).
fn admin_count(c: &Connection) -> Result<i64, Error> {
    Ok(c.query_row(
        "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0",
        [],
        |r| r.get(0),
    )?)
}

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<User, Error>> {
    let (name, role, created_at, disabled): (String, String, String, bool) =
        (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
    Ok(role.parse().map(|role| User {
        name,
        role,
        created_at,
        disabled,
    }))
}

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<TokenInfo, Error>> {
    let role: String = r.get(2)?;
    let (id, name, created_by, created_at, last_used_at, owner, usable) = (
        r.get(0)?,
        r.get(1)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
    );
    Ok(role.parse().map(|role| TokenInfo {
        id,
        name,
        role,
        created_by,
        created_at,
        last_used_at,
        owner,
        usable,
    }))
}

fn check_name(name: &str) -> Result<(), Error> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(
            "a user name is 1 to 64 characters among letters, digits, '.', '_', '@' and '-'".into(),
        ))
    }
}

fn check_password(password: &str) -> Result<(), Error> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(Error::Invalid(format!(
            "a password has at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    if n > MAX_PASSWORD_LEN {
        return Err(Error::Invalid(format!(
            "a password has at most {MAX_PASSWORD_LEN} characters"
        )));
    }
    Ok(())
}

fn hash_password(password: &str) -> Result<String, Error> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(Error::Hash)?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(Error::Hash)?
        .to_string())
}

fn verify_hash(hash: &str, password: &str) -> Result<bool, Error> {
    let parsed = PasswordHash::new(hash).map_err(Error::Hash)?;
    match Argon2::default().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(Error::Hash(e)),
    }
}

fn sha256(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

fn random_b64(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accounts() -> (tempfile::TempDir, Accounts) {
        let dir = tempfile::tempdir().unwrap();
        let a = Accounts::open(dir.path()).unwrap();
        (dir, a)
    }

    const PW: &str = "correct horse battery";

    #[test]
    fn a_disabled_user_cannot_sign_in_and_loses_their_sessions() {
        let (_d, a) = accounts();
        let bob = a.create_user("bob", Role::Analyst, PW).unwrap();
        let s = a.create_session(&bob).unwrap();
        assert!(a.set_disabled("bob", true).unwrap().disabled);
        assert_eq!(a.session(&s.token).unwrap(), None);
        assert_eq!(a.verify_password("bob", PW).unwrap(), None);
        assert!(a.create_session(&bob).is_err());
        assert!(!a.set_disabled("bob", false).unwrap().disabled);
        assert!(a.verify_password("bob", PW).unwrap().is_some());
    }

    #[test]
    fn the_last_admin_who_can_sign_in_cannot_be_disabled() {
        let (_d, a) = accounts();
        a.create_user("root", Role::Admin, PW).unwrap();
        a.create_user("second", Role::Admin, PW).unwrap();
        a.set_disabled("second", true).unwrap();
        assert!(matches!(
            a.set_disabled("root", true),
            Err(Error::Invalid(_))
        ));
        // Nor demoted: the disabled admin does not count.
        assert!(matches!(
            a.set_role("root", Role::Analyst),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn a_user_sees_their_own_saved_searches_and_the_shared_ones() {
        let (_d, a) = accounts();
        a.save_search("bob", "mine", "user.name:x", "24h", "", false)
            .unwrap();
        a.save_search("carol", "hers", "q", "1h", "", false)
            .unwrap();
        a.save_search("carol", "for all", "q2", "7d", "", true)
            .unwrap();
        let names = |who| -> Vec<String> {
            a.saved_searches(who)
                .unwrap()
                .into_iter()
                .map(|s| s.name)
                .collect()
        };
        assert_eq!(names("bob"), ["for all", "mine"]);
        assert_eq!(names("carol"), ["for all", "hers"]);
    }

    #[test]
    fn only_its_owner_or_an_admin_deletes_a_saved_search() {
        let (_d, a) = accounts();
        let s = a
            .save_search("carol", "shared", "q", "24h", "", true)
            .unwrap();
        assert!(matches!(
            a.delete_search(&s.id, "bob", false),
            Err(Error::Forbidden(_))
        ));
        a.delete_search(&s.id, "CAROL", false).unwrap();
        let t = a
            .save_search("carol", "again", "q", "24h", "", true)
            .unwrap();
        a.delete_search(&t.id, "admin", true).unwrap();
        assert!(a.saved_searches("carol").unwrap().is_empty());
    }

    #[test]
    fn saved_searches_are_bounded_per_user() {
        let (_d, a) = accounts();
        for i in 0..MAX_SAVED_SEARCHES {
            a.save_search("bob", &format!("s{i}"), "q", "24h", "", false)
                .unwrap();
        }
        assert!(matches!(
            a.save_search("bob", "one more", "q", "24h", "", false),
            Err(Error::Invalid(_))
        ));
        assert!(a
            .save_search(
                "bob",
                "x",
                &"a".repeat(MAX_SAVED_QUERY_LEN + 1),
                "",
                "",
                false
            )
            .is_err());
        assert!(a
            .save_search("bob", "x", "q", "24h; DROP", "", false)
            .is_err());
    }

    #[test]
    fn a_database_from_before_gets_the_disabled_column() {
        let dir = tempfile::tempdir().unwrap();
        {
            let c = Connection::open(dir.path().join("console.db")).unwrap();
            c.execute_batch(
                "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE,
                 role TEXT NOT NULL, password_hash TEXT NOT NULL, created_at TEXT NOT NULL);",
            )
            .unwrap();
        }
        let a = Accounts::open(dir.path()).unwrap();
        a.create_user("bob", Role::Analyst, PW).unwrap();
        assert!(!a.user("bob").unwrap().unwrap().disabled);
        drop(a);
        Accounts::open(dir.path()).unwrap();
    }

    #[test]
    fn a_disabled_users_tokens_are_refused_until_they_are_enabled_again() {
        let (_d, a) = accounts();
        a.create_user("root", Role::Admin, PW).unwrap();
        a.create_user("bob", Role::Admin, PW).unwrap();
        let (_, secret) = a
            .create_token("siem", Role::Analyst, "bob", Some("bob"))
            .unwrap();
        assert!(a.token(&secret).unwrap().is_some());
        a.set_disabled("bob", true).unwrap();
        assert_eq!(a.token(&secret).unwrap(), None);
        assert!(!a.list_tokens().unwrap()[0].usable);
        a.set_disabled("bob", false).unwrap();
        assert!(a.token(&secret).unwrap().is_some());
    }

    #[test]
    fn a_deleted_users_tokens_are_refused() {
        let (_d, a) = accounts();
        a.create_user("root", Role::Admin, PW).unwrap();
        a.create_user("bob", Role::Admin, PW).unwrap();
        let (_, secret) = a
            .create_token("siem", Role::ReadOnly, "bob", Some("bob"))
            .unwrap();
        a.delete_user("bob").unwrap();
        assert_eq!(a.token(&secret).unwrap(), None);
        // Gone with the user, so that a new user of that name inherits none of them.
        assert!(a.list_tokens().unwrap().is_empty());
        a.create_user("bob", Role::Admin, PW).unwrap();
        assert_eq!(a.token(&secret).unwrap(), None);
    }

    #[test]
    fn a_token_never_has_more_than_its_owners_current_role() {
        let (_d, a) = accounts();
        a.create_user("root", Role::Admin, PW).unwrap();
        a.create_user("bob", Role::Admin, PW).unwrap();
        let (_, secret) = a
            .create_token("siem", Role::Admin, "bob", Some("bob"))
            .unwrap();
        a.set_role("bob", Role::ReadOnly).unwrap();
        assert_eq!(a.token(&secret).unwrap().unwrap().role, Role::ReadOnly);
        a.set_role("bob", Role::Admin).unwrap();
        assert_eq!(a.token(&secret).unwrap().unwrap().role, Role::Admin);
    }

    #[test]
    fn a_token_cannot_be_made_for_a_disabled_or_unknown_user() {
        let (_d, a) = accounts();
        a.create_user("root", Role::Admin, PW).unwrap();
        a.create_user("bob", Role::Analyst, PW).unwrap();
        a.set_disabled("bob", true).unwrap();
        for owner in ["bob", "nobody"] {
            assert!(matches!(
                a.create_token("siem", Role::ReadOnly, "root", Some(owner)),
                Err(Error::Invalid(_))
            ));
        }
    }

    #[test]
    fn a_database_from_before_gives_each_token_its_creator_as_owner() {
        let dir = tempfile::tempdir().unwrap();
        let (by_user, by_admin_token) = {
            let a = Accounts::open(dir.path()).unwrap();
            a.create_user("root", Role::Admin, PW).unwrap();
            a.create_user("bob", Role::Admin, PW).unwrap();
            let by_user = a.create_token("u", Role::Analyst, "bob", None).unwrap().1;
            let by_admin_token = a
                .create_token("t", Role::Analyst, crate::auth::ADMIN_TOKEN_PRINCIPAL, None)
                .unwrap()
                .1;
            drop(a);
            // Back to the schema of before: no owner column.
            let c = Connection::open(dir.path().join("console.db")).unwrap();
            c.execute_batch("ALTER TABLE api_tokens DROP COLUMN owner;")
                .unwrap();
            (by_user, by_admin_token)
        };
        let a = Accounts::open(dir.path()).unwrap();
        assert_eq!(
            a.token(&by_user).unwrap().unwrap().owner.as_deref(),
            Some("bob")
        );
        assert_eq!(a.token(&by_admin_token).unwrap().unwrap().owner, None);
        a.set_disabled("bob", true).unwrap();
        assert_eq!(a.token(&by_user).unwrap(), None);
        assert!(a.token(&by_admin_token).unwrap().is_some());
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_hash_costs() {
        let dummy = PasswordHash::new(DUMMY_HASH).unwrap();
        let real_hash = hash_password(PW).unwrap();
        let real = PasswordHash::new(&real_hash).unwrap();
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.params, real.params);
        assert_eq!(dummy.version, real.version);
        assert!(!verify_hash(DUMMY_HASH, PW).unwrap());
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in [Role::Admin, Role::Analyst, Role::ReadOnly] {
            assert_eq!(role.to_string().parse::<Role>().unwrap(), role);
            let json = serde_json::to_value(role).unwrap();
            assert_eq!(json, serde_json::Value::String(role.to_string()));
        }
        assert_eq!(Role::ReadOnly.to_string(), "read-only");
    }

    #[test]
    fn each_role_includes_the_ones_below_it() {
        assert!(Role::Admin.allows(Role::Analyst));
        assert!(Role::Analyst.allows(Role::ReadOnly));
        assert!(!Role::Analyst.allows(Role::Admin));
        assert!(!Role::ReadOnly.allows(Role::Analyst));
    }

    #[test]
    fn ensure_admin_creates_an_admin_whose_password_verifies() {
        let (_d, a) = accounts();
        let pw = a.ensure_admin().unwrap().expect("a first admin");
        assert_eq!(pw.len(), 20);
        let user = a.verify_password("admin", &pw).unwrap().expect("signs in");
        assert_eq!(user.role, Role::Admin);
    }

    #[test]
    fn names_outside_the_allowed_characters_are_refused() {
        let (_d, a) = accounts();
        for bad in ["", "a b", "ünïcode", &"x".repeat(65), "a/b"] {
            assert!(
                matches!(
                    a.create_user(bad, Role::Analyst, PW),
                    Err(Error::Invalid(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn short_passwords_are_refused() {
        let (_d, a) = accounts();
        assert!(matches!(
            a.create_user("ann", Role::Analyst, "elevenchars"),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn names_are_unique_regardless_of_case() {
        let (_d, a) = accounts();
        a.create_user("Ann", Role::Analyst, PW).unwrap();
        assert!(matches!(
            a.create_user("ann", Role::Analyst, PW),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn passwords_are_stored_as_argon2id_hashes() {
        let (dir, a) = accounts();
        a.create_user("ann", Role::Analyst, PW).unwrap();
        drop(a);
        let c = Connection::open(dir.path().join("console.db")).unwrap();
        let h: String = c
            .query_row("SELECT password_hash FROM users", [], |r| r.get(0))
            .unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains(PW));
    }

    #[test]
    fn failures_from_one_address_do_not_lock_the_user_out_from_another() {
        let (_d, a) = accounts();
        a.create_user("ann", Role::Admin, PW).unwrap();
        for _ in 0..LOCKOUT_ATTEMPTS {
            let r = a.verify_password_from("ann", "wrong password!", "203.0.113.9");
            assert!(r.unwrap().is_none());
        }
        assert!(matches!(
            a.verify_password_from("ann", PW, "203.0.113.9"),
            Err(Error::LockedOut)
        ));
        let ok = a.verify_password_from("ann", PW, "198.51.100.1").unwrap();
        assert_eq!(ok.unwrap().name, "ann");
    }

    #[test]
    fn sign_ins_are_throttled_per_address_and_other_addresses_still_sign_in() {
        let (_d, a) = accounts();
        for _ in 0..SIGN_INS_PER_ADDRESS_PER_MINUTE {
            assert!(a.throttle_sign_in("203.0.113.9").is_ok());
        }
        let wait = a.throttle_sign_in("203.0.113.9").err().unwrap();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(60));
        assert!(a.throttle_sign_in("198.51.100.1").is_ok());
        a.advance_clock(60);
        assert!(a.throttle_sign_in("203.0.113.9").is_ok());
    }

    #[test]
    fn at_most_a_few_sign_ins_are_verified_at_once() {
        let (_d, a) = accounts();
        let held: Vec<_> = (0..MAX_CONCURRENT_SIGN_INS)
            .map(|i| a.throttle_sign_in(&format!("10.0.0.{i}")).unwrap())
            .collect();
        assert!(a.throttle_sign_in("10.0.1.1").is_err());
        drop(held);
        assert!(a.throttle_sign_in("10.0.1.1").is_ok());
    }

    #[test]
    fn a_lockout_ends_when_the_window_has_passed() {
        let (_d, a) = accounts();
        a.create_user("ann", Role::Analyst, PW).unwrap();
        for _ in 0..LOCKOUT_ATTEMPTS {
            assert!(a
                .verify_password("ann", "wrong password!")
                .unwrap()
                .is_none());
        }
        assert!(matches!(
            a.verify_password("ann", PW),
            Err(Error::LockedOut)
        ));
        a.advance_clock(LOCKOUT_WINDOW.as_secs() as i64 + 1);
        assert!(a.verify_password("ann", PW).unwrap().is_some());
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let (_d, a) = accounts();
        a.create_user("ann", Role::Analyst, PW).unwrap();
        for _ in 0..LOCKOUT_ATTEMPTS - 1 {
            a.verify_password("ann", "wrong password!").unwrap();
        }
        assert!(a.verify_password("ann", PW).unwrap().is_some());
        for _ in 0..LOCKOUT_ATTEMPTS - 1 {
            a.verify_password("ann", "wrong password!").unwrap();
        }
        assert!(a.verify_password("ann", PW).unwrap().is_some());
    }

    #[test]
    fn only_the_hash_of_a_session_token_is_stored() {
        let (dir, a) = accounts();
        let user = a.create_user("ann", Role::Analyst, PW).unwrap();
        let s = a.create_session(&user).unwrap();
        let c = Connection::open(dir.path().join("console.db")).unwrap();
        let stored: Vec<u8> = c
            .query_row("SELECT token_hash FROM sessions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored, sha256(&s.token).to_vec());
    }

    #[test]
    fn a_session_carries_the_users_current_role() {
        let (_d, a) = accounts();
        a.ensure_admin().unwrap();
        let user = a.create_user("ann", Role::Analyst, PW).unwrap();
        let s = a.create_session(&user).unwrap();
        a.set_role("ann", Role::ReadOnly).unwrap();
        assert_eq!(a.session(&s.token).unwrap().unwrap().role, Role::ReadOnly);
    }

    #[test]
    fn a_session_expires_after_its_ttl() {
        let (_d, a) = accounts();
        let user = a.create_user("ann", Role::Analyst, PW).unwrap();
        let s = a.create_session(&user).unwrap();
        assert!(a.session(&s.token).unwrap().is_some());
        a.advance_clock(SESSION_TTL.as_secs() as i64);
        assert!(a.session(&s.token).unwrap().is_none());
    }

    #[test]
    fn deleting_a_user_ends_their_sessions() {
        let (_d, a) = accounts();
        a.ensure_admin().unwrap();
        let user = a.create_user("ann", Role::Analyst, PW).unwrap();
        let s = a.create_session(&user).unwrap();
        a.delete_user("ann").unwrap();
        assert!(a.session(&s.token).unwrap().is_none());
    }

    #[test]
    fn a_password_reset_ends_other_sessions_but_keeps_the_given_one() {
        let (_d, a) = accounts();
        let user = a.create_user("ann", Role::Analyst, PW).unwrap();
        let mine = a.create_session(&user).unwrap();
        let other = a.create_session(&user).unwrap();
        a.set_password_keeping("ann", "another long password", Some(&mine.token))
            .unwrap();
        assert!(a.session(&mine.token).unwrap().is_some());
        assert!(a.session(&other.token).unwrap().is_none());
    }

    #[test]
    fn the_last_admin_cannot_be_demoted() {
        let (_d, a) = accounts();
        a.ensure_admin().unwrap();
        assert!(matches!(
            a.set_role("admin", Role::Analyst),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn an_admin_can_be_demoted_when_another_remains() {
        let (_d, a) = accounts();
        a.ensure_admin().unwrap();
        a.create_user("bob", Role::Admin, PW).unwrap();
        assert_eq!(
            a.set_role("admin", Role::Analyst).unwrap().role,
            Role::Analyst
        );
    }

    #[test]
    fn token_secrets_have_the_prefix_and_only_their_hash_is_stored() {
        let (dir, a) = accounts();
        let (info, secret) = a
            .create_token("export", Role::ReadOnly, "admin-token", None)
            .unwrap();
        assert!(secret.starts_with(TOKEN_PREFIX));
        assert_eq!(a.token(&secret).unwrap().unwrap().id, info.id);
        let c = Connection::open(dir.path().join("console.db")).unwrap();
        let stored: Vec<u8> = c
            .query_row("SELECT secret_hash FROM api_tokens", [], |r| r.get(0))
            .unwrap();
        assert_eq!(stored, sha256(&secret).to_vec());
    }

    #[test]
    fn token_use_is_recorded_at_most_once_a_minute() {
        let (_d, a) = accounts();
        let (_info, secret) = a
            .create_token("export", Role::ReadOnly, "admin-token", None)
            .unwrap();
        let first = a.token(&secret).unwrap().unwrap().last_used_at;
        assert!(first.is_some());
        a.advance_clock(30);
        assert_eq!(a.token(&secret).unwrap().unwrap().last_used_at, first);
        a.advance_clock(31);
        assert_ne!(a.token(&secret).unwrap().unwrap().last_used_at, first);
    }

    #[test]
    fn a_revoked_token_is_not_found() {
        let (_d, a) = accounts();
        let (info, secret) = a
            .create_token("export", Role::ReadOnly, "admin-token", None)
            .unwrap();
        a.revoke_token(&info.id).unwrap();
        assert!(a.token(&secret).unwrap().is_none());
        assert!(a.list_tokens().unwrap().is_empty());
    }
}
