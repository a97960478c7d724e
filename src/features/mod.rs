//! Features: turns a [`LogEvent`] into a [`FeatureRow`]: the event, a compact summary kept for
//! training, and (once baselines exist) its feature vectors scaled against its endpoint's own
//! baseline, so a 2 s report endpoint and a 20 ms health check are each judged against themselves.
//!
//! - [`baseline`]: per-endpoint baselines (robust: medians and MADs)
//! - [`context`]: decayed per-endpoint and per-client counters (the last minute or so)
//! - [`screen`]: keeps the incidents inside a training window out of what is learned

pub mod baseline;
pub mod context;
pub mod screen;

use crate::hash::FastMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use baseline::{Baselines, EndpointBaseline};
pub use context::{poisson_surprise, Context, Recent};
pub use screen::Screened;

use crate::config::FeaturesConfig;
use crate::parse::LogEvent;

/// Distinct endpoint names interned at least (twice `features.max_endpoints` when that is more);
/// past this, names are still used but not shared.
const MIN_INTERNED: usize = 10_000;
/// Scaled values are clipped to ±this, so one absurd value cannot dominate a model.
const CLIP: f64 = 50.0;

/// What is kept of an event for training (compact: the window holds thousands). Saved in
/// `models.json` as an array, `[time, endpoint, rt_ms, status, bytes, [recent…], query_len]`: the
/// field names were a third of the file and of the time a save takes. An object (what earlier
/// versions wrote) still reads.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct TrainingEvent {
    /// Event time, Unix seconds.
    pub time: f64,
    pub endpoint: Arc<str>,
    pub rt_ms: Option<f32>,
    pub status: Option<u16>,
    pub bytes: Option<f32>,
    pub recent: Recent,
    pub query_len: u16,
}

impl Serialize for TrainingEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let r = &self.recent;
        let mut t = s.serialize_tuple(7)?;
        t.serialize_element(&self.time)?;
        t.serialize_element(&*self.endpoint)?;
        t.serialize_element(&self.rt_ms)?;
        t.serialize_element(&self.status)?;
        t.serialize_element(&self.bytes)?;
        let log_rt = Some(r.endpoint_log_rt).filter(|v| v.is_finite());
        t.serialize_element(&(r.endpoint_total, r.endpoint_errors, log_rt, r.client_total, r.client_errors))?;
        t.serialize_element(&self.query_len)?;
        t.end()
    }
}

/// One feature column of the Isolation Forest's vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    ResponseTime,
    Status,
    Bytes,
    EndpointErrorRate,
    EndpointLatency,
    ClientErrorRate,
    ClientRate,
    NewEndpoint,
    QueryLength,
}

impl Column {
    pub fn parse(name: &str) -> Option<Column> {
        Some(match name {
            "response_time" => Column::ResponseTime,
            "status" => Column::Status,
            "bytes" => Column::Bytes,
            "endpoint_error_rate" => Column::EndpointErrorRate,
            "endpoint_latency" => Column::EndpointLatency,
            "client_error_rate" => Column::ClientErrorRate,
            "client_rate" => Column::ClientRate,
            "new_endpoint" => Column::NewEndpoint,
            "query_length" => Column::QueryLength,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Column::ResponseTime => "response_time",
            Column::Status => "status",
            Column::Bytes => "bytes",
            Column::EndpointErrorRate => "endpoint_error_rate",
            Column::EndpointLatency => "endpoint_latency",
            Column::ClientErrorRate => "client_error_rate",
            Column::ClientRate => "client_rate",
            Column::NewEndpoint => "new_endpoint",
            Column::QueryLength => "query_length",
        }
    }
}

/// The evidence behind the vectors, in units a person reads (for the `reason` sentence).
#[derive(Debug, Clone, Copy, Default)]
pub struct Evidence {
    pub rt_ms: Option<f64>,
    pub rt_median_ms: f64,
    pub rt_p99_ms: f64,
    /// Robust z-score of ln(response time).
    pub rt_z: f64,
    pub bytes: Option<f64>,
    pub bytes_median: f64,
    pub bytes_z: f64,
    pub status: Option<u16>,
    /// Probability of this status on this endpoint in training.
    pub status_probability: f64,
    /// −log10 of that probability (capped at 6).
    pub status_surprise: f64,
    /// Recent (decayed) requests and 5xx on the endpoint.
    pub endpoint_recent: f64,
    pub endpoint_recent_errors: f64,
    /// Baseline 5xx fraction of the endpoint.
    pub endpoint_error_rate: f64,
    /// Surprise of the recent 5xx count (−log10 Poisson tail).
    pub endpoint_error_surprise: f64,
    pub endpoint_latency_z: f64,
    pub client_recent: f64,
    pub client_recent_errors: f64,
    pub client_error_surprise: f64,
    /// The endpoint had a baseline of its own.
    pub known_endpoint: bool,
}

/// The vectors the models score.
#[derive(Debug, Clone)]
pub struct Vectors {
    /// The Isolation Forest's vector, in `features.columns` order.
    pub forest: Vec<f64>,
    /// Response-time SVM input: `[rt_z]` (absent when the line has no response time).
    pub response_time: Option<[f64; 1]>,
    /// Status SVM input: `[status surprise, endpoint 5xx-burst surprise if this is a 5xx else 0]`.
    pub status: Option<[f64; 2]>,
    pub evidence: Evidence,
}

/// An event on its way to detection.
#[derive(Debug, Clone)]
pub struct FeatureRow {
    pub event: LogEvent,
    pub summary: TrainingEvent,
}

/// Extracts features; owns the streaming context.
#[derive(Debug)]
pub struct Features {
    columns: Vec<Column>,
    context: Context,
    interned: FastMap<Box<str>, Arc<str>>,
    max_interned: usize,
}

impl Features {
    /// `cfg` is validated, so every column name parses.
    pub fn new(cfg: &FeaturesConfig) -> Features {
        let columns = cfg.columns.iter().filter_map(|c| Column::parse(c)).collect();
        Features {
            columns,
            context: Context::new(cfg.max_endpoints),
            interned: FastMap::default(),
            max_interned: cfg.max_endpoints.saturating_mul(2).max(MIN_INTERNED),
        }
    }

    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    fn intern(&mut self, endpoint: &str) -> Arc<str> {
        if let Some(a) = self.interned.get(endpoint) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(endpoint);
        if self.interned.len() < self.max_interned {
            self.interned.insert(Box::from(endpoint), a.clone());
        }
        a
    }

