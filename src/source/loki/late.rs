//! Late lines: Loki accepts a line whose timestamp a forward reader has already passed (up to 1 h
//! behind its stream's newest entry, and at any age once the stream went idle), and sorts it into
//! place. The cursor never looks back, so such a line would vanish without trace.
//!
//! The tracker remembers, per minute of the last `lookback_secs`, how many lines were delivered and
//! their hashes. After each poll that reached the present, Loki's own per-minute counts
//! (`sum(count_over_time(...[1m]))`, one query) are compared with that; a minute that grew is read
//! again and only the lines not delivered before are sent on. For minutes older than the lookback
//! (up to twice as old) only counts are kept: lines that turn up there are counted as skipped,
//! `lines_skipped_total{reason="late"}`, not read.
//!
//! Memory: 8 bytes per line delivered in the lookback window, capped at [`MAX_HASHES`]; past the cap
//! the oldest minutes keep counts only (growth there is counted, not read). The tracker lives in
//! memory: after a restart the minutes before the restart are known by count only.

use std::collections::{BTreeMap, HashMap};

use super::page::PageEntry;
use super::NS;

/// One minute, the unit Loki's counts are compared in.
pub(super) const MINUTE_NS: i64 = 60 * NS;
/// Most line hashes held (16 MB).
pub const MAX_HASHES: usize = 2_000_000;

/// What is known of one minute.
#[derive(Debug, Default)]
struct Minute {
    /// Lines of this minute accounted for: delivered, or counted as skipped.
    known: u64,
    /// Hashes of the lines delivered in it; `None` when only the count is known.
    hashes: Option<Vec<u64>>,
}

/// What a comparison with Loki's counts found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Verdict {
    /// Minutes (start, Loki's count) that grew and can be read again.
    pub reread: Vec<(i64, u64)>,
    /// Lines that turned up where only counts are kept: counted as skipped.
    pub skipped: u64,
}

/// See the module documentation.
#[derive(Debug)]
pub(super) struct LateTracker {
    lookback_ns: i64,
    /// Minutes starting at or after this were delivered entirely in this process.
    tracked_from: i64,
    minutes: BTreeMap<i64, Minute>,
    hashes_held: usize,
}

/// Start of the minute holding `ts`.
pub(super) fn minute_of(ts: i64) -> i64 {
    ts.div_euclid(MINUTE_NS) * MINUTE_NS
}

impl LateTracker {
    /// A tracker for a reader that starts at `cursor_ts`.
    pub fn new(lookback_secs: u64, cursor_ts: i64) -> Self {
        let tracked_from = minute_of(cursor_ts) + if cursor_ts % MINUTE_NS == 0 { 0 } else { MINUTE_NS };
        LateTracker {
            lookback_ns: (lookback_secs as i64).saturating_mul(NS),
            tracked_from,
            minutes: BTreeMap::new(),
            hashes_held: 0,
        }
    }

    /// Note lines delivered by the forward reader (in time order).
    pub fn record(&mut self, entries: &[PageEntry]) {
        let mut at: Option<(i64, &mut Minute)> = None;
        for e in entries {
            let m = minute_of(e.ts);
            if m < self.tracked_from {
                continue;
            }
            if at.as_ref().is_none_or(|(k, _)| *k != m) {
                at = Some((m, self.minutes.entry(m).or_insert_with(|| Minute { known: 0, hashes: Some(Vec::new()) })));
            }
            let (_, minute) = at.as_mut().expect("set above");
            minute.known += 1;
            if let Some(h) = minute.hashes.as_mut() {
                h.push(e.hash);
                self.hashes_held += 1;
            }
        }
        self.enforce_cap();
    }

    /// The count query to run when the reader stands at `cursor_ts`: (end, buckets of a minute),
    /// covering twice the lookback; `None` while no minute read by this process has closed.
    pub fn check_range(&self, cursor_ts: i64) -> Option<(i64, u64)> {
        let end = minute_of(cursor_ts);
        let buckets = (2 * self.lookback_ns).div_euclid(MINUTE_NS).max(1) as u64;
        (self.lookback_ns > 0 && end > self.tracked_from).then_some((end, buckets))
    }

    /// Compare Loki's per-minute counts (`counts[k]` covers the `k`-th minute before `end`) with
    /// what was delivered.
    pub fn compare(&mut self, end: i64, counts: &[u64]) -> Verdict {
        let mut v = Verdict::default();
        let horizon = end - self.lookback_ns;
        for (k, &loki) in counts.iter().enumerate() {
            let m = end - (k as i64 + 1) * MINUTE_NS;
            let tracked = m >= self.tracked_from;
            let readable = tracked && m >= horizon;
            if !tracked && !self.minutes.contains_key(&m) {
                // Delivered before this process started: what Loki holds now is the baseline.
                self.minutes.insert(m, Minute { known: loki, hashes: None });
                continue;
            }
            let minute = self.minutes.entry(m).or_insert_with(|| Minute { known: 0, hashes: Some(Vec::new()) });
            if loki > minute.known {
                if readable && minute.hashes.is_some() {
                    v.reread.push((m, loki));
                } else {
                    v.skipped += loki - minute.known;
                    minute.known = loki;
                }
            }
        }
        // Past the lookback only counts are kept; past twice the lookback nothing is.
        let oldest = end - 2 * self.lookback_ns;
        self.minutes = self.minutes.split_off(&oldest);
        for (_, minute) in self.minutes.range_mut(..horizon) {
            minute.hashes = None;
        }
        self.hashes_held = self.minutes.values().filter_map(|m| m.hashes.as_ref()).map(Vec::len).sum();
        v.reread.sort_unstable();
        v
    }

