//! The REST client against hostile fake SMCs (issue 8, items 3, 7 and 9):
//! redirects are never followed and are reported as what they are; an href
//! from the entry points is used only as a path on the configured origin;
//! response bodies are read up to `MAX_BODY_BYTES` and no further.
//!
//! Each "bystander" is a second listener that answers 200 to anything: the
//! assertions are that it saw no connection at all.

use std::sync::Arc;
use std::time::Duration;

use smc_exporter::smc::rest::{Credentials, MAX_BODY_BYTES, SmcRest};
use smc_lab::hostile::{Answer, Fake, StreamStats, smc_rest};

/// Loopback kernel buffers hold a few MiB between the fake's writes and the
/// client's reads; a client that stopped at the cap leaves the fake far
/// below this.
const READ_BOUND: usize = 16 << 20;
/// What the fakes offer: a client without a cap would read all of it.
const HUGE: usize = 64 << 20;

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

async fn login(url: &str) -> Result<Credentials, String> {
    rest_for(url)
        .await
        .login(1)
        .await
        .map_err(|e| e.to_string())
}

/// A fake whose `POST /7.1/login` answers `status` with a `Location` on the
/// bystander (who would take the key and hand out a session).
async fn redirecting_login(status: &'static str, location: String) -> Fake {
    Fake::start(move |req| match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/7.1/login") => Answer::redirect(status, &location),
        _ => smc_rest(req, "").unwrap_or_else(Answer::not_found),
    })
    .await
}

#[tokio::test]
async fn login_redirects_are_not_followed_to_another_listener() {
    // Per status: connections the bystander saw, and keys it received.
    let mut reached = Vec::new();
    for status in [
        "301 Moved Permanently",
        "302 Found",
        "307 Temporary Redirect",
        "308 Permanent Redirect",
    ] {
        let bystander = Fake::bystander().await;
        let to = format!("{}/7.1/login", bystander.url);
        let smc = redirecting_login(status, to.clone()).await;
        let result = login(&smc.url).await;
        let keys = |f: &Fake| {
            f.requests()
                .iter()
                .filter(|r| r.body.contains("HostileTestKey"))
                .count()
        };
        reached.push((&status[..3], bystander.connections(), keys(&bystander)));
        if bystander.connections() > 0 {
            continue;
        }
        let code = &status[..3];
        assert_eq!(
            result.unwrap_err(),
            format!(
                "login to {}/7.1/login failed: HTTP status {code}, a redirect to {to}; redirects are not followed (credentials go only to the configured url)",
                smc.url
            )
        );
        assert_eq!(smc.lines(), ["GET /api", "POST /7.1/login"], "{status}");
        assert_eq!(keys(&smc), 1, "{status}: the key was sent once");
    }
    assert_eq!(
        reached,
        [("301", 0, 0), ("302", 0, 0), ("307", 0, 0), ("308", 0, 0)],
        "(status, connections to the other listener, API keys it received)"
    );
}

/// A real SMC answers the GET that a followed 302 turns the POST into with
/// 405: the error must say 302, not 405.
#[tokio::test]
async fn a_302_on_login_is_reported_as_302() {
    let smc = Fake::start(|req| match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/7.1/login") => Answer::redirect("302 Found", "/7.1/login?retry=1"),
        ("GET", p) if p.starts_with("/7.1/login") => Answer::json("405 Method Not Allowed", "{}"),
        _ => smc_rest(req, "").unwrap_or_else(Answer::not_found),
    })
    .await;
    let err = login(&smc.url).await.unwrap_err();
    assert_eq!(
        err,
        format!(
            "login to {0}/7.1/login failed: HTTP status 302, a redirect to {0}/7.1/login; redirects are not followed (credentials go only to the configured url)",
            smc.url
        )
    );
    assert_eq!(smc.lines(), ["GET /api", "POST /7.1/login"]);
}

#[tokio::test]
async fn a_redirect_without_location_is_named() {
    let smc = Fake::start(|req| match req.path.as_str() {
        "/7.1/login" => Answer::with_headers("303 See Other", "", ""),
        _ => smc_rest(req, "").unwrap_or_else(Answer::not_found),
    })
    .await;
    assert_eq!(
        login(&smc.url).await.unwrap_err(),
        format!(
            "login to {}/7.1/login failed: HTTP status 303, a redirect without a Location header; redirects are not followed (credentials go only to the configured url)",
            smc.url
        )
    );
}

#[tokio::test]
async fn a_redirected_versions_list_is_not_followed() {
    let bystander = Fake::bystander().await;
    let to = format!("{}/api", bystander.url);
    let smc = Fake::start({
        let to = to.clone();
        move |_| Answer::redirect("302 Found", &format!("{to}?token=SECRET-IN-QUERY"))
    })
    .await;
    assert_eq!(
        login(&smc.url).await.unwrap_err(),
        format!(
            "{}/api: HTTP status 302, a redirect to {to}; redirects are not followed (credentials go only to the configured url)",
            smc.url
        )
    );
    assert_eq!(bystander.connections(), 0);
}

