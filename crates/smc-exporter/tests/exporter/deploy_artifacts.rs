//! Checks of the deployment artefacts: Grafana dashboards, Prometheus rules,
//! Kubernetes manifests and the systemd unit.
//!
//! * dashboards follow the grafana/dashboard-linter conventions (uid,
//!   datasource/job/instance variables, job+instance matchers on every
//!   selector, `$__rate_interval`, title/description/unit on every panel);
//! * every `smc_…` / `process_…` name used in a dashboard or a rule file is a
//!   metric family the exporter exposes (`FAMILIES`, the metric contract);
//! * the Kubernetes manifests exist, are listed in kustomization.yaml, carry
//!   the security settings, and the PrometheusRule embeds exactly
//!   `deploy/prometheus/{alerts,recording}.yml`;
//! * the systemd unit has the hardening directives (uncommented).
//!
//! Only std and serde_json: the YAML checks are line-based on purpose.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The metric families of the exporter's contract. A dashboard or rule that
/// uses any other `smc_…` / `process_…` name is wrong (typo or drift).
const FAMILIES: &[&str] = &[
    // state gauges
    "smc_connections",
    "smc_block_list_entries",
    "smc_vpn_security_associations",
    "smc_authenticated_users",
    "smc_sslvpn_sessions",
    "smc_routes",
    "smc_neighbors",
    "smc_active_alerts",
    // per subscription
    "smc_subscription_up",
    "smc_subscription_entries",
    "smc_subscription_last_message_timestamp_seconds",
    "smc_subscription_reconnects_total",
    "smc_subscription_snapshots_total",
    "smc_monitoring_records_total",
    "smc_monitoring_unknown_deletes_total",
    "smc_monitoring_message_errors_total",
    // per SMC
    "smc_up",
    "smc_logins_total",
    "smc_login_failures_total",
    // process
    "smc_exporter_series_dropped_total",
    "smc_exporter_series_limit",
    "smc_exporter_build_info",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_start_time_seconds",
    "process_open_fds",
];

/// Families a rule may use that no dashboard has to show (the running
/// daemon's reload and shard gauges).
const RULE_ONLY_FAMILIES: &[&str] = &[
    "smc_exporter_config_last_reload_successful",
    "smc_exporter_config_last_reload_success_timestamp_seconds",
    "smc_exporter_shard_ordinal",
    "smc_exporter_total_shards",
];

const JOB: &str = r#"job=~"$job""#;
const INSTANCE: &str = r#"instance=~"$instance""#;

