//! Streaming context: what each endpoint and client has done in the last minute or so (event
//! time), kept as exponentially decayed counters. Bounded: idle entries are evicted.

use crate::hash::FastMap;
use std::sync::Arc;

/// Half-life of the decayed counters, seconds.
pub const HALF_LIFE_SECS: f64 = 30.0;
const MAX_CLIENTS: usize = 20_000;
/// Endpoints tracked at least (the context holds twice `features.max_endpoints` when that is more).
const MIN_ENDPOINTS: usize = 5_000;

/// A counter that halves every [`HALF_LIFE_SECS`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Decayed {
    value: f64,
    at: f64,
}

impl Decayed {
    fn decay_to(&mut self, t: f64) {
        if t > self.at {
            self.value *= (-(t - self.at) * std::f64::consts::LN_2 / HALF_LIFE_SECS).exp();
            self.at = t;
        }
    }

    /// Add `x` at time `t` (seconds) and return the decayed value including it.
    pub fn add(&mut self, t: f64, x: f64) -> f64 {
        self.decay_to(t);
        self.value += x;
        self.value
    }
}

/// Requests whose latency the recent median is taken over.
pub const RECENT_LATENCIES: usize = 5;

#[derive(Debug, Clone, Default)]
struct EndpointState {
    total: Decayed,
    errors: Decayed,
    /// ln(response time) of the last few requests (a ring).
    log_rt: [f32; RECENT_LATENCIES],
    log_rt_len: u8,
    log_rt_next: u8,
    last: f64,
}

impl EndpointState {
    fn push_latency(&mut self, log_rt: f32) {
        self.log_rt[self.log_rt_next as usize] = log_rt;
        self.log_rt_next = ((self.log_rt_next as usize + 1) % RECENT_LATENCIES) as u8;
        self.log_rt_len = (self.log_rt_len + 1).min(RECENT_LATENCIES as u8);
    }

    /// Median of the recent ln(response time)s; NaN when none.
    fn median_latency(&self) -> f64 {
        let n = self.log_rt_len as usize;
        if n == 0 {
            return f64::NAN;
        }
        let mut v = self.log_rt;
        let v = &mut v[..n];
        v.sort_by(f32::total_cmp);
        f64::from(v[n / 2])
    }
}

#[derive(Debug, Clone, Default)]
struct ClientState {
    total: Decayed,
    errors: Decayed,
    last: f64,
}

/// The recent behaviour around one event, raw (not yet scaled against baselines).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Recent {
    /// Decayed requests on this endpoint, this one included.
    pub endpoint_total: f64,
    /// Decayed 5xx responses on this endpoint, this one included.
    pub endpoint_errors: f64,
    /// Median ln(response time ms) of the endpoint's last few requests, this one included (NaN
    /// when unknown). Moves within a few requests of a latency spike; one slow request does not
    /// move it.
    #[serde(with = "super::nan_as_null")]
    pub endpoint_log_rt: f64,
    /// Decayed requests from this client, this one included.
    pub client_total: f64,
    /// Decayed 4xx responses to this client, this one included (5xx are the server's errors).
    pub client_errors: f64,
}

/// Whether a user agent names a crawler and where to read about it, as search engines and SEO
/// crawlers do (`Googlebot/2.1; +http://www.google.com/bot.html`, `MJ12bot/v1.4.4;
/// http://www.majestic12.co.uk/bot.php`). Such a client follows the site's links, broken ones
/// included. A scanner can claim to be one; it then escapes only `error_scanning`, not the rules
/// that judge what it asks for.
pub fn declared_crawler(user_agent: &str) -> bool {
    let ua = user_agent.to_ascii_lowercase();
    ua.contains("http") && (ua.contains("bot") || ua.contains("spider") || ua.contains("crawler"))
}

