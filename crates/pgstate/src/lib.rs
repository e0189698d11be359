//! ziaxdr's connection to PostgreSQL, where a cluster keeps its state (intakes, entities, keys,
//! users, sessions, API tokens, alerts, CTI). The stores that use it are synchronous, like
//! their SQLite twins, and are called both from plain threads and from inside tokio tasks, so
//! this crate runs `tokio-postgres` on a small runtime of its own, on its own thread, and
//! offers a blocking facade ([`Pg::run`], [`Pg::query`], [`Pg::execute`], and
//! [`Pg::transaction`] for statement-by-statement transactions written like SQLite's) that any
//! thread may call: the work is spawned on that runtime and the caller waits for its answer,
//! bounded by a timeout (the synchronous `postgres` crate would panic inside a tokio runtime). Connections
//! come from a small pool (deadpool), TLS is rustls (the URL's `sslmode`; roots from webpki or
//! a CA file), the password may come from outside the URL, and [`Pg::migrate`] applies each
//! store's versioned schema once, under an advisory lock, so several nodes starting together
//! agree. [`testing`] gives each test a database of its own.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use deadpool_postgres::Object as Client;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
pub use tokio_postgres;
use tokio_postgres::types::ToSql;
pub use tokio_postgres::Row;

pub mod testing;

/// A bound statement parameter, owned so it can travel to the connection's runtime.
pub type Param = Box<dyn ToSql + Send + Sync>;

/// Default number of pooled connections per process.
pub const DEFAULT_POOL_SIZE: usize = 8;
/// Default bound on one operation (waiting for a connection included).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors of the PostgreSQL state.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The configuration is unusable (bad URL, unreadable CA file).
    #[error("invalid PostgreSQL configuration: {0}")]
    Config(String),
    /// No connection could be had (server down, refused, pool exhausted).
    #[error("PostgreSQL unavailable: {0}")]
    Unavailable(String),
    /// The operation did not finish in time.
    #[error("PostgreSQL did not answer within {0:?}")]
    Timeout(Duration),
    /// The server refused a statement.
    #[error("PostgreSQL error: {message}")]
    Db {
        /// SQLSTATE, when the server sent one.
        code: Option<String>,
        /// The server's message (never includes bound values).
        message: String,
    },
    /// The schema in the database is newer than this build knows.
    #[error("{0}")]
    Schema(String),
}

impl PgError {
    /// Whether the server refused a statement for a unique constraint (SQLSTATE 23505).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, PgError::Db { code: Some(c), .. } if c == "23505")
    }

    /// Whether the failure says the server is out of reach rather than that a statement was
    /// wrong (callers keep serving from caches then).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, PgError::Unavailable(_) | PgError::Timeout(_))
    }
}

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => PgError::Db {
                code: Some(db.code().code().to_string()),
                message: db.message().to_string(),
            },
            // Not a statement error: the connection broke or could not be made.
            None => PgError::Unavailable(e.to_string()),
        }
    }
}

impl From<deadpool_postgres::PoolError> for PgError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => PgError::from(e),
            other => PgError::Unavailable(other.to_string()),
        }
    }
}

/// Where and how to connect. `Debug` never shows the password.
#[derive(Clone)]
pub struct PgConfig {
    /// A libpq-style URL or key=value string (`postgres://user@host:port/db?sslmode=require`).
    pub url: String,
    /// The password, when it is not in the URL (from an environment variable or a file).
    pub password: Option<String>,
    /// PEM file of the CA certificates to trust for TLS, instead of the webpki roots.
    pub ca_file: Option<PathBuf>,
    /// Pooled connections per process.
    pub pool_size: usize,
    /// Bound on one operation, waiting for a connection included.
    pub timeout: Duration,
}

