//! Suppression: events held back from scoring, reporting and learning. Ignore rules
//! (`suppress.endpoints`, `suppress.clients`) hold an event back always; a maintenance window
//! (`[[suppress.maintenance]]`) holds back the events whose own timestamp falls inside it, so an old
//! file scanned later honours the windows too.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};
use regex::Regex;
use serde::Serialize;

use crate::config::SuppressConfig;
use crate::parse::LogEvent;

/// `24:00` as minutes since midnight.
pub const MINUTES_PER_DAY: u16 = 24 * 60;

/// Why an event was held back (the `reason` label of `anomaly_detector_suppressed_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// `suppress.endpoints` matched: not scored, learned or counted in rate windows.
    Endpoint,
    /// `suppress.clients` matched: likewise.
    Client,
    /// A maintenance window covers the event: not scored or learned, still counted in rate windows
    /// (whose anomalies inside the window are held back in turn).
    Maintenance,
}

impl Hold {
    pub const ALL: [Hold; 3] = [Hold::Endpoint, Hold::Client, Hold::Maintenance];

    pub fn label(self) -> &'static str {
        match self {
            Hold::Endpoint => "endpoint",
            Hold::Client => "client",
            Hold::Maintenance => "maintenance",
        }
    }
}

/// When a maintenance window is open.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// From `start` (inclusive) to `end` (exclusive).
    Once { start: Timestamp, end: Timestamp },
    /// Every listed day (Monday first) from `from` to `to`, minutes since local midnight in `tz`; a
    /// `to` not after `from` ends on the next day.
    Recurring { days: [bool; 7], from: u16, to: u16, tz: TimeZone },
}

/// One maintenance window, parsed from `[[suppress.maintenance]]`.
#[derive(Debug, Clone)]
pub struct MaintenanceWindow {
    pub name: String,
    pub schedule: Schedule,
    /// Empty: every endpoint.
    endpoints: Vec<Regex>,
}

/// A window as `/api/v1/status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct WindowStatus {
    pub name: String,
    pub schedule: String,
    pub endpoints: Vec<String>,
    /// Open now (wall clock; events are judged by their own time).
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_until: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_start: Option<Timestamp>,
}

fn matches_endpoint(r: &Regex, endpoint: &str, path: Option<&str>) -> bool {
    r.is_match(endpoint) || path.is_some_and(|p| r.is_match(p))
}

impl MaintenanceWindow {
    pub fn new(name: String, schedule: Schedule, endpoints: Vec<Regex>) -> MaintenanceWindow {
        MaintenanceWindow { name, schedule, endpoints }
    }

    /// Whether the window is limited to some endpoints and `endpoint` is not one of them.
    pub fn applies_to(&self, endpoint: &str, path: Option<&str>) -> bool {
        self.endpoints.is_empty() || self.endpoints.iter().any(|r| matches_endpoint(r, endpoint, path))
    }

    /// An event at `t` on `endpoint` is inside the window.
    pub fn covers(&self, t: Timestamp, endpoint: &str, path: Option<&str>) -> bool {
        self.applies_to(endpoint, path) && self.occurrence_at(t).is_some()
    }

    /// The occurrence open at `t`, as `(start, end)`.
    pub fn occurrence_at(&self, t: Timestamp) -> Option<(Timestamp, Timestamp)> {
        match &self.schedule {
            Schedule::Once { start, end } => (*start <= t && t < *end).then_some((*start, *end)),
            Schedule::Recurring { tz, .. } => {
                // An occurrence lasts at most a day, so it started today or yesterday (local time).
                let today = tz.to_datetime(t).date();
                [today.yesterday().ok(), Some(today)]
                    .into_iter()
                    .flatten()
                    .filter_map(|d| self.occurrence_on(d))
                    .find(|(s, e)| *s <= t && t < *e)
            }
        }
    }

    /// The first start after `t`, if there is one.
    pub fn next_start_after(&self, t: Timestamp) -> Option<Timestamp> {
        match &self.schedule {
            Schedule::Once { start, .. } => (*start > t).then_some(*start),
            Schedule::Recurring { tz, .. } => {
                let today = tz.to_datetime(t).date();
                (-1..=8)
                    .filter_map(|k| today.checked_add(Span::new().days(k)).ok())
                    .filter_map(|d| self.occurrence_on(d))
                    .map(|(s, _)| s)
                    .find(|s| *s > t)
            }
        }
    }

    /// Whether any part of `[start, end)` is inside the window.
    pub fn overlaps(&self, start: Timestamp, end: Timestamp) -> bool {
        self.occurrence_at(start).is_some() || self.next_start_after(start).is_some_and(|s| s < end)
    }

