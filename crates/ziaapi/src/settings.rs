//! Configuration: the `[zia]` table of ziaxdr's TOML file, the `ZIA_…` environment, flags.
//!
//! ```toml
//! [zia]
//! # OneAPI (OAuth 2.0 client credentials through ZIdentity)...
//! client-id = "..."
//! client-secret = "..."          # or ZIA_CLIENT_SECRET
//! vanity-domain = "acme"         # https://acme.zslogin.net/oauth2/v1/token
//! # ...or the legacy API key
//! cloud = "zscalertwo.net"       # https://zsapi.zscalertwo.net/api/v1
//! api-key = "..."                # or ZIA_API_KEY
//! username = "api-admin@acme.com"
//! password = "..."               # or ZIA_PASSWORD
//! # What to change, and the safety limits
//! category = "ziaxdr-blocklist"  # custom URL category (name or id)
//! ip-group = "ziaxdr-blocked-ips"
//! allow = ["acme.com", "10.0.0.0/8"]
//! max-values = 100
//! activate = true
//! ```
//!
//! With both sets of credentials, `auth = "oneapi"` or `auth = "legacy"` says which to use;
//! with one set, that one is used.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::client::{Auth, Client, ClientOptions, ONEAPI_BASE};
use crate::respond::{Policy, Responder};
use crate::values::AllowList;
use crate::Error;

/// Values per action when `max-values` is not set.
pub const DEFAULT_MAX_VALUES: usize = 100;
/// The custom URL category when `category` is not set.
pub const DEFAULT_CATEGORY: &str = "ziaxdr-blocklist";

/// A secret (key, password, client secret): never printed by `Debug`.
#[derive(Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

/// Which authentication to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthKind {
    /// OAuth 2.0 client credentials through ZIdentity.
    Oneapi,
    /// API key, user and password.
    Legacy,
}

