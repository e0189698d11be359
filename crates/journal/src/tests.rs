use super::*;

fn small() -> Config {
    Config {
        segment_bytes: 256,
        ..Config::default()
    }
}

/// A budget of a few records, in segments of about one record each.
fn tiny_budget() -> Config {
    Config {
        segment_bytes: 64,
        max_disk_bytes: 200,
        ..Config::default()
    }
}

fn rec(i: usize) -> Vec<u8> {
    format!("record-{i:04}").into_bytes()
}

fn read_all(j: &Journal, from: u64) -> Vec<(u64, Vec<u8>)> {
    let mut r = j.read_from(from).unwrap();
    let mut out = Vec::new();
    while let Some(x) = r.next_record().unwrap() {
        out.push(x);
    }
    out
}

#[test]
fn appended_records_get_consecutive_offsets_and_read_back_in_order() {
    let d = tempfile::tempdir().unwrap();
    let j = Journal::open(d.path(), small()).unwrap();
    assert_eq!(j.append_blocking(vec![rec(0), rec(1)]).unwrap(), 0..2);
    assert_eq!(j.append_blocking(vec![rec(2)]).unwrap(), 2..3);
    let all = read_all(&j, 0);
    assert_eq!(all.len(), 3);
    assert_eq!(all[2], (2, rec(2)));
}

#[test]
fn records_span_several_segments_and_replay_from_any_offset() {
    let d = tempfile::tempdir().unwrap();
    let j = Journal::open(d.path(), small()).unwrap();
    for i in 0..100 {
        j.append_blocking(vec![rec(i)]).unwrap();
    }
    assert!(list_segments(d.path()).unwrap().len() > 3);
    let tail = read_all(&j, 57);
    assert_eq!(tail.len(), 43);
    assert_eq!(tail[0], (57, rec(57)));
    assert_eq!(tail[42], (99, rec(99)));
}

#[test]
fn reopening_keeps_offsets_monotonic() {
    let d = tempfile::tempdir().unwrap();
    {
        let j = Journal::open(d.path(), small()).unwrap();
        for i in 0..30 {
            j.append_blocking(vec![rec(i)]).unwrap();
        }
    }
    let j = Journal::open(d.path(), small()).unwrap();
    assert_eq!(j.end_offset(), 30);
    assert_eq!(j.append_blocking(vec![rec(30)]).unwrap(), 30..31);
    assert_eq!(read_all(&j, 0).len(), 31);
}

#[test]
fn a_torn_tail_is_truncated_on_open() {
    let d = tempfile::tempdir().unwrap();
    {
        let j = Journal::open(d.path(), Config::default()).unwrap();
        j.append_blocking(vec![rec(0), rec(1)]).unwrap();
    }
    let seg = list_segments(d.path()).unwrap().pop().unwrap().path;
    let good_len = fs::metadata(&seg).unwrap().len();
    // A crash mid-write: a header promising 100 bytes followed by only 3.
    let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&100u32.to_le_bytes()).unwrap();
    f.write_all(&0u32.to_le_bytes()).unwrap();
    f.write_all(b"abc").unwrap();
    drop(f);
    let j = Journal::open(d.path(), Config::default()).unwrap();
    assert_eq!(fs::metadata(&seg).unwrap().len(), good_len);
    assert_eq!(j.end_offset(), 2);
    assert_eq!(j.append_blocking(vec![rec(2)]).unwrap(), 2..3);
    assert_eq!(read_all(&j, 0)[2], (2, rec(2)));
}

#[test]
fn a_record_with_a_bad_crc_ends_the_recovered_log() {
    let d = tempfile::tempdir().unwrap();
    {
        let j = Journal::open(d.path(), Config::default()).unwrap();
        j.append_blocking(vec![rec(0), rec(1), rec(2)]).unwrap();
    }
    let seg = list_segments(d.path()).unwrap().pop().unwrap().path;
    let mut bytes = fs::read(&seg).unwrap();
    let second_payload = (HEADER_BYTES as usize) * 2 + rec(0).len();
    bytes[second_payload] ^= 0xff;
    fs::write(&seg, &bytes).unwrap();
    let j = Journal::open(d.path(), Config::default()).unwrap();
    assert_eq!(j.end_offset(), 1);
}