    /// Record the event in the streaming context and summarise it.
    pub fn observe(&mut self, event: LogEvent) -> FeatureRow {
        let time = event.time.as_nanosecond() as f64 / 1e9;
        let endpoint = self.intern(&event.endpoint);
        // Only a refused request asks whether its client is a crawler (see `declared_crawler`).
        let crawler = matches!(event.status, Some(400..=499))
            && event.user_agent.as_deref().is_some_and(context::declared_crawler);
        let recent = self.context.observe(
            time,
            &endpoint,
            event.client.as_deref(),
            event.status,
            event.response_time_ms,
            crawler,
        );
        let summary = TrainingEvent {
            time,
            endpoint,
            rt_ms: event.response_time_ms.map(|v| v as f32),
            status: event.status,
            bytes: event.bytes.filter(|_| !event.path.as_deref().is_some_and(served_file)).map(|v| v as f32),
            recent,
            query_len: event.query.as_deref().map_or(0, |q| q.len().min(u16::MAX as usize) as u16),
        };
        FeatureRow { event, summary }
    }

    /// The scaled vectors of one summarised event.
    pub fn vectors(&self, t: &TrainingEvent, baselines: &Baselines) -> Vectors {
        let (b, known) = baselines.for_endpoint(&t.endpoint);
        let rt_z = t.rt_ms.map_or(0.0, |rt| (f64::from(rt).max(0.01).ln() - b.log_rt_median) / b.log_rt_scale);
        // Only against the endpoint's own sizes: endpoints differ in size by nature, so a pooled
        // median says nothing about a rare endpoint's response.
        let bytes_z = match t.bytes {
            Some(v) if known && baseline::sized(t.status) && b.log_bytes_median.is_finite() => {
                (f64::from(v).ln_1p() - b.log_bytes_median) / b.log_bytes_scale
            }
            _ => 0.0,
        };
        let status_probability = t.status.map_or(1.0, |s| Baselines::status_probability(b, s));
        let status_surprise = (-status_probability.log10()).clamp(0.0, 6.0);
        let r = &t.recent;
        let endpoint_error_surprise = poisson_surprise(r.endpoint_errors, r.endpoint_total * b.error_rate);
        let endpoint_latency_z =
            if r.endpoint_log_rt.is_nan() { 0.0 } else { (r.endpoint_log_rt - b.log_rt_median) / b.log_rt_scale };
        let client_error_surprise = poisson_surprise(r.client_errors, r.client_total * baselines.client_error_rate);
        let is_5xx = matches!(t.status, Some(500..=599));
        let is_error = matches!(t.status, Some(400..=599));
        let forest = self
            .columns
            .iter()
            .map(|c| {
                let v = match c {
                    Column::ResponseTime => rt_z,
                    Column::Status => status_surprise,
                    Column::Bytes => bytes_z,
                    // Context counts only for lines that take part in it: a 200 during an error
                    // burst is not an error.
                    Column::EndpointErrorRate => {
                        if is_5xx {
                            endpoint_error_surprise
                        } else {
                            0.0
                        }
                    }
                    // ...and a request as fast as usual is not part of its endpoint's slowdown.
                    Column::EndpointLatency => {
                        if rt_z >= crate::detect::gates::RT_CONTEXT_Z {
                            endpoint_latency_z
                        } else {
                            0.0
                        }
                    }
                    Column::ClientErrorRate => {
                        if is_error {
                            client_error_surprise
                        } else {
                            0.0
                        }
                    }
                    Column::ClientRate => r.client_total.ln_1p(),
                    Column::NewEndpoint => f64::from(u8::from(!known)),
                    Column::QueryLength => f64::from(t.query_len).ln_1p(),
                };
                v.clamp(-CLIP, CLIP)
            })
            .collect();
        let evidence = Evidence {
            rt_ms: t.rt_ms.map(f64::from),
            rt_median_ms: b.rt_median_ms,
            rt_p99_ms: b.rt_p99_ms,
            rt_z,
            bytes: t.bytes.map(f64::from),
            bytes_median: b.bytes_median,
            bytes_z,
            status: t.status,
            status_probability,
            status_surprise,
            endpoint_recent: r.endpoint_total,
            endpoint_recent_errors: r.endpoint_errors,
            endpoint_error_rate: b.error_rate,
            endpoint_error_surprise,
            endpoint_latency_z,
            client_recent: r.client_total,
            client_recent_errors: r.client_errors,
            client_error_surprise,
            known_endpoint: known,
        };
        Vectors {
            forest,
            response_time: t.rt_ms.map(|_| [rt_z.clamp(-CLIP, CLIP)]),
            status: t
                .status
                .map(|_| [status_surprise, if is_5xx { endpoint_error_surprise.clamp(0.0, CLIP) } else { 0.0 }]),
            evidence,
        }
    }
}

/// Serde for `f64` fields that may be NaN (JSON has no NaN: it is written as `null`).
/// Extensions of documents a server builds per request: their size says something about the
/// request. Any other extension names a file sent as it is.
const BUILT_PER_REQUEST: &[&str] = &[
    "php", "php5", "phtml", "asp", "aspx", "ashx", "asmx", "axd", "jsp", "jspx", "do", "action", "cgi", "pl", "py",
    "rb", "cfm", "json", "xml", "rss", "atom", "graphql", "csv",
];

/// A path to a file the server sends as it is (an image, a stylesheet, an archive, a page): its
/// size is the file's, and an endpoint template that pools many files (`/images/{token}`) has no
/// size of its own to compare it with, so the size is not judged.
fn served_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or("");
    let Some((_, ext)) = name.rsplit_once('.') else { return false };
    (1..=8).contains(&ext.len())
        && ext.bytes().all(|b| b.is_ascii_alphanumeric())
        && !BUILT_PER_REQUEST.iter().any(|d| ext.eq_ignore_ascii_case(d))
}

