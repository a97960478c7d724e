//! The traffic generator: a pure, seeded iterator over access-log lines in virtual time.
//!
//! Background requests arrive as a Poisson process (thinned by an optional daily rhythm), probes and
//! scrapes arrive on their own period, and active incidents modify requests or inject their own.
//! Incidents draw from a second random stream, so every line an incident does not touch is the same
//! as in a clean run with the same seed.

use std::collections::VecDeque;

use jiff::Timestamp;
use rand::distributions::WeightedIndex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::format::{LineFormat, LineWriter};
use super::incidents::{
    IncidentKind, IncidentTruth, ScheduleError, ScheduledIncident, BUSY_ENDPOINTS, LONE_SLOW_ENDPOINTS, NEW_ENDPOINTS,
    SCANNER_UAS,
};
use super::profile::{self, Client, Endpoint};

mod applog;
mod events;

/// Everything that determines a generated log.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficConfig {
    /// Seed of the generator: the same config gives the same lines.
    pub seed: u64,
    /// Mean background requests per second (the peak rate when `daily_rhythm` is on). Health probes
    /// and metric scrapes come on top, on their own period.
    pub requests_per_sec: f64,
    pub format: LineFormat,
    /// Modulate the rate over the UTC day: smooth, lowest (30 % of peak) at 04:00, peak at 16:00.
    pub daily_rhythm: bool,
    /// Time of offset 0.
    pub start: Timestamp,
    /// Incidents, at offsets from `start`.
    pub incidents: Vec<ScheduledIncident>,
    /// Stop after this many seconds; `None` generates forever.
    pub duration_secs: Option<f64>,
    /// Mean application-log lines per second among the requests (0: none); see `applog`.
    pub app_lines_per_sec: f64,
}

impl TrafficConfig {
    /// A flat-rate JSON log from 2026-11-24T00:00:00Z, without incidents, without end.
    pub fn new(seed: u64, requests_per_sec: f64) -> Self {
        TrafficConfig {
            seed,
            requests_per_sec,
            format: LineFormat::Json,
            daily_rhythm: false,
            start: Timestamp::from_second(1_795_478_400).expect("valid timestamp"),
            incidents: Vec::new(),
            duration_secs: None,
            app_lines_per_sec: 0.0,
        }
    }

    /// Seconds from the start before the first incident: the clean prefix to train on.
    pub fn clean_prefix_secs(&self) -> f64 {
        let first = self.incidents.iter().map(|i| i.start_offset_secs).fold(f64::INFINITY, f64::min);
        first.min(self.duration_secs.unwrap_or(f64::INFINITY))
    }
}

/// One generated line and its ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// Event time, millisecond precision (a combined-format line shows whole seconds).
    pub time: Timestamp,
    /// The log line, without a newline.
    pub line: String,
    /// The incident this line belongs to, if any: kind and [`IncidentTruth::id`].
    pub label: Option<(IncidentKind, u32)>,
}

/// Public view of a normal endpoint's profile.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointProfile {
    /// `METHOD /template`.
    pub name: &'static str,
    pub median_ms: f64,
    /// Lognormal sigma of the latency.
    pub sigma: f64,
    /// Mean size of a successful response, bytes.
    pub bytes_mean: f64,
    /// Share of the background traffic a browser client sends it (0 for probed/scraped endpoints).
    pub share: f64,
}

/// Profiles of every endpoint the simulated API serves.
pub fn endpoint_profiles() -> Vec<EndpointProfile> {
    let list = profile::endpoints();
    let total: f64 = list.iter().map(|e| e.weight).sum();
    list.iter()
        .map(|e| EndpointProfile {
            name: e.name,
            median_ms: e.median_ms,
            sigma: e.sigma,
            bytes_mean: e.bytes_mean,
            share: e.weight / total,
        })
        .collect()
}

/// What an incident targets.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    None,
    Known(usize),
    New { method: String, template: String },
}

/// An incident resolved against the profile, waiting or running.
#[derive(Debug, Clone)]
struct Active {
    truth: usize,
    kind: IncidentKind,
    start: f64,
    end: f64,
    intensity: f64,
    target: Target,
    client: Option<Client>,
    next_inject: Option<f64>,
}

impl Active {
    fn covers(&self, t: f64) -> bool {
        self.start <= t && t < self.end
    }
}

/// A periodic caller: health probe or metrics scraper.
#[derive(Debug, Clone)]
struct Monitor {
    next: f64,
    period: f64,
    client: Client,
    endpoint: usize,
}

