//! `intake`: everything between a Zscaler feed and the journal. It holds the registry of
//! entities and intakes (SQLite; keys stored as SHA-256 and compared in constant time), the
//! Sekoia-compatible HTTP intake that Cloud NSS posts to ([`http`]), the syslog TCP listeners
//! an NSS VM sends to ([`syslog`]), the Prometheus metrics, the feed-format drift of each
//! intake ([`drift`]), and geolocation from a MaxMind DB ([`geoip`], a wrapper around the
//! pipeline's parser). The receivers acknowledge an event (HTTP answer, or reading more of a
//! TCP stream) only after the journal's group commit has made it durable. The pipeline from
//! the journal to the store is the `pipeline` crate; [`server::Server`] runs it behind the
//! receivers for `ziaxdr serve`.

pub mod auth;
pub mod drift;
pub mod geoip;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod registry;
pub mod server;
pub mod syslog;
pub mod tls;

pub use registry::Registry;
pub use server::{Server, ServerConfig, ServerError};
/// Re-exported so the binary names intake and event ids with the same type.
pub use uuid;
