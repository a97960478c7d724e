//! Sessions (`pattern:session`): lines that carry the same id (an HDFS block `blk_…`, a request
//! or trace id) form a session, found by `patterns.sessions.key_regex` or `key_field`. A session
//! ends when no line has named it for `patterns.sessions.idle_secs` (event time), or at the end of
//! the input; it is then judged on how often each template came in it.
//!
//! What normal sessions share is learned as *invariants* (as Invariants Mining does, pairwise):
//! two templates whose counts keep one small ratio (1:1, 1:3, …) in at least 98 % of the history's
//! sessions that have either. A session is reported when it breaks one, or holds a template that
//! (almost) no session of the history had. The history is the first `min_sessions` sessions that
//! end (or a training file's, a backfill's); it may hold anomalous sessions, which is why an
//! invariant needs 98 % and not all. Sessions judged normal are learned too, and the invariants
//! are mined again as they accumulate.

use std::collections::VecDeque;
use std::sync::Arc;

use jiff::Timestamp;
use regex::Regex;
use serde::{Deserialize, Serialize};

use super::TemplateId;
use crate::config::{SessionsConfig, Severity};
use crate::detect::{Anomaly, AnomalyKind};
use crate::hash::FastMap;

/// Share of the history's sessions having either template that must keep their ratio.
const INVARIANT_SUPPORT: f64 = 0.98;
/// A template counts as one normal sessions have when at least this share of the history's
/// sessions had it (and at least one).
const KNOWN_SHARE: f64 = 0.002;
/// Templates taking part in invariants: had by at least this share of the sessions (and 20),
/// the most common first, at most `MAX_INVARIANT_TEMPLATES`.
const FREQUENT_SHARE: f64 = 0.01;
const FREQUENT_MIN: u32 = 20;
const MAX_INVARIANT_TEMPLATES: usize = 64;
/// Largest term of a ratio an invariant may keep (4:1 … 1:4).
const MAX_RATIO: u32 = 4;
/// Sessions kept as the history the invariants are mined from (the most recent).
const MAX_HISTORY: usize = 10_000;
/// Distinct templates counted per session (more are counted as one "other").
const MAX_SESSION_TEMPLATES: usize = 64;
/// Ids taken from one line.
const MAX_KEYS_PER_LINE: usize = 16;
/// Bytes of a session's last line kept as its example.
const EXAMPLE_BYTES: usize = 512;

/// A template of a service (sessions number services in the order they met them).
pub type Tk = (u16, TemplateId);

/// How often each template came in one session.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Counts(Vec<(Tk, u32)>);

impl Counts {
    fn add(&mut self, t: Tk) {
        if let Some(c) = self.0.iter_mut().find(|(k, _)| *k == t) {
            c.1 = c.1.saturating_add(1);
        } else if self.0.len() < MAX_SESSION_TEMPLATES {
            self.0.push((t, 1));
        }
    }

    fn get(&self, t: Tk) -> u32 {
        self.0.iter().find(|(k, _)| *k == t).map_or(0, |c| c.1)
    }

    /// The same counts with merged templates under the template they merged into.
    fn resolved(&self, resolve: &impl Fn(Tk) -> Tk) -> Counts {
        let mut out = Counts::default();
        for &(t, c) in &self.0 {
            let r = resolve(t);
            match out.0.iter_mut().find(|(k, _)| *k == r) {
                Some(e) => e.1 = e.1.saturating_add(c),
                None => out.0.push((r, c)),
            }
        }
        out
    }
}

/// A session still open.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Open {
    counts: Counts,
    lines: u32,
    first_at: i64,
    last_at: i64,
    /// The service of its first line.
    service: u16,
    last_line_no: u64,
    last_line: String,
}

/// A session that ended, for judging.
struct Ended {
    key: Box<str>,
    open: Open,
}

/// Two templates whose counts keep the ratio `a:b` in `support` of the sessions having either.
#[derive(Debug, Clone)]
struct Invariant {
    i: Tk,
    j: Tk,
    a: u32,
    b: u32,
    support: f64,
    /// Sessions of the history having either.
    sessions: u32,
}

