//! The cluster account store: tables in PostgreSQL shared by every node, so that a session
//! made on one node is valid on all and a user disabled on one is refused by all at their
//! next request (nothing is cached). Names compare case-insensitively through `lower()` (user
//! names are ASCII, see `check_name`); orders use `COLLATE "C"` so that they do not depend on
//! the database's locale. Changes guarded by a rule over several rows (the last admin, the
//! saved searches per user) take a transaction-scoped advisory lock, so that two nodes
//! cannot both pass the check.

use pgstate::{p, Pg, Row};

use super::{check_admin_change, AccountStore, Error, SavedSearch, Session, TokenInfo, User};
use super::{Role, StoredToken, UserChange};

/// The accounts' schema steps (append-only; see `pgstate::Pg::migrate`).
const MIGRATIONS: &[&str] = &["
CREATE TABLE console_users (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_at TEXT NOT NULL,
  disabled BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX console_users_name ON console_users (lower(name));
CREATE TABLE console_sessions (
  token_hash BYTEA PRIMARY KEY,
  user_id BIGINT NOT NULL REFERENCES console_users(id) ON DELETE CASCADE,
  csrf TEXT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions (user_id);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
CREATE TABLE console_login_failures (
  name TEXT NOT NULL,
  addr TEXT NOT NULL,
  at BIGINT NOT NULL
);
CREATE INDEX console_login_failures_name ON console_login_failures (name, addr, at);
CREATE INDEX console_login_failures_at ON console_login_failures (at);
CREATE TABLE console_api_tokens (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  secret_hash BYTEA NOT NULL UNIQUE,
  created_by TEXT NOT NULL,
  created_at TEXT NOT NULL,
  last_used_at TEXT,
  last_used_unix BIGINT,
  owner TEXT
);
CREATE INDEX console_api_tokens_owner ON console_api_tokens (lower(owner));
CREATE TABLE console_saved_searches (
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  name TEXT NOT NULL,
  query TEXT NOT NULL,
  since TEXT NOT NULL,
  columns TEXT NOT NULL,
  shared BOOLEAN NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX console_saved_searches_owner ON console_saved_searches (lower(owner));
"];

/// The key of the advisory lock taken by guarded changes (an arbitrary constant, distinct
/// from the migrations' one).
const LOCK_KEY: i64 = 7_262_001_601;

const USER_COLS: &str = "name, role, created_at, disabled";

/// The accounts in PostgreSQL.
pub struct PgAccounts {
    pg: Pg,
}

impl PgAccounts {
    /// The accounts in `pg`'s database, its schema created or migrated first.
    pub fn open(pg: &Pg) -> Result<PgAccounts, Error> {
        pg.migrate("accounts", MIGRATIONS)?;
        Ok(PgAccounts { pg: pg.clone() })
    }
}

fn user_from(r: &Row) -> Result<User, Error> {
    let role: String = r.get(1);
    Ok(User {
        name: r.get(0),
        role: role.parse()?,
        created_at: r.get(2),
        disabled: r.get(3),
    })
}

/// The columns [`token_from`] reads, from `console_api_tokens t LEFT JOIN console_users u`
/// on the owner.
const TOKEN_COLS: &str = "t.id, t.name, t.role, t.created_by, t.created_at, t.last_used_at,
    t.owner, (t.owner IS NULL OR COALESCE(NOT u.disabled, FALSE))";
const TOKEN_JOIN: &str =
    "console_api_tokens t LEFT JOIN console_users u ON lower(u.name) = lower(t.owner)";

fn token_from(r: &Row) -> Result<TokenInfo, Error> {
    let role: String = r.get(2);
    Ok(TokenInfo {
        id: r.get(0),
        name: r.get(1),
        role: role.parse()?,
        created_by: r.get(3),
        created_at: r.get(4),
        last_used_at: r.get(5),
        owner: r.get(6),
        usable: r.get(7),
    })
}

fn search_from(r: &Row) -> SavedSearch {
    SavedSearch {
        id: r.get(0),
        owner: r.get(1),
        name: r.get(2),
        query: r.get(3),
        since: r.get(4),
        columns: r.get(5),
        shared: r.get(6),
        created_at: r.get(7),
    }
}

impl AccountStore for PgAccounts {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn user_count(&self) -> Result<i64, Error> {
        let rows = self
            .pg
            .query("SELECT COUNT(*) FROM console_users", vec![])?;
        Ok(rows.first().map(|r| r.get(0)).unwrap_or(0))
    }

    fn insert_first_admin(&self, password_hash: &str, created_at: &str) -> Result<bool, Error> {
        match self.pg.execute(
            "INSERT INTO console_users (name, role, password_hash, created_at)
             SELECT 'admin', 'admin', $1, $2
             WHERE NOT EXISTS (SELECT 1 FROM console_users)",
            vec![p(password_hash.to_string()), p(created_at.to_string())],
        ) {
            Ok(n) => Ok(n == 1),
            // Another node created it between our check and our insert.
            Err(e) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn insert_user(&self, user: &User, password_hash: &str) -> Result<(), Error> {
        match self.pg.execute(
            "INSERT INTO console_users (name, role, password_hash, created_at)
             VALUES ($1, $2, $3, $4)",
            vec![
                p(user.name.clone()),
                p(user.role.as_str()),
                p(password_hash.to_string()),
                p(user.created_at.clone()),
            ],
        ) {
            Ok(_) => Ok(()),
            Err(e) if e.is_unique_violation() => {
                Err(Error::Invalid(format!("user {} already exists", user.name)))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn user(&self, name: &str) -> Result<Option<User>, Error> {
        let rows = self.pg.query(
            format!("SELECT {USER_COLS} FROM console_users WHERE lower(name) = lower($1)"),
            vec![p(name.to_string())],
        )?;
        rows.first().map(user_from).transpose()
    }

    fn user_with_hash(&self, name: &str) -> Result<Option<(User, String)>, Error> {
        let rows = self.pg.query(
            format!(
                "SELECT {USER_COLS}, password_hash FROM console_users
                 WHERE lower(name) = lower($1)"
            ),
            vec![p(name.to_string())],
        )?;
        match rows.first() {
            Some(r) => Ok(Some((user_from(r)?, r.get(4)))),
            None => Ok(None),
        }
    }

    fn list_users(&self) -> Result<Vec<User>, Error> {
        let rows = self.pg.query(
            format!(
                "SELECT {USER_COLS} FROM console_users
                 ORDER BY lower(name) COLLATE \"C\", name COLLATE \"C\""
            ),
            vec![],
        )?;
        rows.iter().map(user_from).collect()
    }

    fn active_user_names(&self) -> Result<Vec<String>, Error> {
        let rows = self.pg.query(
            "SELECT name FROM console_users WHERE NOT disabled
             ORDER BY lower(name) COLLATE \"C\", name COLLATE \"C\"",
            vec![],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn change_user(&self, name: &str, change: UserChange) -> Result<User, Error> {
        self.pg.transaction(|tx| {
            tx.execute("SELECT pg_advisory_xact_lock($1)", vec![p(LOCK_KEY)])?;
            let rows = tx.query(
                format!("SELECT {USER_COLS}, id FROM console_users WHERE lower(name) = lower($1)"),
                vec![p(name.to_string())],
            )?;
            let Some(row) = rows.first() else {
                return Err(Error::NotFound(format!("user {name}")));
            };
            let before = user_from(row)?;
            let id: i64 = row.get(4);
            let admins: i64 = tx.query(
                "SELECT COUNT(*) FROM console_users WHERE role = 'admin' AND NOT disabled",
                vec![],
            )?[0]
                .get(0);
            check_admin_change(before.role, admins, change)?;
            let mut after = before.clone();
            match change {
                UserChange::Delete => {
                    // Its sessions go with it (ON DELETE CASCADE); its tokens too, so that a
                    // later user of the same name inherits none.
                    tx.execute(
                        "DELETE FROM console_api_tokens WHERE lower(owner) = lower($1)",
                        vec![p(before.name.clone())],
                    )?;
                    tx.execute("DELETE FROM console_users WHERE id = $1", vec![p(id)])?;
                    return Ok(before);
                }
                UserChange::Role(role) => {
                    tx.execute(
                        "UPDATE console_users SET role = $1 WHERE id = $2",
                        vec![p(role.as_str()), p(id)],
                    )?;
                    after.role = role;
                }
                UserChange::Disabled(disabled) => {
                    tx.execute(
                        "UPDATE console_users SET disabled = $1 WHERE id = $2",
                        vec![p(disabled), p(id)],
                    )?;
                    if disabled {
                        tx.execute(
                            "DELETE FROM console_sessions WHERE user_id = $1",
                            vec![p(id)],
                        )?;
                    }
                    after.disabled = disabled;
                }
            }
            Ok(after)
        })
    }

    fn set_password_hash(
        &self,
        name: &str,
        password_hash: &str,
        keep: Option<&[u8; 32]>,
    ) -> Result<(), Error> {
        let who = name.to_string();
        let name = name.to_string();
        let hash = password_hash.to_string();
        let keep = keep.map(|k| k.to_vec()).unwrap_or_default();
        let found = self.pg.run(move |mut c| async move {
            let tx = c.transaction().await?;
            let Some(row) = tx
                .query_opt(
                    "UPDATE console_users SET password_hash = $1 WHERE lower(name) = lower($2)
                     RETURNING id",
                    &[&hash, &name],
                )
                .await?
            else {
                return Ok(false);
            };
            let id: i64 = row.get(0);
            tx.execute(
                "DELETE FROM console_sessions WHERE user_id = $1 AND token_hash <> $2",
                &[&id, &keep],
            )
            .await?;
            tx.execute(
                "DELETE FROM console_login_failures WHERE name = lower($1)",
                &[&name],
            )
            .await?;
            tx.commit().await?;
            Ok(true)
        })?;
        if !found {
            return Err(Error::NotFound(format!("user {who}")));
        }
        Ok(())
    }

    fn prune_failures(&self, before: i64) -> Result<(), Error> {
        self.pg.execute(
            "DELETE FROM console_login_failures WHERE at <= $1",
            vec![p(before)],
        )?;
        Ok(())
    }

    fn count_failures(&self, name: &str, addr: &str, since: i64) -> Result<i64, Error> {
        let rows = self.pg.query(
            "SELECT COUNT(*) FROM console_login_failures
             WHERE name = lower($1) AND addr = $2 AND at > $3",
            vec![p(name.to_string()), p(addr.to_string()), p(since)],
        )?;
        Ok(rows.first().map(|r| r.get(0)).unwrap_or(0))
    }

    fn add_failure(&self, name: &str, addr: &str, at: i64) -> Result<(), Error> {
        self.pg.execute(
            "INSERT INTO console_login_failures (name, addr, at) VALUES (lower($1), $2, $3)",
            vec![p(name.to_string()), p(addr.to_string()), p(at)],
        )?;
        Ok(())
    }

    fn clear_failures(&self, name: &str, addr: &str) -> Result<(), Error> {
        self.pg.execute(
            "DELETE FROM console_login_failures WHERE name = lower($1) AND addr = $2",
            vec![p(name.to_string()), p(addr.to_string())],
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
        self.pg.execute(
            "DELETE FROM console_sessions WHERE expires_at <= $1",
            vec![p(now)],
        )?;
        let n = self.pg.execute(
            "INSERT INTO console_sessions (token_hash, user_id, csrf, expires_at)
             SELECT $1, id, $2, $3 FROM console_users
             WHERE lower(name) = lower($4) AND NOT disabled",
            vec![
                p(token_hash.to_vec()),
                p(csrf.to_string()),
                p(expires_at),
                p(user.to_string()),
            ],
        )?;
        Ok(n == 1)
    }

    fn session(&self, token_hash: &[u8; 32]) -> Result<Option<Session>, Error> {
        let rows = self.pg.query(
            "SELECT u.name, u.role, s.csrf, s.expires_at
             FROM console_sessions s JOIN console_users u ON u.id = s.user_id
             WHERE s.token_hash = $1 AND NOT u.disabled",
            vec![p(token_hash.to_vec())],
        )?;
        let Some(r) = rows.first() else {
            return Ok(None);
        };
        let role: String = r.get(1);
        Ok(Some(Session {
            user: r.get(0),
            role: role.parse::<Role>()?,
            csrf: r.get(2),
            expires_at: r.get(3),
        }))
    }

    fn delete_session(&self, token_hash: &[u8; 32]) -> Result<(), Error> {
        self.pg.execute(
            "DELETE FROM console_sessions WHERE token_hash = $1",
            vec![p(token_hash.to_vec())],
        )?;
        Ok(())
    }

    fn insert_search(&self, s: &SavedSearch, max_per_owner: i64) -> Result<bool, Error> {
        let s = s.clone();
        Ok(self.pg.run(move |mut c| async move {
            let tx = c.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
                .await?;
            let n: i64 = tx
                .query_one(
                    "SELECT COUNT(*) FROM console_saved_searches WHERE lower(owner) = lower($1)",
                    &[&s.owner],
                )
                .await?
                .get(0);
            if n >= max_per_owner {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO console_saved_searches
                   (id, owner, name, query, since, columns, shared, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &s.id,
                    &s.owner,
                    &s.name,
                    &s.query,
                    &s.since,
                    &s.columns,
                    &s.shared,
                    &s.created_at,
                ],
            )
            .await?;
            tx.commit().await?;
            Ok(true)
        })?)
    }

    fn saved_searches(&self, viewer: &str) -> Result<Vec<SavedSearch>, Error> {
        let rows = self.pg.query(
            "SELECT id, owner, name, query, since, columns, shared, created_at
             FROM console_saved_searches WHERE lower(owner) = lower($1) OR shared
             ORDER BY name COLLATE \"C\", created_at COLLATE \"C\"",
            vec![p(viewer.to_string())],
        )?;
        Ok(rows.iter().map(search_from).collect())
    }

    fn search_owner(&self, id: &str) -> Result<Option<String>, Error> {
        let rows = self.pg.query(
            "SELECT owner FROM console_saved_searches WHERE id = $1",
            vec![p(id.to_string())],
        )?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    fn delete_search(&self, id: &str) -> Result<(), Error> {
        self.pg.execute(
            "DELETE FROM console_saved_searches WHERE id = $1",
            vec![p(id.to_string())],
        )?;
        Ok(())
    }

    fn insert_token(&self, info: &TokenInfo, secret_hash: &[u8; 32]) -> Result<(), Error> {
        self.pg.execute(
            "INSERT INTO console_api_tokens
               (id, name, role, secret_hash, created_by, created_at, owner)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vec![
                p(info.id.clone()),
                p(info.name.clone()),
                p(info.role.as_str()),
                p(secret_hash.to_vec()),
                p(info.created_by.clone()),
                p(info.created_at.clone()),
                p(info.owner.clone()),
            ],
        )?;
        Ok(())
    }

    fn list_tokens(&self) -> Result<Vec<TokenInfo>, Error> {
        let rows = self.pg.query(
            format!(
                "SELECT {TOKEN_COLS} FROM {TOKEN_JOIN}
                 ORDER BY t.created_at COLLATE \"C\", t.id COLLATE \"C\""
            ),
            vec![],
        )?;
        rows.iter().map(token_from).collect()
    }

    fn delete_token(&self, id: &str) -> Result<bool, Error> {
        Ok(self.pg.execute(
            "DELETE FROM console_api_tokens WHERE id = $1",
            vec![p(id.to_string())],
        )? > 0)
    }

    fn token_by_hash(&self, secret_hash: &[u8; 32]) -> Result<Option<StoredToken>, Error> {
        let rows = self.pg.query(
            format!(
                "SELECT {TOKEN_COLS}, t.secret_hash, t.last_used_unix, u.role
                 FROM {TOKEN_JOIN} WHERE t.secret_hash = $1"
            ),
            vec![p(secret_hash.to_vec())],
        )?;
        match rows.first() {
            Some(r) => Ok(Some(StoredToken {
                info: token_from(r)?,
                secret_hash: r.get(8),
                last_used_unix: r.get(9),
                owner_role: r
                    .get::<_, Option<String>>(10)
                    .map(|x| x.parse())
                    .transpose()?,
            })),
            None => Ok(None),
        }
    }

    fn touch_token(&self, id: &str, at: &str, unix: i64) -> Result<(), Error> {
        self.pg.execute(
            "UPDATE console_api_tokens SET last_used_at = $1, last_used_unix = $2 WHERE id = $3",
            vec![p(at.to_string()), p(unix), p(id.to_string())],
        )?;
        Ok(())
    }
}
