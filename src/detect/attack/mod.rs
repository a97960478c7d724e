//! Attack detection on request values, as a web application firewall does it: each query
//! parameter, the path, the user agent and the referer are decoded as the server decodes them ([`decode`]),
//! then SQL injection and XSS are judged by libinjection's tokenizer and fingerprints (the
//! `libinjectionrs` port) with a few patterns for what it lets through (stacked and time-based
//! queries, `javascript:` URLs, bare event handlers); command injection by shell separators and
//! programs ([`shell`]); path traversal by steps and targets ([`traversal`]); Log4Shell, template
//! injection and SSRF by what the server would evaluate or fetch ([`lookups`]).
//!
//! A healthy request costs a byte scan per value: values of letters, digits and `_.,@:-` alone
//! carry none of these attacks and are not looked at further, and values found clean are
//! remembered (by a per-process seeded hash) until [`CLEAN_VALUES`] of them.

pub mod decode;
mod lookups;
mod shell;
mod traversal;

use std::cell::RefCell;
use std::hash::BuildHasher;

use regex::Regex;

use crate::config::Severity;
use crate::hash::FastSet;
use crate::parse::LogEvent;
use traversal::Place as TraversalPlace;

/// The kinds of attack judged here, in the order their rules are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    PathTraversal,
    SqlInjection,
    Xss,
    CommandInjection,
    Ssrf,
    TemplateInjection,
    Log4Shell,
}

/// Each attack's rule name (for `rules.disabled` and `rule:` detectors), severity and wording.
pub const ATTACKS: &[(Attack, &str, Severity, &str)] = &[
    (Attack::PathTraversal, "path_traversal", Severity::High, "path traversal"),
    (Attack::SqlInjection, "sql_injection", Severity::High, "SQL injection"),
    (Attack::Xss, "xss", Severity::High, "cross-site scripting"),
    (Attack::CommandInjection, "command_injection", Severity::High, "command injection"),
    (Attack::Ssrf, "ssrf", Severity::High, "server-side request forgery"),
    (Attack::TemplateInjection, "template_injection", Severity::High, "template injection"),
    (Attack::Log4Shell, "log4shell", Severity::Critical, "JNDI lookup (Log4Shell)"),
];

/// Distinct clean values remembered before the memory starts over.
pub const CLEAN_VALUES: usize = 8192;

/// Where in the request a value was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Where<'a> {
    Path,
    Param(&'a str),
    ParamName,
    UserAgent,
    Referer,
    Line,
}

impl Where<'_> {
    fn describe(self) -> String {
        match self {
            Where::Path => "the path".into(),
            Where::Param("") => "the query".into(),
            Where::Param(k) => format!("query parameter {}", crate::detect::rules::shorten(k, 40)),
            Where::ParamName => "a query parameter name".into(),
            Where::UserAgent => "the user agent".into(),
            Where::Referer => "the referer".into(),
            Where::Line => "the line".into(),
        }
    }

    fn tag(self) -> u8 {
        match self {
            Where::Path => 0,
            Where::Param(_) | Where::ParamName => 1,
            Where::UserAgent => 2,
            Where::Referer => 4,
            Where::Line => 3,
        }
    }
}

/// One attack found: which, where, and the decoded evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub attack: Attack,
    /// `query parameter id: 1' or '1'='1 (libinjection fingerprint s&sos)`.
    pub evidence: String,
}

/// The compiled attack checks and the memory of clean values.
#[derive(Debug, Clone)]
pub struct Inspector {
    on: [bool; ATTACKS.len()],
    /// SQL that libinjection lets through: stacked and time-based queries, tautologies without quotes.
    sql_extra: Regex,
    /// Script that is not markup: `javascript:` URLs, event handlers, dialog calls.
    xss_extra: Regex,
    clean: RefCell<FastSet<u64>>,
    hasher: foldhash::fast::RandomState,
}

impl Default for Inspector {
    fn default() -> Self {
        Inspector::new(|_| false)
    }
}

