//! SMTP email through lettre (rustls): STARTTLS, implicit TLS, or none for local relays; login from
//! an environment variable or a file. Each message is plain text plus HTML, both built from escaped
//! text; the subject is one line (CR/LF stripped), so no header can be injected.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::error::{error_chain, SinkError};
use super::escape::{html, one_line, truncate_chars};
use super::message::{Body, Notification};
use super::queue::{BoxFuture, Channel};
use crate::config::{EmailChannelConfig, Severity, SmtpTls};

/// Longest subject, in characters.
pub const SUBJECT_MAX: usize = 200;

/// An SMTP channel.
pub struct EmailChannel {
    pub name: String,
    pub min_severity: Severity,
    pub transport: AsyncSmtpTransport<Tokio1Executor>,
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
}

impl Channel for EmailChannel {
    fn name(&self) -> &str {
        &self.name
    }
    fn min_severity(&self) -> Severity {
        self.min_severity
    }
    fn deliver<'a>(&'a self, n: &'a Notification) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let msg = build_message(n, &self.from, &self.to)?;
            self.transport.send(msg).await.map(|_| ()).map_err(classify)
        })
    }
}

fn classify(e: lettre::transport::smtp::Error) -> SinkError {
    let detail = error_chain(&e);
    match e.status().map(|c| c.to_string()) {
        Some(code) if matches!(code.as_str(), "530" | "534" | "535" | "538") => SinkError::SmtpAuth(detail),
        Some(_) if e.is_permanent() => SinkError::SmtpRejected(detail),
        // The client refused (no STARTTLS offered, no common AUTH mechanism): retrying cannot help.
        _ if e.is_client() => SinkError::SmtpRejected(detail),
        _ if e.is_timeout() => SinkError::Timeout,
        _ => SinkError::Smtp(detail),
    }
}

/// The subject line: one line, capped.
pub fn subject(n: &Notification) -> String {
    truncate_chars(one_line(&n.title()).trim(), SUBJECT_MAX).into_owned()
}

/// The plain-text body.
pub fn plain_body(n: &Notification) -> String {
    let mut out = format!("{}\n\n{}\n", n.title(), n.summary());
    match &n.body {
        Body::Incident(i) => {
            out.push_str(&format!("\nReason:     {}\n", i.reason));
            out.push_str(&format!(
                "Severity:   {}\nKind:       {}\nEndpoint:   {}\n",
                n.severity.as_str(),
                i.kind,
                i.endpoint
            ));
            if let Some(c) = &i.client {
                out.push_str(&format!("Client:     {c}\n"));
            }
            out.push_str(&format!(
                "Lines:      {}\nDetectors:  {}\nScore:      {:.2}\n",
                i.count,
                i.detectors.join(", "),
                i.score
            ));
            if !i.examples.is_empty() {
                out.push_str("\nExample lines:\n");
                for ex in &i.examples {
                    out.push_str(&format!("  {}\n", one_line(ex)));
                }
            }
            out.push_str(&format!("\nFingerprint: {}\nIncident:    {}\n", i.fingerprint, i.id));
        }
        Body::Summary { held, .. } => {
            for h in held {
                out.push_str(&format!(
                    "  - [{}] {} on {} ({} lines, {})\n",
                    h.severity.as_str().to_uppercase(),
                    h.kind,
                    h.endpoint,
                    h.count,
                    h.event.as_str()
                ));
            }
        }
    }
    if let Some(url) = &n.explore_url {
        out.push_str(&format!("\nGrafana Explore: {url}\n"));
    }
    out
}

/// The HTML body: every value escaped.
pub fn html_body(n: &Notification) -> String {
    let mut out = format!("<!DOCTYPE html><html><body><h2>{}</h2><p>{}</p>", html(&n.title()), html(&n.summary()));
    match &n.body {
        Body::Incident(i) => {
            out.push_str(&format!("<p><b>Reason:</b> {}</p><table>", html(&i.reason)));
            let mut rows = vec![
                ("Severity", n.severity.as_str().to_string()),
                ("Kind", i.kind.clone()),
                ("Endpoint", i.endpoint.clone()),
                ("Lines", i.count.to_string()),
                ("Detectors", i.detectors.join(", ")),
                ("Score", format!("{:.2}", i.score)),
                ("Fingerprint", i.fingerprint.clone()),
            ];
            if let Some(c) = &i.client {
                rows.push(("Client", c.clone()));
            }
            for (k, v) in rows {
                out.push_str(&format!("<tr><th align=\"left\">{k}</th><td>{}</td></tr>", html(&v)));
            }
            out.push_str("</table>");
            if !i.examples.is_empty() {
                out.push_str("<h3>Example lines</h3>");
                for ex in &i.examples {
                    out.push_str(&format!("<pre>{}</pre>", html(&one_line(ex))));
                }
            }
        }
        Body::Summary { held, .. } => {
            out.push_str("<ul>");
            for h in held {
                out.push_str(&format!(
                    "<li>[{}] {} on {} ({} lines, {})</li>",
                    h.severity.as_str().to_uppercase(),
                    html(&h.kind),
                    html(&h.endpoint),
                    h.count,
                    h.event.as_str()
                ));
            }
            out.push_str("</ul>");
        }
    }
    if let Some(url) = &n.explore_url {
        out.push_str(&format!("<p><a href=\"{}\">Open in Grafana Explore</a></p>", html(url)));
    }
    out.push_str("</body></html>");
    out
}

/// The whole message.
pub fn build_message(n: &Notification, from: &Mailbox, to: &[Mailbox]) -> Result<Message, SinkError> {
    let mut b = Message::builder().from(from.clone()).subject(subject(n));
    for t in to {
        b = b.to(t.clone());
    }
    b.multipart(
        MultiPart::alternative()
            .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(plain_body(n)))
            .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(html_body(n))),
    )
    .map_err(|e| SinkError::Message(e.to_string()))
}

/// Builds the channel from its config (reads the password).
pub fn build(
    name: String,
    cfg: &EmailChannelConfig,
    key: &str,
    timeout: Duration,
) -> Result<Arc<dyn Channel>, SinkError> {
    let bad = |field: &str, problem: String| SinkError::Config { key: format!("{key}.{field}"), problem };
    let mut builder = match cfg.tls {
        SmtpTls::Tls => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(&cfg.host).map_err(|e| bad("host", e.to_string()))?
        }
        SmtpTls::Starttls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&cfg.host).map_err(|e| bad("host", e.to_string()))?
        }
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host),
    };
    let port = match (cfg.port, cfg.tls) {
        (0, SmtpTls::Tls) => 465,
        (0, SmtpTls::Starttls) => 587,
        (0, SmtpTls::None) => 25,
        (p, _) => p,
    };
    builder = builder.port(port).timeout(Some(timeout));
    if let Some(password) = super::secret::read_secret(key, "password", &cfg.password_env, &cfg.password_file)? {
        builder = builder.credentials(Credentials::new(cfg.username.clone(), password));
    }
    let from: Mailbox = cfg.from.parse().map_err(|e| bad("from", format!("{e}")))?;
    let to = cfg
        .to
        .iter()
        .enumerate()
        .map(|(j, t)| t.parse::<Mailbox>().map_err(|e| bad(&format!("to[{j}]"), format!("{e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(EmailChannel { name, min_severity: cfg.min_severity, transport: builder.build(), from, to }))
}
