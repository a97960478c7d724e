"""Generates monitoring/grafana/dashboards/anomaly-detection.json (the file Grafana provisions).

Edit the panels here, then run `python3 tests/stack/generate_dashboard.py` from the repository root;
`--check` (used by scripts/check-stack.sh) fails if the JSON is not what this script produces.
"""
import json
import sys
import urllib.parse

PROM = {"type": "prometheus", "uid": "prometheus"}
LOKI = {"type": "loki", "uid": "loki"}
SEV_COLORS = {"low": "blue", "medium": "yellow", "high": "orange", "critical": "red"}

ids = iter(range(1, 1000))
panels = []
y = 0

def row(title):
    global y
    panels.append({"type": "row", "title": title, "id": next(ids), "collapsed": False,
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
    y += 1

def prom(expr, legend="__auto", ref="A", instant=False, fmt=None):
    t = {"refId": ref, "datasource": PROM, "expr": expr, "legendFormat": legend, "range": not instant, "instant": instant}
    if fmt:
        t["format"] = fmt
    return t

def loki(expr, ref="A", qtype="range", legend=None):
    t = {"refId": ref, "datasource": LOKI, "expr": expr, "queryType": qtype}
    if legend:
        t["legendFormat"] = legend
    return t

def thresholds(*steps):
    out = [{"color": "green", "value": None}]
    for v, c in steps:
        out.append({"color": c, "value": v})
    return {"mode": "absolute", "steps": out}

def sev_overrides(field_prefix=""):
    return [{"matcher": {"id": "byName", "options": s},
             "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": c}}]}
            for s, c in SEV_COLORS.items()]

def panel(ptype, title, x, w, h, targets, desc, defaults=None, overrides=None, options=None, ds=PROM, transformations=None):
    p = {"type": ptype, "title": title, "description": desc, "id": next(ids),
         "gridPos": {"h": h, "w": w, "x": x, "y": y}, "datasource": ds, "targets": targets,
         "fieldConfig": {"defaults": defaults or {}, "overrides": overrides or []},
         "options": options or {}}
    if transformations:
        p["transformations"] = transformations
    panels.append(p)
    return p

def stat_opts(text_mode="auto", color_mode="value", graph="area"):
    return {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": color_mode, "graphMode": graph, "textMode": text_mode, "justifyMode": "auto",
            "orientation": "auto", "showPercentChange": False, "wideLayout": True}

def ts_defaults(unit="short", axis_label="", stack=False, bars=False, th=None, fill=10):
    d = {"unit": unit, "color": {"mode": "palette-classic"},
         "custom": {"drawStyle": "bars" if bars else "line", "lineWidth": 1, "fillOpacity": 80 if bars else fill,
                    "axisLabel": axis_label, "showPoints": "never", "spanNulls": False,
                    "stacking": {"mode": "normal" if stack else "none", "group": "A"},
                    "thresholdsStyle": {"mode": "line" if th else "off"}}}
    d["thresholds"] = th or thresholds()
    return d

TS_OPTS = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True, "calcs": []},
           "tooltip": {"mode": "multi", "sort": "desc"}}
TS_OPTS_TABLE = {"legend": {"displayMode": "table", "placement": "right", "showLegend": True, "calcs": ["mean", "max", "lastNotNull"]},
                 "tooltip": {"mode": "multi", "sort": "desc"}}

K = 'kind=~"$kind"'
E = 'endpoint=~"$endpoint"'

# ---------------------------------------------------------------- overview
row("Overview")
panel("stat", "Anomalies", 0, 4, 4,
      [prom(f'sum(increase(anomaly_detector_anomalous_total{{{K}}}[$__range]))', "anomalies")],
      "Anomalous lines and windows found in the selected time range (each counted once, however many detectors flagged it).",
      {"unit": "short", "decimals": 0, "thresholds": thresholds((1, "orange"), (50, "red")), "color": {"mode": "thresholds"}},
      options=stat_opts())
panel("stat", "Incidents opened by severity", 4, 8, 4,
      [prom(f'sum by (severity) (increase(anomaly_detector_incidents_total{{{K}}}[$__range]))', "{{severity}}")],
      "Incidents (anomalies of one kind on one endpoint rolled up) opened in the selected time range, by severity.",
      {"unit": "short", "decimals": 0, "color": {"mode": "thresholds"}, "thresholds": thresholds()},
      sev_overrides(), stat_opts(text_mode="value_and_name", color_mode="background", graph="none"))
