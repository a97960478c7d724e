//! Redaction: masks secrets and personal data in findings where they are made (the daemon's
//! pipeline), so the API, the console log, the Loki push and every alert carry the same redacted
//! text; the sinks apply it once more to what they build themselves. Built from `[redaction]`.
//!
//! Shipped patterns, applied in this order:
//! 1. `Authorization: Bearer …` / `Basic …` credentials,
//! 2. JWTs (`eyJ….….…`),
//! 3. secret-looking keys in query strings, `key=value` pairs and JSON (`password`, `token`, `api_key`,
//!    `secret`, `access_token`, …): the key stays, the value goes,
//! 4. e-mail addresses (also URL-encoded, `%40`),
//! 5. card-like numbers: 13–19 digits (spaces or dashes allowed) starting with 3–6 that pass the Luhn check,
//!
//! then the user's own patterns (each whole match replaced).

use std::borrow::Cow;

use regex::{Captures, Regex};

use crate::config::RedactionConfig;

/// Keys whose values are secrets.
const SECRET_KEYS: &str = r"(?:password|passwd|pwd|pass|secret|client_secret|token|access_token|refresh_token|id_token|auth_token|api_key|apikey|api-key|x-api-key|session|sessionid|session_id|private_key|signature|sig)";

/// How one pattern rewrites its matches.
enum Rewrite {
    /// Replace with a template (`$name` groups), `{R}` standing for the replacement text.
    Template(String),
    /// Replace card-like numbers that pass the Luhn check.
    Luhn,
}

struct Pattern {
    re: Regex,
    rewrite: Rewrite,
}

impl Pattern {
    fn apply<'t>(&self, text: &'t str, replacement: &str) -> Cow<'t, str> {
        match &self.rewrite {
            Rewrite::Template(t) => self.re.replace_all(text, t.as_str()),
            Rewrite::Luhn => {
                if !self.re.find_iter(text).any(|m| luhn_valid(m.as_str())) {
                    return Cow::Borrowed(text);
                }
                self.re.replace_all(text, |c: &Captures| {
                    let m = &c[0];
                    if luhn_valid(m) {
                        replacement.to_string()
                    } else {
                        m.to_string()
                    }
                })
            }
        }
    }
}

/// Masks secrets and personal data. Cheap to share; `redact` borrows when nothing matched.
pub struct Redactor {
    enabled: bool,
    replacement: String,
    patterns: Vec<Pattern>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor").field("enabled", &self.enabled).field("patterns", &self.patterns.len()).finish()
    }
}

fn escape_template(s: &str) -> String {
    s.replace('$', "$$")
}

