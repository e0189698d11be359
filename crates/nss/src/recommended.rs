//! The recommended, copy-paste-safe feed output formats and Cloud NSS settings.
//!
//! The JSON keys are those of the Sekoia.io "Zscaler Internet Access" deployment guide (the
//! keys the `zia` parser maps). Compared with the guide, the formats here
//! - use the hex-encoded (`e`) variable wherever NSS has one, so that a `"` or `\` in a
//!   value is sent as `%22`/`%5c` (with the feed escape characters `,\"`) and cannot break
//!   the JSON;
//! - add firewall and DNS formats, which the guide leaves out;
//! - add `rulelabel` to web logs and `recordid` to firewall and DNS logs (for de-duplication
//!   of replayed records), and `datetime` to SaaS Security Activity logs.

use std::fmt;

use crate::dict::LogType;

/// How the feed reaches the intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// An NSS VM sending syslog over TCP: each record gets an RFC 3164 syslog header.
    Nss,
    /// An NSS VM with an RFC 5424 syslog header and the guide's `event=` prefix.
    NssRfc5424,
    /// Cloud NSS posting HTTPS batches: bare JSON records.
    CloudNss,
}

impl std::str::FromStr for Transport {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "nss" => Ok(Transport::Nss),
            "nss-rfc5424" => Ok(Transport::NssRfc5424),
            "cloud-nss" | "cloud" => Ok(Transport::CloudNss),
            _ => Err(format!(
                "unknown transport `{s}` (expected nss or cloud-nss)"
            )),
        }
    }
}

/// The RFC 3164 syslog header an NSS VM feed puts in front of each record, as in the
/// deployment guide.
pub const SYSLOG_HEADER: &str = "%s{mon} %02d{dd} %02d{hh}:%02d{mm}:%02d{ss} zscaler-nss NSS ";

/// The RFC 5424 header of the deployment guide, with the month as `mth` (the guide's web
/// format has `mm`, the minutes, in its place).
pub const SYSLOG_HEADER_RFC5424: &str =
    "<134>1 %d{yyyy}-%02d{mth}-%02d{dd}T%02d{hh}:%02d{mm}:%02d{ss}Z zscaler-nss NSS - - - event=";

/// One recommended format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recommended {
    /// The log type it is for.
    pub log_type: LogType,
    /// A short name (`web`, `tunnel-ike-phase1`, ...).
    pub name: &'static str,
    /// Where to paste it, when a log type has several record types.
    pub record_type: Option<&'static str>,
    /// The JSON body (without syslog header).
    pub body: &'static str,
    /// The format's version, raised whenever its keys change, so that the intake can tell a
    /// feed still configured with an earlier version from one that drifted otherwise.
    pub version: u32,
    /// The earlier versions, newest first: each with the JSON keys this version added since
    /// it (an earlier version's keys are this version's without them).
    pub earlier: &'static [(u32, &'static [&'static str])],
}

impl Recommended {
    /// The format to paste for a transport.
    pub fn format(&self, transport: Transport) -> String {
        match transport {
            Transport::Nss => format!("{SYSLOG_HEADER}{}", self.body),
            Transport::NssRfc5424 => format!("{SYSLOG_HEADER_RFC5424}{}", self.body),
            Transport::CloudNss => self.body.to_string(),
        }
    }
}

