//! Section structs other than detection and models.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{invalid, no_empty_entries, ConfigError};
use crate::parse::FormatChoice;

/// Which source feeds the pipeline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// Poll Loki's `query_range` API.
    #[default]
    Loki,
    /// Read (or follow) files.
    File,
    /// Read standard input.
    Stdin,
    /// The built-in demo traffic generator.
    Demo,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Loki => "loki",
            SourceKind::File => "file",
            SourceKind::Stdin => "stdin",
            SourceKind::Demo => "demo",
        }
    }
}

/// `[source]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceConfig {
    /// `loki`, `file`, `stdin` or `demo`.
    pub kind: SourceKind,
    /// Files to read when `kind = "file"`, in order.
    pub paths: Vec<PathBuf>,
    /// Keep reading files as they grow (like `tail -F`).
    pub follow: bool,
    /// Demo only: requests per second of the generated traffic.
    pub demo_requests_per_sec: f64,
    /// Demo only: seconds of clean history generated at start, used to train before live traffic.
    pub demo_history_secs: u64,
    /// Demo only: seed of the traffic generator (0 = random).
    pub demo_seed: u64,
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            kind: SourceKind::Loki,
            paths: Vec::new(),
            follow: false,
            demo_requests_per_sec: 25.0,
            demo_history_secs: 1800,
            demo_seed: 0,
        }
    }
}

impl SourceConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (i, p) in self.paths.iter().enumerate() {
            if p.as_os_str().to_string_lossy().trim().is_empty() {
                return Err(invalid(&format!("source.paths[{i}]"), "is empty; remove it or name a file"));
            }
        }
        if self.kind == SourceKind::File && self.paths.is_empty() {
            return Err(invalid("source.paths", "must list at least one file when source.kind = \"file\""));
        }
        if !(self.demo_requests_per_sec > 0.0 && self.demo_requests_per_sec <= 5000.0) {
            return Err(invalid("source.demo_requests_per_sec", "must be in (0, 5000]"));
        }
        if self.demo_history_secs > 7 * 86_400 {
            return Err(invalid("source.demo_history_secs", "must be at most 604800 (7 days)"));
        }
        Ok(())
    }
}

/// Largest `loki.lookback_secs`: Loki itself rejects lines more than 1 h behind a stream's newest.
pub const MAX_LOOKBACK_SECS: u64 = 3600;
/// Largest `loki.parallel_queries`.
pub const MAX_PARALLEL_QUERIES: u32 = 32;
/// Largest `loki.shard_count`.
pub const MAX_SHARDS: u32 = 1024;

/// `[loki]`
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LokiConfig {
    /// Base URL of Loki (no trailing `/loki/api/v1`).
    pub url: String,
    /// LogQL log selector (and optional line filters) whose lines are analysed.
    pub query: String,
    /// Tenant sent as `X-Scope-OrgID`; empty sends no header.
    pub tenant_id: String,
    /// Seconds to stay behind "now", so late-ingested lines are not missed.
    pub query_delay_secs: u64,
    /// Entries requested per page (`limit`); Loki's maximum is 5000 by default.
    pub page_limit: u32,
    /// Timeout of one HTTP request, in milliseconds.
    pub timeout_ms: u64,
    /// Most lines read in one poll; the rest waits for the next poll (counted as lag, never lost).
    pub max_lines_per_poll: u64,
    /// After downtime, read at most this many seconds back; older lines are skipped and counted.
    pub max_catch_up_secs: u64,
    /// On first start with no cursor, read this many seconds of history to train on.
    pub backfill_secs: u64,
    /// ...and at most this many lines of it.
    pub backfill_max_lines: u64,
    /// Basic-auth user name (password from `password_file` or `ANOMALY_DETECTOR__LOKI__PASSWORD`).
    pub username: String,
    /// Basic-auth password. Prefer the environment or `password_file`; never logged.
    pub password: String,
    /// File holding the basic-auth password.
    pub password_file: Option<PathBuf>,
    /// Bearer token. Prefer the environment or `bearer_token_file`; never logged.
    pub bearer_token: String,
    /// File holding a bearer token.
    pub bearer_token_file: Option<PathBuf>,
    /// PEM file with extra CA certificates to trust.
    pub ca_file: Option<PathBuf>,
    /// Skip TLS verification (testing only).
    pub insecure_skip_verify: bool,
    /// Longest wait between retries after failures, in seconds (backoff doubles up to this).
    pub max_backoff_secs: u64,
    /// Lines ingested up to this many seconds after the cursor passed their time are still read
    /// (once): closed minutes are recounted in Loki and re-read when they grew. 0 turns it off.
    pub lookback_secs: u64,
    /// Sub-ranges of a poll's window read concurrently (merged in time order). 1 reads sequentially.
    pub parallel_queries: u32,
    /// Replicas splitting the query's streams between them (1: this instance reads all of them).
    pub shard_count: u32,
    /// This replica's shard, `0..shard_count`; unset: taken from a hostname ending in `-N`.
    pub shard_index: Option<u32>,
}

