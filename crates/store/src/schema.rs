//! The ECS schema of the embedded index: which fields are typed, and how an event becomes a
//! tantivy document.
//!
//! Known ECS fields get typed tantivy fields (keyword, text, IP, integer, date), with fast
//! (columnar) storage where aggregations need it. Every other leaf goes to a generic
//! `path=value` keyword field, so `anyfield:value` still works on fields nobody declared.
//! `field:*` is answered by the field's own terms or column, or its `path=value` terms; only
//! raw text kept out of the index is recorded by name (`_fields`). Unique identifiers are not
//! terms: a 64-bit key column finds candidates, confirmed against the stored event. The event
//! itself is stored once, compressed: as its raw record plus the pipeline's annotations when
//! it was parsed from one, else as JSON (see [`crate::source`]); nothing else is stored, since
//! everything else can be rebuilt from it.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use rustc_hash::FxHashMap;

use serde_json::{Map, Value};
use tantivy::schema::{
    DateOptions, DateTimePrecision, Field, IndexRecordOption, IpAddrOptions, NumericOptions,
    Schema, TextFieldIndexing, TextOptions,
};
use tantivy::DateTime;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::doc::EventDoc;

/// The type of a typed field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// An exact string (case-sensitive); `fast` when it can be aggregated on.
    Keyword {
        /// Columnar storage for top-N and distinct count.
        fast: bool,
    },
    /// Tokenized text: `field:word` matches a word of the value.
    Text,
    /// An IPv4 or IPv6 address (IPv4 stored mapped to IPv6).
    Ip,
    /// A signed 64-bit integer.
    Long,
    /// An instant (second precision).
    Date,
    /// A unique identifier: kept out of the inverted index (one term per event would be a
    /// large share of the disk), found through a 64-bit key column (see [`id_key`]) and
    /// confirmed against the stored event. Exact match and `field:*` only.
    Id,
}

/// The event timestamp field.
pub const TIMESTAMP: &str = "@timestamp";
/// Internal: the stored event (see [`crate::source`]).
pub const F_SOURCE: &str = "_source";
/// Internal: tokenized text of the whole event, for bare terms.
pub const F_ALL: &str = "_all";
/// Internal: `path=value` terms of the fields without a typed field.
pub const F_KV: &str = "_kv";
/// Internal: the names of the fields present in the event, for `field:*`.
pub const F_FIELDS: &str = "_fields";
/// Internal: the journal offset of the event (tie-breaker for ordering, cursor paging).
pub const F_OFFSET: &str = "_offset";
/// Internal: the [`id_key`] of the event's [`FieldKind::Id`] field (`ziaxdr.event_id`).
pub const F_ID_KEY: &str = "_id_key";

const KW: FieldKind = FieldKind::Keyword { fast: true };
const KW_NOFAST: FieldKind = FieldKind::Keyword { fast: false };

