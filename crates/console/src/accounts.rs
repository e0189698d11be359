//! Who may sign in and with what rights: local users with argon2id-hashed passwords and roles,
//! browser sessions, API tokens, saved searches and the failed sign-ins that lock a name out.
//! [`Accounts`] holds the rules and keeps its rows in an [`AccountStore`]: the SQLite file
//! `DATA/console.db` of one node ([`SqliteAccounts`]), or PostgreSQL shared by every node of a
//! cluster ([`PgAccounts`]), so that any node serves the console and the REST API.
//!
//! Only hashes of secrets are stored: argon2id PHC strings for passwords, SHA-256 for session
//! tokens and API token secrets (those are 32 random bytes, so a fast hash is enough).

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::{Rng, RngCore};
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
    /// PostgreSQL failed or is out of reach.
    #[error("accounts: {0}")]
    Pg(#[from] pgstate::PgError),
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

mod postgres;
mod sqlite;
#[cfg(test)]
mod tests;

pub use postgres::PgAccounts;
pub use sqlite::SqliteAccounts;

/// A change to a user that the last-admin rule guards ([`check_admin_change`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserChange {
    /// Delete the user and their sessions.
    Delete,
    /// Give the user this role.
    Role(Role),
    /// Disable the user (ending their sessions) or enable them again.
    Disabled(bool),
}

/// Whether `change` may be made to a user whose role is `current` while `admins` admins can
/// sign in: the last of them may be neither deleted, demoted nor disabled, or nobody could
/// manage users any more. Stores call it inside the transaction that makes the change.
pub fn check_admin_change(current: Role, admins: i64, change: UserChange) -> Result<(), Error> {
    if current != Role::Admin || admins > 1 {
        return Ok(());
    }
    let verb = match change {
        UserChange::Delete => "delete",
        UserChange::Role(r) if r != Role::Admin => "demote",
        UserChange::Disabled(true) => "disable",
        _ => return Ok(()),
    };
    Err(Error::Invalid(format!(
        "cannot {verb} the last admin: make another user admin first"
    )))
}

