//! The value pools records are drawn from: invented but realistic users, places,
//! destinations, user agents and threats.
//!
//! Addresses come from the documentation ranges (192.0.2.0/24, 198.51.100.0/24,
//! 203.0.113.0/24, 2001:db8::/32) and private ranges, so simulated traffic never names a real
//! host by IP. Domains of benign traffic are real popular sites (a proxy log without them would
//! not look like one); malicious domains use the reserved `.example` and `.test` names or
//! Zscaler's own test category domains.

/// First names for generated users.
pub const FIRST: &[&str] = &[
    "john", "jane", "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan",
    "judy", "mallory", "nina", "oscar", "peggy", "rupert", "sybil", "trent", "victor", "walter",
    "yasmine", "zoe", "li", "amir", "chloe", "hugo", "ines", "lucas", "manon",
];

/// Last names for generated users.
pub const LAST: &[&str] = &[
    "doe", "smith", "martin", "bernard", "dubois", "garcia", "muller", "rossi", "tanaka", "nguyen",
    "kowalski", "johnson", "brown", "leroy", "moreau", "fournier", "girard", "bonnet", "dupont",
    "lambert",
];

/// Company email domains.
pub const DOMAINS: &[&str] = &["example.org", "corp.example.com"];

/// Departments; some hold spaces and commas, which the hex-encoded fields must encode.
pub const DEPARTMENTS: &[&str] = &[
    "Financial Dept",
    "Sales, EMEA",
    "R&D",
    "Human Resources",
    "IT Operations",
    "Legal",
    "Marketing",
    "Default Department",
];

/// Gateway locations.
pub const LOCATIONS: &[&str] = &[
    "Road Warrior",
    "HQ Paris",
    "Branch Lyon",
    "FR-Re",
    "NYC Office",
    "Remote \"VPN\" Users",
];

/// A destination of web traffic: host, paths and its classification.
pub struct Site {
    /// Host name.
    pub host: &'static str,
    /// Paths under the host.
    pub paths: &'static [&'static str],
    /// URL category.
    pub cat: &'static str,
    /// URL super category.
    pub supercat: &'static str,
    /// URL class.
    pub class: &'static str,
    /// Cloud application name.
    pub app: &'static str,
    /// Cloud application class.
    pub appclass: &'static str,
    /// Content type of responses.
    pub content: &'static str,
}

macro_rules! site {
    ($h:literal, [$($p:literal),*], $c:literal, $s:literal, $k:literal, $a:literal, $ac:literal, $ct:literal) => {
        Site { host: $h, paths: &[$($p),*], cat: $c, supercat: $s, class: $k, app: $a, appclass: $ac, content: $ct }
    };
}

/// Benign destinations.
pub const SITES: &[Site] = &[
    site!(
        "www.google.com",
        ["/", "/search?q=quarterly+report", "/maps"],
        "Web Search",
        "Information Technology",
        "Business Use",
        "Google Search",
        "General Browsing",
        "text/html"
    ),
    site!(
        "outlook.office365.com",
        ["/owa/", "/mail/inbox", "/api/v2.0/me/messages"],
        "Web Mail",
        "Internet Communication",
        "Business Use",
        "Outlook",
        "Web Mail",
        "application/json"
    ),
    site!(
        "teams.microsoft.com",
        ["/", "/api/chatsvc/emea/v1/users/ME/conversations"],
        "Online Chat",
        "Internet Communication",
        "Business Use",
        "Microsoft Teams",
        "Collaboration",
        "application/json"
    ),
    site!(
        "github.com",
        ["/", "/login", "/org/repo/pull/42"],
        "Professional Services",
        "Business and Economy",
        "Business Use",
        "GitHub",
        "IT Services",
        "text/html"
    ),
    site!(
        "www.linkedin.com",
        ["/feed/", "/in/someone"],
        "Professional Services",
        "Business and Economy",
        "Business Use",
        "LinkedIn",
        "Social Networking",
        "text/html"
    ),
    site!(
        "www.nytimes.com",
        ["/", "/section/world"],
        "News and Media",
        "News and Media",
        "Bandwidth Loss",
        "General Browsing",
        "General Browsing",
        "text/html"
    ),
    site!(
        "a.et.nytimes.com",
        ["/"],
        "News and Media",
        "News and Media",
        "Bandwidth Loss",
        "General Browsing",
        "General Browsing",
        "Other"
    ),
    site!(
        "zoom.us",
        ["/j/123456789", "/wc/join"],
        "Online Chat",
        "Internet Communication",
        "Business Use",
        "Zoom",
        "Collaboration",
        "text/html"
    ),
    site!(
        "www.youtube.com",
        ["/watch?v=dQw4w9WgXcQ", "/"],
        "Streaming Media",
        "Entertainment/Recreation",
        "Bandwidth Loss",
        "YouTube",
        "Streaming Media",
        "video/mp4"
    ),
    site!(
        "slack.com",
        ["/api/conversations.history", "/"],
        "Online Chat",
        "Internet Communication",
        "Business Use",
        "Slack",
        "Collaboration",
        "application/json"
    ),
    site!(
        "ctldl.windowsupdate.com",
        ["/msdownload/update/v3/static/trustedr/en/pinrulesstl.cab"],
        "Software Updates",
        "Information Technology",
        "Business Use",
        "Windows Update",
        "IT Services",
        "application/octet-stream"
    ),
    site!(
        "en.wikipedia.org",
        ["/wiki/Main_Page", "/wiki/Zscaler"],
        "Reference Sites",
        "Education",
        "General Surfing",
        "General Browsing",
        "General Browsing",
        "text/html"
    ),
    site!(
        "s3.amazonaws.com",
        ["/bucket/report.pdf"],
        "Online Storage",
        "Information Technology",
        "Business Use",
        "Amazon S3",
        "File Sharing",
        "application/pdf"
    ),
    site!(
        "www.dropbox.com",
        ["/s/abc/plan.xlsx", "/home"],
        "Online Storage",
        "Information Technology",
        "Business Use",
        "Dropbox",
        "File Sharing",
        "application/vnd.ms-excel"
    ),
    site!(
        "api.chat.org",
        ["/bot/sendmessage"],
        "Online Chat",
        "Internet Communication",
        "Business Use",
        "Random Chat",
        "Sales and Marketing",
        "application/json"
    ),
];

