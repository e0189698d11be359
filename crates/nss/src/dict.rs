//! Field dictionaries: the field variables that NSS accepts in a feed output format, per
//! log type, with their printf type and meaning.
//!
//! The lists follow Zscaler's "NSS Feed Output Format" help pages for each log type. They
//! are not exhaustive for the largest pages (SaaS Security has one table per application
//! category); the fields used by the recommended formats and the common ones are all here.

use std::fmt;
use std::str::FromStr;

/// A ZIA log type that an NSS feed can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogType {
    /// Web (proxy) logs.
    Web,
    /// Firewall logs.
    Firewall,
    /// DNS logs.
    Dns,
    /// Tunnel (GRE/IPSec) logs.
    Tunnel,
    /// Admin audit logs.
    Audit,
    /// SaaS Security (CASB data at rest scanning) logs.
    SaasSecurity,
    /// SaaS Security Activity logs.
    SaasSecurityActivity,
    /// Endpoint DLP logs.
    EndpointDlp,
    /// Email DLP logs.
    EmailDlp,
}

impl LogType {
    /// Every log type, in the order the deployment guide lists them.
    pub const ALL: [LogType; 9] = [
        LogType::Web,
        LogType::Firewall,
        LogType::Dns,
        LogType::Tunnel,
        LogType::Audit,
        LogType::SaasSecurity,
        LogType::SaasSecurityActivity,
        LogType::EndpointDlp,
        LogType::EmailDlp,
    ];

    /// The command-line name of the log type.
    pub fn name(self) -> &'static str {
        match self {
            LogType::Web => "web",
            LogType::Firewall => "firewall",
            LogType::Dns => "dns",
            LogType::Tunnel => "tunnel",
            LogType::Audit => "audit",
            LogType::SaasSecurity => "saas-security",
            LogType::SaasSecurityActivity => "saas-security-activity",
            LogType::EndpointDlp => "endpoint-dlp",
            LogType::EmailDlp => "email-dlp",
        }
    }

    /// The `sourcetype` value that the recommended JSON formats carry for this log type.
    pub fn sourcetype(self) -> &'static str {
        match self {
            LogType::Web => "zscalernss-web",
            LogType::Firewall => "zscalernss-fw",
            LogType::Dns => "zscalernss-dns",
            LogType::Tunnel => "zscalernss-tunnel",
            LogType::Audit => "zscalernss-audit",
            LogType::SaasSecurity | LogType::SaasSecurityActivity => "zscalernss-casb",
            LogType::EndpointDlp => "zscalernss-edlp",
            LogType::EmailDlp => "zscalernss-emaildlp",
        }
    }

    /// The "NSS Type" to pick when creating a Cloud NSS feed for this log type.
    pub fn nss_type(self) -> &'static str {
        match self {
            LogType::Firewall | LogType::Dns => "NSS for Firewall",
            _ => "NSS for Web",
        }
    }

    /// The field variables of this log type (date/time elements excluded, see [`DATE_ELEMENTS`]).
    pub fn fields(self) -> &'static [FieldDef] {
        match self {
            LogType::Web => WEB,
            LogType::Firewall => FIREWALL,
            LogType::Dns => DNS,
            LogType::Tunnel => TUNNEL,
            LogType::Audit => AUDIT,
            LogType::SaasSecurity => SAAS_SECURITY,
            LogType::SaasSecurityActivity => SAAS_ACTIVITY,
            LogType::EndpointDlp => ENDPOINT_DLP,
            LogType::EmailDlp => EMAIL_DLP,
        }
    }

    /// The hex-encoded (`e`-prefixed) variables of this log type and the field each encodes.
    pub fn hex_encoded(self) -> &'static [(&'static str, &'static str)] {
        match self {
            LogType::Web => WEB_HEX,
            LogType::Firewall => FIREWALL_HEX,
            LogType::Dns => DNS_HEX,
            LogType::Tunnel => TUNNEL_HEX,
            LogType::Audit => AUDIT_HEX,
            LogType::SaasSecurity => SAAS_SECURITY_HEX,
            LogType::SaasSecurityActivity | LogType::EndpointDlp | LogType::EmailDlp => &[],
        }
    }

    /// The log type whose recommended format carries this `sourcetype`, if exactly one does.
    pub fn from_sourcetype(st: &str) -> Option<LogType> {
        match st {
            "zscalernss-web" => Some(LogType::Web),
            "zscalernss-fw" => Some(LogType::Firewall),
            "zscalernss-dns" => Some(LogType::Dns),
            "zscalernss-tunnel" => Some(LogType::Tunnel),
            "zscalernss-audit" => Some(LogType::Audit),
            "zscalernss-edlp" => Some(LogType::EndpointDlp),
            "zscalernss-emaildlp" => Some(LogType::EmailDlp),
            _ => None,
        }
    }
}

impl fmt::Display for LogType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error for a log type name that is not known.
#[derive(Debug, thiserror::Error)]
#[error("unknown log type `{0}` (expected one of: web, firewall, dns, tunnel, audit, saas-security, saas-security-activity, endpoint-dlp, email-dlp)")]
pub struct UnknownLogType(pub String);

