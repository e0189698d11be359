//! The console's pages and static files, embedded in the binary so that `cargo build` needs
//! nothing else and the browser never fetches anything from another site: every page is
//! the same single-page app (`index.html`), which routes on the URL itself.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../assets/app.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../assets/favicon.svg"),
    },
];

const INDEX: &[u8] = include_bytes!("../assets/index.html");

/// The content security policy of every console response: only this origin's scripts,
/// styles, images and API, no framing. It is also the proof that the console makes no
/// request elsewhere: the browser refuses any.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn secured(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

async fn index() -> Response {
    secured(
        (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                // The page is tiny; never caching it means a new binary's assets are used at once.
                (header::CACHE_CONTROL, "no-store"),
            ],
            INDEX,
        )
            .into_response(),
    )
}

async fn asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => secured(
            (
                [
                    (header::CONTENT_TYPE, a.content_type),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                a.body,
            )
                .into_response(),
        ),
        None => (StatusCode::NOT_FOUND, "no such asset\n").into_response(),
    }
}

/// `/console/…` pages, `/console/assets/…` files, and `GET /` sending browsers to the console.
pub fn router() -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(index))
        .route("/console/{*page}", get(index))
        .route("/console/assets/{name}", get(asset))
        .route(
            "/favicon.ico",
            get(|| async { Redirect::permanent("/console/assets/favicon.svg") }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_embedded_assets() {
        let html = std::str::from_utf8(INDEX).unwrap();
        for url in ["http://", "https://", "//"] {
            for attr in ["src=\"", "href=\""] {
                assert!(
                    !html.contains(&format!("{attr}{url}")),
                    "index.html loads {attr}{url}…"
                );
            }
        }
        for a in ASSETS {
            assert!(!a.body.is_empty(), "{} is empty", a.name);
        }
        for name in ["app.js", "app.css", "favicon.svg"] {
            assert!(
                html.contains(&format!("/console/assets/{name}")),
                "{name} not linked"
            );
        }
    }

    #[test]
    fn scripts_fetch_only_this_server() {
        let js = std::str::from_utf8(ASSETS[0].body).unwrap();
        assert!(!js.contains("http://") || js.contains("http://www.w3.org/2000/svg"));
        assert!(!js.contains("https://"));
    }
}
