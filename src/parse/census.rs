//! What the parsed lines carried, per format: how many lines, and how many had each field the
//! detectors use. It says what each detector could judge (`scan`'s summary, `/api/v1/status`),
//! and [`Census::count`] names, once per format, a field its lines never carry.

use super::{Format, FormatChoice, LogEvent};

/// Lines of one format after which a field it never carried is reported missing.
pub const WARN_AFTER_LINES: u64 = 1000;

/// Field counts of one format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FieldCounts {
    pub lines: u64,
    /// Lines that looked like a structured format but did not parse as it.
    pub unparsed: u64,
    pub method: u64,
    pub path: u64,
    pub status: u64,
    pub latency: u64,
    pub client: u64,
    pub user_agent: u64,
}

impl FieldCounts {
    /// The request fields this format's lines never carried, with the detectors each one feeds.
    pub fn missing(&self) -> Vec<(&'static str, &'static str)> {
        let mut out = Vec::new();
        if self.latency == 0 {
            out.push(("latency", "response-time model and latency features off"));
        }
        if self.status == 0 {
            out.push(("status", "status-code model and error rates off"));
        }
        if self.path == 0 {
            out.push(("path", "no endpoints: per-endpoint baselines and path rules off"));
        }
        out
    }
}

/// Field counts per format, in [`Format::ALL`] order.
#[derive(Debug, Clone, Default)]
pub struct Census {
    counts: [FieldCounts; Format::ALL.len()],
    warned: [bool; Format::ALL.len()],
    /// The configured preset, named beside the format (`access (preset werkzeug)`); `None` for auto.
    preset: Option<&'static str>,
}

impl Census {
    /// A census of lines parsed under `choice`.
    pub fn new(choice: FormatChoice) -> Census {
        Census { preset: (choice != FormatChoice::Auto).then(|| choice.name()), ..Census::default() }
    }

    /// How a format is named in the summary and the WARN.
    fn label(&self, f: Format) -> String {
        match self.preset {
            Some(p) if p != f.as_str() => format!("{} (preset {p})", f.as_str()),
            _ => f.as_str().to_string(),
        }
    }

    /// Counts one event (directives are not events and are not counted). Logs the WARN about the
    /// fields a format lacks when its lines reach [`WARN_AFTER_LINES`].
    pub fn count(&mut self, e: &LogEvent) {
        if e.format == Format::Directive {
            return;
        }
        let i = e.format as usize;
        let c = &mut self.counts[i];
        c.lines += 1;
        c.unparsed += u64::from(e.problem.is_some());
        c.method += u64::from(e.method.is_some());
        c.path += u64::from(e.path.is_some());
        c.status += u64::from(e.status.is_some());
        c.latency += u64::from(e.response_time_ms.is_some());
        c.client += u64::from(e.client.is_some());
        c.user_agent += u64::from(e.user_agent.is_some());
        if c.lines == WARN_AFTER_LINES {
            self.warn(i);
        }
    }

    /// Logs the missing-field WARN for every format not warned about yet (at the end of input).
    pub fn warn_remaining(&mut self) {
        for i in 0..self.counts.len() {
            if self.counts[i].lines > 0 {
                self.warn(i);
            }
        }
    }

    fn warn(&mut self, i: usize) {
        if std::mem::replace(&mut self.warned[i], true) {
            return;
        }
        let missing = self.counts[i].missing();
        if missing.is_empty() {
            return;
        }
        let fields: Vec<&str> = missing.iter().map(|m| m.0).collect();
        let effects: Vec<&str> = missing.iter().map(|m| m.1).collect();
        tracing::warn!(
            format = %self.label(Format::ALL[i]),
            lines = self.counts[i].lines,
            missing = %fields.join(", "),
            "Lines of this format carry no {}: {}",
            fields.join(", "),
            effects.join("; ")
        );
    }

    /// The formats seen, with their counts.
    pub fn formats(&self) -> impl Iterator<Item = (Format, &FieldCounts)> {
        Format::ALL.iter().zip(&self.counts).filter(|(_, c)| c.lines > 0).map(|(f, c)| (*f, c))
    }

