//! `ziaxdr demo`: the server on embedded defaults, fed by the simulator with every log type
//! and some malicious activity, with the shipped rules and sample threat intelligence, so a
//! newcomer sees events and alerts in the console within a minute.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use serde_json::json;

/// Arguments of `ziaxdr demo`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ziaxdr demo\n  ziaxdr demo --http 127.0.0.1:9090 --rate 200\n\n\
The demo keeps its data in --data (created if needed) and prints the console URL and a new\n\
admin password at each start. Ctrl-C stops it; run it again to go on with the same data."
)]
pub struct Args {
    /// Data directory of the demo.
    #[arg(long, default_value = "ziaxdr-demo")]
    pub data: PathBuf,
    /// Where events are stored (the embedded store unless --clickhouse is given).
    #[command(flatten)]
    pub clickhouse: crate::wiring::ClickHouseArgs,
    /// Address of the console and the HTTP intake.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,
    /// Simulated records per second.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Share of simulated records showing malicious activity (0-1).
    #[arg(long, default_value_t = 0.05)]
    pub malicious: f64,
    /// STIX 2.1 bundles (files or directories) to import besides the simulator's own
    /// indicators [default: ../shared/cti when it exists].
    #[arg(long)]
    pub cti: Vec<PathBuf>,
    /// Stop after this long (e.g. `10m`); runs until Ctrl-C by default.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
}

/// The name of the demo's intake.
const DEMO_INTAKE: &str = "Demo feed (simulated Cloud NSS)";

/// Every log type, weighted roughly as a real tenant's traffic.
const MIX: &[(nss::LogType, u32)] = &[
    (nss::LogType::Web, 8),
    (nss::LogType::Firewall, 4),
    (nss::LogType::Dns, 4),
    (nss::LogType::Tunnel, 1),
    (nss::LogType::Audit, 1),
    (nss::LogType::SaasSecurity, 1),
    (nss::LogType::SaasSecurityActivity, 1),
    (nss::LogType::EndpointDlp, 1),
    (nss::LogType::EmailDlp, 1),
];

/// A STIX 2.1 bundle of the simulator's malicious destinations, so that CTI alerts appear
/// even without sample bundles at hand.
fn simulator_bundle() -> serde_json::Value {
    let now = "2024-01-01T00:00:00Z";
    let mut objects = Vec::new();
    for (i, site) in sim::pools::BAD_SITES.iter().enumerate() {
        objects.push(json!({
            "type": "indicator", "spec_version": "2.1",
            "id": format!("indicator--00000000-0000-4000-8000-{:012}", i + 1),
            "created": now, "modified": now, "valid_from": now,
            "name": format!("{} ({})", site.threat, site.host),
            "pattern": format!("[domain-name:value = '{}']", site.host),
            "pattern_type": "stix", "indicator_types": ["malicious-activity"],
        }));
    }
    for (i, ip) in sim::pools::BAD_IPS.iter().enumerate() {
        objects.push(json!({
            "type": "indicator", "spec_version": "2.1",
            "id": format!("indicator--00000000-0000-4000-9000-{:012}", i + 1),
            "created": now, "modified": now, "valid_from": now,
            "name": format!("Botnet C2 {ip}"),
            "pattern": format!("[ipv4-addr:value = '{ip}']"),
            "pattern_type": "stix", "indicator_types": ["malicious-activity"],
        }));
    }
    json!({"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000000", "objects": objects})
}

/// The `.json` files under `paths` (directories are walked), in a stable order.
fn stix_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo: Vec<PathBuf> = paths.to_vec();
    while let Some(p) = todo.pop() {
        if p.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                todo.extend(rd.filter_map(|e| e.ok().map(|e| e.path())));
            }
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Imports the simulator's indicators and the sample bundles; returns how many were stored.
fn import_cti(data: &Path, extra: &[PathBuf]) -> anyhow::Result<usize> {
    let mut store = detect::cti::CtiStore::open(data).context("cannot open the CTI database")?;
    store.import_doc(&simulator_bundle(), "ziaxdr demo: simulator indicators")?;
    let mut paths = extra.to_vec();
    if paths.is_empty() {
        let shared = PathBuf::from("../shared/cti");
        if shared.is_dir() {
            paths.push(shared);
        }
    }
    for f in stix_files(&paths) {
        // Sample folders hold other JSON too (schemas, non-bundles): a file that is not JSON
        // is skipped with a note, never a reason for the demo not to start.
        let doc = std::fs::read_to_string(&f)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
        match doc {
            Some(doc) => {
                let report = store.import_doc(&doc, &f.display().to_string())?;
                tracing::debug!(file = %f.display(), ?report, "imported sample CTI");
            }
            None => tracing::info!(file = %f.display(), "not JSON, skipped"),
        }
    }
    Ok(store.count()? as usize)
}

/// Finds or creates the demo intake and gives it a fresh key (keys are stored hashed, so the
/// simulator can only learn one by making it).
fn demo_intake(data: &Path) -> anyhow::Result<String> {
    let reg = intake::Registry::open_in(data).context("cannot open the intake registry")?;
    reg.bootstrap()?;
    let existing = reg
        .list_intakes()?
        .into_iter()
        .find(|i| i.name == DEMO_INTAKE);
    let key = match existing {
        Some(i) => reg.rotate_key(i.uuid)?.intake_key,
        None => {
            let entity = reg
                .list_entities()?
                .into_iter()
                .next()
                .context("the registry has no entity")?;
            reg.create_intake(DEMO_INTAKE, "zscaler-zia", entity.uuid)?
                .intake_key
        }
    };
    Ok(key)
}