panel("stat", "Open incidents", 12, 4, 4,
      [prom('sum(anomaly_detector_open_incidents)', "open")],
      "Incidents currently open (not yet quiet for detection.incident_window_secs).",
      {"unit": "short", "decimals": 0, "color": {"mode": "thresholds"}, "thresholds": thresholds((1, "orange"), (5, "red"))},
      options=stat_opts(color_mode="background"))
panel("stat", "Requests analysed", 16, 4, 4,
      [prom(f'sum(increase(anomaly_detector_requests_total{{{E}}}[$__range]))', "requests")],
      "Requests the detector read from the logs in the selected time range.",
      {"unit": "short", "decimals": 0, "color": {"mode": "fixed", "fixedColor": "text"}, "thresholds": thresholds()},
      options=stat_opts())
panel("stat", "5xx ratio", 20, 4, 4,
      [prom(f'(sum(rate(anomaly_detector_requests_total{{{E}, status_class="5xx"}}[$__rate_interval])) or vector(0))'
            f' / sum(rate(anomaly_detector_requests_total{{{E}}}[$__rate_interval]))', "5xx")],
      "Share of requests answered with a 5xx status.",
      {"unit": "percentunit", "decimals": 2, "color": {"mode": "thresholds"}, "thresholds": thresholds((0.01, "yellow"), (0.05, "red"))},
      options=stat_opts())
y += 4
panel("timeseries", "Anomaly rate by severity", 0, 12, 8,
      [prom(f'sum by (severity) (rate(anomaly_detector_anomalous_total{{{K}}}[$__rate_interval])) * 60', "{{severity}}")],
      "Anomalies per minute, by severity.",
      ts_defaults("short", "anomalies / min", stack=True), sev_overrides(), TS_OPTS)
panel("piechart", "Distribution by kind", 12, 6, 8,
      [prom(f'sum by (kind) (increase(anomaly_detector_anomalous_total{{{K}}}[$__range]))', "{{kind}}", instant=True)],
      "behavioral: Isolation Forest; response_time / status_code: One-Class SVMs per endpoint; suspicious: rules; volume: request-rate baselines.",
      {"unit": "short", "decimals": 0, "color": {"mode": "palette-classic"}},
      options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, "pieType": "donut",
               "legend": {"displayMode": "table", "placement": "right", "showLegend": True, "values": ["value", "percent"]},
               "tooltip": {"mode": "single", "sort": "none"}, "displayLabels": []})
panel("bargauge", "By detector", 18, 6, 8,
      [prom(f'sort_desc(sum by (detector) (increase(anomaly_detector_anomalies_total{{{K}}}[$__range])))', "{{detector}}", instant=True)],
      "Which model or rule flagged the anomalies (rule:<name> is counted as rule).",
      {"unit": "short", "decimals": 0, "color": {"mode": "continuous-GrYlRd"}, "thresholds": thresholds(), "min": 0},
      options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, "orientation": "horizontal",
               "displayMode": "gradient", "showUnfilled": True, "valueMode": "color", "namePlacement": "auto",
               "sizing": "auto", "minVizHeight": 16, "minVizWidth": 8, "maxVizHeight": 300})
y += 8

# ---------------------------------------------------------------- timeline
row("Timeline")
panel("timeseries", "Anomalies by kind", 0, 12, 8,
      [prom(f'sum by (kind) (increase(anomaly_detector_anomalous_total{{{K}}}[$__interval]))', "{{kind}}")],
      "Anomalies per interval, stacked by kind.",
      ts_defaults("short", "anomalies", stack=True, bars=True), options=TS_OPTS)
panel("timeseries", "Incidents opened (from Loki)", 12, 12, 8,
      [loki(f'sum by (kind) (count_over_time({{job="anomaly-detector", {K}}} | json | type="incident" | state="opened" [$__interval]))', legend="{{kind}}")],
      "Incident events the detector pushed to Loki (outputs.loki_push), by kind.",
      ts_defaults("short", "incidents", stack=True, bars=True), options=TS_OPTS, ds=LOKI)
y += 8

