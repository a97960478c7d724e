//! `[server]`: where the HTTP server listens, who may use its API, and how much it serves at once.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

/// `[server]`
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address of the HTTP server. The container sets `0.0.0.0:9797` (then set an API token).
    pub listen: String,
    /// Serve HTTP at all (`scan` never serves).
    pub enabled: bool,
    /// Anomalies kept for `/api/v1/anomalies`.
    pub recent_anomalies: usize,
    /// Bearer token of the mutating routes (`POST /api/v1/rebaseline`). Only from the environment
    /// (`ANOMALY_DETECTOR__SERVER__API_TOKEN`), never from the file; never logged.
    #[serde(skip_serializing)]
    pub api_token: String,
    /// File holding the bearer token of the mutating routes (trimmed).
    pub api_token_file: Option<PathBuf>,
    /// Bearer token of the `/api/v1` GET routes; empty leaves them open. Only from the environment
    /// (`ANOMALY_DETECTOR__SERVER__READ_TOKEN`); never logged.
    #[serde(skip_serializing)]
    pub read_token: String,
    /// File holding the bearer token of the `/api/v1` GET routes (trimmed).
    pub read_token_file: Option<PathBuf>,
    /// `/api/v1` requests served at once; more are answered 503 at once.
    pub max_concurrent_requests: usize,
    /// A request not answered within this many seconds is answered 408.
    pub request_timeout_secs: u64,
    /// A connection that has not sent a whole request head within this many seconds is closed.
    pub header_read_timeout_secs: u64,
    /// `raw` lines in API answers are shortened to this many bytes (on a character boundary).
    pub max_raw_line_bytes: usize,
    /// A list answer stops adding items at this many bytes and says `"truncated": true`.
    pub max_response_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:9797".into(),
            enabled: true,
            recent_anomalies: 500,
            api_token: String::new(),
            api_token_file: None,
            read_token: String::new(),
            read_token_file: None,
            max_concurrent_requests: 16,
            request_timeout_secs: 30,
            header_read_timeout_secs: 10,
            max_raw_line_bytes: 2048,
            max_response_bytes: 4 * 1024 * 1024,
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    /// Tokens are shown as `<redacted>` so a logged config never leaks them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hide = |s: &str| if s.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("ServerConfig")
            .field("listen", &self.listen)
            .field("enabled", &self.enabled)
            .field("recent_anomalies", &self.recent_anomalies)
            .field("api_token", &hide(&self.api_token))
            .field("api_token_file", &self.api_token_file)
            .field("read_token", &hide(&self.read_token))
            .field("read_token_file", &self.read_token_file)
            .field("max_concurrent_requests", &self.max_concurrent_requests)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("header_read_timeout_secs", &self.header_read_timeout_secs)
            .field("max_raw_line_bytes", &self.max_raw_line_bytes)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish()
    }
}

/// Keys that hold a secret and are only read from the environment, never from a config file.
pub const ENV_ONLY_KEYS: &[&str] = &["server.api_token", "server.read_token"];

impl ServerConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(invalid(
                "server.listen",
                format!("must be host:port such as 127.0.0.1:9797, got {:?}", self.listen),
            ));
        }
        if self.recent_anomalies == 0 || self.recent_anomalies > 100_000 {
            return Err(invalid("server.recent_anomalies", "must be in 1..=100000"));
        }
        if self.max_concurrent_requests == 0 || self.max_concurrent_requests > 10_000 {
            return Err(invalid("server.max_concurrent_requests", "must be in 1..=10000"));
        }
        if self.request_timeout_secs == 0 || self.request_timeout_secs > 3600 {
            return Err(invalid("server.request_timeout_secs", "must be in 1..=3600"));
        }
        if self.header_read_timeout_secs == 0 || self.header_read_timeout_secs > 300 {
            return Err(invalid("server.header_read_timeout_secs", "must be in 1..=300"));
        }
        if !(16..=1024 * 1024).contains(&self.max_raw_line_bytes) {
            return Err(invalid("server.max_raw_line_bytes", "must be in 16..=1048576"));
        }
        if !(64 * 1024..=256 * 1024 * 1024).contains(&self.max_response_bytes) {
            return Err(invalid("server.max_response_bytes", "must be in 65536..=268435456"));
        }
        self.api_token()?;
        self.read_token()?;
        Ok(())
    }

    /// The token of the mutating routes, from the environment or `api_token_file`; `None` when
    /// neither is set. The error names the key, never the value.
    pub fn api_token(&self) -> Result<Option<String>, ConfigError> {
        token("api_token", &self.api_token, &self.api_token_file)
    }

    /// The token of the `/api/v1` GET routes, like [`ServerConfig::api_token`].
    pub fn read_token(&self) -> Result<Option<String>, ConfigError> {
        token("read_token", &self.read_token, &self.read_token_file)
    }
}

fn token(field: &str, from_env: &str, file: &Option<PathBuf>) -> Result<Option<String>, ConfigError> {
    let variable = format!("{}__SERVER__{}", super::ENV_PREFIX, field.to_uppercase());
    let key = format!("server.{field}_file");
    let value = match file {
        Some(_) if !from_env.is_empty() => {
            return Err(invalid(&key, format!("set either {variable} or server.{field}_file, not both")))
        }
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| invalid(&key, format!("cannot read {}: {}", path.display(), e.kind())))?,
        None if from_env.is_empty() => return Ok(None),
        None => from_env.to_string(),
    };
    let value = value.trim();
    if value.is_empty() {
        let key = if file.is_some() { key } else { variable };
        return Err(invalid(&key, "the token is empty"));
    }
    Ok(Some(value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_file_is_trimmed_and_its_problems_name_the_key_not_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret-token\n").unwrap();
        let mut cfg = ServerConfig { api_token_file: Some(path.clone()), ..ServerConfig::default() };
        assert_eq!(cfg.api_token().unwrap().as_deref(), Some("s3cret-token"));
        assert_eq!(cfg.read_token().unwrap(), None);

        cfg.api_token = "also-set".into();
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.starts_with("server.api_token_file") && !err.contains("also-set"), "{err}");

        let cfg = ServerConfig { read_token_file: Some(dir.path().join("missing")), ..ServerConfig::default() };
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.starts_with("server.read_token_file: cannot read"), "{err}");

        std::fs::write(&path, " \n").unwrap();
        let cfg = ServerConfig { api_token_file: Some(path), ..ServerConfig::default() };
        assert!(cfg.validate().unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn debug_output_hides_the_tokens() {
        let cfg = ServerConfig { api_token: "s3cret-a".into(), read_token: "s3cret-b".into(), ..Default::default() };
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("s3cret") && shown.contains("<redacted>"), "{shown}");
    }
}
