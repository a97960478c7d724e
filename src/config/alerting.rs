//! `[alerting]`: alert channels (any number of each, as arrays of tables) and the policy shared by all.
//!
//! Secrets (webhook URLs, the HMAC secret, SMTP passwords) are never written inline: each is named by a
//! `*_env` key (the name of an environment variable holding it) or a `*_file` key (a file holding it).
//! They are read when the alert sink starts and never logged.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError, Severity};

/// `[alerting]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertingConfig {
    /// An incident still open is notified again (with its new count) at most once per this many seconds.
    pub repeat_interval_secs: u64,
    /// An open incident with no update for this many seconds is closed with a resolved notice, even if
    /// the pipeline never reports it resolved (for example after a restart).
    pub resolve_after_secs: u64,
    /// Global limit on notifications per minute across all chat/email channels; the rest is held back
    /// and summarised in one notification when the minute has passed. 0 = no limit.
    pub max_alerts_per_minute: u32,
    /// Notifications waiting per channel; past this they are dropped and counted
    /// (`anomaly_detector_alerts_total{outcome="dropped"}`).
    pub queue_capacity: usize,
    /// Retries after a failed delivery (capped exponential backoff from 1 s, honouring `Retry-After`).
    pub max_retries: u32,
    /// Longest wait between two tries of one delivery, seconds.
    pub max_backoff_secs: u64,
    /// Timeout of one delivery attempt (HTTP request or SMTP session), milliseconds.
    pub timeout_ms: u64,
    /// At shutdown, how long the queues keep delivering (retries included) before the daemon exits,
    /// seconds. What is still undelivered then is kept in `alerts.json` and sent at the next start.
    /// 0 = keep everything for the next start.
    pub shutdown_drain_secs: u64,
    /// Base URL of Grafana for "open in Explore" links; empty = no links.
    pub grafana_url: String,
    /// UID of the Loki datasource in Grafana, used in Explore links.
    pub loki_datasource_uid: String,
    /// LogQL query opened by Explore links; empty = the detector's `loki.query`.
    pub explore_query: String,
    /// Slack incoming webhooks (Block Kit messages).
    pub slack: Vec<SlackChannelConfig>,
    /// Discord webhooks (embeds).
    pub discord: Vec<DiscordChannelConfig>,
    /// Generic JSON webhooks (schema documented in `src/sink/alert/webhook.rs`), optionally HMAC-signed.
    pub webhook: Vec<WebhookChannelConfig>,
    /// SMTP email.
    pub email: Vec<EmailChannelConfig>,
    /// Prometheus Alertmanager (v2 API).
    pub alertmanager: Vec<AlertmanagerChannelConfig>,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            repeat_interval_secs: 3600,
            resolve_after_secs: 900,
            max_alerts_per_minute: 20,
            queue_capacity: 100,
            max_retries: 5,
            max_backoff_secs: 60,
            timeout_ms: 10_000,
            shutdown_drain_secs: 5,
            grafana_url: String::new(),
            loki_datasource_uid: "loki".into(),
            explore_query: String::new(),
            slack: Vec::new(),
            discord: Vec::new(),
            webhook: Vec::new(),
            email: Vec::new(),
            alertmanager: Vec::new(),
        }
    }
}

fn default_min_severity() -> Severity {
    Severity::Medium
}

fn default_am_min_severity() -> Severity {
    Severity::Low
}

/// `[[alerting.slack]]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackChannelConfig {
    /// Channel name in metrics and logs; empty = `slack`, `slack_2`, ...
    #[serde(default)]
    pub name: String,
    /// Incidents below this severity are not sent here.
    #[serde(default = "default_min_severity")]
    pub min_severity: Severity,
    /// Environment variable holding the incoming-webhook URL.
    #[serde(default)]
    pub webhook_url_env: Option<String>,
    /// File holding the incoming-webhook URL.
    #[serde(default)]
    pub webhook_url_file: Option<PathBuf>,
}

/// `[[alerting.discord]]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordChannelConfig {
    /// Channel name in metrics and logs; empty = `discord`, `discord_2`, ...
    #[serde(default)]
    pub name: String,
    /// Incidents below this severity are not sent here.
    #[serde(default = "default_min_severity")]
    pub min_severity: Severity,
    /// Environment variable holding the webhook URL.
    #[serde(default)]
    pub webhook_url_env: Option<String>,
    /// File holding the webhook URL.
    #[serde(default)]
    pub webhook_url_file: Option<PathBuf>,
    /// Display name of the webhook's messages; empty = the webhook's own.
    #[serde(default)]
    pub username: String,
}

