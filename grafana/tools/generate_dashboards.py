#!/usr/bin/env python3
"""Generates grafana/dashboards/*.json (Grafana classic dashboard JSON model).

The JSON files are checked in; this script is their source. After editing it:
    python3 grafana/tools/generate_dashboards.py
    cargo test -p smc-exporter --test exporter deploy_artifacts
Only the Python standard library is used.
"""
import json
import pathlib

OUT = pathlib.Path(__file__).resolve().parent.parent / "dashboards"
DS = {"type": "prometheus", "uid": "${datasource}"}

# Selectors. Every query carries the job and instance matchers
# (grafana/dashboard-linter target-job-rule / target-instance-rule).
BASE = 'job=~"$job", instance=~"$instance"'
SMC = BASE + ', smc=~"$smc"'
ENG = SMC + ', engine=~"$engine"'
# Log stream families: a record may be counted by several streams (a stream
# "all" and a stream "discards" both count a discard), so every query keeps
# `stream`, as a variable and in every `by (...)`: never a sum across streams.
LOG = SMC + ', stream=~"$stream"'
LOG_ENG = LOG + ', engine=~"$engine"'
DISCARDS = 'action=~"Discard|Refuse"'
# SPS families ([[sps]]): every query carries the sps matcher.
SPS = BASE + ', sps=~"$sps"'


def query_var(name, label, query, description):
    return {
        "name": name,
        "label": label,
        "description": description,
        "type": "query",
        "datasource": DS,
        "query": query,
        "definition": query,
        "refresh": 2,  # on time range change
        "multi": True,
        "includeAll": True,
        "allValue": ".+",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
        "hide": 0,
        "regex": "",
        "options": [],
    }


ENGINE_VAR = ('label_values(smc_subscription_up{job=~"$job", instance=~"$instance", smc=~"$smc", definition!="active_alerts"}, target)',
              "Firewall engine(s) or clusters subscribed to.")


def variables(extra=(), engine=ENGINE_VAR):
    """The common variables; `extra` ((name, label, query, description), …)
    between `smc` and `engine`; `engine` the engine variable's query and
    description."""
    return {
        "list": [
            {
                "name": "datasource",
                "label": "Data source",  # template-datasource-rule
                "type": "datasource",
                "query": "prometheus",
                "current": {},
                "hide": 0,
                "refresh": 1,
                "regex": "",
                "options": [],
            },
            query_var("job", "Job", "label_values(smc_exporter_build_info, job)",
                      "Prometheus job(s) scraping smc-exporter."),
            query_var("instance", "Instance",
                      'label_values(smc_exporter_build_info{job=~"$job"}, instance)',
                      "smc-exporter instance(s)."),
            query_var("smc", "SMC",
                      'label_values(smc_up{job=~"$job", instance=~"$instance"}, smc)',
                      "Security Management Center(s), the `name` of each [[smc]] in the config."),
        ] + [query_var(*e) for e in extra] + [
            query_var("engine", "Engine", *engine),
        ]
    }


class Board:
    def __init__(self):
        self.panels = []
        self.y = 0
        self.x = 0
        self.row_h = 0
        self.next_id = 1

    def row(self, title):
        self._newline()
        self.panels.append({
            "type": "row", "title": title, "collapsed": False, "id": self._id(),
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": [],
        })
        self.y += 1

    def _id(self):
        i = self.next_id
        self.next_id += 1
        return i

    def _newline(self):
        if self.x:
            self.y += self.row_h
            self.x = 0
            self.row_h = 0

    def add(self, panel, w, h):
        if self.x + w > 24:
            self._newline()
        panel["id"] = self._id()
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)


def target(expr, legend="__auto", ref="A", instant=False, fmt="time_series"):
    t = {"datasource": DS, "expr": expr, "refId": ref, "legendFormat": legend,
         "range": not instant, "instant": instant, "format": fmt, "editorMode": "code"}
    return t


def timeseries(title, description, unit, targets, stack=False, thresholds=None, decimals=None):
    defaults = {
        "unit": unit,
        "min": 0,
        "custom": {
            "drawStyle": "line", "lineWidth": 1, "fillOpacity": 20 if stack else 10,
            "showPoints": "never", "spanNulls": False,
            "stacking": {"mode": "normal" if stack else "none", "group": "A"},
            "thresholdsStyle": {"mode": "line" if thresholds else "off"},
        },
        "thresholds": {"mode": "absolute", "steps": thresholds or [{"color": "green", "value": None}]},
    }
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": "timeseries", "title": title, "description": description, "datasource": DS,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {"displayMode": "table", "placement": "right", "showLegend": True, "calcs": ["lastNotNull", "max"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def stat(title, description, unit, targets, steps, mappings=None, text_mode="auto"):
    return {
        "type": "stat", "title": title, "description": description, "datasource": DS,
        "targets": targets,
        "fieldConfig": {"defaults": {
            "unit": unit, "mappings": mappings or [],
            "thresholds": {"mode": "absolute", "steps": steps}, "color": {"mode": "thresholds"},
        }, "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "background", "graphMode": "none", "textMode": text_mode,
                    "justifyMode": "auto", "orientation": "auto"},
    }


def table(title, description, unit, targets, rename, overrides=None, exclude=()):
    excl = {"Time": True, "__name__": True}
    for e in exclude:
        excl[e] = True
    return {
        "type": "table", "title": title, "description": description, "datasource": DS,
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit, "custom": {"align": "auto", "filterable": True}},
                        "overrides": overrides or []},
        "options": {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}},
        "transformations": [
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {"excludeByName": excl, "renameByName": rename}},
        ],
    }