/// The typed ECS fields. Anything else is indexed generically (see module docs).
pub const TYPED_FIELDS: &[(&str, FieldKind)] = &[
    (TIMESTAMP, FieldKind::Date),
    ("event.ingested", FieldKind::Date),
    ("event.created", FieldKind::Date),
    ("ziaxdr.event_id", FieldKind::Id),
    ("ziaxdr.intake.uuid", KW),
    ("ziaxdr.transport", KW),
    ("event.dataset", KW),
    ("event.action", KW),
    ("event.outcome", KW),
    // Categorizations with a handful of values, always searched by value: a column each
    // (about 0.6 byte per event) would only serve a top-N nobody asks for.
    ("event.kind", KW_NOFAST),
    ("event.category", KW_NOFAST),
    ("event.type", KW_NOFAST),
    ("event.module", KW),
    ("event.duration", FieldKind::Long),
    ("source.ip", FieldKind::Ip),
    ("source.nat.ip", FieldKind::Ip),
    ("destination.ip", FieldKind::Ip),
    ("destination.nat.ip", FieldKind::Ip),
    ("server.ip", FieldKind::Ip),
    ("client.ip", FieldKind::Ip),
    ("host.ip", FieldKind::Ip),
    ("related.ip", FieldKind::Ip),
    ("source.port", FieldKind::Long),
    ("source.nat.port", FieldKind::Long),
    ("destination.nat.port", FieldKind::Long),
    ("dns.resolved_ip", FieldKind::Ip),
    ("destination.port", FieldKind::Long),
    ("source.bytes", FieldKind::Long),
    ("destination.bytes", FieldKind::Long),
    ("network.bytes", FieldKind::Long),
    ("http.response.status_code", FieldKind::Long),
    ("http.request.bytes", FieldKind::Long),
    ("http.response.bytes", FieldKind::Long),
    ("url.port", FieldKind::Long),
    ("url.domain", KW),
    ("url.registered_domain", KW),
    ("url.original", KW_NOFAST),
    ("url.full", KW_NOFAST),
    ("url.path", KW_NOFAST),
    ("url.scheme", KW),
    ("destination.domain", KW),
    // The same as url.registered_domain on web events, which has the column.
    ("destination.registered_domain", KW_NOFAST),
    ("destination.geo.country_name", KW),
    ("dns.question.name", KW),
    ("dns.question.registered_domain", KW),
    ("dns.question.type", KW),
    ("dns.response_code", KW),
    ("user.name", KW),
    ("user.email", KW),
    ("user.domain", KW),
    ("user_agent.original", KW),
    ("http.request.method", KW),
    ("http.request.referrer", KW_NOFAST),
    ("http.response.mime_type", KW),
    ("network.protocol", KW),
    ("network.application", KW),
    ("network.transport", KW),
    ("network.type", KW),
    ("rule.name", KW),
    ("host.name", KW),
    ("file.name", KW_NOFAST),
    ("file.hash.md5", KW_NOFAST),
    ("file.hash.sha1", KW_NOFAST),
    ("file.hash.sha256", KW_NOFAST),
    ("file.mime_type", KW),
    ("error.code", KW),
    ("error.message", FieldKind::Text),
    ("message", FieldKind::Text),
    ("event.original", FieldKind::Text),
    ("related.user", KW_NOFAST),
    ("related.hosts", KW_NOFAST),
    ("related.hash", KW_NOFAST),
    ("observer.product", KW),
    ("organization.name", KW),
    // One per event.dataset, which has the column.
    ("zscaler.zia.source_type", KW_NOFAST),
    ("zscaler.zia.category", KW),
    ("zscaler.zia.department", KW),
    ("zscaler.zia.location", KW),
    ("zscaler.zia.threat.name", KW),
    ("zscaler.zia.threat.category", KW),
    ("zscaler.zia.threat.class", KW),
    // Named as the `zia` parser emits them (`zscaler.zia.<NSS key>` for keys it does not map to
    // ECS); `store/tests/store_field_names.rs` checks them against the parser's output.
    ("zscaler.zia.appclass", KW),
    ("zscaler.zia.appname", KW),
    ("zscaler.zia.url_category", KW),
    ("zscaler.zia.urlsupercategory", KW),
    ("zscaler.zia.urlclass", KW),
    ("event.reason", KW),
    // ZIA numbers without an ECS field: as integers they are columns (a few bits per event)
    // instead of a distinct `path=value` term each, and ranges on them are numeric. The
    // record ids are unique per event: as terms they were among the largest costs.
    ("zscaler.zia.event_id", FieldKind::Long),
    ("zscaler.zia.recordid", FieldKind::Long),
    ("zscaler.zia.transactionsize", FieldKind::Long),
    ("zscaler.zia.pagerisk", FieldKind::Long),
    ("zscaler.zia.durationms", FieldKind::Long),
    ("zscaler.zia.avgduration", FieldKind::Long),
    ("zscaler.zia.cdport", FieldKind::Long),
    ("zscaler.zia.tunsport", FieldKind::Long),
    ("zscaler.zia.numsessions", FieldKind::Long),
    ("zscaler.zia.filescantimems", FieldKind::Long),
    ("zscaler.zia.filedownloadtimems", FieldKind::Long),
    ("zscaler.zia.riskscore", FieldKind::Long),
    ("zscaler.zia.cdip", FieldKind::Ip),
    ("file.mtime", FieldKind::Date),
];

