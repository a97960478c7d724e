//! Field names: the built-in aliases, the explicit `[parse.fields]` mapping, and the conversion of
//! raw values (JSON numbers, strings, logfmt values) into the typed fields of a
//! [`LogEvent`](super::LogEvent).
//!
//! Every parser feeds what it finds into a `Found` through `Found::offer`. Each field keeps the
//! best-ranked candidate that converts to a valid value: an explicit mapping beats an alias, an
//! alias listed earlier beats a later one (`status` beats `code`), a top-level key beats one nested
//! inside an object, and a value that does not convert (`"code": "H12"`, `"-"`, a negative size)
//! leaves room for the next candidate.
//!
//! How values convert (units, ranges) is described in [`values`](super::values).

use std::borrow::Cow;
use std::collections::BTreeMap;

use jiff::Timestamp;

use super::values::{first_address, to_level, to_millis, to_status, to_str, to_timestamp, to_u64};
use super::Level;

/// How a bare number in a response-time field is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeUnit {
    Millis,
    Secs,
    Micros,
    Nanos,
    /// Go duration string; a decimal is seconds, a bare integer nanoseconds (Go's `time.Duration`
    /// as JSON, as Traefik writes `Duration`).
    Duration,
    /// A bare number with a fraction and below 60 is seconds, otherwise milliseconds.
    Guess,
}

/// A field of [`LogEvent`](super::LogEvent) a key can feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Timestamp,
    Method,
    /// A path, URL, or a whole request line (`GET /x HTTP/1.1`, which also yields the method).
    Path,
    Status,
    ResponseTime(TimeUnit),
    Bytes,
    Client,
    UserAgent,
    Referer,
    Level,
    Message,
}

/// Rank of an explicit `[parse.fields]` mapping (beats every alias).
pub(crate) const RANK_EXPLICIT: u16 = 0;
/// Added to an alias's rank when the key sits one level down inside a JSON object.
pub(crate) const RANK_NESTED: u16 = 100;

