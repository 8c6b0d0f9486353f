//! The HTTP server end to end on 127.0.0.1:0.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, ACCEPT_ENCODING, ALLOW, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use smc_exporter::http::{HttpError, ServerOptions, serve, serve_with};
use smc_exporter::metrics::{Format, render_with};
use smc_exporter::state::{LiveStore, Store};
use smc_protocol::Definition;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const PROMETHEUS_3: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,\
text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

struct Server {
    base: String,
    addr: SocketAddr,
    store: Arc<Store>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), HttpError>>,
    client: reqwest::Client,
}

async fn start(store: Store) -> Server {
    start_with(store, None).await
}

/// `opts`: `None` = the plain `serve` entry point (its defaults).
async fn start_with(store: Store, opts: Option<ServerOptions>) -> Server {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let store = Arc::new(store);
    let live = Arc::new(LiveStore::from_arc(Arc::clone(&store)));
    let shutdown = CancellationToken::new();
    let task = match opts {
        None => tokio::spawn(serve(listener, Arc::clone(&live), shutdown.clone())),
        Some(o) => tokio::spawn(serve_with(listener, Arc::clone(&live), o, shutdown.clone())),
    };
    Server {
        base: format!("http://{addr}"),
        addr,
        store,
        shutdown,
        task,
        client: smc_lab::http::client(),
    }
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
    async fn stop(self) {
        self.shutdown.cancel();
        let r = tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("server did not stop within 5 s")
            .unwrap();
        assert!(r.is_ok(), "{r:?}");
    }
}