/// All recommended formats, in the deployment guide's order of log types.
pub const RECOMMENDED: &[Recommended] = &[
    Recommended {
        log_type: LogType::Web,
        name: "web",
        record_type: None,
        body: r#"\{"sourcetype":"zscalernss-web","event":\{"datetime":"%d{yy}-%02d{mth}-%02d{dd} %02d{hh}:%02d{mm}:%02d{ss}","reason":"%s{reason}","event_id":"%d{recordid}","protocol":"%s{proto}","action":"%s{action}","transactionsize":"%d{totalsize}","responsesize":"%d{respsize}","requestsize":"%d{reqsize}","urlcategory":"%s{urlcat}","serverip":"%s{sip}","requestmethod":"%s{reqmethod}","refererURL":"%s{ereferer}","useragent":"%s{eua}","product":"NSS","location":"%s{elocation}","ClientIP":"%s{cip}","status":"%s{respcode}","user":"%s{elogin}","url":"%s{eurl}","vendor":"Zscaler","hostname":"%s{ehost}","clientpublicIP":"%s{cintip}","threatcategory":"%s{malwarecat}","threatname":"%s{threatname}","filetype":"%s{filetype}","appname":"%s{appname}","pagerisk":"%d{riskscore}","department":"%s{edepartment}","urlsupercategory":"%s{urlsupercat}","appclass":"%s{appclass}","dlpengine":"%s{dlpeng}","urlclass":"%s{urlclass}","threatclass":"%s{malwareclass}","dlpdictionaries":"%s{dlpdict}","fileclass":"%s{fileclass}","bwthrottle":"%s{bwthrottle}","contenttype":"%s{contenttype}","unscannabletype":"%s{unscannabletype}","deviceowner":"%s{deviceowner}","devicehostname":"%s{edevicehostname}","keyprotectiontype":"%s{keyprotectiontype}","rulelabel":"%s{erulelabel}","srcip_country":"%s{srcip_country}","dstip_country":"%s{dstip_country}","is_src_cntry_risky":"%s{is_src_cntry_risky}","is_dst_cntry_risky":"%s{is_dst_cntry_risky}"\}\}"#,
        version: 2,
        earlier: &[(
            1,
            &[
                "srcip_country",
                "dstip_country",
                "is_src_cntry_risky",
                "is_dst_cntry_risky",
            ],
        )],
    },
    Recommended {
        log_type: LogType::Firewall,
        name: "firewall",
        record_type: None,
        body: r#"\{"sourcetype":"zscalernss-fw","event":\{"datetime":"%s{time}","user":"%s{elogin}","department":"%s{edepartment}","locationname":"%s{elocation}","cdport":"%d{cdport}","csport":"%d{csport}","sdport":"%d{sdport}","ssport":"%d{ssport}","csip":"%s{csip}","cdip":"%s{cdip}","ssip":"%s{ssip}","sdip":"%s{sdip}","tsip":"%s{tsip}","tunsport":"%d{tsport}","tuntype":"%s{ttype}","action":"%s{action}","dnat":"%s{dnat}","stateful":"%s{stateful}","aggregate":"%s{aggregate}","nwsvc":"%s{nwsvc}","nwapp":"%s{nwapp}","proto":"%s{ipproto}","ipcat":"%s{ipcat}","destcountry":"%s{destcountry}","avgduration":"%d{avgduration}","rulelabel":"%s{erulelabel}","inbytes":"%ld{inbytes}","outbytes":"%ld{outbytes}","duration":"%d{duration}","durationms":"%d{durationms}","numsessions":"%d{numsessions}","ipsrulelabel":"%s{ipsrulelabel}","threatcat":"%s{threatcat}","threatname":"%s{ethreatname}","deviceowner":"%s{deviceowner}","devicehostname":"%s{edevicehostname}","recordid":"%d{recordid}","srcip_country":"%s{srcip_country}","dnatrulelabel":"%s{dnatrulelabel}"\}\}"#,
        version: 2,
        earlier: &[(1, &["srcip_country", "dnatrulelabel"])],
    },
    Recommended {
        log_type: LogType::Dns,
        name: "dns",
        record_type: None,
        body: r#"\{"sourcetype":"zscalernss-dns","event":\{"datetime":"%s{time}","user":"%s{elogin}","department":"%s{edepartment}","location":"%s{elocation}","reqaction":"%s{reqaction}","resaction":"%s{resaction}","reqrulelabel":"%s{erulelabel}","resrulelabel":"%s{resrulelabel}","dns_reqtype":"%s{reqtype}","dns_req":"%s{ednsreq}","dns_resp":"%s{res}","srv_dport":"%d{sport}","durationms":"%d{durationms}","clt_sip":"%s{cip}","srv_dip":"%s{sip}","category":"%s{domcat}","respipcategory":"%s{respipcat}","deviceowner":"%s{deviceowner}","devicehostname":"%s{edevicehostname}","recordid":"%d{recordid}"\}\}"#,
        version: 1,
        earlier: &[],
    },
    Recommended {
        log_type: LogType::Tunnel,
        name: "tunnel-event",
        record_type: Some("Tunnel Event"),
        body: r#"\{"sourcetype":"zscalernss-tunnel","event":\{"datetime":"%s{datetime}","Recordtype":"%s{tunnelactionname}","tunneltype":"%s{tunneltype}","user":"%s{vpncredentialname}","location":"%s{elocationname}","sourceip":"%s{sourceip}","destinationip":"%s{destvip}","sourceport":"%d{srcport}","event":"%s{event}","eventreason":"%s{eventreason}","recordid":"%d{recordid}"\}\}"#,
        version: 1,
        earlier: &[],
    },
    Recommended {
        log_type: LogType::Tunnel,
        name: "tunnel-ike-phase1",
        record_type: Some("IKE Phase 1"),
        body: r#"\{"sourcetype":"zscalernss-tunnel","event":\{"datetime":"%s{datetime}","Recordtype":"%s{tunnelactionname}","tunneltype":"IPSEC IKEV %d{ikeversion}","user":"%s{vpncredentialname}","location":"%s{elocationname}","sourceip":"%s{sourceip}","destinationip":"%s{destvip}","sourceport":"%d{srcport}","destinationport":"%d{dstport}","lifetime":"%d{lifetime}","ikeversion":"%d{ikeversion}","spi_in":"%lu{spi_in}","spi_out":"%lu{spi_out}","algo":"%s{algo}","authentication":"%s{authentication}","authtype":"%s{authtype}","recordid":"%d{recordid}"\}\}"#,
        version: 1,
        earlier: &[],
    },
    Recommended {
        log_type: LogType::Tunnel,
        name: "tunnel-ike-phase2",
        record_type: Some("IKE Phase 2"),
        body: r#"\{"sourcetype":"zscalernss-tunnel","event":\{"datetime":"%s{datetime}","Recordtype":"%s{tunnelactionname}","tunneltype":"IPSEC IKEV %d{ikeversion}","user":"%s{vpncredentialname}","location":"%s{elocationname}","sourceip":"%s{sourceip}","destinationip":"%s{destvip}","sourceport":"%d{srcport}","sourceportstart":"%d{srcportstart}","destinationportstart":"%d{destportstart}","srcipstart":"%s{srcipstart}","srcipend":"%s{srcipend}","destinationipstart":"%s{destipstart}","destinationipend":"%s{destipend}","lifetime":"%d{lifetime}","ikeversion":"%d{ikeversion}","lifebytes":"%d{lifebytes}","spi":"%d{spi}","algo":"%s{algo}","authentication":"%s{authentication}","authtype":"%s{authtype}","protocol":"%s{protocol}","tunnelprotocol":"%s{tunnelprotocol}","policydirection":"%s{policydirection}","recordid":"%d{recordid}"\}\}"#,
        version: 1,
        earlier: &[],
    },
    Recommended {
        log_type: LogType::Audit,
        name: "audit",
        record_type: None,
        body: r#"\{"sourcetype":"zscalernss-audit","event":\{"time":"%s{time}","recordid":"%d{recordid}","action":"%s{action}","category":"%s{category}","subcategory":"%s{subcategory}","resource":"%s{eresource}","interface":"%s{interface}","adminid":"%s{adminid}","clientip":"%s{clientip}","result":"%s{result}","errorcode":"%s{errorcode}","auditlogtype":"%s{auditlogtype}","preaction":"%s{epreaction}","postaction":"%s{epostaction}"\}\}"#,
        version: 1,
        earlier: &[],
    },
    Recommended {
        log_type: LogType::SaasSecurity,
        name: "saas-security",
        record_type: None,
        body: r#"\{"sourcetype":"zscalernss-casb","event":\{"datetime":"%s{time}","recordid":"%d{recordid}","company":"%s{company}","tenant":"%s{tenant}","login":"%s{user}","dept":"%s{edepartment}","applicationname":"%s{applicationname}","filename":"%s{efilename}","filesource":"%s{efilesource}","filemd5":"%s{filemd5}","threatname":"%s{ethreatname}","policy":"%s{policy}","dlpdictnames":"%s{edlpdictnames}","dlpdictcount":"%s{dlpdictcount}","dlpenginenames":"%s{edlpenginenames}","fullurl":"%s{efullurl}","lastmodtime":"%s{lastmodtime}","filescantimems":"%d{filescantimems}","filedownloadtimems":"%d{filedownloadtimems}"\}\}"#,
        version: 1,
        earlier: &[],
    },
    Recommended {
        log_type: LogType::SaasSecurityActivity,
        name: "saas-security-activity",
        record_type: None,
        body: r#"\{"sourcetype":"zscalernss-casb","event":\{"datetime":"%s{time}","login":"%s{username}","tenant":"%s{tenant}","object_type":"%d{objtype1}","applicationname":"%s{appname}","object_name_1":"%s{objnames1}","object_name_2":"%s{objnames2}"\}\}"#,
        version: 1,
        earlier: &[],
    },
    Recommended {
        log_type: LogType::EndpointDlp,
        name: "endpoint-dlp",
        record_type: None,
        body: r#"\{"sourcetype":"zscalernss-edlp","event":\{"datetime":"%s{time}","eventtime":"%s{eventtime}","tz":"%s{tz}","recordid":"%d{recordid}","user":"%s{user}","department":"%s{department}","devicename":"%s{devicename}","devicehostname":"%s{devicehostname}","deviceowner":"%s{deviceowner}","deviceostype":"%s{deviceostype}","deviceosversion":"%s{deviceosversion}","deviceplatform":"%s{deviceplatform}","devicemodel":"%s{devicemodel}","channel":"%s{channel}","activitytype":"%s{activitytype}","actiontaken":"%s{actiontaken}","expectedaction":"%s{expectedaction}","severity":"%s{severity}","rulename":"%s{rulename}","dlpdictnames":"%s{dlpdictnames}","dlpdictcount":"%s{dlpdictcount}","dlpenginenames":"%s{dlpenginenames}","dlpidentifier":"%d{dlpidentifier}","itemname":"%s{itemname}","itemtype":"%s{itemtype}","filesrcpath":"%s{filesrcpath}","filedstpath":"%s{filedstpath}","filemd5":"%s{filemd5}","filesha":"%s{filesha}","filetypename":"%s{filetypename}","scannedbytes":"%d{scannedbytes}"\}\}"#,
        version: 1,
        earlier: &[],
    },
    Recommended {
        log_type: LogType::EmailDlp,
        name: "email-dlp",
        record_type: None,
        body: r#"\{"sourcetype":"zscalernss-emaildlp","event":\{"time":"%s{time}","tz":"%s{tz}","mailsenttime":"%s{mailsenttime}","recordid":"%d{recordid}","company":"%s{company}","tenant":"%s{tenant}","user":"%s{user}","dept":"%s{dept}","sender":"%s{sender}","subject":"%s{subject}","msgid":"%s{msgid}","triggeredrcpts":"%s{triggeredrcpts}","otherrcpts":"%s{otherrcpts}","action":"%s{action}","rulename":"%s{rulename}","severity":"%s{severity}","filenames":"%s{filenames}","filemd5s":"%s{filemd5s}","filesizes":"%s{filesizes}","filetypes":"%s{filetypes}","doctypes":"%s{doctypes}","dlpdictnames":"%s{dlpdictnames}","dlpdictcnts":"%s{dlpdictcnts}","dlpengnames":"%s{dlpengnames}","dlpidentifier":"%d{dlpidentifier}","scantime":"%d{scantime}"\}\}"#,
        version: 1,
        earlier: &[],
    },
];