/// A malicious destination: host, what Zscaler calls it, and the threat it carries.
pub struct BadSite {
    /// Host name.
    pub host: &'static str,
    /// URL category.
    pub cat: &'static str,
    /// Threat (malware) category.
    pub malwarecat: &'static str,
    /// Threat name.
    pub threat: &'static str,
    /// Threat class.
    pub class: &'static str,
}

/// Known-bad destinations for the malicious share of the traffic.
pub const BAD_SITES: &[BadSite] = &[
    BadSite {
        host: "malware.testcategory.com",
        cat: "Malicious Content",
        malwarecat: "Trojan",
        threat: "Win32.Trojan.Emotet",
        class: "Virus/Spyware",
    },
    BadSite {
        host: "update-flash-player.example",
        cat: "Spyware Callback",
        malwarecat: "Spyware",
        threat: "Win32.PUA.FakeUpdate",
        class: "Advanced Threat",
    },
    BadSite {
        host: "login-microsoftonline.test",
        cat: "Phishing",
        malwarecat: "Phishing",
        threat: "HTML.Phish.O365",
        class: "Advanced Threat",
    },
    BadSite {
        host: "c2.badcorp.example",
        cat: "Botnet Callback",
        malwarecat: "Botnet",
        threat: "Win64.Backdoor.CobaltStrike",
        class: "Advanced Threat",
    },
    BadSite {
        host: "xk2j9qzt0b.top.example",
        cat: "Newly Registered Domains",
        malwarecat: "Suspicious Destination",
        threat: "DGA.Generic",
        class: "Advanced Threat",
    },
];

/// Known-bad IP addresses (documentation range) for the malicious firewall share.
pub const BAD_IPS: &[&str] = &["203.0.113.66", "203.0.113.99", "198.51.100.250"];

/// Ordinary user agents; they contain spaces, commas and semicolons.
pub const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17726; Pro)",
    "Windows-Update-Agent/10.0.10011.16384 Client-Protocol/2.50",
];

/// User agents of tools that malware and attackers use.
pub const BAD_USER_AGENTS: &[&str] = &[
    "python-requests/2.31.0",
    "curl/8.4.0",
    "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)",
    "Go-http-client/1.1",
    "powershell/5.1",
];

/// Firewall network services with their port and protocol.
pub const NW_SERVICES: &[(&str, u16, &str, &str)] = &[
    ("HTTPS", 443, "TCP", "mozilla"),
    ("HTTP", 80, "TCP", "http"),
    ("DNS", 53, "UDP", "dns"),
    ("NTP", 123, "UDP", "ntp"),
    ("SSH", 22, "TCP", "ssh"),
    ("RDP", 3389, "TCP", "rdp"),
    ("SMB", 445, "TCP", "smb"),
];

/// IP categories for firewall destinations.
pub const IP_CATS: &[&str] = &[
    "Internet Services",
    "Professional Services",
    "Web Search",
    "Online Storage",
    "Other",
];

/// Destination countries.
pub const COUNTRIES: &[&str] = &[
    "United States",
    "France",
    "Germany",
    "Ireland",
    "Netherlands",
    "Japan",
];

/// DNS request types.
pub const DNS_TYPES: &[&str] = &["A", "A", "A", "AAAA", "AAAA", "MX", "TXT", "CNAME", "HTTPS"];

/// SaaS applications for SaaS Security records.
pub const SAAS_APPS: &[&str] = &["SHAREPOINT", "ONEDRIVE", "BOX", "GOOGLE_DRIVE", "DROPBOX"];

/// File names for SaaS Security records; some hold spaces.
pub const FILE_NAMES: &[&str] = &[
    "Q3 report.pdf",
    "budget-2026.xlsx",
    "sanity2022-08-16 14-03.pdf",
    "roadmap.pptx",
    "invoice 4711.pdf",
    "setup.exe",
];

/// Admin audit actions with their category and subcategory.
pub const AUDIT_ACTIONS: &[(&str, &str, &str)] = &[
    ("SIGN_IN", "LOGIN", "LOGIN"),
    ("SIGN_OUT", "LOGIN", "LOGIN"),
    ("UPDATE", "FIREWALL_POLICY", "FIREWALL_FILTERING_RULE"),
    ("CREATE", "URL_FILTERING_POLICY", "URL_FILTERING_RULE"),
    ("DELETE", "USER_MANAGEMENT", "USER"),
    ("ACTIVATE", "ACTIVATION", "ACTIVATION"),
    ("DOWNLOAD", "AUDIT_LOGS", "AUDIT_LOGS"),
];
