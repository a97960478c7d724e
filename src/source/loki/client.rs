//! HTTP access to Loki: `query_range` pages and LogQL count queries, with tenant, auth, TLS, timeout,
//! and one `loki_requests_total{outcome}` + duration observation per request.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, RETRY_AFTER};

use super::page::{decode_samples, decode_series, decode_streams, Page};
use crate::config::LokiConfig;
use crate::metrics::{Metrics, OutcomeLabel};
use crate::source::SourceError;

/// Longest error text kept from a Loki response body (one line).
pub const MAX_ERROR_BODY_CHARS: usize = 200;

/// A secret that never appears in `Debug` output or logs.
#[derive(Clone)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Clone, Debug)]
enum Auth {
    None,
    Basic { username: String, password: Secret },
    Bearer(Secret),
}

/// A configured connection to one Loki. `Debug` redacts credentials.
#[derive(Clone)]
pub struct LokiClient {
    http: reqwest::Client,
    base: String,
    tenant: String,
    auth: Auth,
    metrics: Arc<Metrics>,
}

impl fmt::Debug for LokiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LokiClient")
            .field("base", &self.base)
            .field("tenant", &self.tenant)
            .field("auth", &self.auth)
            .finish()
    }
}

fn read_secret_file(key: &str, path: &std::path::Path) -> Result<String, SourceError> {
    let text = std::fs::read_to_string(path).map_err(|e| SourceError::Config {
        key: key.into(),
        problem: format!("cannot read {}: {e}", path.display()),
    })?;
    Ok(text.trim().to_string())
}

