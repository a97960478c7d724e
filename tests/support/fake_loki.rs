//! An in-process fake Loki on `127.0.0.1:0` that behaves like the recorded Loki 3.4.6
//! (`tests/fixtures/loki/README.md`): `query_range` with start inclusive / end exclusive, `limit`
//! summed over result streams (default 100, > 5000 rejected), default direction backward, structured
//! metadata merged into result-stream labels, result streams in no time order, ns / float-seconds /
//! RFC 3339 times, the flushed-chunk quirk, text/plain errors; the instant and range
//! `sum [by (..)] (count_over_time(...))` queries; `/loki/api/v1/series`; `/ready`; JSON `push`, which
//! sorts late entries into place and drops exact duplicates (`v2/README.md`). Faults and a per-query
//! latency can be injected and every request is recorded.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::logql::{self, CountQuery, LogQuery};

/// Labels Loki's `discover_service_name` default takes `service_name` from, in order.
const SERVICE_NAME_FROM: [&str; 11] = [
    "service",
    "app",
    "application",
    "name",
    "app_kubernetes_io_name",
    "container",
    "container_name",
    "k8s_container_name",
    "component",
    "workload",
    "job",
];

/// Loki's `max_entries_limit_per_query` default.
pub const MAX_ENTRIES: i64 = 5000;
/// Loki's `max_query_length` default (30d1h).
const MAX_QUERY_LENGTH_NS: i64 = 721 * 3600 * 1_000_000_000;

/// An entry with structured metadata: (unix ns, line, metadata pairs).
pub type MetaEntry = (i64, String, Vec<(String, String)>);

/// A fault answered instead of the real response (query endpoints only; push is never faulted).
#[derive(Debug, Clone)]
pub enum Fault {
    /// This status with a text/plain body (and `Retry-After` when given).
    Status { status: u16, body: String, retry_after: Option<String> },
    /// 200 with a body that is not Loki's JSON.
    Garbage,
    /// Wait this long (tokio time), then answer normally.
    Hang(Duration),
}

impl Fault {
    /// `500 Internal Server Error` with a text body.
    pub fn server_error() -> Fault {
        Fault::Status {
            status: 500,
            body: "rpc error: code = Unavailable desc = connection refused".into(),
            retry_after: None,
        }
    }
    /// `429 Too Many Requests` with an optional `Retry-After` in seconds.
    pub fn too_many_requests(retry_after_secs: Option<u64>) -> Fault {
        Fault::Status {
            status: 429,
            body: "too many outstanding requests".into(),
            retry_after: retry_after_secs.map(|s| s.to_string()),
        }
    }
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Query parameters (last value wins).
    pub params: BTreeMap<String, String>,
    /// Header names lower-case.
    pub headers: BTreeMap<String, String>,
    /// When it arrived (tokio time, so it follows a paused clock).
    pub at: tokio::time::Instant,
}

#[derive(Debug, Clone)]
struct Entry {
    ts: i64,
    line: String,
    metadata: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct Stream {
    labels: BTreeMap<String, String>,
    entries: Vec<Entry>,
    /// Timestamps of the last entry of each flushed chunk.
    chunk_ends: BTreeSet<i64>,
}

#[derive(Debug, Default)]
struct Inner {
    streams: Vec<Stream>,
    faults: VecDeque<Fault>,
    requests: Vec<RecordedRequest>,
    /// Added to every query_range answer (a Loki that takes time to read chunks).
    latency: Duration,
}

type Shared = Arc<Mutex<Inner>>;

struct Running {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// The fake Loki. Dropping it stops the server.
pub struct FakeLoki {
    inner: Shared,
    addr: SocketAddr,
    running: Mutex<Option<Running>>,
}

impl FakeLoki {
    /// Start on a free port of 127.0.0.1.
    pub async fn start() -> FakeLoki {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let fake = FakeLoki { inner: Shared::default(), addr, running: Mutex::new(None) };
        fake.serve(listener);
        fake
    }

