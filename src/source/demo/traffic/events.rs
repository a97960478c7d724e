//! Producing events: which comes next (background arrival, probe, incident request), and the line
//! each one becomes.

use jiff::Timestamp;
use rand::Rng;

use super::super::format::Request;
use super::super::incidents::{IncidentKind, SCANNER_PROBES};
use super::super::profile;
use super::{Active, Generated, Target, TrafficGenerator};

impl TrafficGenerator {
    /// Background rate multiplier at offset `t`.
    fn rhythm(&self, t: f64) -> f64 {
        if !self.daily_rhythm {
            return 1.0;
        }
        rhythm_at((self.start_sod + t).rem_euclid(86_400.0))
    }

    /// Moves the incidents that have begun by `t` from pending to active; drops finished ones.
    fn activate_until(&mut self, t: f64) {
        let clock = self.clock;
        self.active.retain(|a| a.end > clock || a.next_inject.is_some());
        while self.pending.front().is_some_and(|p| p.start <= t) {
            let Some(mut a) = self.pending.pop_front() else { break };
            let rate = self.inject_rate(&a);
            let first = match a.kind {
                IncidentKind::LoneSlow | IncidentKind::Scanner => Some(a.start),
                k if k.is_app() => Some(a.start),
                IncidentKind::LargeResponses | IncidentKind::NewFailingEndpoint => {
                    Some(a.start + profile::exp_gap(&mut self.irng, rate))
                }
                _ => None,
            };
            a.next_inject = first.filter(|&n| n < a.end || a.kind == IncidentKind::LoneSlow);
            self.active.push(a);
        }
    }

    /// Requests per second an injecting incident adds.
    fn inject_rate(&self, a: &Active) -> f64 {
        match a.kind {
            IncidentKind::Scanner => a.intensity,
            IncidentKind::LargeResponses => (self.rate * 0.04).clamp(0.2, 2.0),
            _ => (self.rate * 0.05).clamp(0.3, 20.0),
        }
    }

    fn emit(&mut self, t: f64, req: Request<'_>, label: Option<usize>) -> Generated {
        self.clock = t;
        let line = self.writer.write(&req);
        let label = label.map(|i| {
            let truth = &mut self.truth[i];
            truth.labelled_lines += 1;
            (truth.kind, truth.id)
        });
        Generated { time: Timestamp::from_millisecond(req.time_ms).unwrap_or(self.start), line, label }
    }
}

/// Daily rhythm at `sod` seconds after UTC midnight: 0.3 at 04:00, 1.0 at 16:00, a smooth cosine.
pub(crate) fn rhythm_at(sod: f64) -> f64 {
    let phase = std::f64::consts::TAU * (sod / 3600.0 - 4.0) / 24.0;
    0.3 + 0.7 * 0.5 * (1.0 - phase.cos())
}

/// What the next event is.
enum Next {
    Background,
    Monitor(usize),
    Inject(usize),
    App,
}

impl Iterator for TrafficGenerator {
    type Item = Generated;

    fn next(&mut self) -> Option<Generated> {
        loop {
            if self.finished {
                return None;
            }
            let mut t = self.next_background;
            let mut next = Next::Background;
            if self.next_app < t {
                (t, next) = (self.next_app, Next::App);
            }
            for (i, m) in self.monitors.iter().enumerate() {
                if m.next < t {
                    (t, next) = (m.next, Next::Monitor(i));
                }
            }
            if self.pending.front().is_some_and(|p| p.start <= t) {
                self.activate_until(t);
                continue;
            }
            for (i, a) in self.active.iter().enumerate() {
                if let Some(n) = a.next_inject.filter(|&n| n < t) {
                    (t, next) = (n, Next::Inject(i));
                }
            }
            if self.duration.is_some_and(|d| t >= d) {
                self.finished = true;
                return None;
            }
            let generated = match next {
                Next::Background => self.background(t),
                Next::Monitor(i) => Some(self.monitor(i, t)),
                Next::Inject(i) if self.active[i].kind.is_app() => Some(self.app_inject(i, t)),
                Next::Inject(i) => Some(self.inject(i, t)),
                Next::App => Some(self.app_background(t)),
            };
            if generated.is_some() {
                return generated;
            }
        }
    }
}

impl TrafficGenerator {
    /// A background request at `t`, or `None` when the rhythm thins it out or an incident drops it.
    fn background(&mut self, t: f64) -> Option<Generated> {
        self.next_background = t + profile::exp_gap(&mut self.rng, self.rate);
        if self.daily_rhythm && self.rng.gen::<f64>() >= self.rhythm(t) {
            return None;
        }
        let rng = &mut self.rng;
        let client = &self.clients[profile::pick(rng, &self.client_weights)];
        let weights = if client.browser { &self.browser_weights } else { &self.api_weights };
        let ei = profile::pick(rng, weights);
        let ep = &self.endpoints[ei];
        self.path.clear();
        profile::write_path(rng, ep, &mut self.path);
        let (mut status, mut bytes) = profile::status_and_bytes(rng, ep);
        let mut latency = profile::lognormal(rng, ep.median_ms, ep.sigma);
        let referer = if client.browser && rng.gen_bool(0.6) { profile::SITE_REFERER } else { "-" };

        let mut label = None;
        let mut dropped = false;
        for a in &self.active {
            if a.target != Target::Known(ei) || !a.covers(t) {
                continue;
            }
            match a.kind {
                IncidentKind::TrafficDrop => dropped |= self.irng.gen::<f64>() >= a.intensity,
                IncidentKind::LatencySpike => {
                    latency = latency.max(0.7 * ep.median_ms) * a.intensity;
                    label.get_or_insert(a.truth);
                }
                IncidentKind::ErrorBurst if self.irng.gen_bool(a.intensity) => {
                    status = [500, 502, 503][self.irng.gen_range(0..3)];
                    bytes = profile::error_bytes(&mut self.irng, status);
                    label.get_or_insert(a.truth);
                }
                _ => {}
            }
            if dropped {
                let truth = a.truth;
                self.truth[truth].dropped_requests += 1;
                return None;
            }
        }
        let req = Request {
            time_ms: self.start_ms.saturating_add((t * 1000.0).round() as i64),
            client: &client.ip,
            method: ep.method,
            path: &self.path,
            status,
            latency_ms: latency,
            bytes,
            user_agent: client.ua,
            referer,
        };
        let line = self.writer.write(&req);
        self.clock = t;
        let label = label.map(|i| {
            let truth = &mut self.truth[i];
            truth.labelled_lines += 1;
            (truth.kind, truth.id)
        });
        Some(Generated { time: Timestamp::from_millisecond(req.time_ms).unwrap_or(self.start), line, label })
    }

