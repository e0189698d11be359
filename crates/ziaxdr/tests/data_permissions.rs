//! The data directory is private: after a server ran with the event store, every directory
//! under it is 0700 and every file 0600 (journal, registry, accounts, index, ...).

mod intake_common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use intake_common::*;

fn modes(dir: &Path, out: &mut Vec<(String, u32)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        out.push((
            e.path().display().to_string(),
            m.permissions().mode() & 0o777,
        ));
        if m.is_dir() {
            modes(&e.path(), out);
        }
    }
}

#[test]
fn every_directory_is_0700_and_every_file_0600_under_the_data_directory() {
    let data = Scratch::new("perms");
    // A directory left open by an earlier version is tightened too.
    std::fs::set_permissions(&data.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (_, key) = create_intake(&data.0);
    let serve = Serve::spawn(
        &[
            "serve",
            "--data",
            data.0.to_str().unwrap(),
            "--http",
            "127.0.0.1:0",
            "--syslog",
            "127.0.0.1:0",
        ],
        &[],
    );
    let a = http(
        serve.http,
        "POST",
        "/plain/batch",
        &[("x-sekoiaio-intake-key", &key)],
        b"one event\n",
    )
    .unwrap();
    assert_eq!(a.status, 202);
    // The store commits within 2 s.
    std::thread::sleep(Duration::from_secs(3));
    let (code, _) = serve.terminate();
    assert_eq!(code, 0);
    let top = std::fs::metadata(&data.0).unwrap().permissions().mode() & 0o777;
    assert_eq!(top, 0o700);
    let mut all = Vec::new();
    modes(&data.0, &mut all);
    assert!(all.iter().any(|(p, _)| p.contains("journal")));
    assert!(all.iter().any(|(p, _)| p.contains("store")));
    let open: Vec<_> = all
        .iter()
        .filter(|(p, m)| {
            let dir = Path::new(p).is_dir();
            *m != if dir { 0o700 } else { 0o600 }
        })
        .collect();
    assert!(open.is_empty(), "not private: {open:?}");
}
