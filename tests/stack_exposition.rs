//! The dashboard and the alert rules only name metrics the detector exports (names are a contract,
//! DESIGN.md). With `STACK_EXPOSITION_OUT=FILE`, also writes the exposition of a fresh `Metrics` there
//! for `scripts/check-stack.sh` (promtool check metrics, a real Prometheus scraping it).

use std::collections::BTreeSet;

use anomaly_detector::metrics::Metrics;

fn exported_names(exposition: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in exposition.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (Some(name), Some(kind)) = (parts.next(), parts.next()) else { continue };
            match kind {
                "counter" => {
                    names.insert(format!("{}_total", name.trim_end_matches("_total")));
                }
                "histogram" => {
                    for suffix in ["_bucket", "_sum", "_count"] {
                        names.insert(format!("{name}{suffix}"));
                    }
                }
                _ => {
                    names.insert(name.to_string());
                }
            }
        }
    }
    names
}

fn referenced_names(text: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"\banomaly_detector_[a-z0-9_]+").unwrap();
    re.find_iter(text).map(|m| m.as_str().to_string()).collect()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/").to_string() + rel).unwrap()
}

#[test]
fn dashboard_and_alert_rules_name_only_exported_metrics() {
    let exposition = Metrics::new().encode();
    if let Ok(out) = std::env::var("STACK_EXPOSITION_OUT") {
        std::fs::write(&out, &exposition).unwrap();
    }
    let exported = exported_names(&exposition);
    for must in [
        "anomaly_detector_anomalies_total",
        "anomaly_detector_response_time_seconds_bucket",
        "anomaly_detector_lag_seconds",
    ] {
        assert!(exported.contains(must), "{must} missing from {exported:?}");
    }
    for file in ["monitoring/grafana/dashboards/anomaly-detection.json", "monitoring/prometheus/rules/detector.yml"] {
        let used = referenced_names(&read(file));
        assert!(used.len() >= 5, "{file} names few metrics: {used:?}");
        let missing: Vec<_> = used.difference(&exported).collect();
        assert!(missing.is_empty(), "{file} uses metrics the detector does not export: {missing:?}");
    }
}