impl FromStr for LogType {
    type Err = UnknownLogType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "web" | "weblog" => LogType::Web,
            "firewall" | "fw" => LogType::Firewall,
            "dns" => LogType::Dns,
            "tunnel" => LogType::Tunnel,
            "audit" | "admin-audit" => LogType::Audit,
            "saas-security" | "casb" => LogType::SaasSecurity,
            "saas-security-activity" | "casb-activity" => LogType::SaasSecurityActivity,
            "endpoint-dlp" | "edlp" => LogType::EndpointDlp,
            "email-dlp" | "emaildlp" => LogType::EmailDlp,
            _ => return Err(UnknownLogType(s.to_string())),
        })
    }
}

/// The printf type a field is documented with: `%s` for text, `%d`-like for numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A text field (`%s`).
    Text,
    /// A numeric field (`%d`, `%ld`, `%lu`, ...).
    Number,
}

/// One field variable of a log type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDef {
    /// The variable name, as written between the braces.
    pub name: &'static str,
    /// Its documented type.
    pub kind: Kind,
    /// What it holds.
    pub meaning: &'static str,
}

/// A date/time element: a variable that NSS computes from the record's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateElement {
    /// `mon`: abbreviated month name (`Oct`).
    Mon,
    /// `dd`: day of month.
    Dd,
    /// `hh`: hour (0-23).
    Hh,
    /// `mm`: minutes (not the month: that is `mth`).
    Mm,
    /// `ss`: seconds.
    Ss,
    /// `yy`: the year; NSS prints it in full (the deployment guide's `%d{yy}-%02d{mth}`
    /// yields `2023-08-28`).
    Yy,
    /// `yyyy`: the year.
    Yyyy,
    /// `mth`: month number (1-12).
    Mth,
    /// `day`: abbreviated weekday name (`Mon`).
    Day,
    /// `time` (and `datetime` in tunnel logs): `Mon Oct 16 22:55:48 2023`.
    Time,
    /// `epochtime` (and `intlogtime` in audit logs): seconds since the Unix epoch.
    Epoch,
    /// `tz`: the feed's time zone name.
    Tz,
}

impl DateElement {
    /// Whether the element prints as a number (so `%d` fits it).
    pub fn kind(self) -> Kind {
        match self {
            DateElement::Mon | DateElement::Day | DateElement::Time | DateElement::Tz => Kind::Text,
            _ => Kind::Number,
        }
    }
}

/// The date/time element names shared by every log type, with what they mean.
pub const DATE_ELEMENTS: &[(&str, DateElement, &str)] = &[
    ("mon", DateElement::Mon, "name of the month (Oct)"),
    ("dd", DateElement::Dd, "day of the month (1-31)"),
    ("hh", DateElement::Hh, "hours (0-23)"),
    ("mm", DateElement::Mm, "minutes (0-59); the month is `mth`"),
    ("ss", DateElement::Ss, "seconds (0-59)"),
    ("yy", DateElement::Yy, "year"),
    ("yyyy", DateElement::Yyyy, "year"),
    ("mth", DateElement::Mth, "month of the year (1-12)"),
    ("day", DateElement::Day, "day of the week (Mon)"),
    (
        "time",
        DateElement::Time,
        "date and time, without time zone",
    ),
    (
        "epochtime",
        DateElement::Epoch,
        "epoch time of the transaction",
    ),
    ("tz", DateElement::Tz, "time zone of the feed"),
];

/// How a variable name relates to its dictionary field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// The field as is.
    Raw,
    /// The `e`-prefixed variant: non-printable bytes and the feed escape characters as `%HH`.
    Hex,
    /// The `o`-prefixed variant: an obfuscated value.
    Obfuscated,
    /// The `b64`-prefixed variant: the value in base64.
    Base64,
}

/// What a variable name resolves to in a log type's dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    /// A date/time element.
    Date(DateElement),
    /// A field, possibly through an encoded variant.
    Field {
        /// The field's definition.
        def: &'static FieldDef,
        /// How the variable encodes it.
        encoding: Encoding,
    },
}

impl Resolved {
    /// The printf type the variable expects, if it has a fixed one (obfuscated fields do not).
    pub fn kind(&self) -> Option<Kind> {
        match self {
            Resolved::Date(d) => Some(d.kind()),
            Resolved::Field {
                encoding: Encoding::Obfuscated,
                ..
            } => None,
            Resolved::Field {
                encoding: Encoding::Hex | Encoding::Base64,
                ..
            } => Some(Kind::Text),
            Resolved::Field { def, .. } => Some(def.kind),
        }
    }
}

/// Resolves a variable name for a log type: a date element, a field, or an encoded variant.
pub fn resolve(log_type: LogType, name: &str) -> Option<Resolved> {
    if let Some(d) = date_element(log_type, name) {
        return Some(Resolved::Date(d));
    }
    let fields = log_type.fields();
    let find = |n: &str| fields.iter().find(|f| f.name == n);
    if let Some(def) = find(name) {
        return Some(Resolved::Field {
            def,
            encoding: Encoding::Raw,
        });
    }
    if let Some((_, base)) = log_type.hex_encoded().iter().find(|(e, _)| *e == name) {
        if let Some(def) = find(base) {
            return Some(Resolved::Field {
                def,
                encoding: Encoding::Hex,
            });
        }
    }
    if let Some(base) = name.strip_prefix("b64") {
        if let Some(def) = find(base) {
            return Some(Resolved::Field {
                def,
                encoding: Encoding::Base64,
            });
        }
    }
    if let Some(base) = name.strip_prefix('o') {
        if let Some(def) = find(base) {
            return Some(Resolved::Field {
                def,
                encoding: Encoding::Obfuscated,
            });
        }
    }
    None
}

