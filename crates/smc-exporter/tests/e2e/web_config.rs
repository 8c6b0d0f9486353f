//! `--web.config.file` (issue 12, item 1): exporter-toolkit's web config on
//! the real binary: TLS with and without the CA, client certificates, basic
//! auth, headers, a change while running, and the one-line refusal of each
//! bad file shape (exit 2, also under `--config.check`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use smc_exporter::smc::tls::{TlsOptions, client_config};
use smc_lab::pki::TestCa;
use smc_lab::*;

/// bcrypt of "s3cret" and of "other", cost 4 (the minimum: the debug build's
/// bcrypt is slow, and cost does not change what is tested).
fn hash(password: &str) -> String {
    bcrypt::hash(password, 4).unwrap()
}

/// A directory with an exporter config whose SMC is unreachable (the HTTP
/// side is what is tested) and `web.yml` holding `web`.
fn dir_with(web: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (dir, cfg) = crate::unreachable_smc_dir();
    let web_file = dir.path().join("web.yml");
    std::fs::write(&web_file, web).unwrap();
    (dir, cfg, web_file)
}

fn spawn(cfg: &Path, web: &Path) -> Proc {
    Proc::spawn(
        crate::EXPORTER,
        &[
            "-c",
            cfg.to_str().unwrap(),
            "--web.config.file",
            web.to_str().unwrap(),
            "--web.listen-address",
            "127.0.0.1:0",
            "--log.format",
            "json",
        ],
        &[],
    )
}