/// A new admin password for each demo start: the demo prints it every time.
fn demo_password(data: &Path) -> anyhow::Result<String> {
    let accounts = console::accounts::Accounts::open(data)?;
    if let Some(p) = accounts.ensure_admin()? {
        return Ok(p);
    }
    let p = intake::registry::generate_key();
    accounts
        .set_password("admin", &p)
        .context("cannot reset the demo admin's password")?;
    Ok(p)
}

/// Set when the server stops, so that the feed stops too.
static STOP: AtomicBool = AtomicBool::new(false);
/// How long the demo waits for its feed to stop once the server has stopped.
const FEED_STOP_WAIT: Duration = Duration::from_secs(3);

/// How much the demo feed sends.
#[derive(Clone, Copy)]
struct Feed {
    rate: f64,
    malicious: f64,
    duration: Option<Duration>,
}

/// Feeds the server like Cloud NSS once it listens.
fn feed(addr: SocketAddr, key: String, shape: Feed) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if STOP.load(Ordering::Relaxed) || started.elapsed() > Duration::from_secs(60) {
            anyhow::bail!("the server did not start listening on {addr}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut gen = sim::Generator::new(&sim::GenConfig {
        seed: sim::gen::record_id_from_clock() as u64,
        mix: MIX.to_vec(),
        malicious: shape.malicious,
        transport: nss::Transport::CloudNss,
    })?
    .with_first_record_id(sim::gen::record_id_from_clock());
    let mut sink = sim::HttpSink::new(sim::HttpConfig {
        url: format!("http://{addr}/plain/batch?status_code=200"),
        key: Some(key),
        key_header: nss::recommended::INTAKE_KEY_HEADER.into(),
        gzip: true,
        batch_bytes: 512 * 1024,
        batch_age: Duration::from_secs(1),
        retry_for: Duration::from_secs(3600),
        timeout: Duration::from_secs(30),
        ca_pem: None,
    })?;
    let config = sim::RunConfig {
        count: None,
        duration: shape.duration,
        rate: Some(shape.rate.max(1.0)),
    };
    let summary = sim::run_until(&mut gen, &mut sink, &config, &STOP, &mut |_| {})?;
    tracing::info!(%summary, "demo feed stopped");
    Ok(())
}

/// Runs `ziaxdr demo`.
pub fn run(args: Args) -> anyhow::Result<i32> {
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("cannot create {}", args.data.display()))?;
    let key = demo_intake(&args.data)?;
    let password = demo_password(&args.data)?;
    let indicators = import_cti(&args.data, &args.cti)?;
    let opts = crate::cmd::serve::Opts {
        data: Some(args.data.clone()),
        http: Some(args.http),
        // A free port: a demo must not fail because another syslog receiver runs.
        syslog: Some("127.0.0.1:0".into()),
        clickhouse: args.clickhouse.clickhouse.clone(),
        clickhouse_user: args.clickhouse.clickhouse_user.clone(),
        clickhouse_password: args.clickhouse.clickhouse_password.clone(),
        clickhouse_database: args.clickhouse.clickhouse_database.clone(),
        ..Default::default()
    };
    let cfg = opts.server_config()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let addr = args.http;
    println!(
        "ziaxdr demo\n\
         \x20 console:  http://{addr}/console/\n\
         \x20 user:     admin\n\
         \x20 password: {password}\n\
         \x20 feed:     {rate} simulated ZIA records/s of every log type ({pct}% malicious) into intake \"{DEMO_INTAKE}\"\n\
         \x20 rules:    the shipped ZIA pack; CTI: {indicators} indicators\n\
         \x20 data:     {data}\n\
         Events and alerts appear in the console within a minute. Ctrl-C stops the demo.",
        rate = args.rate,
        pct = (args.malicious * 100.0).round(),
        data = args.data.display(),
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let feeder = std::thread::Builder::new()
        .name("demo-feed".into())
        .spawn({
            let shape = Feed {
                rate: args.rate,
                malicious: args.malicious,
                duration: args.duration,
            };
            move || {
                if let Err(e) = feed(addr, key, shape) {
                    tracing::error!(error = %e, "demo feed failed");
                }
            }
        })?;
    let result = rt.block_on(async {
        let shutdown = crate::cmd::serve::shutdown_signal()?;
        let limit = args.duration;
        let stop = async move {
            match limit {
                // Leave the pipeline a moment to store the last batch.
                Some(d) => {
                    tokio::select! {
                        _ = shutdown => {},
                        _ = tokio::time::sleep(d + Duration::from_secs(3)) => {},
                    }
                }
                None => shutdown.await,
            }
        };
        crate::cmd::serve::serve(opts, cfg, stop).await
    });
    STOP.store(true, Ordering::Relaxed);
    // The feed's last batch has nowhere to go once the server has stopped, and its sender
    // retries for up to an hour: it gets a moment to finish, and is otherwise left to end
    // with the process (a simulated batch of at most a second is all that goes).
    let deadline = std::time::Instant::now() + FEED_STOP_WAIT;
    while !feeder.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if feeder.is_finished() {
        let _ = feeder.join();
    } else {
        tracing::info!("demo feed still retrying its last batch; leaving it");
    }
    result?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulator_bundle_indicators_parse_as_stix() {
        let doc = simulator_bundle();
        let (inds, skipped) = detect::cti::indicators_of(&doc);
        assert_eq!(
            inds.len(),
            sim::pools::BAD_SITES.len() + sim::pools::BAD_IPS.len()
        );
        assert!(skipped.is_empty(), "{skipped:?}");
    }

    #[test]
    fn the_mix_covers_every_log_type() {
        for lt in nss::LogType::ALL {
            assert!(MIX.iter().any(|(t, _)| *t == lt), "{lt} missing");
        }
    }
}