    fn serve(&self, listener: TcpListener) {
        let stop = CancellationToken::new();
        let app = router(self.inner.clone());
        let s = stop.clone();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).with_graceful_shutdown(async move { s.cancelled().await }).await;
        });
        *self.running.lock().unwrap() = Some(Running { stop, task });
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop listening: connections are refused until [`FakeLoki::restart`]. Data is kept.
    pub async fn stop(&self) {
        let running = self.running.lock().unwrap().take();
        if let Some(r) = running {
            r.stop.cancel();
            let _ = r.task.await;
        }
    }

    /// Listen again on the same port.
    pub async fn restart(&self) {
        let listener = TcpListener::bind(self.addr).await.expect("rebind the same port");
        self.serve(listener);
    }

    /// Answer every `query_range` only after `latency` (tokio time), as a Loki reading chunks does.
    pub fn set_latency(&self, latency: Duration) {
        self.inner.lock().unwrap().latency = latency;
    }

    /// Append entries to the stream with exactly these labels (entries at one timestamp keep push
    /// order). Stored as given, identical copies included, as a query pipeline (`line_format`) can
    /// return them; the HTTP push drops exact duplicates as Loki does.
    pub fn push(&self, labels: &[(&str, &str)], entries: Vec<(i64, String)>) {
        self.push_with_metadata(labels, entries.into_iter().map(|(ts, l)| (ts, l, Vec::new())).collect());
    }

    /// Like [`FakeLoki::push`], with structured metadata per entry (merged into result labels).
    pub fn push_with_metadata(&self, labels: &[(&str, &str)], entries: Vec<MetaEntry>) {
        let labels: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let entries = entries.into_iter().map(|(ts, line, md)| Entry { ts, line, metadata: md.into_iter().collect() });
        self.inner.lock().unwrap().append(labels, entries.collect());
    }

    /// Flush every stream's head chunk: its last entry becomes a chunk end (the quirk's trigger).
    pub fn flush(&self) {
        let mut inner = self.inner.lock().unwrap();
        for s in &mut inner.streams {
            if let Some(last) = s.entries.last() {
                s.chunk_ends.insert(last.ts);
            }
        }
    }

    /// Flush at every `every`-th entry of every stream (many chunk ends, many chances for the quirk).
    pub fn flush_every(&self, every: usize) {
        let mut inner = self.inner.lock().unwrap();
        for s in &mut inner.streams {
            let ends: Vec<i64> =
                s.entries.iter().skip(every.saturating_sub(1)).step_by(every.max(1)).map(|e| e.ts).collect();
            s.chunk_ends.extend(ends);
        }
    }

    /// Answer the next `n` query requests with `fault`.
    pub fn fail_next(&self, n: usize, fault: Fault) {
        let mut inner = self.inner.lock().unwrap();
        inner.faults.extend(std::iter::repeat_n(fault, n));
    }

    /// Faults not yet used.
    pub fn pending_faults(&self) -> usize {
        self.inner.lock().unwrap().faults.len()
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// Requests to one path (e.g. `/loki/api/v1/query_range`).
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        self.requests().into_iter().filter(|r| r.path == path).collect()
    }

    /// Every stored entry as a query would label it (stream labels + structured metadata), with its
    /// unix-ns timestamp and line, stream by stream in timestamp order (e.g. to check what was pushed).
    pub fn stored(&self) -> Vec<(BTreeMap<String, String>, i64, String)> {
        let g = self.inner.lock().unwrap();
        let mut out = Vec::new();
        for (si, s) in g.streams.iter().enumerate() {
            for (pos, e) in s.entries.iter().enumerate() {
                out.push((g.result_labels(si, pos), e.ts, e.line.clone()));
            }
        }
        out
    }

    /// Entries stored, over all streams.
    pub fn entry_count(&self) -> usize {
        self.inner.lock().unwrap().streams.iter().map(|s| s.entries.len()).sum()
    }
}

impl Drop for FakeLoki {
    fn drop(&mut self) {
        if let Ok(mut r) = self.running.lock() {
            if let Some(r) = r.take() {
                r.stop.cancel();
                r.task.abort();
            }
        }
    }
}