pub mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

#[cfg(test)]
mod tests {
    use super::served_file;
    use super::{context::Recent, TrainingEvent};

    #[test]
    fn a_training_event_is_saved_as_an_array_and_read_back_as_it_was() {
        let recent = Recent {
            endpoint_total: 12.5,
            endpoint_errors: 0.25,
            endpoint_log_rt: f64::NAN,
            client_total: 3.0,
            client_errors: 0.0,
        };
        let e = TrainingEvent {
            time: 1.7e9,
            endpoint: "GET /a".into(),
            rt_ms: Some(12.5),
            status: Some(200),
            bytes: None,
            recent,
            query_len: 4,
        };
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(text, r#"[1700000000.0,"GET /a",12.5,200,null,[12.5,0.25,null,3.0,0.0],4]"#);
        let back: TrainingEvent = serde_json::from_str(&text).unwrap();
        assert!(back.recent.endpoint_log_rt.is_nan());
        assert_eq!((back.time, back.rt_ms, back.status, back.query_len), (e.time, e.rt_ms, e.status, e.query_len));
        // What earlier versions wrote: an object.
        let old = r#"{"time":1.0,"endpoint":"GET /a","rt_ms":null,"status":404,"bytes":10.0,
            "recent":{"endpoint_total":1.0,"endpoint_errors":0.0,"endpoint_log_rt":2.5,"client_total":1.0,"client_errors":1.0},"query_len":0}"#;
        let back: TrainingEvent = serde_json::from_str(old).unwrap();
        assert_eq!((back.status, back.bytes, back.recent.endpoint_log_rt), (Some(404), Some(10.0), 2.5));
    }

    #[test]
    fn a_files_size_is_its_own_but_a_built_documents_is_judged() {
        for file in
            ["/images/kibana-dashboard2.png", "/files/logstash/semicomplete.com.access", "/a/b.tar.gz", "/x.HTML"]
        {
            assert!(served_file(file), "{file}");
        }
        for built in ["/api/orders/17", "/index.php", "/api/v1/items.json", "/", "/feed.rss", "/a.b/c", "/x.%2e%2e"] {
            assert!(!served_file(built), "{built}");
        }
    }
}