/// The entry points name a logout href on another port (plain http) or
/// another scheme: the logout, with the session cookie, goes to the
/// configured origin, and the bystander sees nothing.
#[tokio::test]
async fn logout_href_on_another_origin_is_used_on_the_configured_one() {
    let bystander = Fake::bystander().await;
    let mut elsewhere = Vec::new();
    for href in [
        format!("{}/7.1/logout", bystander.url),
        format!("https://127.0.0.1:{}/7.1/logout", bystander.port),
        format!("http://localhost:{}/7.1/logout", bystander.port),
    ] {
        let smc = Fake::start({
            let href = href.clone();
            move |req| smc_rest(req, &href).unwrap_or_else(Answer::not_found)
        })
        .await;
        let rest = rest_for(&smc.url).await;
        let c = rest.login(1).await.unwrap();
        let before = bystander.connections();
        rest.logout("hostile", &c).await;
        let logout = smc
            .requests()
            .into_iter()
            .find(|r| r.line() == "PUT /7.1/logout");
        elsewhere.push((
            bystander.connections() - before,
            logout.and_then(|r| r.header("cookie").map(str::to_owned)),
        ));
    }
    let on_smc = Some("JSESSIONID=FAKE0123456789".to_owned());
    assert_eq!(
        (elsewhere, bystander.requests()),
        (
            vec![(0, on_smc.clone()), (0, on_smc.clone()), (0, on_smc)],
            vec![]
        ),
        "per href: connections to the other listener, and the cookie of the logout the configured SMC got; then what the other listener received"
    );
}

/// A same-origin href with its own path is used as given.
#[tokio::test]
async fn logout_href_path_is_kept() {
    let smc = Fake::start(|req| {
        if req.line() == "PUT /7.1/session/logout" {
            return Answer::with_headers("204 No Content", "", "");
        }
        smc_rest(req, "/7.1/session/logout").unwrap_or_else(Answer::not_found)
    })
    .await;
    let rest = rest_for(&smc.url).await;
    let c = rest.login(1).await.unwrap();
    rest.logout("hostile", &c).await;
    assert_eq!(smc.lines().last().unwrap(), "PUT /7.1/session/logout");
}

fn stream(chunked: bool) -> (Arc<StreamStats>, Answer) {
    let stats = Arc::new(StreamStats::default());
    let answer = Answer::Stream {
        total: HUGE,
        chunk: 64 << 10,
        chunked,
        stats: stats.clone(),
    };
    (stats, answer)
}

async fn assert_cut_short(stats: &StreamStats) {
    stats.finished(Duration::from_secs(20)).await;
    let sent = stats.sent.load(std::sync::atomic::Ordering::Acquire);
    assert!(
        stats.cut_short.load(std::sync::atomic::Ordering::Acquire),
        "the client read the whole {HUGE}-byte body ({sent} bytes sent)"
    );
    assert!(
        sent < READ_BOUND,
        "{sent} bytes were sent before the client stopped"
    );
}

/// An endless versions list without a length: reading stops at the cap.
#[tokio::test]
async fn an_endless_versions_list_stops_at_the_cap() {
    let (stats, answer) = stream(true);
    let smc = Fake::start(move |_| answer.clone()).await;
    assert_eq!(
        login(&smc.url).await.unwrap_err(),
        format!(
            "{}/api: response body larger than {MAX_BODY_BYTES} bytes; not read further",
            smc.url
        )
    );
    assert_eq!(MAX_BODY_BYTES, 1_048_576);
    assert_cut_short(&stats).await;
}

/// A body announced larger than the cap is refused before it is read.
#[tokio::test]
async fn a_versions_list_announced_too_large_is_not_read() {
    let (stats, answer) = stream(false);
    let smc = Fake::start(move |_| answer.clone()).await;
    assert_eq!(
        login(&smc.url).await.unwrap_err(),
        format!(
            "{}/api: response body larger than {MAX_BODY_BYTES} bytes; not read further",
            smc.url
        )
    );
    assert_cut_short(&stats).await;
}

/// Endless entry points lose only the entry point: the login stands and
/// logout uses the default path.
#[tokio::test]
async fn endless_entry_points_stop_at_the_cap_and_keep_the_login() {
    let (stats, answer) = stream(true);
    let smc = Fake::start(move |req| {
        if req.line() == "GET /7.1/api" {
            return answer.clone();
        }
        smc_rest(req, "").unwrap_or_else(Answer::not_found)
    })
    .await;
    let rest = rest_for(&smc.url).await;
    let c = rest.login(1).await.unwrap();
    assert_cut_short(&stats).await;
    rest.logout("hostile", &c).await;
    assert_eq!(
        smc.lines(),
        [
            "GET /api",
            "POST /7.1/login",
            "GET /7.1/api",
            "PUT /7.1/logout"
        ]
    );
}