impl Redactor {
    /// Build from `[redaction]`. Fails only on a user pattern that is not a valid regex (which
    /// [`RedactionConfig::validate`] already rejects).
    pub fn new(cfg: &RedactionConfig) -> Result<Self, regex::Error> {
        let r = escape_template(&cfg.replacement);
        let mut patterns = Vec::new();
        if cfg.builtin {
            let builtin: [(String, Rewrite); 7] = [
                (
                    r"(?i)\b(?P<k>(?:authorization|proxy-authorization)\s*[:=]\s*)?(?P<s>bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}".into(),
                    Rewrite::Template(format!("${{k}}${{s}} {r}")),
                ),
                (r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+".into(), Rewrite::Template(r.clone())),
                (
                    // query strings and key=value / key: value pairs
                    format!(r#"(?i)(?P<k>\b{SECRET_KEYS}\s*[=:]\s*)(?P<v>[^\s&"',;}}\]]+)"#),
                    Rewrite::Template(format!("${{k}}{r}")),
                ),
                (
                    // JSON: "password": "..." (escaped characters inside the value included)
                    format!(r#"(?i)(?P<k>"{SECRET_KEYS}"\s*:\s*")(?P<v>(?:[^"\\]|\\.)*)"#),
                    Rewrite::Template(format!("${{k}}{r}")),
                ),
                (
                    // JSON inside a JSON string: \"password\": \"...\"
                    format!(r#"(?i)(?P<k>\\"{SECRET_KEYS}\\"\s*:\s*\\")(?P<v>[^"\\]*)"#),
                    Rewrite::Template(format!("${{k}}{r}")),
                ),
                (
                    r"(?i)\b[A-Z0-9._%+-]{1,64}(?:@|%40)[A-Z0-9-]{1,63}(?:\.[A-Z0-9-]{1,63})*\.[A-Z]{2,24}\b".into(),
                    Rewrite::Template(r.clone()),
                ),
                (r"\b[3-6](?:[ -]?[0-9]){12,18}\b".into(), Rewrite::Luhn),
            ];
            for (re, rewrite) in builtin {
                patterns.push(Pattern { re: Regex::new(&re)?, rewrite });
            }
        }
        for p in &cfg.patterns {
            patterns.push(Pattern { re: Regex::new(p)?, rewrite: Rewrite::Template(r.clone()) });
        }
        Ok(Redactor { enabled: cfg.enabled, replacement: cfg.replacement.clone(), patterns })
    }

    /// Redact everything of `a` that came from a log line: its original line, its reason (which
    /// quotes paths and values) and its endpoint.
    pub fn redact_anomaly(&self, a: &mut crate::detect::Anomaly) {
        if !self.enabled {
            return;
        }
        let apply = |s: &mut String| {
            if let Cow::Owned(r) = self.redact(s) {
                *s = r;
            }
        };
        if let Some(raw) = a.raw.as_mut() {
            apply(raw);
        }
        apply(&mut a.reason);
        apply(&mut a.endpoint);
    }

    /// A redactor that changes nothing.
    pub fn disabled() -> Self {
        Redactor { enabled: false, replacement: String::new(), patterns: Vec::new() }
    }

    /// `s` with every secret and personal datum replaced; borrowed when nothing matched.
    pub fn redact<'a>(&self, s: &'a str) -> std::borrow::Cow<'a, str> {
        if !self.enabled {
            return Cow::Borrowed(s);
        }
        let mut out: Cow<'a, str> = Cow::Borrowed(s);
        for p in &self.patterns {
            let changed = match p.apply(&out, &self.replacement) {
                Cow::Owned(new) => Some(new),
                Cow::Borrowed(_) => None,
            };
            if let Some(new) = changed {
                out = Cow::Owned(new);
            }
        }
        out
    }
}

/// Luhn checksum over the digits of `s` (separators ignored).
fn luhn_valid(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Redactor {
        Redactor::new(&RedactionConfig::default()).unwrap()
    }

    #[test]
    fn secrets_in_query_strings_and_pairs_lose_their_values() {
        let r = shipped();
        let cases = [
            ("/login?user=bob&password=hunter2&next=/", "/login?user=bob&password=[REDACTED]&next=/"),
            ("/cb?access_token=abc.def&state=1", "/cb?access_token=[REDACTED]&state=1"),
            ("/v1?API_KEY=AKIA1234", "/v1?API_KEY=[REDACTED]"),
            ("secret=s3cr3t token=t0k", "secret=[REDACTED] token=[REDACTED]"),
            ("db pwd: letmein, retrying", "db pwd: [REDACTED], retrying"),
        ];
        for (input, want) in cases {
            assert_eq!(r.redact(input), want, "{input}");
        }
    }

    #[test]
    fn json_lines_keep_their_shape() {
        let r = shipped();
        let line = r#"{"path":"/api/login?token=abc123","body":{"password":"p\"w"},"status":200}"#;
        let out = r.redact(line);
        assert_eq!(out, r#"{"path":"/api/login?token=[REDACTED]","body":{"password":"[REDACTED]"},"status":200}"#);
        // A JSON line embedded in another JSON string (escaped quotes).
        let nested = r#"{"line":"{\"api_key\":\"k-123\",\"status\":200}"}"#;
        assert_eq!(r.redact(nested), r#"{"line":"{\"api_key\":\"[REDACTED]\",\"status\":200}"}"#);
    }

    #[test]
    fn bearer_tokens_jwts_emails_and_cards_are_masked() {
        let r = shipped();
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert_eq!(r.redact("Authorization: Bearer abcdef123456"), "Authorization: Bearer [REDACTED]");
        assert_eq!(r.redact(&format!("jwt {jwt} end")), "jwt [REDACTED] end");
        assert_eq!(r.redact("mail ada.l+x@example.co.uk now"), "mail [REDACTED] now");
        assert_eq!(r.redact("/reset?e=ada%40example.com"), "/reset?e=[REDACTED]");
        assert_eq!(r.redact("card 4111 1111 1111 1111 ok"), "card [REDACTED] ok");
        assert_eq!(r.redact("card 5500-0000-0000-0004"), "card [REDACTED]");
    }

    #[test]
    fn ordinary_text_is_borrowed_untouched() {
        let r = shipped();
        for s in [
            r#"{"time":"2026-11-24T03:00:00.123Z","method":"GET","path":"/api/users/4812?page=2","status":200,"response_time_ms":23.4,"bytes":512}"#,
            "GET /api/orders took 612 ms; its baseline p99 is 71 ms",
            "order 4111111111111112 shipped",
            "ts=1795489200000000000 tokens_used=12",
        ] {
            assert!(matches!(r.redact(s), Cow::Borrowed(_)), "{s} -> {}", r.redact(s));
        }
    }

    #[test]
    fn user_patterns_and_switches_apply() {
        let cfg = RedactionConfig {
            patterns: vec![r"\b10\.\d+\.\d+\.\d+\b".into()],
            replacement: "<hidden>".into(),
            builtin: false,
            ..RedactionConfig::default()
        };
        let r = Redactor::new(&cfg).unwrap();
        assert_eq!(r.redact("from 10.1.2.3 password=x"), "from <hidden> password=x");
        let off = Redactor::new(&RedactionConfig { enabled: false, ..RedactionConfig::default() }).unwrap();
        assert_eq!(off.redact("password=x"), "password=x");
        assert_eq!(Redactor::disabled().redact("password=x"), "password=x");
    }

    #[test]
    fn luhn_accepts_test_cards_only() {
        assert!(luhn_valid("4111111111111111"));
        assert!(luhn_valid("378282246310005"));
        assert!(!luhn_valid("4111111111111112"));
        assert!(!luhn_valid("1234"));
    }
}
