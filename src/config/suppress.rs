//! `[suppress]`: ignore rules and maintenance windows, and their parsing into the types
//! [`Suppressor`](crate::detect::suppress::Suppressor) uses.

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use regex::Regex;
use serde::{Deserialize, Serialize};

use super::{invalid, no_empty_entries, ConfigError};
use crate::detect::suppress::{MaintenanceWindow, Schedule, MINUTES_PER_DAY};

/// `[suppress]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SuppressConfig {
    /// Endpoints never scored or reported, as regular expressions matched against the endpoint
    /// (`GET /healthz`) or the path.
    pub endpoints: Vec<String>,
    /// Clients (IP prefixes such as `10.0.` or exact addresses) never reported.
    pub clients: Vec<String>,
    /// Maintenance windows, as `[[suppress.maintenance]]` tables: events inside one are counted in
    /// the metrics but neither reported nor learned.
    pub maintenance: Vec<MaintenanceConfig>,
}

/// `[[suppress.maintenance]]`: one window, either one-off (`start`, `end`) or recurring (`from`,
/// `to`, optional `days` and `timezone`). Judged by each event's own timestamp.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaintenanceConfig {
    /// Name shown in `/api/v1/status` (default `maintenance[N]`).
    pub name: String,
    /// One-off: first instant, RFC 3339 with an offset (`2026-03-01T22:00:00Z`).
    pub start: Option<String>,
    /// One-off: the instant the window ends (exclusive), after `start`.
    pub end: Option<String>,
    /// Recurring: days the window starts on (`mon` … `sun`, or full names); empty = every day.
    pub days: Vec<String>,
    /// Recurring: local start time, `HH:MM`.
    pub from: Option<String>,
    /// Recurring: local end time, `HH:MM` (exclusive; `24:00` = midnight). Earlier than `from` means
    /// the window runs past midnight into the next day.
    pub to: Option<String>,
    /// Recurring: time zone of `from` and `to`: `UTC` (default) or an IANA name (`Europe/Berlin`).
    pub timezone: Option<String>,
    /// Regular expressions limiting the window to some endpoints (matched like
    /// `suppress.endpoints`); empty = every endpoint.
    pub endpoints: Vec<String>,
}

impl SuppressConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        // An empty entry would match every event and silently switch all detection off.
        no_empty_entries("suppress.endpoints", &self.endpoints)?;
        no_empty_entries("suppress.clients", &self.clients)?;
        self.endpoint_patterns()?;
        self.windows()?;
        Ok(())
    }

    /// `endpoints`, compiled.
    pub fn endpoint_patterns(&self) -> Result<Vec<Regex>, ConfigError> {
        compile_all(&self.endpoints, "suppress.endpoints")
    }

    /// `maintenance`, parsed.
    pub fn windows(&self) -> Result<Vec<MaintenanceWindow>, ConfigError> {
        self.maintenance.iter().enumerate().map(|(i, m)| m.window(&format!("suppress.maintenance[{i}]"))).collect()
    }
}

