//! Incidents the generator can inject, how they are scheduled, and the ground truth it records.
//!
//! Nothing in a generated line tells an incident apart: labels live only in
//! [`Generated::label`](super::Generated) and [`IncidentTruth`].

use jiff::Timestamp;

/// What goes wrong during an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentKind {
    /// One endpoint's latency is multiplied (8–20×) for the duration; all its requests are labelled.
    LatencySpike,
    /// A single request 20–60× its endpoint's median latency.
    LoneSlow,
    /// One endpoint answers 500/502/503 to 50–90 % of its requests; the error lines are labelled.
    ErrorBurst,
    /// A never-seen endpoint appears and mostly fails; its failing lines are labelled.
    NewFailingEndpoint,
    /// A new client probes many paths fast (dotfiles, admin pages, traversal, injection); all its lines
    /// are labelled.
    Scanner,
    /// One client pulls 30–100× the normal response size from one endpoint; those lines are labelled.
    LargeResponses,
    /// One busy endpoint's traffic falls to 0–10 %; no line to label, the window is the label.
    TrafficDrop,
    /// The application log (`TrafficConfig::app_lines_per_sec`) gains an error message it never
    /// wrote, about one line every 3 s; every such line is labelled.
    NewErrorMessage,
    /// A warning the application log writes rarely comes 0.5–1 times a second; those lines are
    /// labelled.
    ErrorSurge,
    /// The application log's `db: query took N ms` comes 80–300× slower, one line every 12 s or
    /// so; those lines are labelled.
    SlowMessages,
}

impl IncidentKind {
    /// Every kind, in a stable order.
    pub const ALL: [IncidentKind; 7] = [
        IncidentKind::LatencySpike,
        IncidentKind::LoneSlow,
        IncidentKind::ErrorBurst,
        IncidentKind::NewFailingEndpoint,
        IncidentKind::Scanner,
        IncidentKind::LargeResponses,
        IncidentKind::TrafficDrop,
    ];

    /// The application-log kinds (not in [`IncidentKind::ALL`], the request kinds).
    pub const APP: [IncidentKind; 3] =
        [IncidentKind::NewErrorMessage, IncidentKind::ErrorSurge, IncidentKind::SlowMessages];

    /// An application-log kind: its lines are messages, not requests.
    pub fn is_app(&self) -> bool {
        Self::APP.contains(self)
    }