const SQL_EXTRA: &str = r"(?x)
    \b(?:sleep|pg_sleep|benchmark|extractvalue|updatexml|generate_series|dbms_pipe\.receive_message|utl_inaddr\.\w+
        |regexp_substring|load_file|xp_cmdshell|iif)\s*\(.*[),]
  | \bwaitfor\s+(?:delay|time)\s
  | \binformation_schema\b | \bsysobjects\b | \bsys\.(?:tables|columns|objects)\b | \bmysql\.user\b
  | ;\s*(?:select|drop|delete|insert|update|create|alter|exec|execute|declare|shutdown|truncate)\b
  | \bunion(?:\s|/\*.*?\*/|\()+(?:all\s+|distinct\s+)?\(?select\b
  | \border\s+by\s+\d+\s*(?:--|\#|/\*|;|$)
  | \b(?:or|and|xor)\s+\(?\s*(?:\d+|'[^']*'|\x22[^\x22]*\x22)\s*(?:=|<>|!=|like)\s*\(?\s*(?:\d+|'[^']*'|\x22[^\x22]*\x22)
  | \bprocedure\s+analyse\b | \bin\s+boolean\s+mode\b | \(\s*select\b.*\bfrom\b
  | ['\x22)]\s*(?:or|and)\s+['\x22(]?\w+['\x22)]?\s*(?:=|like)
";

const XSS_EXTRA: &str = r#"(?x)
    <\s*/?\s*script | \b(?:java|vb|live|mocha)script\s*: | \bdata\s*:\s*text/html
  | [\s"'/;]on[a-z]{4,}\s*=\s*\S
  | \b(?:alert|prompt|confirm)\s*(?:\(|`|&lpar;) | \bdocument\s*\.\s*(?:cookie|domain|write|location)
  | \bstring\s*\.\s*fromcharcode | \bwindow\s*\.\s*location | \beval\s*\(
  | <\s*/?\s*(?:iframe|object|embed|svg|math|style|link|meta|base|form|frameset|applet|isindex|marquee|details|video
      |audio|body|html|img|input|xml|xss|t:set|layer|ilayer|bgsound)\b
  | <\s*a\s[^>]*\bhref\s*= | <\?(?:php|=|\s)
  | \bexpression\s*\( | \burl\s*\(\s*['"]?\s*javascript | @import
"#;

impl Inspector {
    /// The checks whose rule names `enabled` accepts.
    pub fn new(enabled: impl Fn(&str) -> bool) -> Inspector {
        let mut on = [false; ATTACKS.len()];
        for (i, (_, name, ..)) in ATTACKS.iter().enumerate() {
            on[i] = enabled(name);
        }
        Inspector {
            on,
            sql_extra: Regex::new(SQL_EXTRA).expect("a fixed pattern"),
            xss_extra: Regex::new(XSS_EXTRA).expect("a fixed pattern"),
            clean: RefCell::default(),
            hasher: Default::default(),
        }
    }

    /// `ATTACKS` lists the kinds in declaration order, so a kind indexes its entry.
    fn is_on(&self, a: Attack) -> bool {
        self.on[a as usize]
    }

    /// Whether any check is on.
    pub fn any(&self) -> bool {
        self.on.iter().any(|on| *on)
    }

    /// The attacks in the event, at most one finding per kind (the first place it shows).
    pub fn inspect(&self, e: &LogEvent) -> Vec<Finding> {
        let mut out = Vec::new();
        if !self.any() {
            return out;
        }
        if let Some(p) = e.path.as_deref() {
            self.value(Where::Path, p, false, &mut out);
        }
        if let Some(q) = e.query.as_deref() {
            for pair in q.split('&') {
                match pair.split_once('=') {
                    Some((k, v)) => {
                        self.value(Where::Param(k), v, true, &mut out);
                        self.value(Where::ParamName, k, true, &mut out);
                    }
                    None => self.value(Where::Param(""), pair, true, &mut out),
                }
            }
        }
        if let Some(ua) = e.user_agent.as_deref() {
            self.value(Where::UserAgent, ua, false, &mut out);
        }
        if let Some(r) = e.referer.as_deref() {
            self.value(Where::Referer, r, false, &mut out);
        }
        // A lookup in any logged header (Log4j resolves it wherever it is logged).
        if self.is_on(Attack::Log4Shell)
            && !out.iter().any(|f| f.attack == Attack::Log4Shell)
            && e.raw.line.contains("${")
        {
            let line = decode::decode(&e.raw.line, false);
            if let Some(ev) = lookups::log4shell(&line) {
                out.push(finding(Attack::Log4Shell, Where::Line, &ev, None));
            }
        }
        out
    }

    /// Judge one value found at `place`.
    fn value(&self, place: Where<'_>, raw: &str, plus_is_space: bool, out: &mut Vec<Finding>) {
        if raw.is_empty() || plain(raw) || (place == Where::Path && plain_path(raw)) {
            return;
        }
        let h = self.hasher.hash_one((place.tag(), raw));
        if self.clean.borrow().contains(&h) {
            return;
        }
        let before = out.len();
        let decoded = decode::decode(raw, plus_is_space);
        if !plain(&decoded) {
            self.judge(place, &decoded, out);
        }
        if out.len() == before {
            let mut clean = self.clean.borrow_mut();
            if clean.len() >= CLEAN_VALUES {
                clean.clear();
            }
            clean.insert(h);
        }
    }

    fn judge(&self, place: Where<'_>, v: &str, out: &mut Vec<Finding>) {
        let lower = v.to_ascii_lowercase();
        let header = matches!(place, Where::UserAgent | Where::Referer);
        let add = |attack: Attack, evidence: &str, how: Option<String>, out: &mut Vec<Finding>| {
            if self.is_on(attack) && !out.iter().any(|f| f.attack == attack) {
                out.push(finding(attack, place, evidence, how));
            }
        };
        if !header {
            let tp = if place == Where::Path { TraversalPlace::Path } else { TraversalPlace::Value };
            if let Some(ev) = traversal::path_traversal(&lower, tp) {
                add(Attack::PathTraversal, &ev, None, out);
            }
        }
        let prose = is_prose(v);
        if sql_or_markup_chars(v) && (!prose || has_sql_word(&lower)) {
            if self.is_on(Attack::SqlInjection) {
                let r = libinjectionrs::detect_sqli(v.as_bytes());
                if r.is_injection() {
                    let fp = r.fingerprint.map(|f| format!("libinjection fingerprint {f}"));
                    add(Attack::SqlInjection, v, fp, out);
                } else if let Some(m) = self.sql_extra.find(&lower) {
                    add(
                        Attack::SqlInjection,
                        v,
                        Some(format!("pattern {:?}", crate::detect::rules::shorten(m.as_str(), 40))),
                        out,
                    );
                }
            }
            if self.is_on(Attack::Xss) && !prose {
                let markup = decode::html_unescape(v);
                if libinjectionrs::detect_xss(markup.as_bytes()).is_injection() {
                    add(Attack::Xss, &markup, Some("libinjection".into()), out);
                } else if let Some(m) = self.xss_extra.find(&markup.to_ascii_lowercase()) {
                    let how = format!("pattern {:?}", crate::detect::rules::shorten(m.as_str(), 40));
                    add(Attack::Xss, &markup, Some(how), out);
                }
            }
        }
        // A literal `+` is a space to a form decoder and to most payload lists (`|+dir+c:`).
        let spaced = lower.replace('+', " ");
        let cmd = if header { shell::shellshock(&lower) } else { shell::command_injection(&spaced) };
        if let Some(ev) = cmd {
            add(Attack::CommandInjection, ev, None, out);
        }
        if matches!(place, Where::Param(_)) {
            if let Some(ev) = lookups::ssrf(&lower) {
                add(Attack::Ssrf, ev, None, out);
            }
        }
        if let Some(ev) = lookups::template_injection(&lower) {
            add(Attack::TemplateInjection, ev, None, out);
        }
        if let Some(ev) = lookups::log4shell(v) {
            add(Attack::Log4Shell, &ev, None, out);
        }
    }
}

fn finding(attack: Attack, place: Where<'_>, evidence: &str, how: Option<String>) -> Finding {
    let ev = crate::detect::rules::shorten(evidence, 120);
    let evidence = match how {
        Some(how) => format!("{}: {ev} ({how})", place.describe()),
        None => format!("{}: {ev}", place.describe()),
    };
    Finding { attack, evidence }
}

/// Letters, digits and `_.,@:-` only (no `--`): no attack judged here can be spelled with them.
fn plain(v: &str) -> bool {
    v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b',' | b'@' | b':' | b'-'))
        && !v.contains("--")
}

/// A path of plain segments (letters, digits, `_.,@:-~+=!`, no `..`): in a path, where a system
/// file is only reached by traversal, none of the attacks can be spelled with them.
fn plain_path(p: &str) -> bool {
    p.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(b, b'/' | b'_' | b'.' | b',' | b'@' | b':' | b'-' | b'~' | b'+' | b'=' | b'!')
    }) && !p.contains("..")
}

/// Words and spaces with plain punctuation (`red shoes size 42`, `Smith, John`): no markup can
/// be written with them, and SQL only with one of [`SQL_WORDS`]. Search phrases are mostly this,
/// and distinct enough that remembering them does not spare the tokenizer.
fn is_prose(v: &str) -> bool {
    v.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b' ' | b'_' | b'.' | b',' | b'@' | b':' | b'-') || b >= 0x80)
}

/// Words an injection written in words and spaces alone needs (`1 union select password from
/// users`, `1 or 1 like 1`, `1 and sleep 5`).
const SQL_WORDS: &[&str] = &[
    "union",
    "select",
    "or",
    "and",
    "xor",
    "not",
    "order",
    "group",
    "having",
    "where",
    "from",
    "sleep",
    "waitfor",
    "exec",
    "execute",
    "drop",
    "insert",
    "update",
    "delete",
    "like",
    "rlike",
    "regexp",
    "div",
    "mod",
    "null",
    "is",
    "in",
    "between",
    "case",
    "when",
    "procedure",
    "limit",
    "into",
    "outfile",
    "benchmark",
    "declare",
    "shutdown",
    "sounds",
    "collate",
    "escape",
    "glob",
    "match",
    "asc",
    "desc",
    "true",
    "false",
];

fn has_sql_word(lower: &str) -> bool {
    lower.split(|c: char| !c.is_ascii_alphanumeric() && c != '_').any(|w| SQL_WORDS.contains(&w))
}

/// Characters without which neither SQL nor markup can be injected into a value.
fn sql_or_markup_chars(v: &str) -> bool {
    v.bytes().any(|b| {
        matches!(
            b,
            b'\''
                | b'"'
                | b'<'
                | b'>'
                | b'('
                | b')'
                | b';'
                | b'`'
                | b'*'
                | b'#'
                | b'='
                | b' '
                | b'\t'
                | b'\n'
                | b'\r'
                | b'|'
                | b'&'
        )
    }) || v.contains("--")
}

#[cfg(test)]
mod tests;
