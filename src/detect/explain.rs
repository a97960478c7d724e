//! Turns model and rule verdicts into an [`Anomaly`] that explains itself: the detectors, a score,
//! a severity from how far past its threshold the evidence is, and a sentence a person can act on.

use super::engine::Trained;
use super::gates::{BURST_GATE, REMARKABLE_SIGMA, RT_GATE_IN_SPIKE_Z, SCAN_GATE};
use super::rules::{shorten, RuleMatch};
use super::{Anomaly, AnomalyKind, FeatureContribution};
use crate::config::Severity;
use crate::features::{Column, Evidence, FeatureRow, Vectors};

/// One reason to flag a line.
#[derive(Debug, Clone)]
pub enum Verdict {
    Rule(RuleMatch),
    /// A client collecting error responses fast (a scanner that a path rule did not name).
    ErrorScanning,
    ResponseTime,
    StatusCode,
    Forest {
        score: f64,
        threshold: f64,
    },
}

impl Verdict {
    fn detector(&self) -> String {
        match self {
            Verdict::Rule(m) => format!("rule:{}", m.name),
            Verdict::ErrorScanning => "rule:error_scanning".into(),
            Verdict::ResponseTime => "ocsvm_response_time".into(),
            Verdict::StatusCode => "ocsvm_status_code".into(),
            Verdict::Forest { .. } => "isolation_forest".into(),
        }
    }
}

/// Kind precedence when several detectors agree: the most specific explanation wins.
fn rank(kind: AnomalyKind) -> u8 {
    match kind {
        AnomalyKind::Suspicious => 0,
        AnomalyKind::StatusCode => 1,
        AnomalyKind::ResponseTime => 2,
        AnomalyKind::Volume => 3,
        AnomalyKind::Behavioral => 4,
        AnomalyKind::Pattern => 5,
    }
}

fn rule_score(s: Severity) -> f64 {
    match s {
        Severity::Low => 0.55,
        Severity::Medium => 0.7,
        Severity::High => 0.85,
        Severity::Critical => 0.97,
    }
}

/// Maps evidence beyond a gate to (0.5, 1): 0.5 at the gate, approaching 1 far beyond it.
fn beyond(excess: f64, scale: f64) -> f64 {
    0.5 + 0.5 * (1.0 - (-excess.max(0.0) / scale).exp())
}

pub(crate) fn fmt_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

fn fmt_bytes(b: f64) -> String {
    if b >= 1_048_576.0 {
        format!("{:.1} MB", b / 1_048_576.0)
    } else if b >= 1024.0 {
        format!("{:.1} kB", b / 1024.0)
    } else {
        format!("{b:.0} B")
    }
}

fn pct(x: f64) -> String {
    if x < 0.01 {
        format!("{:.2} %", x * 100.0)
    } else {
        format!("{:.1} %", x * 100.0)
    }
}

fn severity_rt(ev: &Evidence) -> Severity {
    let ratio = ev.rt_ms.unwrap_or(0.0) / ev.rt_median_ms.max(1e-3);
    match ratio {
        r if r >= 30.0 => Severity::Critical,
        r if r >= 10.0 => Severity::High,
        r if r >= 4.0 => Severity::Medium,
        _ => Severity::Low,
    }
}

fn severity_burst(ev: &Evidence) -> Severity {
    let f = ev.endpoint_recent_errors / ev.endpoint_recent.max(1.0);
    match f {
        f if f >= 0.8 => Severity::Critical,
        f if f >= 0.5 => Severity::High,
        f if f >= 0.2 => Severity::Medium,
        _ => Severity::Low,
    }
}

fn severity_forest(score: f64, threshold: f64) -> Severity {
    let m = (score - threshold) / (1.0 - threshold).max(1e-6);
    match m {
        m if m >= 0.45 => Severity::Critical,
        m if m >= 0.25 => Severity::High,
        m if m >= 0.1 => Severity::Medium,
        _ => Severity::Low,
    }
}

/// The features a behavioral reason names: at most two that drove the verdict (share of the
/// isolation > 0.15, `ranked` by share) and are remarkable themselves, since a feature can take a
/// share while sitting close to its baseline; else the most extreme one. A feature that is only
/// better than usual (`benign(i)`: faster, fewer errors) is never named as the cause.
fn features_to_name(ranked: &[(usize, f64)], vals: &[f64], benign: impl Fn(usize) -> bool) -> Vec<usize> {
    let remarkable = |i: usize| vals.get(i).is_some_and(|v| v.abs() >= REMARKABLE_SIGMA) && !benign(i);
    let mut shown: Vec<usize> =
        ranked.iter().filter(|&&(i, share)| share > 0.15 && remarkable(i)).map(|&(i, _)| i).take(2).collect();
    if shown.is_empty() {
        shown.extend((0..vals.len()).filter(|&i| !benign(i)).max_by(|&a, &b| vals[a].abs().total_cmp(&vals[b].abs())));
    }
    shown
}