impl Inner {
    /// Loki drops an entry whose timestamp and line equal a stored one of the same stream
    /// (`late_query_range_after_duplicate_push.json`).
    fn append_dedup(&mut self, labels: BTreeMap<String, String>, entries: Vec<Entry>) {
        let stored: BTreeSet<(i64, String)> = self
            .streams
            .iter()
            .find(|s| s.labels == labels)
            .map(|s| s.entries.iter().map(|e| (e.ts, e.line.clone())).collect())
            .unwrap_or_default();
        let mut seen = stored;
        let fresh: Vec<Entry> = entries.into_iter().filter(|e| seen.insert((e.ts, e.line.clone()))).collect();
        self.append(labels, fresh);
    }

    fn append(&mut self, labels: BTreeMap<String, String>, entries: Vec<Entry>) {
        let idx = match self.streams.iter().position(|s| s.labels == labels) {
            Some(i) => i,
            None => {
                self.streams.push(Stream { labels, ..Stream::default() });
                self.streams.len() - 1
            }
        };
        let s = &mut self.streams[idx];
        s.entries.extend(entries);
        s.entries.sort_by_key(|e| e.ts); // stable: same-timestamp entries keep push order
    }

    /// Entries of matching streams in `[start, end)` after filters and the flushed-chunk quirk:
    /// (ts, stream index, position).
    fn select(&self, q: &LogQuery, start: i64, end: i64) -> Vec<(i64, usize, usize)> {
        let mut out = Vec::new();
        for (si, s) in self.streams.iter().enumerate() {
            if !q.selects(&s.labels) {
                continue;
            }
            let lo = s.entries.partition_point(|e| e.ts < start);
            let hi = s.entries.partition_point(|e| e.ts < end);
            // Quirk: a query starting exactly on a flushed chunk's last timestamp misses that chunk's
            // entries at that timestamp (recorded in quirk_flushed_chunk_start_eq_last_entry_ts.json).
            let quirk = s.chunk_ends.contains(&start);
            for (pos, e) in s.entries[lo..hi].iter().enumerate() {
                if quirk && e.ts == start {
                    continue;
                }
                if q.filters.iter().all(|f| f.keep(&e.line)) {
                    out.push((e.ts, si, lo + pos));
                }
            }
        }
        out
    }

    fn result_labels(&self, si: usize, pos: usize) -> BTreeMap<String, String> {
        let s = &self.streams[si];
        let mut l = s.labels.clone();
        for (k, v) in &s.entries[pos].metadata {
            l.entry(k.clone()).or_insert_with(|| v.clone());
        }
        l
    }

    fn count(&self, q: &CountQuery, t: i64) -> BTreeMap<BTreeMap<String, String>, u64> {
        let mut groups = BTreeMap::new();
        // Range vectors cover (t - range, t].
        for (_, si, pos) in self.select(&q.inner, t - q.range_ns + 1, t + 1) {
            let key = match &q.by {
                None if q.per_stream => self.result_labels(si, pos),
                None => BTreeMap::new(),
                Some(names) => {
                    let l = self.result_labels(si, pos);
                    names.iter().filter_map(|n| l.get(n).map(|v| (n.clone(), v.clone()))).collect()
                }
            };
            *groups.entry(key).or_insert(0) += 1;
        }
        groups
    }
}

fn router(inner: Shared) -> Router {
    Router::new()
        .route("/loki/api/v1/query_range", get(query_range))
        .route("/loki/api/v1/query", get(instant_query))
        .route("/loki/api/v1/push", post(push))
        .route("/loki/api/v1/series", get(series))
        .route("/ready", get(|| async { "ready\n" }))
        .fallback(|| async { text(404, "404 page not found\n") })
        .with_state(inner)
}

fn text(status: u16, body: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(status).unwrap();
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")],
        body.into(),
    )
        .into_response()
}

fn json_ok(v: Value) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json; charset=UTF-8")], format!("{v}\n")).into_response()
}

type Params = Vec<(String, String)>;