/// What the history's sessions share.
#[derive(Debug, Default)]
struct Model {
    sessions: usize,
    /// Sessions of the history having each template.
    having: FastMap<Tk, u32>,
    known_min: u32,
    invariants: Vec<Invariant>,
}

impl Model {
    fn fit(history: &[Counts]) -> Model {
        let n = history.len();
        let mut having: FastMap<Tk, u32> = FastMap::default();
        for s in history {
            for &(t, _) in &s.0 {
                *having.entry(t).or_default() += 1;
            }
        }
        let frequent_min = ((FREQUENT_SHARE * n as f64).ceil() as u32).max(FREQUENT_MIN);
        let mut frequent: Vec<(Tk, u32)> =
            having.iter().filter(|&(_, &c)| c >= frequent_min).map(|(&t, &c)| (t, c)).collect();
        frequent.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        frequent.truncate(MAX_INVARIANT_TEMPLATES);
        let index: FastMap<Tk, usize> = frequent.iter().enumerate().map(|(i, &(t, _))| (t, i)).collect();
        // For each pair of frequent templates had together: sessions per reduced ratio.
        let mut ratios: FastMap<(usize, usize), FastMap<(u32, u32), u32>> = FastMap::default();
        let mut present: Vec<(usize, u32)> = Vec::new();
        for s in history {
            present.clear();
            present.extend(s.0.iter().filter_map(|&(t, c)| index.get(&t).map(|&i| (i, c))));
            present.sort_unstable();
            for (x, &(i, ci)) in present.iter().enumerate() {
                for &(j, cj) in &present[x + 1..] {
                    let g = gcd(ci, cj);
                    *ratios.entry((i, j)).or_default().entry((ci / g, cj / g)).or_default() += 1;
                }
            }
        }
        let mut invariants = Vec::new();
        for ((i, j), by_ratio) in ratios {
            let Some((&(a, b), &ok)) = by_ratio.iter().max_by_key(|&(r, c)| (*c, std::cmp::Reverse(*r))) else {
                continue;
            };
            let both: u32 = by_ratio.values().sum();
            let either = frequent[i].1 + frequent[j].1 - both;
            let support = f64::from(ok) / f64::from(either);
            if a <= MAX_RATIO && b <= MAX_RATIO && support >= INVARIANT_SUPPORT {
                invariants.push(Invariant { i: frequent[i].0, j: frequent[j].0, a, b, support, sessions: either });
            }
        }
        invariants.sort_by(|x, y| y.support.total_cmp(&x.support).then(x.i.cmp(&y.i)).then(x.j.cmp(&y.j)));
        let known_min = ((KNOWN_SHARE * n as f64).ceil() as u32).max(1);
        Model { sessions: n, having, known_min, invariants }
    }

    /// Why `s` is unlike the history's sessions, if it is.
    fn unlike(&self, s: &Counts) -> Option<Unlike> {
        if let Some(&(t, c)) = s.0.iter().find(|(t, _)| self.having.get(t).copied().unwrap_or(0) < self.known_min) {
            return Some(Unlike::Unknown { t, count: c, having: self.having.get(&t).copied().unwrap_or(0) });
        }
        for inv in &self.invariants {
            let (ci, cj) = (s.get(inv.i), s.get(inv.j));
            if ci * inv.b != cj * inv.a {
                return Some(Unlike::Ratio { inv: inv.clone(), ci, cj });
            }
        }
        None
    }
}

