//! Progress of the first-start backfill: a bar on stderr when it is a terminal, else INFO lines at most
//! every [`LOG_EVERY`] or at each quarter.
//!
//! The bar is added to [`crate::telemetry::progress_bars`], whose log writer hides it while a log line
//! is written, so logs and bar don't tear each other.

use std::time::Duration;

use indicatif::{HumanCount, ProgressBar, ProgressStyle};
use tokio::time::Instant;

/// Longest gap between two progress log lines (when stderr is not a terminal).
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Lines read during the backfill, against the count of the kept window when there is one.
#[derive(Debug)]
pub(super) struct BackfillProgress {
    /// Lines the count query found in the kept window; `None` when it could not count.
    expected: Option<u64>,
    read: u64,
    view: View,
}

#[derive(Debug)]
enum View {
    Bar(ProgressBar),
    Log {
        last_at: Instant,
        /// The last quarter (1..=3) logged.
        quarter: u64,
    },
}

impl BackfillProgress {
    /// A bar on stderr when it is a terminal, else progress logged at INFO.
    pub(super) fn start(expected: Option<u64>, now: Instant) -> Self {
        use std::io::IsTerminal;
        if std::io::stderr().is_terminal() {
            Self::with_bar(expected, crate::telemetry::progress_bars().add(ProgressBar::no_length()))
        } else {
            Self::logged(expected, now)
        }
    }

    /// Progress logged at INFO (no bar).
    fn logged(expected: Option<u64>, now: Instant) -> Self {
        BackfillProgress { expected, read: 0, view: View::Log { last_at: now, quarter: 0 } }
    }

    /// Progress shown on `bar`: a bar to `expected`, or a spinner counting lines when unknown.
    fn with_bar(expected: Option<u64>, bar: ProgressBar) -> Self {
        let template = match expected {
            Some(n) => {
                bar.set_length(n);
                "{spinner} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} lines ({per_sec}, ETA {eta}) {msg}"
            }
            None => "{spinner} [{elapsed_precise}] {human_pos} lines ({per_sec}) {msg}",
        };
        bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
        bar.set_message("backfill");
        bar.enable_steady_tick(Duration::from_millis(200));
        BackfillProgress { expected, read: 0, view: View::Bar(bar) }
    }

    pub(super) fn expected(&self) -> Option<u64> {
        self.expected
    }

    pub(super) fn read(&self) -> u64 {
        self.read
    }

    /// `n` more lines were read (one page).
    pub(super) fn advance(&mut self, n: u64, now: Instant) {
        self.read += n;
        if let View::Bar(bar) = &self.view {
            // Later polls of a backfill split by `max_lines_per_poll` read past the counted window.
            if self.expected.is_some_and(|e| self.read > e) {
                bar.set_length(self.read);
            }
            bar.set_position(self.read);
        } else if let Some(line) = self.log_due(now) {
            tracing::info!(lines_read = self.read, "{line}");
        }
    }

    /// The progress line to log now, if one is due: a quarter more of the expected lines was read,
    /// or [`LOG_EVERY`] passed since the last line.
    fn log_due(&mut self, now: Instant) -> Option<String> {
        let View::Log { last_at, quarter } = &mut self.view else { return None };
        let reached = self.expected.filter(|&e| e > 0).map_or(0, |e| (self.read.saturating_mul(4) / e).min(3));
        if reached <= *quarter && now.duration_since(*last_at) < LOG_EVERY {
            return None;
        }
        *last_at = now;
        *quarter = (*quarter).max(reached);
        Some(match self.expected {
            Some(e) => {
                let pct = (self.read.saturating_mul(100) / e.max(1)).min(100);
                format!("Backfill {} / {} lines ({pct} %).", HumanCount(self.read), HumanCount(e))
            }
            None => format!("Backfill {} lines read.", HumanCount(self.read)),
        })
    }

    /// The backfill reached the present: clear the bar and log the total.
    pub(super) fn finish(self) {
        tracing::info!(lines_read = self.read, "Backfill done.");
        // Dropping clears the bar.
    }
}

impl Drop for BackfillProgress {
    /// Also on shutdown mid-backfill: the bar is not left behind on the terminal.
    fn drop(&mut self) {
        if let View::Bar(bar) = &self.view {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn the_bar_counts_to_the_expected_total() {
        let mut p = BackfillProgress::with_bar(Some(1_000), ProgressBar::hidden());
        let now = Instant::now();
        p.advance(400, now);
        p.advance(600, now);
        let View::Bar(bar) = &p.view else { panic!("a bar") };
        assert_eq!((bar.position(), bar.length()), (1_000, Some(1_000)));
        assert_eq!((p.read(), p.expected()), (1_000, Some(1_000)));
        // Lines past the count (a later poll of a split backfill) grow the bar instead of overflowing it.
        p.advance(50, now);
        let View::Bar(bar) = &p.view else { panic!("a bar") };
        assert_eq!((bar.position(), bar.length()), (1_050, Some(1_050)));
    }

    #[test]
    fn without_a_count_a_spinner_counts_lines_read() {
        let mut p = BackfillProgress::with_bar(None, ProgressBar::hidden());
        p.advance(300, Instant::now());
        let View::Bar(bar) = &p.view else { panic!("a bar") };
        assert_eq!((bar.position(), bar.length()), (300, None));
        assert_eq!(p.expected(), None);
    }

    #[test]
    fn logs_each_quarter_and_otherwise_every_ten_seconds() {
        let t0 = Instant::now();
        let mut p = BackfillProgress::logged(Some(48_000), t0);
        p.read = 11_999;
        assert_eq!(p.log_due(t0 + secs(1)), None, "under 25 % and under 10 s");
        p.read = 12_000;
        assert_eq!(p.log_due(t0 + secs(2)).as_deref(), Some("Backfill 12,000 / 48,000 lines (25 %)."));
        p.read = 13_000;
        assert_eq!(p.log_due(t0 + secs(3)), None, "the same quarter, 1 s later");
        assert_eq!(p.log_due(t0 + secs(12)).as_deref(), Some("Backfill 13,000 / 48,000 lines (27 %)."));
        assert_eq!(p.log_due(t0 + secs(13)), None);
        p.read = 48_000;
        assert_eq!(p.log_due(t0 + secs(14)).as_deref(), Some("Backfill 48,000 / 48,000 lines (100 %)."));
        assert_eq!(p.log_due(t0 + secs(15)), None, "nothing new: the same quarter, 1 s later");
    }

    #[test]
    fn without_a_count_logs_only_on_the_clock() {
        let t0 = Instant::now();
        let mut p = BackfillProgress::logged(None, t0);
        p.read = 1_000_000;
        assert_eq!(p.log_due(t0 + secs(9)), None);
        assert_eq!(p.log_due(t0 + secs(10)).as_deref(), Some("Backfill 1,000,000 lines read."));
        assert_eq!(p.log_due(t0 + secs(19)), None);
    }

    #[test]
    fn an_empty_counted_window_logs_no_quarters() {
        let t0 = Instant::now();
        let mut p = BackfillProgress::logged(Some(0), t0);
        assert_eq!(p.log_due(t0 + secs(1)), None);
    }
}
