//! Prints where a store's disk goes, per index component and field:
//! `cargo run --release -p store --example space_usage -- DATA/store [EVENTS]`
//! (bytes per event when EVENTS is given, else bytes).

use store::TantivyStore;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: space_usage STORE_DIR [EVENTS]");
        std::process::exit(2);
    };
    let per: f64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(1.0);
    let store = match TantivyStore::open_read_only(&dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{dir}: {e}");
            std::process::exit(1);
        }
    };
    let usage = match store.space_usage() {
        Ok(u) => u,
        Err(e) => {
            eprintln!("{dir}: {e}");
            std::process::exit(1);
        }
    };
    let mut by_component = std::collections::BTreeMap::new();
    for u in &usage {
        *by_component.entry(u.component).or_insert(0u64) += u.bytes;
        println!(
            "{:>10.2}  {:<10} {}",
            u.bytes as f64 / per,
            u.component,
            u.field
        );
    }
    println!();
    for (c, b) in by_component {
        println!("{:>10.2}  {c} (total)", b as f64 / per);
    }
    println!("{:>10.2}  on disk", store.disk_bytes() as f64 / per);
}