/// `[[alerting.webhook]]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookChannelConfig {
    /// Channel name in metrics and logs; empty = `webhook`, `webhook_2`, ...
    #[serde(default)]
    pub name: String,
    /// Incidents below this severity are not sent here.
    #[serde(default = "default_min_severity")]
    pub min_severity: Severity,
    /// Environment variable holding the URL the JSON is POSTed to.
    #[serde(default)]
    pub url_env: Option<String>,
    /// File holding that URL.
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// Environment variable holding the HMAC-SHA256 secret; when set (or `secret_file`), each request
    /// carries `X-Signature-256: sha256=<hex>` computed over the body.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// File holding the HMAC secret.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

/// How an SMTP connection is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required); port 587 by default.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS); port 465 by default.
    Tls,
    /// No encryption (local relays and tests only); port 25 by default.
    None,
}

/// `[[alerting.email]]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailChannelConfig {
    /// Channel name in metrics and logs; empty = `email`, `email_2`, ...
    #[serde(default)]
    pub name: String,
    /// Incidents below this severity are not sent here.
    #[serde(default = "default_min_severity")]
    pub min_severity: Severity,
    /// SMTP server host name.
    pub host: String,
    /// SMTP port; 0 = the usual port for `tls` (587, 465 or 25).
    #[serde(default)]
    pub port: u16,
    /// `starttls`, `tls` or `none`.
    #[serde(default)]
    pub tls: SmtpTls,
    /// SMTP login user; empty = no login.
    #[serde(default)]
    pub username: String,
    /// Environment variable holding the SMTP password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding the SMTP password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Sender address, e.g. `Anomaly Detector <alerts@example.com>`.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
}

/// `[[alerting.alertmanager]]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerChannelConfig {
    /// Channel name in metrics and logs; empty = `alertmanager`, `alertmanager_2`, ...
    #[serde(default)]
    pub name: String,
    /// Incidents below this severity are not sent here.
    #[serde(default = "default_am_min_severity")]
    pub min_severity: Severity,
    /// Base URL of Alertmanager, e.g. `http://alertmanager:9093`; alerts go to `<url>/api/v2/alerts`.
    pub url: String,
    /// Extra labels added to every alert (e.g. `team = "web"`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A channel's effective name: its `name`, or `<kind>` / `<kind>_<n>` when empty.
pub fn channel_name_for(kind: &str, configured: &str, index: usize) -> String {
    if !configured.is_empty() {
        configured.to_string()
    } else if index == 0 {
        kind.to_string()
    } else {
        format!("{kind}_{}", index + 1)
    }
}

/// Checks that a secret is named by exactly one of `<field>_env` / `<field>_file` (or by none when
/// `required` is false).
fn check_secret(
    key: &str,
    field: &str,
    env: &Option<String>,
    file: &Option<PathBuf>,
    required: bool,
) -> Result<(), ConfigError> {
    match (env, file) {
        (Some(_), Some(_)) => {
            Err(invalid(&format!("{key}.{field}_file"), format!("set either {field}_env or {field}_file, not both")))
        }
        (Some(e), None) if !is_env_var_name(e) => Err(invalid(
            &format!("{key}.{field}_env"),
            "must be the name of an environment variable (letters, digits, '_'), not the secret itself",
        )),
        (None, Some(f)) if f.as_os_str().is_empty() => {
            Err(invalid(&format!("{key}.{field}_file"), "must not be empty"))
        }
        (None, None) if required => Err(invalid(
            &format!("{key}.{field}_env"),
            format!("set {field}_env (an environment variable name) or {field}_file; secrets are never inline"),
        )),
        _ => Ok(()),
    }
}