impl PgConfig {
    /// A configuration for `url` with the default pool size and timeout.
    pub fn new(url: impl Into<String>) -> PgConfig {
        PgConfig {
            url: url.into(),
            password: None,
            ca_file: None,
            pool_size: DEFAULT_POOL_SIZE,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// `user@host:port/dbname`, for logs: no password, whatever the URL held.
    pub fn display_target(&self) -> String {
        match self.url.parse::<tokio_postgres::Config>() {
            Ok(c) => {
                let host = c
                    .get_hosts()
                    .iter()
                    .map(|h| match h {
                        tokio_postgres::config::Host::Tcp(s) => s.clone(),
                        #[cfg(unix)]
                        tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                let port = c.get_ports().first().copied().unwrap_or(5432);
                format!(
                    "{}@{}:{}/{}",
                    c.get_user().unwrap_or("?"),
                    host,
                    port,
                    c.get_dbname().unwrap_or("?")
                )
            }
            Err(_) => "(unparseable URL)".to_string(),
        }
    }
}

impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConfig")
            .field("target", &self.display_target())
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ca_file", &self.ca_file)
            .field("pool_size", &self.pool_size)
            .field("timeout", &self.timeout)
            .finish()
    }
}

struct Inner {
    handle: tokio::runtime::Handle,
    pool: Pool,
    timeout: Duration,
    target: String,
    // Dropped last: tells the runtime's thread to stop (a runtime cannot be dropped inside
    // another runtime's task, so it lives and dies on its own thread).
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A pooled connection to one PostgreSQL database, usable from any thread. Cheap to clone:
/// clones share the pool and the runtime.
#[derive(Clone)]
pub struct Pg {
    inner: Arc<Inner>,
}

impl fmt::Debug for Pg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pg({})", self.inner.target)
    }
}

fn tls_config(cfg: &PgConfig) -> Result<rustls::ClientConfig, PgError> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match &cfg.ca_file {
        Some(path) => {
            let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
                .map_err(|e| PgError::Config(format!("CA file {}: {e}", path.display())))?;
            for c in certs {
                let c =
                    c.map_err(|e| PgError::Config(format!("CA file {}: {e}", path.display())))?;
                roots
                    .add(c)
                    .map_err(|e| PgError::Config(format!("CA file {}: {e}", path.display())))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| PgError::Config(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

impl Pg {
    /// Builds the pool. Connects lazily: a server that is down now is an error of the first
    /// operation, not of this call (use [`Pg::ping`] to check).
    pub fn connect(cfg: &PgConfig) -> Result<Pg, PgError> {
        let mut pg_cfg: tokio_postgres::Config = cfg
            .url
            .parse()
            .map_err(|e: tokio_postgres::Error| PgError::Config(e.to_string()))?;
        if let Some(p) = &cfg.password {
            pg_cfg.password(p.as_bytes());
        }
        if pg_cfg.get_connect_timeout().is_none() {
            pg_cfg.connect_timeout(cfg.timeout);
        }
        pg_cfg.application_name("ziaxdr");
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(cfg)?);

        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (handle_tx, handle_rx) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("pgstate".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("pgstate-rt")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = handle_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = handle_tx.send(Ok(rt.handle().clone()));
                rt.block_on(async {
                    let _ = stop_rx.await;
                });
                rt.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(|e| PgError::Unavailable(format!("cannot start its thread: {e}")))?;
        let handle = handle_rx
            .recv()
            .map_err(|_| PgError::Unavailable("its runtime did not start".into()))?
            .map_err(PgError::Unavailable)?;

        let mgr = Manager::from_config(
            pg_cfg,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = {
            let _g = handle.enter();
            Pool::builder(mgr)
                .max_size(cfg.pool_size.max(1))
                .runtime(Runtime::Tokio1)
                .wait_timeout(Some(cfg.timeout))
                .create_timeout(Some(cfg.timeout))
                .recycle_timeout(Some(cfg.timeout))
                .build()
                .map_err(|e| PgError::Config(e.to_string()))?
        };
        Ok(Pg {
            inner: Arc::new(Inner {
                handle,
                pool,
                timeout: cfg.timeout,
                target: cfg.display_target(),
                _stop: stop_tx,
            }),
        })
    }

    /// `user@host:port/dbname` of this connection, for logs and `/readyz`.
    pub fn target(&self) -> &str {
        &self.inner.target
    }

    /// Runs `f` with a pooled connection on the connection's runtime and waits for its result,
    /// at most the configured timeout. Callable from any thread, inside a tokio runtime too
    /// (the calling thread blocks, as it would on SQLite).
    pub fn run<T, F, Fut>(&self, f: F) -> Result<T, PgError>
    where
        T: Send + 'static,
        F: FnOnce(Client) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, PgError>> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let pool = self.inner.pool.clone();
        let timeout = self.inner.timeout;
        self.inner.handle.spawn(async move {
            let work = async move {
                let client = pool.get().await?;
                f(client).await
            };
            let r = match tokio::time::timeout(timeout, work).await {
                Ok(r) => r,
                Err(_) => Err(PgError::Timeout(timeout)),
            };
            let _ = tx.send(r);
        });
        rx.recv()
            .unwrap_or_else(|_| Err(PgError::Unavailable("its runtime stopped".into())))
    }

    /// Runs one statement with bound parameters and returns its rows.
    pub fn query(&self, sql: impl Into<String>, params: Vec<Param>) -> Result<Vec<Row>, PgError> {
        let sql = sql.into();
        self.run(move |c| async move {
            let st = c.prepare_cached(&sql).await?;
            let refs: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect();
            Ok(c.query(&st, &refs).await?)
        })
    }

    /// Runs one statement with bound parameters and returns the number of rows it touched.
    pub fn execute(&self, sql: impl Into<String>, params: Vec<Param>) -> Result<u64, PgError> {
        let sql = sql.into();
        self.run(move |c| async move {
            let st = c.prepare_cached(&sql).await?;
            let refs: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect();
            Ok(c.execute(&st, &refs).await?)
        })
    }

    /// Runs `f` in one transaction, statement by statement, from the calling thread: the
    /// blocking twin of a SQLite transaction, so that code written against one can be written
    /// against the other. Each statement `f` sends through its [`Tx`] runs on the
    /// connection's runtime, on one pooled connection held until the end, and is awaited,
    /// bounded by the configured timeout. Commits when `f` returns `Ok`; rolls back when it
    /// returns `Err` or panics. `f` must not wait on other operations of this pool while a
    /// pool of one connection is all it has (it holds that connection).
    pub fn transaction<T, E, F>(&self, f: F) -> Result<T, E>
    where
        E: From<PgError>,
        F: FnOnce(&mut Tx) -> Result<T, E>,
    {
        let (cmds, mut rx) = tokio::sync::mpsc::unbounded_channel::<TxCmd>();
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<Result<(), PgError>>(1);
        let pool = self.inner.pool.clone();
        let timeout = self.inner.timeout;
        self.inner.handle.spawn(async move {
            let begun = tokio::time::timeout(timeout, async {
                let client = pool.get().await?;
                Ok::<_, PgError>(client)
            })
            .await;
            let mut client = match begun {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
                Err(_) => {
                    let _ = ready_tx.send(Err(PgError::Timeout(timeout)));
                    return;
                }
            };
            let tx = match client.transaction().await {
                Ok(tx) => tx,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.into()));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            // Dropping `tx` without a commit (the caller's Tx gone, an error) rolls back.
            while let Some(cmd) = rx.recv().await {
                match cmd {
                    TxCmd::Query(sql, params, reply) => {
                        let refs: Vec<&(dyn ToSql + Sync)> = params
                            .iter()
                            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                            .collect();
                        // Prepared once per pooled connection: a statement run per match
                        // would otherwise cost a parse round trip each time.
                        let run = async {
                            let st = tx.prepare_cached(&sql).await?;
                            tx.query(&st, &refs).await
                        };
                        let r = match tokio::time::timeout(timeout, run).await {
                            Ok(r) => r.map_err(PgError::from),
                            Err(_) => Err(PgError::Timeout(timeout)),
                        };
                        let _ = reply.send(r);
                    }
                    TxCmd::Execute(sql, params, reply) => {
                        let refs: Vec<&(dyn ToSql + Sync)> = params
                            .iter()
                            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                            .collect();
                        let run = async {
                            let st = tx.prepare_cached(&sql).await?;
                            tx.execute(&st, &refs).await
                        };
                        let r = match tokio::time::timeout(timeout, run).await {
                            Ok(r) => r.map_err(PgError::from),
                            Err(_) => Err(PgError::Timeout(timeout)),
                        };
                        let _ = reply.send(r);
                    }
                    TxCmd::Commit(reply) => {
                        let r = match tokio::time::timeout(timeout, tx.commit()).await {
                            Ok(r) => r.map_err(PgError::from),
                            Err(_) => Err(PgError::Timeout(timeout)),
                        };
                        let _ = reply.send(r);
                        return;
                    }
                }
            }
        });
        match ready_rx.recv_timeout(timeout + Duration::from_secs(1)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => return Err(PgError::Timeout(timeout).into()),
        }
        let mut tx = Tx {
            cmds: Some(cmds),
            timeout,
        };
        let out = f(&mut tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Checks that the server answers (for `/readyz`).
    pub fn ping(&self) -> Result<(), PgError> {
        self.run(|c| async move {
            c.simple_query("SELECT 1").await?;
            Ok(())
        })
    }

    /// Brings `component`'s schema to `steps.len()`: applies, in one transaction, each step
    /// the database has not seen yet, and records the new version in `ziaxdr_schema`. Steps
    /// are append-only (a released step is never edited). A transaction-scoped advisory lock
    /// makes concurrent callers (nodes starting together) take turns; the second sees the
    /// work done. A database already at a later version than this build knows is refused.
    pub fn migrate(
        &self,
        component: &'static str,
        steps: &'static [&'static str],
    ) -> Result<(), PgError> {
        self.run(move |mut c| async move {
            let tx = c.transaction().await?;
            // An arbitrary constant key, the same for every ziaxdr.
            tx.execute("SELECT pg_advisory_xact_lock(7262001600)", &[])
                .await?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS ziaxdr_schema (
                   component TEXT PRIMARY KEY,
                   version INTEGER NOT NULL)",
            )
            .await?;
            let have: i32 = tx
                .query_opt(
                    "SELECT version FROM ziaxdr_schema WHERE component = $1",
                    &[&component],
                )
                .await?
                .map(|r| r.get(0))
                .unwrap_or(0);
            let want = steps.len() as i32;
            if have > want {
                return Err(PgError::Schema(format!(
                    "the {component} schema in PostgreSQL is at version {have}, newer than this \
                     build's {want}: upgrade ziaxdr"
                )));
            }
            for step in &steps[have as usize..] {
                tx.batch_execute(step).await?;
            }
            if have < want {
                tx.execute(
                    "INSERT INTO ziaxdr_schema (component, version) VALUES ($1, $2)
                     ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                    &[&component, &want],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }
}

enum TxCmd {
    Query(
        String,
        Vec<Param>,
        std::sync::mpsc::SyncSender<Result<Vec<Row>, PgError>>,
    ),
    Execute(
        String,
        Vec<Param>,
        std::sync::mpsc::SyncSender<Result<u64, PgError>>,
    ),
    Commit(std::sync::mpsc::SyncSender<Result<(), PgError>>),
}

/// An open transaction of [`Pg::transaction`]: statements with bound parameters, run in
/// order on one connection. Dropped without a commit, it rolls back.
pub struct Tx {
    cmds: Option<tokio::sync::mpsc::UnboundedSender<TxCmd>>,
    timeout: Duration,
}

impl fmt::Debug for Tx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tx").finish_non_exhaustive()
    }
}

impl Tx {
    fn send<T>(
        &self,
        make: impl FnOnce(std::sync::mpsc::SyncSender<Result<T, PgError>>) -> TxCmd,
    ) -> Result<T, PgError> {
        let Some(cmds) = &self.cmds else {
            return Err(PgError::Unavailable("the transaction is over".into()));
        };
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        cmds.send(make(reply))
            .map_err(|_| PgError::Unavailable("the transaction's connection is gone".into()))?;
        // The runtime bounds each statement by the timeout; this bound only covers a runtime
        // that stopped answering altogether.
        match answer.recv_timeout(self.timeout + Duration::from_secs(1)) {
            Ok(r) => r,
            Err(_) => Err(PgError::Timeout(self.timeout)),
        }
    }

    /// Runs one statement and returns its rows.
    pub fn query(
        &mut self,
        sql: impl Into<String>,
        params: Vec<Param>,
    ) -> Result<Vec<Row>, PgError> {
        let sql = sql.into();
        self.send(|reply| TxCmd::Query(sql, params, reply))
    }

    /// Runs one statement and returns the number of rows it touched.
    pub fn execute(&mut self, sql: impl Into<String>, params: Vec<Param>) -> Result<u64, PgError> {
        let sql = sql.into();
        self.send(|reply| TxCmd::Execute(sql, params, reply))
    }

    fn commit(&mut self) -> Result<(), PgError> {
        let r = self.send(TxCmd::Commit);
        self.cmds = None;
        r
    }
}

/// Boxes a value as a bound parameter.
pub fn p<T: ToSql + Send + Sync + 'static>(v: T) -> Param {
    Box::new(v)
}