def unit_override(field, unit, extra=None):
    props = [{"id": "unit", "value": unit}]
    for k, v in (extra or {}).items():
        props.append({"id": k, "value": v})
    return {"matcher": {"id": "byName", "options": field}, "properties": props}


GREEN = [{"color": "green", "value": None}]
RED_ABOVE_0 = [{"color": "green", "value": None}, {"color": "red", "value": 1}]
UP_DOWN = [{"type": "value", "options": {"0": {"text": "Down", "color": "red", "index": 0},
                                          "1": {"text": "Up", "color": "green", "index": 1}}}]


def dashboard(uid, title, description, board, tags, templating=None):
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": tags,
        "editable": False,  # uneditable-dashboard rule
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
            "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts", "type": "dashboard",
        }]},
        "links": [{"title": "smc-exporter dashboards", "type": "dashboards", "tags": ["smc-exporter"],
                   "asDropdown": True, "includeVars": True, "keepTime": True}],
        "templating": templating or variables(),
        "panels": board.panels,
    }


# --------------------------------------------------------------- overview
def overview():
    b = Board()
    b.row("Health")
    b.add(stat("SMC sessions", "smc_up per SMC: 1 while the exporter holds a logged-in session with the SMC.",
               "none", [target(f'smc_up{{{SMC}}}', "{{smc}}", instant=True)],
               [{"color": "red", "value": None}, {"color": "green", "value": 1}], UP_DOWN, "value_and_name"), 7, 4)
    b.add(stat("Subscriptions up", "Subscriptions (target x definition) connected with a complete first snapshot.",
               "none", [target(f'sum(smc_subscription_up{{{SMC}}})', "up", instant=True)], GREEN), 4, 4)
    b.add(stat("Subscriptions down", "Subscriptions not connected or still waiting for their first snapshot; their series show the last known state.",
               "none", [target(f'count(smc_subscription_up{{{SMC}}} == 0) or vector(0)', "down", instant=True)],
               RED_ABOVE_0), 4, 4)
    b.add(stat("Active critical alerts", "Active alerts of severity critical reported by the SMC (ACTIVE_ALERTS), all domains.",
               "none", [target(f'sum(smc_active_alerts{{{SMC}, severity="critical"}}) or vector(0)', "critical", instant=True)],
               RED_ABOVE_0), 4, 4)
    b.add(stat("Exporter uptime", "Time since the smc-exporter process started (process_start_time_seconds).",
               "s", [target(f'time() - max by (instance) (process_start_time_seconds{{{BASE}}})', "{{instance}}", instant=True)],
               [{"color": "orange", "value": None}, {"color": "green", "value": 600}]), 5, 4)

    b.add(table("Subscriptions", "One row per subscription: whether it is up (connected, first snapshot complete), how many entries its table holds and how long ago the SMC last sent a message. The SMC may stay silent for ~2 minutes on a quiet table; more than 10 minutes while up is stale.",
                "none", [
                    target(f'smc_subscription_up{{{SMC}}}', "", "A", True, "table"),
                    target(f'smc_subscription_entries{{{SMC}}}', "", "B", True, "table"),
                    target(f'time() - smc_subscription_last_message_timestamp_seconds{{{SMC}}}', "", "C", True, "table"),
                ],
                {"Value #A": "Up", "Value #B": "Entries", "Value #C": "Last message"},
                [unit_override("Last message", "s", {"custom.cellOptions": {"type": "color-text"},
                                                     "thresholds": {"mode": "absolute", "steps": [
                                                         {"color": "green", "value": None}, {"color": "orange", "value": 300},
                                                         {"color": "red", "value": 600}]}}),
                 {"matcher": {"id": "byName", "options": "Up"}, "properties": [
                     {"id": "mappings", "value": UP_DOWN},
                     {"id": "custom.cellOptions", "value": {"type": "color-background"}}]}],
                exclude=("job",)), 24, 9)

    b.row("Subscription flow")
    b.add(timeseries("Last message age", "Seconds since the last message of each subscription. Quiet tables may be silent ~2 minutes; the SmcSubscriptionStale alert fires above 10 minutes while up.",
                     "s", [target(f'time() - smc_subscription_last_message_timestamp_seconds{{{SMC}}}', "{{smc}} {{target}} {{definition}}")],
                     thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 600}]), 12, 8)
    b.add(timeseries("Reconnects by reason", "Subscription reconnects per second by reason (connect_error, unauthorized, failure, closed, read_error, idle, login_failed).",
                     "cps", [target(f'sum by (smc, reason) (rate(smc_subscription_reconnects_total{{{SMC}}}[$__rate_interval]))', "{{smc}} {{reason}}")]), 12, 8)
    b.add(timeseries("Records by change", "Monitoring records folded per second, by change (added, updated, deleted).",
                     "cps", [target(f'sum by (smc, change) (rate(smc_monitoring_records_total{{{SMC}}}[$__rate_interval]))', "{{smc}} {{change}}")], stack=True), 12, 8)
    b.add(timeseries("Snapshots", "Complete snapshots taken per second (one per (re)connect of a subscription).",
                     "cps", [target(f'sum by (smc, definition) (rate(smc_subscription_snapshots_total{{{SMC}}}[$__rate_interval]))', "{{smc}} {{definition}}")]), 12, 8)
    b.add(timeseries("Logins", "SMC logins and failed logins per second. Persistent failures usually mean a wrong, expired or revoked API key.",
                     "cps", [target(f'sum by (smc) (rate(smc_logins_total{{{SMC}}}[$__rate_interval]))', "{{smc}} logins", "A"),
                             target(f'sum by (smc) (rate(smc_login_failures_total{{{SMC}}}[$__rate_interval]))', "{{smc}} failures", "B")]), 8, 8)
    b.add(timeseries("Message errors", "Messages from the SMC that could not be handled, per second by kind; the message is counted and skipped.",
                     "cps", [target(f'sum by (smc, kind) (rate(smc_monitoring_message_errors_total{{{SMC}}}[$__rate_interval]))', "{{smc}} {{kind}}")]), 8, 8)
    b.add(timeseries("Unknown deletes", "Deletes for entries the exporter did not know, per second. A steady rate hints at a missed snapshot; a reconnect resynchronises.",
                     "cps", [target(f'sum by (smc, definition) (rate(smc_monitoring_unknown_deletes_total{{{SMC}}}[$__rate_interval]))', "{{smc}} {{definition}}")]), 8, 8)

    b.row("Firewall state")
    b.add(timeseries("Connections by state", "Connections in the engines' state tables (smc_connections), summed by state.",
                     "short", [target(f'sum by (state) (smc_connections{{{ENG}}})', "{{state}}")], stack=True), 12, 8)
    b.add(timeseries("Connections by protocol", "Connections in the engines' state tables, summed by protocol.",
                     "short", [target(f'sum by (protocol) (smc_connections{{{ENG}}})', "{{protocol}}")], stack=True), 12, 8)
    b.add(timeseries("VPN SAs by peer gateway", "Established VPN security associations by engine and peer gateway. A peer dropping to no series has no SA left.",
                     "short", [target(f'sum by (engine, peer_gateway) (smc_vpn_security_associations{{{ENG}}})', "{{engine}} → {{peer_gateway}}")]), 12, 8)
    b.add(timeseries("Block-list entries", "Active block-list entries by engine and protocol.",
                     "short", [target(f'sum by (engine, protocol) (smc_block_list_entries{{{ENG}}})', "{{engine}} {{protocol}}")], stack=True), 12, 8)
    b.add(timeseries("Authenticated users", "Users authenticated on each engine node (USERS).",
                     "short", [target(f'sum by (engine, node) (smc_authenticated_users{{{ENG}}})', "{{engine}} {{node}}")], stack=True), 8, 8)
    b.add(timeseries("SSL VPN sessions", "SSL VPN portal sessions on each engine node (SSLVPNV2).",
                     "short", [target(f'sum by (engine, node) (smc_sslvpn_sessions{{{ENG}}})', "{{engine}} {{node}}")], stack=True), 8, 8)
    b.add(timeseries("Routes", "Routes in each engine's routing table by route type.",
                     "short", [target(f'sum by (engine, route_type) (smc_routes{{{ENG}}})', "{{engine}} {{route_type}}")]), 8, 8)
    b.add(timeseries("Neighbors", "ARP/NDP neighbor entries by engine, protocol and state.",
                     "short", [target(f'sum by (engine, protocol, state) (smc_neighbors{{{ENG}}})', "{{engine}} {{protocol}} {{state}}")]), 12, 8)
    b.add(timeseries("Active alerts by severity", "Active alerts reported by the SMC per administrative domain and severity (info, low, high, critical). They stay until acknowledged in the SMC.",
                     "short", [target(f'sum by (smc, domain, severity) (smc_active_alerts{{{SMC}}})', "{{smc}} {{domain}} {{severity}}")]), 12, 8)

    b.row("Exporter")
    b.add(timeseries("Series dropped", "Series not exported because a family reached max_series_per_family, per rate interval. Any value here means totals of that family are incomplete.",
                     "short", [target(f'sum by (family) (increase(smc_exporter_series_dropped_total{{{BASE}}}[$__rate_interval]))', "{{family}}")]), 8, 8)
    b.add(bargauge("Series cap per family", "Configured series cap (max_series_per_family) per metric family.",
                   "short", [target(f'max by (family) (smc_exporter_series_limit{{{BASE}}})', "{{family}}", instant=True)]), 8, 8)
    b.add(table("Build", "Version, revision and Rust compiler of each exporter instance (smc_exporter_build_info).",
                "none", [target(f'smc_exporter_build_info{{{BASE}}}', "", "A", True, "table")],
                {"version": "Version", "revision": "Revision", "rustc_version": "rustc"}, exclude=("Value", "job")), 8, 8)
    b.add(timeseries("Memory", "Resident memory of the exporter process. Roughly 300 bytes per exported series plus a few MiB per subscription.",
                     "bytes", [target(f'process_resident_memory_bytes{{{BASE}}}', "{{instance}}")]), 8, 8)
    b.add(timeseries("CPU", "CPU used by the exporter process (100% = one core).",
                     "percentunit", [target(f'rate(process_cpu_seconds_total{{{BASE}}}[$__rate_interval])', "{{instance}}")]), 8, 8)
    b.add(timeseries("Open file descriptors", "Open file descriptors of the exporter process (sockets to the SMCs and from scrapers).",
                     "short", [target(f'process_open_fds{{{BASE}}}', "{{instance}}")]), 8, 8)

    return dashboard("smc-exporter-overview", "SMC exporter / Overview",
                     "Forcepoint NGFW SMC session monitoring via smc-exporter: subscription health, firewall state and exporter resources.",
                     b, ["smc-exporter", "forcepoint", "firewall"])