fn without_process(s: &str) -> String {
    s.lines()
        .filter(|l| !l.contains("process_"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[tokio::test]
async fn metrics_text_by_default() {
    let srv = start(crate::fixture::store()).await;
    let r = srv.client.get(srv.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()[CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(r.headers()[VARY], "Accept-Encoding, Accept");
    assert!(r.headers().get(CONTENT_ENCODING).is_none());
    let body = r.text().await.unwrap();
    assert!(body.contains("# TYPE smc_logins_total counter\n"));
    assert!(body.contains("\nprocess_open_fds "));
    assert!(!body.contains("# EOF"));
    srv.stop().await;
}

#[tokio::test]
async fn metrics_openmetrics_for_prometheus_3() {
    let srv = start(crate::fixture::store()).await;
    let r = srv
        .client
        .get(srv.url("/metrics"))
        .header(ACCEPT, PROMETHEUS_3)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()[CONTENT_TYPE],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let body = r.text().await.unwrap();
    assert!(body.contains("# TYPE smc_logins counter\n"));
    assert!(body.ends_with("\n# EOF\n"));
    srv.stop().await;
}

#[tokio::test]
async fn metrics_gzip_round_trip() {
    let srv = start(crate::fixture::store()).await;
    for accept in [None, Some(PROMETHEUS_3)] {
        let get = |gzip: bool| {
            let mut req = srv.client.get(srv.url("/metrics"));
            if let Some(a) = accept {
                req = req.header(ACCEPT, a);
            }
            if gzip {
                req = req.header(ACCEPT_ENCODING, "gzip");
            }
            req.send()
        };
        let zipped = get(true).await.unwrap();
        assert_eq!(zipped.status(), StatusCode::OK);
        assert_eq!(zipped.headers()[CONTENT_ENCODING], "gzip");
        let ct = zipped.headers()[CONTENT_TYPE].clone();
        let compressed = zipped.bytes().await.unwrap();
        let mut decoded = String::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_string(&mut decoded)
            .unwrap();

        let plain = get(false).await.unwrap();
        assert_eq!(plain.headers()[CONTENT_TYPE], ct);
        let plain = plain.text().await.unwrap();
        assert!(compressed.len() < plain.len());
        // process_* values move between two requests; the rest is identical.
        assert_eq!(without_process(&decoded), without_process(&plain));
    }
    srv.stop().await;
}

#[tokio::test]
async fn head_metrics_has_headers_and_no_body() {
    let srv = start(crate::fixture::store()).await;
    let r = srv.client.head(srv.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()[CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(r.bytes().await.unwrap().is_empty());
    srv.stop().await;
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    let srv = start(crate::fixture::store()).await;
    for path in ["/metrics", "/-/healthy", "/-/ready", "/"] {
        let r = srv.client.post(srv.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(r.headers()[ALLOW], "GET, HEAD", "{path}");
    }
    let r = srv.client.delete(srv.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    srv.stop().await;
}

#[tokio::test]
async fn unknown_path_is_404() {
    let srv = start(crate::fixture::store()).await;
    for path in ["/nope", "/metrics/", "/-/reload/", "/favicon.ico"] {
        let r = srv.client.get(srv.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    srv.stop().await;
}

#[tokio::test]
async fn reload_is_forbidden_unless_the_lifecycle_api_is_enabled() {
    // The default, as Prometheus's --web.enable-lifecycle: whoever reaches
    // the port cannot make the exporter re-read its files.
    let srv = start_with(crate::fixture::store(), Some(ServerOptions::default())).await;
    let r = srv.client.post(srv.url("/-/reload")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.text().await.unwrap(), "Lifecycle API is not enabled.\n");
    let r = srv.client.get(srv.url("/-/reload")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    srv.stop().await;
}

#[tokio::test]
async fn reload_is_post_only_and_says_when_there_is_nothing_to_reload() {
    let opts = ServerOptions {
        enable_lifecycle: true,
        ..ServerOptions::default()
    };
    let srv = start_with(crate::fixture::store(), Some(opts)).await;
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let r = srv
            .client
            .request(method.clone(), srv.url("/-/reload"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(r.headers()["allow"], "POST", "{method}");
    }
    // A store without a reloader (no config file behind it).
    let r = srv.client.post(srv.url("/-/reload")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        r.text().await.unwrap(),
        "this exporter was not started from a configuration file; nothing to reload\n"
    );
    srv.stop().await;
}

#[tokio::test]
async fn healthy_is_always_ok() {
    // smc-b is down and one subscription never connected: still healthy.
    let srv = start(crate::fixture::store()).await;
    let r = srv.client.get(srv.url("/-/healthy")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "OK");
    srv.stop().await;
}

#[tokio::test]
async fn ready_flips_from_503_to_200() {
    let srv = start(crate::fixture::store()).await;
    let r = srv.client.get(srv.url("/-/ready")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = r.text().await.unwrap();
    assert!(body.contains("smc-b/routing/fw-3\n"), "{body}");
    assert!(
        !body.contains("fw-1"),
        "ready subscriptions are not listed: {body}"
    );

    for s in &srv.store.subscriptions {
        s.health.set_ready();
    }
    let r = srv.client.get(srv.url("/-/ready")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "OK");
    srv.stop().await;
}

#[tokio::test]
async fn landing_page_links_and_escapes() {
    let mut store = crate::fixture::store();
    store.subscriptions.push(crate::fixture::sub(
        "smc-a",
        "<script>alert('x')</script>",
        Definition::Users,
        &["node"],
        &[],
        0,
    ));
    let srv = start(store).await;
    let r = srv.client.get(srv.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    let body = r.text().await.unwrap();
    assert!(body.contains("smc-exporter"));
    assert!(body.contains(env!("CARGO_PKG_VERSION")));
    for link in ["/metrics", "/-/healthy", "/-/ready"] {
        assert!(body.contains(&format!("<a href=\"{link}\">")), "{link}");
    }
    assert!(body.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(!body.contains("<script>"));
    assert!(body.contains("<td>edge\\fw &quot;2&quot;</td>"));
    let row = |needle: &str| {
        body.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no row with {needle} in {body}"))
            .to_string()
    };
    assert!(
        row("<td>fw-1</td><td>connections</td><td>54</td>")
            .starts_with("<tr class=\"up\"><td class=\"state\">up</td>")
    );
    // Down, never interrupted: still waiting for its first snapshot.
    assert!(
        row("<td>fw-3</td><td>routing</td><td>0</td>")
            .starts_with("<tr class=\"pending\"><td class=\"state\">waiting for its snapshot</td>")
    );
    srv.stop().await;
}

#[tokio::test]
async fn shutdown_closes_idle_keep_alive_connections_and_stops_accepting() {
    let srv = start(crate::fixture::store()).await;
    // Leaves a pooled keep-alive connection open.
    let r = srv.client.get(srv.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.bytes().await.unwrap();
    let addr = srv.addr;
    srv.stop().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn shutdown_finishes_an_in_flight_request() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let srv = start(crate::fixture::store()).await;
    // Send half a request, shut down, then complete it: it is still answered.
    let mut s = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    s.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    srv.shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(50)).await;
    s.write_all(b"\r\n").await.unwrap();
    let mut resp = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut resp))
        .await
        .unwrap()
        .unwrap();
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert!(resp.ends_with("\r\n\r\nOK"), "{resp}");
    let r = tokio::time::timeout(Duration::from_secs(5), srv.task)
        .await
        .unwrap()
        .unwrap();
    assert!(r.is_ok());
}

#[tokio::test]
async fn every_response_says_nosniff() {
    let srv = start(crate::fixture::store()).await;
    let c = &srv.client;
    let cases = [
        ("GET /metrics", c.get(srv.url("/metrics")), StatusCode::OK),
        (
            "GET /metrics gzip",
            c.get(srv.url("/metrics")).header(ACCEPT_ENCODING, "gzip"),
            StatusCode::OK,
        ),
        ("HEAD /metrics", c.head(srv.url("/metrics")), StatusCode::OK),
        (
            "GET /-/healthy",
            c.get(srv.url("/-/healthy")),
            StatusCode::OK,
        ),
        (
            "GET /-/ready",
            c.get(srv.url("/-/ready")),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        ("GET /", c.get(srv.url("/")), StatusCode::OK),
        ("GET /nope", c.get(srv.url("/nope")), StatusCode::NOT_FOUND),
        (
            "POST /metrics",
            c.post(srv.url("/metrics")),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
    ];
    for (what, req, status) in cases {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), status, "{what}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{what}");
    }
    for s in &srv.store.subscriptions {
        s.health.set_ready();
    }
    let r = c.get(srv.url("/-/ready")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    srv.stop().await;
}

#[tokio::test]
async fn concurrent_scrapes_are_byte_identical_to_a_direct_render() {
    let opts = ServerOptions {
        max_requests: 0,
        render: crate::fixture::GOLDEN,
        ..ServerOptions::default()
    };
    let srv = start_with(crate::fixture::store(), Some(opts)).await;
    let expected = |f| render_with(&srv.store, f, &crate::fixture::GOLDEN);
    let variants = [
        (None, false, Format::Text),
        (None, true, Format::Text),
        (Some(PROMETHEUS_3), false, Format::OpenMetrics),
        (Some(PROMETHEUS_3), true, Format::OpenMetrics),
    ];
    let mut set = tokio::task::JoinSet::new();
    for (accept, gzip, format) in variants {
        for _ in 0..25 {
            let mut req = srv.client.get(srv.url("/metrics"));
            if let Some(a) = accept {
                req = req.header(ACCEPT, a);
            }
            if gzip {
                req = req.header(ACCEPT_ENCODING, "gzip");
            }
            set.spawn(async move {
                let r = req.send().await.unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                let zipped = r.headers().get(CONTENT_ENCODING).is_some();
                let len: usize = r.headers()["content-length"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                let bytes = r.bytes().await.unwrap();
                assert_eq!(bytes.len(), len);
                (format, gzip, zipped, bytes)
            });
        }
    }
    let results = set.join_all().await;
    assert_eq!(results.len(), 100);
    for (format, gzip, zipped, bytes) in results {
        assert_eq!(zipped, gzip);
        let body = if gzip {
            let mut s = String::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut s)
                .unwrap();
            s
        } else {
            String::from_utf8(bytes.to_vec()).unwrap()
        };
        assert_eq!(body, expected(format), "{format:?} gzip={gzip}");
    }
    srv.stop().await;
}

#[tokio::test]
async fn a_large_exposition_arrives_whole() {
    // Bigger than one body slice (64 KiB) and than hyper's write buffer.
    let mut store = crate::fixture::store();
    let groups: Vec<(Vec<String>, u64)> = (0..20_000)
        .map(|i| (vec![format!("node-{i}")], i as u64 + 1))
        .collect();
    let refs: Vec<(Vec<&str>, u64)> = groups
        .iter()
        .map(|(v, n)| (v.iter().map(String::as_str).collect(), *n))
        .collect();
    let refs: Vec<(&[&str], u64)> = refs.iter().map(|(v, n)| (&v[..], *n)).collect();
    store.subscriptions.push(crate::fixture::sub(
        "smc-a",
        "fw-big",
        Definition::Users,
        &["node"],
        &refs,
        20_000,
    ));
    let opts = ServerOptions {
        render: crate::fixture::GOLDEN,
        ..ServerOptions::default()
    };
    let srv = start_with(store, Some(opts)).await;
    let expected = render_with(&srv.store, Format::Text, &crate::fixture::GOLDEN);
    assert!(expected.len() > 1_000_000, "{}", expected.len());
    let r = srv.client.get(srv.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), expected);
    srv.stop().await;
}