/// Record the request and take the next fault, if any.
fn record(inner: &Shared, path: &str, params: &Params, headers: &HeaderMap) -> Option<Fault> {
    let mut g = inner.lock().unwrap();
    g.requests.push(RecordedRequest {
        method: "GET".into(),
        path: path.into(),
        params: params.iter().cloned().collect(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_ascii_lowercase(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        at: tokio::time::Instant::now(),
    });
    g.faults.pop_front()
}

/// Apply a fault: `Some(response)` to answer with, `None` to answer normally (after a hang).
async fn fault_response(f: Option<Fault>) -> Option<Response> {
    match f? {
        Fault::Status { status, body, retry_after } => {
            let mut r = text(status, body);
            if let Some(ra) = retry_after {
                r.headers_mut().insert(header::RETRY_AFTER, ra.parse().unwrap());
            }
            Some(r)
        }
        Fault::Garbage => Some(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
                "<html>502 Bad Gateway</html>{\"status\":",
            )
                .into_response(),
        ),
        Fault::Hang(d) => {
            tokio::time::sleep(d).await;
            None
        }
    }
}

/// Loki's timestamp parsing: float seconds if it has a '.', else an integer (≤ 10 digits: seconds,
/// else nanoseconds), else RFC 3339.
pub fn parse_time(v: &str) -> Result<i64, String> {
    if v.contains('.') {
        if let Ok(f) = v.parse::<f64>() {
            let secs = f.trunc();
            let frac = ((f - secs) * 1e9).round();
            return Ok(secs as i64 * 1_000_000_000 + frac as i64);
        }
    }
    match v.parse::<i64>() {
        Ok(n) if v.len() <= 10 => Ok(n * 1_000_000_000),
        Ok(n) => Ok(n),
        Err(_) => match v.parse::<jiff::Timestamp>() {
            Ok(t) => Ok(t.as_nanosecond() as i64),
            Err(_) => Err(format!("strconv.ParseInt: parsing {v:?}: invalid syntax")),
        },
    }
}

/// `start` and `end` as Loki reads them (default: the hour before now), or the text of its 400.
fn time_range(p: &Params) -> Result<(i64, i64), String> {
    let end = match param(p, "end").map(parse_time).transpose() {
        Ok(e) => e.unwrap_or_else(now_ns),
        Err(e) => return Err(format!("could not parse 'end' parameter: {e}")),
    };
    let start = match param(p, "start").map(parse_time).transpose() {
        Ok(s) => s.unwrap_or(end - 3600 * 1_000_000_000),
        Err(e) => return Err(format!("could not parse 'start' parameter: {e}")),
    };
    Ok((start, end))
}

fn go_duration(ns: i64) -> String {
    let s = ns / 1_000_000_000;
    format!("{}h{}m{}s", s / 3600, (s % 3600) / 60, s % 60)
}

fn param<'a>(p: &'a Params, k: &str) -> Option<&'a str> {
    p.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

fn now_ns() -> i64 {
    jiff::Timestamp::now().as_nanosecond() as i64
}

/// Sample time as Loki writes it: a JSON number of seconds, integral when whole.
fn secs_json(ns: i64) -> Value {
    if ns % 1_000_000_000 == 0 {
        json!(ns / 1_000_000_000)
    } else {
        json!(ns as f64 / 1e9)
    }
}