/// The date element a name stands for in a log type, if any.
pub fn date_element(log_type: LogType, name: &str) -> Option<DateElement> {
    if let Some((_, d, _)) = DATE_ELEMENTS.iter().find(|(n, _, _)| *n == name) {
        return Some(*d);
    }
    match (log_type, name) {
        (LogType::Tunnel, "datetime") => Some(DateElement::Time),
        (LogType::Audit, "intlogtime") => Some(DateElement::Epoch),
        _ => None,
    }
}

/// The hex-encoded variable of a raw field in a log type, if NSS offers one.
pub fn hex_variant(log_type: LogType, base: &str) -> Option<&'static str> {
    log_type
        .hex_encoded()
        .iter()
        .find(|(_, b)| *b == base)
        .map(|(e, _)| *e)
}

/// Every variable name valid for a log type (fields, hex variants, date elements).
pub fn all_names(log_type: LogType) -> impl Iterator<Item = &'static str> {
    let extra: &'static [&'static str] = match log_type {
        LogType::Tunnel => &["datetime"],
        LogType::Audit => &["intlogtime"],
        _ => &[],
    };
    DATE_ELEMENTS
        .iter()
        .map(|(n, _, _)| *n)
        .chain(extra.iter().copied())
        .chain(log_type.fields().iter().map(|f| f.name))
        .chain(log_type.hex_encoded().iter().map(|(e, _)| *e))
}

macro_rules! fields {
    ($($name:literal $kind:ident $meaning:literal,)*) => {
        &[$(FieldDef { name: $name, kind: Kind::$kind, meaning: $meaning },)*]
    };
}

