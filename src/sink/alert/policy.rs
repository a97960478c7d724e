//! The alerting policy, pure and clock-driven (no I/O): one notification per incident, deduplicated
//! by fingerprint with a repeat interval, a resolved notice, and a global rate limit whose held-back
//! notifications are summarised once the minute has passed.

use jiff::{SignedDuration, Timestamp};

use super::message::{Body, Event, HeldItem, IncidentInfo, Notification, MAX_HELD_LISTED};
use super::state::{AlertState, IncidentRecord};
use crate::config::{AlertingConfig, Severity};

/// Width of the rate-limit window.
pub const RATE_WINDOW: SignedDuration = SignedDuration::from_secs(60);

/// What to do with one finding.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Send to every channel whose `min_severity` allows it.
    Send(Notification),
    /// Over the rate limit: only channels exempt from it (Alertmanager) get it; held for the summary.
    Held(Notification),
    /// Already notified within the repeat interval: nothing sent (counted as suppressed at this severity).
    Suppressed(Severity),
    /// Nothing to say (an anomaly, a resolution of something never notified).
    Ignore,
}

/// How the pipeline reported an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    Opened,
    Updated,
    Resolved,
}

/// Settings the policy needs, taken from [`AlertingConfig`].
#[derive(Debug, Clone)]
pub struct PolicySettings {
    pub repeat_interval: SignedDuration,
    pub resolve_after: SignedDuration,
    pub max_per_minute: u32,
    pub grafana_url: String,
    pub datasource_uid: String,
    pub explore_query: String,
}

impl PolicySettings {
    /// From the config section.
    pub fn from_config(cfg: &AlertingConfig) -> Self {
        PolicySettings {
            repeat_interval: SignedDuration::from_secs(cfg.repeat_interval_secs as i64),
            resolve_after: SignedDuration::from_secs(cfg.resolve_after_secs as i64),
            max_per_minute: cfg.max_alerts_per_minute,
            grafana_url: cfg.grafana_url.clone(),
            datasource_uid: cfg.loki_datasource_uid.clone(),
            explore_query: if cfg.explore_query.is_empty() {
                r#"{job=~".+"}"#.into()
            } else {
                cfg.explore_query.clone()
            },
        }
    }
}

/// The policy and the state it keeps.
#[derive(Debug)]
pub struct Policy {
    settings: PolicySettings,
    state: AlertState,
    window_start: Option<Timestamp>,
    window_count: u32,
    held: Vec<HeldItem>,
    held_total: u64,
    held_since: Option<Timestamp>,
    held_severity: Severity,
}

impl Policy {
    /// A policy resuming from persisted state.
    pub fn new(settings: PolicySettings, state: AlertState) -> Self {
        Policy {
            settings,
            state,
            window_start: None,
            window_count: 0,
            held: Vec::new(),
            held_total: 0,
            held_since: None,
            held_severity: Severity::Low,
        }
    }

    /// The state to persist.
    pub fn state(&self) -> &AlertState {
        &self.state
    }

    /// The state, for recording what was queued and what the channels accepted.
    pub fn state_mut(&mut self) -> &mut AlertState {
        &mut self.state
    }

    /// Incidents currently open.
    pub fn open_incidents(&self) -> usize {
        self.state.incidents.values().filter(|r| r.open).count()
    }

    fn notification(&self, event: Event, severity: Severity, info: IncidentInfo, now: Timestamp) -> Notification {
        let explore_url = super::message::explore_url(
            &self.settings.grafana_url,
            &self.settings.datasource_uid,
            &self.settings.explore_query,
            info.first_seen,
            info.last_seen,
        );
        Notification { event, severity, body: Body::Incident(info), explore_url, sent_at: now }
    }

    /// Counts one notification against the rate limit; false when over it.
    fn admit(&mut self, now: Timestamp) -> bool {
        if self.settings.max_per_minute == 0 {
            return true;
        }
        match self.window_start {
            Some(start) if now.duration_since(start) < RATE_WINDOW => {}
            _ => {
                self.window_start = Some(now);
                self.window_count = 0;
            }
        }
        if self.window_count < self.settings.max_per_minute {
            self.window_count += 1;
            true
        } else {
            false
        }
    }

