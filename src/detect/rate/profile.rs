//! Daily profiles: what an endpoint's traffic usually is at each hour of the day.
//!
//! Every closed window adds its count to the hour it started in (UTC). When an hour ends with at
//! least three quarters of its windows seen, the hour's mean count per window is kept for that
//! hour of the day, for the last [`KEEP_DAYS`] days. Once an hour of the day has [`MIN_DAYS`]
//! such days, the expected count of a window is the median of those days; a window near the edge
//! of an hour may also be at the neighbouring hour's level (see [`Expected`]).
//!
//! All windows are kept, flagged or not: the median over several days ignores one bad day, and a
//! change that repeats every day (a morning surge, a nightly batch) becomes expected after
//! [`MIN_DAYS`] days instead of being reported forever.

use serde::{Deserialize, Serialize};

/// Days an hour of the day needs before its profile is used.
pub const MIN_DAYS: usize = 3;
/// Days kept per hour of the day.
pub const KEEP_DAYS: usize = 7;
const HOUR: i64 = 3600;

/// One endpoint's profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DailyProfile {
    /// Per hour of the day (index 0 = 00:00–01:00 UTC): the mean count per window of each of the
    /// last days, oldest first. Empty until the first hour completes.
    hours: Vec<Vec<f32>>,
    /// The hour being counted: hours since the epoch, the windows' summed count and their number.
    #[serde(skip)]
    open: Option<(i64, f64, u32)>,
}

/// What the profile expects of a window: the medians of its own hour and of the nearer
/// neighbouring hour (when that has enough days too). A drop is judged against the lower, a surge
/// against the higher, so the change from one hour's level to the next, however sharp, is not
/// reported around the hour's edge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expected {
    pub low: f64,
    pub high: f64,
    /// Days behind the window's own hour.
    pub days: usize,
}

impl DailyProfile {
    /// Adds a closed window (`start`: seconds since the epoch) of `window_secs` with `count`.
    pub fn add(&mut self, start: i64, window_secs: i64, count: u64) {
        let hour = start.div_euclid(HOUR);
        match &mut self.open {
            Some((h, sum, n)) if *h == hour => {
                *sum += count as f64;
                *n += 1;
            }
            _ => {
                self.finish_hour(window_secs);
                self.open = Some((hour, count as f64, 1));
            }
        }
    }

    /// Keeps the open hour for its hour of the day if enough of its windows were seen.
    fn finish_hour(&mut self, window_secs: i64) {
        let Some((hour, sum, n)) = self.open.take() else { return };
        let per_hour = (HOUR / window_secs).max(1);
        if i64::from(n) * 4 < per_hour * 3 {
            return;
        }
        if self.hours.len() != 24 {
            self.hours = vec![Vec::new(); 24];
        }
        let days = &mut self.hours[hour.rem_euclid(24) as usize];
        if days.len() == KEEP_DAYS {
            days.remove(0);
        }
        days.push((sum / f64::from(n)) as f32);
    }

    /// The median of an hour of the day, if it has [`MIN_DAYS`] days.
    fn median(&self, hour_of_day: usize) -> Option<(f64, usize)> {
        let days = self.hours.get(hour_of_day).filter(|d| d.len() >= MIN_DAYS)?;
        let mut sorted = days.clone();
        sorted.sort_by(f32::total_cmp);
        let mid = sorted.len() / 2;
        let m = if sorted.len() % 2 == 1 { sorted[mid] } else { (sorted[mid - 1] + sorted[mid]) / 2.0 };
        Some((f64::from(m), days.len()))
    }

    /// The expected count of the window starting at `start`, if its hour has enough history.
    pub fn expected(&self, start: i64, window_secs: i64) -> Option<Expected> {
        let middle = (start + window_secs / 2).rem_euclid(86_400);
        let own = (middle / HOUR) as usize;
        let neighbour = if middle % HOUR < HOUR / 2 { (own + 23) % 24 } else { (own + 1) % 24 };
        let (value, days) = self.median(own)?;
        let other = self.median(neighbour).map_or(value, |(v, _)| v);
        Some(Expected { low: value.min(other), high: value.max(other), days })
    }

    /// Hours of the day that have enough history to be used.
    pub fn ready_hours(&self) -> usize {
        self.hours.iter().filter(|d| d.len() >= MIN_DAYS).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `days` days of 60 s windows whose count is `f(hour of day)`.
    fn fed(days: i64, f: impl Fn(i64) -> u64) -> DailyProfile {
        let mut p = DailyProfile::default();
        for w in 0..days * 1440 {
            p.add(w * 60, 60, f((w / 60) % 24));
        }
        p
    }

    #[test]
    fn an_hour_is_expected_only_after_enough_days() {
        let office = |h: i64| if (9..17).contains(&h) { 400 } else { 100 };
        assert_eq!(fed(2, office).expected(2 * 86_400 + 10 * HOUR, 60), None);
        let p = fed(3, office);
        let expect = |at: i64| p.expected(3 * 86_400 + at, 60).map(|e| (e.low, e.high, e.days));
        assert_eq!(expect(10 * HOUR + 600), Some((400.0, 400.0, 3)));
        assert_eq!(expect(3 * HOUR), Some((100.0, 100.0, 3)));
        // Either side of 09:00, a window may be at the 08 level or at the 09 level.
        assert_eq!(expect(8 * HOUR + 45 * 60), Some((100.0, 400.0, 3)));
        assert_eq!(expect(9 * HOUR + 5 * 60), Some((100.0, 400.0, 3)));
        assert_eq!(expect(9 * HOUR + 40 * 60), Some((400.0, 400.0, 3)));
        assert_eq!(p.ready_hours(), 23); // the last hour is still open
    }

    #[test]
    fn one_bad_day_does_not_move_the_median() {
        let mut p = fed(4, |_| 100);
        for w in 0..60 {
            p.add(4 * 86_400 + 14 * HOUR + w * 60, 60, 0); // an hour-long outage on day 5
        }
        p.add(4 * 86_400 + 15 * HOUR, 60, 100); // closes the outage hour
        let e = p.expected(5 * 86_400 + 14 * HOUR + 1800, 60).unwrap();
        assert_eq!((e.low, e.high, e.days), (100.0, 100.0, 5));
    }

    #[test]
    fn hours_mostly_missing_are_not_kept_and_old_days_age_out() {
        let mut p = DailyProfile::default();
        for day in 0..10 {
            for w in 0..30 {
                p.add(day * 86_400 + w * 60, 60, 50); // only half of 00:00-01:00 seen
            }
            p.add(day * 86_400 + HOUR, 60, 50);
        }
        assert_eq!(p.expected(10 * 86_400 + 1800, 60), None);
        let p = fed(10, |_| 10);
        assert!(p.hours.iter().all(|d| d.len() == KEEP_DAYS));
    }
}
