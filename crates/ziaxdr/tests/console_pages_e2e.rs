//! The console pages added for issue 19's "Build" list, in headless Chromium against a real
//! `ziaxdr serve` fed by `ziaxdr simulate`: the dashboards per log type (every tile opens Events
//! with its query and range), the Events page's saved and recent searches, field-name
//! completion, time presets and auto-refresh, bulk triage and assignment of alerts, a rule's
//! Sigma source, the indicator browser and CTI sources, and user administration. Each page is
//! saved as a screenshot at 1280 px and 390 px (`ZIAXDR_SCREENSHOTS=docs/screenshots` writes
//! the ones `docs/console.md` shows).
//!
//! The tests take turns (one Chromium at a time: the machine has two cores).

mod browser_common;
mod intake_common;

use std::time::{Duration, Instant};

use browser_common::{browser, browser_available, shot, sign_in, wait_css, wait_text, Driver};
use fantoccini::{Client, Locator};
use intake_common::{console_password, Scratch, Serve, Session, BIN};
use serde_json::{json, Value};

/// One browser test at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Setup {
    _dir: Scratch,
    server: Serve,
    admin: Session,
    base: String,
    _driver: Driver,
    c: Client,
}

/// A server fed 3,000 simulated records of every log type (the DLP ones included) (10% malicious, so the shipped
/// rules open alerts), and Chromium signed in as the admin.
async fn start(tag: &str) -> Setup {
    let dir = Scratch::new(tag);
    let data = dir.0.join("data");
    let (server, out) = Serve::spawn_capturing(&[
        "serve",
        "--data",
        data.to_str().unwrap(),
        "--http",
        "127.0.0.1:0",
    ]);
    let password = console_password(&out);
    let admin = Session::sign_in(server.http, "admin", &password);
    let created = admin
        .send(
            server.http,
            "POST",
            "/api/v1/intakes",
            r#"{"name":"pages e2e","entity":"SOC"}"#,
        )
        .json();
    let key = created["key"].as_str().unwrap().to_string();
    let sim = std::process::Command::new(BIN)
        .args([
            "simulate",
            "--to",
            &format!("http://{}/plain/batch?status_code=200", server.http),
            "--key",
            &key,
            "--count",
            "3000",
            "--malicious",
            "0.1",
            "--types",
            "web=5,firewall=2,dns=2,tunnel=1,audit=1,saas-security=1,saas-security-activity=1,endpoint-dlp=1,email-dlp=1",
            "--no-progress",
        ])
        .output()
        .unwrap();
    assert!(
        sim.status.success(),
        "{}",
        String::from_utf8_lossy(&sim.stderr)
    );
    // Until every event is stored and the alerts stop changing (detection runs as they flow).
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last_alerts = 0;
    loop {
        let n = admin
            .send(
                server.http,
                "POST",
                "/api/v1/events/aggregate",
                r#"{"query":"*","since":"24h","aggregation":{"type":"count"}}"#,
            )
            .json()["result"]["count"]
            .as_u64()
            .unwrap_or(0);
        let alerts = admin
            .send(server.http, "GET", "/api/v1/alerts?limit=1", "")
            .json()["total"]
            .as_u64()
            .unwrap_or(0);
        if n >= 3000 && alerts >= 3 && alerts == last_alerts {
            break;
        }
        last_alerts = alerts;
        assert!(
            Instant::now() < deadline,
            "{n} events and {alerts} alerts stored"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let base = format!("http://{}", server.http);
    let driver = Driver::start();
    let c = browser(&driver, &dir.0.join("chromium"), true).await;
    c.goto(&format!("{base}/console/login")).await.unwrap();
    sign_in(&c, "admin", &password).await;
    Setup {
        _dir: dir,
        server,
        admin,
        base,
        _driver: driver,
        c,
    }
}

/// Fields without a name a screen reader can say, and clickable rows a keyboard cannot reach.
const UNLABELLED: &str = r#"
const bad = [];
for (const el of document.querySelectorAll('input, select, textarea')) {
  if (el.type === 'hidden') continue;
  const named = el.getAttribute('aria-label') || (el.id && document.querySelector(`label[for="${el.id}"]`)) || el.closest('label');
  if (!named) bad.push(el.outerHTML.slice(0, 80));
}
for (const el of document.querySelectorAll('tr.clickable')) {
  if (el.tabIndex < 0) bad.push(el.outerHTML.slice(0, 80));
}
return bad;
"#;

async fn assert_accessible(c: &Client, page: &str) {
    let bad = c.execute(UNLABELLED, vec![]).await.unwrap();
    assert_eq!(bad, json!([]), "{page}: unlabelled or unreachable controls");
}

async fn shot_at(c: &Client, name: &str, phone: bool) {
    shot(c, &format!("{name}-{}", if phone { "390" } else { "1280" })).await;
}

/// Runs `js` until it returns true.
async fn wait_js(c: &Client, js: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        if c.execute(js, vec![]).await.unwrap() == json!(true) {
            return;
        }
        assert!(Instant::now() < deadline, "never true: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Picks `value` in the `<select>` at `css` (its change handler runs after this returns, so
/// that a confirmation it opens does not block the script).
async fn choose(c: &Client, css: &str, value: &str) {
    wait_css(c, css).await;
    c.execute(
        "const s = document.querySelector(arguments[0]); s.value = arguments[1]; setTimeout(() => s.dispatchEvent(new Event('change')), 0);",
        vec![json!(css), json!(value)],
    )
    .await
    .unwrap();
}

/// Waits until the text of `css` is exactly `text`.
async fn wait_exact(c: &Client, css: &str, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let got = c
            .execute(
                "const e = document.querySelector(arguments[0]); return e ? e.textContent : null",
                vec![json!(css), json!(text)],
            )
            .await
            .unwrap();
        if got == json!(text) {
            return;
        }
        assert!(Instant::now() < deadline, "{css} is {got}, not {text:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Clicks `css`, again if the page re-rendered it between finding and clicking.
async fn click(c: &Client, css: &str) {
    for _ in 0..20 {
        match wait_css(c, css).await.click().await {
            Ok(()) => return,
            Err(e) if e.to_string().contains("stale") => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(e) => panic!("cannot click {css}: {e}"),
        }
    }
    panic!("{css} kept going stale");
}

/// Accepts the confirmation the page opens, waiting for it.
async fn accept(c: &Client) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.accept_alert().await.is_err() {
        assert!(Instant::now() < deadline, "no confirmation opened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn page_width(c: &Client) -> f64 {
    c.execute("return document.documentElement.scrollWidth", vec![])
        .await
        .unwrap()
        .as_f64()
        .unwrap()
}

/// The number the Events page's summary starts with.
async fn summary_count(c: &Client) -> u64 {
    let s = wait_text(c, "#summary", "events from").await;
    s.split_whitespace()
        .next()
        .unwrap()
        .replace(',', "")
        .parse()
        .unwrap()
}

/// The rows `(value, bytes)` of the dashboard's Bandwidth tile, checked to be the answer of
/// the same top by sum over REST (the largest first, and the ones with the most bytes of all
/// values: not only of the most frequent).
async fn bandwidth_matches_rest(
    s: &Setup,
    query: &str,
    field: &str,
    sum: &[&str],
    since: &str,
) -> Vec<(String, i64)> {
    let bw = "#dash-tiles section[aria-label^='Bandwidth'] tbody tr";
    wait_css(&s.c, &format!("{bw} td.num[data-bytes]")).await;
    let rows = s
        .c
        .execute(
            "return [...document.querySelectorAll(arguments[0])].map((tr) => [tr.querySelector('a').textContent, Number(tr.querySelector('td.num').dataset.bytes)])",
            vec![json!(bw)],
        )
        .await
        .unwrap();
    let rows: Vec<(String, i64)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_i64().unwrap()))
        .collect();
    assert!(!rows.is_empty(), "{query}");
    let body = json!({
        "query": query,
        "since": since,
        "aggregation": {"type": "top_by_sum", "field": field, "sum": sum, "size": 10},
    });
    let r = s
        .admin
        .send(
            s.server.http,
            "POST",
            "/api/v1/events/aggregate",
            &body.to_string(),
        )
        .json();
    let want: Vec<(String, i64)> = r["result"]["values"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"))
        .iter()
        .map(|v| {
            (
                v["value"].as_str().unwrap().to_string(),
                v["sum"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows, want, "{query}");
    assert!(rows.windows(2).all(|w| w[0].1 >= w[1].1), "{rows:?}");
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_show_every_log_type_and_their_tiles_open_events() {
    if !browser_available("console_pages_e2e") {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let s = start("console-pages-dash").await;
    let c = &s.c;
    c.goto(&format!("{}/console/dashboards/web?since=24h", s.base))
        .await
        .unwrap();
    let tile = "#dash-tiles section[aria-label='Top blocked URL categories']";
    wait_css(c, &format!("{tile} tbody tr a")).await;
    wait_js(
        c,
        "return [...document.querySelectorAll('#dash-kpis .big')].every((b) => /^[0-9,]+$|^[0-9.]+ [KMGTP]?B$/.test(b.textContent))",
        "every key figure is a number or bytes",
    )
    .await;
    wait_css(c, "#dash-histogram svg").await;
    assert_accessible(c, "web dashboard").await;
    shot_at(c, "19-dashboard-web", false).await;

    // A tile's value opens Events with the dashboard's query, the tile's and the value's, over
    // the same range, and finds what the tile counted.
    let link = wait_css(c, &format!("{tile} tbody tr a")).await;
    let value = link.text().await.unwrap();
    let counted: u64 = c
        .find(Locator::Css(&format!("{tile} tbody tr td.num")))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .replace(',', "")
        .parse()
        .unwrap();
    link.click().await.unwrap();
    let n = summary_count(c).await;
    let url = c.current_url().await.unwrap();
    assert_eq!(url.path(), "/console/events");
    let q = param(&url, "q").unwrap();
    assert!(q.contains("event.dataset:web"), "{q}");
    assert!(q.contains("event.outcome:failure"), "{q}");
    assert!(q.contains("zscaler.zia.url_category:"), "{q}");
    assert!(
        q.contains(&value) || q.contains(&value.replace(' ', "\\ ")),
        "{q} {value}"
    );
    assert_eq!(param(&url, "since").as_deref(), Some("24h"));
    assert_eq!(
        n, counted,
        "the tile counted {counted}, Events found {n} for {q}"
    );

    // Bandwidth: the tile is the store's top by sum of the bytes received and sent (the same
    // aggregation over REST), and its top user's bytes are the sums of both fields.
    c.goto(&format!("{}/console/dashboards/web?since=24h", s.base))
        .await
        .unwrap();
    let rows = bandwidth_matches_rest(
        &s,
        "event.dataset:web",
        "user.email",
        &["http.response.bytes", "http.request.bytes"],
        "24h",
    )
    .await;
    let (user, shown) = (rows[0].0.as_str(), rows[0].1);
    let total: i64 = ["http.response.bytes", "http.request.bytes"]
        .iter()
        .map(|field| {
            let body = json!({
                "query": format!("event.dataset:web AND user.email:\"{user}\""),
                "since": "24h",
                "aggregation": {"type": "sum", "field": field},
            });
            s.admin
                .send(
                    s.server.http,
                    "POST",
                    "/api/v1/events/aggregate",
                    &body.to_string(),
                )
                .json()["result"]["sum"]
                .as_i64()
                .unwrap()
        })
        .sum();
    assert!(total > 0);
    assert_eq!(shown, total, "{user}");
    // Applications (shadow IT): each with its class and its risk, from the simulated feed.
    let apps = "#dash-tiles section[aria-label^='Applications'] tbody tr td.extra";
    wait_js(
        c,
        &format!("const t = [...document.querySelectorAll(\"{apps}\")]; return t.length > 0 && t.every((td) => / · risk [0-9]+$/.test(td.textContent))"),
        "every application shows its class and risk",
    )
    .await;

    // Every log type the feed carries has its dashboard with tiles that have values.
    for (id, tile) in [
        ("firewall", "Top rules"),
        ("dns", "Top domains"),
        ("tunnel", "Tunnel events"),
        ("audit", "Changes by admin"),
        ("saas", "Top applications"),
        ("endpoint-dlp", "Top rules"),
        ("email-dlp", "Top senders"),
    ] {
        c.goto(&format!("{}/console/dashboards/{id}?since=7d", s.base))
            .await
            .unwrap();
        wait_css(
            c,
            &format!("#dash-tiles section[aria-label='{tile}'] tbody tr a"),
        )
        .await;
        let href = wait_css(c, "#dash-events")
            .await
            .attr("href")
            .await
            .unwrap()
            .unwrap();
        assert!(href.contains("since=7d"), "{id}: {href}");
        if id == "firewall" {
            bandwidth_matches_rest(
                &s,
                "event.dataset:firewall",
                "source.ip",
                &["source.bytes", "destination.bytes"],
                "7d",
            )
            .await;
        }
        shot_at(c, &format!("19-dashboard-{id}"), false).await;
    }

    c.set_window_size(390, 844).await.unwrap();
    c.goto(&format!("{}/console/dashboards/web", s.base))
        .await
        .unwrap();
    wait_css(c, &format!("{tile} tbody tr a")).await;
    let w = page_width(c).await;
    assert!(w <= 400.0, "the dashboard is {w}px wide on a phone");
    shot_at(c, "19-dashboard-web", true).await;
    c.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_saves_searches_completes_field_names_and_refreshes() {
    if !browser_available("console_pages_e2e") {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let s = start("console-pages-events").await;
    let c = &s.c;
    c.goto(&format!(
        "{}/console/events?since=24h&q=event.dataset%3Adns",
        s.base
    ))
    .await
    .unwrap();
    assert!(summary_count(c).await > 0);

    // Field-name completion: typing part of a name offers it; Down and Enter take it.
    let q = wait_css(c, "#query").await;
    q.clear().await.unwrap();
    q.send_keys("dns.quest").await.unwrap();
    wait_text(c, "#query-suggest", "dns.question.name").await;
    let options = c.find_all(Locator::Css("#query-suggest li")).await.unwrap();
    let first = options[0].text().await.unwrap();
    q.send_keys("\u{e015}").await.unwrap(); // Down
    wait_css(c, "#query-suggest li[aria-selected=true]").await;
    shot_at(c, "19-events-completion", false).await;
    q.send_keys("\u{e007}").await.unwrap(); // Enter
    let value = q.prop("value").await.unwrap().unwrap();
    assert_eq!(value, format!("{first}:"), "the completion was not taken");

    // More time presets, a UTC day among them.
    q.clear().await.unwrap();
    q.send_keys("event.dataset:dns").await.unwrap();
    choose(c, "#range", "today").await;
    click(c, "#search").await;
    wait_js(
        c,
        "return new URLSearchParams(location.search).get('since') === 'today'",
        "the range is today",
    )
    .await;
    assert!(summary_count(c).await > 0, "today has the feed's events");

    // Save the search, shared; it is listed with the recent queries and opens again.
    click(c, "#searches-button").await;
    wait_css(c, "#save-name")
        .await
        .send_keys("DNS today")
        .await
        .unwrap();
    click(c, "#save-shared").await;
    click(c, "#save-search button[type=submit]").await;
    let listed = wait_text(c, "#saved-list", "DNS today").await;
    assert!(listed.contains("shared by admin"), "{listed}");
    wait_text(c, "#recent-list", "event.dataset:dns").await;
    assert_accessible(c, "events with saved searches").await;
    shot_at(c, "19-events-saved-searches", false).await;
    let saved = s
        .admin
        .send(s.server.http, "GET", "/api/v1/searches", "")
        .json();
    assert_eq!(saved["items"][0]["query"], "event.dataset:dns", "{saved}");
    assert_eq!(saved["items"][0]["since"], "today");
    c.goto(&format!("{}/console/events?since=1h", s.base))
        .await
        .unwrap();
    click(c, "#searches-button").await;
    // The list is fetched when the menu opens.
    wait_text(c, "#saved-list", "DNS today").await;
    c.find(Locator::LinkText("DNS today"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    summary_count(c).await;
    let url = c.current_url().await.unwrap();
    assert_eq!(param(&url, "q").as_deref(), Some("event.dataset:dns"));
    assert_eq!(param(&url, "since").as_deref(), Some("today"));

    // Auto-refresh: the page searches again by itself.
    choose(c, "#auto-refresh", "30").await;
    wait_js(
        c,
        "return new URLSearchParams(location.search).get('refresh') === '30'",
        "the refresh is in the URL",
    )
    .await;
    summary_count(c).await;
    c.execute(
        "window.__before = document.querySelector('#summary')",
        vec![],
    )
    .await
    .unwrap();
    c.execute("document.activeElement.blur()", vec![])
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(45);
    while c
        .execute("return document.body.contains(window.__before)", vec![])
        .await
        .unwrap()
        == json!(true)
    {
        assert!(Instant::now() < deadline, "the page never refreshed");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    summary_count(c).await;

    c.set_window_size(390, 844).await.unwrap();
    c.goto(&format!("{}/console/events?since=24h", s.base))
        .await
        .unwrap();
    summary_count(c).await;
    click(c, "#searches-button").await;
    wait_text(c, "#saved-list", "DNS today").await;
    let w = page_width(c).await;
    assert!(w <= 400.0, "the events page is {w}px wide on a phone");
    shot_at(c, "19-events-saved-searches", true).await;
    c.clone().close().await.unwrap();
}

/// The alerts the server has, as the REST list gives them.
fn alerts(s: &Setup, query: &str) -> Vec<Value> {
    s.admin
        .send(
            s.server.http,
            "GET",
            &format!("/api/v1/alerts?limit=1000&{query}"),
            "",
        )
        .json()["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_are_triaged_in_bulk_assigned_and_pivot_to_their_rule() {
    if !browser_available("console_pages_e2e") {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let s = start("console-pages-alerts").await;
    let c = &s.c;
    let all = alerts(&s, "");
    c.goto(&format!("{}/console/alerts", s.base)).await.unwrap();
    wait_css(c, "#alerts tbody tr input.pick").await;

    // Select every alert shown, acknowledge them and assign them to admin, at once.
    click(c, "#select-all").await;
    wait_exact(c, "#bulk-count", &format!("{} selected", all.len())).await;
    choose(c, "#bulk-status", "Acknowledged").await;
    choose(c, "#bulk-assignee", "admin").await;
    click(c, "#bulk-apply").await;
    wait_js(
        c,
        "return [...document.querySelectorAll('#alerts tbody tr')].every((tr) => tr.textContent.includes('Acknowledged'))",
        "every row acknowledged",
    )
    .await;
    for a in alerts(&s, "") {
        assert_eq!(a["status"], "Acknowledged", "{}", a["short_id"]);
        assert_eq!(a["assignee"], "admin", "{}", a["short_id"]);
    }

    // Filters: by assignee, by user, by rule name, by free text.
    c.goto(&format!("{}/console/alerts?assignee=-", s.base))
        .await
        .unwrap();
    wait_exact(c, "#alerts-count", "0 alert(s)").await;
    let user = all
        .iter()
        .find_map(|a| a["users"][0].as_str().map(str::to_string))
        .expect("an alert with a user");
    let for_user = alerts(
        &s,
        &format!(
            "user={}",
            url::form_urlencoded::byte_serialize(user.as_bytes()).collect::<String>()
        ),
    );
    c.goto(&format!("{}/console/alerts", s.base)).await.unwrap();
    wait_css(c, "#f-user").await.send_keys(&user).await.unwrap();
    click(c, "#alert-filters button[type=submit]").await;
    wait_exact(c, "#alerts-count", &format!("{} alert(s)", for_user.len())).await;
    assert_eq!(
        param(&c.current_url().await.unwrap(), "user").as_deref(),
        Some(user.as_str())
    );
    let rule_name = all[0]["rule"]["name"].as_str().unwrap().to_string();
    let word: String = rule_name.split_whitespace().last().unwrap().to_lowercase();
    c.goto(&format!("{}/console/alerts?rule_name={word}", s.base))
        .await
        .unwrap();
    wait_css(c, "#alerts tbody tr").await;
    let shown = c.find_all(Locator::Css("#alerts tbody tr")).await.unwrap();
    let expected = alerts(&s, &format!("rule_name={word}")).len();
    assert_eq!(shown.len(), expected, "rule name {word}");
    shot_at(c, "19-alerts-filtered", false).await;

    // Close them all (it asks), then reopen them all.
    c.goto(&format!("{}/console/alerts", s.base)).await.unwrap();
    wait_css(c, "#alerts tbody tr input.pick").await;
    click(c, "#select-all").await;
    choose(c, "#bulk-status", "Closed").await;
    click(c, "#bulk-apply").await;
    accept(c).await;
    wait_js(
        c,
        "return [...document.querySelectorAll('#alerts tbody tr')].every((tr) => tr.textContent.includes('Closed'))",
        "every row closed",
    )
    .await;
    click(c, "#select-all").await;
    choose(c, "#bulk-status", "Ongoing").await;
    click(c, "#bulk-apply").await;
    wait_js(
        c,
        "return [...document.querySelectorAll('#alerts tbody tr')].every((tr) => tr.textContent.includes('Ongoing'))",
        "every row reopened",
    )
    .await;
    assert_accessible(c, "alerts").await;
    shot_at(c, "19-alerts-bulk", false).await;

    // One alert: unassign, then "Assign to me".
    let id = all[0]["short_id"].as_str().unwrap();
    c.goto(&format!("{}/console/alerts/{id}", s.base))
        .await
        .unwrap();
    wait_text(c, "#alert-assignee", "admin").await;
    choose(c, "#assign-to", "").await;
    click(c, "#assign-apply").await;
    wait_text(c, "#alert-assignee", "nobody").await;
    click(c, "#assign-me").await;
    wait_text(c, "#alert-assignee", "admin").await;
    wait_text(c, "#timeline", "assigned to admin").await;
    assert_accessible(c, "alert").await;
    shot_at(c, "19-alert-assigned", false).await;

    // Its events open in the drawer (Enter on a row, as on Events); Escape gives the focus
    // back to the row, and + searches that value around the alert.
    let first_row = "#alert-events-table tbody tr.clickable";
    wait_css(c, first_row).await;
    c.execute(
        "document.querySelector(arguments[0]).focus()",
        vec![json!(first_row)],
    )
    .await
    .unwrap();
    c.active_element()
        .await
        .unwrap()
        .send_keys("\u{E007}")
        .await
        .unwrap();
    let fields = wait_text(c, "#drawer", "ziaxdr.event_id").await;
    assert!(
        all[0]["event_ids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|id| fields.contains(id.as_str().unwrap())),
        "the drawer shows none of the alert's events: {fields}"
    );
    shot_at(c, "19-alert-event-drawer", false).await;
    c.active_element()
        .await
        .unwrap()
        .send_keys("\u{E00C}")
        .await
        .unwrap();
    wait_js(
        c,
        "return !document.querySelector('#drawer') && document.activeElement === document.querySelector('#alert-events-table tbody tr.clickable')",
        "Escape closes the drawer and the row has the focus",
    )
    .await;
    click(c, first_row).await;
    click(c, "#drawer button[aria-label='Filter for event.dataset']").await;
    wait_css(c, "#results").await;
    let url = c.current_url().await.unwrap();
    assert!(
        param(&url, "q").is_some_and(|q| q.starts_with("event.dataset:")),
        "{url}"
    );
    assert!(
        param(&url, "from").is_some() && param(&url, "to").is_some(),
        "{url}"
    );

    // The rule: its Sigma source, and its hit count leads to its alerts.
    let rule_id = all[0]["rule"]["id"].as_str().unwrap();
    c.goto(&format!("{}/console/rules/{rule_id}", s.base))
        .await
        .unwrap();
    let src = wait_text(c, "#rule-source", "title:").await;
    assert!(src.contains(rule_id), "{src}");
    assert_accessible(c, "rule").await;
    shot_at(c, "19-rule-source", false).await;
    click(c, "#rule-alerts-link").await;
    wait_css(c, "#alerts tbody tr").await;
    assert_eq!(
        param(&c.current_url().await.unwrap(), "rule").as_deref(),
        Some(rule_id)
    );
    c.goto(&format!("{}/console/rules", s.base)).await.unwrap();
    wait_css(c, "#rules a[href*='/console/alerts?rule=']").await;

    c.set_window_size(390, 844).await.unwrap();
    c.goto(&format!("{}/console/alerts", s.base)).await.unwrap();
    wait_css(c, "#alerts tbody tr input.pick").await;
    let w = page_width(c).await;
    assert!(w <= 400.0, "the alerts page is {w}px wide on a phone");
    shot_at(c, "19-alerts-bulk", true).await;
    c.goto(&format!("{}/console/rules/{rule_id}", s.base))
        .await
        .unwrap();
    wait_text(c, "#rule-source", "title:").await;
    shot_at(c, "19-rule-source", true).await;
    c.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cti_and_settings_manage_indicators_sources_and_users() {
    if !browser_available("console_pages_e2e") {
        return;
    }
    let _turn = ONE_AT_A_TIME.lock().await;
    let s = start("console-pages-cti").await;
    let c = &s.c;

    // An indicator added by hand is active, found by the search, then revoked.
    c.goto(&format!("{}/console/cti", s.base)).await.unwrap();
    choose(c, "#ind-type", "domain-name").await;
    wait_css(c, "#ind-value")
        .await
        .send_keys("e2e-c2.example")
        .await
        .unwrap();
    wait_css(c, "#ind-confidence")
        .await
        .send_keys("90")
        .await
        .unwrap();
    click(c, "#ind-add button[type=submit]").await;
    let table = wait_text(c, "#ind-table", "e2e-c2.example").await;
    assert!(table.contains("active"), "{table}");
    assert_eq!(
        wait_text(c, "#ind-count", "indicator").await,
        "1 indicator(s)"
    );
    click(c, "button[aria-label='Revoke e2e-c2.example']").await;
    accept(c).await;
    wait_text(c, "#ind-table", "revoked").await;

    // A CTI source: registered, polled by the server, its error shown.
    let feed = "http://127.0.0.1:9/stix";
    wait_css(c, "#feed-url")
        .await
        .send_keys(feed)
        .await
        .unwrap();
    choose(c, "#feed-every", "15m").await;
    click(c, "#feed-add button[type=submit]").await;
    wait_text(c, "#cti-feeds", feed).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let t = wait_css(c, "#cti-feeds").await.text().await.unwrap();
        if t.contains("failing") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the source was never polled: {t}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        c.refresh().await.unwrap();
        wait_text(c, "#cti-feeds", feed).await;
    }
    assert_accessible(c, "cti").await;
    shot_at(c, "19-cti", false).await;
    click(c, &format!("button[aria-label='Remove source {feed}']")).await;
    accept(c).await;
    wait_text(c, "main", "No source registered").await;

    // Users: create one, change its role, reset its password, disable it.
    c.goto(&format!("{}/console/settings", s.base))
        .await
        .unwrap();
    wait_css(c, "#user-name")
        .await
        .send_keys("bob")
        .await
        .unwrap();
    choose(c, "#user-role", "analyst").await;
    wait_css(c, "#user-password")
        .await
        .send_keys("bobs-first-password")
        .await
        .unwrap();
    click(c, "#user-name").await;
    c.find(Locator::XPath("//button[text()='Add user']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_css(c, "#users tr[data-user=bob]").await;
    choose(c, "#users tr[data-user=bob] select.user-role", "read-only").await;
    accept(c).await;
    wait_js(
        c,
        "const s = document.querySelector('#users tr[data-user=bob] select.user-role'); return !!s && s.value === 'read-only'",
        "bob is read-only",
    )
    .await;
    click(
        c,
        "#users tr[data-user=bob] button.small:not(.danger):not(.user-disable)",
    )
    .await;
    wait_css(c, "#users tr[data-user=bob] input.reset-password")
        .await
        .send_keys("bobs-second-password")
        .await
        .unwrap();
    c.find(Locator::XPath(
        "//tr[@data-user='bob']//button[text()='Save password']",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    // Saved when the page shows the row afresh, its password field folded again.
    wait_js(
        c,
        "const i = document.querySelector('#users tr[data-user=bob] input.reset-password'); return !!i && i.hidden",
        "the password reset is saved",
    )
    .await;
    let bob = intake_common::request(
        s.server.http,
        "POST",
        "/api/v1/session",
        &[("content-type", "application/json")],
        r#"{"user":"bob","password":"bobs-second-password"}"#,
    );
    assert_eq!(bob.status, 200, "the reset password works: {}", bob.body);
    assert_eq!(bob.json()["role"], "read-only");
    let bobs_session = Session::sign_in(s.server.http, "bob", "bobs-second-password");
    // Carol, an admin, has a script's token: it acts for her, so disabling her stops it.
    let carol = s.admin.send(
        s.server.http,
        "POST",
        "/api/v1/users",
        r#"{"name":"carol","role":"admin","password":"carols-own-password"}"#,
    );
    assert_eq!(carol.status, 201, "{}", carol.body);
    let carol = Session::sign_in(s.server.http, "carol", "carols-own-password");
    let made = carol.send(
        s.server.http,
        "POST",
        "/api/v1/tokens",
        r#"{"name":"carols-script","role":"analyst"}"#,
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let carols_token = made.json()["secret"].as_str().unwrap().to_string();
    let with_token = |path: &str| {
        intake_common::request(
            s.server.http,
            "GET",
            path,
            &[("authorization", &format!("Bearer {carols_token}"))],
            "",
        )
        .status
    };
    assert_eq!(with_token("/api/v1/alerts?limit=1"), 200);

    click(c, "#users tr[data-user=bob] button.user-disable").await;
    accept(c).await;
    wait_text(c, "#users tr[data-user=bob]", "disabled").await;
    let bob_now = bobs_session.send(s.server.http, "GET", "/api/v1/alerts?limit=1", "");
    assert_eq!(bob_now.status, 401, "a disabled user's session still works");
    click(c, "#users tr[data-user=carol] button.user-disable").await;
    accept(c).await;
    wait_text(c, "#users tr[data-user=carol]", "disabled").await;
    assert_eq!(
        with_token("/api/v1/alerts?limit=1"),
        401,
        "a disabled user's token still works"
    );
    assert_eq!(with_token("/api/v1/session"), 401);
    wait_text(c, "#tokens", "refused: user disabled").await;
    let bob = intake_common::request(
        s.server.http,
        "POST",
        "/api/v1/session",
        &[("content-type", "application/json")],
        r#"{"user":"bob","password":"bobs-second-password"}"#,
    );
    assert_eq!(bob.status, 401, "a disabled user signs in: {}", bob.body);
    assert_accessible(c, "settings").await;
    shot_at(c, "19-settings-users", false).await;

    c.set_window_size(390, 844).await.unwrap();
    c.goto(&format!("{}/console/cti", s.base)).await.unwrap();
    wait_text(c, "#ind-table", "e2e-c2.example").await;
    let w = page_width(c).await;
    assert!(w <= 400.0, "the CTI page is {w}px wide on a phone");
    shot_at(c, "19-cti", true).await;
    c.goto(&format!("{}/console/settings", s.base))
        .await
        .unwrap();
    wait_css(c, "#users tr[data-user=bob]").await;
    shot_at(c, "19-settings-users", true).await;
    c.clone().close().await.unwrap();
}