    /// Of the entries of minute `m` read again, those not delivered before (each delivered copy
    /// of a line cancels one copy read). They are noted as delivered. Lines Loki counted that the
    /// re-read did not return (more in one nanosecond than a page holds) are returned as skipped.
    pub fn take_unseen(&mut self, m: i64, loki: u64, entries: Vec<PageEntry>) -> (Vec<PageEntry>, u64) {
        let Some(minute) = self.minutes.get_mut(&m) else { return (Vec::new(), 0) };
        let Some(hashes) = minute.hashes.as_mut() else { return (Vec::new(), 0) };
        let mut delivered: HashMap<u64, u32> = HashMap::with_capacity(hashes.len());
        for h in hashes.iter() {
            *delivered.entry(*h).or_insert(0) += 1;
        }
        let mut fresh = Vec::new();
        for e in entries {
            if minute_of(e.ts) != m {
                continue;
            }
            match delivered.get_mut(&e.hash) {
                Some(n) if *n > 0 => *n -= 1,
                _ => fresh.push(e),
            }
        }
        hashes.extend(fresh.iter().map(|e| e.hash));
        self.hashes_held += fresh.len();
        minute.known += fresh.len() as u64;
        let missing = loki.saturating_sub(minute.known);
        minute.known = minute.known.max(loki);
        self.enforce_cap();
        (fresh, missing)
    }

    /// Past [`MAX_HASHES`], the oldest minutes keep their counts only.
    fn enforce_cap(&mut self) {
        if self.hashes_held <= MAX_HASHES {
            return;
        }
        for minute in self.minutes.values_mut() {
            if self.hashes_held <= MAX_HASHES {
                break;
            }
            if let Some(h) = minute.hashes.take() {
                self.hashes_held -= h.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::source::loki::cursor::line_hash;

    fn entry(ts: i64, line: &str) -> PageEntry {
        let labels = Arc::new(BTreeMap::new());
        PageEntry { ts, hash: line_hash(&labels, line), labels, line: line.into() }
    }

    const T0: i64 = 1_796_151_600 * NS; // a whole minute

    #[test]
    fn a_minute_that_grew_is_read_again_and_yields_only_the_new_lines() {
        let mut t = LateTracker::new(600, T0);
        t.record(&[entry(T0 + NS, "a"), entry(T0 + 2 * NS, "b"), entry(T0 + 61 * NS, "c")]);
        // Two minutes closed; Loki now holds one more line in the first (counts newest first).
        let end = T0 + 2 * MINUTE_NS;
        let v = t.compare(end, &[1, 3]);
        assert_eq!(v, Verdict { reread: vec![(T0, 3)], skipped: 0 });
        let (fresh, missing) =
            t.take_unseen(T0, 3, vec![entry(T0 + NS, "a"), entry(T0 + 1_500_000_000, "late"), entry(T0 + 2 * NS, "b")]);
        assert_eq!(fresh.iter().map(|e| e.line.as_str()).collect::<Vec<_>>(), vec!["late"]);
        assert_eq!(missing, 0);
        // The next comparison with the same counts finds nothing.
        assert_eq!(t.compare(end, &[1, 3]), Verdict::default());
    }

    #[test]
    fn identical_lines_count_as_copies() {
        let mut t = LateTracker::new(600, T0);
        t.record(&[entry(T0 + NS, "same")]);
        let v = t.compare(T0 + MINUTE_NS, &[2]);
        assert_eq!(v.reread, vec![(T0, 2)]);
        let (fresh, _) = t.take_unseen(T0, 2, vec![entry(T0 + NS, "same"), entry(T0 + NS, "same")]);
        assert_eq!(fresh.len(), 1, "the second copy is new");
    }

    #[test]
    fn growth_past_the_lookback_or_before_the_start_is_counted_not_read() {
        let mut t = LateTracker::new(120, T0 + 30 * NS);
        // The minute the reader started in was partly delivered before: baseline on first sight.
        assert_eq!(t.compare(T0 + MINUTE_NS, &[5]), Verdict::default());
        assert_eq!(t.compare(T0 + MINUTE_NS, &[7]), Verdict { reread: vec![], skipped: 2 });
        // Minute 1 is tracked; 4 minutes later it is past the 2-minute lookback: counts only.
        t.record(&[entry(T0 + 61 * NS, "x")]);
        let end = T0 + 4 * MINUTE_NS;
        assert_eq!(t.compare(end, &[0, 0, 1, 7]), Verdict::default());
        assert_eq!(t.compare(end, &[0, 0, 3, 7]), Verdict { reread: vec![], skipped: 2 });
        // Past twice the lookback it is forgotten.
        assert_eq!(t.compare(T0 + 10 * MINUTE_NS, &[0, 0, 0, 0]), Verdict::default());
        assert!(t.minutes.keys().all(|&m| m >= T0 + 6 * MINUTE_NS));
    }

    #[test]
    fn an_empty_tracked_minute_that_gains_lines_is_read() {
        let mut t = LateTracker::new(600, T0);
        let v = t.compare(T0 + 2 * MINUTE_NS, &[0, 2]);
        assert_eq!(v.reread, vec![(T0, 2)]);
    }

    #[test]
    fn lookback_zero_checks_nothing() {
        assert_eq!(LateTracker::new(0, T0).check_range(T0 + 5 * MINUTE_NS), None);
        assert_eq!(LateTracker::new(600, T0).check_range(T0 + 59 * NS), None, "no minute closed yet");
        assert_eq!(LateTracker::new(600, T0).check_range(T0 + 5 * MINUTE_NS + 7), Some((T0 + 5 * MINUTE_NS, 20)));
    }
}