/// A client trusting `ca` (`None`: the system roots only), presenting
/// `identity` if given.
fn tls_client(ca: Option<&Path>, identity: Option<(&Path, &Path)>) -> reqwest::Client {
    smc_exporter::smc::tls::install_default_provider();
    let cfg = client_config(&TlsOptions {
        ca_file: ca,
        client_identity: identity,
        ..TlsOptions::default()
    })
    .unwrap();
    reqwest::Client::builder()
        .use_preconfigured_tls(cfg)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// The TLS setup of these tests: a CA, a server certificate for 127.0.0.1
/// (`server.crt`, `server.key`) and a client certificate, written into `dir`.
struct Pki {
    ca: PathBuf,
    client: (PathBuf, PathBuf),
}

fn pki(dir: &Path) -> Pki {
    let ca = TestCa::new("web-config test CA");
    ca.server(&["127.0.0.1"]).write(dir, "server");
    Pki {
        ca: ca.write(dir, "ca"),
        client: ca.client("scraper").write(dir, "client"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_scrape_succeeds_with_the_ca_and_fails_without_it() {
    let (dir, cfg, web) = dir_with("");
    let p = pki(dir.path());
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
    )
    .unwrap();
    let proc = spawn(&cfg, &web);
    let addr = proc.metrics_addr().await;
    let url = format!("https://{addr}/metrics");

    let r = tls_client(Some(&p.ca), None)
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("smc_up{smc=\"hq\"} 0"));

    let e = tls_client(None, None).get(&url).send().await.unwrap_err();
    assert!(format!("{e:?}").contains("UnknownIssuer"), "{e:?}");
    // Plain HTTP on the TLS port gets no answer.
    assert!(
        smc_lab::http::client()
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_and_verify_client_cert_refuses_a_client_without_one() {
    let (dir, cfg, web) = dir_with("");
    let p = pki(dir.path());
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n",
    )
    .unwrap();
    let proc = spawn(&cfg, &web);
    let addr = proc.metrics_addr().await;
    let url = format!("https://{addr}/-/healthy");

    let e = tls_client(Some(&p.ca), None).get(&url).send().await;
    assert!(e.is_err(), "{e:?}");
    let client = tls_client(Some(&p.ca), Some((&p.client.0, &p.client.1)));
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // A certificate from another CA is refused too.
    let other = TestCa::new("another CA")
        .client("intruder")
        .write(dir.path(), "intruder");
    let e = tls_client(Some(&p.ca), Some((&other.0, &other.1)))
        .get(&url)
        .send()
        .await;
    assert!(e.is_err(), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_allowed_sans_takes_only_the_named_clients() {
    let (dir, cfg, web) = dir_with("");
    let p = pki(dir.path());
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  \
         client_auth_type: RequireAnyClientCert\n  client_allowed_sans: [scraper, 10.0.0.1]\n",
    )
    .unwrap();
    let proc = spawn(&cfg, &web);
    let addr = proc.metrics_addr().await;
    let url = format!("https://{addr}/-/healthy");
    let client = tls_client(Some(&p.ca), Some((&p.client.0, &p.client.1)));
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    // Any CA (RequireAnyClientCert), but not another name.
    let other = TestCa::new("another CA")
        .client("intruder")
        .write(dir.path(), "intruder");
    let e = tls_client(Some(&p.ca), Some((&other.0, &other.1)))
        .get(&url)
        .send()
        .await;
    assert!(e.is_err(), "{e:?}");
    let ip = TestCa::new("ip CA")
        .client("10.0.0.1")
        .write(dir.path(), "ip");
    let r = tls_client(Some(&p.ca), Some((&ip.0, &ip.1)))
        .get(&url)
        .send()
        .await;
    assert_eq!(r.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_and_headers_and_a_change_while_running() {
    let web_text = |user: &str, password: &str| {
        format!(
            "basic_auth_users:\n  {user}: {}\nhttp_server_config:\n  headers:\n    \
             X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000\n",
            hash(password)
        )
    };
    let (_dir, cfg, web) = dir_with(&web_text("alice", "s3cret"));
    let proc = spawn(&cfg, &web);
    let addr = proc.metrics_addr().await;
    let url = format!("http://{addr}/metrics");
    let c = smc_lab::http::client();
    let get = |user: Option<(&str, &str)>| {
        let mut r = c.get(&url);
        if let Some((u, p)) = user {
            r = r.basic_auth(u, Some(p));
        }
        r.send()
    };

    let r = get(None).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Basic");
    assert_eq!(r.headers()["x-frame-options"], "deny");
    assert_eq!(get(Some(("alice", "wrong"))).await.unwrap().status(), 401);
    assert_eq!(
        get(Some(("mallory", "s3cret"))).await.unwrap().status(),
        401
    );
    let r = get(Some(("alice", "s3cret"))).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-frame-options"], "deny");
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");

    // A new user replaces alice: no restart.
    std::fs::write(&web, web_text("bob", "other")).unwrap();
    assert_eq!(get(Some(("alice", "s3cret"))).await.unwrap().status(), 401);
    assert_eq!(get(Some(("bob", "other"))).await.unwrap().status(), 200);

    // A file gone bad fails every request, authenticated or not: never open.
    std::fs::write(&web, "basic_auth_users:\n  bob: not-a-hash\n").unwrap();
    for user in [None, Some(("bob", "other"))] {
        let r = get(user).await.unwrap();
        assert_eq!(r.status(), 500);
        assert_eq!(
            r.text().await.unwrap(),
            "The web config file is invalid; see the exporter's log.\n"
        );
    }
    let line = format!(
        "web config {}: basic_auth_users.bob: not a bcrypt hash",
        web.display()
    );
    proc.wait_log(Duration::from_secs(5), |v| v["error"] == line.as_str())
        .await;
    // Logged once for this content, however many requests.
    assert_eq!(
        proc.json_logs()
            .iter()
            .filter(|v| v["error"] == line.as_str())
            .count(),
        1
    );
    std::fs::write(&web, web_text("bob", "other")).unwrap();
    assert_eq!(get(Some(("bob", "other"))).await.unwrap().status(), 200);
    assert!(!proc.stderr().contains("$2b$"), "no hash in the logs");
}

/// `--config.check` with the web config; (exit code, stdout, stderr).
async fn check(cfg: &Path, web: &Path) -> (i32, String, String) {
    let mut p = Proc::spawn(
        crate::EXPORTER,
        &[
            "-c",
            cfg.to_str().unwrap(),
            "--config.check",
            "--web.config.file",
            web.to_str().unwrap(),
        ],
        &[],
    );
    let status = p.wait_exit(Duration::from_secs(20)).await.unwrap();
    let (out, err) = p.output();
    (status.code().unwrap(), out, err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_file_shape_exits_2_with_its_key_path() {
    let (dir, cfg, web) = dir_with("");
    pki(dir.path());
    let tls = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
    let cases: Vec<(String, String)> = vec![
        (
            format!("{tls}  client_auth_type: x\n"),
            "tls_server_config.client_auth_type: unknown value \"x\" (expected NoClientCert, \
             RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or \
             RequireAndVerifyClientCert)"
                .into(),
        ),
        (
            format!("{tls}  min_version: TLS11\n"),
            "tls_server_config.min_version: TLS11 is not supported: rustls implements TLS 1.2 \
             and 1.3 only (TLS 1.0 and 1.1 are deprecated, RFC 8996)"
                .into(),
        ),
        (
            format!("{tls}  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, nope]\n"),
            "tls_server_config.cipher_suites[1]: unknown cipher suite \"nope\" (expected one of \
             TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256, \
             TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, \
             TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, \
             TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256)"
                .into(),
        ),
        (
            format!("{tls}  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n"),
            "tls_server_config.cipher_suites[0]: TLS_RSA_WITH_AES_128_CBC_SHA is not supported \
             by rustls (no CBC or RSA key exchange suites)"
                .into(),
        ),
        (
            format!("{tls}  curve_preferences: [CurveP521]\n"),
            "tls_server_config.curve_preferences[0]: CurveP521 is not supported by rustls \
             (expected CurveP256, CurveP384 or X25519)"
                .into(),
        ),
        (
            format!("{tls}  client_ca_file: ca.crt\n"),
            "tls_server_config.client_ca_file: client CA's have been configured without a \
             Client Auth Policy (set client_auth_type)"
                .into(),
        ),
        (
            format!("{tls}  client_auth_type: RequestClientCert\n  client_allowed_sans: [a]\n"),
            "tls_server_config.client_allowed_sans: requires client_auth_type to be one of \
             RequireAnyClientCert or RequireAndVerifyClientCert"
                .into(),
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n".into(),
            "tls_server_config: missing one of key or key_file".into(),
        ),
        (
            "tls_server_config:\n  cert: x\n  key: secretsecret\n".into(),
            "tls_server_config.cert: no certificate in it".into(),
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key: secretsecret\n".into(),
            "tls_server_config.key: no PEM private key in it".into(),
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: ca.crt\n".into(),
            "tls_server_config.key_file: no PEM private key in it".into(),
        ),
        (
            "tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n".into(),
            format!(
                "tls_server_config.cert_file: {}: No such file or directory (os error 2)",
                dir.path().join("missing.crt").display()
            ),
        ),
        (
            format!("{tls}  cert_flie: x\n"),
            "tls_server_config.cert_flie: unknown key; did you mean `cert_file`?".into(),
        ),
        (
            "tls_server_confg: {}\n".into(),
            "tls_server_confg: unknown key; did you mean `tls_server_config`?".into(),
        ),
        (
            "http_server_config:\n  headers:\n    X-Frame-Options: allow\n".into(),
            "http_server_config.headers.X-Frame-Options: invalid value \"allow\" (expected deny \
             or sameorigin)"
                .into(),
        ),
        (
            "http_server_config:\n  headers:\n    Server: x\n".into(),
            "http_server_config.headers.Server: this header can not be configured (allowed: \
             Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, \
             X-XSS-Protection, Content-Security-Policy)"
                .into(),
        ),
        (
            "http_server_config:\n  http2: maybe\n".into(),
            "http_server_config.http2: expected true or false, found a string".into(),
        ),
        (
            "basic_auth_users:\n  alice: $2y$10$secretsecretsecret\n".into(),
            "basic_auth_users.alice: not a bcrypt hash".into(),
        ),
        (
            "basic_auth_users:\n  alice: 12345\n".into(),
            "basic_auth_users.alice: expected a string, found a number".into(),
        ),
        (
            "rate_limit:\n  burst: 1\n".into(),
            "rate_limit: not supported by smc-exporter (use --web.max-requests)".into(),
        ),
        (
            "basic_auth_users: [\n".into(),
            "not valid YAML: syntax error at line 2 column 1".into(),
        ),
    ];
    for (text, want) in cases {
        std::fs::write(&web, &text).unwrap();
        let (code, out, err) = check(&cfg, &web).await;
        assert_eq!(code, 2, "{text}\n{out}{err}");
        assert_eq!(
            err,
            format!("error: web config {}: {want}\n", web.display()),
            "{text}"
        );
        assert!(
            !err.contains("secretsecret") && !err.contains("12345"),
            "{err}"
        );
    }
    std::fs::write(
        &web,
        format!("{tls}basic_auth_users:\n  alice: {}\n", hash("s3cret")),
    )
    .unwrap();
    let (code, out, err) = check(&cfg, &web).await;
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    assert!(
        out.ends_with(&format!("{}: web config is valid\n", web.display())),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_certificate_and_new_suites_take_effect_without_a_restart() {
    let (dir, cfg, web) = dir_with("");
    let p = pki(dir.path());
    let tls = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";
    std::fs::write(&web, tls).unwrap();
    let proc = spawn(&cfg, &web);
    let addr = proc.metrics_addr().await;
    let url = format!("https://{addr}/-/healthy");
    let ok = |ca: &Path| {
        let c = tls_client(Some(ca), None);
        let url = url.clone();
        async move { c.get(&url).send().await.map(|r| r.status().as_u16()) }
    };
    assert_eq!(ok(&p.ca).await.unwrap(), 200);

    // A certificate from a new CA replaces the old one: the next handshake uses it.
    let ca2 = TestCa::new("rotated CA");
    ca2.server(&["127.0.0.1"]).write(dir.path(), "server");
    let ca2_file = ca2.write(dir.path(), "ca2");
    assert!(ok(&p.ca).await.is_err());
    assert_eq!(ok(&ca2_file).await.unwrap(), 200);

    // rcgen's keys are ECDSA: an RSA-only suite list over TLS 1.2 leaves no
    // suite to agree on; an ECDSA one works.
    let only = |suite: &str| format!("{tls}  max_version: TLS12\n  cipher_suites: [{suite}]\n");
    std::fs::write(&web, only("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")).unwrap();
    assert!(ok(&ca2_file).await.is_err());
    std::fs::write(&web, only("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384")).unwrap();
    assert_eq!(ok(&ca2_file).await.unwrap(), 200);

    // A key that no longer matches its certificate: handshakes fail, logged once.
    ca2.server(&["127.0.0.1"]).write(dir.path(), "other");
    std::fs::copy(dir.path().join("other.key"), dir.path().join("server.key")).unwrap();
    assert!(ok(&ca2_file).await.is_err());
    assert!(ok(&ca2_file).await.is_err());
    let line = format!(
        "web config {}: tls_server_config.key_file: the private key does not match the certificate",
        web.display()
    );
    proc.wait_log(Duration::from_secs(5), |v| v["error"] == line.as_str())
        .await;
    let n = proc
        .json_logs()
        .iter()
        .filter(|v| v["error"] == line.as_str())
        .count();
    assert_eq!(n, 1);
    std::fs::copy(dir.path().join("other.crt"), dir.path().join("server.crt")).unwrap();
    assert_eq!(ok(&ca2_file).await.unwrap(), 200);
}
