//! `ziaapi`: the response side of ziaxdr, a client of the Zscaler Internet Access (ZIA) cloud
//! service API. It authenticates either way a tenant may use (OAuth 2.0 client credentials
//! through ZIdentity for OneAPI, or the legacy obfuscated API key with an admin's user and
//! password and the `JSESSIONID` session cookie), keeps within ZIA's documented rate limits
//! (paces its calls by weight, honours `429` and `Retry-After`, re-authenticates when a
//! session or token expires), and logs every call without its secrets. On top of the client,
//! [`Responder`] blocks and unblocks indicators: URLs and domains in a custom URL category
//! (`ADD_TO_LIST` / `REMOVE_FROM_LIST`), IPs in a destination IP group, then activates the
//! pending changes; it refuses values on the organisation's allow-list, caps the values per
//! action, can show what an action would change without changing it, and appends every
//! action (who, what, when, result) to an audit log. Blocking calls only: callers on an
//! async runtime run them on a blocking thread.

pub mod client;
pub mod respond;
pub mod settings;
pub mod values;

#[cfg(feature = "mock")]
pub mod mock;

pub use client::{Auth, Client, ClientOptions, Pacing};
pub use respond::{AuditRecord, Op, Outcome, Refusal, Request, Responder};
pub use settings::{Secret, Settings};
pub use values::{AllowList, Value, ValueKind};

/// Errors of the ZIA API client and responder.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is incomplete or inconsistent.
    #[error("ZIA configuration: {0}")]
    Config(String),
    /// ZIA refused the credentials.
    #[error("ZIA authentication failed: {0}")]
    Auth(String),
    /// ZIA answered with an error status.
    #[error("ZIA API {method} {path}: HTTP {status}: {message}")]
    Http {
        /// Request method.
        method: String,
        /// Request path (below the API base).
        path: String,
        /// HTTP status.
        status: u16,
        /// ZIA's message, if any.
        message: String,
    },
    /// Still rate limited after the allowed retries, or the wait asked for is too long.
    #[error("ZIA API rate limit: retry after {retry_after_secs} s")]
    RateLimited {
        /// Seconds ZIA asked to wait.
        retry_after_secs: u64,
    },
    /// ZIA could not be reached.
    #[error("ZIA API unreachable: {0}")]
    Transport(String),
    /// ZIA answered something that is not the documented shape.
    #[error("ZIA API answer: {0}")]
    Protocol(String),
    /// The named URL category or IP destination group does not exist.
    #[error("not found in ZIA: {0}")]
    NotFound(String),
    /// The action was refused before any call (cap, nothing valid to do).
    #[error("refused: {0}")]
    Refused(String),
    /// The audit log could not be written.
    #[error("audit log {0}: {1}")]
    Audit(std::path::PathBuf, #[source] std::io::Error),
}
