//! `--geoip`: events get `source.geo.*` and `destination.geo.*` from a MaxMind DB that the
//! tests write themselves.

#[path = "common/mmdb.rs"]
#[allow(dead_code)]
mod mmdb;

use std::sync::Arc;

use intake::geoip::GeoIp;
use pipeline::zia_parser;

fn geo() -> GeoIp {
    GeoIp::from_bytes(mmdb::sample()).expect("the test database opens")
}

fn event(raw: &str) -> pipeline::Event {
    let mut ev = zia::parse_event(raw).expect("parses").event;
    geo().enrich(&mut ev);
    ev
}

fn web(client: &str, public: &str, server: &str, extra: &str) -> String {
    format!(
        r#"{{"sourcetype":"zscalernss-web","event":{{"datetime":"2026-12-06 10:42:00","action":"Allowed","ClientIP":"{client}","clientpublicIP":"{public}","serverip":"{server}","hostname":"example.com","url":"example.com/"{extra}}}}}"#
    )
}

#[test]
fn a_public_client_address_is_located_with_country_city_region_and_coordinates() {
    let ev = event(&web("81.2.3.4", "45.33.1.1", "8.8.8.8", ""));
    assert_eq!(ev.get_str("source.geo.country_iso_code"), Some("FR"));
    assert_eq!(ev.get_str("source.geo.country_name"), Some("France"));
    assert_eq!(ev.get_str("source.geo.city_name"), Some("Paris"));
    assert_eq!(ev.get_str("source.geo.region_name"), Some("Île-de-France"));
    assert_eq!(ev.get_str("source.geo.continent_code"), Some("EU"));
    assert_eq!(ev.get_str("source.geo.timezone"), Some("Europe/Paris"));
    assert_eq!(
        ev.leaf("source.geo.location.lat").and_then(|v| v.as_f64()),
        Some(48.86)
    );
    assert_eq!(
        ev.leaf("source.geo.location.lon").and_then(|v| v.as_f64()),
        Some(2.35)
    );
}

#[test]
fn a_private_client_address_falls_back_to_the_nat_address() {
    let ev = event(&web("10.1.2.3", "45.33.1.1", "8.8.8.8", ""));
    assert_eq!(ev.get_str("source.ip"), Some("10.1.2.3"));
    assert_eq!(ev.get_str("source.geo.city_name"), Some("Berlin"));
}

#[test]
fn the_destination_address_is_located() {
    let ev = event(&web("10.1.2.3", "198.51.100.7", "81.9.9.9", ""));
    assert_eq!(ev.get_str("destination.geo.city_name"), Some("Paris"));
    assert!(
        ev.get("source.geo").is_none(),
        "neither client address is in the database"
    );
}

#[test]
fn an_ipv6_address_is_located() {
    let ev = event(&web("fd00::1", "2a01:cb00:1::5", "8.8.8.8", ""));
    assert_eq!(ev.get_str("source.geo.city_name"), Some("Lyon"));
}

#[test]
fn a_country_the_feed_sent_is_kept_and_the_rest_filled_in() {
    let ev = event(&web(
        "81.2.3.4",
        "",
        "8.8.8.8",
        r#","srcip_country":"Monaco""#,
    ));
    assert_eq!(ev.get_str("source.geo.country_name"), Some("Monaco"));
    assert_eq!(ev.get_str("source.geo.city_name"), Some("Paris"));
}

#[test]
fn an_address_the_database_does_not_know_adds_nothing() {
    let ev = event(&web("8.8.4.4", "", "9.9.9.9", ""));
    assert!(ev.get("source.geo").is_none());
    assert!(ev.get("destination.geo").is_none());
}

#[test]
fn a_file_that_is_not_a_maxmind_database_is_refused_with_its_path() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("not.mmdb");
    std::fs::write(&p, b"not a database").unwrap();
    let e = GeoIp::open(&p).unwrap_err().to_string();
    assert!(e.contains("not.mmdb"), "{e}");
}

#[test]
fn the_geoip_parser_locates_what_the_zia_parser_made() {
    let parse = intake::geoip::parser(zia_parser(), Arc::new(geo()));
    let out = parse(&web("81.2.3.4", "", "8.8.8.8", ""));
    assert!(!out.failed);
    assert_eq!(out.event.get_str("source.geo.city_name"), Some("Paris"));
}
