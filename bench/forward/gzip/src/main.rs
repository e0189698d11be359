//! gzip of 1 MiB batches of NSS lines: CPU µs per record (thread CPU time) for the
//! forwarder's former raw deflate + separate CRC-32, flate2's gzip state (what it uses now),
//! stored (level 0) and level 2. See Cargo.toml for how to run it.
const H: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255];
fn raw(c: &mut flate2::Compress, raw: &[u8]) -> Vec<u8> {
    c.reset();
    let mut out = Vec::with_capacity(raw.len() / 4 + 64);
    out.extend_from_slice(&H);
    deflate_into(c, raw, &mut out);
    let mut crc = flate2::Crc::new();
    crc.update(raw);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    out
}
fn gz(c: &mut flate2::Compress, raw: &[u8]) -> Vec<u8> {
    c.reset();
    let mut out = Vec::with_capacity(raw.len() / 4 + 64);
    deflate_into(c, raw, &mut out);
    out
}
/// Compresses all of `raw` onto the end of `out`, growing it as needed.
fn deflate_into(c: &mut flate2::Compress, raw: &[u8], out: &mut Vec<u8>) {
    loop {
        let read = c.total_in() as usize;
        match c
            .compress_vec(&raw[read..], out, flate2::FlushCompress::Finish)
            .unwrap()
        {
            flate2::Status::StreamEnd => break,
            _ => out.reserve(out.capacity()),
        }
    }
}
fn cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let f: Vec<&str> = s.rsplit(')').next().unwrap().split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}
fn main() {
    let data = std::fs::read(
        std::env::args()
            .nth(1)
            .expect("usage: gzip FEED.log (ziaxdr simulate --count 20000 --seed 1 --framing nss)"),
    )
    .unwrap();
    // batches of ~1 MiB cut at newlines
    let mut batches = Vec::new();
    let mut s = 0;
    while s < data.len() {
        let mut e = (s + (1 << 20)).min(data.len());
        while e < data.len() && data[e - 1] != b'\n' {
            e += 1;
        }
        batches.push(&data[s..e]);
        s = e;
    }
    let total: usize = batches.iter().map(|b| b.len()).sum();
    let rounds = 30;
    for _ in 0..2 {
        for (name, lvl, mode) in [
            ("raw+crc L1", 1, 0),
            ("new_gzip L1", 1, 1),
            ("raw+crc L0", 0, 0),
            ("new_gzip L2", 2, 1),
        ] {
            let mut c = if mode == 0 {
                flate2::Compress::new(flate2::Compression::new(lvl), false)
            } else {
                flate2::Compress::new_gzip(flate2::Compression::new(lvl), 15)
            };
            let t = cpu();
            let mut outb = 0;
            for _ in 0..rounds {
                for b in &batches {
                    let o = if mode == 0 {
                        raw(&mut c, b)
                    } else {
                        gz(&mut c, b)
                    };
                    outb += o.len();
                }
            }
            let el = cpu() - t;
            let recs = (data.iter().filter(|b| **b == b'\n').count() * rounds) as f64;
            println!(
                "{name:12} {:7.1} MB/s  {:5.3} us/record  ratio {:.3}",
                (total * rounds) as f64 / el / 1e6,
                el / recs * 1e6,
                outb as f64 / (total * rounds) as f64
            );
        }
    }
    // gunzip check of new_gzip
    let mut c = flate2::Compress::new_gzip(flate2::Compression::new(1), 15);
    let o = gz(&mut c, batches[0]);
    let mut d = flate2::read::GzDecoder::new(&o[..]);
    let mut v = Vec::new();
    std::io::Read::read_to_end(&mut d, &mut v).unwrap();
    assert_eq!(v, batches[0]);
    println!("gzip ok, header {:?}", &o[..10]);
}
