//! [`SinkError`]: why an alert could not be set up or delivered. Messages never contain secrets
//! (webhook URLs are stripped from HTTP errors).

use std::time::Duration;

/// An error of the alert sink.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// A channel could not be set up (a secret missing or unreadable, a bad address). Names the key.
    #[error("{key}: {problem}")]
    Config { key: String, problem: String },
    /// `alerts.json` could not be read or written.
    #[error("alert state {path}: {problem}")]
    State { path: String, problem: String },
    /// The receiver answered with a non-success status.
    #[error("HTTP status {status}")]
    HttpStatus { status: u16, retry_after: Option<Duration> },
    /// No answer within `alerting.timeout_ms`.
    #[error("timed out")]
    Timeout,
    /// The receiver could not be reached.
    #[error("could not connect: {0}")]
    Connect(String),
    /// Any other transport failure.
    #[error("request failed: {0}")]
    Request(String),
    /// The SMTP server refused the login.
    #[error("SMTP login rejected: {0}")]
    SmtpAuth(String),
    /// The SMTP server failed (connection, TLS, a transient 4xx reply): worth retrying.
    #[error("SMTP: {0}")]
    Smtp(String),
    /// The SMTP server refused the message for good (a permanent 5xx reply).
    #[error("SMTP rejected: {0}")]
    SmtpRejected(String),
    /// The message could not be built.
    #[error("invalid message: {0}")]
    Message(String),
}

impl SinkError {
    /// A short, bounded label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            SinkError::Config { .. } => "config",
            SinkError::State { .. } => "state",
            SinkError::HttpStatus { status: 429, .. } => "http_429",
            SinkError::HttpStatus { status: 400..=499, .. } => "http_4xx",
            SinkError::HttpStatus { status: 500..=599, .. } => "http_5xx",
            SinkError::HttpStatus { .. } => "http_other",
            SinkError::Timeout => "timeout",
            SinkError::Connect(_) => "connect",
            SinkError::Request(_) => "request",
            SinkError::SmtpAuth(_) => "smtp_auth",
            SinkError::Smtp(_) => "smtp",
            SinkError::SmtpRejected(_) => "smtp_rejected",
            SinkError::Message(_) => "message",
        }
    }

    /// Whether trying again may help (network trouble, 5xx, 408, 429); a 4xx or a bad message will not.
    pub fn is_retryable(&self) -> bool {
        match self {
            SinkError::HttpStatus { status, .. } => matches!(status, 408 | 425 | 429 | 500..=599),
            SinkError::Timeout | SinkError::Connect(_) | SinkError::Request(_) | SinkError::Smtp(_) => true,
            SinkError::Config { .. }
            | SinkError::State { .. }
            | SinkError::SmtpAuth(_)
            | SinkError::SmtpRejected(_) => false,
            SinkError::Message(_) => false,
        }
    }

    /// How long the receiver asked us to wait (`Retry-After`), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SinkError::HttpStatus { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Classifies a reqwest error without the URL (which may be a secret webhook URL).
    pub(crate) fn from_reqwest(e: reqwest::Error) -> SinkError {
        let e = e.without_url();
        if e.is_timeout() {
            SinkError::Timeout
        } else if e.is_connect() {
            SinkError::Connect(error_chain(&e))
        } else {
            SinkError::Request(error_chain(&e))
        }
    }
}

/// An error and its sources on one line, bounded in length.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    super::escape::truncate_chars(&out, 300).into_owned()
}