# ------------------------------------------------------ connections & VPN
def connections_vpn():
    b = Board()
    b.row("Connections")
    b.add(timeseries("Connections per engine", "Connections in each engine's state table (sum over nodes, protocols and states).",
                     "short", [target(f'sum by (smc, engine) (smc_connections{{{ENG}}})', "{{smc}} {{engine}}")]), 12, 8)
    b.add(timeseries("Connections per node", "Connections per cluster node. An uneven split shows load balancing or a node that lost its share.",
                     "short", [target(f'sum by (engine, node) (smc_connections{{{ENG}}})', "{{engine}} {{node}}")]), 12, 8)
    b.add(timeseries("Connections by state", "Connections by engine and state, e.g. many half-open TCP connections during a SYN flood.",
                     "short", [target(f'sum by (engine, state) (smc_connections{{{ENG}}})', "{{engine}} {{state}}")]), 12, 8)
    b.add(timeseries("Connections by protocol", "Connections by engine and protocol.",
                     "short", [target(f'sum by (engine, protocol) (smc_connections{{{ENG}}})', "{{engine}} {{protocol}}")]), 12, 8)
    b.add(table("Connections now", "Current connections by engine, node, protocol and state.",
                "short", [target(f'sum by (smc, engine, node, protocol, state) (smc_connections{{{ENG}}})', "", "A", True, "table")],
                {"Value": "Connections"}), 24, 9)
    b.row("VPN")
    b.add(timeseries("VPN SAs by peer gateway", "Established VPN security associations by peer gateway (all nodes of the engine).",
                     "short", [target(f'sum by (engine, peer_gateway) (smc_vpn_security_associations{{{ENG}}})', "{{engine}} → {{peer_gateway}}")]), 12, 8)
    b.add(timeseries("VPN SAs by type", "Established VPN security associations by SA type (e.g. IKE vs IPsec).",
                     "short", [target(f'sum by (engine, sa_type) (smc_vpn_security_associations{{{ENG}}})', "{{engine}} {{sa_type}}")]), 12, 8)
    b.add(table("VPN peers now", "Current security associations per engine, node, SA type and peer gateway. A tunnel that is down has no row.",
                "short", [target(f'sum by (smc, engine, node, sa_type, peer_gateway) (smc_vpn_security_associations{{{ENG}}})', "", "A", True, "table")],
                {"Value": "SAs"}), 24, 9)
    b.add(timeseries("SSL VPN sessions", "SSL VPN portal sessions per engine node.",
                     "short", [target(f'sum by (engine, node) (smc_sslvpn_sessions{{{ENG}}})', "{{engine}} {{node}}")]), 12, 8)
    b.add(timeseries("VPN subscription health", "1 when the vpn_sa and sslvpn subscriptions of an engine are up; 0 means the VPN panels show the last known state.",
                     "none", [target(f'smc_subscription_up{{{SMC}, target=~"$engine", definition=~"vpn_sa|sslvpn"}}', "{{target}} {{definition}}")],
                     decimals=0), 12, 8)
    return dashboard("smc-exporter-connections-vpn", "SMC exporter / Connections & VPN",
                     "Per-engine detail of firewall connections and VPN security associations from smc-exporter.",
                     b, ["smc-exporter", "forcepoint", "firewall", "vpn"])