enum Unlike {
    Unknown { t: Tk, count: u32, having: u32 },
    Ratio { inv: Invariant, ci: u32, cj: u32 },
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// Sessions: the open ones, the history and the invariants mined from it.
pub struct Sessions {
    cfg: SessionsConfig,
    key: Regex,
    services: Vec<Arc<str>>,
    open: FastMap<Box<str>, Open>,
    /// Oldest activity among open sessions is not tracked; sweeps run every quarter timeout.
    swept_at: i64,
    history: VecDeque<Counts>,
    model: Option<Model>,
    learned_since_fit: usize,
    /// Judging wanted (the history is over), once the history has `min_sessions` sessions.
    want_armed: bool,
    armed: bool,
    /// Sessions of the history that are judged too once it is long enough (`scan` without
    /// `--train` judges its own history).
    unjudged: Vec<Ended>,
    rejudge: bool,
    /// Anomalous sessions found, not yet taken by the pipeline (with their counts, learned if a
    /// dismissal covers them).
    found: Vec<(Anomaly, Counts)>,
    /// Sessions ended, and judged unlike normal ones.
    pub ended: u64,
    pub flagged: u64,
}

/// Sessions as saved in `models.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SessionsSnapshot {
    services: Vec<String>,
    open: Vec<(String, Open)>,
    history: Vec<Counts>,
    armed: bool,
}

