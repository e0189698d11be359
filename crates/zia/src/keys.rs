//! The input key vocabulary: every key name that NSS feed templates in the wild use for a
//! field (Sekoia's deployment guide, Elastic, Splunk, Sumo Logic, Datadog, Sentinel), folded
//! onto one canonical key. Matching is ASCII case-insensitive.

macro_rules! keys {
    ($($k:ident => [$($a:literal),+] $doc:literal),* $(,)?) => {
        /// A canonical input key.
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        #[repr(u8)]
        pub(crate) enum K { $($k),* }

        /// Number of canonical keys.
        pub(crate) const COUNT: usize = [$(K::$k),*].len();

        /// Every alias with its canonical key, in declaration order.
        const ALIASES: &[(&str, K)] = &[$($(($a, K::$k),)+)*];

        /// Every canonical key with its aliases and meaning, for the mapping documentation.
        pub const VOCABULARY: &[(&str, &[&str], &str)] = &[$((stringify!($k), &[$($a),+], $doc)),*];
    };
}

keys! {
    Time => ["datetime", "time"] "event time (ctime, ISO or two-digit-year forms)",
    EpochTime => ["epochtime"] "event time in seconds (or milliseconds) since 1970",
    Tz => ["tz", "timezone"] "the feed's time zone, applied to times without an offset",
    RecordId => ["event_id", "recordid"] "Zscaler record id",
    Action => ["action"] "policy action (Allowed/Blocked, Allow/Block/Drop, UPDATE…)",
    Reason => ["reason"] "reason for the action",
    Protocol => ["protocol", "proto"] "protocol",
    ReqSize => ["requestsize", "reqsize"] "request size in bytes",
    RespSize => ["responsesize", "respsize"] "response size in bytes",
    UrlCategory => ["urlcategory", "urlcat"] "URL category",
    Url => ["url", "eurl"] "URL without scheme",
    B64Url => ["b64url"] "URL, base64",
    Host => ["hostname", "host", "ehost"] "destination host name",
    Referer => ["refererurl", "ereferer", "referer"] "HTTP referer",
    B64Referer => ["b64referer"] "HTTP referer, base64",
    UserAgent => ["useragent", "ua", "eua"] "HTTP user agent",
    B64Ua => ["b64ua"] "HTTP user agent, base64",
    Method => ["requestmethod", "reqmethod"] "HTTP method",
    Status => ["status", "respcode"] "HTTP response code",
    ClientIp => ["clientip", "cip", "cltip", "csip", "clt_sip", "sourceip"] "client IP",
    ClientIntIp => ["cltintip", "cintip"] "client internal IP",
    ClientPubIp => ["clientpublicip", "cltpubip", "cpubip"] "client public (NAT) IP",
    ServerIp => ["serverip", "sip", "sdip", "srv_dip", "destinationip"] "server / destination IP",
    ClientDstIp => ["cdip"] "firewall: client destination IP",
    ServerSrcIp => ["ssip"] "firewall: server source IP (Zscaler egress)",
    ClientPort => ["cltsourceport", "csport", "clt_sport", "sourceport"] "client source port",
    ServerPort => ["sdport", "srv_dport", "destinationport"] "server / destination port",
    ClientDstPort => ["cdport"] "firewall: client destination port",
    ServerSrcPort => ["ssport"] "firewall: server source port",
    User => ["user", "login", "elogin"] "user (an e-mail address)",
    AdminId => ["adminid"] "admin audit: admin login",
    DeviceOwner => ["deviceowner"] "device owner (user name)",
    DeviceHost => ["devicehostname"] "device host name",
    Location => ["location", "elocation", "locationname"] "Zscaler location",
    Department => ["department", "dept", "edepartment"] "department",
    ThreatCategory => ["threatcategory", "malwarecat", "malwarecategory", "threatcat"] "threat category",
    ThreatClass => ["threatclass", "malwareclass"] "threat class",
    ThreatName => ["threatname"] "threat name",
    FileType => ["filetype"] "file type",
    FileName => ["filename", "object_name_1"] "file name",
    Md5 => ["md5", "bamd5", "filemd5"] "file MD5",
    Sha256 => ["sha256"] "file SHA-256",
    RuleLabel => ["rulelabel", "erulelabel", "reqrulelabel", "policy"] "policy rule label",
    RuleType => ["ruletype"] "policy rule type",
    ContentType => ["contenttype"] "response content type",
    NwApp => ["nwapp", "applicationname"] "network application",
    AppName => ["appname"] "cloud application",
    Company => ["company"] "company",
    InBytes => ["inbytes"] "firewall: bytes from the client",
    OutBytes => ["outbytes"] "firewall: bytes to the client",
    Duration => ["duration"] "session duration",
    DestCountry => ["destcountry"] "destination country",
    DnsQuery => ["dns_req", "req"] "DNS query name",
    DnsType => ["dns_reqtype", "reqtype"] "DNS query type",
    DnsResp => ["dns_resp", "res"] "DNS response",
    DnsReqAction => ["reqaction"] "DNS request action",
    Category => ["category"] "category (audit, DNS)",
    SubCategory => ["subcategory"] "audit subcategory",
    Resource => ["resource"] "audit resource",
    Result => ["result"] "audit result",
    ErrorCode => ["errorcode"] "audit error code",
    AuditLogType => ["auditlogtype"] "audit log type",
    TunnelType => ["tunneltype"] "tunnel type (GRE, IPSec…)",
    TunnelEvent => ["event"] "tunnel event",
    EventReason => ["eventreason"] "tunnel event reason",
    IkeVersion => ["ikeversion"] "IKE version",
    FileSource => ["filesource"] "SaaS: folder of the file",
    FullUrl => ["fullurl"] "SaaS: full URL",
    LastModTime => ["lastmodtime"] "SaaS: file modification time",
    Version => ["version"] "feed template version",
}

