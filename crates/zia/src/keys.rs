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

        /// Alias → canonical key. A hash lookup: a `match` on ~150 string literals compiles
        /// to a chain of comparisons, which dominated the parse profile.
        fn table() -> &'static rustc_hash::FxHashMap<&'static str, K> {
            static TABLE: std::sync::OnceLock<rustc_hash::FxHashMap<&'static str, K>> = std::sync::OnceLock::new();
            TABLE.get_or_init(|| {
                let mut t = rustc_hash::FxHashMap::default();
                $($(t.insert($a, K::$k);)+)*
                t
            })
        }

        /// The canonical key of a lower-cased input key name.
        pub(crate) fn canon(lower: &str) -> Option<K> {
            table().get(lower).copied()
        }

        /// Every canonical key with its aliases and meaning, for the mapping documentation.
        pub const VOCABULARY: &[(&str, &[&str], &str)] = &[$((stringify!($k), &[$($a),+], $doc)),*];
    };
}

keys! {
    Time => ["datetime", "time"] "event time (ctime, ISO or two-digit-year forms)",
    EpochTime => ["epochtime"] "event time in seconds since 1970",
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

/// Lower-cases an ASCII key into `buf` without allocating (keys longer than the buffer are
/// never canonical).
pub(crate) fn lookup(key: &str) -> Option<K> {
    let mut buf = [0u8; 32];
    let b = key.as_bytes();
    if b.len() > buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(b) {
        *d = s.to_ascii_lowercase();
    }
    std::str::from_utf8(&buf[..b.len()]).ok().and_then(canon)
}
