//! Screening a training window before its baselines are learned. Production history holds
//! incidents, and a latency spike or an error burst that is a large share of an endpoint's
//! training events would otherwise become its normal. Incidents are concentrated in time and
//! normal traffic is not, so each endpoint's events are cut into time buckets and judged against
//! what the buckets say together:
//!
//! - **latency**: the centre is the median of the buckets' median ln(response time), the spread
//!   the median of their own spreads (a spike multiplies every request, so it moves a bucket's
//!   median but not its spread). A bucket whose median is [`BUCKET_SHIFT`] spreads off the centre
//!   is an incident; so are the requests of the buckets beside it that are [`NEIGHBOUR_Z`]
//!   spreads out the same way (a spike rarely starts on a bucket's edge).
//! - **errors**: the 5xx rate is estimated from the buckets that are not bursts, and a bucket with
//!   a 5xx count [`BURST_DECADES`] decades less likely than that rate allows is a burst; the 5xx
//!   of the buckets beside it go too.
//! - an endpoint whose remaining events are mostly 5xx, all within a part of the window (it
//!   appeared and failed), is an incident, not a normal: it is not learned (judged as new, as it
//!   would be on clean history). One that fails all through the window is what that endpoint does.
//!
//! Screening only removes events from what the baselines and models learn from; it never reports.
//! On clean traffic it removes next to nothing (a bucket's median is rarely 3 spreads off).

use super::context::poisson_surprise;
use super::TrainingEvent;
use crate::hash::FastMap;

/// Buckets an endpoint's events are cut into (before the minimum of events widens them).
const TARGET_BUCKETS: f64 = 20.0;
/// Bucket width bounds, seconds.
const MIN_BUCKET_SECS: f64 = 2.0;
const MAX_BUCKET_SECS: f64 = 60.0;
/// Events a bucket holds at least (a sparse endpoint's buckets are longer).
const MIN_BUCKET_EVENTS: usize = 8;
/// Buckets an endpoint needs before its buckets are judged (fewer: too little to tell).
const MIN_BUCKETS: usize = 5;
/// A bucket whose median ln(latency) is this many within-bucket spreads from the centre is an incident.
pub const BUCKET_SHIFT: f64 = 3.0;
/// Requests next to an incident bucket this many spreads out, the same way, belong to it.
pub const NEIGHBOUR_Z: f64 = 3.0;
/// Decades of surprise that make a bucket's 5xx count a burst...
pub const BURST_DECADES: f64 = 3.0;
/// ...with at least this many 5xx in it.
const BURST_MIN_ERRORS: u32 = 3;
/// Share of 5xx above which an endpoint counts as failing and is not learned...
pub const FAILING_SHARE: f64 = 0.5;
/// ...when its events lie within this share of the window's span...
pub const FAILING_SPAN_SHARE: f64 = 0.5;
/// ...and it has at least this many.
const FAILING_MIN_EVENTS: usize = 5;
/// Smallest spread of ln(latency) used (as in the baselines: about ±10 %).
const MIN_LOG_SCALE: f64 = 0.1;

/// Width of the time buckets for events spanning `span_secs`.
pub fn bucket_secs(span_secs: f64) -> f64 {
    (span_secs / TARGET_BUCKETS).clamp(MIN_BUCKET_SECS, MAX_BUCKET_SECS)
}

/// What screening removed, for the training report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Screened {
    /// Events in latency incidents.
    pub latency: usize,
    /// Events in error bursts.
    pub errors: usize,
    /// Events of endpoints that mostly failed.
    pub failing: usize,
}

impl Screened {
    pub fn total(&self) -> usize {
        self.latency + self.errors + self.failing
    }
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Median and spread of a bucket's ln(latency) values (sorts them); the spread as the baselines
/// take it: the MAD, or the central 80 % when ties make the MAD 0.
fn centre_spread(values: &mut [f64]) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    let m = median(values);
    let mut dev: Vec<f64> = values.iter().map(|v| (v - m).abs()).collect();
    dev.sort_by(f64::total_cmp);
    let mad = median(&dev) * 1.4826;
    let central = (quantile(values, 0.9) - quantile(values, 0.1)) / 2.563;
    (m, mad.max(central))
}