const WEB: &[FieldDef] = fields![
    "login" Text "user login name (email format)",
    "dept" Text "user department",
    "company" Text "company name",
    "cloudname" Text "Zscaler cloud name",
    "throttlereqsize" Number "throttled upload size in bytes",
    "throttlerespsize" Number "throttled download size in bytes",
    "bwthrottle" Text "whether bandwidth policy throttled the transaction",
    "bwclassname" Text "bandwidth class name",
    "bwrulename" Text "bandwidth rule name",
    "appname" Text "cloud application name",
    "appclass" Text "cloud application class",
    "app_risk_score" Text "cloud application risk index (1-5 or None)",
    "app_status" Text "cloud application status (Sanctioned, Unsanctioned, N/A)",
    "activity" Text "action the user performed on the application",
    "prompt_req" Text "prompt entered in a generative AI application",
    "inst_level1_type" Text "application instance level 1 type",
    "inst_level1_id" Text "application instance level 1 ID",
    "inst_level1_name" Text "application instance level 1 name",
    "inst_level2_type" Text "application instance level 2 type",
    "inst_level2_id" Text "application instance level 2 ID",
    "inst_level2_name" Text "application instance level 2 name",
    "inst_level3_type" Text "application instance level 3 type",
    "inst_level3_id" Text "application instance level 3 ID",
    "inst_level3_name" Text "application instance level 3 name",
    "datacenter" Text "data center name",
    "datacentercity" Text "data center city",
    "datacentercountry" Text "data center country",
    "dlpdict" Text "DLP dictionaries matched",
    "dlpdicthitcount" Text "hits per matched DLP dictionary",
    "dlpeng" Text "DLP engine matched",
    "dlpidentifier" Number "DLP incident identifier",
    "dlpmd5" Text "MD5 of the transaction (DLP)",
    "dlprulename" Text "DLP rule applied (allow rules)",
    "trig_dlprulename" Text "DLP rule that triggered",
    "other_dlprulenames" Text "DLP rules evaluated without action",
    "all_dlprulenames" Text "all DLP rules",
    "ft_rulename" Text "File Type Control rule applied (allow rules)",
    "fileclass" Text "class of the downloaded file",
    "filetype" Text "type of the downloaded file",
    "filename" Text "name of the downloaded file",
    "filesubtype" Text "extension of the downloaded file",
    "upload_fileclass" Text "class of the uploaded file",
    "upload_filetype" Text "type of the uploaded file",
    "upload_filename" Text "name of the uploaded file",
    "upload_filesubtype" Text "extension of the uploaded file",
    "upload_doctypename" Text "document type",
    "upload_doc_sub_type" Text "document subtype",
    "unscannabletype" Text "unscannable file type",
    "rdr_rulename" Text "forwarding rule",
    "fwd_type" Text "forwarding method",
    "fwd_gw_name" Text "forwarding gateway name",
    "fwd_gw_ip" Text "forwarding gateway IP",
    "zpa_app_seg_name" Text "ZPA application segment",
    "reqdatasize" Number "request payload size in bytes",
    "reqhdrsize" Number "request header size in bytes",
    "reqsize" Number "request size in bytes",
    "respdatasize" Number "response payload size in bytes",
    "resphdrsize" Number "response header size in bytes",
    "respsize" Number "response size in bytes",
    "totalsize" Number "transaction size in bytes",
    "ctime" Number "client-side transaction time in ms",
    "stime" Number "server round trip time in ms",
    "reqmethod" Text "HTTP request method",
    "reqversion" Text "HTTP request version",
    "respcode" Text "HTTP response code",
    "respversion" Text "HTTP response version",
    "referer" Text "HTTP referrer URL",
    "refererhost" Text "referrer host name",
    "refererpath" Text "referrer path",
    "uaclass" Text "user agent class",
    "ua" Text "user agent string",
    "ua_token" Text "user agent token",
    "host" Text "destination host name",
    "url" Text "destination URL without scheme",
    "urlpath" Text "destination URL path",
    "df_hostname" Text "domain-fronted SNI",
    "df_hosthead" Text "domain-fronted host header",
    "contenttype" Text "content type",
    "mobappname" Text "mobile app name",
    "mobappcat" Text "mobile app category",
    "mobdevtype" Text "mobile device type",
    "cip" Text "client IP address",
    "cintip" Text "client public (NATed) IP address",
    "cpubip" Text "client public IP address",
    "clt_sport" Number "client source port",
    "srcip_country" Text "source IP country",
    "dstip_country" Text "destination IP country",
    "is_src_cntry_risky" Text "whether the source country is risky",
    "is_dst_cntry_risky" Text "whether the destination country is risky",
    "sip" Text "destination server IP (0.0.0.0 when blocked)",
    "srv_dport" Number "server destination port",
    "proto" Text "protocol (HTTP, HTTPS, FTP, ...)",
    "alpnprotocol" Text "ALPN protocol",
    "trafficredirectmethod" Text "traffic forwarding method",
    "location" Text "gateway location",
    "userlocationname" Text "user location (isolation)",
    "ruletype" Text "policy type (block rules)",
    "rulelabel" Text "rule applied (block rules)",
    "action" Text "action taken (Allowed, Blocked)",
    "reason" Text "reason for the action",
    "urlfilterrulelabel" Text "URL filtering rule",
    "apprulelabel" Text "cloud app control rule",
    "bamd5" Text "MD5 of the file (sandbox)",
    "sha256" Text "SHA-256 of the file",
    "ssldecrypted" Text "whether SSL was inspected",
    "ssl_rulename" Text "SSL inspection rule",
    "externalspr" Text "SSL policy reason",
    "keyprotectiontype" Text "intermediate CA protection type",
    "clientsslcipher" Text "client-side cipher suite",
    "clienttlsversion" Text "client-side TLS version",
    "clientsslsessreuse" Text "client session reused",
    "cltsslfailreason" Text "client SSL handshake failure reason",
    "cltsslfailcount" Number "client SSL handshake failures",
    "srvsslcipher" Text "server-side cipher suite",
    "srvtlsversion" Text "server-side TLS version",
    "client_tls_keyex_pqc_offers" Number "1 when the client offered a post-quantum key exchange",
    "client_tls_keyex_non_pqc_offers" Number "1 when the client offered a classical key exchange",
    "client_tls_keyex_hybrid_offers" Number "1 when the client offered a hybrid key exchange",
    "client_tls_keyex_unknown_offers" Number "1 when the client offered an unknown key exchange",
    "client_tls_sig_pqc_offers" Number "1 when the client offered a post-quantum signature",
    "client_tls_sig_hybrid_offers" Number "1 when the client offered a hybrid signature",
    "client_tls_keyex_alg" Text "client-side key exchange algorithm",
    "client_tls_sig_alg" Text "client-side signature algorithm",
    "server_tls_keyex_alg" Text "server-side key exchange algorithm",
    "server_tls_sig_alg" Text "server-side signature algorithm",
    "serversslsessreuse" Text "server session reused",
    "srvocspresult" Text "OCSP result",
    "srvcertchainvalpass" Text "certificate chain validation",
    "srvwildcardcert" Text "server wildcard certificate",
    "srvcertvalidationtype" Text "server certificate validation type",
    "srvcertvalidityperiod" Text "server certificate validity period",
    "is_ssluntrustedca" Text "untrusted CA",
    "is_sslselfsigned" Text "self-signed certificate",
    "is_sslexpiredca" Text "expired certificate",
    "riskscore" Number "page risk index (0-100)",
    "threatseverity" Text "threat severity",
    "threatname" Text "threat name",
    "malwarecat" Text "malware category",
    "malwareclass" Text "malware class",
    "urlclass" Text "URL class",
    "urlsupercat" Text "URL super category",
    "urlcat" Text "URL category",
    "urlcatmethod" Text "URL categorization method",
    "devicehostname" Text "device host name",
    "devicemodel" Text "device model",
    "devicename" Text "device name",
    "devicetype" Text "device type",
    "deviceostype" Text "device OS type",
    "deviceosversion" Text "device OS version",
    "deviceowner" Text "device owner",
    "deviceappversion" Text "Client Connector version",
    "ztunnelversion" Text "Z-Tunnel version",
    "external_devid" Text "external (MDM) device ID",
    "bypassed_traffic" Number "1 if the traffic bypassed Client Connector",
    "bypassed_etime" Text "time the traffic bypassed Client Connector",
    "flow_type" Text "flow type",
    "recordid" Number "unique record identifier",
    "pcapid" Text "packet capture file path",
    "productversion" Text "product version",
    "nsssvcip" Text "NSS service IP address",
    "eedone" Text "whether the feed escape characters were hex encoded",
];