    /// Sends or holds `n`, recording the hold for the summary.
    fn release(&mut self, n: Notification, now: Timestamp) -> Decision {
        if self.admit(now) {
            return Decision::Send(n);
        }
        if let Some(i) = n.incident() {
            if self.held.len() < MAX_HELD_LISTED {
                self.held.push(HeldItem {
                    event: n.event,
                    kind: i.kind.clone(),
                    severity: n.severity,
                    endpoint: i.endpoint.clone(),
                    count: i.count,
                });
            }
        }
        self.held_total += 1;
        self.held_since.get_or_insert(now);
        self.held_severity = self.held_severity.max(n.severity);
        Decision::Held(n)
    }

    /// Applies one report of the pipeline.
    pub fn on_report(&mut self, report: Report, info: IncidentInfo, now: Timestamp) -> Decision {
        let fp = info.fingerprint.clone();
        let existing = self.state.incidents.get(&fp).filter(|r| r.open).cloned();
        match (report, existing) {
            (Report::Resolved, None) => Decision::Ignore,
            (Report::Resolved, Some(rec)) => {
                let r = self.state.incidents.get_mut(&fp).expect("record exists");
                r.open = false;
                r.resolved_at = Some(now);
                r.updated_at = now;
                r.info = info.clone();
                match rec.queued_severity {
                    Some(sev) => {
                        r.queued_at = Some(now);
                        let n = self.notification(Event::Resolved, sev, info, now);
                        self.release(n, now)
                    }
                    None => Decision::Ignore,
                }
            }
            (Report::Opened | Report::Updated, None) => {
                let severity = info.severity;
                self.state.incidents.insert(
                    fp,
                    IncidentRecord {
                        info: info.clone(),
                        open: true,
                        updated_at: now,
                        queued_at: Some(now),
                        queued_count: info.count,
                        queued_severity: Some(severity),
                        resolved_at: None,
                        sent: Default::default(),
                    },
                );
                let n = self.notification(Event::Opened, severity, info, now);
                self.release(n, now)
            }
            (Report::Opened | Report::Updated, Some(rec)) => {
                let severity = info.severity.max(rec.queued_severity.unwrap_or(Severity::Low));
                let escalated = rec.queued_severity.is_none_or(|s| info.severity > s);
                let due = rec.queued_at.is_none_or(|t| now.duration_since(t) >= self.settings.repeat_interval)
                    && info.count > rec.queued_count;
                let r = self.state.incidents.get_mut(&fp).expect("record exists");
                r.info = info.clone();
                r.updated_at = now;
                if !(escalated || due) {
                    return Decision::Suppressed(severity);
                }
                r.queued_at = Some(now);
                r.queued_count = info.count;
                r.queued_severity = Some(severity);
                let n = self.notification(Event::Reminder, severity, info, now);
                self.release(n, now)
            }
        }
    }

    /// Time-driven work: resolves incidents quiet for `resolve_after_secs`, and once the rate-limit
    /// window has passed, the summary of what it held back.
    pub fn on_tick(&mut self, now: Timestamp) -> Vec<Decision> {
        let mut out = Vec::new();
        let stale: Vec<String> = self
            .state
            .incidents
            .iter()
            .filter(|(_, r)| r.open && now.duration_since(r.updated_at) >= self.settings.resolve_after)
            .map(|(k, _)| k.clone())
            .collect();
        for fp in stale {
            let info = self.state.incidents[&fp].info.clone();
            out.push(self.on_report(Report::Resolved, info, now));
        }
        let window_over = self.window_start.is_none_or(|s| now.duration_since(s) >= RATE_WINDOW);
        if self.held_total > 0 && window_over {
            let since = self.held_since.take().unwrap_or(now);
            let n = Notification {
                event: Event::Summary,
                severity: self.held_severity,
                body: Body::Summary { held: std::mem::take(&mut self.held), total: self.held_total, since },
                explore_url: None,
                sent_at: now,
            };
            self.held_total = 0;
            self.held_severity = Severity::Low;
            out.push(Decision::Send(n));
        }
        let keep = self.settings.repeat_interval.as_secs().max(self.settings.resolve_after.as_secs());
        self.state.prune(now, keep);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max: u32) -> PolicySettings {
        PolicySettings {
            repeat_interval: SignedDuration::from_secs(600),
            resolve_after: SignedDuration::from_secs(300),
            max_per_minute: max,
            grafana_url: String::new(),
            datasource_uid: "loki".into(),
            explore_query: "{}".into(),
        }
    }

    fn info(fp: &str, count: u64, sev: Severity) -> IncidentInfo {
        let t: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        IncidentInfo {
            id: format!("{fp}@1"),
            fingerprint: fp.into(),
            kind: "status_code".into(),
            severity: sev,
            endpoint: "GET /x".into(),
            client: None,
            score: 0.8,
            count,
            first_seen: t,
            last_seen: t,
            detectors: vec![],
            reason: "r".into(),
            examples: vec![],
        }
    }