def bargauge(title, description, unit, targets):
    return {
        "type": "bargauge", "title": title, "description": description, "datasource": DS,
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit, "min": 0,
                                     "thresholds": {"mode": "absolute", "steps": GREEN}}, "overrides": []},
        "options": {"orientation": "horizontal", "displayMode": "basic", "showUnfilled": True,
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
    }


# --------------------------------------------------------- traffic & rules
def traffic_rules():
    b = Board()
    b.row("Discards")
    b.add(timeseries("Discards per engine", "Log records with action Discard or Refuse per second, by stream and engine. A stream that groups by neither engine nor action has no series here; streams count independently (a discard is in stream \"all\" and in a filtered stream \"discards\"), so compare within one stream. The SmcLogDiscardSpike alert fires when this is 3 × the hour before and above 1/s for 5 minutes.",
                     "cps", [target(f'sum by (smc, stream, engine) (rate(smc_log_records_total{{{LOG_ENG}, {DISCARDS}}}[$__rate_interval]))', "{{stream}} {{engine}}")]), 12, 8)
    b.add(timeseries("Records by action", "Live log records per second by stream and action as the SMC names it (Allow, Discard, Refuse, Permit, Terminate, …).",
                     "cps", [target(f'sum by (smc, stream, action) (rate(smc_log_records_total{{{LOG_ENG}}}[$__rate_interval]))', "{{stream}} {{action}}")]), 12, 8)
    b.add(timeseries("Discard share per engine", "Discard and Refuse records as a share of all records of the stream, per engine. Meaningful for unfiltered streams only: a stream filtered to discards shows 100 %.",
                     "percentunit", [target(
                         f'sum by (smc, stream, engine) (rate(smc_log_records_total{{{LOG_ENG}, {DISCARDS}}}[$__rate_interval]))'
                         f' / on (smc, stream, engine) sum by (smc, stream, engine) (rate(smc_log_records_total{{{LOG_ENG}}}[$__rate_interval]))',
                         "{{stream}} {{engine}}")]), 12, 8)
    b.add(bargauge("Discards in the range", "Discard and Refuse records per stream and engine over the dashboard's time range.",
                   "short", [target(f'sort_desc(sum by (smc, stream, engine) (increase(smc_log_records_total{{{LOG_ENG}, {DISCARDS}}}[$__range])))', "{{stream}} {{engine}}", instant=True)]), 12, 8)

    b.row("Rules")
    b.add(bargauge("Top rules", "The 10 rules with the most hits over the dashboard's time range, by stream, engine and rule tag (@rule.version, as in the SMC's policy editor). Only streams with rule_hits = true count rule hits.",
                   "short", [target(f'topk(10, sum by (smc, stream, engine, rule_tag) (increase(smc_log_rule_hits_total{{{LOG_ENG}}}[$__range])))', "{{stream}} {{engine}} {{rule_tag}}", instant=True)]), 12, 9)
    b.add(table("Rules without hits in the range", "Rules that had hits in the period of the same length just before the dashboard's time range, and none in it (or whose series went away): a rule that stopped matching, e.g. after a policy change. The value is the hits of the period before. Only streams with rule_hits = true count rule hits; a rule never hit since the exporter started has no series, so it cannot be listed.",
                "short", [target(
                    f'sum by (smc, stream, engine, rule_tag) (increase(smc_log_rule_hits_total{{{LOG_ENG}}}[$__range] offset $__range)) > 0'
                    f' unless on (smc, stream, engine, rule_tag) sum by (smc, stream, engine, rule_tag) (increase(smc_log_rule_hits_total{{{LOG_ENG}}}[$__range])) > 0',
                    "", "A", True, "table")],
                {"smc": "SMC", "stream": "Stream", "engine": "Engine", "rule_tag": "Rule", "Value": "Hits before the range"}), 12, 9)
    b.add(timeseries("Rule hits per engine", "Rule hits per second by stream and engine (the sum over its rules). Only streams with rule_hits = true count rule hits.",
                     "cps", [target(f'sum by (smc, stream, engine) (rate(smc_log_rule_hits_total{{{LOG_ENG}}}[$__rate_interval]))', "{{stream}} {{engine}}")]), 24, 8)

    b.row("Traffic")
    b.add(timeseries("Bytes by service", "Bytes per second by stream, service and direction (sent, received), from the accounting of connection-closing records: a connection's bytes count when it closes. Only streams that group by service have series here.",
                     "Bps", [target(f'sum by (smc, stream, service, direction) (rate(smc_log_bytes_total{{{LOG_ENG}, service!=""}}[$__rate_interval]))', "{{stream}} {{service}} {{direction}}")]), 12, 8)
    b.add(timeseries("Bytes per engine", "Bytes per second by stream, engine and direction, from connection-closing records.",
                     "Bps", [target(f'sum by (smc, stream, engine, direction) (rate(smc_log_bytes_total{{{LOG_ENG}}}[$__rate_interval]))', "{{stream}} {{engine}} {{direction}}")]), 12, 8)
    b.add(bargauge("Top services by bytes", "The 10 services with the most bytes (both directions) over the dashboard's time range, by stream. Only streams that group by service count here.",
                   "bytes", [target(f'topk(10, sum by (smc, stream, service) (increase(smc_log_bytes_total{{{LOG_ENG}, service!=""}}[$__range])))', "{{stream}} {{service}}", instant=True)]), 12, 8)
    b.add(timeseries("Records by service", "Live log records per second by stream and service. Only streams that group by service have series here.",
                     "cps", [target(f'sum by (smc, stream, service) (rate(smc_log_records_total{{{LOG_ENG}, service!=""}}[$__rate_interval]))', "{{stream}} {{service}}")]), 12, 8)

    b.row("Element changes")
    b.add(timeseries("Element changes by type and action", "Element changes per second reported by the SMC's notification socket, by element type (a type of notify, or other) and action (create, update, delete, trashed, untrashed, validating, validated, other). Changes made while the socket is down are not counted. The SmcElementChangeBurst alert fires on 3 × the hour before and more than 20 in 10 minutes.",
                     "cps", [target(f'sum by (smc, element_type, action) (rate(smc_element_changes_total{{{SMC}}}[$__rate_interval]))', "{{smc}} {{element_type}} {{action}}")]), 12, 8)
    b.add(table("Element changes in the range", "Element changes per SMC, type and action over the dashboard's time range.",
                "short", [target(f'sum by (smc, element_type, action) (increase(smc_element_changes_total{{{SMC}}}[$__range])) > 0', "", "A", True, "table")],
                {"smc": "SMC", "element_type": "Type", "action": "Action", "Value": "Changes"}), 12, 8)

    b.row("Log stream health")
    b.add(stat("Log streams", "smc_log_stream_up per SMC and stream: 1 while its live log socket is open and its query accepted. While down, the records the SMC logs are not counted (see Gaps).",
               "none", [target(f'smc_log_stream_up{{{LOG}}}', "{{smc}} {{stream}}", instant=True)],
               [{"color": "red", "value": None}, {"color": "green", "value": 1}], UP_DOWN, "value_and_name"), 12, 4)
    b.add(stat("Notification sockets", "smc_notification_up per SMC: 1 while the notification socket is open and its subscription acknowledged. While down, element changes are not counted.",
               "none", [target(f'smc_notification_up{{{SMC}}}', "{{smc}}", instant=True)],
               [{"color": "red", "value": None}, {"color": "green", "value": 1}], UP_DOWN, "value_and_name"), 12, 4)
    b.add(timeseries("Gaps", "Share of time each log stream had no live socket (seconds of gap per second): records logged then are not counted. The SmcLogStreamGaps alert fires on more than 60 s in 30 minutes of a stream that keeps coming back.",
                     "percentunit", [target(f'sum by (smc, stream) (rate(smc_log_stream_gap_seconds_total{{{LOG}}}[$__rate_interval]))', "{{smc}} {{stream}}")],
                     thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 0.05}]), 8, 8)
    b.add(timeseries("Log stream reconnects by reason", "Log socket reconnects per second by stream and reason.",
                     "cps", [target(f'sum by (smc, stream, reason) (rate(smc_log_stream_reconnects_total{{{LOG}}}[$__rate_interval]))', "{{smc}} {{stream}} {{reason}}")]), 8, 8)
    b.add(timeseries("Notification reconnects by reason", "Notification socket reconnects per second by reason.",
                     "cps", [target(f'sum by (smc, reason) (rate(smc_notification_reconnects_total{{{SMC}}}[$__rate_interval]))', "{{smc}} {{reason}}")]), 8, 8)
    b.add(timeseries("Records per stream", "Live log records counted per second by each stream (all its group_by values together).",
                     "cps", [target(f'sum by (smc, stream) (rate(smc_log_records_total{{{LOG}}}[$__rate_interval]))', "{{smc}} {{stream}}")]), 12, 8)
    b.add(timeseries("Malformed messages", "Log stream messages and notification events per second that could not be read; they are skipped. A steady rate often follows an SMC upgrade.",
                     "cps", [target(f'sum by (smc, stream) (rate(smc_log_stream_malformed_total{{{LOG}}}[$__rate_interval]))', "{{smc}} log {{stream}}", "A"),
                             target(f'sum by (smc) (rate(smc_notification_malformed_total{{{SMC}}}[$__rate_interval]))', "{{smc}} notifications", "B")]), 12, 8)

    templating = variables(
        extra=[("stream", "Stream",
                'label_values(smc_log_stream_up{job=~"$job", instance=~"$instance", smc=~"$smc"}, stream)',
                "Log stream(s), the `name` of each [[smc.log_stream]]. Streams may count the same record, so every panel keeps them apart.")],
        engine=('label_values(smc_log_records_total{job=~"$job", instance=~"$instance", smc=~"$smc", stream=~"$stream"}, engine)',
                "Engine(s) the log streams count records of (streams that group by engine, as by default)."))
    return dashboard("smc-exporter-traffic-rules", "SMC exporter / Traffic & rules",
                     "Log record counts from smc-exporter's live log streams (discards per engine, records by action, top rules and rules without hits, bytes by service) and the SMC's element changes, with the health of both sockets.",
                     b, ["smc-exporter", "forcepoint", "firewall", "logs"], templating)