const WEB_HEX: &[(&str, &str)] = &[
    ("eua", "ua"),
    ("efilename", "filename"),
    ("eupload_filename", "upload_filename"),
    ("emobappname", "mobappname"),
    ("ehost", "host"),
    ("eurl", "url"),
    ("ereferer", "referer"),
    ("erefererpath", "refererpath"),
    ("eurlpath", "urlpath"),
    ("erefererhost", "refererhost"),
    ("elogin", "login"),
    ("elocation", "location"),
    ("edepartment", "dept"),
    ("erulelabel", "rulelabel"),
    ("eurlfilterrulelabel", "urlfilterrulelabel"),
    ("eapprulelabel", "apprulelabel"),
    ("euserlocationname", "userlocationname"),
    ("edevicename", "devicename"),
    ("edevicehostname", "devicehostname"),
];

const FIREWALL: &[FieldDef] = fields![
    "login" Text "user login name (email format)",
    "dept" Text "user department",
    "csip" Text "client source IP",
    "csport" Number "client source port",
    "cdip" Text "client destination IP",
    "cdport" Number "client destination port",
    "cdfqdn" Text "client destination FQDN",
    "tsip" Text "client tunnel IP",
    "tsport" Number "client tunnel source port",
    "location" Text "location of the session",
    "ttype" Text "traffic forwarding method",
    "aggregate" Text "whether the session is aggregated",
    "srcip_country" Text "source country",
    "threatcat" Text "IPS threat category",
    "threatname" Text "IPS threat name",
    "threat_score" Number "IPS threat score",
    "threat_severity" Text "IPS threat severity",
    "ipsrulelabel" Text "IPS rule applied",
    "ips_custom_signature" Number "1 if a custom IPS signature applied",
    "sdport" Number "server destination port",
    "sdip" Text "server destination IP",
    "ssip" Text "server source IP",
    "ssport" Number "server source port",
    "ipcat" Text "URL category of the server IP",
    "avgduration" Number "average session duration in ms (aggregated)",
    "duration" Number "session duration in seconds",
    "durationms" Number "session duration in ms",
    "numsessions" Number "number of aggregated sessions",
    "stateful" Text "whether the session is stateful",
    "rulelabel" Text "firewall rule applied",
    "action" Text "action taken",
    "dnat" Text "whether destination NAT applied",
    "dnatrulelabel" Text "destination NAT rule",
    "recordid" Number "unique record identifier",
    "pcapid" Text "packet capture file path",
    "inbytes" Number "bytes from server to client",
    "outbytes" Number "bytes from client to server",
    "nwapp" Text "network application",
    "nwsvc" Text "network service",
    "ipproto" Text "IP protocol",
    "destcountry" Text "destination country",
    "eedone" Text "whether the feed escape characters were hex encoded",
    "devicehostname" Text "device host name",
    "devicemodel" Text "device model",
    "devicename" Text "device name",
    "deviceostype" Text "device OS type",
    "deviceosversion" Text "device OS version",
    "deviceowner" Text "device owner",
    "deviceappversion" Text "Client Connector version",
    "external_deviceid" Text "external (MDM) device ID",
    "ztunnelversion" Text "Z-Tunnel version",
    "bypassed_session" Number "1 if the session bypassed Client Connector",
    "bypass_etime" Text "time the session bypassed Client Connector",
    "flow_type" Text "flow type",
    "datacenter" Text "data center name",
    "datacentercity" Text "data center city",
    "datacentercountry" Text "data center country",
    "rdr_rulename" Text "forwarding rule",
    "fwd_gw_name" Text "forwarding gateway name",
    "zpa_app_seg_name" Text "ZPA application segment",
];

const FIREWALL_HEX: &[(&str, &str)] = &[
    ("ethreatname", "threatname"),
    ("elocation", "location"),
    ("edepartment", "dept"),
    ("erulelabel", "rulelabel"),
    ("elogin", "login"),
    ("edevicehostname", "devicehostname"),
];

const DNS: &[FieldDef] = fields![
    "reqrulelabel" Text "rule applied to the request",
    "reqaction" Text "action applied to the request",
    "resrulelabel" Text "rule applied to the response",
    "resaction" Text "action applied to the response",
    "ecs_slot" Text "EDNS client subnet rule",
    "dnsgw_slot" Text "DNS gateway rule",
    "istcp" Number "1 if the transaction used TCP",
    "cip" Text "client IP address",
    "durationms" Number "request duration in ms",
    "sip" Text "server IP address",
    "recordid" Number "unique record identifier",
    "pcapid" Text "packet capture file path",
    "location" Text "gateway location",
    "req" Text "FQDN requested",
    "res" Text "resolved IP or name",
    "domcat" Text "category of the requested domain",
    "respipcat" Text "category of the response",
    "reqtype" Text "DNS request type",
    "restype" Text "DNS response type",
    "sport" Number "server port",
    "eedone" Text "whether the feed escape characters were hex encoded",
    "error" Text "DNS error code",
    "ecs_prefix" Text "EDNS client subnet prefix",
    "dnsgw_srv_proto" Text "DNS gateway server protocol",
    "dnsgw_flags" Text "DNS gateway flags",
    "http_code" Text "HTTP code (DNS over HTTPS)",
    "dnsappcat" Text "DNS tunnel or network app category",
    "dnsapp" Text "DNS tunnel or network app",
    "protocol" Text "protocol (TCP, UDP, DoH)",
    "login" Text "user login name (email format)",
    "dept" Text "user department",
    "company" Text "company name",
    "cloudname" Text "Zscaler cloud name",
    "devicehostname" Text "device host name",
    "devicename" Text "device name",
    "deviceowner" Text "device owner",
    "devicemodel" Text "device model",
    "deviceosversion" Text "device OS version",
    "deviceostype" Text "device OS type",
    "deviceappversion" Text "Client Connector version",
    "devicetype" Text "device type",
    "datacenter" Text "data center name",
    "datacentercity" Text "data center city",
    "datacentercountry" Text "data center country",
];