/// The other leaves the `zia` parser emits (from every log type's records), plus the
/// pipeline's `ziaxdr.entity`: the embedded store indexes them generically (`path=value`),
/// the ClickHouse store gives each a column of its own (exact values, the generic
/// semantics), so that only fields nobody declared (a feed format of one's own naming more
/// NSS variables) fall back to its key/value arrays. With [`TYPED_FIELDS`] this is the
/// parser's vocabulary; `store/tests/store_field_names.rs` checks it against the parser's
/// output, so a field the parser starts emitting is added here.
pub const PARSER_FIELDS: &[&str] = &[
    "ziaxdr.entity",
    "source.geo.country_name",
    "zscaler.zia.dstip_country",
    "zscaler.zia.is_dst_cntry_risky",
    "zscaler.zia.is_src_cntry_risky",
    "zscaler.zia.srcip_country",
    "zscaler.zia.ssip",
    "zscaler.zia.ssport",
    "destination.address",
    "destination.subdomain",
    "destination.top_level_domain",
    "device.model.identifier",
    "dns.question.subdomain",
    "dns.question.top_level_domain",
    "email.attachments",
    "email.from.address",
    "email.message_id",
    "email.origination_timestamp",
    "email.subject",
    "email.to.address",
    "event.risk_score",
    "event.severity",
    "event.start",
    "event.timezone",
    "file.directory",
    "file.path",
    "file.type",
    "host.hostname",
    "host.os.name",
    "host.os.platform",
    "host.os.type",
    "host.os.version",
    "observer.vendor",
    "source.address",
    "url.extension",
    "url.query",
    "url.subdomain",
    "url.top_level_domain",
    "user_agent.device.name",
    "user_agent.name",
    "user_agent.os.name",
    "user_agent.os.version",
    "user_agent.version",
    "zscaler.zia.activitytype",
    "zscaler.zia.aggregate",
    "zscaler.zia.algo",
    "zscaler.zia.audit.log_type",
    "zscaler.zia.authentication",
    "zscaler.zia.authtype",
    "zscaler.zia.bwthrottle",
    "zscaler.zia.channel",
    "zscaler.zia.destinationipend",
    "zscaler.zia.destinationipstart",
    "zscaler.zia.destinationportstart",
    "zscaler.zia.deviceowner",
    "zscaler.zia.dlp.dictionaries",
    "zscaler.zia.dlp.dictionary_hits",
    "zscaler.zia.dlp.engines",
    "zscaler.zia.dlp.identifier",
    "zscaler.zia.dlpdictcount",
    "zscaler.zia.dlpdictnames",
    "zscaler.zia.dlpenginenames",
    "zscaler.zia.dnat",
    "zscaler.zia.email_dlp.actions",
    "zscaler.zia.email_dlp.attachment_doc_types",
    "zscaler.zia.email_dlp.rules",
    "zscaler.zia.email_dlp.triggered_recipients",
    "zscaler.zia.event.outcome",
    "zscaler.zia.expectedaction",
    "zscaler.zia.filesrcpath",
    "zscaler.zia.filetypename",
    "zscaler.zia.interface",
    "zscaler.zia.ipcat",
    "zscaler.zia.itemtype",
    "zscaler.zia.keyprotectiontype",
    "zscaler.zia.lifebytes",
    "zscaler.zia.lifetime",
    "zscaler.zia.nwsvc",
    "zscaler.zia.object_name_2",
    "zscaler.zia.object_type",
    "zscaler.zia.policydirection",
    "zscaler.zia.postaction",
    "zscaler.zia.preaction",
    "zscaler.zia.product",
    "zscaler.zia.recordtype",
    "zscaler.zia.reqaction",
    "zscaler.zia.resaction",
    "zscaler.zia.resource",
    "zscaler.zia.respipcategory",
    "zscaler.zia.resrulelabel",
    "zscaler.zia.scannedbytes",
    "zscaler.zia.scantime",
    "zscaler.zia.severity",
    "zscaler.zia.sourceportstart",
    "zscaler.zia.spi",
    "zscaler.zia.spi_in",
    "zscaler.zia.spi_out",
    "zscaler.zia.srcipend",
    "zscaler.zia.srcipstart",
    "zscaler.zia.stateful",
    "zscaler.zia.sub_category",
    "zscaler.zia.tenant",
    "zscaler.zia.tsip",
    "zscaler.zia.tunnel.ikeversion",
    "zscaler.zia.tunnel.status",
    "zscaler.zia.tunnelprotocol",
    "zscaler.zia.tuntype",
    "zscaler.zia.vendor",
];

/// Keyword fields with a few recurring values (actions, categories, locations, rules): their
/// words are kept out of `_all`, where they were a quarter of the words of every event, and a
/// bare word is looked up in their term dictionaries instead (see `plan.rs`), which answers
/// the same events.
pub const ENUM_FIELDS: &[&str] = &[
    "event.dataset",
    "event.action",
    "event.module",
    "http.request.method",
    "http.response.mime_type",
    "file.mime_type",
    "network.protocol",
    "network.application",
    "network.transport",
    "network.type",
    "dns.question.type",
    "rule.name",
    "destination.geo.country_name",
    "zscaler.zia.category",
    "zscaler.zia.department",
    "zscaler.zia.location",
    "zscaler.zia.threat.category",
    "zscaler.zia.threat.class",
    "zscaler.zia.appclass",
    "zscaler.zia.appname",
    "zscaler.zia.url_category",
    "zscaler.zia.urlclass",
    "zscaler.zia.urlsupercategory",
    "event.reason",
];

/// Looks a typed field up by ECS name.
pub fn typed_kind(name: &str) -> Option<FieldKind> {
    TYPED_FIELDS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, k)| *k)
}

/// The typed fields with columnar storage: their top-N and distinct count read a column.
/// Every other field but text and identifiers is aggregatable too (see [`is_aggregatable`]),
/// from its terms in the index.
pub fn aggregatable_fields() -> Vec<&'static str> {
    TYPED_FIELDS
        .iter()
        .filter(|(_, k)| has_column(*k) && *k != FieldKind::Id)
        .map(|(n, _)| *n)
        .collect()
}

/// The typed fields that cannot be aggregated: tokenized text (a top-N of words is not one
/// of values) and identifiers (unique per event).
pub fn non_aggregatable_fields() -> Vec<&'static str> {
    TYPED_FIELDS
        .iter()
        .filter(|(_, k)| matches!(k, FieldKind::Text | FieldKind::Id))
        .map(|(n, _)| *n)
        .collect()
}

/// The numeric (`long`) typed fields: the ones a sum accepts.
pub fn summable_fields() -> Vec<&'static str> {
    TYPED_FIELDS
        .iter()
        .filter(|(_, k)| matches!(k, FieldKind::Long))
        .map(|(n, _)| *n)
        .collect()
}

