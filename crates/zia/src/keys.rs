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
    EpochTime => ["epochtime", "summary.starttime"] "event time in seconds (or milliseconds) since 1970",
    Tz => ["tz", "timezone"] "the feed's time zone, applied to times without an offset",
    RecordId => ["event_id", "recordid", "record_id"] "Zscaler record id",
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
    ClientIp => ["clientip", "cip", "cltip", "csip", "clt_sip", "sourceip", "src_ip"] "client IP",
    ClientIntIp => ["cltintip", "cintip"] "client internal IP",
    ClientPubIp => ["clientpublicip", "cltpubip", "cpubip"] "client public (NAT) IP",
    ServerIp => ["serverip", "sip", "sdip", "srv_dip", "destinationip"] "server / destination IP",
    ClientDstIp => ["cdip"] "firewall: client destination IP",
    ServerSrcIp => ["ssip"] "firewall: server source IP (Zscaler egress)",
    TunnelIp => ["tsip"] "firewall: the public address the client's tunnel came from",
    ClientPort => ["cltsourceport", "csport", "clt_sport", "sourceport"] "client source port",
    ServerPort => ["sdport", "srv_dport", "destinationport"] "server / destination port",
    ClientDstPort => ["cdport"] "firewall: client destination port",
    ServerSrcPort => ["ssport"] "firewall: server source port",
    User => ["user", "login", "elogin", "user_name", "username"] "user (an e-mail address)",
    AdminId => ["adminid"] "admin audit: admin login",
    DeviceOwner => ["deviceowner"] "device owner (user name)",
    DeviceHost => ["devicehostname"] "device host name",
    Location => ["location", "elocation", "locationname"] "Zscaler location",
    Department => ["department", "dept", "edepartment"] "department",
    ThreatCategory => ["threatcategory", "malwarecat", "malwarecategory", "threatcat", "threat.malware"] "threat category",
    ThreatClass => ["threatclass", "malwareclass", "threat.malware_class"] "threat class",
    ThreatName => ["threatname", "threat.name", "threat.indicator.name", "classification.detectedmalware", "detectedmalware"] "threat name",
    FileType => ["filetype", "filetypename", "fileproperties.filetype"] "file type",
    FileName => ["filename", "object_name_1", "itemname", "fileproperties.filename"] "file name",
    Md5 => ["md5", "bamd5", "filemd5", "fileproperties.md5"] "file MD5",
    Sha256 => ["sha256", "filesha", "filesha256", "fileproperties.sha256"] "file SHA-256",
    RuleLabel => ["rulelabel", "erulelabel", "reqrulelabel", "rulename", "rule.label", "rule.labels", "rule.name"] "policy rule label",
    RuleType => ["ruletype", "rule.type"] "policy rule type",
    ContentType => ["contenttype"] "response content type",
    NwApp => ["nwapp", "applicationname", "application.name"] "network application",
    AppName => ["appname"] "cloud application",
    Company => ["company", "company.name"] "company",
    InBytes => ["inbytes"] "firewall: bytes from the client",
    OutBytes => ["outbytes"] "firewall: bytes to the client",
    Duration => ["duration"] "session duration",
    DestCountry => ["destcountry", "dstip_country"] "destination country",
    SrcCountry => ["srcip_country", "srcipcountry"] "source IP country (2024-)",
    Activity => ["activity.type"] "SaaS Security Activity: what the user did (Download, Share, …)",
    CltDomain => ["cltdomain"] "firewall: the domain the client connected to (2024-)",
    RiskScore => ["riskscore", "pagerisk", "threat_score", "threatscore"] "page risk index / firewall threat score (0-100)",
    ClientTlsVersion => ["clienttlsversion"] "client-side TLS version",
    ClientCipher => ["clientsslcipher"] "client-side cipher suite",
    Alpn => ["alpnprotocol"] "ALPN protocol",
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
    FileSource => ["filesource", "filepath", "file.path", "file.directory", "filedirectory"] "SaaS: folder of the file",
    FullUrl => ["fullurl", "full_url", "file.full_url", "summary.url"] "SaaS: full URL",
    LastModTime => ["lastmodtime", "last_modified_time", "file.last_modified_time"] "SaaS: file modification time",
    Version => ["version"] "feed template version",
    Policy => ["policy"] "SaaS: the policy (or its action) applied; the rule name when no rule label is sent",
    Severity => ["severity"] "DLP / SaaS: severity of the incident (`|`-aligned per rule in Email DLP)",
    SourceSubtype => ["sourcesubtype", "source_subtype"] "SaaS Security: the application category (collaboration, crm, email, file, genai, itsm, public_cloud_storage, repository)",
    DlpDictNames => ["dlpdictnames", "dlp.dict_names"] "DLP dictionaries matched (`|`-separated)",
    DlpDictCounts => ["dlpdictcount", "dlpdictcnts", "dlp.dict_counts"] "DLP hits per dictionary (`|`-separated)",
    DlpEngineNames => ["dlpenginenames", "dlpengnames", "dlp.engine_names"] "DLP engines matched (`|`-separated)",
    DlpIdentifier => ["dlpidentifier", "dlp.identifier"] "DLP incident identifier",
    EventTime => ["eventtime"] "Endpoint DLP: when the endpoint saw the activity",
    ActionTaken => ["actiontaken"] "Endpoint DLP: the action taken (allow, block, …)",
    Channel => ["channel"] "Endpoint DLP: the channel of the activity (removable media, network drive, …)",
    DeviceName => ["devicename"] "Endpoint DLP: the device name",
    DeviceOsType => ["deviceostype"] "Endpoint DLP: the device OS type",
    DeviceOsVersion => ["deviceosversion"] "Endpoint DLP: the device OS version",
    DevicePlatform => ["deviceplatform"] "Endpoint DLP: the device platform",
    DeviceModel => ["devicemodel"] "Endpoint DLP: the device model",
    FileDstPath => ["filedstpath"] "Endpoint DLP: where the file went",
    FileSrcPath => ["filesrcpath"] "Endpoint DLP: where the file came from",
    FileSize => ["filesize", "file.size", "fileproperties.filesize"] "file size in bytes",
    FileExtension => ["file.extension", "fileextension"] "file extension",
    FileOwner => ["file.owner", "fileowner"] "SaaS: owner of the file",
    Sha1 => ["sha1", "filesha1", "fileproperties.sha1"] "file SHA-1",
    Actions => ["actions"] "Email DLP: the action per triggered rule (`|`-aligned)",
    Sender => ["sender", "email.sender", "collaboration.sender"] "Email DLP / SaaS: the sender",
    Subject => ["subject", "email.subject"] "Email DLP: the mail subject",
    MessageId => ["msgid", "message_id", "email.message_id"] "Email DLP / SaaS: the message id",
    MailSentTime => ["mailsenttime", "email.mail_sent_time"] "Email DLP: when the mail was sent",
    TriggeredRcpts => ["triggeredrcpts", "email.triggered_recipients"] "Email DLP: recipients that triggered a rule (`|`-aligned)",
    OtherRcpts => ["otherrcpts", "email.other_recipients"] "Email DLP: the other recipients (`|`-separated)",
    AttNames => ["filenames", "email.attachments.file_names"] "Email DLP: attachment names (`|`-aligned, empty slots kept)",
    AttMd5s => ["filemd5s", "email.attachments.md5s"] "Email DLP: attachment MD5s (`|`-aligned)",
    AttSizes => ["filesizes", "email.attachments.sizes", "email.attachments.file_sizes"] "Email DLP: attachment sizes (`|`-aligned)",
    AttTypes => ["filetypes", "email.attachments.file_types"] "Email DLP: attachment file types (`|`-aligned)",
    AttDocTypes => ["doctypes", "email.attachments.doc_types"] "Email DLP: attachment document types (`|`-aligned)",
    IsInbound => ["email.is_inbound", "isinbound"] "SaaS email: whether the mail came in",
    Verdict => ["verdict", "sandbox_verdict", "classification.type"] "sandbox: the verdict (BENIGN, SUSPICIOUS, MALICIOUS)",
    SandboxCategory => ["classification.category", "sandboxcategory"] "sandbox: the category of the verdict",
    Score => ["score", "classification.score", "sandboxscore"] "sandbox: the score (0-100)",
    Tactic => ["tactic", "tactics", "mitre_tactic", "mitre.tactic", "attack_tactic", "threat.tactic.id"] "sandbox: ATT&CK tactics (`|` or `,`-separated)",
    Technique => ["technique", "techniques", "mitre_technique", "mitre.technique", "attack_technique", "threat.technique.id"] "sandbox: ATT&CK techniques (ids or names)",
    Message => ["message", "alertmessage"] "NSS alert: the alert text",
    AlertHost => ["alerthost"] "NSS alert: the NSS that raised it (from the syslog header)",
    ChildHashes => ["childmd5s", "child_md5s", "childsha256s", "child_sha256s", "childhashes", "child_hashes", "file.hash.children_md5", "children_md5"] "sandbox: hashes of the files the sample dropped",
}

/// The longest key name that can be canonical (longer ones are never looked up).
const MAX: usize = 48;

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