#[test]
fn checkpoint_persists_and_deletes_segments_below_it() {
    let d = tempfile::tempdir().unwrap();
    let j = Journal::open(d.path(), small()).unwrap();
    for i in 0..100 {
        j.append_blocking(vec![rec(i)]).unwrap();
    }
    let before = list_segments(d.path()).unwrap().len();
    let used_before = j.disk_usage();
    j.commit_checkpoint(79).unwrap();
    let after = list_segments(d.path()).unwrap();
    assert!(after.len() < before);
    assert!(after[0].base <= 80, "offset 80 must still be readable");
    assert!(j.disk_usage() < used_before);
    assert!(matches!(j.read_from(0), Err(Error::Deleted { .. })));
    assert_eq!(read_all(&j, 80).len(), 20);
    drop(j);
    let j = Journal::open(d.path(), small()).unwrap();
    assert_eq!(j.checkpoint(), Some(79));
    assert_eq!(j.end_offset(), 100);
}

#[test]
fn the_active_segment_is_never_deleted() {
    let d = tempfile::tempdir().unwrap();
    let j = Journal::open(d.path(), Config::default()).unwrap();
    j.append_blocking(vec![rec(0), rec(1)]).unwrap();
    j.commit_checkpoint(1).unwrap();
    assert_eq!(list_segments(d.path()).unwrap().len(), 1);
    assert_eq!(j.append_blocking(vec![rec(2)]).unwrap(), 2..3);
}

#[test]
fn a_full_budget_yields_the_distinct_full_error_until_space_is_freed() {
    let d = tempfile::tempdir().unwrap();
    let j = Journal::open(d.path(), tiny_budget()).unwrap();
    let mut n = 0;
    let err = loop {
        match j.append_blocking(vec![rec(n)]) {
            Ok(_) => n += 1,
            Err(e) => break e,
        }
    };
    assert!(err.is_full(), "{err}");
    assert!(n > 0);
    j.commit_checkpoint(n as u64 - 1).unwrap();
    assert!(j.append_blocking(vec![rec(n)]).is_ok());
}

#[test]
fn an_oversized_record_is_refused_without_poisoning() {
    let d = tempfile::tempdir().unwrap();
    let cfg = Config {
        max_record_bytes: 10,
        ..Config::default()
    };
    let j = Journal::open(d.path(), cfg).unwrap();
    assert!(matches!(
        j.append_blocking(vec![vec![0u8; 11]]),
        Err(Error::TooLarge { size: 11, max: 10 })
    ));
    assert_eq!(j.append_blocking(vec![vec![1u8; 10]]).unwrap(), 0..1);
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let _j = Journal::open(d.path(), Config::default()).unwrap();
    assert!(matches!(
        Journal::open(d.path(), Config::default()),
        Err(Error::Locked(_))
    ));
}