    /// A probe or scrape at `t`.
    fn monitor(&mut self, i: usize, t: f64) -> Generated {
        let m = &mut self.monitors[i];
        m.next = t + m.period + self.rng.gen_range(-0.05..0.05);
        let (ei, client) = (m.endpoint, m.client.clone());
        let ep = &self.endpoints[ei];
        let (status, bytes) = profile::status_and_bytes(&mut self.rng, ep);
        let mut latency = profile::lognormal(&mut self.rng, ep.median_ms, ep.sigma);
        let mut label = None;
        for a in self.active.iter().filter(|a| a.target == Target::Known(ei) && a.covers(t)) {
            if a.kind == IncidentKind::LatencySpike {
                latency = latency.max(0.7 * ep.median_ms) * a.intensity;
                label.get_or_insert(a.truth);
            }
        }
        let (method, template) = (ep.method, ep.template);
        let req = Request {
            time_ms: self.start_ms.saturating_add((t * 1000.0).round() as i64),
            client: &client.ip,
            method,
            path: template,
            status,
            latency_ms: latency,
            bytes,
            user_agent: client.ua,
            referer: "-",
        };
        self.emit(t, req, label)
    }

    /// A request an active incident adds at `t`.
    fn inject(&mut self, i: usize, t: f64) -> Generated {
        let rate = self.inject_rate(&self.active[i]);
        let irng = &mut self.irng;
        let a = &self.active[i];
        let time_ms = self.start_ms.saturating_add((t * 1000.0).round() as i64);
        self.path.clear();
        let mut labelled = true;
        let (client, method, status, latency, bytes) = match (&a.kind, &a.target) {
            (IncidentKind::Scanner, _) => {
                let (method, path, status) = SCANNER_PROBES[irng.gen_range(0..SCANNER_PROBES.len())];
                self.path.push_str(path);
                let bytes = if method == "HEAD" { 0 } else { profile::error_bytes(irng, status) };
                (a.client.clone(), method.to_string(), status, profile::lognormal(irng, 4.0, 0.4), bytes)
            }
            (IncidentKind::NewFailingEndpoint, Target::New { method, template }) => {
                profile::write_template(template, irng.gen_range(1..=5000), &mut self.path);
                let client = self.clients[profile::pick(irng, &self.client_weights)].clone();
                let (status, bytes) = if irng.gen_bool(a.intensity) {
                    let status = if irng.gen_bool(0.8) { 500 } else { 503 };
                    (status, profile::error_bytes(irng, status))
                } else {
                    labelled = false;
                    (if method == "POST" { 201 } else { 200 }, profile::lognormal(irng, 900.0, 0.2).round() as u64)
                };
                (Some(client), method.clone(), status, profile::lognormal(irng, 45.0, 0.4), bytes)
            }
            (kind, Target::Known(ei)) => {
                let ep = &self.endpoints[*ei];
                profile::write_path(irng, ep, &mut self.path);
                let normal_bytes = if ep.bytes_mean > 0.0 { profile::lognormal(irng, ep.bytes_mean, 0.2) } else { 0.0 };
                let (latency, bytes) = if *kind == IncidentKind::LoneSlow {
                    (ep.median_ms * a.intensity * profile::lognormal(irng, 1.0, 0.05), normal_bytes)
                } else {
                    let bytes = normal_bytes.max(ep.bytes_mean) * a.intensity;
                    (profile::lognormal(irng, ep.median_ms, ep.sigma), bytes)
                };
                (a.client.clone(), ep.method.to_string(), ep.ok_status, latency, bytes.round() as u64)
            }
            _ => (a.client.clone(), "GET".to_string(), 200, 1.0, 0),
        };
        let next = t + profile::exp_gap(irng, rate);
        let a = &mut self.active[i];
        a.next_inject = if a.kind == IncidentKind::LoneSlow || next >= a.end { None } else { Some(next) };
        let truth = a.truth;
        let client = client.unwrap_or_else(|| self.clients[0].clone());
        let path = std::mem::take(&mut self.path);
        let req = Request {
            time_ms,
            client: &client.ip,
            method: &method,
            path: &path,
            status,
            latency_ms: latency,
            bytes,
            user_agent: client.ua,
            referer: "-",
        };
        let generated = self.emit(t, req, labelled.then_some(truth));
        self.path = path;
        generated
    }
}
