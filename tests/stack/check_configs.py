"""Checks on the stack's configs that no linter makes: the contract between compose, Promtail, Loki,
Prometheus and Grafana (low-cardinality labels, pinned images, health-gated start order, fixed
datasource uids).

Usage: python check_configs.py REPO_ROOT COMPOSE_CONFIG.json
(COMPOSE_CONFIG.json = `docker-compose config --format json`, i.e. compose-go's normalised model.)
"""

import json
import re
import sys
from pathlib import Path

import yaml

root = Path(sys.argv[1])
compose = json.loads(Path(sys.argv[2]).read_text())
problems = []


def check(cond, msg):
    if not cond:
        problems.append(msg)


# --- compose
services = compose["services"]
check(set(services) == {"demo-app", "traffic", "promtail", "loki", "anomaly-detector", "prometheus", "grafana"},
      f"services: {sorted(services)}")
for name, s in services.items():
    image = s.get("image", "")
    check(re.search(r":[A-Za-z0-9_.-]+$", image) and not image.endswith(":latest"), f"{name}: image {image!r} is not pinned")
    check("healthcheck" in s and s["healthcheck"].get("test"), f"{name}: no healthcheck")
    for dep, cond in (s.get("depends_on") or {}).items():
        check(cond.get("condition") == "service_healthy", f"{name}: depends_on {dep} without condition service_healthy")
pins = {"loki": "grafana/loki:3.4.6", "promtail": "grafana/promtail:3.4.6"}
for name, image in pins.items():
    check(services[name]["image"] == image, f"{name}: expected {image} (the fixtures' version)")
check(re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", services["prometheus"]["image"]), "prometheus: exact vX.Y.Z tag")
check(re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", services["grafana"]["image"]), "grafana: exact X.Y.Z tag")
ports = {p["published"] for s in services.values() for p in s.get("ports", [])}
check({"5000", "3100", "9797", "9090", "3000"} <= {str(p) for p in ports}, f"published ports: {sorted(ports)}")
for name, s in services.items():
    for p in s.get("ports", []):
        check(p.get("host_ip") == "127.0.0.1", f"{name}: port {p['published']} is published beyond 127.0.0.1")
check("--web.enable-lifecycle" not in services["prometheus"].get("command", []), "prometheus: --web.enable-lifecycle")
check(services["grafana"]["environment"].get("GF_SECURITY_ADMIN_PASSWORD"), "grafana: no admin password")
det = services["anomaly-detector"]
check(det["healthcheck"]["test"][:2] == ["CMD", "/usr/local/bin/anomaly-detector"], "detector healthcheck uses the binary")
check(det["environment"].get("ANOMALY_DETECTOR__SERVER__LISTEN") == "0.0.0.0:9797", "detector listens on 0.0.0.0:9797")
check(det["environment"].get("ANOMALY_DETECTOR__LOKI__URL") == "http://loki:3100", "detector reads loki:3100")
check(det["environment"].get("ANOMALY_DETECTOR__SERVER__API_TOKEN"), "detector on 0.0.0.0 without an API token")
traffic = services["traffic"]
check(traffic["image"] == services["demo-app"]["image"] and traffic["command"][:1] == ["traffic"],
      "traffic: the demo-app image running `traffic`")
check(traffic["command"][1:] == ["http://demo-app:5000"], "traffic drives http://demo-app:5000")
check(set(traffic.get("depends_on") or {}) >= {"demo-app", "anomaly-detector"}, "traffic waits for the app and the detector")
check(not traffic.get("ports"), "traffic publishes no port")
volume_targets = {v["target"] for s in services.values() for v in s.get("volumes", []) if v["type"] == "volume"}
for t in ["/loki", "/var/lib/anomaly-detector", "/var/lib/grafana"]:
    check(t in volume_targets, f"no named volume at {t}")
for s in services.values():
    for v in s.get("volumes", []):
        if v["type"] == "bind":
            check(Path(v["source"]).exists(), f"bind mount source {v['source']} does not exist")
            check(v.get("read_only"), f"bind mount {v['source']} should be read-only")

# --- promtail: low-cardinality labels only, JSON timestamp
promtail = yaml.safe_load((root / "promtail/promtail-config.yaml").read_text())
allowed = {"job", "service", "level", "status_class"}
for sc in promtail["scrape_configs"]:
    for st in sc.get("static_configs", []):
        labels = {k for k in st.get("labels", {}) if not k.startswith("__")}
        check(labels <= allowed, f"promtail {sc['job_name']}: static labels {labels - allowed} are not low-cardinality")
    stages = sc.get("pipeline_stages", [])
    kinds = [next(iter(st)) for st in stages]
    check("json" in kinds and "timestamp" in kinds, f"promtail {sc['job_name']}: needs json + timestamp stages")
    for st in stages:
        if "labels" in st:
            check(set(st["labels"]) <= allowed, f"promtail {sc['job_name']}: label stage {set(st['labels']) - allowed}")
        if "timestamp" in st:
            check(st["timestamp"]["source"] == "time", "promtail: timestamp from the line's `time`")
check(promtail["clients"][0]["url"] == "http://loki:3100/loki/api/v1/push", "promtail pushes to loki:3100")

# --- loki: single binary, filesystem, tsdb v13, structured metadata
loki = yaml.safe_load((root / "loki/loki-config.yaml").read_text())
schema = loki["schema_config"]["configs"][-1]
check((schema["store"], schema["object_store"], schema["schema"]) == ("tsdb", "filesystem", "v13"), f"loki schema {schema}")
check(loki["limits_config"].get("allow_structured_metadata") is True, "loki: allow_structured_metadata")
check("filesystem" in loki["common"]["storage"], "loki: filesystem storage")

# --- grafana provisioning: fixed uids the dashboard uses
ds = yaml.safe_load((root / "monitoring/grafana/provisioning/datasources/datasources.yml").read_text())["datasources"]
check({(d["uid"], d["type"]) for d in ds} == {("prometheus", "prometheus"), ("loki", "loki")}, f"datasources {ds}")
urls = {d["uid"]: d["url"] for d in ds}
check(urls == {"prometheus": "http://prometheus:9090", "loki": "http://loki:3100"}, f"datasource urls {urls}")
prov = yaml.safe_load((root / "monitoring/grafana/provisioning/dashboards/dashboards.yml").read_text())["providers"][0]
graf_mounts = {v["target"]: v["source"] for v in services["grafana"]["volumes"] if v["type"] == "bind"}
check(prov["options"]["path"] in graf_mounts, "dashboard provider path is mounted")
dash_uids = set(re.findall(r'"uid": "([^"]+)"', (root / "monitoring/grafana/dashboards/anomaly-detection.json").read_text()))
check(dash_uids <= {"prometheus", "loki", "-- Grafana --", "anomaly-detection"}, f"dashboard uids {dash_uids}")

# --- prometheus scrapes the detector's service name and port
prom = yaml.safe_load((root / "monitoring/prometheus/prometheus.yml").read_text())
targets = [t for sc in prom["scrape_configs"] if sc["job_name"] == "anomaly-detector" for st in sc["static_configs"] for t in st["targets"]]
check(targets == ["anomaly-detector:9797"], f"prometheus targets {targets}")

if problems:
    print("stack config problems:\n- " + "\n- ".join(problems), file=sys.stderr)
    sys.exit(1)
print("stack configs consistent: compose, promtail, loki, grafana provisioning, prometheus")