/// One endpoint's events (indices into the window), cut into buckets of at least `width` seconds
/// and [`MIN_BUCKET_EVENTS`] events; a short last bucket joins the one before.
fn buckets(events: &[TrainingEvent], own: &[usize], width: f64) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut start = f64::NEG_INFINITY;
    for &i in own {
        let t = events[i].time;
        let full = out.last().is_none_or(|b| b.len() >= MIN_BUCKET_EVENTS && t >= start + width);
        if full {
            out.push(Vec::new());
            start = t;
        }
        out.last_mut().expect("pushed").push(i);
    }
    if out.len() >= 2 && out.last().is_some_and(|b| b.len() < MIN_BUCKET_EVENTS) {
        let last = out.pop().expect("checked");
        out.last_mut().expect("checked").extend(last);
    }
    out
}

fn log_rt(e: &TrainingEvent) -> Option<f64> {
    e.rt_ms.map(|r| f64::from(r).max(0.01).ln())
}

fn is_5xx(e: &TrainingEvent) -> bool {
    matches!(e.status, Some(500..=599))
}

/// Latency incidents among one endpoint's buckets: marks their events (and the outlying
/// requests beside them) in `drop`; returns how many.
fn screen_latency(events: &[TrainingEvent], buckets: &[Vec<usize>], drop: &mut [bool]) -> usize {
    let mut stats: Vec<Option<(f64, f64)>> = Vec::with_capacity(buckets.len());
    for b in buckets {
        let mut v: Vec<f64> = b.iter().filter_map(|&i| log_rt(&events[i])).collect();
        stats.push((v.len() >= MIN_BUCKET_EVENTS).then(|| centre_spread(&mut v)));
    }
    let mut centres: Vec<f64> = stats.iter().flatten().map(|s| s.0).collect();
    if centres.len() < MIN_BUCKETS {
        return 0;
    }
    let mut spreads: Vec<f64> = stats.iter().flatten().map(|s| s.1).collect();
    centres.sort_by(f64::total_cmp);
    spreads.sort_by(f64::total_cmp);
    let (centre, spread) = (median(&centres), median(&spreads).max(MIN_LOG_SCALE));
    // +1: slower than usual, -1: faster, 0: as usual.
    let shift: Vec<i8> = stats
        .iter()
        .map(|s| match s {
            Some((m, _)) if (m - centre) > BUCKET_SHIFT * spread => 1,
            Some((m, _)) if (centre - m) > BUCKET_SHIFT * spread => -1,
            _ => 0,
        })
        .collect();
    let mut dropped = 0;
    for (k, b) in buckets.iter().enumerate() {
        let side = if shift[k] != 0 {
            None
        } else {
            // A quiet bucket next to an incident one: only its requests that look like the incident.
            let before = k.checked_sub(1).map_or(0, |j| shift[j]);
            let after = shift.get(k + 1).copied().unwrap_or(0);
            match (before, after) {
                (0, 0) => continue,
                (0, s) | (s, _) => Some(s),
            }
        };
        for &i in b {
            let out = match (side, log_rt(&events[i])) {
                (None, _) => true,
                (Some(s), Some(l)) => f64::from(s) * (l - centre) / spread >= NEIGHBOUR_Z,
                (Some(_), None) => false,
            };
            if out && !drop[i] {
                drop[i] = true;
                dropped += 1;
            }
        }
    }
    dropped
}

/// Error bursts among one endpoint's buckets (events not already dropped); marks their events
/// and the 5xx beside them in `drop`; returns how many.
fn screen_errors(events: &[TrainingEvent], buckets: &[Vec<usize>], drop: &mut [bool]) -> usize {
    if buckets.len() < MIN_BUCKETS {
        return 0;
    }
    let counts: Vec<(u32, u32)> = buckets
        .iter()
        .map(|b| {
            let live = b.iter().filter(|&&i| !drop[i] && events[i].status.is_some());
            live.fold((0, 0), |(n, e), &i| (n + 1, e + u32::from(is_5xx(&events[i]))))
        })
        .collect();
    let mut burst = vec![false; buckets.len()];
    // The rate of the buckets that are not bursts, refined a few times (a burst inflates the first guess).
    for _ in 0..4 {
        let (n, e) = counts
            .iter()
            .zip(&burst)
            .filter(|(_, b)| !**b)
            .fold((0u64, 0u64), |(n, e), (c, _)| (n + u64::from(c.0), e + u64::from(c.1)));
        let rate = (e as f64 + 0.5) / (n as f64 + 1.0);
        let next: Vec<bool> = counts
            .iter()
            .map(|&(n, e)| {
                e >= BURST_MIN_ERRORS && poisson_surprise(f64::from(e), f64::from(n) * rate) >= BURST_DECADES
            })
            .collect();
        if next == burst {
            break;
        }
        burst = next;
    }
    let mut dropped = 0;
    for (k, b) in buckets.iter().enumerate() {
        let beside = k.checked_sub(1).is_some_and(|j| burst[j]) || burst.get(k + 1).copied().unwrap_or(false);
        if !burst[k] && !beside {
            continue;
        }
        for &i in b {
            if !drop[i] && (burst[k] || is_5xx(&events[i])) {
                drop[i] = true;
                dropped += 1;
            }
        }
    }
    dropped
}

