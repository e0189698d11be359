//! Test support (feature `testing`): the NATS servers of the tests. `ZIAXDR_TEST_NATS` is the
//! shared cluster `.ci/nats.sh` started; [`NatsCluster`] starts a cluster of its own from
//! `ZIAXDR_TEST_NATS_SERVER`, for tests that kill and restart nodes.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The URLs of the shared test cluster; panics (the test fails, never skips) without one.
pub fn shared_urls() -> Vec<String> {
    let urls = std::env::var("ZIAXDR_TEST_NATS").unwrap_or_else(|_| {
        panic!("no NATS for the tests: set ZIAXDR_TEST_NATS (source .ci/nats.sh)")
    });
    crate::jetstream::JetStreamConfig::parse_urls(&urls)
}

/// The nats-server binary of the tests.
pub fn server_binary() -> PathBuf {
    std::env::var_os("ZIAXDR_TEST_NATS_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!("no nats-server for the tests: set ZIAXDR_TEST_NATS_SERVER (source .ci/nats.sh)")
        })
}

/// A unique name (stream, subject, consumer) so that tests sharing a cluster do not meet.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}_{}_{nanos}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

struct Node {
    conf: PathBuf,
    monitor: u16,
    child: Option<Child>,
}

/// A JetStream cluster of `n` nodes on loopback, data in a temporary folder; killed on drop.
pub struct NatsCluster {
    _dir: tempfile::TempDir,
    nodes: Vec<Node>,
    urls: Vec<String>,
}

impl NatsCluster {
    /// Starts `n` nodes and waits until each is healthy with JetStream.
    pub fn start(n: usize) -> NatsCluster {
        let dir = tempfile::Builder::new()
            .prefix("ziaxdr-test-nats")
            .tempdir()
            .unwrap_or_else(|e| panic!("temp dir: {e}"));
        let ports: Vec<(u16, u16, u16)> = (0..n)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        let routes: Vec<String> = ports
            .iter()
            .map(|(_, c, _)| format!("nats-route://127.0.0.1:{c}"))
            .collect();
        let mut nodes = Vec::new();
        let mut urls = Vec::new();
        for (i, (client, cluster, monitor)) in ports.iter().enumerate() {
            let data = dir.path().join(format!("n{i}"));
            let conf = dir.path().join(format!("n{i}.conf"));
            let text = format!(
                "server_name: n{i}\nlisten: 127.0.0.1:{client}\nhttp: 127.0.0.1:{monitor}\n\
                 jetstream {{ store_dir: {data:?} }}\n\
                 cluster {{ name: ziaxdr-t, listen: 127.0.0.1:{cluster}, routes: [{}] }}\n",
                routes.join(", ")
            );
            std::fs::write(&conf, text).unwrap_or_else(|e| panic!("write conf: {e}"));
            nodes.push(Node {
                conf,
                monitor: *monitor,
                child: None,
            });
            urls.push(format!("nats://127.0.0.1:{client}"));
        }
        let mut c = NatsCluster {
            _dir: dir,
            nodes,
            urls,
        };
        for i in 0..n {
            c.spawn(i);
        }
        for i in 0..n {
            c.wait_healthy(i);
        }
        c
    }

    fn spawn(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let log = std::fs::File::create(node.conf.with_extension("log"))
            .unwrap_or_else(|e| panic!("log: {e}"));
        let child = Command::new(server_binary())
            .arg("-c")
            .arg(&node.conf)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start nats-server: {e}"));
        node.child = Some(child);
    }

    /// Waits until node `i` answers `/healthz` (JetStream current), up to 30 s.
    pub fn wait_healthy(&self, i: usize) {
        let url = format!("http://127.0.0.1:{}/healthz", self.nodes[i].monitor);
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            if ureq::get(&url).call().is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("NATS node {i} did not become healthy");
    }

    /// The client URLs.
    pub fn urls(&self) -> Vec<String> {
        self.urls.clone()
    }

    /// SIGKILLs node `i` (no clean shutdown).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts node `i` again on the same ports and data, and waits until it is healthy.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i);
        self.wait_healthy(i);
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}
