//! The HTTP client of the tests, and requests that wait for readiness.

use std::time::Duration;

/// Idle keep-alive connections are dropped after this: shorter than the
/// exporter's 10 s header-read timeout, which in hyper 1 also closes an idle
/// keep-alive connection, so a request never goes out on a connection the
/// server is just closing (that fails with `IncompleteMessage`).
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// The HTTP client every test and benchmark uses. reqwest is built with
/// `rustls-no-provider`: plain http still needs a provider installed.
pub fn client() -> reqwest::Client {
    smc_exporter::smc::tls::install_default_provider();
    reqwest::Client::builder()
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .build()
        .unwrap()
}

/// `GET url` → (status, body), with a fresh client.
pub async fn http_get(url: &str) -> (u16, String) {
    let r = client()
        .get(url)
        .header("accept", "text/plain")
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Wait (bounded) until `GET http://addr/-/ready` answers 200.
pub async fn wait_ready(addr: std::net::SocketAddr, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    let url = format!("http://{addr}/-/ready");
    loop {
        let (status, body) = http_get(&url).await;
        if status == 200 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not ready within {within:?}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