# ---------------------------------------------------------------- tables
row("Incidents and anomalous lines")
ISO = '"2006-01-02T15:04:05Z07:00"'
WINDOW = (f'label_format window_from=`{{{{ sub (unixEpochMillis (toDate {ISO} .first_seen)) 300000 }}}}`, '
          f'window_to=`{{{{ add (unixEpochMillis (toDate {ISO} .last_seen)) 300000 }}}}`')

def explore_url(expr):
    pane = {"incident": {"datasource": "loki",
                         "queries": [{"refId": "A", "datasource": LOKI, "expr": expr, "queryType": "range"}],
                         "range": {"from": "FROMX", "to": "TOX"}}}
    enc = urllib.parse.quote(json.dumps(pane, separators=(",", ":")), safe="")
    enc = enc.replace("FROMX", "${__data.fields.window_from}").replace("TOX", "${__data.fields.window_to}")
    return "/explore?schemaVersion=1&orgId=1&panes=" + enc

LINKS = [
    {"title": "demo-app logs around this incident (Explore)", "url": explore_url('{job="demo-app"}'), "targetBlank": True},
    {"title": "Detector findings around this incident (Explore)", "url": explore_url('{job="anomaly-detector"} | json'), "targetBlank": True},
]

def hidden(name):
    return {"matcher": {"id": "byName", "options": name}, "properties": [{"id": "custom.hidden", "value": True}]}

def table_overrides(extra_hidden):
    o = [hidden(n) for n in ["Line", "tsNs", "id", "labels", "labelTypes", "job", "type", "service_name",
                               "detected_level", "window_from", "window_to", "kind_extracted", "severity_extracted"] + extra_hidden]
    o.append({"matcher": {"id": "byName", "options": "endpoint"}, "properties": [{"id": "links", "value": LINKS}]})
    o.append({"matcher": {"id": "byName", "options": "severity"}, "properties": [
        {"id": "mappings", "value": [{"type": "value", "options": {s: {"color": c, "index": i, "text": s} for i, (s, c) in enumerate(SEV_COLORS.items())}}]},
        {"id": "custom.cellOptions", "value": {"type": "color-background", "mode": "basic"}}, {"id": "custom.width", "value": 90}]})
    o.append({"matcher": {"id": "byName", "options": "score"}, "properties": [
        {"id": "unit", "value": "percentunit"}, {"id": "decimals", "value": 0},
        {"id": "thresholds", "value": thresholds((0.8, "orange"), (0.95, "red"))},
        {"id": "custom.cellOptions", "value": {"type": "color-text"}}, {"id": "custom.width", "value": 70}]})
    o.append({"matcher": {"id": "byName", "options": "line"}, "properties": [
        {"id": "displayName", "value": "original line"}, {"id": "custom.inspect", "value": True}]})
    o.append({"matcher": {"id": "byName", "options": "Time"}, "properties": [{"id": "custom.width", "value": 170}]})
    return o

TABLE_OPTS = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"], "countRows": False, "fields": ""},
              "sortBy": [{"displayName": "Time", "desc": True}]}
TABLE_DEFAULTS = {"custom": {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False, "filterable": True},
                  "thresholds": thresholds(), "color": {"mode": "thresholds"}}

def table_transforms(order):
    return [{"id": "extractFields", "options": {"source": "labels", "format": "auto", "replace": False, "keepTime": False}},
            {"id": "organize", "options": {"indexByName": {n: i for i, n in enumerate(order)}, "renameByName": {}, "excludeByName": {}}}]

panel("table", "Recent incidents", 0, 24, 10,
      [loki(f'{{job="anomaly-detector", {K}}} | json | type="incident" | {WINDOW}')],
      "Incidents pushed by the detector (opened, updated, resolved), newest first. The endpoint links to the demo-app logs in Explore from 5 minutes before the incident to 5 minutes after.",
      TABLE_DEFAULTS, table_overrides([]), TABLE_OPTS, ds=LOKI,
      transformations=table_transforms(["Time", "state", "severity", "kind", "endpoint", "client", "count", "score", "reason", "detectors", "first_seen", "last_seen", "line"]))
