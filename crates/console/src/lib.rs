//! The ziaxdr web console. It owns who may do what: local accounts with argon2-hashed
//! passwords and roles (admin, analyst, read-only), browser sessions with CSRF tokens, and API
//! tokens ([`accounts`]); one authentication layer in front of every console and API route
//! ([`auth`]); the JSON endpoints the console pages need beyond the store, detection and intake
//! APIs ([`api`]); and the single-page console itself, embedded in the binary ([`assets`]).

pub mod accounts;
pub mod api;
pub mod assets;
pub mod auth;
