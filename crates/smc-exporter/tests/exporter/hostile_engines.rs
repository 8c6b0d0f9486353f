//! The engine poll's REST calls against hostile fakes: hrefs in the listing
//! and in engine elements that name another listener are used only as paths
//! on the configured origin (the session never goes to the "bystander");
//! a redirect of the listing is not followed; an endless listing is read
//! only up to its cap.

use std::sync::Arc;
use std::time::Duration;

use smc_exporter::smc::rest::SmcRest;
use smc_exporter::smc::rest::engines::{EngineRestError, MAX_LISTING_BYTES};
use smc_lab::hostile::{Answer, Fake, StreamStats, smc_rest};

async fn rest_for(url: &str) -> SmcRest {
    smc_exporter::smc::tls::install_default_provider();
    let cfg = smc_exporter::config::demo(
        url,
        "HostileTestKey-0123456789",
        &["fw".to_string()],
        &[],
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let tls = smc_exporter::smc::tls::client_config(&Default::default()).unwrap();
    SmcRest::new(&cfg.smc[0], &cfg.subscription, &tls).unwrap()
}

const LISTING: &str = "/7.1/elements?filter_context=engine_clusters";

#[tokio::test]
async fn hrefs_naming_another_listener_stay_on_the_configured_origin() {
    let bystander = Fake::bystander().await;
    let other = bystander.url.clone();
    let smc = Fake::start(move |req| {
        let other = other.clone();
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", LISTING) => Answer::json(
                "200 OK",
                &format!(
                    r#"{{"result":[{{"name":"edge","type":"single_fw","href":"{other}/7.1/elements/single_fw/1"}}]}}"#
                ),
            ),
            ("GET", "/7.1/elements/single_fw/1") => Answer::json(
                "200 OK",
                &format!(
                    r#"{{"nodes":[{{"firewall_node":{{"name":"edge node 1","link":[{{"rel":"status","href":"{other}/7.1/elements/single_fw/1/firewall_node/1/status"}}]}}}}]}}"#
                ),
            ),
            ("GET", "/7.1/elements/single_fw/1/firewall_node/1/status") => {
                Answer::json("200 OK", r#"{"status":"Online","state":"READY"}"#)
            }
            _ => smc_rest(req, "").unwrap_or_else(Answer::not_found),
        }
    })
    .await;
    let rest = rest_for(&smc.url).await;
    let c = rest.login(1).await.unwrap();
    let listed = rest.list_engines(&c.api_version, &c.auth).await.unwrap();
    assert_eq!(listed.len(), 1);
    let nodes = rest.engine_nodes(&listed[0].href, &c.auth).await.unwrap();
    let href = nodes[0].status_href.clone().unwrap();
    let h = rest.node_status(&href, &c.auth).await.unwrap();
    assert_eq!(h.status.as_deref(), Some("Online"));
    assert_eq!(bystander.connections(), 0);
    let reads: Vec<(String, Option<String>)> = smc
        .requests()
        .iter()
        .filter(|r| r.path.contains("/elements"))
        .map(|r| (r.line(), r.header("cookie").map(str::to_owned)))
        .collect();
    let cookie = Some("JSESSIONID=FAKE0123456789".to_string());
    assert_eq!(
        reads,
        [
            (format!("GET {LISTING}"), cookie.clone()),
            ("GET /7.1/elements/single_fw/1".into(), cookie.clone()),
            (
                "GET /7.1/elements/single_fw/1/firewall_node/1/status".into(),
                cookie
            ),
        ]
    );
}

#[tokio::test]
async fn a_redirected_listing_is_not_followed() {
    let bystander = Fake::bystander().await;
    let to = format!("{}/7.1/elements", bystander.url);
    let to2 = to.clone();
    let smc = Fake::start(move |req| match (req.method.as_str(), req.path.as_str()) {
        ("GET", LISTING) => Answer::redirect("302 Found", &to2),
        _ => smc_rest(req, "").unwrap_or_else(Answer::not_found),
    })
    .await;
    let rest = rest_for(&smc.url).await;
    let c = rest.login(1).await.unwrap();
    let e = rest
        .list_engines(&c.api_version, &c.auth)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}{LISTING}: HTTP status 302, a redirect to {to}; redirects are not followed (credentials go only to the configured url)",
            smc.url
        )
    );
    assert_eq!(bystander.connections(), 0);
}

#[tokio::test]
async fn an_endless_listing_is_read_up_to_its_cap() {
    let stats = Arc::new(StreamStats::default());
    let s2 = stats.clone();
    let smc = Fake::start(move |req| match (req.method.as_str(), req.path.as_str()) {
        ("GET", LISTING) => Answer::Stream {
            total: 64 << 20,
            chunk: 64 * 1024,
            chunked: true,
            stats: s2.clone(),
        },
        _ => smc_rest(req, "").unwrap_or_else(Answer::not_found),
    })
    .await;
    let rest = rest_for(&smc.url).await;
    let c = rest.login(1).await.unwrap();
    let e = rest
        .list_engines(&c.api_version, &c.auth)
        .await
        .unwrap_err();
    assert!(matches!(e, EngineRestError::Rest(_)), "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            "{}{LISTING}: response body larger than {MAX_LISTING_BYTES} bytes; not read further",
            smc.url
        )
    );
    stats.finished(Duration::from_secs(10)).await;
    assert!(stats.sent.load(std::sync::atomic::Ordering::SeqCst) < MAX_LISTING_BYTES + (16 << 20));
}