y += 10
panel("table", "Recent anomalous lines", 0, 24, 10,
      [loki(f'{{job="anomaly-detector", {K}}} | json | type="anomaly" | {WINDOW}')],
      "Every anomalous line with the detector's reason and the original (redacted) log line. Needs outputs.loki_push.include_anomalies = true.",
      TABLE_DEFAULTS, table_overrides(["count", "first_seen", "last_seen"]), TABLE_OPTS, ds=LOKI,
      transformations=table_transforms(["Time", "severity", "kind", "endpoint", "client", "score", "reason", "detectors", "line"]))
y += 10

# ---------------------------------------------------------------- response time and status
row("Response time and status codes")
LAT = thresholds((0.5, "yellow"), (1, "red"))
panel("timeseries", "p95 response time per endpoint", 0, 12, 8,
      [prom(f'histogram_quantile(0.95, sum by (le, endpoint) (rate(anomaly_detector_response_time_seconds_bucket{{{E}}}[$__rate_interval])))', "{{endpoint}}")],
      "95th percentile of the response times in the logs, per endpoint (top-K endpoints plus other).",
      ts_defaults("s", "", th=LAT), options=TS_OPTS_TABLE)
panel("timeseries", "Response time percentiles (selected endpoints)", 12, 12, 8,
      [prom(f'histogram_quantile({q}, sum by (le) (rate(anomaly_detector_response_time_seconds_bucket{{{E}}}[$__rate_interval])))', f"p{int(q*100)}", ref=r)
       for q, r in [(0.5, "A"), (0.95, "B"), (0.99, "C")]],
      "p50, p95 and p99 over the selected endpoints.",
      ts_defaults("s", "", th=LAT), options=TS_OPTS)
y += 8
panel("timeseries", "Requests by status class", 0, 12, 8,
      [prom(f'sum by (status_class) (rate(anomaly_detector_requests_total{{{E}}}[$__rate_interval]))', "{{status_class}}")],
      "Requests per second seen in the logs, by status class.",
      ts_defaults("reqps", "", stack=True, fill=40),
      [{"matcher": {"id": "byName", "options": n}, "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": c}}]}
       for n, c in [("2xx", "green"), ("3xx", "blue"), ("4xx", "yellow"), ("5xx", "red")]], TS_OPTS)
panel("bargauge", "5xx ratio per endpoint", 12, 12, 8,
      [prom(f'sort_desc((sum by (endpoint) (rate(anomaly_detector_requests_total{{{E}, status_class="5xx"}}[$__rate_interval]))'
            f' or 0 * sum by (endpoint) (rate(anomaly_detector_requests_total{{{E}}}[$__rate_interval])))'
            f' / sum by (endpoint) (rate(anomaly_detector_requests_total{{{E}}}[$__rate_interval])))', "{{endpoint}}", instant=True)],
      "Share of 5xx answers per endpoint, now.",
      {"unit": "percentunit", "decimals": 1, "min": 0, "max": 1, "color": {"mode": "thresholds"},
       "thresholds": thresholds((0.01, "yellow"), (0.05, "red"))},
      options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}, "orientation": "horizontal",
               "displayMode": "basic", "showUnfilled": True, "valueMode": "color", "namePlacement": "auto",
               "sizing": "auto", "minVizHeight": 16, "minVizWidth": 8, "maxVizHeight": 300})
y += 8

# ---------------------------------------------------------------- messages
row("Messages (application logs)")
panel("timeseries", "Message templates per service", 0, 8, 8,
      [prom('sum by (service) (anomaly_detector_patterns)', "{{service}}")],
      "Templates the detector keeps for each service's application-log messages (lines that are not requests).",
      ts_defaults("short", "templates"), options=TS_OPTS)
panel("timeseries", "New templates in the last hour", 8, 8, 8,
      [prom('sum by (service) (anomaly_detector_patterns_new)', "{{service}}")],
      "Templates first seen after the history, in the last hour, per service. New warnings and errors are also reported as pattern:new anomalies.",
      ts_defaults("short", "templates", bars=True), options=TS_OPTS)
panel("timeseries", "Message anomalies by detector", 16, 8, 8,
      [prom(f'sum by (detector) (increase(anomaly_detector_anomalies_total{{kind="pattern"}}[$__interval]))', "{{detector}}")],
      "pattern:new (a new or rare error message), pattern:rate (a template surging), pattern:level (the share of warnings and errors surging), pattern:param (a measure far off its usual values).",
      ts_defaults("short", "anomalies", stack=True, bars=True), options=TS_OPTS)
