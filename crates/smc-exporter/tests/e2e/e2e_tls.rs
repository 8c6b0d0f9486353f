//! TLS to the SMC, end to end (issue 12, item 2): the simulator serves
//! https / wss with a certificate from a throwaway CA and advertises
//! `https://` hrefs. With `ca_file` the state equals the truth over wss and
//! logout succeeds; without it, with a certificate for another host, or
//! without the client certificate an SMC asks for, the exporter says why in
//! one line and `smc_up` is 0, without hanging; `insecure_skip_verify`,
//! `server_name`, client certificates and token mode work over TLS.

use std::path::PathBuf;

use std::time::Duration;

use smc_lab::pki::TestCa;
use smc_lab::*;
use smc_sim::SimOptions;

/// Bound of every wait in this file.
const WAIT: Duration = Duration::from_secs(20);

struct Tls {
    ca: TestCa,
    dir: tempfile::TempDir,
}

impl Tls {
    fn new() -> Tls {
        Tls {
            ca: TestCa::new("smc-exporter test CA"),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn ca_file(&self) -> PathBuf {
        self.ca.write(self.dir.path(), "ca")
    }

    /// Simulator options serving TLS with a certificate for `names`,
    /// asking for a client certificate of this CA when `client_auth`.
    fn sim(&self, names: &[&str], client_auth: bool) -> SimOptions {
        let pem = self.ca.server(names);
        let client_ca = client_auth.then_some(self.ca.cert_pem.as_str());
        SimOptions {
            seed: 12,
            tls: Some(smc_sim::tls_config(&pem.cert, &pem.key, client_ca).unwrap()),
            ..SimOptions::default()
        }
    }
}

/// The value of `smc_up` in an exposition of one SMC.
fn up_in(text: &str) -> Option<f64> {
    parse_samples(text)
        .into_iter()
        .find(|((name, _), _)| name == "smc_up")
        .map(|(_, v)| v)
}

async fn smc_up(pair: &Pair) -> Option<f64> {
    up_in(&pair.metrics().await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_ca_file_the_state_equals_the_truth_over_wss_and_logout_succeeds() {
    let tls = Tls::new();
    let ca = tls.ca_file();
    let pair = start_pair_opts(tls.sim(&["127.0.0.1"], false), |cfg, _| {
        cfg.smc[0].ca_file = Some(ca);
    })
    .await;
    assert!(pair.sim.url().starts_with("https://127.0.0.1:"));
    pair.ready().await;
    pair.converge().await;
    assert_eq!(smc_up(&pair).await, Some(1.0));
    let live = pair.sim.sessions().live;
    assert_eq!(live.len(), 1, "one session over TLS");
    let sim = pair.sim.sessions();
    pair.exporter.shutdown().await;
    let after = pair.sim.sessions();
    assert_eq!(after.logged_out, sim.live, "logged out over https");
    assert!(after.live.is_empty());
    pair.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_mode_over_tls_equals_the_truth() {
    let tls = Tls::new();
    let ca = tls.ca_file();
    let opts = SimOptions {
        token_auth: true,
        ..tls.sim(&["127.0.0.1"], false)
    };
    let pair = start_pair_opts(opts, |cfg, _| cfg.smc[0].ca_file = Some(ca)).await;
    pair.ready().await;
    pair.converge().await;
    pair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_name_verifies_a_certificate_for_the_smcs_real_host() {
    let tls = Tls::new();
    let ca = tls.ca_file();
    let pair = start_pair_opts(tls.sim(&["smc.example.test"], false), |cfg, _| {
        cfg.smc[0].ca_file = Some(ca);
        cfg.smc[0].server_name = Some("smc.example.test".into());
    })
    .await;
    pair.ready().await;
    pair.converge().await;
    pair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_answers_an_smc_that_asks_for_one() {
    let tls = Tls::new();
    let ca = tls.ca_file();
    let (cert, key) = tls
        .ca
        .client("smc-exporter")
        .write(tls.dir.path(), "client");
    let pair = start_pair_opts(tls.sim(&["127.0.0.1"], true), |cfg, _| {
        cfg.smc[0].ca_file = Some(ca);
        cfg.smc[0].client_identity = Some((cert, key));
    })
    .await;
    pair.ready().await;
    pair.converge().await;
    pair.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_skip_verify_accepts_an_unknown_ca() {
    let tls = Tls::new();
    let pair = start_pair_opts(tls.sim(&["127.0.0.1"], false), |cfg, _| {
        cfg.smc[0].insecure_skip_verify = true;
    })
    .await;
    pair.ready().await;
    pair.converge().await;
    pair.stop().await;
}

/// The real binary against a TLS simulator with `config_extra` in its
/// `[[smc]]`: the WARN line that says why it is down, once `smc_up` is 0.
async fn refused_line(opts: SimOptions, config_extra: &str) -> (serde_json::Value, f64) {
    let sim = start_sim(opts).await;
    let w = sim.world_info();
    let (_dir, cfg) = crate::config_dir(
        &sim,
        &format!(
            "[[smc]]\nname = \"tls\"\nurl = \"{}\"\napi_key_file = \"key\"\nengines = {:?}\ndefinitions = [\"CONNECTIONS\"]\n{config_extra}",
            sim.url(),
            &w.engines[..1]
        ),
    );
    let mut p = Proc::spawn(
        crate::EXPORTER,
        &[
            "-c",
            cfg.to_str().unwrap(),
            "--web.listen-address",
            "127.0.0.1:0",
            "--log.format",
            "json",
        ],
        &[],
    );
    let addr = p.metrics_addr().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let line = loop {
        let found = p
            .json_logs()
            .into_iter()
            .find(|v| v["level"] == "warn" && v["smc"] == "tls" && v["detail"].is_string());
        if let Some(v) = found {
            break v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no warn line within {WAIT:?}; stderr:\n{}",
            p.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (_, body) = http_get(&format!("http://{addr}/metrics")).await;
    let up = up_in(&body).unwrap();
    p.sigterm();
    assert!(p.wait_exit(Duration::from_secs(5)).await.is_some());
    assert!(sim.sessions().live.is_empty(), "no session was opened");
    sim.shutdown().await;
    (line, up)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_ca_file_an_unknown_ca_is_one_clear_line_and_smc_down() {
    let tls = Tls::new();
    let (line, up) = refused_line(tls.sim(&["127.0.0.1"], false), "").await;
    assert_eq!(up, 0.0);
    let detail = line["detail"].as_str().unwrap();
    assert!(
        detail.contains("invalid peer certificate: UnknownIssuer"),
        "{line}"
    );
    // docs/metrics.md: a failed TLS connect is a `connect_error`.
    assert_eq!(line["reason"], "connect_error", "{line}");
    assert_eq!(
        line["msg"],
        "SMC unreachable; retrying on the SMC's schedule"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_host_is_refused() {
    let tls = Tls::new();
    let ca = tls.ca_file();
    let extra = format!("ca_file = {:?}\n", ca.display().to_string());
    let (line, up) = refused_line(tls.sim(&["other.example.test"], false), &extra).await;
    assert_eq!(up, 0.0);
    let detail = line["detail"].as_str().unwrap();
    assert!(detail.contains("certificate not valid for name"), "{line}");
    assert!(detail.contains("other.example.test"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smc_that_asks_for_a_client_certificate_refuses_one_without() {
    let tls = Tls::new();
    let ca = tls.ca_file();
    let extra = format!("ca_file = {:?}\n", ca.display().to_string());
    let (line, up) = refused_line(tls.sim(&["127.0.0.1"], true), &extra).await;
    assert_eq!(up, 0.0);
    let detail = line["detail"].as_str().unwrap();
    assert!(
        detail.ends_with("received fatal alert: CertificateRequired"),
        "{line}"
    );
}