    /// Snake-case name (`latency_spike`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            IncidentKind::LatencySpike => "latency_spike",
            IncidentKind::LoneSlow => "lone_slow",
            IncidentKind::ErrorBurst => "error_burst",
            IncidentKind::NewFailingEndpoint => "new_failing_endpoint",
            IncidentKind::Scanner => "scanner",
            IncidentKind::LargeResponses => "large_responses",
            IncidentKind::TrafficDrop => "traffic_drop",
            IncidentKind::NewErrorMessage => "new_error_message",
            IncidentKind::ErrorSurge => "error_surge",
            IncidentKind::SlowMessages => "slow_messages",
        }
    }

    /// The anomaly kind a detector is expected to report for it: `response_time`, `status_code`,
    /// `suspicious`, `behavioral` or `volume`.
    pub fn expected_anomaly_kind(&self) -> &'static str {
        match self {
            IncidentKind::LatencySpike | IncidentKind::LoneSlow => "response_time",
            IncidentKind::ErrorBurst | IncidentKind::NewFailingEndpoint => "status_code",
            IncidentKind::Scanner => "suspicious",
            IncidentKind::LargeResponses => "behavioral",
            IncidentKind::TrafficDrop => "volume",
            IncidentKind::NewErrorMessage | IncidentKind::ErrorSurge | IncidentKind::SlowMessages => "pattern",
        }
    }

    /// Whether individual lines carry this incident's label (all but [`IncidentKind::TrafficDrop`]).
    pub fn labels_lines(&self) -> bool {
        !matches!(self, IncidentKind::TrafficDrop)
    }

    /// The default range of [`ScheduledIncident::intensity`], drawn uniformly when it is `None`.
    ///
    /// Meaning per kind: latency multiplier (spike), multiple of the endpoint median (lone slow),
    /// fraction of requests failing (error burst, new failing endpoint), requests per second (scanner),
    /// response size multiplier (large responses), fraction of traffic kept (traffic drop).
    pub fn intensity_range(&self) -> (f64, f64) {
        match self {
            IncidentKind::LatencySpike => (8.0, 20.0),
            IncidentKind::LoneSlow => (20.0, 60.0),
            IncidentKind::ErrorBurst => (0.5, 0.9),
            IncidentKind::NewFailingEndpoint => (0.8, 0.95),
            IncidentKind::Scanner => (4.0, 10.0),
            IncidentKind::LargeResponses => (30.0, 100.0),
            IncidentKind::TrafficDrop => (0.0, 0.1),
            IncidentKind::NewErrorMessage => (1.0, 1.0),
            IncidentKind::ErrorSurge => (0.5, 1.0),
            IncidentKind::SlowMessages => (80.0, 300.0),
        }
    }

    /// The range an explicit intensity must lie in.
    pub(crate) fn intensity_limits(&self) -> (f64, f64) {
        match self {
            IncidentKind::LatencySpike | IncidentKind::LoneSlow | IncidentKind::LargeResponses => (1.0, 10_000.0),
            IncidentKind::ErrorBurst | IncidentKind::NewFailingEndpoint => (0.0, 1.0),
            IncidentKind::Scanner => (0.01, 1000.0),
            IncidentKind::TrafficDrop => (0.0, 1.0),
            IncidentKind::NewErrorMessage => (0.0, 1000.0),
            IncidentKind::ErrorSurge => (0.01, 100.0),
            IncidentKind::SlowMessages => (1.0, 10_000.0),
        }
    }

    /// Whether an incident of this kind may name a client.
    pub(crate) fn takes_client(&self) -> bool {
        matches!(self, IncidentKind::Scanner | IncidentKind::LargeResponses | IncidentKind::LoneSlow)
    }
}

impl std::fmt::Display for IncidentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An incident to inject, relative to the generator's start.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledIncident {
    pub kind: IncidentKind,
    /// Seconds after [`TrafficConfig::start`](super::TrafficConfig) when it begins.
    pub start_offset_secs: f64,
    /// How long it lasts ([`IncidentKind::LoneSlow`]: one request at the start; the duration only
    /// bounds its truth window).
    pub duration_secs: f64,
    /// `METHOD /template` (`GET /api/products/{id}`); `None` picks a fitting one. A
    /// [`IncidentKind::NewFailingEndpoint`] must name an endpoint the API does not have; a
    /// [`IncidentKind::Scanner`] takes none.
    pub endpoint: Option<String>,
    /// Client address for scanner, large responses and lone slow; `None` picks one (a new address
    /// for a scanner, a regular client otherwise).
    pub client: Option<String>,
    /// Strength, see [`IncidentKind::intensity_range`]; `None` draws one from that range.
    pub intensity: Option<f64>,
}

impl ScheduledIncident {
    /// An incident with endpoint, client and intensity left to the generator.
    pub fn new(kind: IncidentKind, start_offset_secs: f64, duration_secs: f64) -> Self {
        ScheduledIncident { kind, start_offset_secs, duration_secs, endpoint: None, client: None, intensity: None }
    }