y += 8
panel("timeseries", "Flagged message templates over time (from Loki)", 0, 24, 8,
      [loki('sum by (endpoint) (count_over_time({job="anomaly-detector"} | json | type="anomaly" | kind="pattern" [$__interval]))', legend="{{endpoint}}")],
      "Anomalous application-log lines the detector pushed to Loki, by service and template (needs outputs.loki_push.include_anomalies = true).",
      ts_defaults("short", "lines", stack=True, bars=True), options=TS_OPTS_TABLE, ds=LOKI)
y += 8

# ---------------------------------------------------------------- health
row("Detector health")
def upmap():
    return [{"type": "value", "options": {"0": {"text": "down", "color": "red", "index": 0}, "1": {"text": "up", "color": "green", "index": 1}}}]
panel("stat", "Detector", 0, 3, 4, [prom('up{job="anomaly-detector"}', "{{instance}}")],
      "Whether Prometheus can scrape the detector.",
      {"mappings": upmap(), "color": {"mode": "thresholds"}, "thresholds": {"mode": "absolute", "steps": [{"color": "red", "value": None}, {"color": "green", "value": 1}]}},
      options=stat_opts(color_mode="background", graph="none"))
panel("stat", "Ready", 3, 3, 4, [prom('anomaly_detector_ready', "ready")],
      "1 once the source has answered and the pipeline runs (/readyz).",
      {"mappings": [{"type": "value", "options": {"0": {"text": "not ready", "color": "orange", "index": 0}, "1": {"text": "ready", "color": "green", "index": 1}}}],
       "color": {"mode": "thresholds"}, "thresholds": {"mode": "absolute", "steps": [{"color": "orange", "value": None}, {"color": "green", "value": 1}]}},
      options=stat_opts(color_mode="background", graph="none"))
panel("stat", "Lag", 6, 3, 4, [prom('max(anomaly_detector_lag_seconds)', "lag")],
      "How far the read cursor is behind now (includes loki.query_delay_secs).",
      {"unit": "s", "decimals": 0, "color": {"mode": "thresholds"}, "thresholds": thresholds((120, "yellow"), (600, "red"))},
      options=stat_opts())
panel("stat", "Since last successful read", 9, 3, 4,
      [prom('time() - max(anomaly_detector_last_success_timestamp_seconds)', "age")],
      "Time since the source last answered successfully.",
      {"unit": "s", "decimals": 0, "color": {"mode": "thresholds"}, "thresholds": thresholds((300, "yellow"), (900, "red"))},
      options=stat_opts(graph="none"))
panel("stat", "Models", 12, 12, 4,
      [prom('anomaly_detector_model_trained', "{{model}}"), prom('anomaly_detector_model_training_events', "{{model}} events", ref="B")],
      "Training state of each model: until trained, the detector runs rules only. Events = size of the last training set.",
      {"mappings": [], "color": {"mode": "thresholds"}, "thresholds": thresholds()},
      [{"matcher": {"id": "byFrameRefID", "options": "A"}, "properties": [
          {"id": "mappings", "value": [{"type": "value", "options": {"0": {"text": "training", "color": "orange", "index": 0}, "1": {"text": "trained", "color": "green", "index": 1}}}]}]}],
      stat_opts(text_mode="value_and_name", color_mode="background", graph="none"))
y += 4
panel("timeseries", "Lines read, unparsed and skipped", 0, 8, 8,
      [prom('sum by (source) (rate(anomaly_detector_lines_read_total[$__rate_interval]))', "read {{source}}"),
       prom('sum by (source) (rate(anomaly_detector_lines_unparsed_total[$__rate_interval]))', "unparsed {{source}}", ref="B"),
       prom('sum by (reason) (rate(anomaly_detector_lines_skipped_total[$__rate_interval]))', "skipped {{reason}}", ref="C")],
      "Lines per second received from the source (after de-duplication), lines that did not parse and lines not analysed (never silent).",
      ts_defaults("short", "lines / s"), options=TS_OPTS)
