//! The application-log stream (`TrafficConfig::app_lines_per_sec` > 0): a checkout worker's
//! messages among the access lines, free text and logfmt with levels, and its own incidents: a new
//! error message, a rare warning surging, queries far slower than usual.

use jiff::Timestamp;
use rand::rngs::StdRng;
use rand::Rng;

use super::super::incidents::IncidentKind;
use super::super::profile;
use super::{Generated, TrafficGenerator};

/// What fails in a new-error incident (the Nth incident takes the Nth, then the words rotate).
const NEW_ERRORS: [&str; 6] = [
    "connection to ledger-{w} refused",
    "TLS handshake with {w}-gateway failed: certificate expired",
    "cannot acquire lock on table {w}_orders: deadlock detected",
    "circuit breaker opened for {w}-pricing",
    "schema validation failed for {w} event: missing field",
    "disk quota exceeded on volume {w}-spool",
];
const WORDS: [&str; 8] = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"];

/// The warning a surge repeats (rare otherwise: 2 lines in 1,000).
pub(crate) const SURGE_WARNING: &str = "payments: gateway slow, retrying";

fn stamp(ms: i64) -> String {
    let t = Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH);
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// One clean application line at `ms`.
pub(crate) fn clean_line(rng: &mut StdRng, ms: i64) -> String {
    let at = stamp(ms);
    match rng.gen_range(0..1000) {
        0..=299 => format!(
            "{at} INFO checkout: order {} placed by user {} in {}ms",
            rng.gen_range(100_000..1_000_000),
            rng.gen_range(0..5000),
            profile::lognormal(rng, 35.0, 0.3).round()
        ),
        300..=499 => format!("{at} INFO db: query took {} ms", profile::lognormal(rng, 14.0, 0.4).round()),
        500..=599 => format!("{at} INFO cache: refreshed {} keys", rng.gen_range(100..150)),
        600..=749 => format!("{at} DEBUG worker: heartbeat ok"),
        750..=779 => format!("{at} WARN cache: miss for key user:{}", rng.gen_range(0..5000)),
        780..=781 => format!("{at} WARN {SURGE_WARNING} (attempt {})", rng.gen_range(1..4)),
        782 => format!("{at} ERROR api: request {:08x} failed: upstream reset", rng.gen::<u32>()),
        _ => format!(
            r#"time={at} level=info logger=payments msg="payment authorised for order {}" amount={}.{:02}"#,
            rng.gen_range(100_000..1_000_000),
            rng.gen_range(1..200),
            rng.gen_range(0..100)
        ),
    }
}

/// The line an application-log incident writes at `ms`; `nth` counts the incidents of its kind.
pub(crate) fn incident_line(rng: &mut StdRng, kind: IncidentKind, intensity: f64, nth: u32, ms: i64) -> String {
    let at = stamp(ms);
    match kind {
        IncidentKind::NewErrorMessage => {
            let message = NEW_ERRORS[nth as usize % NEW_ERRORS.len()];
            let word = WORDS[(nth as usize / NEW_ERRORS.len()) % WORDS.len()];
            format!("{at} ERROR checkout: {}", message.replace("{w}", word))
        }
        IncidentKind::ErrorSurge => format!("{at} WARN {SURGE_WARNING} (attempt {})", rng.gen_range(1..4)),
        _ => format!("{at} INFO db: query took {} ms", (14.0 * intensity * profile::lognormal(rng, 1.0, 0.1)).round()),
    }
}

impl TrafficGenerator {
    /// The next clean application line, at `t`.
    pub(super) fn app_background(&mut self, t: f64) -> Generated {
        self.next_app = t + profile::exp_gap(&mut self.app_rng, self.app_rate);
        let ms = self.start_ms.saturating_add((t * 1000.0).round() as i64);
        let line = clean_line(&mut self.app_rng, ms);
        self.clock = t;
        Generated { time: Timestamp::from_millisecond(ms).unwrap_or(self.start), line, label: None }
    }

    /// A line an application-log incident adds at `t`.
    pub(super) fn app_inject(&mut self, i: usize, t: f64) -> Generated {
        let a = &self.active[i];
        let (kind, intensity, truth) = (a.kind, a.intensity, a.truth);
        let nth = self.truth[..truth].iter().filter(|x| x.kind == kind).count() as u32;
        let ms = self.start_ms.saturating_add((t * 1000.0).round() as i64);
        let line = incident_line(&mut self.irng, kind, intensity, nth, ms);
        let rate = match kind {
            IncidentKind::ErrorSurge => intensity,
            IncidentKind::NewErrorMessage => 0.3,
            _ => 1.0 / 12.0,
        };
        let next = t + profile::exp_gap(&mut self.irng, rate);
        let a = &mut self.active[i];
        a.next_inject = (next < a.end).then_some(next);
        self.clock = t;
        let label = {
            let truth = &mut self.truth[truth];
            truth.labelled_lines += 1;
            Some((truth.kind, truth.id))
        };
        Generated { time: Timestamp::from_millisecond(ms).unwrap_or(self.start), line, label }
    }
}