/// Columns where a value below the baseline is good news (faster, fewer errors).
fn low_is_good(c: Column) -> bool {
    matches!(c, Column::ResponseTime | Column::EndpointLatency | Column::EndpointErrorRate | Column::ClientErrorRate)
}

/// How one scaled feature reads to a person.
fn describe_feature(c: Column, value: f64, ev: &Evidence) -> String {
    match c {
        Column::ResponseTime => match ev.rt_ms {
            Some(rt) => format!("response time {} vs median {}", fmt_ms(rt), fmt_ms(ev.rt_median_ms)),
            None => "no response time".into(),
        },
        Column::Bytes => match ev.bytes {
            Some(b) => {
                let ratio = b / ev.bytes_median.max(1.0);
                let times = if ratio >= 10.0 { format!("{ratio:.0}×") } else { format!("{ratio:.2}×") };
                format!("response size {} ({times} its median {})", fmt_bytes(b), fmt_bytes(ev.bytes_median))
            }
            None => "no response size".into(),
        },
        Column::Status => match ev.status {
            Some(s) if !ev.known_endpoint => format!("status {s} on an endpoint with no history"),
            Some(s) => format!("status {s} (seen on {} of its requests)", pct(ev.status_probability)),
            None => "no status".into(),
        },
        Column::EndpointErrorRate => format!(
            "about {:.0} of the endpoint's last {} were 5xx",
            ev.endpoint_recent_errors,
            counted(ev.endpoint_recent, "request")
        ),
        Column::EndpointLatency => format!("endpoint latency running {value:+.1}σ from baseline"),
        Column::ClientErrorRate => format!(
            "client got about {} in its last {}",
            counted(ev.client_recent_errors, "error"),
            counted(ev.client_recent, "request")
        ),
        Column::ClientRate => format!("client sent about {} in the last minute", counted(ev.client_recent, "request")),
        Column::NewEndpoint => "endpoint never seen in training".into(),
        Column::QueryLength => format!("query string length score {value:.1}"),
    }
}

/// "1 request", "14 requests" (a decayed count, rounded).
fn counted(n: f64, noun: &str) -> String {
    let n = n.round();
    if n == 1.0 {
        format!("1 {noun}")
    } else {
        format!("{n:.0} {noun}s")
    }
}

/// Build the anomaly for a trained detector.
pub(crate) fn anomaly(
    row: &FeatureRow,
    verdicts: &[Verdict],
    v: Option<&Vectors>,
    t: &Trained,
    columns: &[Column],
) -> Anomaly {
    let e = &row.event;
    let ev = v.map(|v| v.evidence).unwrap_or_default();
    let mut parts: Vec<(AnomalyKind, Severity, f64, String)> = Vec::new();
    let mut features = Vec::new();
    for verdict in verdicts {
        match verdict {
            Verdict::Rule(m) => parts.push((AnomalyKind::Suspicious, m.severity, rule_score(m.severity), m.reason.clone())),
            Verdict::ErrorScanning => parts.push((
                AnomalyKind::Suspicious,
                Severity::Medium,
                beyond(ev.client_error_surprise - SCAN_GATE, 6.0),
                format!(
                    "client {} received about {:.0} error responses in its last {:.0} requests (typical: {} of requests)",
                    e.client.as_deref().unwrap_or("?"),
                    ev.client_recent_errors,
                    ev.client_recent,
                    pct(t.baselines.client_error_rate)
                ),
            )),
            Verdict::ResponseTime => {
                let rt = ev.rt_ms.unwrap_or(0.0);
                parts.push((
                    AnomalyKind::ResponseTime,
                    severity_rt(&ev),
                    beyond(ev.rt_z - RT_GATE_IN_SPIKE_Z, 4.0),
                    format!(
                        "{} took {}; its baseline median is {} and p99 {}",
                        e.endpoint,
                        fmt_ms(rt),
                        fmt_ms(ev.rt_median_ms),
                        fmt_ms(ev.rt_p99_ms)
                    ),
                ));
            }
            Verdict::StatusCode => parts.push((
                AnomalyKind::StatusCode,
                severity_burst(&ev).max(Severity::Medium),
                beyond(ev.endpoint_error_surprise - BURST_GATE, 6.0),
                format!(
                    "{} returned {}; about {:.0} of its last {:.0} requests failed ({} {} 5xx)",
                    e.endpoint,
                    ev.status.map_or("?".to_string(), |s| s.to_string()),
                    ev.endpoint_recent_errors,
                    ev.endpoint_recent,
                    // A new endpoint has no rate of its own: it is judged against the site's.
                    if ev.known_endpoint { "baseline" } else { "a new endpoint; the site's baseline is" },
                    pct(ev.endpoint_error_rate)
                ),
            )),
            Verdict::Forest { score, threshold } => {
                let shares = match (&t.forest, v) {
                    (Some(f), Some(v)) => f.model.explain(&v.forest),
                    _ => Vec::new(),
                };
                let mut ranked: Vec<(usize, f64)> = shares.iter().copied().enumerate().collect();
                ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
                let vals = v.map(|v| v.forest.as_slice()).unwrap_or(&[]);
                features = ranked
                    .iter()
                    .take(3)
                    .filter_map(|&(i, share)| {
                        Some(FeatureContribution { feature: columns.get(i)?.name().into(), value: *vals.get(i)?, share })
                    })
                    .collect();
                let benign = |i: usize| columns.get(i).is_some_and(|&c| low_is_good(c)) && vals.get(i).is_some_and(|&v| v < 0.0);
                let top: Vec<String> = features_to_name(&ranked, vals, benign)
                    .into_iter()
                    .filter_map(|i| Some(describe_feature(*columns.get(i)?, *vals.get(i)?, &ev)))
                    .collect();
                parts.push((
                    AnomalyKind::Behavioral,
                    severity_forest(*score, *threshold),
                    *score,
                    format!("unusual request to {}: {}", e.endpoint, if top.is_empty() { "rare combination of features".into() } else { top.join("; ") }),
                ));
            }
        }
    }
    assemble(row, verdicts, parts, features)
}