/// The built-in aliases: key (matched case-insensitively), field, rank (lower wins within a field).
pub(crate) const ALIASES: &[Alias] = &[
    ("timestamp", Field::Timestamp, 1),
    ("@timestamp", Field::Timestamp, 2),
    ("ts", Field::Timestamp, 3),
    ("time", Field::Timestamp, 4),
    ("time_iso8601", Field::Timestamp, 5),
    ("time_local", Field::Timestamp, 6),
    ("datetime", Field::Timestamp, 7),
    ("date", Field::Timestamp, 8),
    ("startutc", Field::Timestamp, 9),
    ("method", Field::Method, 1),
    ("request_method", Field::Method, 2),
    ("http_method", Field::Method, 3),
    ("verb", Field::Method, 4),
    ("requestmethod", Field::Method, 5),
    ("path", Field::Path, 1),
    ("request_uri", Field::Path, 2),
    ("uri", Field::Path, 3),
    ("url", Field::Path, 4),
    ("endpoint", Field::Path, 5),
    ("request", Field::Path, 6),
    // Traefik JSON.
    ("requestpath", Field::Path, 7),
    ("request_uri_path", Field::Path, 8),
    ("status", Field::Status, 1),
    ("status_code", Field::Status, 2),
    ("http_status", Field::Status, 3),
    ("response_code", Field::Status, 4),
    ("code", Field::Status, 5),
    ("downstreamstatus", Field::Status, 6),
    ("originstatus", Field::Status, 7),
    ("response_time_ms", Field::ResponseTime(TimeUnit::Millis), 1),
    ("duration_ms", Field::ResponseTime(TimeUnit::Millis), 2),
    ("latency_ms", Field::ResponseTime(TimeUnit::Millis), 3),
    ("elapsed_ms", Field::ResponseTime(TimeUnit::Millis), 4),
    ("took_ms", Field::ResponseTime(TimeUnit::Millis), 5),
    ("time_ms", Field::ResponseTime(TimeUnit::Millis), 6),
    ("rt_ms", Field::ResponseTime(TimeUnit::Millis), 7),
    ("response_time_secs", Field::ResponseTime(TimeUnit::Secs), 8),
    ("response_time_seconds", Field::ResponseTime(TimeUnit::Secs), 8),
    ("request_time", Field::ResponseTime(TimeUnit::Secs), 9),
    ("response_time", Field::ResponseTime(TimeUnit::Guess), 10),
    ("duration_secs", Field::ResponseTime(TimeUnit::Secs), 11),
    ("duration_seconds", Field::ResponseTime(TimeUnit::Secs), 11),
    ("duration", Field::ResponseTime(TimeUnit::Duration), 12),
    ("elapsed", Field::ResponseTime(TimeUnit::Guess), 13),
    ("latency", Field::ResponseTime(TimeUnit::Guess), 14),
    ("upstream_response_time", Field::ResponseTime(TimeUnit::Secs), 15),
    ("response_time_us", Field::ResponseTime(TimeUnit::Micros), 17),
    ("duration_us", Field::ResponseTime(TimeUnit::Micros), 17),
    ("latency_us", Field::ResponseTime(TimeUnit::Micros), 17),
    ("elapsed_us", Field::ResponseTime(TimeUnit::Micros), 17),
    ("took_us", Field::ResponseTime(TimeUnit::Micros), 17),
    ("duration_ns", Field::ResponseTime(TimeUnit::Nanos), 17),
    ("latency_ns", Field::ResponseTime(TimeUnit::Nanos), 17),
    ("elapsed_ns", Field::ResponseTime(TimeUnit::Nanos), 17),
    ("response_time_ns", Field::ResponseTime(TimeUnit::Nanos), 17),
    ("took", Field::ResponseTime(TimeUnit::Guess), 18),
    ("dur", Field::ResponseTime(TimeUnit::Duration), 18),
    ("took_s", Field::ResponseTime(TimeUnit::Secs), 18),
    ("duration_s", Field::ResponseTime(TimeUnit::Secs), 18),
    ("latency_s", Field::ResponseTime(TimeUnit::Secs), 18),
    ("elapsed_s", Field::ResponseTime(TimeUnit::Secs), 18),
    ("time_taken", Field::ResponseTime(TimeUnit::Millis), 19),
    // Heroku router: `service=18ms`; a service *name* does not convert and is ignored.
    ("service", Field::ResponseTime(TimeUnit::Millis), 16),
    ("bytes", Field::Bytes, 1),
    ("body_bytes_sent", Field::Bytes, 2),
    ("bytes_sent", Field::Bytes, 3),
    ("response_size", Field::Bytes, 4),
    ("size", Field::Bytes, 5),
    ("content_length", Field::Bytes, 6),
    ("remote_addr", Field::Client, 1),
    ("client_ip", Field::Client, 2),
    ("clientip", Field::Client, 3),
    ("ip", Field::Client, 4),
    ("x_forwarded_for", Field::Client, 5),
    ("fwd", Field::Client, 6),
    ("client", Field::Client, 7),
    ("clienthost", Field::Client, 8),
    ("remote_ip", Field::Client, 9),
    ("clientaddr", Field::Client, 10),
    ("user_agent", Field::UserAgent, 1),
    ("http_user_agent", Field::UserAgent, 2),
    ("useragent", Field::UserAgent, 3),
    ("ua", Field::UserAgent, 4),
    ("agent", Field::UserAgent, 5),
    ("request_user-agent", Field::UserAgent, 6),
    ("referer", Field::Referer, 1),
    ("http_referer", Field::Referer, 2),
    ("referrer", Field::Referer, 3),
    ("request_referer", Field::Referer, 4),
    ("level", Field::Level, 1),
    ("lvl", Field::Level, 2),
    ("severity", Field::Level, 3),
    ("loglevel", Field::Level, 4),
    ("log_level", Field::Level, 5),
    ("msg", Field::Message, 1),
    ("message", Field::Message, 2),
];

/// Longest alias, in bytes.
const MAX_ALIAS_LEN: usize = 24;

/// One built-in alias: key, field, rank.
type Alias = (&'static str, Field, u16);

/// [`ALIASES`] indexed by key length, built once.
fn aliases_by_len() -> &'static [Vec<Alias>] {
    static TABLE: std::sync::OnceLock<Vec<Vec<Alias>>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = vec![Vec::new(); MAX_ALIAS_LEN + 1];
        for &(key, field, rank) in ALIASES {
            table[key.len()].push((key, field, rank));
        }
        table
    })
}

/// Looks a key up among the built-in aliases (case-insensitive). Returns the field and the alias's
/// rank (lower wins; ranks start at 1).
pub(crate) fn alias(key: &str) -> Option<(Field, u16)> {
    let bucket = aliases_by_len().get(key.len())?;
    let key = key.as_bytes();
    let first = key.first()?.to_ascii_lowercase();
    bucket
        .iter()
        .find(|(alias, _, _)| alias.as_bytes()[0] == first && alias.as_bytes().eq_ignore_ascii_case(key))
        .map(|&(_, field, rank)| (field, rank))
}

