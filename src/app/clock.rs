//! The stream clock: the event time that rate windows and incidents follow, which one skewed or
//! undated line cannot move.
//!
//! It is the median of the last [`SAMPLES`] dated events, so it follows the majority of the stream.
//! A line dated more than [`MAX_AHEAD_SECS`] past it (a host with a wrong clock, a typo in a date)
//! is judged at the clock's time instead of its own, and counted; so is a line with no timestamp
//! of its own whose source time (the time it was read) is that far ahead, as when an old file is
//! read. A real jump (a file that resumes after a quiet night) is followed as soon as most of the
//! recent lines agree on it: the lines before that are judged at the old time.

use jiff::Timestamp;

/// Dated events the clock takes the median of: up to 4 outliers among them cannot move it.
pub const SAMPLES: usize = 9;
/// How far past the clock a line's time may be before it is judged at the clock's time.
pub const MAX_AHEAD_SECS: i64 = 300;
/// Consecutive undated lines after which the stream counts as undated (source times are used).
const UNDATED_TAKEOVER: u32 = 1000;
/// Dated events between recomputations of the median while lines stay close to it.
const REFRESH_EVERY: u32 = 8;

/// Why a line was judged at the clock's time instead of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retimed {
    /// Its own timestamp was far ahead of the stream.
    Ahead,
    /// It had no timestamp, and its source time was far ahead of the stream.
    Undated,
}

impl Retimed {
    pub fn label(self) -> &'static str {
        match self {
            Retimed::Ahead => "ahead",
            Retimed::Undated => "undated",
        }
    }
}

/// Where a line was placed in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    /// The time to judge the line at.
    pub time: Timestamp,
    pub retimed: Option<Retimed>,
    /// The clock moved back past [`MAX_AHEAD_SECS`]: the first lines of the stream were the
    /// outliers. What followed them in time (rate windows) should restart from `time`.
    pub rewound: bool,
}

/// See the module documentation.
#[derive(Debug, Clone, Default)]
pub struct StreamClock {
    ring: [Timestamp; SAMPLES],
    len: usize,
    next: usize,
    median: Option<Timestamp>,
    since_refresh: u32,
    undated_run: u32,
    /// Lines looked at ahead by [`prime`](Self::prime) (dated or not).
    looked_ahead: usize,
}

impl StreamClock {
    /// The clock's time (`None` before the first dated event).
    pub fn now(&self) -> Option<Timestamp> {
        self.median
    }

    /// At the start of a stream: [`prime`](Self::prime) the clock with the times of the lines
    /// about to be placed, so that the first line cannot set it. Asked until [`SAMPLES`] lines were
    /// looked at, so a stream of undated lines is not looked at twice for ever.
    pub fn wants_lookahead(&self) -> bool {
        self.len < SAMPLES && self.looked_ahead < SAMPLES
    }

    /// Take the own times of upcoming lines as samples (at most [`SAMPLES`] are kept); `looked`
    /// lines were looked at to find them.
    pub fn prime(&mut self, upcoming: &[Timestamp], looked: usize) {
        self.looked_ahead += looked;
        for t in upcoming.iter().take(SAMPLES) {
            self.push(*t);
        }
        if !upcoming.is_empty() {
            self.refresh();
        }
    }

    fn push(&mut self, t: Timestamp) {
        self.ring[self.next] = t;
        self.next = (self.next + 1) % SAMPLES;
        self.len = (self.len + 1).min(SAMPLES);
    }

    /// Place a line whose time is `t`, its own (`own_time`) or its source's.
    pub fn place(&mut self, t: Timestamp, own_time: bool) -> Placed {
        let kept = Placed { time: t, retimed: None, rewound: false };
        if !own_time {
            self.undated_run = self.undated_run.saturating_add(1);
            if self.undated_run == UNDATED_TAKEOVER {
                *self = StreamClock {
                    undated_run: self.undated_run,
                    looked_ahead: self.looked_ahead,
                    ..StreamClock::default()
                };
            }
            return match self.median {
                Some(c) if far_ahead(t, c) => Placed { time: c, retimed: Some(Retimed::Undated), rewound: false },
                _ => kept,
            };
        }
        self.undated_run = 0;
        let before = self.median;
        self.push(t);
        self.since_refresh += 1;
        let stale = self.since_refresh >= REFRESH_EVERY;
        let suspicious = before.is_none_or(|c| far_ahead(t, c) || far_ahead(c, t));
        if stale || suspicious {
            self.refresh();
        }
        let Some(c) = self.median else { return kept };
        let rewound = before.is_some_and(|b| far_ahead(b, c));
        if far_ahead(t, c) {
            return Placed { time: c, retimed: Some(Retimed::Ahead), rewound };
        }
        Placed { rewound, ..kept }
    }