/// The error for a sum over `name` when it is not one of [`summable_fields`].
pub fn not_summable(name: &str) -> crate::StoreError {
    crate::StoreError::Unsupported(format!(
        "field {name} cannot be summed; numeric fields: {}",
        summable_fields().join(", ")
    ))
}

/// True when top-N and distinct count accept `name`: every field an event may carry
/// (typed or not) except [`non_aggregatable_fields`] and the internal `_…` fields.
pub fn is_aggregatable(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('_')
        && !name.contains(['=', ' ', ':'])
        && !matches!(
            typed_kind(name),
            Some(FieldKind::Text) | Some(FieldKind::Id)
        )
}

/// Builds the tantivy schema shared by every partition.
pub fn build_schema() -> Schema {
    let mut b = Schema::builder();
    // Keywords: exact terms, no frequencies or positions (smaller postings), no norms.
    let kw_indexing = TextFieldIndexing::default()
        .set_tokenizer("raw")
        .set_index_option(IndexRecordOption::Basic)
        .set_fieldnorms(false);
    for (name, kind) in TYPED_FIELDS {
        match kind {
            FieldKind::Keyword { fast } => {
                let mut o = TextOptions::default().set_indexing_options(kw_indexing.clone());
                if *fast {
                    o = o.set_fast("raw");
                }
                b.add_text_field(name, o);
            }
            FieldKind::Text => {
                let idx = TextFieldIndexing::default()
                    .set_tokenizer("default")
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions)
                    .set_fieldnorms(false);
                b.add_text_field(name, TextOptions::default().set_indexing_options(idx));
            }
            // IPs, integers and dates are columnar only, not in the inverted index: their
            // many distinct values (ports, byte counts, seconds) would bloat the term
            // dictionary, and every query on them (exact, range, CIDR) is a range scan of the
            // column, which is fast enough for a day partition.
            FieldKind::Ip => {
                b.add_ip_addr_field(name, IpAddrOptions::default().set_fast());
            }
            FieldKind::Long => {
                b.add_i64_field(name, NumericOptions::default().set_fast());
            }
            FieldKind::Date => {
                b.add_date_field(
                    name,
                    DateOptions::default()
                        .set_fast()
                        .set_precision(DateTimePrecision::Seconds),
                );
            }
            // One shared key column, added below.
            FieldKind::Id => {}
        }
    }
    b.add_u64_field(F_ID_KEY, NumericOptions::default().set_fast());
    // Text, not bytes: every source is UTF-8 (see `source`), and tantivy writes a bytes value
    // to its document store a byte at a time, which was 6% of the instructions of indexing
    // an event. Partitions of earlier versions keep their bytes field ([`Fields::source_text`]).
    b.add_text_field(F_SOURCE, tantivy::schema::STORED);
    let all = TextFieldIndexing::default()
        .set_tokenizer("default")
        .set_index_option(IndexRecordOption::WithFreqsAndPositions)
        .set_fieldnorms(false);
    b.add_text_field(F_ALL, TextOptions::default().set_indexing_options(all));
    b.add_text_field(
        F_KV,
        TextOptions::default().set_indexing_options(kw_indexing.clone()),
    );
    b.add_text_field(
        F_FIELDS,
        TextOptions::default().set_indexing_options(kw_indexing),
    );
    b.add_u64_field(F_OFFSET, NumericOptions::default().set_fast());
    b.build()
}

/// Field handles of one partition's schema, resolved by name.
#[derive(Clone)]
pub struct Fields {
    /// Typed fields by ECS name.
    pub typed: HashMap<&'static str, (Field, FieldKind)>,
    /// `@timestamp`.
    pub timestamp: Field,
    /// `_source`.
    pub source: Field,
    /// `_source` holds text (this version's schema), not bytes (earlier versions).
    pub source_text: bool,
    /// `_all`.
    pub all: Field,
    /// `_kv`.
    pub kv: Field,
    /// `_fields`.
    pub fields: Field,
    /// `_offset`.
    pub offset: Field,
    /// What indexing does with the leaves of each path seen so far (see [`LeafPlan`]).
    plans: Arc<Mutex<FxHashMap<String, LeafPlan>>>,
}

/// Distinct paths whose [`LeafPlan`] is remembered: events carry a few hundred, and an input
/// with ever new keys must not grow the cache without end (beyond it, plans are recomputed).
const MAX_CACHED_PLANS: usize = 4096;

/// How the leaves of one path are indexed: decided once per path, since the rules compare
/// the path against several lists and were a tenth of the indexing profile.
#[derive(Debug, Clone, Copy)]
struct LeafPlan {
    typed: Option<(Field, FieldKind)>,
    /// `message` / `event.original`: the raw record.
    raw_text: bool,
    /// Its words may go to `_all` (depending on the value too).
    to_all: bool,
    /// `@timestamp`, added once by the caller.
    timestamp: bool,
}