fn root() -> PathBuf {
    // The workspace root: the artefacts are not the crate's.
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn read(rel: &str) -> String {
    let p = root().join(rel);
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

fn files_with_ext(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("cannot list {dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().and_then(|x| x.to_str()) == Some(ext))
        .collect();
    v.sort();
    v
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Identifier-like tokens (`[A-Za-z0-9_:]+`) with their byte offsets.
fn tokens(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (is_ident(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, &text[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &text[s..]));
    }
    out
}

/// Names in `text` that look like exporter metrics but are not in the
/// contract. Recording-rule names (`level:metric:ops`) must be in `records`.
/// A bare prefix such as `smc_` (as in "smc_* metrics") is ignored.
fn unknown_metric_names(text: &str, records: &BTreeSet<String>) -> BTreeSet<String> {
    let mut bad = BTreeSet::new();
    for (_, t) in tokens(text) {
        if t.contains(':') {
            if t.contains("smc_") && !records.contains(t) {
                bad.insert(t.to_string());
            }
        } else if (t.starts_with("smc_") || t.starts_with("process_"))
            && !t.ends_with('_')
            && !FAMILIES.contains(&t)
            && !RULE_ONLY_FAMILIES.contains(&t)
        {
            bad.insert(t.to_string());
        }
    }
    bad
}

fn recording_rule_names() -> BTreeSet<String> {
    read("deploy/prometheus/recording.yml")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- record:"))
        .map(|s| s.trim().to_string())
        .collect()
}

/// Problems of one PromQL expression of a dashboard panel.
fn expr_problems(expr: &str) -> Vec<String> {
    let mut p = Vec::new();
    // Every selector of an exporter metric carries both matchers.
    for (at, t) in tokens(expr) {
        if !FAMILIES.contains(&t) {
            continue;
        }
        let rest = &expr[at + t.len()..];
        let Some(sel) = rest
            .strip_prefix('{')
            .and_then(|r| r.split_once('}'))
            .map(|(s, _)| s)
        else {
            p.push(format!("selector `{t}` has no {{…}} matchers"));
            continue;
        };
        for m in [JOB, INSTANCE] {
            if !sel.contains(m) {
                p.push(format!("selector `{t}` lacks `{m}`"));
            }
        }
        // Counters only inside rate()/increase() (dashboard-linter target-counter-agg-rule).
        if t.ends_with("_total") {
            let before = &expr[..at];
            if !(before.ends_with("rate(") || before.ends_with("increase(")) {
                p.push(format!("counter `{t}` not wrapped in rate()/increase()"));
            }
        }
    }
    if !expr.contains(JOB) || !expr.contains(INSTANCE) {
        p.push("missing job/instance matcher".into());
    }
    // Range vectors use $__rate_interval (target-rate-interval-rule).
    let mut rest = expr;
    while let Some(i) = rest.find('[') {
        let after = &rest[i + 1..];
        let end = after.find(']').unwrap_or(after.len());
        if &after[..end] != "$__rate_interval" {
            p.push(format!(
                "range `[{}]` is not [$__rate_interval]",
                &after[..end]
            ));
        }
        rest = &after[end..];
    }
    p
}

fn all_panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().into_iter().flatten() {
        out.push(p);
        for q in p["panels"].as_array().into_iter().flatten() {
            out.push(q);
        }
    }
    out
}

fn dashboards() -> Vec<(String, String, Value)> {
    let files = files_with_ext("grafana/dashboards", "json");
    assert!(!files.is_empty(), "no dashboards in grafana/dashboards");
    files
        .into_iter()
        .map(|f| {
            let text = fs::read_to_string(&f).unwrap();
            let v: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", rel(&f)));
            (rel(&f), text, v)
        })
        .collect()
}

// ------------------------------------------------------------- (a) dashboards

#[test]
fn dashboards_follow_linter_conventions() {
    let mut problems = Vec::new();
    let mut uids = BTreeSet::new();
    for (name, _, d) in dashboards() {
        let mut bad = |m: String| problems.push(format!("{name}: {m}"));

        match d["uid"].as_str() {
            Some(u) if (8..=40).contains(&u.len()) => {
                if !uids.insert(u.to_string()) {
                    bad(format!("duplicate uid {u}"));
                }
            }
            other => bad(format!("uid must be a string of 8-40 chars, got {other:?}")),
        }
        if d["title"].as_str().unwrap_or("").is_empty() {
            bad("no title".into());
        }

        let vars = d["templating"]["list"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let var = |n: &str| vars.iter().find(|v| v["name"] == n).cloned();
        match var("datasource") {
            Some(v) if v["type"] == "datasource" && v["query"] == "prometheus" => {}
            _ => bad("no `datasource` variable of type datasource/prometheus".into()),
        }
        for n in ["job", "instance", "smc", "engine"] {
            match var(n) {
                None => bad(format!("no `{n}` variable")),
                Some(v) => {
                    if v["multi"] != true || v["includeAll"] != true || v["allValue"] != ".+" {
                        bad(format!(
                            "variable `{n}` must be multi, includeAll, allValue \".+\""
                        ));
                    }
                    if v["datasource"]["uid"] != "${datasource}" {
                        bad(format!("variable `{n}` must use ${{datasource}}"));
                    }
                }
            }
        }

        let mut ids = BTreeSet::new();
        for p in all_panels(&d) {
            if p["type"] == "row" {
                continue;
            }
            let title = p["title"].as_str().unwrap_or("");
            let mut pbad = |m: String| problems.push(format!("{name}: panel {title:?}: {m}"));
            if title.is_empty() {
                pbad("no title".into());
            }
            if p["description"].as_str().unwrap_or("").trim().is_empty() {
                pbad("no description".into());
            }
            if p["fieldConfig"]["defaults"]["unit"]
                .as_str()
                .unwrap_or("")
                .is_empty()
            {
                pbad("no unit (fieldConfig.defaults.unit)".into());
            }
            if p["datasource"]["uid"] != "${datasource}" {
                pbad("datasource is not ${datasource}".into());
            }
            if !ids.insert(p["id"].to_string()) {
                pbad(format!("duplicate panel id {}", p["id"]));
            }
            let targets = p["targets"].as_array().cloned().unwrap_or_default();
            if targets.is_empty() {
                pbad("no targets".into());
            }
            for t in targets {
                let expr = t["expr"].as_str().unwrap_or("");
                for e in expr_problems(expr) {
                    pbad(format!("{e} in `{expr}`"));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "dashboard problems:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn expr_checker_rejects_bad_queries() {
    // The checker must be able to fail.
    assert!(expr_problems(r#"smc_up{job=~"$job", instance=~"$instance"}"#).is_empty());
    assert!(!expr_problems(r#"smc_up{job=~"$job"}"#).is_empty());
    assert!(!expr_problems(r#"sum(smc_up)"#).is_empty());
    assert!(
        !expr_problems(r#"rate(smc_logins_total{job=~"$job", instance=~"$instance"}[5m])"#)
            .is_empty()
    );
    assert!(!expr_problems(r#"smc_logins_total{job=~"$job", instance=~"$instance"}"#).is_empty());
    // Second selector without matchers.
    assert!(
        !expr_problems(
            r#"smc_up{job=~"$job", instance=~"$instance"} and on (smc) smc_subscription_up"#
        )
        .is_empty()
    );
}

// ------------------------------------------------------------ (b) metric names

#[test]
fn only_contract_metric_names_are_used() {
    let records = recording_rule_names();
    assert!(!records.is_empty(), "recording.yml defines no rule");
    let mut sources: Vec<(String, String)> = dashboards()
        .into_iter()
        .map(|(n, text, _)| (n, text))
        .collect();
    for f in files_with_ext("deploy/prometheus", "yml") {
        sources.push((rel(&f), fs::read_to_string(&f).unwrap()));
    }
    sources.push((
        "deploy/kubernetes/base/prometheusrule.yaml".into(),
        read("deploy/kubernetes/base/prometheusrule.yaml"),
    ));
    assert!(
        sources.len() >= 5,
        "expected dashboards and rule files, got {sources:?}"
    );

    let mut problems = Vec::new();
    for (name, text) in &sources {
        let bad = unknown_metric_names(text, &records);
        if !bad.is_empty() {
            problems.push(format!("{name}: {bad:?}"));
        }
    }
    assert!(
        problems.is_empty(),
        "unknown metric names (not in the contract):\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn metric_name_check_catches_typos() {
    let records = recording_rule_names();
    let bad = unknown_metric_names(
        r#"rate(smc_subscription_reconect_total[5m]) + smc_up + process_open_fd + engine:smc_conns:sum"#,
        &records,
    );
    assert_eq!(
        bad.into_iter().collect::<Vec<_>>(),
        vec![
            "engine:smc_conns:sum",
            "process_open_fd",
            "smc_subscription_reconect_total"
        ]
    );
    assert!(
        unknown_metric_names("use smc_* and process_* metrics; $labels.smc", &records).is_empty()
    );
}

#[test]
fn dashboards_cover_every_family() {
    let text: String = dashboards().into_iter().map(|(_, t, _)| t).collect();
    let used: BTreeSet<&str> = tokens(&text).into_iter().map(|(_, t)| t).collect();
    let missing: Vec<&&str> = FAMILIES.iter().filter(|f| !used.contains(**f)).collect();
    assert!(
        missing.is_empty(),
        "families shown on no dashboard: {missing:?}"
    );
}

// ------------------------------------------------------------------- alerts

#[test]
fn alerts_are_well_formed_and_tested() {
    let alerts = read("deploy/prometheus/alerts.yml");
    let tests = read("deploy/prometheus/alerts_test.yml");
    // Split into rule blocks at each `- alert:` / `- record:`.
    let mut blocks: Vec<(String, Vec<&str>)> = Vec::new();
    for l in alerts.lines() {
        let t = l.trim();
        if let Some(n) = t.strip_prefix("- alert:") {
            blocks.push((n.trim().to_string(), Vec::new()));
        } else if t.starts_with("- name:") || t.starts_with("- record:") {
            blocks.push((String::new(), Vec::new()));
        } else if let Some((_, b)) = blocks.last_mut() {
            b.push(t);
        }
    }
    let alerts: Vec<_> = blocks.into_iter().filter(|(n, _)| !n.is_empty()).collect();
    assert!(
        alerts.len() >= 9,
        "expected at least 9 alerts, got {}",
        alerts.len()
    );

    let mut problems = Vec::new();
    let mut names = BTreeSet::new();
    for (name, body) in &alerts {
        if !names.insert(name.clone()) {
            problems.push(format!("{name}: duplicate"));
        }
        if !name.starts_with("Smc") || name.len() > 40 || name.contains(['_', '-']) {
            problems.push(format!(
                "{name}: must be CamelCase, prefixed Smc, <= 40 chars"
            ));
        }
        if !body.iter().any(|l| {
            matches!(
                l.strip_prefix("severity:").map(str::trim),
                Some("critical" | "warning" | "info")
            )
        }) {
            problems.push(format!("{name}: no severity critical|warning|info"));
        }
        match body
            .iter()
            .find_map(|l| l.strip_prefix("summary:"))
            .map(str::trim)
        {
            Some(s) if !s.contains("{{") && s.ends_with('.') => {}
            other => problems.push(format!(
                "{name}: summary must be plain and end with '.', got {other:?}"
            )),
        }
        if !body.iter().any(|l| l.starts_with("description:"))
            || !body.iter().any(|l| l.contains("{{ $labels."))
        {
            problems.push(format!(
                "{name}: description must be templated with $labels"
            ));
        }
        if !tests.contains(&format!("alertname: {name}\n")) {
            problems.push(format!("{name}: no test in alerts_test.yml"));
        }
    }
    for must in [
        "SmcExporterDown",
        "SmcSessionDown",
        "SmcSubscriptionDown",
        "SmcSubscriptionStale",
        "SmcSubscriptionFlapping",
        "SmcLoginFailures",
        "SmcSeriesDropped",
        "SmcMessageErrors",
        "SmcCriticalAlertsActive",
    ] {
        if !names.contains(must) {
            problems.push(format!("{must}: missing"));
        }
    }
    assert!(
        problems.is_empty(),
        "alert rule problems:\n  {}",
        problems.join("\n  ")
    );
}

// ----------------------------------------------------------- (c) kubernetes

/// What the exporter's pod spec must carry (deploy/kubernetes/base/pod/pod.yaml,
/// patched into the Deployment and the sharded StatefulSet alike).
const POD_SETTINGS: [&str; 11] = [
    "runAsNonRoot: true",
    "readOnlyRootFilesystem: true",
    "allowPrivilegeEscalation: false",
    r#"drop: ["ALL"]"#,
    "type: RuntimeDefault",
    "path: /-/healthy",
    "path: /-/ready",
    "containerPort: 9791",
    "secretName: smc-exporter-api-key",
    "name: smc-exporter-config",
    "automountServiceAccountToken: false",
];

/// Non-comment lines, trimmed.
fn config_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn kubernetes_manifests_are_complete() {
    let kust = read("deploy/kubernetes/base/kustomization.yaml");
    let listed: BTreeSet<String> = config_lines(&kust)
        .into_iter()
        .filter_map(|l| l.strip_prefix("- "))
        .filter(|l| l.ends_with(".yaml"))
        .map(String::from)
        .collect();
    let mut problems = Vec::new();
    for f in files_with_ext("deploy/kubernetes/base", "yaml") {
        let name = f.file_name().unwrap().to_str().unwrap().to_string();
        let text = fs::read_to_string(&f).unwrap();
        if config_lines(&text).is_empty() {
            problems.push(format!("{name}: empty"));
        }
        if name == "kustomization.yaml" {
            continue;
        }
        if !text.lines().any(|l| l.starts_with("kind: "))
            || !text.lines().any(|l| l.starts_with("apiVersion: "))
        {
            problems.push(format!("{name}: no apiVersion/kind"));
        }
        match (name.as_str(), listed.contains(&name)) {
            ("secret.example.yaml", true) => {
                problems.push("secret.example.yaml must not be applied by kustomize".into())
            }
            ("secret.example.yaml", false) => {}
            (_, false) => problems.push(format!("{name}: not listed in kustomization.yaml")),
            _ => {}
        }
    }
    for l in &listed {
        if !root().join("deploy/kubernetes/base").join(l).is_file() {
            problems.push(format!("kustomization.yaml lists missing {l}"));
        }
    }
    for kind in [
        "Service",
        "ConfigMap",
        "ServiceMonitor",
        "PrometheusRule",
        "NetworkPolicy",
        "ServiceAccount",
    ] {
        let found = listed.iter().any(|f| {
            read(&format!("deploy/kubernetes/base/{f}")).contains(&format!("\nkind: {kind}\n"))
        });
        if !found {
            problems.push(format!("no {kind} in the kustomization"));
        }
    }

    let dep = read("deploy/kubernetes/base/pod/pod.yaml");
    let dep_lines = config_lines(&dep);
    for want in POD_SETTINGS {
        if !dep_lines.contains(&want) {
            problems.push(format!("base/pod/pod.yaml: missing `{want}`"));
        }
    }
    if !dep.contains("\"--config.check\"") || !dep.contains("limits:") || !dep.contains("requests:")
    {
        problems.push(
            "base/pod/pod.yaml: needs the --config.check init container and resources".into(),
        );
    }
    let np = config_lines(&read("deploy/kubernetes/base/networkpolicy.yaml")).join("\n");
    for want in [
        "port: 8082",
        "port: 53",
        "port: 9791",
        r#"policyTypes: ["Ingress", "Egress"]"#,
    ] {
        if !np.contains(want) {
            problems.push(format!("networkpolicy.yaml: missing `{want}`"));
        }
    }
    if !read("deploy/kubernetes/secret.example.yaml").contains("REPLACE-ME") {
        problems.push("secret.example.yaml: placeholder must be marked REPLACE-ME".into());
    }
    assert!(
        problems.is_empty(),
        "kubernetes problems:\n  {}",
        problems.join("\n  ")
    );
}

/// The rule groups of a Prometheus rules file: the lines after `groups:`.
fn groups_body(text: &str, indent: usize) -> Vec<String> {
    let mut lines = text.lines().skip_while(|l| l.trim() != "groups:");
    lines.next();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.get(indent.min(l.len() - l.trim_start().len())..)
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

#[test]
fn prometheusrule_embeds_the_rule_files() {
    let mut want = groups_body(&read("deploy/prometheus/alerts.yml"), 0);
    want.extend(groups_body(&read("deploy/prometheus/recording.yml"), 0));
    let got = groups_body(&read("deploy/kubernetes/base/prometheusrule.yaml"), 2);
    assert!(!want.is_empty());
    if want != got {
        let first = want
            .iter()
            .zip(&got)
            .position(|(a, b)| a != b)
            .unwrap_or(want.len().min(got.len()));
        panic!(
            "deploy/kubernetes/base/prometheusrule.yaml is out of sync with deploy/prometheus/*.yml \
             (first difference at rule line {first}: want {:?}, got {:?}); \
             run deploy/kubernetes/generate-prometheusrule.sh",
            want.get(first),
            got.get(first)
        );
    }
}

// -------------------------------------------------------------- (c) systemd

#[test]
fn systemd_unit_is_hardened() {
    let unit = read("deploy/systemd/smc-exporter.service");
    let lines = config_lines(&unit);
    let mut missing = Vec::new();
    for want in [
        "[Unit]",
        "[Service]",
        "[Install]",
        "DynamicUser=yes",
        "LoadCredential=smc-api-key:/etc/smc-exporter/api-key",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
        "SystemCallArchitectures=native",
        "MemoryDenyWriteExecute=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectControlGroups=yes",
        "RestrictNamespaces=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "Restart=on-failure",
        "RestartPreventExitStatus=2",
        "ExecStartPre=/usr/local/bin/smc-exporter --config.check -c /etc/smc-exporter/config.toml",
        "ExecStart=/usr/local/bin/smc-exporter -c /etc/smc-exporter/config.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        if !lines.contains(&want) {
            missing.push(want);
        }
    }
    assert!(
        missing.is_empty(),
        "smc-exporter.service lacks (uncommented): {missing:?}"
    );
    assert!(
        unit.contains("/run/credentials/smc-exporter.service/smc-api-key"),
        "the unit must document the credential path for api_key_file"
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("User=")),
        "use DynamicUser=, not a fixed User="
    );
}

#[test]
fn the_sharded_statefulset_matches_its_shard_count_and_the_deployment() {
    let kust = config_lines(&read(
        "deploy/kubernetes/overlays/sharded/kustomization.yaml",
    ))
    .join("\n");
    for want in ["- ../../base", "- statefulset.yaml", "- ../../base/pod"] {
        assert!(kust.contains(want), "kustomization.yaml: missing `{want}`");
    }
    let sts = read("deploy/kubernetes/overlays/sharded/statefulset.yaml");
    let lines = config_lines(&sts);
    assert!(sts.contains("\nkind: StatefulSet\n"));
    for want in [
        "- name: POD_NAME",
        "fieldPath: metadata.name",
        "serviceName: smc-exporter",
    ] {
        assert!(lines.contains(&want), "statefulset.yaml: missing `{want}`");
    }
    let replicas = lines
        .iter()
        .find_map(|l| l.strip_prefix("replicas:"))
        .and_then(|r| r.split('#').next())
        .map(|r| r.trim().to_string())
        .expect("replicas");
    assert!(
        sts.contains(&format!("\"--total-shards\", \"{replicas}\"")),
        "--total-shards must equal replicas ({replicas})"
    );
}