/// The recommended formats of one log type.
pub fn for_log_type(log_type: LogType) -> impl Iterator<Item = &'static Recommended> {
    RECOMMENDED.iter().filter(move |r| r.log_type == log_type)
}

/// The recommended format with this name (`web`, `tunnel-event`, ...).
pub fn by_name(name: &str) -> Option<&'static Recommended> {
    RECOMMENDED.iter().find(|r| r.name == name)
}

/// The settings of a Cloud NSS feed towards a ziaxdr (or Sekoia.io) intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloudNssSettings;

/// The batch size to configure, in kilobytes.
pub const CLOUD_NSS_BATCH_KB: u32 = 512;

/// The header that carries the intake key.
pub const INTAKE_KEY_HEADER: &str = "X-SEKOIAIO-INTAKE-KEY";

/// The API URL template, with `<host>` to fill in.
pub const API_URL_TEMPLATE: &str = "https://<host>/plain/batch?status_code=200";

impl fmt::Display for CloudNssSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Cloud NSS feed settings (Administration > Nanolog Streaming Service > Cloud NSS Feeds):")?;
        writeln!(f, "  NSS Type:               NSS for Web (web, tunnel, admin audit, SaaS Security); NSS for Firewall (firewall, DNS)")?;
        writeln!(f, "  SIEM Type:              Other")?;
        writeln!(f, "  OAuth 2.0 Authentication: off")?;
        writeln!(f, "  Max Batch Size:         {CLOUD_NSS_BATCH_KB} KB")?;
        writeln!(f, "  API URL:                {API_URL_TEMPLATE}")?;
        writeln!(
            f,
            "  HTTP Header:            {INTAKE_KEY_HEADER}: <intake key>"
        )?;
        writeln!(
            f,
            "  Feed Output Type:       JSON (JSON Array Notation off)"
        )?;
        writeln!(f, "  Feed Escape Character:  ,\\\"")?;
        write!(f, "  Timezone:               GMT")
    }
}