/// Screen the window: sets `keep[i] = false` for the events that belong to incidents (events
/// already not kept stay so and are not looked at).
pub fn screen(events: &[TrainingEvent], keep: &mut [bool]) -> Screened {
    let span = match (events.first(), events.last()) {
        (Some(a), Some(b)) => (b.time - a.time).max(1.0),
        _ => return Screened::default(),
    };
    let mut by_endpoint: FastMap<&str, Vec<usize>> = FastMap::default();
    for (i, e) in events.iter().enumerate() {
        if keep[i] {
            by_endpoint.entry(&e.endpoint).or_default().push(i);
        }
    }
    let mut drop = vec![false; events.len()];
    let mut screened = Screened::default();
    for own in by_endpoint.values_mut() {
        if own.len() < FAILING_MIN_EVENTS {
            continue;
        }
        if own.len() >= MIN_BUCKETS * MIN_BUCKET_EVENTS {
            own.sort_by(|a, b| events[*a].time.total_cmp(&events[*b].time));
            // Cut by the endpoint's own extent: its flagged events are not in the window, so after
            // a long incident its events may cover only part of it.
            let extent = events[own[own.len() - 1]].time - events[own[0]].time;
            let cut = buckets(events, own, bucket_secs(extent));
            screened.latency += screen_latency(events, &cut, &mut drop);
            screened.errors += screen_errors(events, &cut, &mut drop);
        }
        let left: Vec<usize> = own.iter().copied().filter(|&i| !drop[i]).collect();
        let with_status = left.iter().filter(|&&i| events[i].status.is_some()).count();
        let failing = left.iter().filter(|&&i| is_5xx(&events[i])).count();
        let (lo, hi) = left
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &i| (lo.min(events[i].time), hi.max(events[i].time)));
        let extent = hi - lo;
        let concentrated = extent < FAILING_SPAN_SHARE * span && left.len() >= FAILING_MIN_EVENTS;
        if concentrated && failing as f64 > FAILING_SHARE * with_status as f64 {
            for i in left {
                drop[i] = true;
                screened.failing += 1;
            }
        }
    }
    for (k, d) in keep.iter_mut().zip(drop) {
        if d {
            *k = false;
        }
    }
    screened
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rand::{Rng, SeedableRng};

    use super::*;

    /// `n` requests over `span` seconds on one endpoint, lognormal latency around 50 ms (sigma 0.35).
    fn traffic(seed: u64, endpoint: &str, n: usize, span: f64) -> Vec<TrainingEvent> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..n)
            .map(|i| {
                let z: f64 = (0..12).map(|_| rng.gen::<f64>()).sum::<f64>() - 6.0;
                TrainingEvent {
                    time: i as f64 * span / n as f64,
                    endpoint: Arc::from(endpoint),
                    rt_ms: Some((50.0 * (0.35 * z).exp()) as f32),
                    status: Some(if rng.gen::<f64>() < 0.005 { 500 } else { 200 }),
                    bytes: Some(1000.0),
                    recent: Default::default(),
                    query_len: 0,
                }
            })
            .collect()
    }

    #[test]
    fn clean_traffic_loses_almost_nothing() {
        for seed in 0..5 {
            let events = traffic(seed, "GET /a", 5000, 600.0);
            let mut keep = vec![true; events.len()];
            let s = screen(&events, &mut keep);
            assert!(s.total() <= 10, "seed {seed}: {s:?}");
        }
    }

    #[test]
    fn a_spike_that_is_30_percent_of_the_window_is_screened_out_whole() {
        for seed in 0..5 {
            let mut events = traffic(seed, "GET /a", 5000, 600.0);
            // The first 30 % of the window is 8x slower; the spike starts off a bucket's edge.
            let spiked: Vec<bool> = events.iter().map(|e| e.time >= 7.0 && e.time < 187.0).collect();
            for (e, s) in events.iter_mut().zip(&spiked) {
                if *s {
                    e.rt_ms = e.rt_ms.map(|r| r * 8.0);
                }
            }
            let mut keep = vec![true; events.len()];
            let s = screen(&events, &mut keep);
            // A spiked request that happens to be fast, at the spike's edge, may stay (1 in 500).
            let left = events.iter().zip(&keep).zip(&spiked).filter(|((_, k), s)| **k && **s).count();
            let total = spiked.iter().filter(|s| **s).count();
            assert!(left * 500 <= total, "seed {seed}: {left} of {total} spiked requests kept ({s:?})");
            let lost = keep.iter().zip(&spiked).filter(|(k, s)| !**k && !**s).count();
            assert!(lost < 400, "seed {seed}: {lost} normal requests screened");
        }
    }

    #[test]
    fn an_error_burst_and_a_new_failing_endpoint_are_screened_out_but_a_broken_one_is_learned() {
        let mut events = traffic(1, "GET /a", 5000, 600.0);
        let burst: Vec<bool> = events.iter().map(|e| e.time >= 100.0 && e.time < 280.0).collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        for (e, b) in events.iter_mut().zip(&burst) {
            if *b && rng.gen::<f64>() < 0.7 {
                e.status = Some(503);
            }
        }
        // A new endpoint that appears for two minutes and mostly fails...
        let mut failing = traffic(2, "POST /new", 300, 120.0);
        for e in &mut failing {
            e.time += 300.0;
            e.status = Some(if e.time < 410.0 { 500 } else { 200 });
        }
        events.extend(failing);
        // ...and one that fails all the time.
        let mut broken = traffic(3, "GET /old", 300, 600.0);
        for e in &mut broken {
            e.status = Some(503);
        }
        events.extend(broken);
        events.sort_by(|a, b| a.time.total_cmp(&b.time));
        let mut keep = vec![true; events.len()];
        screen(&events, &mut keep);
        let kept_5xx = events.iter().zip(&keep).filter(|(e, k)| **k && &*e.endpoint == "GET /a" && is_5xx(e)).count();
        assert!(kept_5xx < 30, "{kept_5xx} 5xx kept on GET /a");
        let new_kept: Vec<(f64, Option<u16>)> = events
            .iter()
            .zip(&keep)
            .filter(|(e, k)| **k && &*e.endpoint == "POST /new")
            .map(|(e, _)| (e.time, e.status))
            .collect();
        assert!(new_kept.is_empty(), "{new_kept:?}");
        let old_kept = events.iter().zip(&keep).filter(|(e, k)| **k && &*e.endpoint == "GET /old").count();
        assert!(old_kept > 250, "an endpoint failing all along is learned as it is ({old_kept} of 300)");
    }

    #[test]
    fn an_endpoint_seen_in_part_of_the_window_is_cut_by_its_own_extent() {
        // The bug: buckets a twentieth of the whole window wide gave an endpoint whose events
        // cover only its first 100 s (the rest flagged, so not learned) four buckets, too few to
        // judge, and its spike was learned.
        let mut events = traffic(5, "GET /a", 5000, 600.0);
        let mut b = traffic(6, "GET /b", 300, 100.0);
        for e in b.iter_mut().filter(|e| e.time >= 60.0) {
            e.rt_ms = e.rt_ms.map(|r| r * 10.0);
        }
        events.extend(b);
        events.sort_by(|a, b| a.time.total_cmp(&b.time));
        let mut keep = vec![true; events.len()];
        screen(&events, &mut keep);
        let spiked_kept =
            events.iter().zip(&keep).filter(|(e, k)| **k && &*e.endpoint == "GET /b" && e.time >= 61.0).count();
        assert!(spiked_kept <= 2, "{spiked_kept} spiked requests of GET /b kept");
    }
}