/// One explicit mapping from `[parse.fields]`.
#[derive(Debug, Clone)]
pub(crate) struct Mapping {
    /// Lower-cased path segments (`http.status_code` → `["http", "status_code"]`).
    pub segs: Vec<String>,
    /// The whole lower-cased name (logfmt keys may contain dots).
    pub joined: String,
    pub field: Field,
}

/// The compiled `[parse.fields]` mapping: field names (dots address nested JSON objects) that
/// override the built-in aliases. Matching is case-insensitive.
#[derive(Debug, Clone, Default)]
pub struct FieldMap {
    pub(crate) entries: Vec<Mapping>,
}

impl FieldMap {
    /// Compiles `ParseConfig::fields` (keys from `crate::config::FIELD_KEYS`; unknown keys are
    /// ignored, validation has rejected them already).
    pub fn new(fields: &BTreeMap<String, String>) -> FieldMap {
        let entries = fields
            .iter()
            .filter_map(|(key, name)| {
                let field = match key.as_str() {
                    "timestamp" => Field::Timestamp,
                    "method" => Field::Method,
                    "path" => Field::Path,
                    "status" => Field::Status,
                    "response_time_ms" => Field::ResponseTime(TimeUnit::Millis),
                    "response_time_secs" => Field::ResponseTime(TimeUnit::Secs),
                    "bytes" => Field::Bytes,
                    "client" => Field::Client,
                    "user_agent" => Field::UserAgent,
                    "level" => Field::Level,
                    "message" => Field::Message,
                    _ => return None,
                };
                let joined = name.trim().to_ascii_lowercase();
                let segs = joined.split('.').map(str::to_string).collect();
                Some(Mapping { segs, joined, field })
            })
            .take(16)
            .collect();
        FieldMap { entries }
    }

    /// True when nothing is mapped explicitly.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The explicit field for a flat key (logfmt), compared with the whole mapped name.
    pub(crate) fn flat(&self, key: &str) -> Option<Field> {
        self.entries.iter().find(|m| m.joined.eq_ignore_ascii_case(key)).map(|m| m.field)
    }
}

/// A raw value as a parser found it.
#[derive(Debug, Clone)]
pub(crate) enum Val<'a> {
    Str(Cow<'a, str>),
    U64(u64),
    I64(i64),
    F64(f64),
    Bool,
    Null,
}

/// The best candidate found so far for one field.
#[derive(Debug)]
pub(crate) struct Slot<T> {
    rank: u16,
    pub val: Option<T>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot { rank: u16::MAX, val: None }
    }
}

impl<T> Slot<T> {
    fn wants(&self, rank: u16) -> bool {
        self.val.is_none() || rank < self.rank
    }

    fn offer(&mut self, rank: u16, v: Option<T>) {
        if let Some(v) = v {
            self.rank = rank;
            self.val = Some(v);
        }
    }
}

/// What a parser found in one line, borrowing from it where it can.
#[derive(Debug, Default)]
pub(crate) struct Found<'a> {
    pub time: Slot<Timestamp>,
    pub method: Slot<Cow<'a, str>>,
    pub path: Slot<Cow<'a, str>>,
    pub status: Slot<u16>,
    pub response_time_ms: Slot<f64>,
    pub bytes: Slot<u64>,
    pub client: Slot<Cow<'a, str>>,
    pub user_agent: Slot<Cow<'a, str>>,
    pub referer: Slot<Cow<'a, str>>,
    pub level: Slot<Level>,
    pub message: Slot<Cow<'a, str>>,
}

impl<'a> Found<'a> {
    /// Offers a value for `field` at `rank`; kept if it converts and beats what is there.
    pub fn offer(&mut self, field: Field, rank: u16, v: Val<'a>) {
        match field {
            Field::Timestamp if self.time.wants(rank) => self.time.offer(rank, to_timestamp(&v)),
            Field::Method if self.method.wants(rank) => self.method.offer(rank, to_str(v).filter(|m| is_method(m))),
            Field::Path if self.path.wants(rank) => {
                if let Some(s) = to_str(v) {
                    self.offer_path(rank, s);
                }
            }
            Field::Status if self.status.wants(rank) => self.status.offer(rank, to_status(&v)),
            Field::ResponseTime(unit) if self.response_time_ms.wants(rank) => {
                self.response_time_ms.offer(rank, to_millis(&v, unit))
            }
            Field::Bytes if self.bytes.wants(rank) => self.bytes.offer(rank, to_u64(&v)),
            Field::Client if self.client.wants(rank) => self.client.offer(rank, to_str(v).and_then(first_address)),
            Field::UserAgent if self.user_agent.wants(rank) => self.user_agent.offer(rank, to_str(v)),
            Field::Referer if self.referer.wants(rank) => self.referer.offer(rank, to_str(v)),
            Field::Level if self.level.wants(rank) => self.level.offer(rank, to_level(&v)),
            Field::Message if self.message.wants(rank) => self.message.offer(rank, to_str(v)),
            _ => {}
        }
    }