/// Where the accounts' rows live: the seam between the embedded state ([`SqliteAccounts`],
/// `DATA/console.db`) and the cluster's ([`PgAccounts`], PostgreSQL shared by every node, so
/// that a session made on one node is valid on all). Implementations store and fetch, with
/// names compared case-insensitively; [`Accounts`] holds the rules (validation, hashing,
/// lockout, expiry, throttling). Secrets arrive hashed.
pub trait AccountStore: Send + Sync {
    /// `sqlite` or `postgres`, for logs.
    fn backend(&self) -> &'static str;
    /// How many users exist.
    fn user_count(&self) -> Result<i64, Error>;
    /// Creates the user `admin` (role admin) only while there is no user at all; true when
    /// this call created it (two nodes starting at once create one).
    fn insert_first_admin(&self, password_hash: &str, created_at: &str) -> Result<bool, Error>;
    /// Stores a new user; [`Error::Invalid`] when the name is taken.
    fn insert_user(&self, user: &User, password_hash: &str) -> Result<(), Error>;
    /// One user.
    fn user(&self, name: &str) -> Result<Option<User>, Error>;
    /// One user with their password hash (for verifying a sign-in).
    fn user_with_hash(&self, name: &str) -> Result<Option<(User, String)>, Error>;
    /// Every user, by name (case-insensitively).
    fn list_users(&self) -> Result<Vec<User>, Error>;
    /// The names of the users who are not disabled, by name.
    fn active_user_names(&self) -> Result<Vec<String>, Error>;
    /// Applies `change` in one transaction, after [`check_admin_change`] with the admins who
    /// can sign in; deleting or disabling ends the user's sessions, and deleting removes the
    /// API tokens acting for them (a later user of the same name inherits none). Returns the user as it is
    /// after the change (before it, for a deletion).
    fn change_user(&self, name: &str, change: UserChange) -> Result<User, Error>;
    /// Replaces a user's password hash, ends their sessions but `keep` (a session token's
    /// hash) and forgets their failed sign-ins, in one transaction.
    fn set_password_hash(
        &self,
        name: &str,
        password_hash: &str,
        keep: Option<&[u8; 32]>,
    ) -> Result<(), Error>;
    /// Forgets failed sign-ins at or before `before` (unix seconds).
    fn prune_failures(&self, before: i64) -> Result<(), Error>;
    /// Failed sign-ins for `name` from `addr` after `since`.
    fn count_failures(&self, name: &str, addr: &str, since: i64) -> Result<i64, Error>;
    /// Records a failed sign-in.
    fn add_failure(&self, name: &str, addr: &str, at: i64) -> Result<(), Error>;
    /// Forgets the failed sign-ins for `name` from `addr`.
    fn clear_failures(&self, name: &str, addr: &str) -> Result<(), Error>;
    /// Stores a session for `user` unless the user is missing or disabled (false then);
    /// sessions expired by `now` are deleted on the way.
    fn insert_session(
        &self,
        token_hash: &[u8; 32],
        user: &str,
        csrf: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, Error>;
    /// The session with this token hash, if its user is not disabled, expired or not.
    fn session(&self, token_hash: &[u8; 32]) -> Result<Option<Session>, Error>;
    /// Deletes a session.
    fn delete_session(&self, token_hash: &[u8; 32]) -> Result<(), Error>;
    /// Stores a saved search unless its owner already has `max_per_owner` (false then), in
    /// one transaction.
    fn insert_search(&self, s: &SavedSearch, max_per_owner: i64) -> Result<bool, Error>;
    /// The searches `viewer` owns and the shared ones, by name then age.
    fn saved_searches(&self, viewer: &str) -> Result<Vec<SavedSearch>, Error>;
    /// The owner of a saved search.
    fn search_owner(&self, id: &str) -> Result<Option<String>, Error>;
    /// Deletes a saved search.
    fn delete_search(&self, id: &str) -> Result<(), Error>;
    /// Stores a new API token.
    fn insert_token(&self, info: &TokenInfo, secret_hash: &[u8; 32]) -> Result<(), Error>;
    /// Every API token, oldest first, each `usable` when it has no owner or its owner exists
    /// and is enabled.
    fn list_tokens(&self) -> Result<Vec<TokenInfo>, Error>;
    /// Deletes a token; false when there was none.
    fn delete_token(&self, id: &str) -> Result<bool, Error>;
    /// The token with this secret hash (`usable` as in [`AccountStore::list_tokens`]).
    fn token_by_hash(&self, secret_hash: &[u8; 32]) -> Result<Option<StoredToken>, Error>;
    /// Records a token's use.
    fn touch_token(&self, id: &str, at: &str, unix: i64) -> Result<(), Error>;
}

/// An API token as stored: its description, the stored hash of its secret, and when it was
/// last used (unix seconds).
#[derive(Debug, Clone)]
pub struct StoredToken {
    /// The token, without its secret.
    pub info: TokenInfo,
    /// SHA-256 of the secret, as stored.
    pub secret_hash: Vec<u8>,
    /// When it was last used, if ever.
    pub last_used_unix: Option<i64>,
    /// Its owner's current role, when it has an owner who exists.
    pub owner_role: Option<Role>,
}

/// The console's accounts, sessions and API tokens over an [`AccountStore`]; share it in an
/// `Arc`. The sign-in throttle ([`Accounts::throttle_sign_in`]) is in memory, per node; the
/// lockout after failed sign-ins is in the store, so shared by a cluster.
pub struct Accounts {
    store: Box<dyn AccountStore>,
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
            .field("backend", &self.store.backend())
            .field("session_ttl", &self.session_ttl)
            .finish_non_exhaustive()
    }
}

