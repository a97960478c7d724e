//! The fake Loki against the second set of recordings (`tests/fixtures/loki/v2/`): the recorded pushes
//! are replayed over HTTP in their recorded order, and after each one the recorded queries of that
//! moment are asked again. Late entries are sorted into place, an exact duplicate is dropped, the
//! per-minute counts grow with them, `/series` lists the 40 pushed streams (filtered by selector and
//! time), and paging through a same-nanosecond group behaves as recorded.
//!
//! Not replayed: the 2-3 MB `bigstream` pushes (the manifest keeps only their size), the pushes and
//! queries that depend on ingester flushes or on the 3-hour `query_ingesters_within` window, the
//! pattern-ingester instance (3101), labels endpoints, and the 400 for an entry more than 1 h behind
//! (the fake accepts out-of-order entries of any age, as Loki does once a stream went idle).

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use support::fake_loki::FakeLoki;

fn v2(name: &str) -> String {
    support::fixture(&format!("v2/{name}"))
}

fn manifest() -> Vec<Value> {
    serde_json::from_str(&v2("manifest.json")).unwrap()
}

/// Recorded requests that the fake answers as recorded, in manifest order.
const REPLAYED: [&str; 16] = [
    "late_query_range_before_late_push.json",
    "late_metric_count_per_minute_before.json",
    "late_instant_count_over_time_before.json",
    "late_query_range_after_late_push.json",
    "late_metric_count_per_minute_after.json",
    "late_instant_count_over_time_after.json",
    "late_query_range_after_duplicate_push.json",
    "series_shard_40_streams.json",
    "series_shard_regex_selector.json",
    "series_shard_pod_regex_p3x.json",
    "series_shard_partial_time_range.json",
    "query_range_shard_subset_pod_regex.json",
    "same_ts_forward_page1_limit4.json",
    "same_ts_forward_page2_start_eq_last_ts.json",
    "same_ts_forward_page3_start_eq_last_ts_again.json",
    "same_ts_exact_ns_window_limit100.json",
];

/// Pushes replayed (all with their body in the manifest).
const PUSHES: [&str; 5] = [
    "push_late_initial_204.txt",
    "push_late_inside_queried_range_204.txt",
    "push_late_same_ts_and_exact_duplicate_204.txt",
    "push_shard_40_streams_204.txt",
    "push_same_ts_two_streams_204.txt",
];

async fn send(base: &str, m: &Value) -> (u16, String) {
    let req = &m["request"];
    let client = reqwest::Client::new();
    let url = format!("{base}{}", req["path"].as_str().unwrap());
    let params: Vec<(String, String)> = req["query_params"]
        .as_object()
        .map(|o| {
            o.iter()
                .flat_map(|(k, v)| match v {
                    Value::Array(a) => a.iter().map(|x| (k.clone(), x.as_str().unwrap().to_string())).collect(),
                    other => vec![(k.clone(), other.as_str().unwrap().to_string())],
                })
                .collect()
        })
        .unwrap_or_default();
    let r = if req["method"] == "POST" {
        let body = match &req["body"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        client.post(url).header("Content-Type", "application/json").body(body).send().await.unwrap()
    } else {
        client.get(url).query(&params).send().await.unwrap()
    };
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Streams (labels → [ts, line] in order), matrix/vector samples, or series label sets: what must match.
fn essence(body: &str) -> Value {
    let v: Value = serde_json::from_str(body).unwrap();
    let data = &v["data"];
    if let Some(series) = data.as_array() {
        let set: BTreeSet<String> = series.iter().map(|s| s.to_string()).collect();
        return serde_json::json!(set.into_iter().collect::<Vec<_>>());
    }
    match data["resultType"].as_str().unwrap() {
        "streams" => {
            let mut m = BTreeMap::new();
            for s in data["result"].as_array().unwrap() {
                m.insert(s["stream"].to_string(), s["values"].clone());
            }
            serde_json::json!(m)
        }
        _ => {
            let mut m = BTreeMap::new();
            for s in data["result"].as_array().unwrap() {
                let samples = if s.get("values").is_some() { s["values"].clone() } else { s["value"].clone() };
                m.insert(s["metric"].to_string(), samples);
            }
            serde_json::json!(m)
        }
    }
}

#[tokio::test]
async fn fake_reproduces_the_late_series_and_same_timestamp_recordings() {
    let fake = FakeLoki::start().await;
    let mut checked = 0;
    for m in manifest() {
        let file = m["file"].as_str().unwrap();
        if PUSHES.contains(&file) {
            let (status, _) = send(&fake.url(), &m).await;
            assert_eq!(status, 204, "{file}");
        } else if REPLAYED.contains(&file) {
            let (status, body) = send(&fake.url(), &m).await;
            assert_eq!(status, 200, "{file}: {body}");
            assert_eq!(essence(&body), essence(&v2(file)), "{file}");
            checked += 1;
        }
    }
    assert_eq!(checked, REPLAYED.len());
}

#[tokio::test]
async fn late_entries_change_only_the_count_of_their_minute() {
    // The recorded counts: step T0 stays 1, step T0+60 s goes 12 -> 14 (what the lookback relies on).
    let before = essence(&v2("late_metric_count_per_minute_before.json"));
    let after = essence(&v2("late_metric_count_per_minute_after.json"));
    let steps = |v: &Value| -> Vec<String> {
        v.as_object().unwrap().values().next().unwrap().as_array().unwrap().iter().map(|s| s[1].to_string()).collect()
    };
    assert_eq!(steps(&before), vec!["\"1\"", "\"12\""]);
    assert_eq!(steps(&after), vec!["\"1\"", "\"14\""]);
}