impl MaintenanceConfig {
    /// The window as the runtime uses it; errors name the key under `key`.
    pub fn window(&self, key: &str) -> Result<MaintenanceWindow, ConfigError> {
        let sub = |field: &str| format!("{key}.{field}");
        let one_off = self.start.is_some() || self.end.is_some();
        let recurring = self.from.is_some() || self.to.is_some() || !self.days.is_empty() || self.timezone.is_some();
        let schedule = match (one_off, recurring) {
            (false, false) => {
                return Err(invalid(key, "needs start and end (one-off) or from and to (recurring)"));
            }
            (true, true) => {
                let field = if self.from.is_some() {
                    "from"
                } else if self.to.is_some() {
                    "to"
                } else if !self.days.is_empty() {
                    "days"
                } else {
                    "timezone"
                };
                return Err(invalid(&sub(field), "a one-off window (start, end) takes no from, to, days or timezone"));
            }
            (true, false) => {
                let start = timestamp(self.start.as_deref(), &sub("start"))?;
                let end = timestamp(self.end.as_deref(), &sub("end"))?;
                if end <= start {
                    return Err(invalid(&sub("end"), format!("must be after start ({start})")));
                }
                Schedule::Once { start, end }
            }
            (false, true) => {
                let from = minute_of_day(self.from.as_deref(), &sub("from"), false)?;
                let to = minute_of_day(self.to.as_deref(), &sub("to"), true)?;
                if from == to {
                    return Err(invalid(
                        &sub("to"),
                        "must differ from `from` (for a whole day: from = \"00:00\", to = \"24:00\")",
                    ));
                }
                let mut days = [self.days.is_empty(); 7];
                for (j, d) in self.days.iter().enumerate() {
                    let day = weekday(d).ok_or_else(|| {
                        invalid(
                            &format!("{}[{j}]", sub("days")),
                            format!("unknown day {d:?}; expected mon, tue, wed, thu, fri, sat or sun"),
                        )
                    })?;
                    days[day.to_monday_zero_offset() as usize] = true;
                }
                let tz = match self.timezone.as_deref() {
                    None | Some("UTC") => TimeZone::UTC,
                    Some(name) => TimeZone::get(name).map_err(|e| {
                        invalid(
                            &sub("timezone"),
                            format!("unknown time zone {name:?} (use UTC or an IANA name such as Europe/Berlin): {e}"),
                        )
                    })?,
                };
                Schedule::Recurring { days, from, to, tz }
            }
        };
        no_empty_entries(&sub("days"), &self.days)?;
        no_empty_entries(&sub("endpoints"), &self.endpoints)?;
        let endpoints = compile_all(&self.endpoints, &sub("endpoints"))?;
        let name =
            if self.name.is_empty() { key.trim_start_matches("suppress.").to_string() } else { self.name.clone() };
        Ok(MaintenanceWindow::new(name, schedule, endpoints))
    }
}

fn compile_all(patterns: &[String], key: &str) -> Result<Vec<Regex>, ConfigError> {
    patterns
        .iter()
        .enumerate()
        .map(|(i, p)| {
            Regex::new(p).map_err(|e| invalid(&format!("{key}[{i}]"), format!("invalid regular expression: {e}")))
        })
        .collect()
}

fn timestamp(value: Option<&str>, key: &str) -> Result<Timestamp, ConfigError> {
    let Some(v) = value else {
        return Err(invalid(key, "missing: a one-off window needs both start and end"));
    };
    v.trim().parse::<Timestamp>().map_err(|e| {
        invalid(key, format!("{v:?} is not an RFC 3339 timestamp with an offset, such as 2026-03-01T22:00:00Z: {e}"))
    })
}

/// `HH:MM` as minutes since midnight; `24:00` only where `end_of_day` is allowed.
fn minute_of_day(value: Option<&str>, key: &str, end_of_day: bool) -> Result<u16, ConfigError> {
    let Some(v) = value else {
        return Err(invalid(key, "missing: a recurring window needs both from and to"));
    };
    let parsed = v.split_once(':').and_then(|(h, m)| {
        let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
        if !(two_digits(h) && two_digits(m)) {
            return None;
        }
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 60 + m).or((end_of_day && h == 24 && m == 0).then_some(MINUTES_PER_DAY))
    });
    parsed.ok_or_else(|| {
        let range = if end_of_day { "00:00 to 24:00" } else { "00:00 to 23:59" };
        invalid(key, format!("{v:?} is not a time of day HH:MM ({range})"))
    })
}