impl Accounts {
    /// Opens (creating if needed) the SQLite accounts `data_dir/console.db`.
    pub fn open(data_dir: &Path) -> Result<Accounts, Error> {
        Ok(Accounts::with_store(Box::new(SqliteAccounts::open(
            data_dir,
        )?)))
    }

    /// The accounts in PostgreSQL (schema created or migrated first), shared by every node.
    pub fn postgres(pg: &pgstate::Pg) -> Result<Accounts, Error> {
        Ok(Accounts::with_store(Box::new(PgAccounts::open(pg)?)))
    }

    /// The accounts over any store.
    pub fn with_store(store: Box<dyn AccountStore>) -> Accounts {
        Accounts {
            store,
            session_ttl: SESSION_TTL,
            clock_skew: AtomicI64::new(0),
            throttle: Mutex::new(Throttle::default()),
        }
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.store.backend()
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
        if self.store.user_count()? > 0 {
            return Ok(None);
        }
        let password: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(20)
            .map(char::from)
            .collect();
        let hash = hash_password(&password)?;
        let created = self.store.insert_first_admin(&hash, &self.now_rfc3339())?;
        Ok(created.then_some(password))
    }

    /// Creates a user.
    pub fn create_user(&self, name: &str, role: Role, password: &str) -> Result<User, Error> {
        check_name(name)?;
        check_password(password)?;
        let hash = hash_password(password)?;
        let user = User {
            name: name.to_string(),
            role,
            created_at: self.now_rfc3339(),
            disabled: false,
        };
        self.store.insert_user(&user, &hash)?;
        Ok(user)
    }

    /// One user, by name (names compare case-insensitively).
    pub fn user(&self, name: &str) -> Result<Option<User>, Error> {
        self.store.user(name)
    }

    /// Every user, by name.
    pub fn list_users(&self) -> Result<Vec<User>, Error> {
        self.store.list_users()
    }

    /// Deletes a user, their sessions and the API tokens acting for them (a later user of
    /// the same name inherits none); refuses to delete the last admin.
    pub fn delete_user(&self, name: &str) -> Result<(), Error> {
        self.store.change_user(name, UserChange::Delete).map(|_| ())
    }

    /// Changes a user's role (effective at once, sessions included); refuses to demote the
    /// last admin.
    pub fn set_role(&self, name: &str, role: Role) -> Result<User, Error> {
        self.store.change_user(name, UserChange::Role(role))
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
        let keep_hash = keep.map(sha256);
        self.store
            .set_password_hash(name, &hash, keep_hash.as_ref())
    }

    /// Checks a user's password: `Some(user)` when right, `None` when the user is unknown or
    /// the password wrong (the two take the same time), [`Error::LockedOut`] after
    /// [`LOCKOUT_ATTEMPTS`] failures within [`LOCKOUT_WINDOW`].
    pub fn verify_password(&self, name: &str, password: &str) -> Result<Option<User>, Error> {
        self.verify_password_from(name, password, "")
    }