#[test]
fn concurrent_appenders_all_get_distinct_durable_offsets() {
    let d = tempfile::tempdir().unwrap();
    let j = Journal::open(d.path(), small()).unwrap();
    let mut handles = Vec::new();
    for t in 0..8 {
        let j = j.clone();
        handles.push(std::thread::spawn(move || {
            (0..50)
                .map(|i| j.append_blocking(vec![rec(t * 1000 + i)]).unwrap().start)
                .collect::<Vec<_>>()
        }));
    }
    let mut offsets: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    offsets.sort_unstable();
    assert_eq!(offsets, (0..400).collect::<Vec<_>>());
    assert_eq!(read_all(&j, 0).len(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_appends_resolve_after_the_write() {
    let d = tempfile::tempdir().unwrap();
    let j = Journal::open(d.path(), Config::default()).unwrap();
    let a = j.submit(vec![rec(0)]);
    let b = j.append(vec![rec(1), rec(2)]).await.unwrap();
    assert_eq!(a.await.unwrap(), 0..1);
    assert_eq!(b, 1..3);
    assert_eq!(j.end_offset(), 3);
}

#[test]
fn wait_for_wakes_when_a_record_becomes_durable() {
    let d = tempfile::tempdir().unwrap();
    let j = Journal::open(d.path(), Config::default()).unwrap();
    assert!(!j.wait_for(0, Duration::from_millis(10)));
    let j2 = j.clone();
    let t = std::thread::spawn(move || j2.wait_for(0, Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(20));
    j.append_blocking(vec![rec(0)]).unwrap();
    assert!(t.join().unwrap());
}

#[test]
fn a_fresh_journal_after_lost_segments_starts_after_the_checkpoint() {
    let d = tempfile::tempdir().unwrap();
    {
        let j = Journal::open(d.path(), Config::default()).unwrap();
        j.append_blocking(vec![rec(0), rec(1), rec(2)]).unwrap();
        j.commit_checkpoint(2).unwrap();
    }
    for s in list_segments(d.path()).unwrap() {
        fs::remove_file(s.path).unwrap();
    }
    let j = Journal::open(d.path(), Config::default()).unwrap();
    assert_eq!(j.end_offset(), 3);
}

#[test]
fn a_full_disk_refuses_appends_as_back_pressure_and_appending_resumes_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let full = Arc::new(AtomicBool::new(false));
    let cfg = Config {
        inject_no_space: Some(full.clone()),
        ..Config::default()
    };
    let j = Journal::open(dir.path(), cfg.clone()).unwrap();
    assert_eq!(j.append_blocking(vec![b"a".to_vec()]).unwrap(), 0..1);
    full.store(true, Ordering::Relaxed);
    let e = j.append_blocking(vec![b"lost".to_vec()]).unwrap_err();
    assert!(matches!(e, Error::NoSpace), "{e}");
    assert!(e.is_full());
    assert!(j.is_full() && j.is_out_of_space() && !j.is_poisoned());
    full.store(false, Ordering::Relaxed);
    assert_eq!(j.append_blocking(vec![b"b".to_vec()]).unwrap(), 1..2);
    assert!(!j.is_full());
    drop(j);
    // Nothing of the refused append is on disk; the two acknowledged records are.
    let j = Journal::open(dir.path(), cfg).unwrap();
    let mut r = j.read_from(0).unwrap();
    let mut got = Vec::new();
    while let Some((_, p)) = r.next_record().unwrap() {
        got.push(p);
    }
    assert_eq!(got, [b"a".to_vec(), b"b".to_vec()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_refused_for_a_full_budget_hands_its_records_back() {
    let d = tempfile::tempdir().unwrap();
    let j = Journal::open(d.path(), tiny_budget()).unwrap();
    let mut n = 0;
    let refused = loop {
        match j.submit_returning(vec![rec(n), rec(n + 1)]).await {
            Ok(_) => n += 2,
            Err(r) => break r,
        }
    };
    assert!(refused.error.is_full(), "{}", refused.error);
    assert_eq!(refused.records, vec![rec(n), rec(n + 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_refused_for_a_full_disk_hands_its_records_back() {
    let d = tempfile::tempdir().unwrap();
    let full = Arc::new(AtomicBool::new(true));
    let cfg = Config {
        inject_no_space: Some(full.clone()),
        ..Config::default()
    };
    let j = Journal::open(d.path(), cfg).unwrap();
    let refused = j.submit_returning(vec![rec(7)]).await.unwrap_err();
    assert!(matches!(refused.error, Error::NoSpace), "{}", refused.error);
    assert_eq!(refused.records, vec![rec(7)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returning_append_that_is_kept_resolves_to_its_offsets() {
    let d = tempfile::tempdir().unwrap();
    let j = Journal::open(d.path(), Config::default()).unwrap();
    assert_eq!(
        j.submit_returning(vec![rec(0), rec(1)]).await.unwrap(),
        0..2
    );
    assert_eq!(read_all(&j, 0), vec![(0, rec(0)), (1, rec(1))]);
}

#[test]
fn records_larger_than_the_read_buffer_and_across_its_end_read_back_whole() {
    let d = tempfile::tempdir().unwrap();
    let j = Journal::open(d.path(), Config::default()).unwrap();
    // Sizes that leave records straddling the reader's 256 KiB buffer, and one larger than it.
    let recs: Vec<Vec<u8>> = (0..40)
        .map(|i| vec![b'a' + (i % 26) as u8; 10_007 * (i + 1)])
        .chain(std::iter::once(vec![b'z'; 600_000]))
        .collect();
    j.append_blocking(recs.clone()).unwrap();
    let got: Vec<Vec<u8>> = read_all(&j, 0).into_iter().map(|(_, p)| p).collect();
    assert_eq!(got, recs);
}

#[test]
fn a_lent_payload_is_the_record_and_a_corrupt_one_is_never_lent() {
    let d = tempfile::tempdir().unwrap();
    let j = Journal::open(d.path(), Config::default()).unwrap();
    j.append_blocking(vec![rec(0), rec(1)]).unwrap();
    let mut r = j.read_from(0).unwrap();
    let first = r.next_record_with(|off, p| (off, p.to_vec())).unwrap();
    assert_eq!(first, Some((0, rec(0))));
    // Flip a byte of the second record's payload on disk; a fresh reader sees it.
    let seg = d.path().join(segment_name(0));
    let mut bytes = fs::read(&seg).unwrap();
    let at = bytes.len() - 1;
    bytes[at] ^= 0xff;
    fs::write(&seg, bytes).unwrap();
    let mut r = j.read_from(1).unwrap();
    let mut lent = false;
    let got = r.next_record_with(|_, _| lent = true);
    assert!(matches!(got, Err(Error::Corrupt { .. })), "{got:?}");
    assert!(!lent, "a payload failing its CRC was lent");
}
