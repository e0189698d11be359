//! Every page of the console, in headless Chromium against `ziaxdr demo` (what a new analyst
//! tries first), at 1280 px and at 390 px: each page shows its data, nothing is wider than a
//! phone at 390 px, and each is saved whole as `19-page-NAME-{1280,390}.png`
//! (`ZIAXDR_SCREENSHOTS=$PWD/docs/screenshots` writes the ones `docs/console.md` shows). On the
//! way, the issue's items that need the demo's data: field-name completion of a ZIA field,
//! recent queries, the time presets, rule hit counts leading to their alerts, the alert
//! list's auto-refresh, the indicators
//! of the sample CTI in the indicator browser, and an alert's events in the drawer.

mod browser_common;
mod intake_common;

use std::time::{Duration, Instant};

use browser_common::{
    browser, browser_available, full_shot, page_width, sign_in, wait_css, wait_js, wait_text,
    Driver,
};
use fantoccini::{Client, Locator};
use intake_common::{console_password, Scratch, Serve, Session};
use serde_json::{json, Value};

/// A free port on loopback (the demo's feed is sent to the address it listens on).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One page of the tour: its name, its URL and what shows that it has loaded its data.
struct Page {
    name: &'static str,
    url: String,
    ready: &'static str,
}

/// Opens `page` at `width` and waits for its data.
async fn open(c: &Client, base: &str, page: &Page, width: u32, height: u32) {
    c.set_window_size(width, height).await.unwrap();
    c.goto(&format!("{base}{}", page.url)).await.unwrap();
    wait_css(c, page.ready).await;
    // Tiles and figures fill in after the page's first paint.
    wait_js(
        c,
        "return ![...document.querySelectorAll('main .muted')].some((e) => /^Loading/.test(e.textContent)) && ![...document.querySelectorAll('main .big, main td.extra')].some((e) => e.textContent === '…')",
        "the page has loaded its data",
    )
    .await;
}

