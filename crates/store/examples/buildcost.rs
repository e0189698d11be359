//! Prints the cost per event of parsing a file of raw records into the parser's flat event
//! and of building its tantivy document (with its stored source), on one thread, keeping
//! events alive in batches of 2,000 as the pipeline does: a quick harness for the indexing
//! profile (`cargo run --release -p store --example buildcost -- FILE`).
// The allocator of the `ziaxdr` binary, so that the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::Instant;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let schema = store::schema::build_schema();
    let f = store::schema::Fields::resolve(&schema).unwrap();
    let ts = tantivy::DateTime::from_timestamp_secs(0);
    let _ = zia::parse_event(lines[0]);
    let (mut tp, mut tb) = (0f64, 0f64);
    let mut keep = Vec::with_capacity(lines.len());
    for l in &lines {
        let t0 = Instant::now();
        let ev = zia::parse_or_error_event(l);
        let t1 = Instant::now();
        let src = store::source::encode_parsed(l, &ev).unwrap();
        let doc = store::schema::build_parsed_document(&f, &ev, ts, 0, &src);
        let t2 = Instant::now();
        tp += (t1 - t0).as_secs_f64();
        tb += (t2 - t1).as_secs_f64();
        keep.push((ev, doc));
        if keep.len() == 2000 {
            keep.clear();
        }
    }
    let n = lines.len() as f64;
    println!(
        "parse {:.2} us/event, build doc {:.2} us/event",
        tp / n * 1e6,
        tb / n * 1e6
    );
}