impl LokiClient {
    /// Build the HTTP client from `[loki]` (reads secret and CA files now).
    pub fn new(cfg: &LokiConfig, metrics: Arc<Metrics>) -> Result<Self, SourceError> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(Duration::from_millis(cfg.timeout_ms))
            .connect_timeout(Duration::from_millis(cfg.timeout_ms))
            .user_agent(concat!("anomaly-detector/", env!("CARGO_PKG_VERSION")))
            .danger_accept_invalid_certs(cfg.insecure_skip_verify);
        if let Some(ca) = &cfg.ca_file {
            let pem = std::fs::read(ca).map_err(|e| SourceError::Config {
                key: "loki.ca_file".into(),
                problem: format!("cannot read {}: {e}", ca.display()),
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| SourceError::Config {
                key: "loki.ca_file".into(),
                problem: format!("{} is not a PEM certificate bundle: {e}", ca.display()),
            })?;
            if certs.is_empty() {
                return Err(SourceError::Config {
                    key: "loki.ca_file".into(),
                    problem: format!("{} holds no certificate", ca.display()),
                });
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let http = builder.build().map_err(|e| SourceError::Config {
            key: "loki".into(),
            problem: format!("cannot build HTTP client: {e}"),
        })?;
        let password = match &cfg.password_file {
            Some(p) => read_secret_file("loki.password_file", p)?,
            None => cfg.password.clone(),
        };
        let token = match &cfg.bearer_token_file {
            Some(p) => read_secret_file("loki.bearer_token_file", p)?,
            None => cfg.bearer_token.trim().to_string(),
        };
        let auth = if !cfg.username.is_empty() {
            if !token.is_empty() {
                return Err(SourceError::Config {
                    key: "loki.bearer_token".into(),
                    problem: "set either basic auth (loki.username) or a bearer token, not both".into(),
                });
            }
            Auth::Basic { username: cfg.username.clone(), password: Secret(password) }
        } else if !token.is_empty() {
            Auth::Bearer(Secret(token))
        } else {
            Auth::None
        };
        Ok(LokiClient {
            http,
            base: cfg.url.trim_end_matches('/').to_string(),
            tenant: cfg.tenant_id.clone(),
            auth,
            metrics,
        })
    }

    /// One `query_range` page: `[start_ns, end_ns)`, `limit` entries at most, oldest first.
    pub async fn query_range(&self, query: &str, start_ns: i64, end_ns: i64, limit: u32) -> Result<Page, SourceError> {
        let params = [
            ("query", query.to_string()),
            ("start", start_ns.to_string()),
            ("end", end_ns.to_string()),
            ("limit", limit.to_string()),
            ("direction", "forward".to_string()),
        ];
        self.get("/loki/api/v1/query_range", &params, decode_streams).await
    }

    /// The label sets of the streams matching `selector` with entries in `[start_ns, end_ns]`
    /// (`/loki/api/v1/series`; Loki may list a stream twice or with `__stream_shard__`).
    pub async fn series(
        &self,
        selector: &str,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<BTreeMap<String, String>>, SourceError> {
        let params = [("match[]", selector.to_string()), ("start", start_ns.to_string()), ("end", end_ns.to_string())];
        self.get("/loki/api/v1/series", &params, decode_series).await
    }

    /// Lines matching `query` in `[from_ns, to_ns)`, counted by Loki (`sum(count_over_time(...))`),
    /// to the millisecond: the range is rounded up to whole milliseconds ending at `to_ns - 1`.
    pub async fn count_lines(&self, query: &str, from_ns: i64, to_ns: i64) -> Result<u64, SourceError> {
        if to_ns <= from_ns {
            return Ok(0);
        }
        let range_ms = (to_ns - from_ns + 999_999) / 1_000_000;
        let params =
            [("query", format!("sum(count_over_time({query} [{range_ms}ms]))")), ("time", (to_ns - 1).to_string())];
        let samples = self.get("/loki/api/v1/query", &params, decode_samples).await?;
        Ok(samples.iter().map(|(_, v)| *v).sum::<f64>().max(0.0).round() as u64)
    }

    /// Line counts per `step_secs` bucket ending at `end_ns` (exclusive), newest bucket first:
    /// `out[k]` counts `[end - (k+1)·step, end - k·step)`, for `buckets` buckets.
    pub async fn count_buckets(
        &self,
        query: &str,
        end_ns: i64,
        step_secs: u64,
        buckets: u64,
    ) -> Result<Vec<u64>, SourceError> {
        let step_ns = step_secs as i64 * 1_000_000_000;
        let last = end_ns - 1;
        let first = last - (buckets as i64 - 1) * step_ns;
        let params = [
            ("query", format!("sum(count_over_time({query} [{step_secs}s]))")),
            ("start", first.to_string()),
            ("end", last.to_string()),
            ("step", step_secs.to_string()),
        ];
        let samples = self.get("/loki/api/v1/query_range", &params, decode_samples).await?;
        let mut out = vec![0u64; buckets as usize];
        for (t_secs, v) in samples {
            let t_ns = t_secs * 1e9;
            let k = ((last as f64 - t_ns) / step_ns as f64).round();
            if k >= 0.0 && (k as u64) < buckets {
                out[k as usize] += v.max(0.0).round() as u64;
            }
        }
        Ok(out)
    }

    fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        if !self.tenant.is_empty() {
            if let Ok(v) = HeaderValue::from_str(&self.tenant) {
                h.insert("X-Scope-OrgID", v);
            }
        }
        if let Auth::Bearer(Secret(t)) = &self.auth {
            if let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {t}")) {
                v.set_sensitive(true);
                h.insert(AUTHORIZATION, v);
            }
        }
        h
    }

    async fn get<T>(
        &self,
        path: &str,
        params: &[(&str, String)],
        decode: impl FnOnce(&[u8]) -> Result<T, String>,
    ) -> Result<T, SourceError> {
        let started = tokio::time::Instant::now();
        let result = self.get_inner(path, params, decode).await;
        self.metrics.loki_request_duration.observe(started.elapsed().as_secs_f64());
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.label(),
        };
        self.metrics.loki_requests.get_or_create(&OutcomeLabel { outcome: outcome.into() }).inc();
        result
    }