const DNS_HEX: &[(&str, &str)] = &[
    ("elocation", "location"),
    ("edepartment", "dept"),
    ("erulelabel", "reqrulelabel"),
    ("elogin", "login"),
    ("edevicehostname", "devicehostname"),
    ("ednsreq", "req"),
];

const TUNNEL: &[FieldDef] = fields![
    "tunnelactionname" Text "record type (WL_TUNNEL_EVENT, WL_TUNNEL_IPSECPHASE1, ...)",
    "vpncredentialname" Text "VPN credential name",
    "locationname" Text "location name",
    "destvip" Text "tunnel destination VIP",
    "sourceip" Text "tunnel source IP",
    "lifetime" Number "IKE lifetime in seconds",
    "spi_in" Number "initiator cookie",
    "spi_out" Number "responder cookie",
    "srcport" Number "tunnel source port",
    "dstport" Number "tunnel destination port",
    "algo" Text "encryption algorithm",
    "authentication" Text "authentication algorithm",
    "authtype" Text "authentication type",
    "vendorname" Text "edge device vendor",
    "ikeversion" Number "IKE version (1 or 2)",
    "recordid" Number "unique record identifier",
    "spi" Number "security parameter index",
    "destipstart" Text "phase 2 proposal destination IP start",
    "destipend" Text "phase 2 proposal destination IP end",
    "srcipstart" Text "phase 2 proposal source IP start",
    "srcipend" Text "phase 2 proposal source IP end",
    "srcportstart" Number "phase 2 proposal source port start",
    "destportstart" Number "phase 2 proposal destination port start",
    "lifebytes" Number "bytes before renegotiation",
    "tunnelprotocol" Text "IPSec tunnel protocol (ESP)",
    "protocol" Text "phase 2 proposal protocol",
    "policydirection" Text "phase 2 policy direction",
    "tunneltype" Text "tunnel type (GRE, IPSEC_IKEV1, IPSEC_IKEV2)",
    "event" Text "tunnel status (UP, DOWN, PHASE1_ERROR, ...)",
    "eventreason" Text "reason of the status change",
    "txbytes" Number "bytes sent in the sample window",
    "rxbytes" Number "bytes received in the sample window",
    "txpackets" Number "packets sent in the sample window",
    "rxpackets" Number "packets received in the sample window",
    "dpdrec" Number "DPD packets received in the sample window",
];

// `elocationname` is used by the deployment guide's tunnel formats.
const TUNNEL_HEX: &[(&str, &str)] = &[("elocationname", "locationname")];

const AUDIT: &[FieldDef] = fields![
    "recordid" Number "unique record identifier",
    "action" Text "action performed by the admin",
    "category" Text "portal location of the action",
    "subcategory" Text "portal sub-location of the action",
    "resource" Text "resource acted on",
    "interface" Text "UI or API",
    "adminid" Text "admin login ID",
    "clientip" Text "admin source IP",
    "result" Text "outcome of the action",
    "errorcode" Text "error code when the result is a failure",
    "auditlogtype" Text "audit log type",
    "preaction" Text "data before the change (JSON)",
    "postaction" Text "data after the change (JSON)",
];

const AUDIT_HEX: &[(&str, &str)] = &[
    ("epreaction", "preaction"),
    ("epostaction", "postaction"),
    ("eresource", "resource"),
];