impl Default for LokiConfig {
    fn default() -> Self {
        LokiConfig {
            url: "http://localhost:3100".into(),
            query: r#"{job="demo-app"}"#.into(),
            tenant_id: String::new(),
            query_delay_secs: 10,
            page_limit: 5000,
            timeout_ms: 10_000,
            max_lines_per_poll: 200_000,
            max_catch_up_secs: 6 * 3600,
            backfill_secs: 3600,
            backfill_max_lines: 50_000,
            username: String::new(),
            password: String::new(),
            password_file: None,
            bearer_token: String::new(),
            bearer_token_file: None,
            ca_file: None,
            insecure_skip_verify: false,
            max_backoff_secs: 300,
            lookback_secs: 600,
            parallel_queries: 1,
            shard_count: 1,
            shard_index: None,
        }
    }
}

impl std::fmt::Debug for LokiConfig {
    /// Secrets are shown as `<redacted>` so a logged config never leaks them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hide = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("LokiConfig")
            .field("url", &self.url)
            .field("query", &self.query)
            .field("tenant_id", &self.tenant_id)
            .field("query_delay_secs", &self.query_delay_secs)
            .field("page_limit", &self.page_limit)
            .field("timeout_ms", &self.timeout_ms)
            .field("max_lines_per_poll", &self.max_lines_per_poll)
            .field("max_catch_up_secs", &self.max_catch_up_secs)
            .field("backfill_secs", &self.backfill_secs)
            .field("backfill_max_lines", &self.backfill_max_lines)
            .field("username", &self.username)
            .field("password", &hide(&self.password))
            .field("password_file", &self.password_file)
            .field("bearer_token", &hide(&self.bearer_token))
            .field("bearer_token_file", &self.bearer_token_file)
            .field("ca_file", &self.ca_file)
            .field("insecure_skip_verify", &self.insecure_skip_verify)
            .field("max_backoff_secs", &self.max_backoff_secs)
            .field("lookback_secs", &self.lookback_secs)
            .field("parallel_queries", &self.parallel_queries)
            .field("shard_count", &self.shard_count)
            .field("shard_index", &self.shard_index)
            .finish()
    }
}