/// A session's key pattern from the configuration: `key_regex` as given, or `key_field` as a
/// field of a JSON (`"field": "v"`) or logfmt (`field=v`) line. `None`: sessions are off.
pub fn key_pattern(cfg: &SessionsConfig) -> Option<String> {
    if !cfg.key_regex.trim().is_empty() {
        return Some(cfg.key_regex.clone());
    }
    let field = cfg.key_field.trim();
    if field.is_empty() {
        return None;
    }
    let f = regex::escape(field);
    Some(format!(r#"(?:"{f}"\s*:\s*"?|\b{f}=(?:")?)([^"\s,}}]+)"#))
}

impl Sessions {
    /// `None` when no key is configured. The configuration was validated (the pattern compiles).
    pub fn new(cfg: &SessionsConfig) -> Option<Sessions> {
        let key = Regex::new(&key_pattern(cfg)?).ok()?;
        Some(Sessions {
            cfg: cfg.clone(),
            key,
            services: Vec::new(),
            open: FastMap::default(),
            swept_at: i64::MIN,
            history: VecDeque::new(),
            model: None,
            learned_since_fit: 0,
            want_armed: false,
            armed: false,
            unjudged: Vec::new(),
            rejudge: false,
            found: Vec::new(),
            ended: 0,
            flagged: 0,
        })
    }

    fn service_index(&mut self, service: &Arc<str>) -> u16 {
        if let Some(i) = self.services.iter().position(|s| s == service) {
            return i as u16;
        }
        self.services.push(service.clone());
        (self.services.len() - 1) as u16
    }

    /// Count a line of `service` with template `id` into the sessions `text` names. Sessions idle
    /// for `idle_secs` before `at` end first.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        text: &str,
        service: &Arc<str>,
        id: TemplateId,
        at: i64,
        line_no: u64,
        line: &str,
        resolve: &impl Fn(Tk) -> Tk,
        render: &impl Fn(Tk) -> String,
    ) {
        self.sweep(at, resolve, render);
        let mut keys: Vec<&str> = Vec::new();
        for c in self.key.captures_iter(text) {
            let Some(m) = c.get(1).or_else(|| c.get(0)) else { continue };
            if !m.as_str().is_empty() && !keys.contains(&m.as_str()) {
                keys.push(m.as_str());
            }
            if keys.len() >= MAX_KEYS_PER_LINE {
                break;
            }
        }
        if keys.is_empty() {
            return;
        }
        let svc = self.service_index(service);
        for key in keys {
            if !self.open.contains_key(key) && self.open.len() >= self.cfg.max_open {
                self.end_oldest(resolve, render);
            }
            let s = self.open.entry(Box::from(key)).or_insert_with(|| Open {
                counts: Counts::default(),
                lines: 0,
                first_at: at,
                last_at: at,
                service: svc,
                last_line_no: 0,
                last_line: String::new(),
            });
            s.counts.add((svc, id));
            s.lines = s.lines.saturating_add(1);
            s.last_at = s.last_at.max(at);
            s.last_line_no = line_no;
            s.last_line.clear();
            s.last_line.push_str(&line[..super::mask::floor_char_boundary(line, line.len().min(EXAMPLE_BYTES))]);
        }
    }

    /// End the sessions idle for `idle_secs` at `now`.
    pub fn sweep(&mut self, now: i64, resolve: &impl Fn(Tk) -> Tk, render: &impl Fn(Tk) -> String) {
        let idle = self.cfg.idle_secs as i64;
        if self.swept_at != i64::MIN && now - self.swept_at < (idle / 4).max(1) {
            return;
        }
        self.swept_at = now;
        let mut done: Vec<Box<str>> =
            self.open.iter().filter(|(_, s)| now - s.last_at >= idle).map(|(k, _)| k.clone()).collect();
        if done.is_empty() {
            return;
        }
        done.sort_by_key(|k| (self.open[k].last_at, k.clone()));
        let ended: Vec<Ended> =
            done.into_iter().filter_map(|k| self.open.remove(&k).map(|open| Ended { key: k, open })).collect();
        self.end(ended, resolve, render);
    }

    /// At `max_open`: the tenth of the open sessions idle longest end now.
    fn end_oldest(&mut self, resolve: &impl Fn(Tk) -> Tk, render: &impl Fn(Tk) -> String) {
        let mut by_age: Vec<(i64, Box<str>)> = self.open.iter().map(|(k, s)| (s.last_at, k.clone())).collect();
        by_age.sort_unstable();
        by_age.truncate((self.cfg.max_open / 10).max(1));
        let ended: Vec<Ended> =
            by_age.into_iter().filter_map(|(_, k)| self.open.remove(&k).map(|open| Ended { key: k, open })).collect();
        self.end(ended, resolve, render);
    }

    /// End of input: every open session ends.
    pub fn finish(&mut self, resolve: &impl Fn(Tk) -> Tk, render: &impl Fn(Tk) -> String) {
        let mut all: Vec<Ended> = self.open.drain().map(|(key, open)| Ended { key, open }).collect();
        all.sort_by(|a, b| (a.open.last_at, &a.key).cmp(&(b.open.last_at, &b.key)));
        self.end(all, resolve, render);
    }

    /// The history is over: judge sessions from now on, once there are `min_sessions` of it.
    /// `rejudge`: the history's own sessions are judged too (`scan` without `--train`).
    pub fn arm(&mut self, rejudge: bool, resolve: &impl Fn(Tk) -> Tk, render: &impl Fn(Tk) -> String) {
        self.want_armed = true;
        self.rejudge = rejudge;
        if !rejudge {
            self.unjudged.clear();
        }
        self.arm_if_ready(resolve, render);
    }

    fn arm_if_ready(&mut self, resolve: &impl Fn(Tk) -> Tk, render: &impl Fn(Tk) -> String) {
        if self.armed || !self.want_armed || self.history.len() < self.cfg.min_sessions {
            return;
        }
        self.armed = true;
        self.fit(resolve);
        tracing::info!(
            sessions = self.history.len(),
            invariants = self.model.as_ref().map_or(0, |m| m.invariants.len()),
            "Session history learned; judging sessions from now"
        );
        let unjudged = std::mem::take(&mut self.unjudged);
        if self.rejudge {
            for e in unjudged {
                self.judge(e, false, resolve, render);
            }
        }
    }

    fn fit(&mut self, resolve: &impl Fn(Tk) -> Tk) {
        let history: Vec<Counts> = self.history.iter().map(|c| c.resolved(resolve)).collect();
        self.model = Some(Model::fit(&history));
        self.learned_since_fit = 0;
    }

    fn learn(&mut self, c: Counts) {
        if self.history.len() >= MAX_HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(c);
        self.learned_since_fit += 1;
    }

    fn end(&mut self, ended: Vec<Ended>, resolve: &impl Fn(Tk) -> Tk, render: &impl Fn(Tk) -> String) {
        self.ended += ended.len() as u64;
        // Sessions that end together are learned together: a batch (the end of the input) is
        // the history as a whole, not its first `min_sessions`.
        if !self.armed {
            for e in ended {
                self.learn(e.open.counts.clone());
                if self.unjudged.len() < MAX_HISTORY {
                    self.unjudged.push(e);
                }
            }
            self.arm_if_ready(resolve, render);
            return;
        }
        for e in ended {
            self.judge(e, true, resolve, render);
        }
    }

    fn judge(&mut self, e: Ended, learn: bool, resolve: &impl Fn(Tk) -> Tk, render: &impl Fn(Tk) -> String) {
        let refit_after = (self.history.len() / 10).max(self.cfg.min_sessions);
        if self.model.is_none() || self.learned_since_fit >= refit_after {
            self.fit(resolve);
        }
        let counts = e.open.counts.resolved(resolve);
        let Some(model) = &self.model else { return };
        match model.unlike(&counts) {
            None => {
                if learn {
                    self.learn(counts);
                }
            }
            Some(why) => {
                self.flagged += 1;
                let a = self.anomaly(&e, &why, model.sessions, render);
                self.found.push((a, counts));
            }
        }
    }

    fn anomaly(&self, e: &Ended, why: &Unlike, sessions: usize, render: &impl Fn(Tk) -> String) -> Anomaly {
        let s = &e.open;
        let service = self.services.get(s.service as usize).map_or("logs", |s| &**s);
        let times = |n: u32| if n == 1 { "once".to_string() } else { format!("{n} times") };
        let detail = match why {
            Unlike::Unknown { t, count, having } => format!(
                "\"{}\" came {} in it; {} of the history's {sessions} sessions had it",
                render(*t),
                times(*count),
                if *having == 0 { "none".to_string() } else { having.to_string() }
            ),
            Unlike::Ratio { inv, ci, cj } => format!(
                "\"{}\" came {} and \"{}\" {}, where {:.1} % of the {} sessions of the history with either had them {}:{}",
                render(inv.i),
                times(*ci),
                render(inv.j),
                if *cj == 0 { "never".to_string() } else { times(*cj) },
                100.0 * inv.support,
                inv.sessions,
                inv.a,
                inv.b
            ),
        };
        let span =
            if s.last_at > s.first_at { format!("{}–{}", hms(s.first_at), hms(s.last_at)) } else { hms(s.first_at) };
        Anomaly {
            line: (s.last_line_no > 0).then_some(s.last_line_no),
            timestamp: Timestamp::from_second(s.last_at).unwrap_or(Timestamp::UNIX_EPOCH),
            kind: AnomalyKind::Pattern,
            detectors: vec!["pattern:session".into()],
            score: 0.8,
            severity: Severity::Medium,
            endpoint: format!("{service}: sessions"),
            client: None,
            session: Some(e.key.to_string()),
            reason: format!(
                "session {} on {service} ({} line{}, {span}) unlike normal sessions: {detail}",
                e.key,
                s.lines,
                if s.lines == 1 { "" } else { "s" }
            ),
            features: Vec::new(),
            raw: Some(s.last_line.clone()),
        }
    }

    /// The anomalous sessions found since the last call. `dismissed` says whether a dismissal
    /// covers one: a covered session is learned as normal instead.
    pub fn take_found(&mut self, mut dismissed: impl FnMut(&Anomaly) -> bool) -> Vec<Anomaly> {
        let mut out = Vec::new();
        for (a, counts) in std::mem::take(&mut self.found) {
            if dismissed(&a) {
                self.learn(counts);
            } else {
                out.push(a);
            }
        }
        out
    }

    /// Services in the order sessions met them (a template key's first half indexes it).
    pub fn service_names(&self) -> &[Arc<str>] {
        &self.services
    }

    /// Sessions in the history the invariants are mined from.
    pub fn history_len(&self) -> usize {
        self.history.len()
    }

    /// Sessions are judged (the history had `min_sessions`).
    pub fn judging(&self) -> bool {
        self.armed
    }

    /// Open sessions now.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    pub fn snapshot(&self) -> SessionsSnapshot {
        SessionsSnapshot {
            services: self.services.iter().map(|s| s.to_string()).collect(),
            open: self.open.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            history: self.history.iter().cloned().collect(),
            armed: self.armed,
        }
    }

    /// Template ids in a snapshot are those of the restored miners (they keep their ids).
    pub fn restore(&mut self, s: SessionsSnapshot) {
        self.services = s.services.into_iter().map(Arc::from).collect();
        self.open = s.open.into_iter().map(|(k, v)| (Box::from(k.as_str()), v)).collect();
        self.history = s.history.into_iter().collect();
        self.history.truncate(MAX_HISTORY);
        self.armed = s.armed;
        self.want_armed = s.armed;
        self.model = None;
    }
}