const SAAS_SECURITY: &[FieldDef] = fields![
    "datacenter" Text "data center name",
    "datacentercity" Text "data center city",
    "datacentercountry" Text "data center country",
    "policy" Text "data at rest scanning policy action",
    "rulelabel" Text "rule that triggered",
    "ruletype" Text "policy type",
    "filescantimems" Number "scan time in ms",
    "filedownloadtimems" Number "download time in ms",
    "recordid" Number "unique record identifier",
    "user" Text "user of the transaction",
    "owner" Text "owner of the object",
    "department" Text "user department",
    "fileid" Text "file ID",
    "filename" Text "file name",
    "filetypename" Text "file type",
    "filesource" Text "source location of the file",
    "filesize" Number "file size in bytes",
    "lastmodtime" Text "file modification time",
    "epochlastmodtime" Number "file modification time (epoch)",
    "filemd5" Text "MD5 of the file",
    "fullurl" Text "public URL of a shared file",
    "suburl" Text "URI part of the full URL",
    "hostname" Text "host name of the internal URL",
    "extownername" Text "external file owners",
    "intcollabnames" Text "internal collaborators",
    "extcollabnames" Text "external collaborators",
    "intcollab_groups" Text "internal collaborator groups",
    "extcollab_groups" Text "external collaborator groups",
    "collabscope" Text "collaboration scope",
    "dlpdictnames" Text "DLP dictionary names",
    "dlpenginenames" Text "DLP engine names",
    "dlpidentifier" Number "DLP identifier",
    "dlpdictcount" Text "hits per DLP dictionary",
    "severity" Text "incident severity",
    "malware" Text "malware type",
    "malwareclass" Text "malware class",
    "threatname" Text "threat name",
    "company" Text "company name",
    "companyid" Number "company ID",
    "tenant" Text "SaaS application tenant",
    "applicationname" Text "SaaS application",
    "upload_doctypename" Text "document type",
    "last_edit_user" Text "user who last edited the file",
    "last_share_user" Text "user who last shared the file",
    "last_shared_on" Text "time the file was last shared",
    "any_incident" Text "whether the transaction was an incident",
    "msgid" Text "message ID",
    "internal_recptnames" Text "internal recipients",
    "external_recptnames" Text "external recipients",
    "sharedchannel_hostname" Text "shared channel host name",
    "sender" Text "sender email",
    "channel_name" Text "channel name",
    "objectname" Text "object name",
    "objecttype" Text "object type",
    "file_msg_id" Text "file or message ID",
    "filetypecategory" Text "file type category",
    "internal_collabnames" Text "internal collaborators",
    "external_collabnames" Text "external collaborators",
    "file_msg_mod_time" Text "file or message modification time",
    "filepath" Text "file path",
    "component" Text "component type",
    "sha" Text "SHA-256 of the file",
    "num_internal_collab" Number "number of internal collaborators",
    "num_external_collab" Number "number of external collaborators",
    "projectname" Text "project name",
    "reponame" Text "repository name",
    "bucketname" Text "bucket name",
    "bucketowner" Text "bucket owner",
    "bucketid" Number "bucket ID",
    "collabnames" Text "collaborators",
    "numcollab" Number "number of collaborators",
    "messageid" Text "message ID",
    "msgsize" Number "message size in bytes",
    "is_inbound" Text "whether the email was inbound",
    "attchcomponentfilenames" Text "attachment file names",
    "attchcomponentfiletypes" Text "attachment file types",
    "extrecptnames" Text "external recipients",
    "intrecptnames" Text "internal recipients",
];

// Endpoint DLP, from Zscaler's "NSS Feed Output Format: Endpoint DLP Logs" page and the
// variable names other integrations' templates use; not exhaustive.
const ENDPOINT_DLP: &[FieldDef] = fields![
    "rtime" Text "feed time: when the NSS received the record",
    "eventtime" Text "when the DLP service evaluated the activity on the endpoint",
    "recordid" Number "record ID",
    "scantime" Number "scan time in milliseconds",
    "scannedbytes" Number "bytes scanned",
    "numdlpengids" Number "number of DLP engines matched",
    "numdlpdictids" Number "number of DLP dictionaries matched",
    "dlpenginenames" Text "DLP engines matched",
    "dlpdictnames" Text "DLP dictionaries matched",
    "dlpdictcount" Text "hits per DLP dictionary (|-separated)",
    "dlpidentifier" Number "DLP incident identifier",
    "user" Text "user",
    "department" Text "department of the user",
    "devicename" Text "device name",
    "devicehostname" Text "device host name",
    "deviceowner" Text "device owner",
    "devicetype" Text "device type",
    "devicemodel" Text "device model",
    "deviceplatform" Text "device platform",
    "deviceostype" Text "device OS type",
    "deviceosversion" Text "device OS version",
    "deviceappversion" Text "Client Connector version",
    "channel" Text "channel of the activity (removable media, network drive, printing, ...)",
    "activitytype" Text "activity type",
    "actiontaken" Text "action taken",
    "expectedaction" Text "action the rule expected",
    "confirmaction" Text "the user's answer to a confirmation prompt",
    "confirmjustification" Text "the user's justification",
    "zdpmode" Text "endpoint DLP mode",
    "logtype" Text "log type (activity or incident)",
    "severity" Text "severity of the incident",
    "rulename" Text "DLP rule that triggered",
    "otherrulelabels" Text "other DLP rules matched",
    "itemname" Text "item (file) name",
    "itemtype" Text "item type",
    "itemsrcname" Text "source of the item",
    "itemdstname" Text "destination of the item",
    "srctype" Text "source type",
    "dsttype" Text "destination type",
    "filesrcpath" Text "source path of the file",
    "filedstpath" Text "destination path of the file",
    "filemd5" Text "MD5 of the file",
    "filesha" Text "SHA-256 of the file",
    "filetypename" Text "file type",
    "filetypecategory" Text "file type category",
    "filedoctype" Text "document type",
    "additionalinfo" Text "additional information",
    "datacenter" Text "data center",
    "datacentercity" Text "data center city",
    "datacentercountry" Text "data center country",
];