/// The ZIA settings; every field is optional until [`Settings::responder`] checks them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Settings {
    /// `oneapi` or `legacy` (needed only when both sets of credentials are given).
    pub auth: Option<AuthKind>,
    /// Legacy: the ZIA cloud, e.g. `zscaler.net` or `zscalertwo` (`ZIA_CLOUD`).
    pub cloud: Option<String>,
    /// Legacy: the API key (`ZIA_API_KEY`).
    pub api_key: Option<Secret>,
    /// Legacy: the admin user (`ZIA_USERNAME`).
    pub username: Option<String>,
    /// Legacy: the admin password (`ZIA_PASSWORD`).
    pub password: Option<Secret>,
    /// OneAPI: the API client id (`ZIA_CLIENT_ID`).
    pub client_id: Option<String>,
    /// OneAPI: the API client secret (`ZIA_CLIENT_SECRET`).
    pub client_secret: Option<Secret>,
    /// OneAPI: the ZIdentity vanity domain, `acme` of `acme.zslogin.net` (`ZIA_VANITY_DOMAIN`).
    pub vanity_domain: Option<String>,
    /// The API base URL instead of the cloud's (`ZIA_BASE_URL`), e.g. a test server's.
    pub base_url: Option<String>,
    /// OneAPI: the token endpoint instead of the vanity domain's (`ZIA_TOKEN_URL`).
    pub token_url: Option<String>,
    /// Custom URL category for URLs and domains (name or id) [default: ziaxdr-blocklist].
    pub category: Option<String>,
    /// IP destination group for IP addresses (name or id); without it IPs are refused.
    pub ip_group: Option<String>,
    /// Domains (with their subdomains), IPs and CIDR ranges that are never blocked.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Most values one action may carry [default: 100].
    pub max_values: Option<usize>,
    /// Activate the changes after each block or unblock [default: true].
    pub activate: Option<bool>,
    /// Audit log (JSON lines) [default: set by the caller, e.g. DATA/zia-audit.jsonl].
    pub audit_log: Option<PathBuf>,
    /// Per-request timeout in seconds [default: 30].
    pub timeout_secs: Option<u64>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Settings {
    /// Fills unset fields from `ZIA_CLOUD`, `ZIA_API_KEY`, `ZIA_USERNAME`, `ZIA_PASSWORD`,
    /// `ZIA_CLIENT_ID`, `ZIA_CLIENT_SECRET`, `ZIA_VANITY_DOMAIN`, `ZIA_BASE_URL` and
    /// `ZIA_TOKEN_URL`.
    pub fn with_env(mut self) -> Settings {
        macro_rules! fill {
            ($f:ident, $name:literal) => {
                if self.$f.is_none() {
                    self.$f = env($name).map(Into::into);
                }
            };
        }
        fill!(cloud, "ZIA_CLOUD");
        fill!(username, "ZIA_USERNAME");
        fill!(client_id, "ZIA_CLIENT_ID");
        fill!(vanity_domain, "ZIA_VANITY_DOMAIN");
        fill!(base_url, "ZIA_BASE_URL");
        fill!(token_url, "ZIA_TOKEN_URL");
        if self.api_key.is_none() {
            self.api_key = env("ZIA_API_KEY").map(Secret);
        }
        if self.password.is_none() {
            self.password = env("ZIA_PASSWORD").map(Secret);
        }
        if self.client_secret.is_none() {
            self.client_secret = env("ZIA_CLIENT_SECRET").map(Secret);
        }
        self
    }

    /// Whether any credential is configured (a server without one offers no response).
    pub fn is_configured(&self) -> bool {
        self.client_id.is_some() || self.api_key.is_some()
    }

    /// Which authentication these settings select.
    pub fn auth_kind(&self) -> Result<AuthKind, Error> {
        match (self.auth, self.client_id.is_some(), self.api_key.is_some()) {
            (Some(k), _, _) => Ok(k),
            (None, true, false) => Ok(AuthKind::Oneapi),
            (None, false, true) => Ok(AuthKind::Legacy),
            (None, true, true) => Err(Error::Config(
                "both OneAPI and legacy credentials are set: say auth = \"oneapi\" or \"legacy\""
                    .into(),
            )),
            (None, false, false) => Err(Error::Config(
                "no ZIA credentials: set client-id/client-secret/vanity-domain (OneAPI) or cloud/api-key/username/password (legacy)".into(),
            )),
        }
    }

    /// The API base URL.
    pub fn base(&self) -> Result<String, Error> {
        if let Some(b) = &self.base_url {
            return Ok(b.trim_end_matches('/').to_string());
        }
        match self.auth_kind()? {
            AuthKind::Oneapi => Ok(ONEAPI_BASE.to_string()),
            AuthKind::Legacy => {
                let cloud = self.cloud.as_deref().ok_or_else(|| {
                    Error::Config(
                        "legacy authentication needs the cloud (ZIA_CLOUD), e.g. zscaler.net"
                            .into(),
                    )
                })?;
                let cloud = cloud
                    .trim()
                    .trim_start_matches("https://")
                    .trim_start_matches("zsapi.")
                    .trim_start_matches("admin.")
                    .trim_end_matches('/');
                let cloud = if cloud.contains('.') {
                    cloud.to_string()
                } else {
                    format!("{cloud}.net")
                };
                Ok(format!("https://zsapi.{cloud}/api/v1"))
            }
        }
    }

    /// The authentication these settings describe.
    pub fn auth(&self) -> Result<Auth, Error> {
        fn need<T: Clone>(v: &Option<T>, what: &str) -> Result<T, Error> {
            v.clone()
                .ok_or_else(|| Error::Config(format!("missing {what}")))
        }
        match self.auth_kind()? {
            AuthKind::Oneapi => {
                let token_url = match (&self.token_url, &self.vanity_domain) {
                    (Some(u), _) => u.clone(),
                    (None, Some(v)) => format!("https://{}.zslogin.net/oauth2/v1/token", v.trim()),
                    (None, None) => {
                        return Err(Error::Config(
                            "OneAPI needs the ZIdentity vanity domain (ZIA_VANITY_DOMAIN)".into(),
                        ))
                    }
                };
                Ok(Auth::OneApi {
                    token_url,
                    client_id: need(&self.client_id, "client id (ZIA_CLIENT_ID)")?,
                    client_secret: need(&self.client_secret, "client secret (ZIA_CLIENT_SECRET)")?,
                })
            }
            AuthKind::Legacy => Ok(Auth::Legacy {
                api_key: need(&self.api_key, "API key (ZIA_API_KEY)")?,
                username: need(&self.username, "user name (ZIA_USERNAME)")?,
                password: need(&self.password, "password (ZIA_PASSWORD)")?,
            }),
        }
    }

    /// The client these settings describe.
    pub fn client(&self, mut options: ClientOptions) -> Result<Client, Error> {
        if let Some(t) = self.timeout_secs {
            options.timeout = Duration::from_secs(t.max(1));
        }
        Ok(Client::new(&self.base()?, self.auth()?, options))
    }

    /// The policy (targets, allow-list, cap, activation, audit) these settings describe.
    pub fn policy(&self) -> Result<Policy, Error> {
        Ok(Policy {
            category: self
                .category
                .clone()
                .unwrap_or_else(|| DEFAULT_CATEGORY.to_string()),
            ip_group: self.ip_group.clone(),
            allow: AllowList::parse(&self.allow)?,
            max_values: self.max_values.unwrap_or(DEFAULT_MAX_VALUES).max(1),
            activate: self.activate.unwrap_or(true),
            audit_log: self.audit_log.clone(),
        })
    }

    /// The responder (client and policy) these settings describe.
    pub fn responder(&self, options: ClientOptions) -> Result<Responder, Error> {
        Ok(Responder::new(self.client(options)?, self.policy()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_legacy_base_is_the_clouds_zsapi_host() {
        let s = Settings {
            cloud: Some("zscalertwo".into()),
            api_key: Some(Secret::new("k")),
            ..Default::default()
        };
        assert_eq!(s.base().unwrap(), "https://zsapi.zscalertwo.net/api/v1");
        let s = Settings {
            cloud: Some("zsapi.zscloud.net".into()),
            ..s
        };
        assert_eq!(s.base().unwrap(), "https://zsapi.zscloud.net/api/v1");
    }

    #[test]
    fn oneapi_uses_the_vanity_domains_token_endpoint() {
        let s = Settings {
            client_id: Some("id".into()),
            client_secret: Some(Secret::new("s")),
            vanity_domain: Some("acme".into()),
            ..Default::default()
        };
        assert_eq!(s.base().unwrap(), ONEAPI_BASE);
        match s.auth().unwrap() {
            Auth::OneApi { token_url, .. } => {
                assert_eq!(token_url, "https://acme.zslogin.net/oauth2/v1/token")
            }
            Auth::Legacy { .. } => panic!("legacy chosen"),
        }
    }

    #[test]
    fn both_credential_sets_need_an_explicit_choice() {
        let s = Settings {
            client_id: Some("id".into()),
            api_key: Some(Secret::new("k")),
            ..Default::default()
        };
        assert!(matches!(s.auth_kind(), Err(Error::Config(_))));
        let s = Settings {
            auth: Some(AuthKind::Legacy),
            ..s
        };
        assert_eq!(s.auth_kind().unwrap(), AuthKind::Legacy);
    }

    #[test]
    fn secrets_are_not_printed() {
        let s = Settings {
            password: Some(Secret::new("hunter2")),
            ..Default::default()
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