/// The plan of `path`, from the cache or computed (and cached while there is room).
fn plan_of(f: &Fields, plans: &mut FxHashMap<String, LeafPlan>, path: &str) -> LeafPlan {
    if let Some(p) = plans.get(path) {
        return *p;
    }
    let typed = f.typed.get(path).copied();
    let dated = matches!(typed, Some((_, FieldKind::Date)));
    let enumerated =
        matches!(typed, Some((_, FieldKind::Keyword { .. }))) && ENUM_FIELDS.contains(&path);
    let plan = LeafPlan {
        typed,
        raw_text: RAW_TEXT_FIELDS.contains(&path),
        to_all: !is_derived(path) && !enumerated && !dated,
        timestamp: path == TIMESTAMP,
    };
    if plans.len() < MAX_CACHED_PLANS {
        plans.insert(path.to_string(), plan);
    }
    plan
}

impl Fields {
    /// Resolves the handles in `schema`; `None` if it is not a ziaxdr event schema.
    pub fn resolve(schema: &Schema) -> Option<Fields> {
        let mut typed = HashMap::new();
        for (name, kind) in TYPED_FIELDS {
            // A partition written by an older version may lack a newer typed field: such
            // fields are then simply generic in that partition. Older partitions indexed the
            // identifiers as keywords: they are still searched that way there.
            let resolved = match kind {
                FieldKind::Id => match schema.get_field(F_ID_KEY) {
                    Ok(f) => Some((f, *kind)),
                    Err(_) => schema
                        .get_field(name)
                        .ok()
                        .map(|f| (f, FieldKind::Keyword { fast: false })),
                },
                _ => schema.get_field(name).ok().map(|f| (f, *kind)),
            };
            if let Some(r) = resolved {
                typed.insert(*name, r);
            }
        }
        let source = schema.get_field(F_SOURCE).ok()?;
        let source_text = matches!(
            schema.get_field_entry(source).field_type(),
            tantivy::schema::FieldType::Str(_)
        );
        Some(Fields {
            timestamp: schema.get_field(TIMESTAMP).ok()?,
            source,
            source_text,
            all: schema.get_field(F_ALL).ok()?,
            kv: schema.get_field(F_KV).ok()?,
            fields: schema.get_field(F_FIELDS).ok()?,
            offset: schema.get_field(F_OFFSET).ok()?,
            typed,
            plans: Arc::default(),
        })
    }
}

