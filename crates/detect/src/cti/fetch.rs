//! Fetching STIX from the network: a TAXII 2.1 collection (`.../collections/<id>/`, paged with
//! `more`/`next`, resumed with `added_after`) or a plain feed URL returning a bundle with a
//! cursor (`next`, `cursor` or `next_cursor` in the body, sent back as `?cursor=`).

use std::time::Duration;

use super::store::{CtiStore, ImportReport};
use crate::Error;

/// Limits of one fetch.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Bearer token (`Authorization: Bearer ...`), never logged.
    pub token: Option<String>,
    /// Page limit per run (the cursor is saved, the next run goes on).
    pub max_pages: usize,
    /// Maximum size of one page, in bytes.
    pub max_page_bytes: u64,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            token: None,
            max_pages: 1000,
            max_page_bytes: 64 * 1024 * 1024,
            timeout: Duration::from_secs(60),
        }
    }
}

/// Whether a URL designates a TAXII 2.1 collection.
pub fn is_taxii(url: &str) -> bool {
    url.contains("/collections/")
}

fn objects_url(url: &str) -> String {
    if url.trim_end_matches('/').ends_with("/objects") {
        url.to_string()
    } else {
        format!("{}/objects/", url.trim_end_matches('/'))
    }
}

/// Downloads a collection or feed into the store, following pages; returns what was imported.
pub fn fetch_into(
    store: &mut CtiStore,
    url: &str,
    opts: &FetchOptions,
) -> Result<ImportReport, Error> {
    let taxii = is_taxii(url);
    let base = if taxii {
        objects_url(url)
    } else {
        url.to_string()
    };
    let agent = ureq::AgentBuilder::new().timeout(opts.timeout).build();
    let saved = store.cursor(url)?;
    let mut report = ImportReport::default();
    let mut next: Option<String> = None;
    let mut last_cursor = saved.clone();
    for _ in 0..opts.max_pages {
        let mut req = agent.get(&base);
        if taxii {
            req = req.set("Accept", "application/taxii+json;version=2.1");
            if let Some(after) = &saved {
                req = req.query("added_after", after);
            }
            if let Some(n) = &next {
                req = req.query("next", n);
            }
        } else if let Some(c) = next.as_ref().or(saved.as_ref()) {
            req = req.query("cursor", c);
        }
        if let Some(t) = &opts.token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        let resp = req.call().map_err(|e| Error::Fetch(e.to_string()))?;
        let added_last = resp.header("X-TAXII-Date-Added-Last").map(String::from);
        let mut body = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(resp.into_reader(), opts.max_page_bytes + 1),
            &mut body,
        )
        .map_err(|e| Error::Fetch(e.to_string()))?;
        if body.len() as u64 > opts.max_page_bytes {
            return Err(Error::Fetch(format!(
                "page larger than {} bytes",
                opts.max_page_bytes
            )));
        }
        let doc: serde_json::Value = serde_json::from_slice(&body)?;
        let page = store.import_doc(&doc, url)?;
        merge(&mut report, page);
        let cursor = ["next", "cursor", "next_cursor"]
            .iter()
            .find_map(|k| doc.get(*k).and_then(|v| v.as_str()).map(String::from));
        let more = doc
            .get("more")
            .and_then(|v| v.as_bool())
            .unwrap_or(cursor.is_some());
        if taxii {
            if added_last.is_some() {
                last_cursor = added_last;
            }
        } else if cursor.is_some() {
            last_cursor = cursor.clone();
        }
        if !more || cursor.is_none() || cursor == next {
            break;
        }
        next = cursor;
    }
    store.set_cursor(url, last_cursor.as_deref())?;
    Ok(report)
}

fn merge(into: &mut ImportReport, page: ImportReport) {
    into.seen += page.seen;
    into.added += page.added;
    into.updated += page.updated;
    into.unchanged += page.unchanged;
    into.revoked += page.revoked;
    into.skipped.extend(page.skipped);
    into.changed_ids.extend(page.changed_ids);
}