/// Build the anomaly before any model is trained (rules only).
pub(crate) fn rules_only(row: &FeatureRow, verdicts: &[Verdict]) -> Anomaly {
    let parts = verdicts
        .iter()
        .filter_map(|v| match v {
            Verdict::Rule(m) => Some((AnomalyKind::Suspicious, m.severity, rule_score(m.severity), m.reason.clone())),
            _ => None,
        })
        .collect();
    assemble(row, verdicts, parts, Vec::new())
}

fn assemble(
    row: &FeatureRow,
    verdicts: &[Verdict],
    mut parts: Vec<(AnomalyKind, Severity, f64, String)>,
    features: Vec<FeatureContribution>,
) -> Anomaly {
    let e = &row.event;
    parts.sort_by(|a, b| rank(a.0).cmp(&rank(b.0)).then(b.1.cmp(&a.1)));
    let kind = parts.first().map_or(AnomalyKind::Behavioral, |p| p.0);
    let severity = parts.iter().map(|p| p.1).max().unwrap_or(Severity::Low);
    let score = parts.iter().map(|p| p.2).fold(0.0_f64, f64::max).clamp(0.0, 1.0);
    let mut reasons: Vec<String> = Vec::new();
    // The forest's sentence only repeats a more specific verdict's evidence: keep it for lines only
    // the forest flagged (it stays among the detectors either way).
    let specific = parts.iter().any(|p| p.0 != AnomalyKind::Behavioral);
    for p in parts.iter().filter(|p| !(specific && p.0 == AnomalyKind::Behavioral)) {
        if !reasons.contains(&p.3) {
            reasons.push(p.3.clone());
        }
    }
    let mut detectors: Vec<String> = verdicts.iter().map(Verdict::detector).collect();
    detectors.dedup();
    Anomaly {
        line: (e.raw.line_no > 0).then_some(e.raw.line_no),
        timestamp: e.time,
        kind,
        detectors,
        score,
        severity,
        endpoint: e.endpoint.clone(),
        client: e.client.clone(),
        session: None,
        reason: shorten(&reasons.join(". "), 600),
        features,
        raw: Some(e.raw.line.clone()),
    }
}

#[cfg(test)]
mod tests {
    /// In demo, a reason named "endpoint latency running -1.4σ from baseline" next to the real cause.
    #[test]
    fn behavioral_reasons_name_only_remarkable_features() {
        // Feature 1 (40× the median size) is the cause; feature 4 took a share at -1.4σ.
        let none = |_: usize| false;
        let vals = [0.3, 7.9, 0.0, 0.0, -1.4];
        assert_eq!(super::features_to_name(&[(1, 0.5), (4, 0.3), (0, 0.1)], &vals, none), [1]);
        assert_eq!(super::features_to_name(&[(4, 0.4), (1, 0.35), (2, 0.2)], &vals, none), [1]);
        // Two remarkable drivers are both named, in order of share.
        let vals = [0.3, 7.9, 0.0, -5.5, 0.0];
        assert_eq!(super::features_to_name(&[(3, 0.45), (1, 0.4)], &vals, none), [3, 1]);
        // Nothing remarkable with a share: the most extreme feature.
        assert_eq!(super::features_to_name(&[(0, 0.9)], &[0.3, -2.5, 1.0], none), [1]);
        // An endpoint running 7σ faster than usual is not what made a line anomalous.
        let vals = [0.3, 6.0, 0.0, -7.0];
        assert_eq!(super::features_to_name(&[(3, 0.6), (1, 0.3)], &vals, |i| i == 3), [1]);
        assert_eq!(super::features_to_name(&[(3, 0.9)], &[0.1, 0.2, 0.0, -7.0], |i| i == 3), [1]);
    }

    #[test]
    fn counts_read_as_english() {
        assert_eq!(super::counted(1.2, "error"), "1 error");
        assert_eq!(super::counted(0.4, "error"), "0 errors");
        assert_eq!(super::counted(13.6, "request"), "14 requests");
    }
}