    /// The recurring occurrence that starts on local `date`, if the window runs that day.
    fn occurrence_on(&self, date: Date) -> Option<(Timestamp, Timestamp)> {
        let Schedule::Recurring { days, from, to, tz } = &self.schedule else { return None };
        if !days[date.weekday().to_monday_zero_offset() as usize] {
            return None;
        }
        let local = |date: Date, minutes: u16| -> Option<Timestamp> {
            let (date, minutes) = if minutes >= MINUTES_PER_DAY { (date.tomorrow().ok()?, 0) } else { (date, minutes) };
            let (h, m) = ((minutes / 60) as i8, (minutes % 60) as i8);
            // In a DST gap the later reading is taken (02:30 that does not exist is 03:30).
            tz.to_timestamp(date.at(h, m, 0, 0)).ok()
        };
        let end_date = if to > from { date } else { date.tomorrow().ok()? };
        Some((local(date, *from)?, local(end_date, *to)?))
    }

    pub fn status(&self, now: Timestamp) -> WindowStatus {
        let hhmm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        let schedule = match &self.schedule {
            Schedule::Once { start, end } => format!("{start} to {end}"),
            Schedule::Recurring { days, from, to, tz } => {
                const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
                let when = if days.iter().all(|d| *d) {
                    "daily".to_string()
                } else {
                    NAMES.iter().zip(days).filter(|(_, on)| **on).map(|(n, _)| *n).collect::<Vec<_>>().join(",")
                };
                format!("{when} {}-{} {}", hhmm(*from), hhmm(*to), tz.iana_name().unwrap_or("UTC"))
            }
        };
        let open = self.occurrence_at(now);
        WindowStatus {
            name: self.name.clone(),
            schedule,
            endpoints: self.endpoints.iter().map(|r| r.as_str().to_string()).collect(),
            active: open.is_some(),
            active_until: open.map(|(_, e)| e),
            next_start: self.next_start_after(now),
        }
    }
}

/// Ignore rules and maintenance windows, compiled.
#[derive(Debug, Clone)]
pub struct Suppressor {
    endpoints: Vec<Regex>,
    clients: Vec<String>,
    windows: Vec<MaintenanceWindow>,
}

impl Suppressor {
    /// From a validated `[suppress]`.
    pub fn new(cfg: &SuppressConfig) -> Suppressor {
        Suppressor {
            endpoints: cfg.endpoint_patterns().expect("suppress.endpoints is validated at start-up"),
            clients: cfg.clients.clone(),
            windows: cfg.windows().expect("suppress.maintenance is validated at start-up"),
        }
    }

    /// Why `e` is held back, if it is.
    pub fn hold(&self, e: &LogEvent) -> Option<Hold> {
        let path = e.path.as_deref();
        if self.endpoints.iter().any(|r| matches_endpoint(r, &e.endpoint, path)) {
            return Some(Hold::Endpoint);
        }
        if e.client.as_deref().is_some_and(|c| self.clients.iter().any(|p| c.starts_with(p.as_str()))) {
            return Some(Hold::Client);
        }
        if self.windows.iter().any(|w| w.covers(e.time, &e.endpoint, path)) {
            return Some(Hold::Maintenance);
        }
        None
    }

