//! A writer of small MaxMind DB files, for tests: an IPv6 search tree (IPv4 networks under
//! `::/96`, as MaxMind stores them) with 24-bit records, a data section and the metadata,
//! following the published MaxMind DB format 2.0. No database is downloaded.

use std::net::IpAddr;

/// A value of the data section.
pub enum V {
    Str(&'static str),
    F64(f64),
    U16(u16),
    U32(u32),
    U64(u64),
    Map(Vec<(&'static str, V)>),
    Array(Vec<V>),
}

fn control(out: &mut Vec<u8>, ty: u8, size: usize) {
    let (bits, ext) = if ty <= 7 {
        (ty << 5, None)
    } else {
        (0, Some(ty - 7))
    };
    let (s, extra): (u8, Vec<u8>) = if size < 29 {
        (size as u8, vec![])
    } else if size < 285 {
        (29, vec![(size - 29) as u8])
    } else if size < 65_821 {
        (30, ((size - 285) as u16).to_be_bytes().to_vec())
    } else {
        (31, ((size - 65_821) as u32).to_be_bytes()[1..].to_vec())
    };
    out.push(bits | s);
    out.extend(ext);
    out.extend(extra);
}

fn uint(out: &mut Vec<u8>, ty: u8, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(out, ty, 8 - skip);
    out.extend(&bytes[skip..]);
}

/// Appends the encoding of `v`.
pub fn encode(out: &mut Vec<u8>, v: &V) {
    match v {
        V::Str(s) => {
            control(out, 2, s.len());
            out.extend(s.as_bytes());
        }
        V::F64(f) => {
            control(out, 3, 8);
            out.extend(f.to_be_bytes());
        }
        V::U16(n) => uint(out, 5, u64::from(*n)),
        V::U32(n) => uint(out, 6, u64::from(*n)),
        V::U64(n) => uint(out, 9, *n),
        V::Map(m) => {
            control(out, 7, m.len());
            for (k, v) in m {
                encode(out, &V::Str(k));
                encode(out, v);
            }
        }
        V::Array(a) => {
            control(out, 11, a.len());
            for v in a {
                encode(out, v);
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Rec {
    Empty,
    Node(usize),
    Data(usize),
}

/// A database being built.
pub struct Writer {
    nodes: Vec<[Rec; 2]>,
    data: Vec<u8>,
}

impl Default for Writer {
    fn default() -> Self {
        Writer {
            nodes: vec![[Rec::Empty; 2]],
            data: Vec::new(),
        }
    }
}

impl Writer {
    /// Adds a network (networks must not overlap) with its record.
    pub fn insert(&mut self, net: IpAddr, prefix: u8, value: &V) {
        let (bits, len) = match net {
            IpAddr::V4(v) => (u128::from(u32::from(v)), 96 + prefix),
            IpAddr::V6(v) => (u128::from(v), prefix),
        };
        let off = self.data.len();
        encode(&mut self.data, value);
        let mut node = 0;
        for i in 0..len {
            let bit = ((bits >> (127 - u32::from(i))) & 1) as usize;
            if i + 1 == len {
                self.nodes[node][bit] = Rec::Data(off);
                break;
            }
            node = match self.nodes[node][bit] {
                Rec::Node(n) => n,
                _ => {
                    self.nodes.push([Rec::Empty; 2]);
                    let n = self.nodes.len() - 1;
                    self.nodes[node][bit] = Rec::Node(n);
                    n
                }
            };
        }
    }

    /// The database file's bytes.
    pub fn finish(self, database_type: &'static str) -> Vec<u8> {
        let count = self.nodes.len();
        let mut out = Vec::new();
        for node in &self.nodes {
            for r in node {
                let v = match *r {
                    Rec::Empty => count,
                    Rec::Node(n) => n,
                    Rec::Data(off) => count + 16 + off,
                } as u32;
                out.extend(&v.to_be_bytes()[1..]);
            }
        }
        out.extend([0u8; 16]);
        out.extend(&self.data);
        out.extend(b"\xAB\xCD\xEFMaxMind.com");
        encode(
            &mut out,
            &V::Map(vec![
                ("binary_format_major_version", V::U16(2)),
                ("binary_format_minor_version", V::U16(0)),
                ("build_epoch", V::U64(1_700_000_000)),
                ("database_type", V::Str(database_type)),
                (
                    "description",
                    V::Map(vec![("en", V::Str("ziaxdr test database"))]),
                ),
                ("ip_version", V::U16(6)),
                ("languages", V::Array(vec![V::Str("en")])),
                ("node_count", V::U32(count as u32)),
                ("record_size", V::U16(24)),
            ]),
        );
        out
    }
}

/// A GeoIP2-City-shaped record.
pub fn city(iso: &'static str, country: &'static str, city: &'static str, lat: f64, lon: f64) -> V {
    V::Map(vec![
        (
            "city",
            V::Map(vec![("names", V::Map(vec![("en", V::Str(city))]))]),
        ),
        (
            "continent",
            V::Map(vec![
                ("code", V::Str("EU")),
                ("names", V::Map(vec![("en", V::Str("Europe"))])),
            ]),
        ),
        (
            "country",
            V::Map(vec![
                ("iso_code", V::Str(iso)),
                ("names", V::Map(vec![("en", V::Str(country))])),
            ]),
        ),
        (
            "location",
            V::Map(vec![
                ("latitude", V::F64(lat)),
                ("longitude", V::F64(lon)),
                ("time_zone", V::Str("Europe/Paris")),
            ]),
        ),
        (
            "subdivisions",
            V::Array(vec![V::Map(vec![
                ("iso_code", V::Str("IDF")),
                ("names", V::Map(vec![("en", V::Str("Île-de-France"))])),
            ])]),
        ),
    ])
}

/// A database with 81.0.0.0/8 in Paris, 45.33.0.0/16 in Berlin and 2a01:cb00::/32 in Lyon.
pub fn sample() -> Vec<u8> {
    let mut w = Writer::default();
    w.insert(
        "81.0.0.0".parse().unwrap(),
        8,
        &city("FR", "France", "Paris", 48.86, 2.35),
    );
    w.insert(
        "45.33.0.0".parse().unwrap(),
        16,
        &city("DE", "Germany", "Berlin", 52.52, 13.40),
    );
    w.insert(
        "2a01:cb00::".parse().unwrap(),
        32,
        &city("FR", "France", "Lyon", 45.76, 4.84),
    );
    w.finish("ziaxdr-Test-City")
}