/// The 64-bit key of an identifier in the [`F_ID_KEY`] column. For a UUIDv7 (what the
/// intake assigns) it is the 48-bit millisecond timestamp then the last 8 bits: keys then
/// grow with arrival order and the column packs into a few bytes per event (more random bits
/// would cost more bits per event than the rare extra candidate costs at query time).
/// Anything else is hashed (FNV-1a). Keys may collide: a key match is confirmed against the
/// stored event.
pub fn id_key(id: &str) -> u64 {
    let b = id.as_bytes();
    let hex = |s: &[u8]| -> Option<u64> {
        s.iter().try_fold(0u64, |acc, c| {
            Some(acc << 4 | u64::from((*c as char).to_digit(16)?))
        })
    };
    let uuid_v7 = b.len() == 36 && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-') && b[14] == b'7';
    if uuid_v7 {
        // 8 + 4 hex digits of unix_ts_ms, then the last 2 hex digits of rand_b.
        let mut ts = [0u8; 12];
        ts[..8].copy_from_slice(&b[..8]);
        ts[8..].copy_from_slice(&b[9..13]);
        if let (Some(ms), Some(low)) = (hex(&ts), hex(&b[34..36])) {
            return ms << 8 | low;
        }
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for c in b {
        h ^= u64::from(*c);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Parses an IP, mapping IPv4 into IPv6 as tantivy stores it.
pub fn parse_ip(s: &str) -> Option<Ipv6Addr> {
    s.trim().parse::<IpAddr>().ok().map(ip_to_v6)
}

/// Maps an address into tantivy's IPv6 space.
pub fn ip_to_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// Displays an address from tantivy's IPv6 space (IPv4-mapped back to dotted form).
pub fn ip_display(ip: Ipv6Addr) -> String {
    match ip.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        None => ip.to_string(),
    }
}

/// Parses an RFC 3339 timestamp to a tantivy date.
pub fn parse_date(s: &str) -> Option<DateTime> {
    let t = OffsetDateTime::parse(s.trim(), &Rfc3339).ok()?;
    Some(DateTime::from_timestamp_nanos(
        i64::try_from(t.unix_timestamp_nanos()).ok()?,
    ))
}

/// Parses an integer from a JSON number or a decimal string.
fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// True for fields that only repeat or derive from other fields (their words are already in
/// `_all` through the original): kept out of `_all` to keep the text index small.
pub fn is_derived(path: &str) -> bool {
    path.starts_with("related.")
        || path.starts_with("observer.")
        || path.ends_with(".address")
        || path.ends_with(".registered_domain")
        || path.ends_with(".top_level_domain")
        || path.ends_with(".subdomain")
        || path == "url.full"
        || path == "url.path"
        || path == "url.domain"
        || path == "event.kind"
        || path == "event.category"
        || path == "event.type"
        || path == "event.outcome"
        // Metadata of the feed and of the pipeline, not content: one of a few values on
        // every event, searched by field.
        || path.starts_with("ziaxdr.")
        || path == "zscaler.zia.source_type"
        || path == "zscaler.zia.vendor"
        || path == "zscaler.zia.product"
        // The user agent is searched by field (`user_agent.original:*curl*`): its ~20 words
        // per event come from a few hundred distinct agents and cost more than they help.
        || path.starts_with("user_agent.")
}

/// Identifiers (UUIDs, hashes: long runs of hex digits and dashes) are searched by field
/// (`ziaxdr.event_id:…`, `file.hash.md5:…`): as words they are unique per event and would be
/// most of the text index.
pub fn looks_like_id(text: &str) -> bool {
    text.len() >= 16 && text.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// IP addresses are searched by field (`source.ip:…`, CIDRs): as words, an IPv6 address
/// is several nearly unique hex groups.
pub fn looks_like_ip(text: &str) -> bool {
    // An IPv4 address starts with a digit, an IPv6 one has a colon: names, e-mail addresses
    // and URLs (most of the dotted values) are told apart without trying to parse them.
    let candidate = match text.as_bytes().first() {
        Some(b) if b.is_ascii_digit() => text.contains(['.', ':']),
        Some(_) => text.contains(':'),
        None => false,
    };
    candidate && text.len() <= 45 && text.parse::<IpAddr>().is_ok()
}

/// Numbers are searched by field (`destination.port:443`), not as bare words: they are most
/// of the distinct terms of an event (sizes, ports, ids) and would bloat the text index.
pub fn looks_numeric(v: &Value, text: &str) -> bool {
    v.is_number()
        || (!text.is_empty()
            && text.len() < 24
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-'))
}

/// Fields whose text is the raw record. For parsed events they are stored but not indexed
/// (only their presence is, in `_fields`): their words are already in the parsed fields, and indexing the
/// raw text twice would double the index. For failed events the raw text is all there is,
/// so it is indexed as text.
const RAW_TEXT_FIELDS: &[&str] = &["message", "event.original"];

/// Builds the document of one event. `ts` is the event time (already resolved by the caller),
/// `source` the serialized event.
pub fn build_document(
    f: &Fields,
    event: &Map<String, Value>,
    ts: DateTime,
    offset: u64,
    source: &[u8],
) -> EventDoc {
    let mut doc = new_document(f, ts, offset, source);
    let failed = event
        .get("event")
        .and_then(|e| e.get("kind"))
        .and_then(Value::as_str)
        == Some("pipeline_error");
    let mut path = String::new();
    let mut plans = f.plans.lock().unwrap_or_else(|e| e.into_inner());
    let mut cx = Walk {
        seen: Vec::new(),
        plans: &mut plans,
    };
    walk(f, event, &mut path, &mut doc, &mut cx, failed, 0);
    doc.sort_by_field();
    doc
}

/// Builds the document of a parsed event whose raw record is stored with it: the same
/// document as [`build_document`] makes of the event with its record as `event.original`,
/// without the record in the event.
pub fn build_parsed_document(
    f: &Fields,
    event: &zia::Event,
    ts: DateTime,
    offset: u64,
    source: &[u8],
) -> EventDoc {
    let mut plans = f.plans.lock().unwrap_or_else(|e| e.into_inner());
    parsed_document(f, event, ts, offset, source, &mut plans)
}

/// [`build_parsed_document`] for this version's schema, callable from any thread, in
/// parallel: the leaf plans are cached per thread instead of behind the schema's lock.
pub fn prepare_parsed_document(
    f: &Fields,
    event: &zia::Event,
    ts: DateTime,
    offset: u64,
    source: &[u8],
) -> EventDoc {
    thread_local! {
        // Per thread: parse threads prepare in parallel, and one lock held for a whole
        // document would make them take turns. Plans are per schema, and every `Fields`
        // given here is of this version's schema (see `TantivyStore::prepare_parsed`).
        static PLANS: std::cell::RefCell<FxHashMap<String, LeafPlan>> = Default::default();
    }
    PLANS.with_borrow_mut(|plans| parsed_document(f, event, ts, offset, source, plans))
}

/// The document of a parsed event, with the leaf plans of `plans`.
fn parsed_document(
    f: &Fields,
    event: &zia::Event,
    ts: DateTime,
    offset: u64,
    source: &[u8],
    plans: &mut FxHashMap<String, LeafPlan>,
) -> EventDoc {
    let mut doc = new_document(f, ts, offset, source);
    let failed = event.is_error();
    let mut cx = Walk {
        seen: Vec::new(),
        plans,
    };
    // In the order the parser set the fields: the values of each field keep an order of
    // their own, which means nothing to the index (tantivy leaves a gap between two values
    // of a field, so no phrase spans them), and sorting every object's keys cost more.
    event.for_each_leaf_unordered(|path, v| parsed_leaf(f, path, v, &mut doc, &mut cx, failed));
    // A failed event has its record as a field already, indexed as text.
    if !failed {
        mark_present(f, "event.original", &mut doc, &mut cx.seen);
    }
    doc.sort_by_field();
    doc
}

/// Indexes one leaf of a parsed event (its value may be an array or an empty object).
fn parsed_leaf(
    f: &Fields,
    path: &str,
    v: &Value,
    doc: &mut EventDoc,
    cx: &mut Walk<'_>,
    failed: bool,
) {
    match v {
        Value::Object(_) | Value::Array(_) => {
            let mut path = path.to_string();
            index_value(f, &mut path, v, doc, cx, failed, 1);
        }
        leaf => leaf_value(f, path, leaf, doc, cx, failed),
    }
}

/// A document with the fields every event has.
fn new_document(f: &Fields, ts: DateTime, offset: u64, source: &[u8]) -> EventDoc {
    let text = if f.source_text {
        // Sources are UTF-8 (see `source`); bytes that are not would still be kept.
        std::str::from_utf8(source).ok()
    } else {
        None
    };
    let mut doc = match text {
        Some(text) => {
            let mut doc = EventDoc::with_capacity(text.len(), 0);
            doc.add_text(f.source, text);
            doc
        }
        None => {
            let mut doc = EventDoc::with_capacity(0, source.len());
            doc.add_bytes(f.source, source);
            doc
        }
    };
    doc.add_date(f.timestamp, ts);
    doc.add_u64(f.offset, offset);
    doc
}

/// The stored source of a document read back from a partition (text or bytes, see
/// [`build_schema`]).
pub fn stored_source(doc: &tantivy::TantivyDocument, source: Field) -> Option<&[u8]> {
    use tantivy::schema::Value as _;
    let v = doc.get_first(source)?;
    v.as_bytes().or_else(|| v.as_str().map(str::as_bytes))
}

/// State of one document's walk.
struct Walk<'a> {
    /// Raw-text fields already recorded in `_fields`.
    seen: Vec<String>,
    /// The plans cache (locked, or the thread's own), once per document rather than once
    /// per leaf.
    plans: &'a mut FxHashMap<String, LeafPlan>,
}

/// Nesting limit when walking an event: deeper values are still stored, just not indexed.
const MAX_EVENT_DEPTH: usize = 32;

fn walk(
    f: &Fields,
    obj: &Map<String, Value>,
    path: &mut String,
    doc: &mut EventDoc,
    cx: &mut Walk<'_>,
    failed: bool,
    depth: usize,
) {
    if depth > MAX_EVENT_DEPTH {
        return;
    }
    for (k, v) in obj {
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(k);
        index_value(f, path, v, doc, cx, failed, depth);
        path.truncate(len);
    }
}

/// Indexes the value of `path`, whatever its shape.
fn index_value(
    f: &Fields,
    path: &mut String,
    v: &Value,
    doc: &mut EventDoc,
    cx: &mut Walk<'_>,
    failed: bool,
    depth: usize,
) {
    match v {
        Value::Object(m) => walk(f, m, path, doc, cx, failed, depth + 1),
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(m) => walk(f, m, path, doc, cx, failed, depth + 1),
                    Value::Array(_) => {} // nested arrays are not ECS; stored only
                    leaf => leaf_value(f, path, leaf, doc, cx, failed),
                }
            }
        }
        leaf => leaf_value(f, path, leaf, doc, cx, failed),
    }
}

