//! Test support: a database of its own for each test, on the CI's server
//! (`ZIAXDR_TEST_POSTGRES`, set by `.ci/postgres.sh`) or, without it, on a server this test
//! binary starts from Debian's PostgreSQL 15; and private servers a test can stop and start
//! (for outage tests). With neither a URL nor an installed PostgreSQL, tests fail: they never
//! skip.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::{Pg, PgConfig};

/// Where Debian installs PostgreSQL 15's server binaries.
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

const TEST_USER: &str = "ziaxdr_test";
const TEST_PASSWORD: &str = "ziaxdr-test-password";

/// `url` with its database replaced by `db` (URL form only).
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    // The path starts at the first '/' after the authority (`scheme://authority/path`).
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{db}?{q}"),
        None => format!("{root}/{db}"),
    }
}

/// The server URL the tests use: `ZIAXDR_TEST_POSTGRES`, else a server started once for this
/// test binary (stopped when the binary exits). Panics when neither can be had.
pub fn server_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(u) = std::env::var("ZIAXDR_TEST_POSTGRES") {
            if !u.is_empty() {
                return u;
            }
        }
        match TestServer::start() {
            Ok(s) => {
                let url = s.url();
                // Lives as long as the test binary; its watchdog stops it after the binary.
                std::mem::forget(s);
                url
            }
            Err(e) => panic!(
                "no PostgreSQL for the tests: {e}; install postgresql-15 (apt) or set \
                 ZIAXDR_TEST_POSTGRES (source .ci/postgres.sh)"
            ),
        }
    })
    .clone()
}

/// A new, empty database on `server` (a URL); returns its URL.
pub fn fresh_database_on(server: &str, prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "{}_{}_{}_{}",
        prefix
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            })
            .collect::<String>(),
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    let admin = Pg::connect(&PgConfig::new(with_database(server, "postgres")))
        .expect("PostgreSQL test configuration");
    // The name is made of [a-z0-9_] above, so quoting it as an identifier is safe.
    admin
        .run({
            let name = name.clone();
            move |c| async move {
                c.batch_execute(&format!("CREATE DATABASE \"{name}\""))
                    .await?;
                Ok(())
            }
        })
        .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
    with_database(server, &name)
}

/// A new, empty database on the tests' server ([`server_url`]); returns its URL.
pub fn fresh_database(prefix: &str) -> String {
    fresh_database_on(&server_url(), prefix)
}

/// A connection to a new, empty database on the tests' server.
pub fn fresh(prefix: &str) -> Pg {
    Pg::connect(&PgConfig::new(fresh_database(prefix))).expect("PostgreSQL test configuration")
}

/// A private PostgreSQL server in a temporary folder, on a free loopback port, that a test
/// can stop and start again (same port, same data). Stopped and removed when dropped.
pub struct TestServer {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

fn as_postgres_user(cmd: &str, args: &[&str]) -> Command {
    // initdb refuses root; as root, the server runs as the postgres user.
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false);
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", cmd]).args(args);
        c
    } else {
        let mut c = Command::new(cmd);
        c.args(args);
        c
    }
}

impl TestServer {
    /// Creates and starts a server; waits until it accepts the test role.
    pub fn start() -> Result<TestServer, String> {
        let initdb = format!("{PG_BIN}/initdb");
        if !Path::new(&initdb).exists() {
            return Err(format!("{initdb} is not installed"));
        }
        let dir = tempfile::Builder::new()
            .prefix("ziaxdr-test-pg")
            .tempdir_in("/tmp")
            .map_err(|e| e.to_string())?
            .keep();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| e.to_string())?;
        let d = dir.display().to_string();
        // The postgres user must own the folder; chown as root, harmless otherwise.
        let _ = Command::new("chown").args(["postgres:", &d]).status();
        let _ = std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755));
        let pwfile = dir.join("pwfile");
        std::fs::write(&pwfile, format!("{TEST_PASSWORD}\n")).map_err(|e| e.to_string())?;
        let _ = Command::new("chown")
            .args(["postgres:", &pwfile.display().to_string()])
            .status();
        let out = as_postgres_user(
            &initdb,
            &[
                "-D",
                &format!("{d}/data"),
                "-U",
                TEST_USER,
                &format!("--pwfile={}", pwfile.display()),
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
        )
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(&pwfile);
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let mut s = TestServer {
            dir,
            port,
            child: None,
        };
        s.resume()?;
        Ok(s)
    }

    /// The server's URL (database `postgres`).
    pub fn url(&self) -> String {
        format!(
            "postgres://{TEST_USER}:{TEST_PASSWORD}@127.0.0.1:{}/postgres",
            self.port
        )
    }

    /// Stops the server at once (as a crash would: `SIGKILL` of the postmaster would leave
    /// its children, so this is PostgreSQL's immediate shutdown).
    pub fn stop(&mut self) {
        let d = self.dir.display().to_string();
        let _ = as_postgres_user(
            &format!("{PG_BIN}/pg_ctl"),
            &["-D", &format!("{d}/data"), "-m", "immediate", "-w", "stop"],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }

    /// Starts the (stopped) server again on the same port and waits until it answers.
    pub fn resume(&mut self) -> Result<(), String> {
        let d = self.dir.display().to_string();
        let port = self.port.to_string();
        let parent = std::process::id().to_string();
        // A watchdog shell stops the server once this test process is gone, and then removes
        // its folder: a test binary has no hook that runs at exit, a leftover server would
        // hold the port, and a leftover folder (a quarter of a GB) fills the disk run by run.
        let script = format!(
            "{PG_BIN}/postgres -D {d}/data -c listen_addresses=127.0.0.1 -c port={port} \
             -c unix_socket_directories={d} -c max_connections=200 -c fsync=off \
             >>{d}/server.log 2>&1 & pid=$!; \
             while [ -d /proc/{parent} ] && kill -0 $pid 2>/dev/null; do sleep 0.5; done; \
             kill -INT $pid 2>/dev/null; wait $pid; \
             [ -d /proc/{parent} ] || rm -rf {d}"
        );
        let child = as_postgres_user("bash", &["-c", &script])
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        let pg = Pg::connect(&PgConfig {
            timeout: Duration::from_secs(2),
            ..PgConfig::new(self.url())
        })
        .map_err(|e| e.to_string())?;
        loop {
            match pg.ping() {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    let log =
                        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                    return Err(format!("PostgreSQL did not start: {e}; log: {log}"));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs the enclosed tests once per state backend: each test is compiled into the module
/// `sqlite_backend`, with the items of the caller's module `sqlite` in scope, and into
/// `postgres_backend`, with those of its module `postgres` (each defines the same helpers,
/// say `open()`, over its backend). One behaviour suite, two implementations.
#[macro_export]
macro_rules! both_backends {
    ($($item:item)*) => {
        mod sqlite_backend {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use super::sqlite::*;
            $($item)*
        }
        mod postgres_backend {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use super::postgres::*;
            $($item)*
        }
    };
}
