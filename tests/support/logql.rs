//! The LogQL subset the fake Loki understands: a stream selector with line filters, and
//! `sum [by (labels)] (count_over_time(<log query> [<duration>]))`. Error texts follow Loki 3.4.6 where
//! the recorded fixtures show them (`$end` errors carry the 1-based column after the input).

use std::collections::BTreeMap;

use regex::Regex;

/// One label matcher of a selector.
#[derive(Debug, Clone)]
pub enum Matcher {
    Eq(String, String),
    Ne(String, String),
    Re(String, Regex),
    Nre(String, Regex),
}

impl Matcher {
    /// Whether the label set matches (a missing label is the empty string, as in Loki).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let get = |k: &str| labels.get(k).map(String::as_str).unwrap_or("");
        match self {
            Matcher::Eq(k, v) => get(k) == v,
            Matcher::Ne(k, v) => get(k) != v,
            Matcher::Re(k, r) => r.is_match(get(k)),
            Matcher::Nre(k, r) => !r.is_match(get(k)),
        }
    }

    fn matches_empty(&self) -> bool {
        self.matches(&BTreeMap::new())
    }
}

/// A line filter stage.
#[derive(Debug, Clone)]
pub enum LineFilter {
    Contains(String),
    NotContains(String),
    Matches(Regex),
    NotMatches(Regex),
}

impl LineFilter {
    pub fn keep(&self, line: &str) -> bool {
        match self {
            LineFilter::Contains(s) => line.contains(s.as_str()),
            LineFilter::NotContains(s) => !line.contains(s.as_str()),
            LineFilter::Matches(r) => r.is_match(line),
            LineFilter::NotMatches(r) => !r.is_match(line),
        }
    }
}

/// A log query: selector + line filters. `unsupported` names a stage the fake parses but cannot run.
#[derive(Debug, Clone)]
pub struct LogQuery {
    pub matchers: Vec<Matcher>,
    pub filters: Vec<LineFilter>,
    pub unsupported: Option<String>,
}

impl LogQuery {
    pub fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matchers.iter().all(|m| m.matches(labels))
    }
}

/// `sum [by (..)] (count_over_time(<log query> [range]))`, or a bare `count_over_time(...)` (one
/// series per result stream).
#[derive(Debug, Clone)]
pub struct CountQuery {
    pub by: Option<Vec<String>>,
    pub per_stream: bool,
    pub inner: LogQuery,
    pub range_ns: i64,
}

/// A parsed query.
#[derive(Debug, Clone)]
pub enum Query {
    Log(LogQuery),
    Count(CountQuery),
}

/// Loki's message for a selector whose every matcher accepts the empty value.
pub const EMPTY_SELECTOR: &str = "parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will";

struct P<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
}

type R<T> = Result<T, String>;