/// A node's name and status, as read.
type NodeStatus<'a> = (&'a str, Option<&'a str>);

/// A session on a fake SMC at `url`, and its state.
fn session_for(url: &str) -> smc_exporter::smc::session::SmcSession {
    smc_exporter::smc::tls::install_default_provider();
    let cfg = smc_exporter::config::demo(
        url,
        "HostileTestKey-0123456789",
        &["fw".to_string()],
        &[],
        "127.0.0.1:0".parse().unwrap(),
    )
    .unwrap();
    let state = Arc::new(smc_exporter::state::SmcState::new("fake".into()));
    smc_exporter::smc::session::SmcSession::new(&cfg.smc[0], state, &cfg.subscription).unwrap()
}

#[tokio::test]
async fn unreadable_engines_make_the_run_partial_and_vanished_ones_do_not() {
    use smc_exporter::smc::engine_poll::poll_once;
    use smc_exporter::state::engines::{DiscoveryResult, EngineState};
    let smc = Fake::start(|req| match (req.method.as_str(), req.path.as_str()) {
        ("GET", LISTING) => Answer::json(
            "200 OK",
            r#"{"result":[{"name":"ok","href":"/7.1/elements/single_fw/1"},
                          {"name":"gone","href":"/7.1/elements/single_fw/2"},
                          {"name":"broken","href":"/7.1/elements/single_fw/3"}]}"#,
        ),
        ("GET", "/7.1/elements/single_fw/1") => Answer::json(
            "200 OK",
            r#"{"nodes":[{"firewall_node":{"name":"ok node 1","link":[{"rel":"status","href":"/7.1/s/1"}]}},
                         {"firewall_node":{"name":"ok node 2","link":[{"rel":"status","href":"/7.1/s/2"}]}}]}"#,
        ),
        ("GET", "/7.1/s/1") => Answer::json("200 OK", r#"{"status":"Online"}"#),
        ("GET", "/7.1/s/2") => Answer::json("500 Internal Server Error", "{}"),
        ("GET", "/7.1/elements/single_fw/3") => Answer::json("200 OK", "not json"),
        _ => smc_rest(req, "").unwrap_or_else(Answer::not_found),
    })
    .await;
    let session = session_for(&smc.url);
    let state = EngineState::new("fake".into());
    assert_eq!(poll_once(&session, &state).await, DiscoveryResult::Partial);
    let snap = state.snapshot().unwrap();
    let got: Vec<(&str, Vec<NodeStatus>)> = snap
        .engines
        .iter()
        .map(|e| {
            let nodes = e
                .nodes
                .iter()
                .map(|n| {
                    let status = n.health.as_ref().and_then(|h| h.status.as_deref());
                    (n.name.as_str(), status)
                })
                .collect();
            (e.name.as_str(), nodes)
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "ok",
                vec![("ok node 1", Some("Online")), ("ok node 2", None)]
            ),
            ("gone", vec![]),
            ("broken", vec![]),
        ]
    );
    assert_eq!(state.runs(DiscoveryResult::Partial), 1);
}

#[tokio::test]
async fn a_listing_refused_again_after_a_new_login_is_unauthorized() {
    use smc_exporter::smc::engine_poll::poll_once;
    use smc_exporter::state::engines::{DiscoveryResult, EngineState};
    let smc = Fake::start(|req| match (req.method.as_str(), req.path.as_str()) {
        ("GET", LISTING) => Answer::json("403 Forbidden", "{}"),
        _ => smc_rest(req, "").unwrap_or_else(Answer::not_found),
    })
    .await;
    let session = session_for(&smc.url);
    let state = EngineState::new("fake".into());
    assert_eq!(
        poll_once(&session, &state).await,
        DiscoveryResult::Unauthorized
    );
    assert_eq!(state.snapshot(), None);
    // Two logins, two listings, and the refused session logged out (in
    // the background: wait for it, bounded).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !smc.lines().iter().any(|l| l == "PUT /7.1/logout") {
        assert!(tokio::time::Instant::now() < deadline, "no logout");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut lines: Vec<String> = smc
        .lines()
        .into_iter()
        .filter(|l| !l.ends_with("/api"))
        .collect();
    lines.sort();
    let mut want = vec![
        format!("GET {LISTING}"),
        format!("GET {LISTING}"),
        "POST /7.1/login".to_string(),
        "POST /7.1/login".to_string(),
        "PUT /7.1/logout".to_string(),
    ];
    want.sort();
    assert_eq!(lines, want);
    assert_eq!(session.state.logins(), 2);
}
