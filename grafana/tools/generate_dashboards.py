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


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, d in (("smc-exporter-overview.json", overview()),
                    ("smc-exporter-connections-vpn.json", connections_vpn()),
                    ("smc-exporter-traffic-rules.json", traffic_rules())):
        (OUT / name).write_text(json.dumps(d, indent=2, ensure_ascii=False) + "\n")
        print("wrote", OUT / name)


if __name__ == "__main__":
    main()