    fn t0() -> Timestamp {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    fn secs(s: i64) -> SignedDuration {
        SignedDuration::from_secs(s)
    }

    fn event(d: &Decision) -> Option<Event> {
        match d {
            Decision::Send(n) | Decision::Held(n) => Some(n.event),
            _ => None,
        }
    }

    #[test]
    fn one_notification_then_repeat_only_after_the_interval_with_new_count() {
        let mut p = Policy::new(settings(0), AlertState::default());
        assert_eq!(event(&p.on_report(Report::Opened, info("a", 1, Severity::High), t0())), Some(Event::Opened));
        assert_eq!(
            p.on_report(Report::Opened, info("a", 2, Severity::High), t0() + secs(1)),
            Decision::Suppressed(Severity::High)
        );
        assert!(matches!(
            p.on_report(Report::Updated, info("a", 5, Severity::High), t0() + secs(599)),
            Decision::Suppressed(_)
        ));
        let d = p.on_report(Report::Updated, info("a", 9, Severity::High), t0() + secs(600));
        assert_eq!(event(&d), Some(Event::Reminder));
        let Decision::Send(n) = d else { panic!() };
        assert_eq!(n.incident().unwrap().count, 9);
        // No new lines: no reminder even past the interval.
        assert!(matches!(
            p.on_report(Report::Updated, info("a", 9, Severity::High), t0() + secs(1300)),
            Decision::Suppressed(_)
        ));
    }

    #[test]
    fn a_severity_rise_notifies_at_once() {
        let mut p = Policy::new(settings(0), AlertState::default());
        p.on_report(Report::Opened, info("a", 1, Severity::Medium), t0());
        let d = p.on_report(Report::Updated, info("a", 2, Severity::Critical), t0() + secs(5));
        assert!(matches!(d, Decision::Send(ref n) if n.event == Event::Reminder && n.severity == Severity::Critical));
    }

    #[test]
    fn resolved_is_sent_once_and_only_for_notified_incidents() {
        let mut p = Policy::new(settings(0), AlertState::default());
        assert_eq!(p.on_report(Report::Resolved, info("never", 1, Severity::High), t0()), Decision::Ignore);
        p.on_report(Report::Opened, info("a", 1, Severity::High), t0());
        assert_eq!(
            event(&p.on_report(Report::Resolved, info("a", 4, Severity::High), t0() + secs(10))),
            Some(Event::Resolved)
        );
        assert_eq!(p.on_report(Report::Resolved, info("a", 4, Severity::High), t0() + secs(11)), Decision::Ignore);
        assert_eq!(p.open_incidents(), 0);
    }

    #[test]
    fn quiet_incidents_resolve_on_tick() {
        let mut p = Policy::new(settings(0), AlertState::default());
        p.on_report(Report::Opened, info("a", 1, Severity::High), t0());
        assert!(p.on_tick(t0() + secs(299)).is_empty());
        let out = p.on_tick(t0() + secs(300));
        assert_eq!(out.iter().map(event).collect::<Vec<_>>(), vec![Some(Event::Resolved)]);
    }

    #[test]
    fn rate_limit_holds_then_summarises_after_the_window() {
        let mut p = Policy::new(settings(2), AlertState::default());
        let sent: Vec<bool> = (0..5)
            .map(|i| {
                matches!(
                    p.on_report(Report::Opened, info(&format!("f{i}"), 1, Severity::High), t0() + secs(i)),
                    Decision::Send(_)
                )
            })
            .collect();
        assert_eq!(sent, vec![true, true, false, false, false]);
        assert!(p.on_tick(t0() + secs(59)).is_empty(), "no summary before the window passes");
        let out = p.on_tick(t0() + secs(60));
        let [Decision::Send(n)] = out.as_slice() else { panic!("{out:?}") };
        assert_eq!(n.event, Event::Summary);
        let Body::Summary { held, total, .. } = &n.body else { panic!() };
        assert_eq!((*total, held.len()), (3, 3));
        assert!(p.on_tick(t0() + secs(61)).is_empty(), "summary sent once");
        // A held incident counts as notified: its update is deduplicated.
        assert!(matches!(
            p.on_report(Report::Updated, info("f4", 2, Severity::High), t0() + secs(62)),
            Decision::Suppressed(_)
        ));
    }
}