fn hms(at: i64) -> String {
    Timestamp::from_second(at).unwrap_or(Timestamp::UNIX_EPOCH).strftime("%H:%M:%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u32) -> Tk {
        (0, TemplateId::for_test(n))
    }

    fn counts(c: &[(u32, u32)]) -> Counts {
        Counts(c.iter().map(|&(n, k)| (t(n), k)).collect())
    }

    #[test]
    fn invariants_survive_a_dirty_history_and_catch_a_broken_ratio() {
        // 1.5 % of the history is incidents (a missing third `terminating`).
        let mut history: Vec<Counts> = (0..985).map(|_| counts(&[(1, 1), (2, 3), (3, 3)])).collect();
        history.extend((0..15).map(|_| counts(&[(1, 1), (2, 3), (3, 2)])));
        let m = Model::fit(&history);
        assert!(m.unlike(&counts(&[(1, 1), (2, 3), (3, 3)])).is_none());
        assert!(matches!(m.unlike(&counts(&[(1, 1), (2, 3), (3, 2)])), Some(Unlike::Ratio { .. })));
        assert!(matches!(m.unlike(&counts(&[(1, 1), (2, 3), (3, 3), (9, 1)])), Some(Unlike::Unknown { .. })));
    }

    #[test]
    fn open_sessions_and_the_history_survive_a_restart() {
        let cfg = SessionsConfig { key_regex: r"ord-\d+".into(), min_sessions: 10, ..SessionsConfig::default() };
        let (resolve, render) = (|t: Tk| t, |_: Tk| String::from("t"));
        let svc: Arc<str> = Arc::from("shop");
        let mut a = Sessions::new(&cfg).unwrap();
        for k in 0..30 {
            a.add(&format!("order ord-{k} received"), &svc, TemplateId::for_test(1), 100, k, "l", &resolve, &render);
            a.add(&format!("order ord-{k} paid"), &svc, TemplateId::for_test(2), 101, k, "l", &resolve, &render);
        }
        // These end (idle) and are the history; ord-99 stays open across the restart.
        a.add("order ord-99 received", &svc, TemplateId::for_test(1), 1000, 99, "l", &resolve, &render);
        assert_eq!((a.history_len(), a.open_count()), (30, 1));
        let saved = serde_json::to_string(&a.snapshot()).unwrap();
        let mut b = Sessions::new(&cfg).unwrap();
        b.restore(serde_json::from_str(&saved).unwrap());
        assert_eq!((b.history_len(), b.open_count()), (30, 1));
        b.arm(false, &resolve, &render);
        assert!(b.judging());
        // The session open before the restart ends unpaid: unlike the 30 learned.
        b.finish(&resolve, &render);
        let found = b.take_found(|_| false);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].session.as_deref(), Some("ord-99"));
    }

    #[test]
    fn a_key_field_is_found_in_json_and_logfmt() {
        let cfg = SessionsConfig { key_field: "trace_id".into(), ..SessionsConfig::default() };
        let re = Regex::new(&key_pattern(&cfg).unwrap()).unwrap();
        let first = |s: &str| re.captures(s).and_then(|c| c.get(1)).map(|m| m.as_str().to_string());
        assert_eq!(first(r#"{"msg":"x","trace_id":"ab12"}"#).as_deref(), Some("ab12"));
        assert_eq!(first("level=info trace_id=ab12 msg=done").as_deref(), Some("ab12"));
        assert_eq!(first("level=info msg=done").as_deref(), None);
    }
}