fn json_of(s: &Session, addr: std::net::SocketAddr, path: &str) -> Value {
    let r = s.send(addr, "GET", path, "");
    assert_eq!(r.status, 200, "GET {path}: {}", r.body);
    r.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_works_at_desktop_and_phone_width_against_the_demo() {
    if !browser_available("console_tour_e2e") {
        return;
    }
    let dir = Scratch::new("console-tour");
    let port = free_port();
    let cti = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/cti");
    let (server, out) = Serve::spawn_capturing(&[
        "demo",
        "--data",
        dir.0.join("demo").to_str().unwrap(),
        "--http",
        &format!("127.0.0.1:{port}"),
        "--rate",
        "200",
        "--malicious",
        "0.1",
        "--cti",
        cti,
    ]);
    let password = console_password(&out);
    let addr = server.http;
    let admin = Session::sign_in(addr, "admin", &password);

    // Until every log type has events and the shipped rules have opened alerts.
    let deadline = Instant::now() + Duration::from_secs(120);
    let alert = loop {
        let top = admin
            .send(
                addr,
                "POST",
                "/api/v1/events/aggregate",
                r#"{"since":"1h","aggregation":{"type":"top","field":"event.dataset","size":20}}"#,
            )
            .json();
        let datasets = top["result"]["values"].as_array().map_or(0, Vec::len);
        // A Sigma rule's alert: the rule pages show its source and hits (a CTI alert's "rule"
        // is an indicator, shown in the indicator browser instead).
        let sigma = json_of(&admin, addr, "/api/v1/alerts?limit=100")["items"]
            .as_array()
            .and_then(|items| items.iter().find(|a| a["rule"]["type"] == "sigma").cloned());
        if datasets >= 8 {
            if let Some(alert) = sigma {
                break alert;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{datasets} log types and no Sigma alert after two minutes"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let alert_id = alert["short_id"].as_str().unwrap().to_string();
    let rule_id = alert["rule"]["id"].as_str().unwrap().to_string();
    let intake = json_of(&admin, addr, "/api/v1/intakes")["items"][0]["uuid"]
        .as_str()
        .unwrap()
        .to_string();

    let base = format!("http://{addr}");
    let driver = Driver::start();
    let c = &browser(&driver, &dir.0.join("chromium"), false).await;

    // The sign-in page, at both widths, before signing in.
    c.goto(&format!("{base}/console/login")).await.unwrap();
    for (w, h) in [(390, 844), (1280, 900)] {
        c.set_window_size(w, h).await.unwrap();
        wait_css(c, "#user").await;
        full_shot(c, "19-page-sign-in", w, h).await;
    }
    sign_in(c, "admin", &password).await;

    let mut pages = vec![
        Page {
            name: "overview",
            url: "/console/".into(),
            ready: "main .grid .big a",
        },
        Page {
            name: "events",
            url: "/console/events?since=1h".into(),
            ready: "#results tbody tr",
        },
        Page {
            name: "alerts",
            url: "/console/alerts".into(),
            ready: "#alerts tbody tr",
        },
        Page {
            name: "alert",
            url: format!("/console/alerts/{alert_id}"),
            ready: "#alert-events-table tbody tr",
        },
        Page {
            name: "intakes",
            url: "/console/intakes".into(),
            ready: "#intakes tbody tr",
        },
        Page {
            name: "intake-setup",
            url: format!("/console/intakes/{intake}"),
            ready: "#setup button",
        },
        Page {
            name: "rules",
            url: "/console/rules".into(),
            ready: "#rules a[href*='/console/alerts?rule=']",
        },
        Page {
            name: "rule",
            url: format!("/console/rules/{rule_id}"),
            ready: "#rule-source",
        },
        Page {
            name: "cti",
            url: "/console/cti".into(),
            ready: "#ind-table tbody tr",
        },
        Page {
            name: "settings",
            url: "/console/settings".into(),
            ready: "#users tr[data-user=admin]",
        },
    ];
    for (id, tile) in [
        ("web", "Top blocked URL categories"),
        ("firewall", "Top rules"),
        ("dns", "Top domains"),
        ("tunnel", "Tunnel events"),
        ("audit", "Actions"),
        ("saas", "Top applications"),
        ("endpoint-dlp", "Top rules"),
        ("email-dlp", "Top senders"),
    ] {
        // The selectors name the tile by its title: leaked to 'static once, for the test.
        let ready: &'static str = Box::leak(
            format!("#dash-tiles section[aria-label='{tile}'] tbody tr a").into_boxed_str(),
        );
        let name: &'static str = Box::leak(format!("dashboard-{id}").into_boxed_str());
        pages.push(Page {
            name,
            url: format!("/console/dashboards/{id}?since=1h"),
            ready,
        });
    }
    for (w, h) in [(1280u32, 900u32), (390, 844)] {
        for page in &pages {
            open(c, &base, page, w, h).await;
            if w == 390 {
                let width = page_width(c).await;
                assert!(width <= 400.0, "{} is {width}px wide on a phone", page.name);
            }
            full_shot(c, &format!("19-page-{}", page.name), w, h).await;
        }
        // The event drawer, opened from the results.
        open(c, &base, &pages[1], w, h).await;
        c.find(Locator::Css("#results tbody tr"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_text(c, "#drawer", "event.dataset").await;
        browser_common::shot(c, &format!("19-page-event-drawer-{w}")).await;
    }

    c.set_window_size(1280, 900).await.unwrap();
    // A Sigma alert names its rule with a link to the rule's page.
    open(c, &base, &pages[3], 1280, 900).await;
    wait_css(c, "#rule-link").await.click().await.unwrap();
    wait_text(c, "#rule-source", "title:").await;
    let url = c.current_url().await.unwrap();
    assert!(url.path().ends_with(&rule_id), "{url}");

    // The rule's hit count leads to its alerts.
    open(c, &base, &pages[6], 1280, 900).await;
    let link = format!("#rules a[href='/console/alerts?rule={rule_id}']");
    let hits = wait_css(c, &link).await.text().await.unwrap();
    assert!(
        hits.replace(',', "").parse::<u64>().unwrap() >= 1,
        "hits {hits}"
    );
    wait_css(c, &link).await.click().await.unwrap();
    wait_css(c, "#alerts tbody tr").await;
    let url = c.current_url().await.unwrap();
    assert!(
        url.query()
            .unwrap_or("")
            .contains(&format!("rule={rule_id}")),
        "{url}"
    );

    // Field-name completion offers the parser's ZIA fields; the presets go to 90 days and UTC
    // days; a search is remembered among the recent queries.
    open(c, &base, &pages[1], 1280, 900).await;
    let q = wait_css(c, "#query").await;
    q.clear().await.unwrap();
    q.send_keys("zscaler.zia.url_c").await.unwrap();
    wait_text(c, "#query-suggest", "zscaler.zia.url_category").await;
    let presets = c
        .execute(
            "return [...document.querySelectorAll('#range option')].map((o) => o.value)",
            vec![],
        )
        .await
        .unwrap();
    for p in ["5m", "90d", "today", "yesterday"] {
        assert!(presets.as_array().unwrap().contains(&json!(p)), "{presets}");
    }
    q.send_keys("\u{e00c}").await.unwrap(); // Escape: the completion closes.
    q.clear().await.unwrap();
    q.send_keys("event.dataset:email_dlp").await.unwrap();
    c.find(Locator::Css("#search"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_js(
        c,
        "return new URLSearchParams(location.search).get('q') === 'event.dataset:email_dlp'",
        "the search ran",
    )
    .await;
    wait_css(c, "#results tbody tr").await;
    c.find(Locator::Css("#searches-button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(c, "#recent-list", "event.dataset:email_dlp").await;

    // Alerts refresh by themselves: the list is drawn again (the demo keeps its feed going).
    c.goto(&format!("{base}/console/alerts?refresh=30"))
        .await
        .unwrap();
    wait_css(c, "#alerts tbody tr").await;
    c.execute(
        "window.__before = document.querySelector('#alerts'); document.activeElement.blur()",
        vec![],
    )
    .await
    .unwrap();
    // Every 30 s: a loaded machine gets twice that.
    browser_common::wait_js_within(
        c,
        "return !!document.querySelector('#alerts tbody tr') && !document.body.contains(window.__before)",
        "the alert list refreshed",
        Duration::from_secs(90),
    )
    .await;

    // The sample CTI's indicators are in the browser, searchable.
    let total = json_of(&admin, addr, "/api/v1/cti/indicators")["total"]
        .as_u64()
        .unwrap();
    assert!(total > 0);
    open(c, &base, &pages[8], 1280, 900).await;
    wait_text(c, "#ind-count", "indicator").await;

    c.clone().close().await.unwrap();
    drop(server);
}
