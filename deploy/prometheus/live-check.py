#!/usr/bin/env python3
"""Every dashboard query and every rule, evaluated by a real Prometheus.

Starts `smc-lab demo` (simulated SMC + exporter) and a Prometheus on
loopback ports, with its own configuration: the demo scraped every second as
job "smc-exporter", this repository's alerts.yml and recording.yml as rule
files, evaluation every second, storage in a temporary directory. Once
enough samples exist for the dashboards' rate windows, it checks through the
HTTP API that

* the target is up (/api/v1/targets) and no rule has an evaluation error
  (/api/v1/rules health);
* every template variable query (label_values) of every dashboard in
  grafana/dashboards returns values, and every panel query (variables as
  Grafana's "All", `.+`; $__interval and $__rate_interval as Grafana
  computes them for a 1 s scrape, $__range the span of the range queries)
  returns data, or is empty for the reason written in live-check.json
  (dashboards.empty), whose witness query must then return data;
* every recording rule's expression returns data, and so does its series;
* every alerting rule's expression returns data, or is empty for the reason
  written in deploy/prometheus/live-check.json (healthy.empty); an alert
  listed there that returns data, or one neither listed nor returning data,
  is an error, as is a name that is no alert; the alerts the demo makes fire
  by design are active, and those with a short `for` reach firing;
* then it injects the fault of live-check.json into the simulator and checks
  that exactly the expected alerts become active and fire, and that the
  alerts suppressed by design stay empty although their input changed.

Stops Prometheus and the demo at the end, on error and on SIGTERM/SIGINT;
every wait has a deadline, and the whole run is bounded by --max-seconds.
Only the Python standard library is used.

    python3 deploy/prometheus/live-check.py [--smc-lab target/release/smc-lab]
        [--prometheus prometheus] [--quick] [--expect FILE]

--quick skips the waits for alerts whose `for` is minutes long (they are
then only required to be pending); CI runs without it.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
JOB = "smc-exporter"
SCRAPE_SECONDS = 1
# Grafana: $__interval is the step (1 s here, a short range at full
# resolution); $__rate_interval = max($__interval + scrape interval,
# 4 x scrape interval).
INTERVAL = 1
RATE_INTERVAL = max(INTERVAL + SCRAPE_SECONDS, 4 * SCRAPE_SECONDS)
# Samples of the target needed before checking: several rate windows.
MIN_SAMPLES = 5 * RATE_INTERVAL
# The time range of the panels' range queries, and $__range (Grafana: the
# dashboard's time range) of their instant queries.
PANEL_RANGE = 10 * RATE_INTERVAL


class CheckError(Exception):
    pass


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return self.end - time.monotonic()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, method="GET", timeout=10):
    req = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read().decode()


def wait_until(what, fn, seconds, interval=0.2):
    """Polls fn() until it returns a true value; that value, or CheckError."""
    deadline = Deadline(seconds)
    last = None
    while deadline.left() > 0:
        try:
            v = fn()
            if v:
                return v
        except (OSError, urllib.error.URLError, ValueError, KeyError) as e:
            last = e
        time.sleep(interval)
    raise CheckError(f"timed out after {seconds} s waiting for {what} (last error: {last})")


class Prom:
    def __init__(self, base):
        self.base = base

    def api(self, path, **params):
        q = urllib.parse.urlencode(params, doseq=True)
        body = json.loads(http(f"{self.base}/api/v1/{path}?{q}"))
        if body.get("status") != "success":
            raise CheckError(f"{path} {params}: {body}")
        return body["data"]

    def query(self, expr, **extra):
        return self.api("query", query=expr, **extra)

    def series_count(self, data):
        if data["resultType"] in ("vector", "matrix"):
            return len(data["result"])
        return 1  # scalar, string


class Processes:
    """The demo and Prometheus; stopped in order, each within a bound."""

    def __init__(self):
        self.procs = []

    def start(self, name, argv, log):
        f = open(log, "w")
        p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append((name, p, f))
        return p

    def stop(self):
        for name, p, f in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    print(f"{name} did not stop in 15 s; killing it")
                    p.kill()
                    p.wait(timeout=5)
            f.close()
        self.procs = []


def substitute(expr, values):
    """Grafana's variable expansion: $var and ${var}."""

    def repl(m):
        name = m.group(1) or m.group(2)
        if name not in values:
            raise CheckError(f"unknown variable ${name} in `{expr}`")
        return values[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", repl, expr)


def dashboard_checks(prom, expect, problems, report):
    values = {
        "job": ".+",
        "instance": ".+",
        "smc": ".+",
        "stream": ".+",
        "sps": ".+",
        "engine": ".+",
        "__interval": f"{INTERVAL}s",
        "__rate_interval": f"{RATE_INTERVAL}s",
        "__range": f"{PANEL_RANGE}s",
        "__all": ".+",
    }
    empty = expect.get("dashboards", {}).get("empty", {})
    seen = set()
    now = time.time()
    files = sorted(f for f in os.listdir(os.path.join(ROOT, "grafana", "dashboards")) if f.endswith(".json"))
    if not files:
        problems.append("no dashboards in grafana/dashboards")
    for f in files:
        d = json.load(open(os.path.join(ROOT, "grafana", "dashboards", f)))
        for v in d["templating"]["list"]:
            if v.get("type") != "query":
                continue
            q = substitute(v["query"], values)
            m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", q)
            if not m:
                problems.append(f"{f}: variable {v['name']}: cannot evaluate `{q}`")
                continue
            got = prom.api(f"label/{m.group(2)}/values", **{"match[]": m.group(1)}, start=now - 120, end=now)
            report.append(f"{f}: variable {v['name']}: {len(got)} value(s) {got[:4]}")
            if not got:
                problems.append(f"{f}: variable {v['name']} (`{q}`) has no values")
        panels = []
        for p in d["panels"]:
            panels.append(p)
            panels.extend(p.get("panels", []))
        for p in panels:
            for t in p.get("targets", []):
                expr = substitute(t["expr"], values)
                try:
                    if t.get("range"):
                        data = prom.api("query_range", query=expr, start=now - PANEL_RANGE,
                                        end=now, step=INTERVAL)
                    else:
                        data = prom.query(expr, time=now)
                except (CheckError, urllib.error.HTTPError) as e:
                    problems.append(f"{f}: panel {p['title']!r}: `{expr}` failed: {e}")
                    continue
                n = prom.series_count(data)
                report.append(f"{f}: panel {p['title']!r} {t['refId']}: {n} series")
                key = f"{f}: {p['title']}"
                seen.add(key)
                if key in empty:
                    e = empty[key]
                    if n:
                        problems.append(f"{key}: returns data ({n} series), but live-check.json says it is "
                                        f"empty: {e['reason']!r}")
                    elif prom.series_count(prom.query(substitute(e["witness"], values), time=now)) == 0:
                        problems.append(f"{key}: its witness `{e['witness']}` returns no data: the panel's "
                                        f"input is missing, not empty by design")
                    else:
                        report.append(f"{key}: empty by design while `{e['witness']}` returns data")
                elif n == 0:
                    problems.append(f"{f}: panel {p['title']!r}: `{expr}` returns no data")
    for key in sorted(set(empty) - seen):
        problems.append(f"live-check.json: dashboards.empty: {key!r} is no panel query (stale entry)")


def rules(prom):
    out = []
    for g in prom.api("rules")["groups"]:
        for r in g["rules"]:
            r["group"] = g["name"]
            out.append(r)
    return out


def rules_evaluated(prom):
    rs = rules(prom)
    return rs if rs and all(not r["lastEvaluation"].startswith("0001") for r in rs) else None


def active_alerts(prom):
    """{alertname: set of states} of the alerts Prometheus holds now."""
    out = {}
    for a in prom.api("alerts")["alerts"]:
        out.setdefault(a["labels"]["alertname"], set()).add(a["state"])
    return out


def rule_checks(prom, expect, problems, report):
    rs = rules(prom)
    alerts = {r["name"] for r in rs if r["type"] == "alerting"}
    for r in rs:
        if r["health"] != "ok":
            problems.append(f"rule {r['name']}: health {r['health']}: {r.get('lastError')}")
    empty, fires = expect["healthy"]["empty"], expect["healthy"]["fires"]
    for name in sorted(set(empty) | set(fires) | set(expect["healthy"]["firing"])):
        if name not in alerts:
            problems.append(f"live-check.json: {name} is no alert of alerts.yml (stale entry)")
    for name in sorted(set(empty) & set(fires)):
        problems.append(f"live-check.json: {name} is listed both as empty and as firing")
    for name in sorted(set(expect["healthy"]["firing"]) - set(fires)):
        problems.append(f"live-check.json: {name} is in healthy.firing but not in healthy.fires")
    for r in rs:
        n = prom.series_count(prom.query(r["query"]))
        kind = "record" if r["type"] == "recording" else "alert"
        report.append(f"{kind} {r['name']}: {n} series")
        if r["type"] == "recording":
            if n == 0:
                problems.append(f"recording rule {r['name']}: `{r['query']}` returns no data")
            elif prom.series_count(prom.query(r["name"])) == 0:
                problems.append(f"recording rule {r['name']}: no recorded series")
        elif n and r["name"] in empty:
            problems.append(f"alert {r['name']} returns data ({n} series), but live-check.json says it is "
                            f"empty: {empty[r['name']]!r}")
        elif not n and r["name"] not in empty:
            problems.append(f"alert {r['name']} returns no data, and live-check.json gives no reason")
        elif n and r["name"] not in fires:
            problems.append(f"alert {r['name']} returns data, but live-check.json does not say the demo "
                            f"makes it fire (healthy.fires)")
    return alerts


def wait_states(prom, want, label, seconds, problems):
    """Waits until every alert of `want` ({name: states}) is in one of its
    states; records a problem for each that is not by the deadline."""
    try:
        wait_until(f"{label}: {sorted(want)}",
                   lambda: all(active_alerts(prom).get(n, set()) & s for n, s in want.items()),
                   seconds, interval=1)
    except CheckError:
        got = active_alerts(prom)
        for n, s in want.items():
            if not got.get(n, set()) & s:
                problems.append(f"{label}: {n} is {sorted(got.get(n, [])) or 'inactive'}, want {sorted(s)}")


def for_seconds(rule):
    return rule.get("duration", 0)


def fault_checks(prom, sim, expect, quick, problems, report):
    fault = expect["fault"]
    by_name = {r["name"]: r for r in rules(prom) if r["type"] == "alerting"}
    for name in list(fault["active"]) + list(fault["firing"]) + list(fault["stays_empty"]):
        if name not in by_name:
            problems.append(f"live-check.json: fault: {name} is no alert of alerts.yml (stale entry)")
    report.append(f"fault: {fault['why']}")
    for path in fault["requests"]:
        report.append(f"  POST {path} -> {http(sim + path, method='POST').strip()}")
    started = time.monotonic()
    active = {n: {"pending", "firing"} for n in list(fault["active"]) + list(expect["healthy"]["fires"])}
    wait_states(prom, active, "fault", 60, problems)
    report.append(f"fault: {sorted(fault['active'])} active after {time.monotonic() - started:.0f} s")
    for name, e in fault["stays_empty"].items():
        if prom.series_count(prom.query(e["witness"])) == 0:
            problems.append(f"fault: {name}: its witness `{e['witness']}` returns no data: the fault did "
                            f"not change its input")
        n = prom.series_count(prom.query(by_name[name]["query"])) if name in by_name else 0
        if n:
            problems.append(f"fault: {name} returns data ({n} series), want empty: {e['reason']!r}")
        else:
            report.append(f"fault: {name} stays empty while `{e['witness']}` returns data")
    firing = {n: {"firing"} for n in fault["firing"]}
    if quick:
        firing = {n: {"pending", "firing"} for n in firing}
    wait_for = max([for_seconds(by_name[n]) for n in firing if n in by_name] + [0])
    wait_states(prom, firing, "fault", wait_for + 60, problems)
    report.append(f"fault: {sorted(firing)} {'active' if quick else 'firing'} "
                  f"{time.monotonic() - started:.0f} s after the fault")
    got = active_alerts(prom)
    report.append(f"fault: alerts now {json.dumps({n: sorted(s) for n, s in sorted(got.items())})}")
    allowed = set(active) | set(firing)
    for n in sorted(set(got) - allowed):
        problems.append(f"fault: {n} is active ({sorted(got[n])}), which live-check.json does not expect")


def start_demo(args, procs, tmp):
    """The demo on a free loopback port: (exporter port, simulator URL)."""
    port = free_port()
    log = os.path.join(tmp, "demo.log")
    procs.start("demo", [args.smc_lab, "demo", "--web.listen-address", f"127.0.0.1:{port}",
                         "--churn", "20", "--log.level", "warn"], log)
    wait_until("the demo's /-/ready", lambda: http(f"http://127.0.0.1:{port}/-/ready", timeout=2), 60)
    sim = wait_until("the simulator's address in the demo's output",
                     lambda: (re.search(r"simulated SMC:\s+(http://127\.0\.0\.1:\d+)", open(log).read())
                              or [None, None])[1], 10)
    return port, sim


def start_prometheus(args, procs, tmp, demo_port):
    """Prometheus on a free loopback port, scraping the demo, with the
    repository's rule files; ready."""
    port = free_port()
    config = os.path.join(tmp, "prometheus.yml")
    rule_files = [os.path.join(ROOT, "deploy", "prometheus", f) for f in ("alerts.yml", "recording.yml")]
    with open(config, "w") as f:
        f.write(f"global:\n  scrape_interval: {SCRAPE_SECONDS}s\n  scrape_timeout: {SCRAPE_SECONDS}s\n"
                f"  evaluation_interval: 1s\n"
                f"rule_files:\n" + "".join(f"  - {json.dumps(r)}\n" for r in rule_files) +
                f"scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n"
                f"      - targets: ['127.0.0.1:{demo_port}']\n")
    procs.start("prometheus", [args.prometheus, f"--config.file={config}",
                               f"--storage.tsdb.path={os.path.join(tmp, 'data')}",
                               f"--web.listen-address=127.0.0.1:{port}",
                               "--storage.tsdb.retention.time=1h", "--log.level=warn"],
                os.path.join(tmp, "prometheus.log"))
    prom = Prom(f"http://127.0.0.1:{port}")
    wait_until("Prometheus's /-/ready", lambda: http(f"{prom.base}/-/ready", timeout=2), 60)
    return prom


def wait_for_samples(prom):
    """The readiness signal: enough samples of the target for the rate
    windows, and every rule evaluated at least once."""
    started = time.monotonic()

    def enough_samples():
        r = prom.query(f'count_over_time(up{{job="{JOB}"}}[1m])')["result"]
        return r and float(r[0]["value"][1]) >= MIN_SAMPLES

    wait_until(f"{MIN_SAMPLES} samples of the target", enough_samples, 60 + MIN_SAMPLES * 2)
    wait_until("every rule evaluated once", lambda: rules_evaluated(prom), 30)
    print(f"ready after {time.monotonic() - started:.0f} s: {MIN_SAMPLES} samples of the demo "
          f"(scrape {SCRAPE_SECONDS} s, $__rate_interval {RATE_INTERVAL} s), every rule evaluated", flush=True)
    return started


def target_checks(prom, problems, report):
    targets = prom.api("targets")["activeTargets"]
    for t in targets:
        report.append(f"target {t['scrapeUrl']}: {t['health']} {t['lastError']}")
        if t["health"] != "up":
            problems.append(f"target {t['scrapeUrl']} is {t['health']}: {t['lastError']}")
    if len(targets) != 1:
        problems.append(f"expected 1 target, got {len(targets)}")


def healthy_alert_checks(prom, expect, quick, started, problems, report):
    """The alerts the demo makes fire by design are active (and firing, for
    a short `for`); no other alert is."""
    firing = {n: {"firing"} for n in expect["healthy"]["firing"]}
    active = {n: {"pending", "firing"} for n in expect["healthy"]["fires"]}
    wait_states(prom, active, "healthy", 30, problems)
    if not quick:
        by_name = {r["name"]: r for r in rules(prom)}
        wait_for = max([for_seconds(by_name[n]) for n in firing if n in by_name] + [0])
        wait_states(prom, firing, "healthy", wait_for + 30, problems)
        report.append(f"healthy: {sorted(firing)} firing {time.monotonic() - started:.0f} s after the first samples")
    got = active_alerts(prom)
    report.append(f"healthy: alerts now {json.dumps({n: sorted(s) for n, s in sorted(got.items())})}")
    for n in sorted(set(got) - set(active)):
        problems.append(f"healthy: {n} is active ({sorted(got[n])}), which live-check.json does not expect")


def run(args, procs, tmp):
    deadline = Deadline(args.max_seconds)
    expect = json.load(open(args.expect))
    demo_port, sim = start_demo(args, procs, tmp)
    prom = start_prometheus(args, procs, tmp, demo_port)
    started = wait_for_samples(prom)
    problems, report = [], []
    target_checks(prom, problems, report)
    dashboard_checks(prom, expect, problems, report)
    alerts = rule_checks(prom, expect, problems, report)
    healthy_alert_checks(prom, expect, args.quick, started, problems, report)
    fault_checks(prom, sim, expect, args.quick, problems, report)
    for r in rules(prom):
        if r["health"] != "ok":
            problems.append(f"rule {r['name']}: health {r['health']} after the fault: {r.get('lastError')}")
    if deadline.left() < 0:
        problems.append(f"the check took longer than --max-seconds {args.max_seconds}")
    print("\n".join(report))
    return problems, len(alerts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smc-lab", default=os.path.join(ROOT, "target", "release", "smc-lab"))
    ap.add_argument("--prometheus", default="prometheus")
    ap.add_argument("--quick", action="store_true", help="do not wait for alerts with a long `for`")
    ap.add_argument("--max-seconds", type=int, default=600)
    ap.add_argument("--expect", default=os.path.join(ROOT, "deploy", "prometheus", "live-check.json"),
                    help="the expectations (default: deploy/prometheus/live-check.json)")
    args = ap.parse_args()
    if shutil.which(args.prometheus) is None:
        sys.exit(f"{args.prometheus}: not found (Debian package prometheus)")

    def on_signal(signum, _frame):
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # Bounded even if a wait misbehaves: SIGALRM ends the run.
    signal.signal(signal.SIGALRM, on_signal)
    signal.alarm(args.max_seconds + 60)
    procs = Processes()
    began = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="smc-live-check-")
    ok = False
    try:
        problems, n_alerts = run(args, procs, tmp)
        if problems:
            print(f"\nlive check: {len(problems)} problem(s):")
            for p in problems:
                print("  " + p)
        else:
            ok = True
            print(f"\nlive check: every dashboard query and rule expression evaluated in Prometheus; "
                  f"{n_alerts} alerts as live-check.json expects ({time.monotonic() - began:.0f} s)")
    except CheckError as e:
        print(f"live check: {e}")
    finally:
        procs.stop()
        signal.alarm(0)
        if not ok:
            for log in ("demo.log", "prometheus.log"):
                path = os.path.join(tmp, log)
                if os.path.exists(path):
                    print(f"--- last lines of {log}")
                    print("".join(open(path).readlines()[-20:]))
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