impl LokiConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(invalid("loki.url", format!("must start with http:// or https://, got {:?}", self.url)));
        }
        let q = self.query.trim();
        if !(q.starts_with('{') && q.contains('}')) {
            return Err(invalid("loki.query", "must be a LogQL log selector such as {job=\"app\"}"));
        }
        if self.page_limit == 0 || self.page_limit > 5000 {
            return Err(invalid("loki.page_limit", "must be in 1..=5000 (Loki rejects larger limits)"));
        }
        if self.timeout_ms == 0 {
            return Err(invalid("loki.timeout_ms", "must be positive"));
        }
        if self.max_lines_per_poll < u64::from(self.page_limit) {
            return Err(invalid("loki.max_lines_per_poll", "must be at least loki.page_limit"));
        }
        if self.max_backoff_secs == 0 {
            return Err(invalid("loki.max_backoff_secs", "must be positive"));
        }
        if self.lookback_secs > MAX_LOOKBACK_SECS {
            return Err(invalid(
                "loki.lookback_secs",
                format!(
                    "must be at most {MAX_LOOKBACK_SECS} (Loki refuses lines more than 1 h behind a stream's newest)"
                ),
            ));
        }
        if !(1..=MAX_PARALLEL_QUERIES).contains(&self.parallel_queries) {
            return Err(invalid("loki.parallel_queries", format!("must be in 1..={MAX_PARALLEL_QUERIES}")));
        }
        if !(1..=MAX_SHARDS).contains(&self.shard_count) {
            return Err(invalid("loki.shard_count", format!("must be in 1..={MAX_SHARDS}")));
        }
        if let Some(i) = self.shard_index {
            if i >= self.shard_count {
                return Err(invalid(
                    "loki.shard_index",
                    format!("must be below loki.shard_count ({}), got {i}", self.shard_count),
                ));
            }
        }
        if !self.password.is_empty() && self.password_file.is_some() {
            return Err(invalid("loki.password_file", "set either loki.password or loki.password_file, not both"));
        }
        if !self.bearer_token.is_empty() && self.bearer_token_file.is_some() {
            return Err(invalid("loki.bearer_token_file", "set either loki.bearer_token or loki.bearer_token_file"));
        }
        Ok(())
    }
}

/// `[parse]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ParseConfig {
    /// `auto` (detect per line), `json`, `logfmt`, `access` or `text`.
    pub format: FormatChoice,
    /// Lines longer than this many bytes are cut here (and counted).
    pub max_line_bytes: usize,
    /// Explicit field names, overriding the built-in aliases. Keys: `timestamp`, `method`, `path`,
    /// `status`, `response_time_ms`, `response_time_secs`, `bytes`, `client`, `user_agent`, `level`,
    /// `message`. Values: the field name in your logs (dots address nested JSON: `http.status`).
    pub fields: BTreeMap<String, String>,
}

impl Default for ParseConfig {
    fn default() -> Self {
        ParseConfig { format: FormatChoice::Auto, max_line_bytes: 64 * 1024, fields: BTreeMap::new() }
    }
}

/// Keys accepted in `[parse.fields]`.
pub const FIELD_KEYS: &[&str] = &[
    "timestamp",
    "method",
    "path",
    "status",
    "response_time_ms",
    "response_time_secs",
    "bytes",
    "client",
    "user_agent",
    "level",
    "message",
];

impl ParseConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_line_bytes < 256 || self.max_line_bytes > 16 * 1024 * 1024 {
            return Err(invalid("parse.max_line_bytes", "must be in 256..=16777216"));
        }
        for (k, v) in &self.fields {
            if !FIELD_KEYS.contains(&k.as_str()) {
                return Err(invalid(
                    &format!("parse.fields.{k}"),
                    format!("unknown field; expected one of {}", FIELD_KEYS.join(", ")),
                ));
            }
            if v.trim().is_empty() {
                return Err(invalid(&format!("parse.fields.{k}"), "must not be empty"));
            }
        }
        Ok(())
    }
}

/// `[features]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeaturesConfig {
    /// Columns of the Isolation Forest's feature vector (see the README for each).
    pub columns: Vec<String>,
    /// Endpoints tracked individually (baselines, metric labels); the rest are pooled as `other`.
    pub max_endpoints: usize,
}

/// Every feature column the detector knows.
pub const FEATURE_COLUMNS: &[&str] = &[
    "response_time",
    "status",
    "bytes",
    "endpoint_error_rate",
    "endpoint_latency",
    "client_error_rate",
    "client_rate",
    "new_endpoint",
    "query_length",
];

impl Default for FeaturesConfig {
    fn default() -> Self {
        FeaturesConfig {
            columns: [
                "response_time",
                "status",
                "bytes",
                "endpoint_error_rate",
                "endpoint_latency",
                "client_error_rate",
            ]
            .map(String::from)
            .to_vec(),
            max_endpoints: 100,
        }
    }
}

