//! The fake Loki reproduces every recorded fixture it can from that fixture's data
//! (`tests/fixtures/loki/manifest.json` + README): same status, same text/plain error body, same
//! result streams with the same entries in the same order.
//!
//! The data set is rebuilt from the recorded bodies themselves (every line shown in any fixture), plus
//! placeholder lines for the `{host="api-1"}` lines no fixture shows (their timestamps are in the
//! README). Result-stream labels that are structured metadata (`detected_level`, `trace_id`) are pushed
//! as metadata, so the fake's label merging is what rebuilds the recorded streams.
//!
//! Not reproducible, and listed in `NOT_REPRODUCED` with the reason: fixtures that need LogQL parsers
//! (`| json`, `| logfmt`, `unwrap`), the `categorize-labels` encoding, `max_query_series`, and push
//! validations the fake does not implement.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use support::fake_loki::{FakeLoki, MetaEntry};
use support::{fixture, fixture_path};

const INDEXED: [&str; 7] = ["job", "env", "host", "service_name", "filename", "level", "id"];

const NOT_REPRODUCED: [(&str, &str); 12] = [
    ("query_range_streams_categorize_labels.json", "needs `| json` and the categorize-labels encoding"),
    ("query_range_streams_json_filter_status5xx.json", "needs the `| json` parser (parsed labels)"),
    ("metric_count_over_time_matrix.json", "needs `| json` and `sum by (status)` over parsed labels"),
    ("metric_quantile_over_time_unwrap_matrix.json", "needs `unwrap` and quantile_over_time"),
    ("metric_unwrap_pipeline_error_400.txt", "needs `| logfmt | unwrap`"),
    ("error_max_query_series_400.txt", "the fake has no max_query_series limit"),
    ("push_error_entry_too_far_behind_400.txt", "the fake accepts out-of-order pushes"),
    ("push_error_partial_too_far_behind_400.txt", "the fake accepts out-of-order pushes"),
    ("push_error_invalid_label_name_400.txt", "the fake does not validate label names"),
    ("push_error_line_too_long_400.txt", "the fake has no line size limit"),
    ("push_error_too_many_labels_400.txt", "the fake has no label count limit"),
    ("push_error_rate_limited_429.txt", "the fake has no ingestion rate limit"),
];

/// Stream fixtures whose bodies hold the data set.
fn data_fixtures() -> Vec<String> {
    manifest()
        .into_iter()
        .filter(|m| m["request"]["path"] == "/loki/api/v1/query_range" && m["response"]["status"] == 200)
        .map(|m| m["file"].as_str().unwrap().to_string())
        .filter(|f| !NOT_REPRODUCED.iter().any(|(n, _)| n == f))
        .collect()
}

fn manifest() -> Vec<Value> {
    serde_json::from_str(&fixture("manifest.json")).unwrap()
}

type Labels = BTreeMap<String, String>;
/// (indexed labels, ts, line) → metadata, in first-seen order (which keeps same-timestamp push order).
type Entries = Vec<((Labels, i64, String), Labels)>;