panel("timeseries", "Loki queries by outcome", 8, 8, 8,
      [prom('sum by (outcome) (rate(anomaly_detector_loki_requests_total[$__rate_interval]))', "{{outcome}}"),
       prom('histogram_quantile(0.95, sum by (le) (rate(anomaly_detector_loki_request_duration_seconds_bucket[$__rate_interval])))', "p95 duration", ref="B")],
      "query_range requests per second by outcome (ok, http_4xx, http_5xx, timeout, connect, decode), and their p95 duration (right axis).",
      ts_defaults("reqps", ""),
      [{"matcher": {"id": "byName", "options": "ok"}, "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": "green"}}]},
       {"matcher": {"id": "byRegexp", "options": "^(http_4xx|http_5xx|timeout|connect|decode)$"}, "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}}]},
       {"matcher": {"id": "byName", "options": "p95 duration"}, "properties": [{"id": "unit", "value": "s"}, {"id": "custom.axisPlacement", "value": "right"}]}],
      TS_OPTS)
panel("timeseries", "Findings pushed and alerts sent", 16, 8, 8,
      [prom('sum by (channel, outcome) (increase(anomaly_detector_alerts_total[$__interval]))', "{{channel}} {{outcome}}")],
      "Loki pushes (channel loki_push) and alert notifications by outcome; anything but sent means findings were lost (queue_full, failed, rejected).",
      ts_defaults("short", "per interval", bars=True), options=TS_OPTS)
y += 8

dashboard = {
    "uid": "anomaly-detection",
    "title": "Anomaly detection",
    "description": "What the anomaly detector found in the application logs, the traffic it analysed and its own health.",
    "tags": ["anomaly-detector", "logs", "loki"],
    "timezone": "browser",
    "editable": True,
    "graphTooltip": 1,
    "refresh": "30s",
    "schemaVersion": 39,
    "version": 1,
    "liveNow": False,
    "fiscalYearStartMonth": 0,
    "time": {"from": "now-1h", "to": "now"},
    "timepicker": {"refresh_intervals": ["10s", "30s", "1m", "5m", "15m"]},
    "links": [{"title": "Explore the demo-app logs", "type": "link", "url": "/explore?schemaVersion=1&orgId=1&panes=" +
               urllib.parse.quote(json.dumps({"logs": {"datasource": "loki", "queries": [{"refId": "A", "datasource": LOKI, "expr": '{job="demo-app"}'}], "range": {"from": "now-1h", "to": "now"}}}, separators=(",", ":")), safe=""),
               "icon": "doc", "tooltip": "", "asDropdown": False, "includeVars": False, "keepTime": True, "targetBlank": True, "tags": []}],
    "annotations": {"list": [
        {"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
         "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"},
        {"datasource": LOKI, "enable": True, "hide": False, "iconColor": "red", "name": "Incidents",
         "target": {"refId": "Anno", "datasource": LOKI,
                    "expr": '{job="anomaly-detector"} | json | type="incident" | state="opened" | line_format `{{.severity}} {{.kind}} incident on {{.endpoint}}: {{.reason}}`'}}]},
    "templating": {"list": [
        {"name": "kind", "label": "Kind", "type": "custom", "query": "behavioral,response_time,status_code,suspicious,volume",
         "multi": True, "includeAll": True, "allValue": ".*", "current": {"text": ["All"], "value": ["$__all"]},
         "options": [], "hide": 0, "skipUrlSync": False},
        {"name": "endpoint", "label": "Endpoint", "type": "query", "datasource": PROM,
         "query": {"query": "label_values(anomaly_detector_requests_total, endpoint)", "refId": "endpoint"},
         "refresh": 2, "sort": 1, "multi": True, "includeAll": True, "allValue": ".*",
         "current": {"text": ["All"], "value": ["$__all"]}, "options": [], "hide": 0, "regex": "", "skipUrlSync": False}]},
    "panels": panels,
}
OUT = "monitoring/grafana/dashboards/anomaly-detection.json"
text = json.dumps(dashboard, indent=2) + "\n"
if "--check" in sys.argv:
    with open(OUT) as f:
        if f.read() != text:
            sys.exit(f"{OUT} differs from tests/stack/generate_dashboard.py: regenerate it (or port the edit)")
    print(f"{OUT} matches its generator ({len(panels)} panels)")
else:
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {OUT} ({len(panels)} panels)")
