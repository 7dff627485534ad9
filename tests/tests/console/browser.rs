//! Headless Chromium (Debian's, `scripts/setup-browser.sh`) driven over
//! WebDriver by Debian's ChromeDriver: started with background networking
//! off, on a profile of its own, talking to nothing but the daemon on
//! loopback. Screenshots go to `target/console-screenshots/`.

use fantoccini::{Client, ClientBuilder, Locator};
use sandboxer_tests::process::KillOnDrop;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Chromium's switches: headless, and quiet — no background networking,
/// updates, sync, default apps or first-run pages.
const SWITCHES: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--window-size=1280,1000",
];

pub struct Browser {
    pub client: Client,
    _driver: KillOnDrop,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    pub async fn start() -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (scripts/setup-browser.sh installs it)");
        let driver = KillOnDrop(driver);
        let profile = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = SWITCHES.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({"binary": "/usr/bin/chromium", "args": args}),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if std::time::Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("no WebDriver session: {e}"),
            }
        };
        Browser {
            client,
            _driver: driver,
            _profile: profile,
        }
    }

    /// Waits for `css` to match (up to 20 s).
    pub async fn wait(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("waited for {css}: {e}"))
    }

    /// Saves a screenshot of the page as `target/console-screenshots/NAME.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = sandboxer_tests::target_dir().join("console-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Opens view `view` (`#/spend`) of the console at `url`.
    pub async fn visit(&self, url: &str, view: &str) {
        self.client.goto(&format!("{url}/{view}")).await.unwrap();
    }

    /// Signs in with `token` at the daemon's console.
    pub async fn sign_in(&self, url: &str, token: &str) {
        self.client.goto(&format!("{url}/")).await.unwrap();
        self.wait("#token").await.send_keys(token).await.unwrap();
        self.wait("#signin").await.click().await.unwrap();
        self.wait("#sandboxes").await;
    }

    /// The text of what `css` matches, read again if the page redrew it
    /// between finding and reading.
    pub async fn text_of(&self, css: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            match self.wait(css).await.text().await {
                Ok(text) => return text,
                Err(e) if std::time::Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("the text of {css}: {e}"),
            }
        }
    }

    /// The text of the page's main part.
    pub async fn main_text(&self) -> String {
        self.text_of("#main").await
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}