/// Every (indexed labels, ts, line) → metadata in the recorded stream bodies, plus placeholders.
fn rebuild_data() -> Entries {
    let mut data = Entries::new();
    let mut seen = BTreeSet::new();
    // Forward answers first: their same-timestamp order is the push order.
    let mut files = data_fixtures();
    files.sort_by_key(|f| !f.contains("forward"));
    for f in files {
        let body: Value = serde_json::from_str(&fixture(&f)).unwrap();
        if body["data"]["resultType"] != "streams" {
            continue;
        }
        for s in body["data"]["result"].as_array().unwrap() {
            let all: Labels = serde_json::from_value(s["stream"].clone()).unwrap();
            let (idx, md): (Labels, Labels) = all.into_iter().partition(|(k, _)| INDEXED.contains(&k.as_str()));
            for v in s["values"].as_array().unwrap() {
                let ts: i64 = v[0].as_str().unwrap().parse().unwrap();
                let key = (idx.clone(), ts, v[1].as_str().unwrap().to_string());
                if seen.insert(key.clone()) {
                    data.push((key, md.clone()));
                }
            }
        }
    }
    // api-1 has 30 lines, 03:00:00 + 2 s steps; fixtures show only some of them.
    let api1: Labels = [("job", "webapi"), ("env", "test"), ("host", "api-1"), ("service_name", "webapi")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for i in 0..30i64 {
        let ts = 1_795_489_200_000_000_000 + i * 2_000_000_000;
        if !data.iter().any(|((l, t, _), _)| l == &api1 && *t == ts) {
            let md = Labels::from([("detected_level".to_string(), "info".to_string())]);
            data.push(((api1.clone(), ts, format!("placeholder line {i} (not shown by any fixture)")), md));
        }
    }
    data
}

async fn load(fake: &FakeLoki, data: &Entries) {
    // Push in timestamp order per stream, as Promtail and the recording script did.
    let mut by_stream: BTreeMap<Labels, Vec<MetaEntry>> = BTreeMap::new();
    for ((l, ts, line), md) in data {
        by_stream.entry(l.clone()).or_default().push((*ts, line.clone(), md.clone().into_iter().collect()));
    }
    for (l, mut entries) in by_stream {
        entries.sort_by_key(|e| e.0); // stable
        let labels: Vec<(&str, &str)> = l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        fake.push_with_metadata(&labels, entries);
    }
}

async fn replay(base: &str, m: &Value) -> (u16, String) {
    let req = &m["request"];
    let url = format!("{base}{}", req["path"].as_str().unwrap());
    let client = reqwest::Client::new();
    let mut rb = match req["method"].as_str().unwrap() {
        "POST" => client.post(url),
        _ => client.get(url),
    };
    let params: Vec<(String, String)> = req["query_params"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    rb = rb.query(&params);
    for (k, v) in req["headers"].as_object().unwrap() {
        rb = rb.header(k, v.as_str().unwrap());
    }
    if let Some(b) = req.get("body").and_then(Value::as_str) {
        rb = rb.body(b.to_string());
    }
    let resp = rb.send().await.unwrap();
    let status = resp.status().as_u16();
    if status >= 400 {
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert_eq!(ct, "text/plain; charset=utf-8", "{}: errors are text/plain", m["file"]);
    }
    (status, resp.text().await.unwrap())
}

/// Result streams of a `streams` body: labels → [(ts, line)] in body order.
fn streams_of(body: &str) -> BTreeMap<Labels, Vec<(String, String)>> {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["resultType"], "streams");
    let mut out = BTreeMap::new();
    for s in v["data"]["result"].as_array().unwrap() {
        let l: Labels = serde_json::from_value(s["stream"].clone()).unwrap();
        let vals = s["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e[0].as_str().unwrap().to_string(), e[1].as_str().unwrap().to_string()))
            .collect();
        assert!(out.insert(l, vals).is_none(), "a result stream appears twice");
    }
    out
}

#[tokio::test]
async fn fake_reproduces_every_recorded_query_and_error_fixture() {
    let fake = FakeLoki::start().await;
    load(&fake, &rebuild_data()).await;
    let mut compared = BTreeSet::new();
    let mut quirks = Vec::new();
    for m in manifest() {
        let file = m["file"].as_str().unwrap().to_string();
        let path = m["request"]["path"].as_str().unwrap();
        let wanted = matches!(path, "/loki/api/v1/query_range" | "/loki/api/v1/query" | "/loki/api/v1/nonexistent")
            || (path == "/loki/api/v1/push" && m["request"].get("body").is_some());
        if !wanted || NOT_REPRODUCED.iter().any(|(n, _)| *n == file) {
            continue;
        }
        if file.starts_with("quirk_flushed_chunk") {
            quirks.push(m);
            continue;
        }
        check(&fake, &m).await;
        compared.insert(file);
    }
    // The quirk fixtures were recorded after the ingester flushed its chunks.
    fake.flush();
    for m in quirks {
        check(&fake, &m).await;
        compared.insert(m["file"].as_str().unwrap().to_string());
    }
    for must in [
        "pagination_forward_page2_start_eq_last_ts.json",
        "pagination_backward_page2_end_oldest_ts_plus_1ns.json",
        "quirk_flushed_chunk_start_eq_last_entry_ts.json",
        "query_range_default_limit_no_limit_param.json",
        "instant_query_vector.json",
        "error_limit_exceeds_max_entries_400.txt",
        "push_error_empty_streams_422.txt",
    ] {
        assert!(compared.contains(must), "{must} was not compared");
    }
    assert!(compared.len() >= 35, "only {} fixtures compared: {compared:?}", compared.len());
}

async fn check(fake: &FakeLoki, m: &Value) {
    let file = m["file"].as_str().unwrap();
    let want_status = m["response"]["status"].as_u64().unwrap() as u16;
    let (status, body) = replay(&fake.url(), m).await;
    assert_eq!(status, want_status, "{file}: status (body {body:?})");
    let recorded = std::fs::read_to_string(fixture_path(file)).unwrap();
    match (status, file.ends_with(".json")) {
        (200, true) if recorded.contains("\"resultType\":\"streams\"") => {
            let (got, want) = (streams_of(&body), streams_of(&recorded));
            assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{file}: set of streams");
            assert_eq!(got, want, "{file}: entries per stream");
        }
        (200, true) => {
            // Metric vector: same series and sample values (and sample times).
            let norm = |b: &str| -> BTreeMap<String, String> {
                let v: Value = serde_json::from_str(b).unwrap();
                v["data"]["result"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| (s["metric"].to_string(), s["value"].to_string()))
                    .collect()
            };
            assert_eq!(norm(&body), norm(&recorded), "{file}: samples");
        }
        (_, _) if file.starts_with("push_error_malformed") || file.starts_with("push_error_bad_timestamp") => {
            // Go's JSON error texts are not reproduced; the status is.
        }
        _ => assert_eq!(body, recorded, "{file}: body text"),
    }
}

#[tokio::test]
async fn fake_records_requests_and_serves_ready() {
    let fake = FakeLoki::start().await;
    let client = reqwest::Client::new();
    let r = client.get(format!("{}/ready", fake.url())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    client
        .get(format!("{}/loki/api/v1/query_range", fake.url()))
        .query(&[("query", "{job=\"x\"}"), ("limit", "7"), ("start", "1"), ("end", "2")])
        .header("X-Scope-OrgID", "team-a")
        .send()
        .await
        .unwrap();
    let reqs = fake.requests_to("/loki/api/v1/query_range");
    assert_eq!(reqs.len(), 1);
    // Pushed lines (JSON push, as the incident sink sends them) are stored and queryable.
    let body = r#"{"streams":[{"stream":{"job":"pushed"},"values":[["1795489200000000000","one"],["1795489200000000000","two",{"trace_id":"t1"}]]}]}"#;
    let r = client
        .post(format!("{}/loki/api/v1/push", fake.url()))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let stored = fake.stored();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1].0.get("trace_id").map(String::as_str), Some("t1"));
    let r = client
        .get(format!("{}/loki/api/v1/query_range", fake.url()))
        .query(&[("query", "{job=\"pushed\"} |= \"tw\""), ("start", "1795489200"), ("end", "1795489201")])
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"]["result"][0]["values"][0][1], "two");
    assert_eq!(v["data"]["result"].as_array().unwrap().len(), 1);
    assert_eq!(reqs[0].params["limit"], "7");
    assert_eq!(reqs[0].headers["x-scope-orgid"], "team-a");
}