/// The longest key name that can be canonical (longer ones are never looked up).
const MAX: usize = 32;

/// Slots of the alias table: a power of two, about four times the number of aliases, so
/// that probe sequences stay short.
const SLOTS: usize = 512;

/// A key name lower-cased into a zero-padded buffer, with its length.
struct Name {
    bytes: [u8; MAX],
    len: usize,
}

impl Name {
    fn new(key: &str) -> Option<Self> {
        let b = key.as_bytes();
        if b.len() > MAX {
            return None;
        }
        let mut bytes = [0u8; MAX];
        bytes[..b.len()].copy_from_slice(b);
        // Over the whole fixed-size buffer, so that it compiles to a few vector operations.
        for c in &mut bytes {
            *c = c.to_ascii_lowercase();
        }
        Some(Name {
            bytes,
            len: b.len(),
        })
    }

    /// The home slot: a multiplicative hash of the name's four eight-byte words.
    fn slot(&self) -> usize {
        let mut h = self.len as u64;
        for w in self.bytes.as_chunks::<8>().0 {
            h = (h.rotate_left(29) ^ u64::from_le_bytes(*w)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
        (h >> 40) as usize & (SLOTS - 1)
    }
}

/// Alias → canonical key, by open addressing over fixed-size names: a lookup is one hash of
/// a few words and one or two whole-buffer comparisons. A `match` on ~150 string literals
/// compiles to a chain of comparisons, and a general hash map cost three times as much.
fn table() -> &'static [Option<(Name, K)>] {
    static TABLE: std::sync::OnceLock<Vec<Option<(Name, K)>>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t: Vec<Option<(Name, K)>> = (0..SLOTS).map(|_| None).collect();
        for &(alias, k) in ALIASES {
            let Some(name) = Name::new(alias) else {
                continue;
            };
            let mut i = name.slot();
            loop {
                match &mut t[i] {
                    // A repeated alias: the later one wins, as a map insert would.
                    Some((n, kk)) if n.len == name.len && n.bytes == name.bytes => {
                        *kk = k;
                        break;
                    }
                    Some(_) => i = (i + 1) & (SLOTS - 1),
                    slot @ None => {
                        *slot = Some((name, k));
                        break;
                    }
                }
            }
        }
        t
    })
}

/// The canonical key of an input key name, matched ASCII case-insensitively.
pub(crate) fn lookup(key: &str) -> Option<K> {
    let name = Name::new(key)?;
    let t = table();
    let mut i = name.slot();
    loop {
        match &t[i] {
            None => return None,
            Some((n, k)) if n.len == name.len && n.bytes == name.bytes => return Some(*k),
            Some(_) => i = (i + 1) & (SLOTS - 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alias_finds_its_key_in_any_case() {
        for &(alias, k) in ALIASES {
            assert_eq!(lookup(alias), Some(k), "{alias}");
            assert_eq!(lookup(&alias.to_ascii_uppercase()), Some(k), "{alias}");
        }
        assert_eq!(lookup("nosuchkey"), None);
        assert_eq!(lookup("url\0"), None);
        assert_eq!(lookup(""), None);
        assert_eq!(lookup(&"x".repeat(40)), None);
    }
}