/// Decayed per-endpoint and per-client counters.
#[derive(Debug)]
pub struct Context {
    endpoints: FastMap<Arc<str>, EndpointState>,
    clients: FastMap<Arc<str>, ClientState>,
    max_endpoints: usize,
}

impl Default for Context {
    fn default() -> Self {
        Context::new(0)
    }
}

impl Context {
    /// A context for a detector that tracks `tracked_endpoints` (`features.max_endpoints`): it
    /// holds the recent history of twice as many, so that a site with many endpoints does not
    /// lose (and reallocate) its endpoints' recent history at every other request.
    pub fn new(tracked_endpoints: usize) -> Context {
        Context {
            endpoints: FastMap::default(),
            clients: FastMap::default(),
            max_endpoints: tracked_endpoints.saturating_mul(2).max(MIN_ENDPOINTS),
        }
    }

    /// Record one event and return the context it was seen in. `crawler`: the client names
    /// itself a crawler (see [`declared_crawler`]).
    pub fn observe(
        &mut self,
        t: f64,
        endpoint: &Arc<str>,
        client: Option<&str>,
        status: Option<u16>,
        rt_ms: Option<f64>,
        crawler: bool,
    ) -> Recent {
        let is_5xx = matches!(status, Some(500..=599));
        // A client's own errors: 4xx. During an error burst every client collects 5xx, and that
        // is the server's incident, not something the client does. A crawler's 4xx are the site's
        // broken links, which it follows: not a walk of guessed paths either.
        let is_err = matches!(status, Some(400..=499)) && !crawler;
        let ep = match self.endpoints.get_mut(endpoint) {
            Some(e) => e,
            None => {
                if self.endpoints.len() >= self.max_endpoints {
                    evict(&mut self.endpoints, t, |s| s.last);
                }
                self.endpoints.entry(endpoint.clone()).or_default()
            }
        };
        ep.last = t;
        let endpoint_total = ep.total.add(t, 1.0);
        let endpoint_errors = ep.errors.add(t, if is_5xx { 1.0 } else { 0.0 });
        if let Some(rt) = rt_ms {
            ep.push_latency(rt.max(0.01).ln() as f32);
        }
        let endpoint_log_rt = ep.median_latency();
        let (client_total, client_errors) = match client {
            Some(c) => {
                let st = match self.clients.get_mut(c) {
                    Some(s) => s,
                    None => {
                        if self.clients.len() >= MAX_CLIENTS {
                            evict(&mut self.clients, t, |s| s.last);
                        }
                        self.clients.entry(Arc::from(c)).or_default()
                    }
                };
                st.last = t;
                (st.total.add(t, 1.0), st.errors.add(t, if is_err { 1.0 } else { 0.0 }))
            }
            None => (1.0, if is_err { 1.0 } else { 0.0 }),
        };
        Recent { endpoint_total, endpoint_errors, endpoint_log_rt, client_total, client_errors }
    }

    /// Entries held (for memory accounting and tests).
    pub fn len(&self) -> (usize, usize) {
        (self.endpoints.len(), self.clients.len())
    }

    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty() && self.clients.is_empty()
    }
}

/// Drop entries idle for more than 10 half-lives; if none are, drop the oldest half.
fn evict<S>(map: &mut FastMap<Arc<str>, S>, now: f64, last: impl Fn(&S) -> f64) {
    let before = map.len();
    map.retain(|_, s| now - last(s) < 10.0 * HALF_LIFE_SECS);
    if map.len() == before {
        let mut times: Vec<f64> = map.values().map(&last).collect();
        times.sort_by(f64::total_cmp);
        let cut = times[times.len() / 2];
        map.retain(|_, s| last(s) > cut);
    }
}