/// The settings of an NSS VM feed towards a ziaxdr syslog listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NssSettings;

impl fmt::Display for NssSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "NSS feed settings (Administration > Nanolog Streaming Service > NSS Feeds):"
        )?;
        writeln!(
            f,
            "  SIEM IP Address / TCP Port: the ziaxdr syslog listener"
        )?;
        writeln!(f, "  Feed Output Type:       Custom")?;
        writeln!(f, "  Feed Escape Character:  ,\\\"")?;
        write!(f, "  Timezone:               GMT")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5424_formats_start_with_pri_and_version() {
        let f = by_name("dns").unwrap().format(Transport::NssRfc5424);
        assert!(f.starts_with("<134>1 %d{yyyy}-%02d{mth}-"), "{f}");
        assert!(f.contains(" - - - event=\\{\"sourcetype\""), "{f}");
    }

    #[test]
    fn every_log_type_has_a_recommended_format() {
        for lt in LogType::ALL {
            assert!(for_log_type(lt).next().is_some(), "{lt} has no format");
        }
    }

    #[test]
    fn nss_formats_start_with_the_syslog_header_and_cloud_formats_with_json() {
        let web = by_name("web").unwrap();
        assert!(web.format(Transport::Nss).starts_with("%s{mon} "));
        assert!(web
            .format(Transport::CloudNss)
            .starts_with("\\{\"sourcetype\""));
    }

    #[test]
    fn each_format_names_the_sourcetype_of_its_log_type() {
        for r in RECOMMENDED {
            let key = format!("\"sourcetype\":\"{}\"", r.log_type.sourcetype());
            assert!(r.body.contains(&key), "{} lacks {key}", r.name);
        }
    }
}