    /// Whether a sign-in from `addr` may be tried now: `Err` with the time to wait when that
    /// address made [`SIGN_INS_PER_ADDRESS_PER_MINUTE`] attempts this minute or
    /// [`MAX_CONCURRENT_SIGN_INS`] are being verified (on this node).
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
        self.store.prune_failures(since)?;
        if self.store.count_failures(name, addr, since)? >= LOCKOUT_ATTEMPTS {
            return Err(Error::LockedOut);
        }
        // Counted as a failure before verifying, so that parallel guesses cannot all slip
        // in before the first one is recorded; a success clears it.
        self.store.add_failure(name, addr, now)?;
        let Some((user, hash)) = self.store.user_with_hash(name)? else {
            // Same work as for a real user, result ignored.
            let _ = verify_hash(DUMMY_HASH, password);
            return Ok(None);
        };
        if !verify_hash(&hash, password)? || user.disabled {
            // A disabled user is refused like a wrong password, after the same work.
            return Ok(None);
        }
        self.store.clear_failures(name, addr)?;
        Ok(Some(user))
    }

    /// Starts a session for `user`; only the token's SHA-256 is stored.
    pub fn create_session(&self, user: &User) -> Result<NewSession, Error> {
        let token = random_b64(32);
        let csrf = random_b64(32);
        let now = self.now();
        let expires_at = now + self.session_ttl.as_secs() as i64;
        if !self
            .store
            .insert_session(&sha256(&token), &user.name, &csrf, expires_at, now)?
        {
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
        let hash = sha256(token);
        let Some(s) = self.store.session(&hash)? else {
            return Ok(None);
        };
        if s.expires_at <= self.now() {
            self.store.delete_session(&hash)?;
            return Ok(None);
        }
        Ok(Some(s))
    }

    /// Ends a session (nothing happens if it does not exist).
    pub fn end_session(&self, token: &str) -> Result<(), Error> {
        self.store.delete_session(&sha256(token))
    }

    /// Disables a user (ending their sessions at once) or enables them again; refuses to
    /// disable the last admin who can sign in.
    pub fn set_disabled(&self, name: &str, disabled: bool) -> Result<User, Error> {
        self.store.change_user(name, UserChange::Disabled(disabled))
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
        if !self.store.insert_search(&s, MAX_SAVED_SEARCHES)? {
            return Err(Error::Invalid(format!(
                "at most {MAX_SAVED_SEARCHES} saved searches per user: delete some first"
            )));
        }
        Ok(s)
    }

    /// The searches `viewer` sees: their own and the shared ones, by name.
    pub fn saved_searches(&self, viewer: &str) -> Result<Vec<SavedSearch>, Error> {
        self.store.saved_searches(viewer)
    }

    /// Deletes a saved search; only its owner may, or an admin (`as_admin`).
    pub fn delete_search(&self, id: &str, by: &str, as_admin: bool) -> Result<(), Error> {
        let Some(owner) = self.store.search_owner(id)? else {
            return Err(Error::NotFound(format!("saved search {id}")));
        };
        if !as_admin && !owner.eq_ignore_ascii_case(by) {
            return Err(Error::Forbidden(format!(
                "only {owner} or an admin can delete this saved search"
            )));
        }
        self.store.delete_search(id)
    }

    /// The names of the users who can sign in, for assigning alerts.
    pub fn active_user_names(&self) -> Result<Vec<String>, Error> {
        self.store.active_user_names()
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
        if let Some(owner) = owner {
            if self.store.user(owner)?.is_none_or(|u| u.disabled) {
                return Err(Error::Invalid(format!(
                    "a token cannot act for {owner}: no such user who can sign in"
                )));
            }
        }
        self.store.insert_token(&info, &sha256(&secret))?;
        Ok((info, secret))
    }

    /// Every API token, oldest first.
    pub fn list_tokens(&self) -> Result<Vec<TokenInfo>, Error> {
        self.store.list_tokens()
    }

    /// Revokes an API token.
    pub fn revoke_token(&self, id: &str) -> Result<(), Error> {
        if !self.store.delete_token(id)? {
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
        let Some(StoredToken {
            mut info,
            secret_hash: stored,
            last_used_unix: last_used,
            owner_role,
        }) = self.store.token_by_hash(&hash)?
        else {
            return Ok(None);
        };
        if !bool::from(stored.as_slice().ct_eq(hash.as_slice())) {
            return Ok(None);
        }
        // Disabling or deleting a user stops their tokens at once, and a demotion caps them.
        if !info.usable {
            return Ok(None);
        }
        if let Some(owner_role) = owner_role {
            if !owner_role.allows(info.role) {
                info.role = owner_role;
            }
        }
        let now = self.now();
        if last_used.is_none_or(|t| now - t >= LAST_USED_EVERY) {
            let at = rfc3339(now);
            self.store.touch_token(&info.id, &at, now)?;
            info.last_used_at = Some(at);
        }
        Ok(Some(info))
    }
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