    async fn get_inner<T>(
        &self,
        path: &str,
        params: &[(&str, String)],
        decode: impl FnOnce(&[u8]) -> Result<T, String>,
    ) -> Result<T, SourceError> {
        let mut req = self.http.get(format!("{}{path}", self.base)).query(params).headers(self.headers());
        if let Auth::Basic { username, password } = &self.auth {
            req = req.basic_auth(username, Some(&password.0));
        }
        let resp = req.send().await.map_err(transport_error)?;
        let status = resp.status();
        let retry_after_secs =
            resp.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        let body = resp.bytes().await.map_err(transport_error)?;
        if !status.is_success() {
            return Err(SourceError::Http {
                status: status.as_u16(),
                body: shorten(&String::from_utf8_lossy(&body)),
                retry_after_secs,
            });
        }
        decode(&body).map_err(|e| SourceError::Decode(shorten(&e)))
    }
}

fn transport_error(e: reqwest::Error) -> SourceError {
    // The URL can carry credentials (`https://user:pass@...`) and the query: keep it out of messages.
    let e = e.without_url();
    if e.is_timeout() {
        SourceError::Timeout
    } else {
        // Connection refused, reset, TLS failure, or a body cut short: all "cannot talk to Loki".
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            src = s.source();
        }
        SourceError::Connect(shorten(&msg))
    }
}

/// `Retry-After` as whole seconds (see [`crate::retry_after::parse`]).
pub fn parse_retry_after(v: &str) -> Option<u64> {
    crate::retry_after::parse(v, std::time::SystemTime::now()).map(|d| d.as_secs())
}

/// One line of at most [`MAX_ERROR_BODY_CHARS`] characters (Loki error bodies can span lines).
pub fn shorten(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= MAX_ERROR_BODY_CHARS {
        one_line
    } else {
        let mut s: String = one_line.chars().take(MAX_ERROR_BODY_CHARS - 1).collect();
        s.push('…');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_makes_one_bounded_line() {
        let body = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/loki/metric_unwrap_pipeline_error_400.txt"
        ))
        .unwrap();
        let s = shorten(&body);
        assert!(!s.contains('\n'));
        assert!(s.chars().count() <= MAX_ERROR_BODY_CHARS);
        assert!(s.starts_with("pipeline error"), "{s}");
        assert_eq!(shorten("  limit must be a positive value "), "limit must be a positive value");
    }

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        assert_eq!(parse_retry_after("7"), Some(7));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(0));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn debug_never_shows_secrets() {
        let cfg = LokiConfig { username: "u".into(), password: "hunter2-password".into(), ..LokiConfig::default() };
        let c = LokiClient::new(&cfg, Arc::new(Metrics::new())).unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("<redacted>"));
        let cfg = LokiConfig { bearer_token: " tok-secret-1 \n".into(), ..LokiConfig::default() };
        let c = LokiClient::new(&cfg, Arc::new(Metrics::new())).unwrap();
        assert!(!format!("{c:?}").contains("tok-secret"));
        assert_eq!(c.headers().get(AUTHORIZATION).unwrap().to_str().unwrap(), "Bearer tok-secret-1");
    }

    #[test]
    fn unreadable_secret_or_ca_files_are_config_errors() {
        let cfg = LokiConfig { bearer_token_file: Some("/nonexistent/token".into()), ..LokiConfig::default() };
        let e = LokiClient::new(&cfg, Arc::new(Metrics::new())).unwrap_err();
        assert_eq!(e.label(), "config");
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate").unwrap();
        let cfg = LokiConfig { ca_file: Some(ca), ..LokiConfig::default() };
        let e = LokiClient::new(&cfg, Arc::new(Metrics::new())).unwrap_err();
        assert!(e.to_string().contains("loki.ca_file"), "{e}");
    }
}