    /// Targets `endpoint` (`METHOD /template`).
    pub fn on(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Comes from `client` (an IP address).
    pub fn from_client(mut self, client: impl Into<String>) -> Self {
        self.client = Some(client.into());
        self
    }

    /// Sets the intensity (see [`IncidentKind::intensity_range`]).
    pub fn with_intensity(mut self, intensity: f64) -> Self {
        self.intensity = Some(intensity);
        self
    }
}

/// Ground truth of one incident, as resolved by the generator.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct IncidentTruth {
    /// Incident id, as in [`Generated::label`](super::Generated); ids count from 1 in schedule order.
    pub id: u32,
    pub kind: IncidentKind,
    /// Target endpoint (`METHOD /template`); `None` for a scanner.
    pub endpoint: Option<String>,
    /// The client involved (scanner, large responses, lone slow).
    pub client: Option<String>,
    pub start: Timestamp,
    pub end: Timestamp,
    /// The resolved intensity (see [`IncidentKind::intensity_range`]).
    pub intensity: f64,
    /// Lines labelled with this incident so far.
    pub labelled_lines: u64,
    /// Requests suppressed so far (traffic drop).
    pub dropped_requests: u64,
}

impl IncidentTruth {
    /// Whether `t` falls inside the incident's window `[start, end)`.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }

    /// A short sentence for humans: "a latency spike on GET /api/products".
    pub fn describe(&self) -> String {
        let endpoint = self.endpoint.as_deref().unwrap_or("-");
        let client = self.client.as_deref().unwrap_or("-");
        match self.kind {
            IncidentKind::LatencySpike => format!("a latency spike on {endpoint}"),
            IncidentKind::LoneSlow => format!("a lone slow request to {endpoint}"),
            IncidentKind::ErrorBurst => format!("an error burst on {endpoint}"),
            IncidentKind::NewFailingEndpoint => format!("a new failing endpoint, {endpoint}"),
            IncidentKind::Scanner => format!("a scanner from {client}"),
            IncidentKind::LargeResponses => format!("large responses from {endpoint} to {client}"),
            IncidentKind::TrafficDrop => format!("a traffic drop on {endpoint}"),
            IncidentKind::NewErrorMessage => "a new error message in the application log".to_string(),
            IncidentKind::ErrorSurge => "a warning surging in the application log".to_string(),
            IncidentKind::SlowMessages => "slow queries in the application log".to_string(),
        }
    }
}

/// Why a schedule or traffic configuration was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    #[error("requests_per_sec must be a positive finite number, got {0}")]
    BadRate(f64),
    #[error("incident {index} ({kind}): start and duration must be finite and non-negative")]
    BadTiming { index: usize, kind: IncidentKind },
    #[error("incident {index} ({kind}) starts at {start_offset_secs} s, before the generator's clock ({now_secs} s)")]
    InThePast { index: usize, kind: IncidentKind, start_offset_secs: f64, now_secs: f64 },
    #[error("incident {index} ({kind}): unknown endpoint {endpoint:?}")]
    UnknownEndpoint { index: usize, kind: IncidentKind, endpoint: String },
    #[error("incident {index} ({kind}): endpoint {endpoint:?} must be \"METHOD /path\" and not an existing one")]
    NotANewEndpoint { index: usize, kind: IncidentKind, endpoint: String },
    #[error("incident {index} ({kind}) does not take a {field}")]
    NotApplicable { index: usize, kind: IncidentKind, field: &'static str },
    #[error("incident {index} ({kind}): intensity {value} outside {min}..={max}")]
    BadIntensity { index: usize, kind: IncidentKind, value: f64, min: f64, max: f64 },
}

impl ScheduleError {
    /// Short, bounded label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            ScheduleError::BadRate(_) => "bad_rate",
            ScheduleError::BadTiming { .. } => "bad_timing",
            ScheduleError::InThePast { .. } => "in_the_past",
            ScheduleError::UnknownEndpoint { .. } => "unknown_endpoint",
            ScheduleError::NotANewEndpoint { .. } => "not_a_new_endpoint",
            ScheduleError::NotApplicable { .. } => "not_applicable",
            ScheduleError::BadIntensity { .. } => "bad_intensity",
        }
    }
}

/// Never-seen endpoints a [`IncidentKind::NewFailingEndpoint`] picks from.
pub(crate) const NEW_ENDPOINTS: &[&str] =
    &["POST /api/v2/checkout", "GET /api/v2/recommendations", "POST /api/payments/refund", "GET /api/inventory/{id}"];

