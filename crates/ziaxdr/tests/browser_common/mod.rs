//! Helpers for the browser tests: Debian's Chromium driven over WebDriver (chromedriver on a
//! free port), the check that both are installed (a failure when `ZIAXDR_E2E=require`, as
//! `.ci/run` sets it), and screenshots under `target/console-screenshots/` (or
//! `$ZIAXDR_SCREENSHOTS`).
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Where screenshots go (created if needed).
pub fn screenshots_dir() -> PathBuf {
    let dir = std::env::var_os("ZIAXDR_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots")
        });
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves the page as `NAME.png` in [`screenshots_dir`].
pub async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshots_dir().join(format!("{name}.png")), png).unwrap();
}

/// Whether Chromium and chromedriver are installed; `test` names the caller in the message
/// that says it was skipped. With `ZIAXDR_E2E=require`, their absence fails the test.
pub fn browser_available(test: &str) -> bool {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !present {
        assert!(
            std::env::var("ZIAXDR_E2E").as_deref() != Ok("require"),
            "ZIAXDR_E2E=require but {CHROMIUM} or {CHROMEDRIVER} is missing"
        );
        eprintln!("{test} skipped: install Debian's chromium and chromium-driver to run it");
    }
    present
}

/// chromedriver on a free port, killed on drop.
pub struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    /// Starts chromedriver and waits until it listens.
    pub fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // In a process group of its own, with the Chromium it starts: dropping the driver
        // (also when a test panics before closing its session) ends them all.
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("cannot start chromedriver");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver { child, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium session with its profile in `profile`, 1280×900. With
/// `prompts_stay_open`, `confirm()` dialogs wait for the test to answer them.
pub async fn browser(driver: &Driver, profile: &Path, prompts_stay_open: bool) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                // The machine has no outside network: keep Chromium from trying.
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    if prompts_stay_open {
        caps.insert("unhandledPromptBehavior".into(), "ignore".into());
    }
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("cannot open a Chromium session")
}

/// Waits up to 30 s for an element matching `css`.
pub async fn wait_css(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
}

/// Waits up to 60 s until `css` has a text containing `needle`.
pub async fn wait_text(c: &Client, css: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(el) = c.find(Locator::Css(css)).await {
            if let Ok(t) = el.text().await {
                if t.contains(needle) {
                    return t;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "{css} never contained {needle:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Fills and sends the sign-in form shown on the page, then waits for the overview.
pub async fn sign_in(c: &Client, user: &str, password: &str) {
    wait_css(c, "#user").await.send_keys(user).await.unwrap();
    c.find(Locator::Css("#password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    c.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_text(c, "main h1", "Overview").await;
}

/// Runs `js` until it returns true, for at most 45 s.
pub async fn wait_js(c: &Client, js: &str, what: &str) {
    wait_js_within(c, js, what, Duration::from_secs(45)).await
}

/// Runs `js` until it returns true, for at most `limit`.
pub async fn wait_js_within(c: &Client, js: &str, what: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        if c.execute(js, vec![]).await.unwrap() == serde_json::json!(true) {
            return;
        }
        assert!(Instant::now() < deadline, "never true: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The page's width in CSS pixels (wider than the window when something overflows).
pub async fn page_width(c: &Client) -> f64 {
    c.execute("return document.documentElement.scrollWidth", vec![])
        .await
        .unwrap()
        .as_f64()
        .unwrap()
}

/// Saves the whole page, `width` pixels wide, as `NAME-WIDTH.png`: the window is made as
/// tall as the page (at most 5,000 px) for the shot, then `height` again.
pub async fn full_shot(c: &Client, name: &str, width: u32, height: u32) {
    // The window is taller than the page's viewport by the browser's own frame.
    let sizes = c
        .execute(
            "return [document.documentElement.scrollHeight, window.outerHeight - window.innerHeight]",
            vec![],
        )
        .await
        .unwrap();
    let page = sizes[0].as_f64().unwrap_or(height as f64);
    let frame = sizes[1].as_f64().unwrap_or(0.0).max(0.0);
    let tall = ((page + frame).ceil() as u32).clamp(height, 5_000);
    c.set_window_size(width, tall).await.unwrap();
    // Two frames: the layout at the new size is painted.
    c.execute_async(
        "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
        vec![],
    )
    .await
    .unwrap();
    shot(c, &format!("{name}-{width}")).await;
    c.set_window_size(width, height).await.unwrap();
}