# ------------------------------------------------------------------- SPS
def sps_variables():
    """datasource, job, instance and sps: the SPS families have no smc or
    engine label."""
    v = variables()
    keep = [x for x in v["list"] if x["name"] in ("datasource", "job", "instance")]
    keep.append(query_var("sps", "SPS",
                          'label_values(sps_up{job=~"$job", instance=~"$instance"}, sps)',
                          "Safeguard for Privileged Sessions appliance(s), the `name` of each [[sps]] in the config."))
    return {"list": keep}


def quantiles(family, what):
    return [target(f'histogram_quantile({q}, sum by (sps, protocol, le) (rate({family}_bucket{{{SPS}}}[$__rate_interval])))',
                   f"p{int(q * 100)} {{{{sps}}}} {{{{protocol}}}}", ref)
            for q, ref in ((0.5, "A"), (0.9, "B"), (0.99, "C"))]


def buckets_bar(title, description, family):
    """Observations per bucket over the range (the histogram's shape)."""
    p = bargauge(title, description, "short", [target(
        f'sum by (le) (increase({family}_bucket{{{SPS}}}[$__range]))', "≤ {{le}}", instant=True, fmt="heatmap")])
    p["options"]["orientation"] = "vertical"
    return p


def sps():
    b = Board()
    b.row("Appliance")
    b.add(stat("SPS poller", "sps_up per appliance: 1 if the exporter's last poll cycle of its REST API completed. While 0 the counters stand still and the health gauges keep their last values. The SpsDown alert fires after 10 minutes.",
               "none", [target(f'sps_up{{{SPS}}}', "{{sps}}", instant=True)],
               [{"color": "red", "value": None}, {"color": "green", "value": 1}], UP_DOWN, "value_and_name"), 6, 4)
    b.add(table("Appliances", "One row per appliance: its firmware (/api/info), when a cycle last completed, how far the watermark lags the appliance's clock, and since when sessions count (S: sessions started before it never count).",
                "none", [
                    target(f'sps_info{{{SPS}}}', "", "A", True, "table"),
                    target(f'time() - sps_last_success_timestamp_seconds{{{SPS}}}', "", "B", True, "table"),
                    target(f'sps_watermark_lag_seconds{{{SPS}}}', "", "C", True, "table"),
                    target(f'sps_counting_since_timestamp_seconds{{{SPS}}} * 1000', "", "D", True, "table"),
                ],
                {"sps": "SPS", "firmware_version": "Firmware", "Value #A": "Info", "Value #B": "Last success",
                 "Value #C": "Watermark lag", "Value #D": "Counting since"},
                [unit_override("Last success", "s"), unit_override("Watermark lag", "s"),
                 unit_override("Counting since", "dateTimeAsIso")],
                exclude=("job", "instance", "Value #A")), 12, 4)
    b.add(stat("Active sessions", "Sessions active on the appliance now (health_status), all protocols.",
               "none", [target(f'sum by (sps) (sps_active_sessions{{{SPS}}})', "{{sps}}", instant=True)], GREEN), 6, 4)

    b.row("Sessions")
    b.add(timeseries("Active sessions by protocol", "Sessions active now per protocol, as the appliance's health_status lists them (lower case: ssh, rdp, …).",
                     "none", [target(f'sum by (sps, protocol) (sps_active_sessions{{{SPS}}})', "{{sps}} {{protocol}}")], stack=True, decimals=0), 12, 8)
    b.add(timeseries("Sessions started by protocol and policy", "Sessions started per second (counted once, when first seen with start_time at or after S), by protocol and connection policy.",
                     "ops", [target(f'sum by (sps, protocol, connection_policy) (rate(sps_sessions_started_total{{{SPS}}}[$__rate_interval]))', "{{sps}} {{protocol}} {{connection_policy}}")]), 12, 8)
    b.add(timeseries("Sessions closed by verdict", "Counted sessions seen closed per second, by protocol and verdict (ACCEPT, AUTH_FAIL, TERMINATED, …; \"\" when the appliance sends none).",
                     "ops", [target(f'sum by (sps, protocol, verdict) (rate(sps_sessions_closed_total{{{SPS}}}[$__rate_interval]))', "{{sps}} {{protocol}} {{verdict}}")]), 12, 8)
    b.add(table("Sessions in the range", "Sessions started and closed over the dashboard's time range per protocol and connection policy.",
                "short", [
                    target(f'sum by (sps, protocol, connection_policy) (increase(sps_sessions_started_total{{{SPS}}}[$__range]))', "", "A", True, "table"),
                    target(f'sum by (sps, protocol, connection_policy) (increase(sps_sessions_closed_total{{{SPS}}}[$__range]))', "", "B", True, "table"),
                ],
                {"sps": "SPS", "protocol": "Protocol", "connection_policy": "Connection policy",
                 "Value #A": "Started", "Value #B": "Closed"}), 12, 8)
    b.add(bargauge("Closed sessions by verdict in the range", "Counted sessions closed over the dashboard's time range, by verdict and connection policy.",
                   "short", [target(f'sort_desc(sum by (sps, verdict, connection_policy) (increase(sps_sessions_closed_total{{{SPS}}}[$__range])))', "{{sps}} {{verdict}} {{connection_policy}}", instant=True)]), 12, 8)
    b.add(timeseries("Tracked sessions", "Counted sessions the exporter follows until they close (at most max_tracked_sessions).",
                     "none", [target(f'sps_tracked_sessions{{{SPS}}}', "{{sps}}")], decimals=0), 12, 8)

    b.row("Duration and risk")
    b.add(timeseries("Session duration quantiles", "The 50th, 90th and 99th percentile of the duration of sessions closed in each interval, per protocol (histogram buckets 10 s … 8 h, interpolated).",
                     "s", quantiles("sps_session_duration_seconds", "duration")), 12, 8)
    b.add(buckets_bar("Session durations in the range", "Sessions closed over the dashboard's time range by duration bucket (cumulative: each bar counts the sessions up to its bound, in seconds).",
                      "sps_session_duration_seconds"), 12, 8)
    b.add(timeseries("Risk score quantiles", "The 50th, 90th and 99th percentile of the aggregated analytics risk score (0-100) of sessions closed in each interval, per protocol. Sessions without a score are not observed.",
                     "none", quantiles("sps_session_risk_score", "risk")), 12, 8)
    b.add(buckets_bar("Risk scores in the range", "Sessions closed over the dashboard's time range by risk score bucket (cumulative: each bar counts the sessions with a score up to its bound).",
                      "sps_session_risk_score"), 12, 8)
    b.add(timeseries("Mean session duration", "Mean duration of the sessions closed in each interval, per protocol.",
                     "s", [target(f'sum by (sps, protocol) (rate(sps_session_duration_seconds_sum{{{SPS}}}[$__rate_interval])) / sum by (sps, protocol) (rate(sps_session_duration_seconds_count{{{SPS}}}[$__rate_interval]))', "{{sps}} {{protocol}}")]), 12, 8)
    b.add(timeseries("Mean risk score", "Mean aggregated risk score of the sessions closed in each interval, per protocol (of those with a score).",
                     "none", [target(f'sum by (sps, protocol) (rate(sps_session_risk_score_sum{{{SPS}}}[$__rate_interval])) / sum by (sps, protocol) (rate(sps_session_risk_score_count{{{SPS}}}[$__rate_interval]))', "{{sps}} {{protocol}}")]), 12, 8)

    b.row("Content-policy alerts")
    b.add(timeseries("Alerts by type", "Content-policy alerts of counted sessions per second, by alert type. The SpsAlertSpike alert fires on 3 × the hour before and more than 20 in 10 minutes.",
                     "ops", [target(f'sum by (sps, alert_type) (rate(sps_alerts_total{{{SPS}}}[$__rate_interval]))', "{{sps}} {{alert_type}}")]), 12, 8)
    b.add(bargauge("Top alert rules in the range", "The 10 content-policy rules with the most alerts over the dashboard's time range, by alert type and rule name.",
                   "short", [target(f'topk(10, sum by (sps, alert_type, rule_name) (increase(sps_alerts_total{{{SPS}}}[$__range])))', "{{sps}} {{alert_type}} {{rule_name}}", instant=True)]), 12, 8)
    b.add(timeseries("Alerts by protocol and policy", "Content-policy alerts per second, by protocol and connection policy of their session.",
                     "ops", [target(f'sum by (sps, protocol, connection_policy) (rate(sps_alerts_total{{{SPS}}}[$__rate_interval]))', "{{sps}} {{protocol}} {{connection_policy}}")]), 24, 8)

    b.row("Appliance health")
    b.add(timeseries("CPU, memory, swap", "CPU, memory and swap usage of the appliance, percent (health_status).",
                     "percent", [target(f'sps_cpu_usage_percent{{{SPS}}}', "{{sps}} cpu", "A"),
                                 target(f'sps_memory_usage_percent{{{SPS}}}', "{{sps}} memory", "B"),
                                 target(f'sps_swap_usage_percent{{{SPS}}}', "{{sps}} swap", "C")]), 8, 8)
    b.add(timeseries("Disk usage", "Disk usage of the appliance, percent. The SpsDiskFilling alert fires above 90 % for 30 minutes, or when the last 6 hours' trend reaches 100 % within 24 hours.",
                     "percent", [target(f'sps_disk_usage_percent{{{SPS}}}', "{{sps}}")],
                     thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 90}]), 8, 8)
    b.add(timeseries("Load average", "The appliance's load average over 1, 5 and 15 minutes.",
                     "short", [target(f'sps_load_average{{{SPS}}}', "{{sps}} {{period}}")]), 8, 8)
    b.add(timeseries("Indexer", "Indexer workers and idle workers (summed over the indexers), and their jobs by kind (index, screenshot, video).",
                     "none", [target(f'sps_indexer_workers{{{SPS}}}', "{{sps}} workers", "A"),
                              target(f'sps_indexer_idle_workers{{{SPS}}}', "{{sps}} idle workers", "B"),
                              target(f'sps_indexer_jobs{{{SPS}}}', "{{sps}} {{kind}} jobs", "C")], decimals=0), 12, 8)
    b.add(stat("RAID", "sps_raid_ok per appliance: 1 if health_status reports the RAID status OK, 0 for DEGRADED or any other status.",
               "none", [target(f'sps_raid_ok{{{SPS}}}', "{{sps}}", instant=True)],
               [{"color": "red", "value": None}, {"color": "green", "value": 1}],
               [{"type": "value", "options": {"0": {"text": "Not OK", "color": "red", "index": 0},
                                              "1": {"text": "OK", "color": "green", "index": 1}}}], "value_and_name"), 12, 8)

    b.row("Poller")
    b.add(timeseries("Poll cycle duration", "The 50th and 99th percentile of the duration of whole poll cycles (login, info, health, searches, session refreshes, alerts). A cycle is cut at 80 % of poll_interval.",
                     "s", [target(f'histogram_quantile(0.5, sum by (sps, le) (rate(sps_poll_duration_seconds_bucket{{{SPS}}}[$__rate_interval])))', "p50 {{sps}}", "A"),
                           target(f'histogram_quantile(0.99, sum by (sps, le) (rate(sps_poll_duration_seconds_bucket{{{SPS}}}[$__rate_interval])))', "p99 {{sps}}", "B"),
                           target(f'sum by (sps) (rate(sps_poll_duration_seconds_sum{{{SPS}}}[$__rate_interval])) / sum by (sps) (rate(sps_poll_duration_seconds_count{{{SPS}}}[$__rate_interval]))', "mean {{sps}}", "C")]), 12, 8)
    b.add(timeseries("API requests by endpoint and code", "REST requests per second by endpoint group and HTTP status (none: no answer).",
                     "reqps", [target(f'sum by (sps, endpoint, code) (rate(sps_api_requests_total{{{SPS}}}[$__rate_interval]))', "{{sps}} {{endpoint}} {{code}}")]), 12, 8)
    b.add(timeseries("API errors by endpoint and kind", "Failed REST requests per second by endpoint group and kind (auth, forbidden, not_found, rate_limited, server, timeout, connect, decode). A kind has a series only once it happened.",
                     "reqps", [target(f'sum by (sps, endpoint, kind) (rate(sps_api_errors_total{{{SPS}}}[$__rate_interval]))', "{{sps}} {{endpoint}} {{kind}}")]), 12, 8)
    b.add(timeseries("Logins", "Logins per second by result (success, failure). A failed login waits login_backoff_initial, doubling up to login_backoff_max. The SpsLoginFailures alert fires on failures for 15 minutes.",
                     "ops", [target(f'sum by (sps, result) (rate(sps_logins_total{{{SPS}}}[$__rate_interval]))', "{{sps}} {{result}}")]), 12, 8)
    b.add(timeseries("Watermark lag", "The appliance's clock at the last cycle minus the watermark: how far behind the session search is. The SpsWatermarkLagging alert fires above 15 minutes for 15 minutes while the poller is up.",
                     "s", [target(f'sps_watermark_lag_seconds{{{SPS}}}', "{{sps}}")],
                     thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 900}]), 8, 8)
    b.add(timeseries("Watermark and counting start", "The watermark (appliance clock) and S, the counting start, as ages: now minus each.",
                     "s", [target(f'time() - sps_watermark_timestamp_seconds{{{SPS}}}', "{{sps}} watermark", "A"),
                           target(f'time() - sps_counting_since_timestamp_seconds{{{SPS}}}', "{{sps}} counting since", "B")]), 8, 8)
    b.add(timeseries("Window splits and dropped series", "Search windows split per second because they matched more than 10,000 sessions (the API's paging limit), and increments dropped because their SPS family had 10,000 series.",
                     "ops", [target(f'sum by (sps) (rate(sps_window_splits_total{{{SPS}}}[$__rate_interval]))', "{{sps}} window splits", "A"),
                             target(f'sum by (sps) (rate(sps_series_dropped_total{{{SPS}}}[$__rate_interval]))', "{{sps}} dropped", "B")]), 8, 8)

    return dashboard("smc-exporter-sps", "SMC exporter / Privileged sessions (SPS)",
                     "Sessions, durations, risk scores and content-policy alerts from One Identity Safeguard for Privileged Sessions appliances polled by smc-exporter ([[sps]]), with the appliances' health and the poller's own metrics.",
                     b, ["smc-exporter", "sps", "privileged-sessions"], sps_variables())


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, d in (("smc-exporter-overview.json", overview()),
                    ("smc-exporter-connections-vpn.json", connections_vpn()),
                    ("smc-exporter-traffic-rules.json", traffic_rules()),
                    ("smc-exporter-sps.json", sps())):
        (OUT / name).write_text(json.dumps(d, indent=2, ensure_ascii=False) + "\n")
        print("wrote", OUT / name)


if __name__ == "__main__":
    main()