impl<'a> P<'a> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn eof(&self) -> bool {
        self.i >= self.s.len()
    }
    fn end_err(&self, expecting: &str) -> String {
        format!("parse error at line 1, col {}: syntax error: unexpected $end{expecting}", self.s.len() + 1)
    }
    fn err(&self, what: &str) -> String {
        if self.eof() {
            return self.end_err("");
        }
        format!("parse error at line 1, col {}: syntax error: unexpected {what}", self.i + 1)
    }
    fn eat(&mut self, t: &str) -> bool {
        self.ws();
        if self.src[self.i..].starts_with(t) {
            self.i += t.len();
            true
        } else {
            false
        }
    }
    fn ident(&mut self) -> Option<String> {
        self.ws();
        let st = self.i;
        while self.i < self.s.len() && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_') {
            self.i += 1;
        }
        (self.i > st).then(|| self.src[st..self.i].to_string())
    }
    fn string(&mut self) -> R<String> {
        self.ws();
        if self.eof() {
            return Err(self.end_err(""));
        }
        let q = self.s[self.i];
        if q == b'`' {
            let rest = &self.src[self.i + 1..];
            let n = rest.find('`').ok_or_else(|| self.end_err(""))?;
            let out = rest[..n].to_string();
            self.i += n + 2;
            return Ok(out);
        }
        if q != b'"' {
            return Err(self.err("token"));
        }
        self.i += 1;
        let mut out = String::new();
        let mut chars = self.src[self.i..].char_indices();
        while let Some((off, c)) = chars.next() {
            match c {
                '"' => {
                    self.i += off + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, c)) => out.push(c),
                    None => break,
                },
                c => out.push(c),
            }
        }
        self.i = self.s.len();
        Err(self.end_err(""))
    }
    /// `[<duration>]` after a log query.
    fn range(&mut self) -> R<i64> {
        if !self.eat("[") {
            return Err(self.err("token"));
        }
        let close = self.src[self.i..].find(']').ok_or_else(|| self.end_err(""))?;
        let range_ns = parse_duration(&self.src[self.i..self.i + close]).ok_or_else(|| self.err("duration"))?;
        self.i += close + 1;
        Ok(range_ns)
    }

    fn regex(&self, re: &str) -> R<Regex> {
        Regex::new(&format!("^(?:{re})$")).map_err(|e| format!("parse error : invalid regex {re:?}: {e}"))
    }
    fn selector(&mut self) -> R<Vec<Matcher>> {
        if !self.eat("{") {
            return Err(self.err("token"));
        }
        let mut ms = Vec::new();
        loop {
            self.ws();
            if self.eat("}") {
                break;
            }
            if self.eof() {
                return Err(self.end_err(", expecting } or ,"));
            }
            let name = self.ident().ok_or_else(|| self.err("token"))?;
            self.ws();
            let op = ["=~", "!~", "!=", "="].into_iter().find(|op| self.eat(op)).ok_or_else(|| self.err("token"))?;
            let value = self.string()?;
            ms.push(match op {
                "=" => Matcher::Eq(name, value),
                "!=" => Matcher::Ne(name, value),
                "=~" => Matcher::Re(name, self.regex(&value)?),
                _ => Matcher::Nre(name, self.regex(&value)?),
            });
            self.ws();
            if self.eat(",") {
                continue;
            }
            if self.eat("}") {
                break;
            }
            if self.eof() {
                return Err(self.end_err(", expecting } or ,"));
            }
            return Err(self.err("token"));
        }
        if ms.is_empty() || ms.iter().all(Matcher::matches_empty) {
            return Err(EMPTY_SELECTOR.to_string());
        }
        Ok(ms)
    }
    fn log_query(&mut self) -> R<LogQuery> {
        let matchers = self.selector()?;
        let mut filters = Vec::new();
        let mut unsupported = None;
        loop {
            self.ws();
            if self.eat("|=") {
                filters.push(LineFilter::Contains(self.string()?));
            } else if self.eat("!=") {
                filters.push(LineFilter::NotContains(self.string()?));
            } else if self.eat("|~") {
                let s = self.string()?;
                filters.push(LineFilter::Matches(Regex::new(&s).map_err(|e| e.to_string())?));
            } else if self.eat("!~") {
                let s = self.string()?;
                filters.push(LineFilter::NotMatches(Regex::new(&s).map_err(|e| e.to_string())?));
            } else if self.eat("|") {
                // A parser (`json`, `logfmt`) or a label filter (`status >= 500`): parsed, not run.
                let name = self.ident().ok_or_else(|| self.err("token"))?;
                self.ws();
                if ["json", "logfmt"].contains(&name.as_str()) {
                    unsupported.get_or_insert(format!("| {name}"));
                    continue;
                }
                let op = [">=", "<=", "==", "!=", "=~", "!~", ">", "<", "="]
                    .into_iter()
                    .find(|op| self.eat(op))
                    .ok_or_else(|| self.err("token"))?;
                self.ws();
                if self.eof() {
                    return Err(self.end_err(""));
                }
                if self.s[self.i] == b'"' || self.s[self.i] == b'`' {
                    self.string()?;
                } else {
                    let st = self.i;
                    while self.i < self.s.len() && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'.') {
                        self.i += 1;
                    }
                    if st == self.i {
                        return Err(self.err("token"));
                    }
                }
                unsupported.get_or_insert(format!("| {name} {op} ..."));
            } else {
                break;
            }
        }
        Ok(LogQuery { matchers, filters, unsupported })
    }
}

/// A Go/Prometheus duration such as `5m`, `30s`, `1500ms`, `1h30m`.
pub fn parse_duration(s: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n_end = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: i64 = rest[..n_end].parse().ok()?;
        rest = &rest[n_end..];
        let units: [(&str, i64); 9] = [
            ("ns", 1),
            ("us", 1_000),
            ("µs", 1_000),
            ("ms", 1_000_000),
            ("s", 1_000_000_000),
            ("m", 60_000_000_000),
            ("h", 3_600_000_000_000),
            ("d", 86_400_000_000_000),
            ("w", 604_800_000_000_000),
        ];
        let (u, mult) = units.into_iter().find(|(u, _)| rest.starts_with(u))?;
        rest = &rest[u.len()..];
        total = total.checked_add(n.checked_mul(mult)?)?;
    }
    Some(total)
}

/// Parse a query; the error is the text/plain body Loki would send.
pub fn parse(src: &str) -> R<Query> {
    if src.trim().is_empty() {
        return Err("parse error : syntax error: unexpected $end".into());
    }
    let mut p = P { s: src.as_bytes(), src, i: 0 };
    p.ws();
    if p.eat("count_over_time") {
        if !p.eat("(") {
            return Err(p.err("token"));
        }
        let inner = p.log_query()?;
        let range_ns = p.range()?;
        if !p.eat(")") {
            return Err(p.err("token"));
        }
        p.ws();
        if !p.eof() {
            return Err(p.err("token"));
        }
        return Ok(Query::Count(CountQuery { by: None, per_stream: true, inner, range_ns }));
    }
    if p.eat("sum") {
        let mut by = None;
        if p.eat("by") {
            if !p.eat("(") {
                return Err(p.err("token"));
            }
            let mut names = Vec::new();
            while let Some(n) = p.ident() {
                names.push(n);
                if !p.eat(",") {
                    break;
                }
            }
            if !p.eat(")") {
                return Err(p.err("token"));
            }
            by = Some(names);
        }
        if !(p.eat("(") && p.eat("count_over_time") && p.eat("(")) {
            return Err(p.err("token"));
        }
        let inner = p.log_query()?;
        let range_ns = p.range()?;
        if !(p.eat(")") && p.eat(")")) {
            return Err(p.err("token"));
        }
        p.ws();
        if !p.eof() {
            return Err(p.err("token"));
        }
        return Ok(Query::Count(CountQuery { by, per_stream: false, inner, range_ns }));
    }
    let q = p.log_query()?;
    p.ws();
    if !p.eof() {
        return Err(p.err("token"));
    }
    Ok(Query::Log(q))
}