    /// A path, a URL, or a request line `METHOD target [PROTOCOL]` (which also offers the method).
    pub fn offer_path(&mut self, rank: u16, s: Cow<'a, str>) {
        let t = s.trim();
        let Some(sp) = t.as_bytes().iter().position(|&b| b == b' ') else {
            self.path.offer(rank, Some(s));
            return;
        };
        let (method, rest) = (&t[..sp], t[sp + 1..].trim_start());
        let target = rest.as_bytes().iter().position(|&b| b == b' ').map_or(rest, |i| &rest[..i]);
        if !is_method(method) || target.is_empty() {
            // Not a request line: keep the first word only, a path has no spaces.
            self.path.offer(rank, Some(sub(&s, &t[..sp])));
            return;
        }
        if self.method.wants(rank) {
            self.method.offer(rank, Some(sub(&s, method)));
        }
        if target != "-" {
            self.path.offer(rank, Some(sub(&s, target)));
        }
    }
}

/// A sub-slice of a `Cow`, borrowed if the `Cow` is.
pub(crate) fn sub<'a>(c: &Cow<'a, str>, part: &str) -> Cow<'a, str> {
    match c {
        Cow::Borrowed(b) => {
            let start = part.as_ptr() as usize - b.as_ptr() as usize;
            Cow::Borrowed(&b[start..start + part.len()])
        }
        Cow::Owned(_) => Cow::Owned(part.to_string()),
    }
}

/// An HTTP method token: 1 to 16 ASCII letters (or `-`), any case.
pub(crate) fn is_method(s: &str) -> bool {
    !s.is_empty() && s.len() <= 16 && s.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Val<'_> {
        Val::Str(Cow::Borrowed(v))
    }

    #[test]
    fn aliases_are_case_insensitive_and_ranked() {
        assert_eq!(alias("Status"), Some((Field::Status, 1)));
        assert_eq!(alias("HTTP_STATUS"), Some((Field::Status, 3)));
        assert_eq!(alias("@timestamp"), Some((Field::Timestamp, 2)));
        assert_eq!(alias("request_time"), Some((Field::ResponseTime(TimeUnit::Secs), 9)));
        assert_eq!(alias("not_a_field"), None);
        assert_eq!(alias("a_very_long_key_that_is_no_alias_at_all"), None);
        assert_eq!(alias(""), None);
    }

    #[test]
    fn every_listed_alias_is_found_in_any_case() {
        for &(key, field, rank) in ALIASES {
            assert!(key.len() <= MAX_ALIAS_LEN && key == key.to_ascii_lowercase(), "{key}");
            assert_eq!(alias(key), Some((field, rank)), "{key}");
            assert_eq!(alias(&key.to_ascii_uppercase()), Some((field, rank)), "{key}");
        }
    }

    #[test]
    fn better_rank_wins_and_bad_values_leave_room() {
        let mut f = Found::default();
        f.offer(Field::Status, 5, s("H12")); // Heroku error code: not a status
        assert_eq!(f.status.val, None);
        f.offer(Field::Status, 5, Val::U64(503));
        f.offer(Field::Status, 1, Val::U64(200));
        f.offer(Field::Status, 3, Val::U64(404)); // worse rank: ignored
        assert_eq!(f.status.val, Some(200));
        f.offer(Field::Client, 1, s("-"));
        f.offer(Field::Client, 5, s("203.0.113.7, 10.0.0.1"));
        assert_eq!(f.client.val.as_deref(), Some("203.0.113.7"));
    }

    #[test]
    fn request_line_yields_method_and_path() {
        let mut f = Found::default();
        f.offer(Field::Path, 6, s("POST /api/orders?x=1 HTTP/1.1"));
        assert_eq!(f.method.val.as_deref(), Some("POST"));
        assert_eq!(f.path.val.as_deref(), Some("/api/orders?x=1"));
    }

    #[test]
    fn explicit_mapping_compiles_dot_paths() {
        let mut cfg = BTreeMap::new();
        cfg.insert("status".to_string(), "http.Status_Code".to_string());
        cfg.insert("bogus".to_string(), "x".to_string());
        let map = FieldMap::new(&cfg);
        assert_eq!(map.entries.len(), 1);
        assert_eq!(map.entries[0].segs, vec!["http", "status_code"]);
        assert_eq!(map.flat("HTTP.status_code"), Some(Field::Status));
    }
}