    /// Whether a window-level anomaly on `endpoint` over `[start, end)` overlaps a maintenance window.
    pub fn in_maintenance(&self, endpoint: &str, start: Timestamp, end: Timestamp) -> bool {
        let path = endpoint.split_once(' ').map(|(_, p)| p);
        self.windows.iter().any(|w| w.applies_to(endpoint, path) && w.overlaps(start, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MaintenanceConfig;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn window(m: MaintenanceConfig) -> MaintenanceWindow {
        m.window("suppress.maintenance[0]").unwrap()
    }

    fn recurring(days: &[&str], from: &str, to: &str, tz: &str) -> MaintenanceWindow {
        window(MaintenanceConfig {
            days: days.iter().map(|d| d.to_string()).collect(),
            from: Some(from.into()),
            to: Some(to.into()),
            timezone: Some(tz.into()),
            ..Default::default()
        })
    }

    #[test]
    fn a_one_off_window_includes_its_start_and_excludes_its_end() {
        let w = window(MaintenanceConfig {
            start: Some("2026-03-01T22:00:00Z".into()),
            end: Some("2026-03-02T00:30:00+01:00".into()), // 23:30Z
            ..Default::default()
        });
        assert!(!w.covers(ts("2026-03-01T21:59:59.999Z"), "GET /a", None));
        assert!(w.covers(ts("2026-03-01T22:00:00Z"), "GET /a", None));
        assert!(w.covers(ts("2026-03-01T23:29:59Z"), "GET /a", None));
        assert!(!w.covers(ts("2026-03-01T23:30:00Z"), "GET /a", None));
        assert_eq!(w.next_start_after(ts("2026-03-01T00:00:00Z")), Some(ts("2026-03-01T22:00:00Z")));
        assert_eq!(w.next_start_after(ts("2026-03-01T22:00:00Z")), None);
    }

    #[test]
    fn a_weekly_window_runs_past_midnight_on_its_days_only() {
        // Saturdays 22:00 to Sunday 02:00 UTC. 2026-03-07 is a Saturday.
        let w = recurring(&["sat"], "22:00", "02:00", "UTC");
        assert!(!w.covers(ts("2026-03-07T21:59:00Z"), "GET /a", None));
        assert!(w.covers(ts("2026-03-07T22:00:00Z"), "GET /a", None));
        assert!(w.covers(ts("2026-03-08T01:59:59Z"), "GET /a", None), "after midnight, Sunday");
        assert!(!w.covers(ts("2026-03-08T02:00:00Z"), "GET /a", None));
        assert!(!w.covers(ts("2026-03-08T22:30:00Z"), "GET /a", None), "Sunday evening is not a window");
        assert!(!w.covers(ts("2026-03-07T01:00:00Z"), "GET /a", None), "Saturday early is Friday's window");
        assert_eq!(w.occurrence_at(ts("2026-03-08T01:00:00Z")).map(|o| o.1), Some(ts("2026-03-08T02:00:00Z")));
        assert_eq!(w.next_start_after(ts("2026-03-08T01:00:00Z")), Some(ts("2026-03-14T22:00:00Z")));
    }

    #[test]
    fn a_daily_window_follows_its_time_zone_through_dst() {
        // 02:00-04:00 in Berlin: 01:00-03:00Z in winter, 00:00-02:00Z in summer.
        let w = recurring(&[], "02:00", "04:00", "Europe/Berlin");
        assert!(w.covers(ts("2026-01-15T01:30:00Z"), "GET /a", None));
        assert!(!w.covers(ts("2026-01-15T00:30:00Z"), "GET /a", None));
        assert!(w.covers(ts("2026-07-15T00:30:00Z"), "GET /a", None));
        assert!(!w.covers(ts("2026-07-15T02:30:00Z"), "GET /a", None));
        // 2026-03-29: clocks jump from 02:00 to 03:00; 02:00 does not exist and reads as 03:00 CEST.
        assert_eq!(
            w.occurrence_at(ts("2026-03-29T01:30:00Z")),
            Some((ts("2026-03-29T01:00:00Z"), ts("2026-03-29T02:00:00Z")))
        );
        assert!(!w.covers(ts("2026-03-29T00:30:00Z"), "GET /a", None));
    }

    #[test]
    fn a_whole_day_window_ends_at_midnight() {
        let w = recurring(&["sun"], "00:00", "24:00", "UTC");
        assert!(w.covers(ts("2026-03-08T00:00:00Z"), "GET /a", None));
        assert!(w.covers(ts("2026-03-08T23:59:59Z"), "GET /a", None));
        assert!(!w.covers(ts("2026-03-09T00:00:00Z"), "GET /a", None));
    }

    #[test]
    fn an_endpoint_limited_window_holds_back_only_its_endpoints() {
        let w = window(MaintenanceConfig {
            days: vec!["sun".into()],
            from: Some("02:00".into()),
            to: Some("04:00".into()),
            endpoints: vec!["^GET /api/products".into(), "^/admin/".into()],
            ..Default::default()
        });
        let t = ts("2026-03-08T03:00:00Z");
        assert!(w.covers(t, "GET /api/products", Some("/api/products")));
        assert!(w.covers(t, "POST /admin/{id}", Some("/admin/7")), "matched on the path");
        assert!(!w.covers(t, "GET /api/users", Some("/api/users")));
    }

    #[test]
    fn a_rate_window_overlapping_maintenance_is_in_maintenance() {
        let cfg = SuppressConfig {
            maintenance: vec![MaintenanceConfig {
                start: Some("2026-03-01T22:00:30Z".into()),
                end: Some("2026-03-01T22:00:45Z".into()),
                endpoints: vec!["^/api/products$".into()],
                ..Default::default()
            }],
            ..Default::default()
        };
        let s = Suppressor::new(&cfg);
        let (a, b) = (ts("2026-03-01T22:00:00Z"), ts("2026-03-01T22:01:00Z"));
        assert!(s.in_maintenance("GET /api/products", a, b), "a short window inside the rate window");
        assert!(!s.in_maintenance("GET /api/users", a, b));
        assert!(!s.in_maintenance("GET /api/products", b, ts("2026-03-01T22:02:00Z")));
    }

    #[test]
    fn status_shows_whether_a_window_is_open() {
        let w = recurring(&["sat", "sun"], "22:00", "02:00", "UTC");
        let open = w.status(ts("2026-03-08T01:00:00Z"));
        assert!(open.active);
        assert_eq!(open.schedule, "sat,sun 22:00-02:00 UTC");
        assert_eq!(open.active_until, Some(ts("2026-03-08T02:00:00Z")));
        let shut = w.status(ts("2026-03-09T12:00:00Z"));
        assert!(!shut.active && shut.active_until.is_none());
        assert_eq!(shut.next_start, Some(ts("2026-03-14T22:00:00Z")));
    }
}