fn leaf_value(
    f: &Fields,
    path: &str,
    v: &Value,
    doc: &mut EventDoc,
    cx: &mut Walk<'_>,
    failed: bool,
) {
    if v.is_null() {
        return;
    }
    let plan = plan_of(f, cx.plans, path);
    if plan.raw_text && !failed {
        mark_present(f, path, doc, &mut cx.seen);
        return;
    }
    let typed = plan.typed;
    // An integer of an integer field needs no text: a number never goes to `_all`
    // (`looks_numeric`), and it fits its type. Most numbers of an event are such.
    if let (Value::Number(n), Some((field, FieldKind::Long))) = (v, typed) {
        if let Some(n) = n.as_i64() {
            doc.add_i64(field, n);
            return;
        }
    }
    let text: std::borrow::Cow<'_, str> = match v {
        Value::String(s) => s.as_str().into(),
        other => other.to_string().into(),
    };
    if plan.to_all && !looks_numeric(v, &text) && !looks_like_id(&text) && !looks_like_ip(&text) {
        // One value at a time: tantivy leaves a position gap between the values of a field,
        // so a phrase never spans the end of one value and the start of the next.
        doc.add_text(f.all, &text);
    }
    let indexed = match typed {
        Some((field, FieldKind::Keyword { .. })) | Some((field, FieldKind::Text)) => {
            doc.add_text(field, &text);
            true
        }
        Some((field, FieldKind::Ip)) => match parse_ip(&text) {
            Some(ip) => {
                doc.add_ip_addr(field, ip);
                true
            }
            None => false,
        },
        Some((field, FieldKind::Id)) => match v.as_str() {
            Some(s) => {
                doc.add_u64(field, id_key(s));
                true
            }
            None => false,
        },
        Some((field, FieldKind::Long)) => match as_i64(v) {
            Some(n) => {
                doc.add_i64(field, n);
                true
            }
            None => false,
        },
        // @timestamp is added by the caller once, already resolved.
        Some((_, FieldKind::Date)) if plan.timestamp => true,
        Some((field, FieldKind::Date)) => match v.as_str().and_then(parse_date) {
            Some(d) => {
                doc.add_date(field, d);
                true
            }
            None => false,
        },
        None => false,
    };
    // `field:*` is answered by the field's own terms or column, or by the `path=value` term
    // below: nothing goes to `_fields` (a term per field and event was a large share of the
    // postings).
    if !indexed {
        // Untyped, or a value that does not fit its type: searchable as an exact value.
        doc.add_text_parts(f.kv, &[path, "=", &text]);
    }
}