/// The generator; see the module docs. Build it with [`TrafficGenerator::new`], iterate it for lines.
#[derive(Debug)]
pub struct TrafficGenerator {
    rng: StdRng,
    /// Incident draws, apart from `rng` so untouched lines match a clean run.
    irng: StdRng,
    rate: f64,
    daily_rhythm: bool,
    start: Timestamp,
    start_ms: i64,
    /// Seconds since UTC midnight of `start`.
    start_sod: f64,
    duration: Option<f64>,
    finished: bool,
    clock: f64,
    next_background: f64,
    endpoints: Vec<Endpoint>,
    clients: Vec<Client>,
    client_weights: WeightedIndex<f64>,
    browser_weights: WeightedIndex<f64>,
    api_weights: WeightedIndex<f64>,
    monitors: Vec<Monitor>,
    pending: VecDeque<Active>,
    active: Vec<Active>,
    truth: Vec<IncidentTruth>,
    writer: LineWriter,
    path: String,
    /// The application-log stream, apart from `rng` so the requests match a run without it.
    app_rng: StdRng,
    app_rate: f64,
    next_app: f64,
}

impl TrafficGenerator {
    /// A generator for `config`; fails if the rate or an incident is invalid.
    pub fn new(config: TrafficConfig) -> Result<Self, ScheduleError> {
        let rate = config.requests_per_sec;
        if !(rate.is_finite() && rate > 0.0) {
            return Err(ScheduleError::BadRate(rate));
        }
        let app_rate = config.app_lines_per_sec;
        if !(app_rate.is_finite() && app_rate >= 0.0) {
            return Err(ScheduleError::BadRate(app_rate));
        }
        let mut app_rng = StdRng::seed_from_u64(config.seed ^ 0x5851_f42d_4c95_7f2d);
        let next_app = if app_rate > 0.0 { profile::exp_gap(&mut app_rng, app_rate) } else { f64::INFINITY };
        let mut rng = StdRng::seed_from_u64(config.seed);
        let irng = StdRng::seed_from_u64(config.seed ^ 0x9e37_79b9_7f4a_7c15);
        let endpoints = profile::endpoints();
        let clients = profile::clients(&mut rng);
        let weights = |browser: bool| {
            WeightedIndex::new(endpoints.iter().map(|e| if e.browser_only && !browser { 0.0 } else { e.weight }))
                .expect("positive endpoint weights")
        };
        let browser_weights = weights(true);
        let api_weights = weights(false);
        let monitor = |ip: &str, ua: &'static str, period: f64, phase: f64, endpoint: usize| Monitor {
            next: phase,
            period,
            client: Client { ip: ip.to_string(), ua, browser: false },
            endpoint,
        };
        let monitors = vec![
            monitor("10.42.0.1", profile::PROBE_UA, 10.0, 1.3, profile::HEALTHZ),
            monitor("10.42.1.1", profile::PROBE_UA, 10.0, 6.1, profile::HEALTHZ),
            monitor("10.42.3.17", profile::SCRAPER_UA, 15.0, 4.2, profile::METRICS),
        ];
        let start_ms = config.start.as_millisecond();
        let start_sod =
            (config.start.as_second().rem_euclid(86_400)) as f64 + f64::from(config.start.subsec_nanosecond()) / 1e9;
        let mut generator = TrafficGenerator {
            next_background: super::profile::exp_gap(&mut rng, rate),
            rng,
            irng,
            rate,
            daily_rhythm: config.daily_rhythm,
            start: config.start,
            start_ms,
            start_sod,
            duration: config.duration_secs,
            finished: false,
            clock: 0.0,
            endpoints,
            clients,
            client_weights: profile::client_weights(),
            browser_weights,
            api_weights,
            monitors,
            pending: VecDeque::new(),
            active: Vec::new(),
            truth: Vec::new(),
            writer: LineWriter::new(config.format),
            path: String::with_capacity(128),
            app_rng,
            app_rate,
            next_app,
        };
        for incident in &config.incidents {
            generator.add_incident(incident)?;
        }
        Ok(generator)
    }

    /// Ground truth of every scheduled incident so far, by id (ids count from 1).
    pub fn incidents(&self) -> &[IncidentTruth] {
        &self.truth
    }

    /// Time of offset 0.
    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// Offset (seconds) of the last generated line.
    pub fn clock_secs(&self) -> f64 {
        self.clock
    }

    /// Schedules one more incident (it may not start before the last generated line); returns its id.
    pub fn add_incident(&mut self, incident: &ScheduledIncident) -> Result<u32, ScheduleError> {
        let index = self.truth.len();
        let kind = incident.kind;
        let start = incident.start_offset_secs;
        let duration = incident.duration_secs;
        if !(start.is_finite() && duration.is_finite() && start >= 0.0 && duration >= 0.0) {
            return Err(ScheduleError::BadTiming { index, kind });
        }
        if start < self.clock {
            return Err(ScheduleError::InThePast { index, kind, start_offset_secs: start, now_secs: self.clock });
        }
        let (min, max) = kind.intensity_limits();
        let intensity = match incident.intensity {
            Some(value) if value.is_finite() && (min..=max).contains(&value) => value,
            Some(value) => return Err(ScheduleError::BadIntensity { index, kind, value, min, max }),
            None => {
                let (lo, hi) = kind.intensity_range();
                lo + (hi - lo) * self.irng.gen::<f64>()
            }
        };
        if incident.client.is_some() && !kind.takes_client() {
            return Err(ScheduleError::NotApplicable { index, kind, field: "client" });
        }
        let target = self.resolve_target(index, kind, incident.endpoint.as_deref())?;
        let client = self.resolve_client(kind, incident.client.as_deref());
        let endpoint = match &target {
            Target::None => None,
            Target::Known(i) => Some(self.endpoints[*i].name.to_string()),
            Target::New { method, template } => Some(format!("{method} {template}")),
        };
        let id = index as u32 + 1;
        let (start_ms, origin) = (self.start_ms, self.start);
        let at = |offset: f64| {
            Timestamp::from_millisecond(start_ms.saturating_add((offset * 1000.0).round() as i64)).unwrap_or(origin)
        };
        self.truth.push(IncidentTruth {
            id,
            kind,
            endpoint,
            client: client.as_ref().map(|c| c.ip.clone()),
            start: at(start),
            end: at(start + duration),
            intensity,
            labelled_lines: 0,
            dropped_requests: 0,
        });
        let active =
            Active { truth: index, kind, start, end: start + duration, intensity, target, client, next_inject: None };
        let position = self.pending.partition_point(|p| p.start <= start);
        self.pending.insert(position, active);
        Ok(id)
    }

    fn resolve_target(
        &mut self,
        index: usize,
        kind: IncidentKind,
        name: Option<&str>,
    ) -> Result<Target, ScheduleError> {
        let known = |name: &str| self.endpoints.iter().position(|e| e.name == name);
        match (kind, name) {
            (k, None) if k.is_app() => Ok(Target::None),
            (k, Some(_)) if k.is_app() => Err(ScheduleError::NotApplicable { index, kind, field: "endpoint" }),
            (IncidentKind::Scanner, None) => Ok(Target::None),
            (IncidentKind::Scanner, Some(_)) => Err(ScheduleError::NotApplicable { index, kind, field: "endpoint" }),
            (IncidentKind::NewFailingEndpoint, name) => {
                let name = match name {
                    Some(name) => name.to_string(),
                    None => NEW_ENDPOINTS[self.irng.gen_range(0..NEW_ENDPOINTS.len())].to_string(),
                };
                let bad = || ScheduleError::NotANewEndpoint { index, kind, endpoint: name.clone() };
                let (method, template) = name.split_once(' ').ok_or_else(bad)?;
                let valid_method = !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase());
                let valid_path = template.starts_with('/') && !template.contains([' ', '"', '\\']);
                if !valid_method || !valid_path || known(&name).is_some() {
                    return Err(bad());
                }
                Ok(Target::New { method: method.to_string(), template: template.to_string() })
            }
            (_, Some(name)) => known(name).map(Target::Known).ok_or_else(|| ScheduleError::UnknownEndpoint {
                index,
                kind,
                endpoint: name.to_string(),
            }),
            (_, None) => {
                let choices = match kind {
                    IncidentKind::LoneSlow | IncidentKind::LargeResponses => LONE_SLOW_ENDPOINTS,
                    _ => BUSY_ENDPOINTS,
                };
                let name = choices[self.irng.gen_range(0..choices.len())];
                Ok(Target::Known(known(name).expect("incident endpoint lists name real endpoints")))
            }
        }
    }

    fn resolve_client(&mut self, kind: IncidentKind, ip: Option<&str>) -> Option<Client> {
        let irng = &mut self.irng;
        match kind {
            IncidentKind::Scanner => {
                let ip = match ip {
                    Some(ip) => ip.to_string(),
                    None => loop {
                        let private = irng.gen_bool(0.1);
                        let ip = profile::random_ipv4(irng, private);
                        if !self.clients.iter().any(|c| c.ip == ip) {
                            break ip;
                        }
                    },
                };
                let ua = if irng.gen_bool(0.65) {
                    SCANNER_UAS[irng.gen_range(0..SCANNER_UAS.len())]
                } else {
                    profile::BROWSER_UAS[irng.gen_range(0..profile::BROWSER_UAS.len())]
                };
                Some(Client { ip, ua, browser: false })
            }
            IncidentKind::LargeResponses | IncidentKind::LoneSlow => Some(match ip {
                Some(ip) => match self.clients.iter().find(|c| c.ip == ip) {
                    Some(client) => client.clone(),
                    None => Client {
                        ip: ip.to_string(),
                        ua: profile::BROWSER_UAS[irng.gen_range(0..profile::BROWSER_UAS.len())],
                        browser: true,
                    },
                },
                // A regular, moderately active client.
                None => self.clients[irng.gen_range(5..100)].clone(),
            }),
            _ => None,
        }
    }
}
