//! Parse throughput per sourcetype, `zia` against the VRL peer, in the same run.
//!
//! `cargo bench -p vrl-peer --bench parse` (criterion prints elements/s for each pair).
//! Both run on one core: criterion runs one benchmark at a time on the calling thread.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
// The binary runs on mimalloc too: an event is many small allocations.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::path::Path;

fn shared() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"))
}

fn bench(c: &mut Criterion) {
    let corpus = vrl_peer::corpus::corpus(shared(), 1000);
    let mut peer = vrl_peer::VrlPeer::new().expect("VRL program compiles");
    for (name, records) in &corpus {
        // Both must succeed on every record, or the comparison means nothing.
        for r in records {
            zia::parse(r).unwrap_or_else(|e| panic!("zia failed on {r}: {e}"));
            peer.process(r)
                .unwrap_or_else(|e| panic!("vrl failed on {r}: {e}"));
        }
        let mut g = c.benchmark_group(format!("parse/{name}"));
        g.throughput(Throughput::Elements(records.len() as u64));
        g.bench_function("zia", |b| {
            b.iter(|| {
                for r in records {
                    black_box(zia::parse(black_box(r)).ok());
                }
            })
        });
        g.bench_function("vrl", |b| {
            b.iter_batched_ref(
                || (),
                |_| {
                    for r in records {
                        black_box(peer.process(black_box(r)).ok());
                    }
                },
                BatchSize::PerIteration,
            )
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