// Email DLP, from Zscaler's "NSS Feed Output Format: Email DLP Logs" page. The `s`-ending
// list fields are `|`-separated and aligned position by position (one slot per attachment,
// per triggered rule).
const EMAIL_DLP: &[FieldDef] = fields![
    "rtime" Text "feed time: when the NSS received the record",
    "mailsenttime" Text "when the mail was sent",
    "recordid" Number "record ID",
    "scantime" Number "scan time in milliseconds",
    "company" Text "company name",
    "tenant" Text "mail tenant",
    "user" Text "user (sender)",
    "dept" Text "department of the user",
    "sender" Text "sender address",
    "subject" Text "mail subject",
    "msgid" Text "message ID",
    "triggeredrcpts" Text "recipients that triggered a rule (|-separated)",
    "otherrcpts" Text "other recipients (|-separated)",
    "filenames" Text "attachment names (|-separated, aligned)",
    "filemd5s" Text "attachment MD5s (|-separated, aligned)",
    "filesizes" Text "attachment sizes (|-separated, aligned)",
    "filetypes" Text "attachment file types (|-separated, aligned)",
    "doctypes" Text "attachment document types (|-separated, aligned)",
    "dlpdictnames" Text "DLP dictionaries matched (|-separated)",
    "dlpdictcnts" Text "hits per DLP dictionary (|-separated)",
    "dlpengnames" Text "DLP engines matched (|-separated)",
    "dlpidentifier" Number "DLP incident identifier",
    "severity" Text "severity per triggered rule (|-separated, aligned)",
    "action" Text "action per triggered rule (|-separated, aligned)",
    "rulename" Text "triggered rules (|-separated, aligned)",
];

const SAAS_SECURITY_HEX: &[(&str, &str)] = &[
    ("efilename", "filename"),
    ("efilepath", "filepath"),
    ("efullurl", "fullurl"),
    ("ehostname", "hostname"),
    ("einternal_collabnames", "internal_collabnames"),
    ("eexternal_collabnames", "external_collabnames"),
    ("eobjectname", "objectname"),
    ("eprojectname", "projectname"),
    ("ereponame", "reponame"),
    ("ebucketname", "bucketname"),
    ("ebucketowner", "bucketowner"),
    ("ecollabnames", "collabnames"),
    ("efilesource", "filesource"),
    ("eowner", "owner"),
    ("eattchcomponentfilenames", "attchcomponentfilenames"),
    ("eattchcomponentfiletypes", "attchcomponentfiletypes"),
    ("edepartment", "department"),
    ("edlpdictnames", "dlpdictnames"),
    ("edlpenginenames", "dlpenginenames"),
    ("eextownername", "extownername"),
    ("eextrecptnames", "extrecptnames"),
    ("eintrecptnames", "intrecptnames"),
    ("ethreatname", "threatname"),
    ("esender", "sender"),
];

const SAAS_ACTIVITY: &[FieldDef] = fields![
    "username" Text "user who performed the activity",
    "is_admin_act" Text "1 if an administrator performed the activity",
    "tenant" Text "SaaS application tenant",
    "objtypename1" Text "object type",
    "objtypename2" Text "second object type",
    "objtype1" Number "object type code (used by the deployment guide)",
    "objtype2" Number "second object type code",
    "appname" Text "SaaS application",
    "objnames1" Text "object name",
    "objnames2" Text "second object name",
    "act_cnt" Number "activity count",
    "act_type_name" Text "activity type",
    "eventtime" Text "event time of the activity",
    "extownername" Text "external owner",
    "src_ip" Text "IP address of the activity",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hex_variant_encodes_a_field_of_its_log_type() {
        for lt in LogType::ALL {
            for (e, base) in lt.hex_encoded() {
                assert!(
                    lt.fields().iter().any(|f| f.name == *base),
                    "{lt}: {e} encodes unknown field {base}"
                );
            }
        }
    }

    #[test]
    fn field_names_are_unique_within_a_log_type() {
        for lt in LogType::ALL {
            let mut names: Vec<_> = lt.fields().iter().map(|f| f.name).collect();
            names.sort_unstable();
            let before = names.len();
            names.dedup();
            assert_eq!(before, names.len(), "{lt} has duplicate fields");
        }
    }

    #[test]
    fn resolve_finds_hex_obfuscated_and_base64_variants() {
        let r = resolve(LogType::Web, "eurl").unwrap();
        assert!(matches!(r, Resolved::Field { def, encoding: Encoding::Hex } if def.name == "url"));
        let r = resolve(LogType::Web, "ologin").unwrap();
        assert!(matches!(
            r,
            Resolved::Field {
                encoding: Encoding::Obfuscated,
                ..
            }
        ));
        let r = resolve(LogType::Web, "b64ua").unwrap();
        assert!(matches!(
            r,
            Resolved::Field {
                encoding: Encoding::Base64,
                ..
            }
        ));
        assert!(resolve(LogType::Web, "nosuchfield").is_none());
    }

    #[test]
    fn datetime_is_a_date_element_only_in_tunnel_logs() {
        assert_eq!(
            date_element(LogType::Tunnel, "datetime"),
            Some(DateElement::Time)
        );
        assert_eq!(date_element(LogType::Web, "datetime"), None);
    }

    #[test]
    fn log_type_names_round_trip() {
        for lt in LogType::ALL {
            assert_eq!(lt.name().parse::<LogType>().unwrap(), lt);
        }
        assert!("nope".parse::<LogType>().is_err());
    }
}
