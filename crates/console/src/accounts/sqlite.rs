//! The embedded account store: the SQLite file `DATA/console.db` of one node (WAL mode, so the
//! CLI and the server can both open it). Names compare with `COLLATE NOCASE`.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{check_admin_change, AccountStore, Error, Role, SavedSearch, Session, TokenInfo};
use super::{StoredToken, User, UserChange};

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

/// The accounts in `DATA/console.db`.
pub struct SqliteAccounts {
    conn: Mutex<Connection>,
}

impl SqliteAccounts {
    /// Opens (creating if needed) `data_dir/console.db`, bringing an older schema up to date.
    pub fn open(data_dir: &Path) -> Result<SqliteAccounts, Error> {
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
        Ok(SqliteAccounts {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll
        // back on drop), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
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

/// The columns [`token_row`] reads, from `api_tokens t LEFT JOIN users u ON u.name = t.owner`.
const TOKEN_COLS: &str = "t.id, t.name, t.role, t.created_by, t.created_at, t.last_used_at,
    t.owner, t.owner IS NULL OR COALESCE(u.disabled = 0, 0)";

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

fn get_user(c: &Connection, name: &str) -> Result<Option<User>, Error> {
    c.query_row(
        "SELECT name, role, created_at, disabled FROM users WHERE name = ?1",
        params![name],
        user_row,
    )
    .optional()?
    .transpose()
}

impl AccountStore for SqliteAccounts {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn user_count(&self) -> Result<i64, Error> {
        Ok(self
            .conn()
            .query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?)
    }

    fn insert_first_admin(&self, password_hash: &str, created_at: &str) -> Result<bool, Error> {
        // Insert only if still empty: two processes starting at once create one admin.
        let n = self.conn().execute(
            "INSERT INTO users (name, role, password_hash, created_at)
             SELECT 'admin', 'admin', ?1, ?2 WHERE NOT EXISTS (SELECT 1 FROM users)",
            params![password_hash, created_at],
        )?;
        Ok(n == 1)
    }

    fn insert_user(&self, user: &User, password_hash: &str) -> Result<(), Error> {
        let c = self.conn();
        let exists: bool = c.query_row(
            "SELECT EXISTS (SELECT 1 FROM users WHERE name = ?1)",
            params![user.name],
            |r| r.get(0),
        )?;
        if exists {
            return Err(Error::Invalid(format!("user {} already exists", user.name)));
        }
        c.execute(
            "INSERT INTO users (name, role, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![
                user.name,
                user.role.as_str(),
                password_hash,
                user.created_at
            ],
        )?;
        Ok(())
    }

    fn user(&self, name: &str) -> Result<Option<User>, Error> {
        get_user(&self.conn(), name)
    }

    fn user_with_hash(&self, name: &str) -> Result<Option<(User, String)>, Error> {
        let row = self
            .conn()
            .query_row(
                "SELECT name, role, created_at, disabled, password_hash FROM users WHERE name = ?1",
                params![name],
                |r| Ok((user_row(r)?, r.get::<_, String>(4)?)),
            )
            .optional()?;
        match row {
            Some((user, hash)) => Ok(Some((user?, hash))),
            None => Ok(None),
        }
    }

    fn list_users(&self) -> Result<Vec<User>, Error> {
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

    fn active_user_names(&self) -> Result<Vec<String>, Error> {
        let c = self.conn();
        let mut st = c.prepare("SELECT name FROM users WHERE disabled = 0 ORDER BY name")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn change_user(&self, name: &str, change: UserChange) -> Result<User, Error> {
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = role_of(&tx, name)?;
        check_admin_change(current, admin_count(&tx)?, change)?;
        let before = get_user(&tx, name)?;
        let ends_sessions = matches!(change, UserChange::Delete | UserChange::Disabled(true));
        if ends_sessions {
            tx.execute(
                "DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?1)",
                params![name],
            )?;
        }
        match change {
            UserChange::Delete => {
                tx.execute("DELETE FROM api_tokens WHERE owner = ?1", params![name])?;
                tx.execute("DELETE FROM users WHERE name = ?1", params![name])?;
            }
            UserChange::Role(role) => {
                tx.execute(
                    "UPDATE users SET role = ?1 WHERE name = ?2",
                    params![role.as_str(), name],
                )?;
            }
            UserChange::Disabled(disabled) => {
                tx.execute(
                    "UPDATE users SET disabled = ?1 WHERE name = ?2",
                    params![disabled, name],
                )?;
            }
        }
        let user = match change {
            UserChange::Delete => before,
            _ => get_user(&tx, name)?,
        }
        .ok_or_else(|| Error::NotFound(format!("user {name}")))?;
        tx.commit()?;
        Ok(user)
    }

    fn set_password_hash(
        &self,
        name: &str,
        password_hash: &str,
        keep: Option<&[u8; 32]>,
    ) -> Result<(), Error> {
        let keep_hash = keep.map(|k| k.to_vec()).unwrap_or_default();
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "UPDATE users SET password_hash = ?1 WHERE name = ?2",
            params![password_hash, name],
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

    fn prune_failures(&self, before: i64) -> Result<(), Error> {
        self.conn()
            .execute("DELETE FROM login_failures WHERE at <= ?1", params![before])?;
        Ok(())
    }

    fn count_failures(&self, name: &str, addr: &str, since: i64) -> Result<i64, Error> {
        Ok(self.conn().query_row(
            "SELECT COUNT(*) FROM login_failures WHERE name = ?1 AND addr = ?3 AND at > ?2",
            params![name, since, addr],
            |r| r.get(0),
        )?)
    }

    fn add_failure(&self, name: &str, addr: &str, at: i64) -> Result<(), Error> {
        self.conn().execute(
            "INSERT INTO login_failures (name, at, addr) VALUES (?1, ?2, ?3)",
            params![name, at, addr],
        )?;
        Ok(())
    }

    fn clear_failures(&self, name: &str, addr: &str) -> Result<(), Error> {
        self.conn().execute(
            "DELETE FROM login_failures WHERE name = ?1 AND addr = ?2",
            params![name, addr],
        )?;
        Ok(())
    }

    fn insert_session(
        &self,
        token_hash: &[u8; 32],
        user: &str,
        csrf: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, Error> {
        let c = self.conn();
        c.execute("DELETE FROM sessions WHERE expires_at <= ?1", params![now])?;
        let n = c.execute(
            "INSERT INTO sessions (token_hash, user_id, csrf, expires_at)
             SELECT ?1, id, ?2, ?3 FROM users WHERE name = ?4 AND disabled = 0",
            params![token_hash.to_vec(), csrf, expires_at, user],
        )?;
        Ok(n == 1)
    }

    fn session(&self, token_hash: &[u8; 32]) -> Result<Option<Session>, Error> {
        let row = self
            .conn()
            .query_row(
                "SELECT u.name, u.role, s.csrf, s.expires_at
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = ?1 AND u.disabled = 0",
                params![token_hash.to_vec()],
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
        Ok(Some(Session {
            user,
            role: role.parse()?,
            csrf,
            expires_at,
        }))
    }

    fn delete_session(&self, token_hash: &[u8; 32]) -> Result<(), Error> {
        self.conn().execute(
            "DELETE FROM sessions WHERE token_hash = ?1",
            params![token_hash.to_vec()],
        )?;
        Ok(())
    }

    fn insert_search(&self, s: &SavedSearch, max_per_owner: i64) -> Result<bool, Error> {
        let mut c = self.conn();
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n: i64 = tx.query_row(
            "SELECT COUNT(*) FROM saved_searches WHERE owner = ?1",
            params![s.owner],
            |r| r.get(0),
        )?;
        if n >= max_per_owner {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO saved_searches (id, owner, name, query, since, columns, shared, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![s.id, s.owner, s.name, s.query, s.since, s.columns, s.shared, s.created_at],
        )?;
        tx.commit()?;
        Ok(true)
    }

    fn saved_searches(&self, viewer: &str) -> Result<Vec<SavedSearch>, Error> {
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

    fn search_owner(&self, id: &str) -> Result<Option<String>, Error> {
        Ok(self
            .conn()
            .query_row(
                "SELECT owner FROM saved_searches WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn delete_search(&self, id: &str) -> Result<(), Error> {
        self.conn()
            .execute("DELETE FROM saved_searches WHERE id = ?1", params![id])?;
        Ok(())
    }

    fn insert_token(&self, info: &TokenInfo, secret_hash: &[u8; 32]) -> Result<(), Error> {
        self.conn().execute(
            "INSERT INTO api_tokens (id, name, role, secret_hash, created_by, created_at, owner)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                info.id,
                info.name,
                info.role.as_str(),
                secret_hash.to_vec(),
                info.created_by,
                info.created_at,
                info.owner
            ],
        )?;
        Ok(())
    }

    fn list_tokens(&self) -> Result<Vec<TokenInfo>, Error> {
        let c = self.conn();
        let mut st = c.prepare(&format!(
            "SELECT {TOKEN_COLS} FROM api_tokens t LEFT JOIN users u ON u.name = t.owner
             ORDER BY t.created_at, t.id"
        ))?;
        let rows = st.query_map([], token_row)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r??);
        }
        Ok(out)
    }

    fn delete_token(&self, id: &str) -> Result<bool, Error> {
        Ok(self
            .conn()
            .execute("DELETE FROM api_tokens WHERE id = ?1", params![id])?
            > 0)
    }

    fn token_by_hash(&self, secret_hash: &[u8; 32]) -> Result<Option<StoredToken>, Error> {
        let row = self
            .conn()
            .query_row(
                &format!(
                    "SELECT {TOKEN_COLS}, t.secret_hash, t.last_used_unix, u.role
                     FROM api_tokens t LEFT JOIN users u ON u.name = t.owner
                     WHERE t.secret_hash = ?1"
                ),
                params![secret_hash.to_vec()],
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
        match row {
            Some((info, secret_hash, last_used_unix, owner_role)) => Ok(Some(StoredToken {
                info: info?,
                secret_hash,
                last_used_unix,
                owner_role: owner_role.map(|r| r.parse()).transpose()?,
            })),
            None => Ok(None),
        }
    }

    fn touch_token(&self, id: &str, at: &str, unix: i64) -> Result<(), Error> {
        self.conn().execute(
            "UPDATE api_tokens SET last_used_at = ?1, last_used_unix = ?2 WHERE id = ?3",
            params![at, unix, id],
        )?;
        Ok(())
    }
}