async fn query_range(State(inner): State<Shared>, Query(p): Query<Params>, headers: HeaderMap) -> Response {
    let fault = record(&inner, "/loki/api/v1/query_range", &p, &headers);
    if let Some(r) = fault_response(fault).await {
        return r;
    }
    let (start, end) = match time_range(&p) {
        Ok(r) => r,
        Err(e) => return text(400, e),
    };
    if end <= start {
        return text(400, "end timestamp must not be before or equal to start time");
    }
    let limit: i64 = match param(&p, "limit") {
        None => 100,
        Some(l) => match l.parse() {
            Ok(n) if n > 0 => n,
            Ok(_) => return text(400, "limit must be a positive value"),
            Err(_) => return text(400, format!("strconv.ParseInt: parsing {l:?}: invalid syntax")),
        },
    };
    let forward = match param(&p, "direction").map(str::to_ascii_lowercase).as_deref() {
        None | Some("backward") => false,
        Some("forward") => true,
        Some(_) => return text(400, format!("invalid direction '{}'", param(&p, "direction").unwrap())),
    };
    let query = match logql::parse(param(&p, "query").unwrap_or("")) {
        Ok(q) => q,
        Err(e) => return text(400, e),
    };
    if end - start > MAX_QUERY_LENGTH_NS {
        return text(
            400,
            format!(
                "the query time range exceeds the limit (query length: {}, limit: 30d1h)",
                go_duration(end - start)
            ),
        );
    }
    let latency = inner.lock().unwrap().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let g = inner.lock().unwrap();
    match query {
        logql::Query::Count(q) => {
            let step = param(&p, "step")
                .and_then(|s| s.parse::<f64>().ok().map(|f| (f * 1e9) as i64).or_else(|| logql::parse_duration(s)))
                .unwrap_or(((end - start) / 250).max(1_000_000_000));
            if q.inner.unsupported.is_some() {
                return text(400, "fake loki: parser stages are not implemented");
            }
            let mut series: BTreeMap<BTreeMap<String, String>, Vec<Value>> = BTreeMap::new();
            let mut t = start;
            while t <= end {
                for (k, n) in g.count(&q, t) {
                    series.entry(k).or_default().push(json!([secs_json(t), n.to_string()]));
                }
                t += step;
            }
            let result: Vec<Value> = series.into_iter().map(|(m, v)| json!({"metric": m, "values": v})).collect();
            json_ok(json!({"status": "success", "data": {"resultType": "matrix", "result": result, "stats": {}}}))
        }
        logql::Query::Log(q) => {
            if limit > MAX_ENTRIES {
                return text(
                    400,
                    format!("max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {MAX_ENTRIES})"),
                );
            }
            if let Some(stage) = &q.unsupported {
                return text(400, format!("fake loki: pipeline stage `{stage}` is not implemented"));
            }
            let mut picked = g.select(&q, start, end);
            if forward {
                picked.sort_by_key(|&(ts, si, pos)| (ts, si, pos));
            } else {
                picked.sort_by_key(|&(ts, si, pos)| (std::cmp::Reverse(ts), si, std::cmp::Reverse(pos)));
            }
            picked.truncate(limit as usize);
            // Copy out, then build the answer without holding the lock (parallel readers).
            let mut by_stream: BTreeMap<BTreeMap<String, String>, Vec<(i64, String)>> = BTreeMap::new();
            for &(ts, si, pos) in &picked {
                let line = g.streams[si].entries[pos].line.clone();
                by_stream.entry(g.result_labels(si, pos)).or_default().push((ts, line));
            }
            drop(g);
            let streams: BTreeMap<BTreeMap<String, String>, Vec<Value>> = by_stream
                .into_iter()
                .map(|(l, v)| (l, v.into_iter().map(|(ts, line)| json!([ts.to_string(), line])).collect()))
                .collect();
            // Result streams come in no time order: order them by a hash of their labels.
            let mut result: Vec<(u64, Value)> =
                streams.into_iter().map(|(l, v)| (label_hash(&l), json!({"stream": l, "values": v}))).collect();
            result.sort_by_key(|(h, _)| *h);
            let result: Vec<Value> = result.into_iter().map(|(_, v)| v).collect();
            json_ok(json!({
                "status": "success",
                "data": {"resultType": "streams", "result": result,
                         "stats": {"summary": {"totalEntriesReturned": picked.len()}}}
            }))
        }
    }
}

/// `/loki/api/v1/series`: the label sets of streams matching any `match[]` selector with an entry in
/// `[start, end]` (default: the last hour), as `{"status":"success","data":[...]}`.
async fn series(State(inner): State<Shared>, Query(p): Query<Params>, headers: HeaderMap) -> Response {
    let fault = record(&inner, "/loki/api/v1/series", &p, &headers);
    if let Some(r) = fault_response(fault).await {
        return r;
    }
    let (start, end) = match time_range(&p) {
        Ok(r) => r,
        Err(e) => return text(400, e),
    };
    let mut selectors = Vec::new();
    for (k, v) in &p {
        if k == "match[]" || k == "match" {
            match logql::parse(v) {
                Ok(logql::Query::Log(q)) => selectors.push(q),
                Ok(_) => return text(400, "parse error : only log selectors are supported"),
                Err(e) => return text(400, e),
            }
        }
    }
    let g = inner.lock().unwrap();
    let data: Vec<Value> = g
        .streams
        .iter()
        .filter(|s| selectors.iter().any(|q| q.selects(&s.labels)))
        .filter(|s| s.entries.iter().any(|e| e.ts >= start && e.ts <= end))
        .map(|s| json!(s.labels))
        .collect();
    json_ok(json!({"status": "success", "data": data}))
}