fn is_env_var_name(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_name(key: &str, name: &str) -> Result<(), ConfigError> {
    if !name.is_empty() && (name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    {
        return Err(invalid(&format!("{key}.name"), "must be at most 64 letters, digits, '_' or '-'"));
    }
    Ok(())
}

fn check_http_url(key: &str, url: &str) -> Result<(), ConfigError> {
    if !(url.starts_with("http://") || url.starts_with("https://")) || reqwest::Url::parse(url).is_err() {
        return Err(invalid(key, format!("must be an http:// or https:// URL, got {url:?}")));
    }
    Ok(())
}

impl AlertingConfig {
    /// Check every value; the error names the key (`alerting.slack[0].webhook_url_env`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.repeat_interval_secs == 0 {
            return Err(invalid("alerting.repeat_interval_secs", "must be positive"));
        }
        if self.resolve_after_secs == 0 {
            return Err(invalid("alerting.resolve_after_secs", "must be positive"));
        }
        if self.queue_capacity == 0 || self.queue_capacity > 100_000 {
            return Err(invalid("alerting.queue_capacity", "must be in 1..=100000"));
        }
        if self.max_retries > 100 {
            return Err(invalid("alerting.max_retries", "must be at most 100"));
        }
        if self.max_backoff_secs == 0 {
            return Err(invalid("alerting.max_backoff_secs", "must be positive"));
        }
        if self.timeout_ms == 0 {
            return Err(invalid("alerting.timeout_ms", "must be positive"));
        }
        if self.shutdown_drain_secs > 3600 {
            return Err(invalid("alerting.shutdown_drain_secs", "must be at most 3600"));
        }
        if !self.grafana_url.is_empty() {
            check_http_url("alerting.grafana_url", &self.grafana_url)?;
        }
        let mut names: Vec<String> = Vec::new();
        let mut add_name = |key: &str, name: String| -> Result<(), ConfigError> {
            if names.contains(&name) {
                return Err(invalid(&format!("{key}.name"), format!("channel name {name:?} is used twice")));
            }
            names.push(name);
            Ok(())
        };
        for (i, c) in self.slack.iter().enumerate() {
            let key = format!("alerting.slack[{i}]");
            check_name(&key, &c.name)?;
            check_secret(&key, "webhook_url", &c.webhook_url_env, &c.webhook_url_file, true)?;
            add_name(&key, channel_name_for("slack", &c.name, i))?;
        }
        for (i, c) in self.discord.iter().enumerate() {
            let key = format!("alerting.discord[{i}]");
            check_name(&key, &c.name)?;
            check_secret(&key, "webhook_url", &c.webhook_url_env, &c.webhook_url_file, true)?;
            if c.username.chars().count() > 80 {
                return Err(invalid(&format!("{key}.username"), "must be at most 80 characters"));
            }
            add_name(&key, channel_name_for("discord", &c.name, i))?;
        }
        for (i, c) in self.webhook.iter().enumerate() {
            let key = format!("alerting.webhook[{i}]");
            check_name(&key, &c.name)?;
            check_secret(&key, "url", &c.url_env, &c.url_file, true)?;
            check_secret(&key, "secret", &c.secret_env, &c.secret_file, false)?;
            add_name(&key, channel_name_for("webhook", &c.name, i))?;
        }
        for (i, c) in self.email.iter().enumerate() {
            let key = format!("alerting.email[{i}]");
            check_name(&key, &c.name)?;
            if c.host.trim().is_empty() || c.host.contains(['/', ' ', ':']) {
                return Err(invalid(&format!("{key}.host"), "must be a host name (put the port in `port`)"));
            }
            check_secret(&key, "password", &c.password_env, &c.password_file, false)?;
            let has_password = c.password_env.is_some() || c.password_file.is_some();
            if has_password == c.username.is_empty() {
                return Err(invalid(&format!("{key}.username"), "username and password_env/password_file go together"));
            }
            if c.from.parse::<lettre::message::Mailbox>().is_err() {
                return Err(invalid(&format!("{key}.from"), format!("not an email address: {:?}", c.from)));
            }
            if c.to.is_empty() {
                return Err(invalid(&format!("{key}.to"), "must list at least one recipient"));
            }
            for (j, to) in c.to.iter().enumerate() {
                if to.parse::<lettre::message::Mailbox>().is_err() {
                    return Err(invalid(&format!("{key}.to[{j}]"), format!("not an email address: {to:?}")));
                }
            }
            add_name(&key, channel_name_for("email", &c.name, i))?;
        }
        for (i, c) in self.alertmanager.iter().enumerate() {
            let key = format!("alerting.alertmanager[{i}]");
            check_name(&key, &c.name)?;
            check_http_url(&format!("{key}.url"), &c.url)?;
            for label in c.labels.keys() {
                let ok = label.chars().next().is_some_and(|ch| ch.is_ascii_alphabetic() || ch == '_')
                    && label.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
                if !ok || crate::sink::alert::RESERVED_LABELS.contains(&label.as_str()) {
                    return Err(invalid(
                        &format!("{key}.labels.{label}"),
                        "must be a Prometheus label name and not one the detector sets",
                    ));
                }
            }
            add_name(&key, channel_name_for("alertmanager", &c.name, i))?;
        }
        Ok(())
    }

    /// Every configured channel's effective name, in the order channels are built.
    /// At least one channel is configured.
    pub fn has_channels(&self) -> bool {
        !self.channel_names().is_empty()
    }

    pub fn channel_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(self.slack.iter().enumerate().map(|(i, c)| channel_name_for("slack", &c.name, i)));
        out.extend(self.discord.iter().enumerate().map(|(i, c)| channel_name_for("discord", &c.name, i)));
        out.extend(self.webhook.iter().enumerate().map(|(i, c)| channel_name_for("webhook", &c.name, i)));
        out.extend(self.email.iter().enumerate().map(|(i, c)| channel_name_for("email", &c.name, i)));
        out.extend(self.alertmanager.iter().enumerate().map(|(i, c)| channel_name_for("alertmanager", &c.name, i)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slack(env: Option<&str>, file: Option<&str>) -> SlackChannelConfig {
        SlackChannelConfig {
            name: String::new(),
            min_severity: Severity::Medium,
            webhook_url_env: env.map(String::from),
            webhook_url_file: file.map(PathBuf::from),
        }
    }

    #[test]
    fn defaults_are_valid_and_have_no_channels() {
        let c = AlertingConfig::default();
        c.validate().unwrap();
        assert!(c.channel_names().is_empty());
    }

    #[test]
    fn a_secret_must_come_from_env_or_file_and_the_error_names_the_key() {
        let mut c = AlertingConfig::default();
        c.slack.push(slack(None, None));
        let err = c.validate().unwrap_err().to_string();
        assert!(err.starts_with("alerting.slack[0].webhook_url_env"), "{err}");

        c.slack[0] = slack(Some("SLACK_URL"), Some("/run/secrets/slack"));
        let err = c.validate().unwrap_err().to_string();
        assert!(err.starts_with("alerting.slack[0].webhook_url_file"), "{err}");

        c.slack[0] = slack(Some("https://hooks.slack.com/services/x"), None);
        let err = c.validate().unwrap_err().to_string();
        assert!(err.starts_with("alerting.slack[0].webhook_url_env"), "{err}");
        assert!(!err.contains("hooks.slack.com"), "an inline secret must not be echoed: {err}");

        c.slack[0] = slack(Some("SLACK_URL"), None);
        c.validate().unwrap();
    }

    #[test]
    fn inline_secret_keys_are_rejected_by_name() {
        let toml = "[[slack]]\nwebhook_url = \"https://hooks.slack.com/x\"\n";
        let err = toml::from_str::<AlertingConfig>(toml).unwrap_err().to_string();
        assert!(err.contains("webhook_url"), "{err}");
    }

    #[test]
    fn channel_names_default_by_kind_and_must_be_unique() {
        let mut c = AlertingConfig::default();
        c.slack.push(slack(Some("A"), None));
        c.slack.push(slack(Some("B"), None));
        assert_eq!(c.channel_names(), vec!["slack", "slack_2"]);
        c.slack[1].name = "slack".into();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.starts_with("alerting.slack[1].name"), "{err}");
    }

    #[test]
    fn email_checks_addresses_and_login_pairs() {
        let mut c = AlertingConfig::default();
        c.email.push(EmailChannelConfig {
            name: String::new(),
            min_severity: Severity::High,
            host: "smtp.example.com".into(),
            port: 0,
            tls: SmtpTls::Starttls,
            username: "bot".into(),
            password_env: None,
            password_file: None,
            from: "Detector <alerts@example.com>".into(),
            to: vec!["ops@example.com".into()],
        });
        let err = c.validate().unwrap_err().to_string();
        assert!(err.starts_with("alerting.email[0].username"), "{err}");
        c.email[0].password_env = Some("SMTP_PASSWORD".into());
        c.validate().unwrap();
        c.email[0].to.push("not an address".into());
        let err = c.validate().unwrap_err().to_string();
        assert!(err.starts_with("alerting.email[0].to[1]"), "{err}");
    }

    #[test]
    fn alertmanager_needs_a_url_and_free_label_names() {
        let mut c = AlertingConfig::default();
        c.alertmanager.push(AlertmanagerChannelConfig {
            name: String::new(),
            min_severity: Severity::Low,
            url: "alertmanager:9093".into(),
            labels: BTreeMap::new(),
        });
        let err = c.validate().unwrap_err().to_string();
        assert!(err.starts_with("alerting.alertmanager[0].url"), "{err}");
        c.alertmanager[0].url = "http://alertmanager:9093".into();
        c.alertmanager[0].labels.insert("severity".into(), "x".into());
        let err = c.validate().unwrap_err().to_string();
        assert!(err.starts_with("alerting.alertmanager[0].labels.severity"), "{err}");
        c.alertmanager[0].labels.clear();
        c.alertmanager[0].labels.insert("team".into(), "web".into());
        c.validate().unwrap();
    }
}