fn weekday(name: &str) -> Option<Weekday> {
    let n = name.trim().to_ascii_lowercase();
    let days = [
        ("mon", "monday", Weekday::Monday),
        ("tue", "tuesday", Weekday::Tuesday),
        ("wed", "wednesday", Weekday::Wednesday),
        ("thu", "thursday", Weekday::Thursday),
        ("fri", "friday", Weekday::Friday),
        ("sat", "saturday", Weekday::Saturday),
        ("sun", "sunday", Weekday::Sunday),
    ];
    days.into_iter().find(|(short, long, _)| n == *short || n == *long).map(|(_, _, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn once(start: &str, end: &str) -> MaintenanceConfig {
        MaintenanceConfig { start: Some(start.into()), end: Some(end.into()), ..Default::default() }
    }

    fn weekly(days: &[&str], from: &str, to: &str) -> MaintenanceConfig {
        MaintenanceConfig {
            days: days.iter().map(|d| d.to_string()).collect(),
            from: Some(from.into()),
            to: Some(to.into()),
            ..Default::default()
        }
    }

    /// The key named by the error for `m`, placed second after a valid window.
    fn bad_key(m: MaintenanceConfig) -> String {
        let first = once("2026-03-01T22:00:00Z", "2026-03-01T23:00:00Z");
        let cfg = SuppressConfig { maintenance: vec![first, m], ..Default::default() };
        match cfg.validate() {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid key, got {other:?}"),
        }
    }

    #[test]
    fn good_windows_parse() {
        let cfg = SuppressConfig {
            maintenance: vec![
                once("2026-03-01T22:00:00Z", "2026-03-01T23:30:00+01:00"),
                weekly(&["sun", "Saturday"], "22:00", "02:00"),
                MaintenanceConfig { timezone: Some("Europe/Berlin".into()), ..weekly(&[], "00:00", "24:00") },
            ],
            ..Default::default()
        };
        let windows = cfg.windows().unwrap();
        assert_eq!(windows.len(), 3);
        assert_eq!(windows[1].name, "maintenance[1]");
    }

    #[test]
    fn each_mistake_names_its_key() {
        let at = |field: &str| format!("suppress.maintenance[1].{field}");
        assert_eq!(bad_key(MaintenanceConfig::default()), "suppress.maintenance[1]");
        assert_eq!(bad_key(once("2026-03-01 22:00", "2026-03-01T23:00:00Z")), at("start"));
        assert_eq!(bad_key(once("2026-03-01T22:00:00", "2026-03-01T23:00:00Z")), at("start"), "no offset");
        assert_eq!(bad_key(once("2026-03-01T22:00:00Z", "2026-03-01T22:00:00Z")), at("end"));
        assert_eq!(bad_key(once("2026-03-01T22:00:00Z", "2026-03-01T21:00:00Z")), at("end"));
        assert_eq!(bad_key(MaintenanceConfig { end: None, ..once("2026-03-01T22:00:00Z", "") }), at("end"));
        assert_eq!(bad_key(weekly(&["sun", "funday"], "02:00", "04:00")), at("days[1]"));
        assert_eq!(bad_key(weekly(&[], "2:00", "04:00")), at("from"));
        assert_eq!(bad_key(weekly(&[], "24:00", "04:00")), at("from"));
        assert_eq!(bad_key(weekly(&[], "02:00", "04:60")), at("to"));
        assert_eq!(bad_key(weekly(&[], "02:00", "02:00")), at("to"));
        assert_eq!(bad_key(MaintenanceConfig { to: None, ..weekly(&[], "02:00", "") }), at("to"));
        let mars = MaintenanceConfig { timezone: Some("Mars/Olympus".into()), ..weekly(&[], "02:00", "04:00") };
        assert_eq!(bad_key(mars), at("timezone"));
        let mixed =
            MaintenanceConfig { from: Some("01:00".into()), ..once("2026-03-01T22:00:00Z", "2026-03-01T23:00:00Z") };
        assert_eq!(bad_key(mixed), at("from"));
        let regex = MaintenanceConfig { endpoints: vec!["ok".into(), "(".into()], ..weekly(&[], "02:00", "04:00") };
        assert_eq!(bad_key(regex), at("endpoints[1]"));
    }

    #[test]
    fn ignore_rule_regexes_are_checked_too() {
        let cfg = SuppressConfig { endpoints: vec!["[".into()], ..Default::default() };
        assert!(matches!(cfg.validate(), Err(ConfigError::Invalid { key, .. }) if key == "suppress.endpoints[0]"));
    }
}