impl FeaturesConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        no_empty_entries("features.columns", &self.columns)?;
        if self.columns.is_empty() {
            return Err(invalid("features.columns", "must name at least one column"));
        }
        for c in &self.columns {
            if !FEATURE_COLUMNS.contains(&c.as_str()) {
                return Err(invalid(
                    "features.columns",
                    format!("unknown column {c:?}; expected some of {}", FEATURE_COLUMNS.join(", ")),
                ));
            }
        }
        let mut sorted = self.columns.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != self.columns.len() {
            return Err(invalid("features.columns", "lists a column twice"));
        }
        if self.max_endpoints == 0 || self.max_endpoints > 10_000 {
            return Err(invalid("features.max_endpoints", "must be in 1..=10000"));
        }
        Ok(())
    }
}

/// Severity of an anomaly or incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [Severity::Low, Severity::Medium, Severity::High, Severity::Critical];
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// A user rule: flags a request whose field matches a regular expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRule {
    /// Rule name, shown as `rule:<name>`. Letters, digits, `_` and `-`.
    pub name: String,
    /// Field the pattern is matched against: `path`, `query`, `target` (path + query), `user_agent`,
    /// `method`, `client`, `status`, `line` (the whole raw line).
    pub field: String,
    /// Regular expression (Rust `regex` syntax; prefix `(?i)` for case-insensitive).
    pub pattern: String,
    /// Severity of a match.
    #[serde(default = "default_rule_severity")]
    pub severity: Severity,
    /// Sentence shown as the reason; `{value}` is replaced by the matched field's value.
    #[serde(default)]
    pub description: String,
}

fn default_rule_severity() -> Severity {
    Severity::Medium
}

/// Fields a user rule may look at.
pub const RULE_FIELDS: &[&str] = &["path", "query", "target", "user_agent", "method", "client", "status", "line"];

/// `[rules]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesConfig {
    /// Use the shipped rules (attacks judged on decoded values, scanner user agents, probes).
    pub builtin: bool,
    /// Names of shipped rules to turn off.
    pub disabled: Vec<String>,
    /// Your own rules, as `[[rules.custom]]` tables.
    pub custom: Vec<UserRule>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig { builtin: true, disabled: Vec::new(), custom: Vec::new() }
    }
}

impl RulesConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        no_empty_entries("rules.disabled", &self.disabled)?;
        let shipped = crate::detect::rules::shipped;
        for (i, name) in self.disabled.iter().enumerate() {
            if !shipped().any(|n| n == name) {
                return Err(invalid(
                    &format!("rules.disabled[{i}]"),
                    format!("unknown rule {name:?}; shipped rules: {}", shipped().collect::<Vec<_>>().join(", ")),
                ));
            }
        }
        for (i, r) in self.custom.iter().enumerate() {
            let key = format!("rules.custom[{i}]");
            if r.name.is_empty() || !r.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                return Err(invalid(&format!("{key}.name"), "must be non-empty letters, digits, '_' or '-'"));
            }
            if !RULE_FIELDS.contains(&r.field.as_str()) {
                return Err(invalid(
                    &format!("{key}.field"),
                    format!("unknown field {:?}; expected one of {}", r.field, RULE_FIELDS.join(", ")),
                ));
            }
            if let Err(e) = regex::Regex::new(&r.pattern) {
                return Err(invalid(&format!("{key}.pattern"), format!("invalid regular expression: {e}")));
            }
        }
        Ok(())
    }
}

/// `[state]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StateConfig {
    /// Directory for `cursor.json` (and later model state). Created if missing.
    pub dir: PathBuf,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig { dir: PathBuf::from("state") }
    }
}

/// Console output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

/// `[outputs]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutputsConfig {
    /// One structured log line per incident.
    pub console: ConsoleOutputConfig,
    /// Incidents and anomalous lines pushed back to Loki.
    pub loki_push: super::LokiPushConfig,
}

/// `[outputs.console]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleOutputConfig {
    /// Write incidents to the log.
    pub enabled: bool,
    /// Also log every anomalous line at INFO (otherwise at DEBUG).
    pub each_anomaly: bool,
}

impl Default for ConsoleOutputConfig {
    fn default() -> Self {
        ConsoleOutputConfig { enabled: true, each_anomaly: false }
    }
}

/// `[log]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json` (also `--log-format`).
    pub format: OutputFormat,
}