/// Records that the event has `path` (once per event), for `field:*`.
fn mark_present(f: &Fields, path: &str, doc: &mut EventDoc, seen: &mut Vec<String>) {
    if !seen.iter().any(|s| s == path) {
        seen.push(path.to_string());
        doc.add_text(f.fields, path);
    }
}

/// True for the kinds stored in a column, where "has a value" can be read without `_fields`.
pub fn has_column(kind: FieldKind) -> bool {
    !matches!(kind, FieldKind::Keyword { fast: false } | FieldKind::Text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_is_mapped_into_ipv6_and_back() {
        let ip = parse_ip("10.1.2.3").unwrap();
        assert_eq!(ip.to_string(), "::ffff:10.1.2.3");
        assert_eq!(ip_display(ip), "10.1.2.3");
        assert_eq!(ip_display(parse_ip("2001:db8::1").unwrap()), "2001:db8::1");
    }

    #[test]
    fn addresses_look_like_ips_and_names_do_not() {
        for ip in [
            "10.0.0.1",
            "2001:db8::1",
            "::1",
            "fe80::1",
            "::ffff:1.2.3.4",
            "a::1",
        ] {
            assert!(looks_like_ip(ip), "{ip}");
        }
        for not in [
            "example.com",
            "a.b.c.d",
            "1.2.3",
            "10.0.0.1.5",
            "mail:x",
            "",
            " 10.0.0.1",
        ] {
            assert!(!looks_like_ip(not), "{not}");
        }
    }

    #[test]
    fn every_typed_field_resolves_to_a_schema_field() {
        let s = build_schema();
        let f = Fields::resolve(&s).unwrap();
        for (name, kind) in TYPED_FIELDS {
            assert_eq!(f.typed.get(name).map(|(_, k)| *k), Some(*kind), "{name}");
        }
        // Identifiers share the key column instead of a field of their own.
        assert!(s.get_field("ziaxdr.event_id").is_err());
        assert_eq!(f.typed["ziaxdr.event_id"].0, s.get_field(F_ID_KEY).unwrap());
    }

    #[test]
    fn uuid_v7_keys_grow_with_their_time_and_keep_the_last_8_bits() {
        let a = id_key("018fd118-971d-791f-bb99-2631cdc86d07");
        let b = id_key("018fd118-971e-7000-8000-000000000001");
        assert!(a < b);
        assert_eq!(a >> 8, 0x018f_d118_971d);
        assert_eq!(a & 0xff, 0x07);
    }

    #[test]
    fn other_identifiers_are_hashed_to_distinct_keys() {
        assert_ne!(id_key("abc"), id_key("abd"));
        assert_eq!(id_key("abc"), id_key("abc"));
        // A UUID of another version is hashed, not read as a time.
        let v4 = "9f1c2d3e-4b5a-4c6d-8e7f-0123456789ab";
        assert_ne!(id_key(v4) >> 8, 0x9f1c_2d3e_4b5a);
    }

    #[test]
    fn aggregatable_fields_exclude_text_and_non_fast_keywords() {
        let a = aggregatable_fields();
        assert!(a.contains(&"source.ip"));
        assert!(a.contains(&"user.name"));
        assert!(!a.contains(&"url.original"));
        assert!(!a.contains(&"error.message"));
        assert!(!a.contains(&"ziaxdr.event_id"));
    }

    #[test]
    fn every_field_but_text_and_identifiers_is_aggregatable() {
        for f in [
            "url.original",
            "zscaler.zia.urlclass",
            "anything.else",
            "source.ip",
        ] {
            assert!(is_aggregatable(f), "{f}");
        }
        for f in [
            "message",
            "error.message",
            "ziaxdr.event_id",
            "_all",
            "",
            "a=b",
        ] {
            assert!(!is_aggregatable(f), "{f}");
        }
    }
}
