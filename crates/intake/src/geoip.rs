//! Geolocation of events from a MaxMind DB file (`--geoip FILE.mmdb`: GeoIP2 / GeoLite2
//! City or Country, or DB-IP's databases in the same format).
//!
//! After parsing, on the parse threads, each event's `source.ip` and `destination.ip` are
//! looked up and `source.geo.*` / `destination.geo.*` filled with what the database knows
//! (ECS names: `country_iso_code`, `country_name`, `continent_code`, `continent_name`,
//! `region_iso_code`, `region_name`, `city_name`, `location.lat`/`.lon`, `timezone`). A
//! field the feed already set (ZIA's own `srcip_country`, say) is kept. A client address
//! that cannot be located (private, loopback, link-local, carrier-grade NAT: what ZIA's
//! `ClientIP` nearly always is) gives way to `source.nat.ip`, the public address the
//! client's traffic came from.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use maxminddb::geoip2;
use serde_json::Value;

use pipeline::{Event, ParseFn};

/// Why a geolocation database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum GeoIpError {
    /// The file could not be read or is not a MaxMind DB.
    #[error("geolocation database {path}: {source}")]
    Open {
        /// The file.
        path: String,
        /// What went wrong.
        #[source]
        source: maxminddb::MaxMindDbError,
    },
}

/// A MaxMind DB file held in memory.
pub struct GeoIp {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIp")
            .field("database_type", &self.database_type())
            .finish()
    }
}

/// True for addresses no geolocation database places: private (RFC 1918, IPv6 unique
/// local), loopback, link-local, carrier-grade NAT, unspecified, documentation.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => {
            let o = v.octets();
            v.is_private()
                || v.is_loopback()
                || v.is_link_local()
                || v.is_unspecified()
                || v.is_broadcast()
                || v.is_documentation()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v) => {
            if let Some(v4) = v.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            v.is_loopback()
                || v.is_unspecified()
                || v.is_unique_local()
                || v.is_unicast_link_local()
        }
    }
}

fn ip_at(ev: &Event, path: &str) -> Option<IpAddr> {
    ev.get_str(path)?.parse().ok()
}

impl GeoIp {
    /// Reads a MaxMind DB file into memory.
    pub fn open(path: &Path) -> Result<GeoIp, GeoIpError> {
        let reader = maxminddb::Reader::open_readfile(path).map_err(|source| GeoIpError::Open {
            path: path.display().to_string(),
            source,
        })?;
        Ok(GeoIp { reader })
    }

    /// A database from its bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GeoIp, GeoIpError> {
        let reader = maxminddb::Reader::from_source(bytes).map_err(|source| GeoIpError::Open {
            path: "(memory)".into(),
            source,
        })?;
        Ok(GeoIp { reader })
    }

    /// The database's type as its metadata says (`GeoLite2-City`, `DBIP-City-Lite`, …).
    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// Fills `source.geo.*` and `destination.geo.*` of `ev` where the database knows the
    /// address and the event has no value yet.
    pub fn enrich(&self, ev: &mut Event) {
        let source = ip_at(ev, "source.ip")
            .filter(|ip| !is_internal(*ip))
            .or_else(|| ip_at(ev, "source.nat.ip").filter(|ip| !is_internal(*ip)));
        if let Some(ip) = source {
            self.fill(ev, "source.geo", ip);
        }
        if let Some(ip) = ip_at(ev, "destination.ip").filter(|ip| !is_internal(*ip)) {
            self.fill(ev, "destination.geo", ip);
        }
    }

    fn fill(&self, ev: &mut Event, base: &str, ip: IpAddr) {
        // A lookup error (an IPv6 address in an IPv4-only database) only means "not known".
        let Ok(found) = self.reader.lookup(ip) else {
            return;
        };
        let Ok(Some(c)) = found.decode::<geoip2::City>() else {
            return;
        };
        let mut put = |key: &str, v: Option<Value>| {
            if let Some(v) = v {
                ev.set_if_absent(&format!("{base}.{key}"), || v);
            }
        };
        let s = |x: Option<&str>| x.map(|x| Value::String(x.to_string()));
        put("country_iso_code", s(c.country.iso_code));
        put("country_name", s(c.country.names.english));
        put("continent_code", s(c.continent.code));
        put("continent_name", s(c.continent.names.english));
        if let Some(region) = c.subdivisions.first() {
            put("region_iso_code", s(region.iso_code));
            put("region_name", s(region.names.english));
        }
        put("city_name", s(c.city.names.english));
        put("timezone", s(c.location.time_zone));
        if let (Some(lat), Some(lon)) = (c.location.latitude, c.location.longitude) {
            put("location.lat", Some(Value::from(lat)));
            put("location.lon", Some(Value::from(lon)));
        }
    }
}

/// `inner`, then geolocation of the event it made.
pub fn parser(inner: ParseFn, geo: Arc<GeoIp>) -> ParseFn {
    Arc::new(move |raw: &str| {
        let mut out = inner(raw);
        if !out.failed {
            geo.enrich(&mut out.event);
        }
        out
    })
}