    /// For `/api/v1/status`: per format, its lines and the share of them carrying each field.
    pub fn to_json(&self) -> serde_json::Value {
        let map: serde_json::Map<String, serde_json::Value> = self
            .formats()
            .map(|(f, c)| {
                let missing: Vec<&str> = c.missing().iter().map(|m| m.0).collect();
                (f.as_str().to_string(), serde_json::json!({ "fields": c, "missing": missing }))
            })
            .collect();
        serde_json::Value::Object(map)
    }

    /// One line per format for `scan`'s summary: what each detector could judge.
    pub fn summary_lines(&self) -> Vec<String> {
        self.formats()
            .map(|(f, c)| {
                let share = |n: u64| {
                    if n == 0 {
                        "none".to_string()
                    } else if n == c.lines {
                        "all".to_string()
                    } else {
                        format!("{:.0} %", 100.0 * n as f64 / c.lines as f64)
                    }
                };
                let mut s = format!(
                    "format {}: {} lines; latency: {}; status: {}; path: {}; client: {}; user agent: {}",
                    self.label(f),
                    c.lines,
                    share(c.latency),
                    share(c.status),
                    share(c.path),
                    share(c.client),
                    share(c.user_agent)
                );
                if c.unparsed > 0 {
                    s.push_str(&format!("; {} lines did not parse", c.unparsed));
                }
                for (field, effect) in c.missing() {
                    s.push_str(&format!("\n    no {field} in this format → {effect}"));
                }
                s
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::Parser;
    use crate::source::RawLine;

    fn census(lines: &[&str]) -> Census {
        let parser = Parser::default();
        let mut c = Census::default();
        for (i, l) in lines.iter().enumerate() {
            c.count(&parser.parse(RawLine::new(jiff::Timestamp::now(), *l, i as u64 + 1)));
        }
        c
    }

    #[test]
    fn an_error_log_says_which_detectors_cannot_judge_it() {
        let c = census(&[
            "[Sun Dec 04 04:47:44 2026] [error] [client 10.0.0.1] File does not exist: /var/www/favicon.ico",
            "#Fields: date time",
        ]);
        let summary = c.summary_lines().join("\n");
        assert!(summary.starts_with("format text: 1 lines; latency: none; status: none"), "{summary}");
        assert!(summary.contains("no latency in this format → response-time model"), "{summary}");
        let json = c.to_json();
        assert_eq!(json["text"]["missing"], serde_json::json!(["latency", "status", "path"]));
        // The header is not an event: no format counts it.
        assert_eq!(json.as_object().unwrap().len(), 1);
    }

    #[test]
    fn a_forced_preset_is_named_beside_the_format() {
        let mut c = Census::new(FormatChoice::Werkzeug);
        let parser = Parser::default();
        c.count(&parser.parse(RawLine::new(
            jiff::Timestamp::now(),
            r#"1.2.3.4 - - [02/Dec/2026 04:00:00] "GET / HTTP/1.1" 200 -"#,
            1,
        )));
        assert!(c.summary_lines()[0].starts_with("format access (preset werkzeug): 1 lines; latency: none"));
        assert_eq!(Census::new(FormatChoice::Json).label(Format::Json), "json");
    }

    #[test]
    fn werkzeug_lacks_only_latency_and_a_mix_is_counted_per_format() {
        let c = census(&[
            r#"127.0.0.1 - - [02/Dec/2026 04:00:00] "GET /a HTTP/1.1" 200 -"#,
            r#"{"method":"GET","path":"/b","status":500,"duration_ms":3}"#,
        ]);
        let json = c.to_json();
        assert_eq!(json["access"]["missing"], serde_json::json!(["latency"]));
        assert_eq!(json["access"]["fields"]["status"], 1);
        assert_eq!(json["json"]["missing"], serde_json::json!([]));
        assert_eq!(json["json"]["fields"]["latency"], 1);
    }
}