    fn refresh(&mut self) {
        let mut s = self.ring;
        let s = &mut s[..self.len];
        s.sort_unstable();
        // The lower middle: with two samples, the earlier one (a lone first outlier loses).
        self.median = s.get((self.len - 1) / 2).copied();
        self.since_refresh = 0;
    }
}

fn far_ahead(t: Timestamp, of: Timestamp) -> bool {
    t.as_second() > of.as_second().saturating_add(MAX_AHEAD_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    /// Places dated lines one second apart starting at 0, with `odd` placed instead at index `i`.
    fn run(n: i64, odd: &[(i64, Timestamp, bool)]) -> Vec<Placed> {
        let mut clock = StreamClock::default();
        (0..n)
            .map(|i| match odd.iter().find(|(j, ..)| *j == i) {
                Some((_, t, own)) => clock.place(*t, *own),
                None => clock.place(at(i), true),
            })
            .collect()
    }

    #[test]
    fn a_line_a_day_ahead_is_judged_at_the_stream_time_and_does_not_move_it() {
        // The bug: one line stamped 20 h ahead moved the watermark and rate windows never closed.
        let placed = run(200, &[(100, at(72_000), true)]);
        assert_eq!(placed[100].retimed, Some(Retimed::Ahead));
        assert!((placed[100].time.as_second() - at(100).as_second()).abs() <= 10, "{:?}", placed[100]);
        for (i, p) in placed.iter().enumerate().filter(|(i, _)| *i != 100) {
            assert_eq!((p.time, p.retimed, p.rewound), (at(i as i64), None, false), "line {i}");
        }
    }

    #[test]
    fn an_undated_line_read_long_after_the_file_was_written_is_judged_at_the_stream_time() {
        let placed = run(50, &[(20, at(5_000_000), false)]);
        assert_eq!(placed[20].retimed, Some(Retimed::Undated));
        assert!(placed[20].time <= at(20));
        assert!(placed.iter().filter(|p| p.retimed.is_some()).count() == 1);
    }

    #[test]
    fn undated_lines_near_the_stream_keep_their_source_time() {
        let placed = run(50, &[(20, at(21), false)]);
        assert_eq!(placed[20], Placed { time: at(21), retimed: None, rewound: false });
    }

    #[test]
    fn a_real_jump_is_followed_once_most_recent_lines_agree() {
        let mut clock = StreamClock::default();
        for i in 0..100 {
            clock.place(at(i), true);
        }
        let after: Vec<Placed> = (0..20).map(|i| clock.place(at(10_000 + i), true)).collect();
        let retimed = after.iter().take_while(|p| p.retimed.is_some()).count();
        assert!((1..=SAMPLES / 2).contains(&retimed), "{retimed} lines judged at the old time");
        assert!(after[retimed..].iter().all(|p| p.retimed.is_none()));
        assert!(clock.now().unwrap() >= at(10_000));
    }

    #[test]
    fn a_first_line_far_ahead_rewinds_the_clock_at_the_second() {
        let placed = run(10, &[(0, at(72_000), true)]);
        assert!(placed[1].rewound, "{:?}", placed[1]);
        assert!(placed[2..].iter().all(|p| !p.rewound && p.retimed.is_none()));
    }

    #[test]
    fn a_primed_clock_retimes_even_the_first_line() {
        let mut clock = StreamClock::default();
        let mut times: Vec<Timestamp> = (0..SAMPLES as i64).map(at).collect();
        times[0] = at(72_000);
        clock.prime(&times, times.len());
        let first = clock.place(times[0], true);
        assert_eq!(first.retimed, Some(Retimed::Ahead));
        assert!(first.time <= at(SAMPLES as i64));
    }

    #[test]
    fn a_stream_without_timestamps_follows_its_source() {
        let mut clock = StreamClock::default();
        for i in 0..10 {
            clock.place(at(i), true);
        }
        let placed: Vec<Placed> =
            (0..UNDATED_TAKEOVER as i64 + 10).map(|i| clock.place(at(100_000 + i), false)).collect();
        assert!(placed[0].retimed.is_some());
        assert!(placed.last().unwrap().retimed.is_none(), "an undated stream is judged by its source's time");
    }
}
