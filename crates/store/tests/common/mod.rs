//! Shared fixtures: a store filled with known events.
#![allow(dead_code)]

use serde_json::{json, Value};
use store::{Event, EventQuery, EventSearch, EventStore, Query, TimeSpec};
use time::macros::datetime;

/// Turns a `json!` object into an event.
pub fn ev(v: Value) -> Event {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

/// The known events; `seq` equals the journal offset each is added with.
pub fn known_events() -> Vec<Event> {
    vec![
        ev(json!({
            "@timestamp": "2024-05-01T10:00:00Z", "seq": 1,
            "event": {"dataset": "web", "action": "blocked", "category": ["network"]},
            "source": {"ip": "10.1.2.3"},
            "destination": {"ip": "93.184.216.34", "port": 443},
            "url": {"domain": "www.example.com", "original": "https://www.example.com/download/setup.exe"},
            "user": {"name": "alice", "email": "alice@corp.example"},
            "user_agent": {"original": "Mozilla/5.0 (Windows NT 10.0)"},
            "http": {"response": {"status_code": 403}},
            "zscaler": {"zia": {"threat": {"name": "Win32.Trojan.Agent"}, "custom_score": 75}}
        })),
        ev(json!({
            "@timestamp": "2024-05-01T11:30:00Z", "seq": 2,
            "event": {"dataset": "web", "action": "allowed"},
            "source": {"ip": "10.1.9.9"},
            "destination": {"ip": "5.6.7.8", "port": 443},
            "url": {"domain": "api.chat.org", "original": "https://api.chat.org/bot"},
            "user": {"name": "bob"},
            "http": {"response": {"status_code": 200}},
            "zscaler": {"zia": {"custom_score": 5}}
        })),
        ev(json!({
            "@timestamp": "2024-05-02T08:00:00Z", "seq": 3,
            "event": {"dataset": "firewall", "action": "allow"},
            "source": {"ip": "2001:db8::5", "port": 51000},
            "destination": {"ip": "2001:db8:1::1", "port": 22},
            "network": {"protocol": "TCP"},
            "user": {"name": "alice"}
        })),
        ev(json!({
            "@timestamp": "2024-05-02T09:15:00Z", "seq": 4,
            "event": {"dataset": "dns"},
            "source": {"ip": "192.168.1.10"},
            "dns": {"question": {"name": "evil.example.ru"}},
            "user": {"name": "carol"}
        })),
        ev(json!({
            "@timestamp": "2024-05-03T00:00:05Z", "seq": 5,
            "event": {"kind": "pipeline_error"},
            "error": {"message": "unexpected token at column 7"},
            "event.original": "garbage line with SECRETWORD inside"
        })),
        ev(json!({
            "@timestamp": "2024-05-03T12:00:00Z", "seq": 6,
            "event": {"dataset": "tunnel"},
            "source": {"ip": "172.16.0.1"},
            "error": {"code": "TIMEOUT"},
            "user": {"email": "bob@corp.example"},
            "message": "raw tunnel record mentioning NEEDLE"
        })),
    ]
}

/// Adds [`known_events`] to `store` and commits.
pub fn fill(store: &dyn EventStore) {
    for e in known_events() {
        let off = e["seq"].as_u64().unwrap();
        assert!(store.add(off, &e).unwrap());
    }
    store.commit().unwrap();
}

/// Runs the enclosed tests once per backend: each test is compiled into the module
/// `tantivy_backend` and into `clickhouse_backend`, where `new_store`, `filled_store`,
/// `reopen`, `Guard` and `Store` are that backend's (see [`tantivy`] and [`clickhouse`]).
#[allow(unused_macros)]
macro_rules! both_backends {
    ($($item:item)*) => {
        mod tantivy_backend {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use crate::common::tantivy::*;
            $($item)*
        }
        mod clickhouse_backend {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use crate::common::clickhouse::*;
            $($item)*
        }
    };
}

/// The embedded backend: a store in a temporary directory.
pub mod tantivy {
    use store::{Retention, StoreConfig, TantivyStore};

    /// The store type.
    pub type Store = TantivyStore;
    /// Keeps the store's data alive (a temporary directory).
    pub type Guard = tempfile::TempDir;

    /// The store of `guard` with `retention` (enforced at every commit when `interval` is 0).
    pub fn open_with_retention(
        guard: &Guard,
        retention: Retention,
        interval: std::time::Duration,
    ) -> Store {
        let cfg = StoreConfig {
            retention,
            retention_interval: interval,
            ..StoreConfig::default()
        };
        TantivyStore::open(guard.path(), cfg).unwrap()
    }

    /// A new, empty store.
    pub fn new_store() -> (Guard, Store) {
        let d = tempfile::tempdir().unwrap();
        let s = TantivyStore::open(d.path(), StoreConfig::default()).unwrap();
        (d, s)
    }

    /// The store of `guard` opened again (after the previous handle was dropped).
    pub fn reopen(guard: &Guard) -> Store {
        TantivyStore::open(guard.path(), StoreConfig::default()).unwrap()
    }

    /// A new store filled with [`super::known_events`].
    pub fn filled_store() -> (Guard, Store) {
        let (d, s) = new_store();
        super::fill(&s);
        (d, s)
    }

    /// Partitions (days) of the store.
    pub fn partition_days(s: &Store) -> Vec<String> {
        s.partitions().into_iter().map(|(d, _)| d).collect()
    }

    /// Makes the store of `guard` (closed) report `off` as its committed offset, as after a
    /// crash between storing events and recording the offset.
    pub fn set_committed_offset(guard: &Guard, off: u64) {
        std::fs::write(
            guard.path().join("checkpoint.json"),
            format!(r#"{{"offset":{off}}}"#),
        )
        .unwrap();
    }

    /// What a crash-test child process needs to open the store of `guard`.
    pub fn crash_child_id(guard: &Guard) -> String {
        guard.path().display().to_string()
    }

    /// The store a crash-test child writes to (small segments: commits are frequent).
    pub fn open_for_crash_child(id: &str) -> Store {
        let cfg = StoreConfig {
            writer_memory_bytes: 16 << 20,
            ..StoreConfig::default()
        };
        TantivyStore::open(id, cfg).unwrap()
    }
}

/// The ClickHouse backend: a database of its own per test on the test server (see
/// [`clickhouse_url`]), dropped when the guard is.
pub mod clickhouse {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    use store::{ClickHouseConfig, ClickHouseStore, Retention};

    /// The store type.
    pub type Store = ClickHouseStore;

    /// A test's database; dropped with the guard.
    pub struct Guard {
        /// The configuration opening it.
        pub cfg: ClickHouseConfig,
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = ureq::post(&self.cfg.url)
                .send(format!("DROP DATABASE IF EXISTS {}", self.cfg.database));
        }
    }

    /// The URL of the ClickHouse server of the tests: `ZIAXDR_TEST_CLICKHOUSE` (set by
    /// `.ci/clickhouse.sh`), else a server started for this test binary from Debian's
    /// `clickhouse-server` (stopped when the binary exits). Neither: the test fails.
    pub fn clickhouse_url() -> String {
        static URL: OnceLock<String> = OnceLock::new();
        URL.get_or_init(|| {
            if let Ok(u) = std::env::var("ZIAXDR_TEST_CLICKHOUSE") {
                return u;
            }
            start_server().unwrap_or_else(|e| {
                panic!(
                    "no ClickHouse for the tests: {e}; install clickhouse-server (apt) or set \
                     ZIAXDR_TEST_CLICKHOUSE (source .ci/clickhouse.sh)"
                )
            })
        })
        .clone()
    }

    fn start_server() -> Result<String, String> {
        let bin = ["/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .ok_or("clickhouse-server is not installed")?;
        let dir = tempfile::Builder::new()
            .prefix("ziaxdr-test-ch")
            .tempdir()
            .map_err(|e| e.to_string())?
            .keep();
        let port = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .map_err(|e| e.to_string())
        };
        let (http, tcp, inter) = (port()?, port()?, port()?);
        let d = dir.display();
        // A watchdog shell stops the server (and removes its data) once this test process,
        // its parent, is gone: a test binary has no hook that runs at exit.
        let script = format!(
            "mkdir -p {d}/tmp {d}/uf {d}/fs; {bin} --config-file=/etc/clickhouse-server/config.xml -- \
             --path={d}/ --tmp_path={d}/tmp/ --user_files_path={d}/uf/ --format_schema_path={d}/fs/ \
             --logger.log={d}/ch.log --logger.errorlog={d}/err.log --listen_host=127.0.0.1 \
             --http_port={http} --tcp_port={tcp} --interserver_http_port={inter} >/dev/null 2>&1 & \
             pid=$!; while kill -0 $PPID 2>/dev/null; do sleep 1; done; kill $pid; wait $pid; rm -rf {d}"
        );
        std::process::Command::new("bash")
            .arg("-c")
            .arg(script)
            .stdin(std::process::Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let url = format!("http://127.0.0.1:{http}");
        for _ in 0..150 {
            if let Ok(mut r) = ureq::get(format!("{url}/ping")).call() {
                if r.body_mut().read_to_string().is_ok_and(|b| b == "Ok.\n") {
                    return Ok(url);
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        Err(format!(
            "clickhouse-server did not answer on {url} (log in {d})"
        ))
    }

    fn new_guard() -> Guard {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let mut cfg = ClickHouseConfig::new(clickhouse_url());
        cfg.database = format!(
            "test_{}_{}_{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        Guard { cfg }
    }

    /// The store of `guard` with `retention` (enforced at every commit when `interval` is 0).
    pub fn open_with_retention(
        guard: &Guard,
        retention: Retention,
        interval: std::time::Duration,
    ) -> Store {
        let mut cfg = guard.cfg.clone();
        cfg.retention = retention;
        cfg.retention_interval = interval;
        ClickHouseStore::open(cfg).unwrap()
    }

    /// A new, empty store.
    pub fn new_store() -> (Guard, Store) {
        let g = new_guard();
        let s = ClickHouseStore::open(g.cfg.clone()).unwrap();
        (g, s)
    }

    /// The store of `guard` opened again (after the previous handle was dropped).
    pub fn reopen(guard: &Guard) -> Store {
        ClickHouseStore::open(guard.cfg.clone()).unwrap()
    }

    /// A new store filled with [`super::known_events`].
    pub fn filled_store() -> (Guard, Store) {
        let (g, s) = new_store();
        super::fill(&s);
        (g, s)
    }

    /// Partitions (days) of the store.
    pub fn partition_days(s: &Store) -> Vec<String> {
        s.partitions()
            .unwrap()
            .into_iter()
            .map(|(d, _)| d)
            .collect()
    }

    fn sql(url: &str, q: &str) {
        let mut r = ureq::post(url).send(q).unwrap();
        let body = r.body_mut().read_to_string().unwrap();
        assert!(r.status().is_success(), "{q}: {body}");
    }

    /// Makes the store of `guard` (closed) report `off` as its committed offset, as after a
    /// crash between storing events and recording the offset.
    pub fn set_committed_offset(guard: &Guard, off: u64) {
        let db = &guard.cfg.database;
        sql(&guard.cfg.url, &format!("TRUNCATE TABLE {db}.commits"));
        sql(
            &guard.cfg.url,
            &format!("INSERT INTO {db}.commits (offset, at) VALUES ({off}, now())"),
        );
    }

    /// What a crash-test child process needs to open the store of `guard`.
    pub fn crash_child_id(guard: &Guard) -> String {
        format!("{} {}", guard.cfg.url, guard.cfg.database)
    }

    /// The store a crash-test child writes to.
    pub fn open_for_crash_child(id: &str) -> Store {
        let (url, db) = id.split_once(' ').unwrap();
        let mut cfg = ClickHouseConfig::new(url);
        cfg.database = db.to_string();
        ClickHouseStore::open(cfg).unwrap()
    }
}

/// The whole fixture period.
pub fn all_time() -> TimeSpec {
    TimeSpec {
        from: Some("2024-04-30".into()),
        to: Some("2024-05-04".into()),
        since: None,
    }
}

/// A parsed query over `time`.
pub fn eq(query: &str, time: &TimeSpec) -> EventQuery {
    EventQuery {
        query: Query::parse(query).unwrap(),
        range: time.resolve(datetime!(2030-01-01 0:00 UTC)).unwrap(),
    }
}

/// The `seq` of every event matching `query` over the fixture period, sorted.
pub fn seqs(store: &dyn EventSearch, query: &str) -> Vec<u64> {
    seqs_in(store, query, &all_time())
}

/// The `seq` of every event matching `query` over `time`, sorted.
pub fn seqs_in(store: &dyn EventSearch, query: &str, time: &TimeSpec) -> Vec<u64> {
    let page = store.search(&eq(query, time), 1000, None).unwrap();
    let mut v: Vec<u64> = page
        .events
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    v.sort();
    v
}

/// The shared Sekoia conformance vectors (`{"input": {"message": RAW}, "expected": EVENT}`),
/// sorted by file name.
pub fn conformance_vectors() -> Vec<Value> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/sekoia-zscaler-zia"
    );
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect()
}

/// A TCP proxy in front of a server that a test can cut and restore, to make the server
/// unreachable without stopping it (other tests share it).
pub mod proxy {
    use std::io::{Read, Write};
    use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    /// The proxy; its accept thread lives as long as the test binary.
    pub struct Proxy {
        /// Where clients connect.
        pub addr: SocketAddr,
        up: Arc<AtomicBool>,
        conns: Arc<Mutex<Vec<TcpStream>>>,
    }

    fn pump(mut from: TcpStream, mut to: TcpStream) {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    }

    impl Proxy {
        /// A proxy to `target` (`host:port`), up.
        pub fn start(target: &str) -> Proxy {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let up = Arc::new(AtomicBool::new(true));
            let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
            let (u, c, target) = (up.clone(), conns.clone(), target.to_string());
            std::thread::spawn(move || {
                for client in listener.incoming().flatten() {
                    // Down: the connection is closed at once, as a dead server's would be.
                    if !u.load(Ordering::SeqCst) {
                        let _ = client.shutdown(Shutdown::Both);
                        continue;
                    }
                    let Ok(server) = TcpStream::connect(&target) else {
                        continue;
                    };
                    if let (Ok(c1), Ok(s1)) = (client.try_clone(), server.try_clone()) {
                        c.lock().unwrap().extend([c1, s1]);
                    }
                    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                    std::thread::spawn(move || pump(client, server));
                    std::thread::spawn(move || pump(s2, c2));
                }
            });
            Proxy { addr, up, conns }
        }

        /// The proxy's HTTP URL.
        pub fn url(&self) -> String {
            format!("http://{}", self.addr)
        }

        /// Cuts every connection and refuses new ones (`false`), or lets them through again.
        pub fn set_up(&self, up: bool) {
            self.up.store(up, Ordering::SeqCst);
            if !up {
                for s in self.conns.lock().unwrap().drain(..) {
                    let _ = s.shutdown(Shutdown::Both);
                }
            }
        }
    }

    /// `host:port` of an `http://host:port` URL.
    pub fn host_port(url: &str) -> String {
        url.trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string()
    }
}