/// Endpoints busy enough for spikes, bursts and drops to be visible.
pub(crate) const BUSY_ENDPOINTS: &[&str] =
    &["GET /api/users", "GET /api/users/{id}", "GET /api/products", "GET /api/products/{id}", "GET /api/search"];

/// Endpoints a lone slow request or large responses may hit.
pub(crate) const LONE_SLOW_ENDPOINTS: &[&str] = &[
    "GET /api/users",
    "GET /api/users/{id}",
    "GET /api/products",
    "GET /api/products/{id}",
    "GET /api/orders/{id}",
    "GET /api/search",
    "POST /api/login",
    "GET /api/cart",
];

/// What a scanner requests: method, path, the status the API answers.
pub(crate) const SCANNER_PROBES: &[(&str, &str, u16)] = &[
    ("GET", "/.env", 404),
    ("GET", "/.git/config", 403),
    ("GET", "/.git/HEAD", 403),
    ("GET", "/wp-login.php", 404),
    ("POST", "/wp-login.php", 404),
    ("GET", "/xmlrpc.php", 404),
    ("GET", "/admin", 403),
    ("GET", "/admin/login", 404),
    ("GET", "/phpmyadmin/", 404),
    ("GET", "/../../etc/passwd", 400),
    ("GET", "/index.php?page=../../../../etc/passwd", 404),
    ("GET", "/api/users?id=1'+OR+'1'='1", 400),
    ("GET", "/api/products?id=1%27%20OR%20%271%27%3D%271", 400),
    ("GET", "/api/orders/1%20UNION%20SELECT%20username,password%20FROM%20users--", 400),
    ("GET", "/api/search?q=<script>alert(1)</script>", 400),
    ("GET", "/api/search?q=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E", 400),
    ("GET", "/cgi-bin/luci/;stok=/locale", 404),
    ("GET", "/cgi-bin/.%2e/.%2e/.%2e/.%2e/bin/sh", 400),
    ("GET", "/server-status", 403),
    ("GET", "/actuator/env", 404),
    ("GET", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", 404),
    ("GET", "/config.json", 404),
    ("GET", "/backup.zip", 404),
    ("GET", "/.aws/credentials", 404),
    ("GET", "/.DS_Store", 404),
    ("GET", "/owa/auth/logon.aspx", 404),
    ("GET", "/HNAP1/", 404),
    ("HEAD", "/", 404),
];

/// User agents scanners send (a normal browser UA is used about a third of the time).
pub(crate) const SCANNER_UAS: &[&str] = &[
    "sqlmap/1.7.2#stable (https://sqlmap.org)",
    "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:Port Check)",
    "Mozilla/5.0 zgrab/0.x",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_snake_case() {
        let names: std::collections::HashSet<_> = IncidentKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), IncidentKind::ALL.len());
        for k in IncidentKind::ALL {
            assert!(k.as_str().chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
            let (lo, hi) = k.intensity_range();
            let (min, max) = k.intensity_limits();
            assert!(min <= lo && lo <= hi && hi <= max, "{k}");
        }
    }

    #[test]
    fn every_expected_anomaly_kind_is_covered() {
        let kinds: std::collections::BTreeSet<_> =
            IncidentKind::ALL.iter().map(|k| k.expected_anomaly_kind()).collect();
        assert_eq!(
            kinds.into_iter().collect::<Vec<_>>(),
            ["behavioral", "response_time", "status_code", "suspicious", "volume"]
        );
    }

    #[test]
    fn scanner_probes_are_valid_request_targets() {
        for (method, path, status) in SCANNER_PROBES {
            assert!(path.starts_with('/') && !path.contains(' ') && !path.contains('"'), "{path}");
            assert!(["GET", "POST", "HEAD"].contains(method));
            assert!((400..500).contains(status), "{path}");
        }
    }
}