/// Surprise of seeing at least `k` events when `lambda` were expected: −log10 of a Chernoff bound
/// on the Poisson upper tail, 0 when `k <= lambda`, capped at 20.
pub fn poisson_surprise(k: f64, lambda: f64) -> f64 {
    let lambda = lambda.max(1e-6);
    if k <= lambda {
        return 0.0;
    }
    let nats = lambda - k + k * (k / lambda).ln();
    (nats / std::f64::consts::LN_10).clamp(0.0, 20.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decayed_counter_halves_every_half_life() {
        let mut d = Decayed::default();
        d.add(0.0, 8.0);
        let v = d.add(HALF_LIFE_SECS, 0.0);
        assert!((v - 4.0).abs() < 1e-9, "{v}");
    }

    #[test]
    fn recent_latency_median_ignores_one_slow_request_and_follows_a_spike() {
        let mut c = Context::default();
        let ep: Arc<str> = Arc::from("GET /x");
        for i in 0..20 {
            c.observe(i as f64, &ep, None, Some(200), Some(10.0), false);
        }
        let lone = c.observe(20.0, &ep, None, Some(200), Some(1000.0), false);
        assert!((lone.endpoint_log_rt - 10f64.ln()).abs() < 1e-6, "{lone:?}");
        let mut last = lone;
        for i in 0..3 {
            last = c.observe(21.0 + i as f64, &ep, None, Some(200), Some(100.0), false);
        }
        assert!((last.endpoint_log_rt - 100f64.ln()).abs() < 1e-3, "{last:?}");
    }

    #[test]
    fn poisson_surprise_grows_with_excess() {
        assert_eq!(poisson_surprise(0.5, 1.0), 0.0);
        let one = poisson_surprise(1.0, 0.02);
        let ten = poisson_surprise(10.0, 0.02);
        assert!(one > 0.5 && one < 2.0, "{one}");
        assert!(ten > 15.0, "{ten}");
    }

    #[test]
    fn context_is_bounded_under_many_clients() {
        let mut c = Context::default();
        let ep: Arc<str> = Arc::from("GET /");
        for i in 0..(MAX_CLIENTS * 3) {
            c.observe(
                i as f64 * 0.001,
                &ep,
                Some(&format!("10.0.{}.{}", i / 256, i % 256)),
                Some(200),
                Some(5.0),
                false,
            );
        }
        assert!(c.len().1 <= MAX_CLIENTS);
    }

    #[test]
    fn burst_of_errors_raises_endpoint_error_count() {
        let mut c = Context::default();
        let ep: Arc<str> = Arc::from("GET /x");
        for i in 0..100 {
            c.observe(i as f64, &ep, Some("a"), Some(200), Some(10.0), false);
        }
        let mut last = Recent::default();
        for i in 0..10 {
            last = c.observe(100.0 + i as f64 * 0.1, &ep, Some("b"), Some(503), Some(10.0), false);
        }
        assert!(last.endpoint_errors > 9.0 && last.endpoint_errors <= 10.0, "{last:?}");
        // 5xx are the server's errors, not the client's.
        assert!(last.client_errors < 0.01, "{last:?}");
        for i in 0..10 {
            last = c.observe(110.0 + i as f64 * 0.1, &ep, Some("b"), Some(404), Some(10.0), false);
        }
        assert!(last.client_errors > 9.0);
    }

    #[test]
    fn a_declared_crawlers_404s_are_not_its_errors() {
        assert!(declared_crawler("Mozilla/5.0 (compatible; MJ12bot/v1.4.4; http://www.majestic12.co.uk/bot.php?+)"));
        assert!(declared_crawler("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"));
        assert!(declared_crawler("Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)"));
        assert!(!declared_crawler("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0"));
        assert!(!declared_crawler("python-requests/2.31"));
        assert!(!declared_crawler("Mozilla/5.0 zgrab/0.x"));
        let mut c = Context::default();
        let ep: Arc<str> = Arc::from("GET /x");
        let mut last = Recent::default();
        for i in 0..10 {
            last = c.observe(i as f64, &ep, Some("bot"), Some(404), None, true);
        }
        assert!(last.client_errors < 0.01, "{last:?}");
    }
}