fn label_hash(l: &BTreeMap<String, String>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("{l:?}").bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

async fn instant_query(State(inner): State<Shared>, Query(p): Query<Params>, headers: HeaderMap) -> Response {
    let fault = record(&inner, "/loki/api/v1/query", &p, &headers);
    if let Some(r) = fault_response(fault).await {
        return r;
    }
    let t = match param(&p, "time").map(parse_time).transpose() {
        Ok(t) => t.unwrap_or_else(now_ns),
        Err(e) => return text(400, format!("could not parse 'time' parameter: {e}")),
    };
    let q = match logql::parse(param(&p, "query").unwrap_or("")) {
        Ok(logql::Query::Count(q)) => q,
        Ok(logql::Query::Log(_)) => return text(
            400,
            "log queries are not supported as an instant query type, please change your query to a range query type",
        ),
        Err(e) => return text(400, e),
    };
    if q.inner.unsupported.is_some() {
        return text(400, "fake loki: parser stages are not implemented");
    }
    let g = inner.lock().unwrap();
    let result: Vec<Value> =
        g.count(&q, t).into_iter().map(|(m, n)| json!({"metric": m, "value": [secs_json(t), n.to_string()]})).collect();
    json_ok(json!({"status": "success", "data": {"resultType": "vector", "result": result, "stats": {}}}))
}

async fn push(State(inner): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.starts_with("application/json") {
        return text(400, "snappy: corrupt input\n");
    }
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return text(400, format!("loghttp.PushRequest: {e}\n")),
    };
    let Some(streams) = v.get("streams").and_then(Value::as_array) else {
        return text(400, "loghttp.PushRequest: missing streams\n");
    };
    if streams.is_empty() {
        return text(422, "error at least one valid stream is required for ingestion\n");
    }
    let mut parsed = Vec::new();
    for s in streams {
        let mut labels: BTreeMap<String, String> = BTreeMap::new();
        if let Some(m) = s.get("stream").and_then(Value::as_object) {
            for (k, v) in m {
                labels.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
            }
        }
        // Loki 3 adds `service_name` from the first of these labels present (discover_service_name).
        if !labels.contains_key("service_name") {
            let from = SERVICE_NAME_FROM.iter().find_map(|k| labels.get(*k)).cloned();
            labels.insert("service_name".into(), from.unwrap_or_else(|| "unknown_service".into()));
        }
        let mut entries = Vec::new();
        for val in s.get("values").and_then(Value::as_array).into_iter().flatten() {
            let ts = val.get(0).and_then(Value::as_str).and_then(|t| t.parse::<i64>().ok());
            let line = val.get(1).and_then(Value::as_str);
            let (Some(ts), Some(line)) = (ts, line) else {
                return text(400, format!("loghttp.PushRequest: bad entry {val}\n"));
            };
            let metadata = val
                .get(2)
                .and_then(Value::as_object)
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
                .unwrap_or_default();
            entries.push(Entry { ts, line: line.to_string(), metadata });
        }
        parsed.push((labels, entries));
    }
    let mut g = inner.lock().unwrap();
    g.requests.push(RecordedRequest {
        method: "POST".into(),
        path: "/loki/api/v1/push".into(),
        params: BTreeMap::new(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().into(), String::from_utf8_lossy(v.as_bytes()).into()))
            .collect(),
        at: tokio::time::Instant::now(),
    });
    for (labels, entries) in parsed {
        g.append_dedup(labels, entries);
    }
    StatusCode::NO_CONTENT.into_response()
}
