//! `pattern` anomalies in `scan`: application logs (free text and JSON, with levels) with a new
//! error message, a warning surging and a slow measure injected, learned from a clean history
//! (`--train`) and from a history that holds the incidents itself.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use support::daemon::bin;

mod support;

/// A tiny deterministic generator (no dependency on the crate's own).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Truth {
    Clean,
    NewError,
    Surge,
    Slow,
}

const START: i64 = 1_795_507_200; // 2026-11-24T08:00:00Z

fn stamp(t: f64) -> String {
    let ms = (t * 1000.0) as i64;
    let ts = jiff::Timestamp::from_millisecond(START * 1000 + ms).unwrap();
    ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// One clean line at `t`.
fn clean_line(rng: &mut Lcg, t: f64) -> String {
    let at = stamp(t);
    match rng.below(1000) {
        0..=299 => format!(
            "{at} INFO checkout: order {} placed by user {} in {}ms",
            100_000 + rng.below(900_000),
            rng.below(5000),
            20 + rng.below(40)
        ),
        300..=499 => format!("{at} INFO db: query took {} ms", 5 + rng.below(35)),
        500..=599 => format!("{at} INFO cache: refreshed {} keys", 100 + rng.below(50)),
        600..=749 => format!("{at} DEBUG worker: heartbeat ok"),
        750..=779 => format!("{at} WARN cache: miss for key user:{}", rng.below(5000)),
        780..=781 => format!("{at} WARN payments: gateway slow, retrying (attempt {})", 1 + rng.below(3)),
        782 => format!("{at} ERROR api: request {:08x} failed: upstream reset", rng.next()),
        _ => format!(
            r#"{{"time":"{at}","level":"info","msg":"payment authorised for order {}","amount":{}.{:02}}}"#,
            100_000 + rng.below(900_000),
            rng.below(200),
            rng.below(100)
        ),
    }
}

/// `secs` of clean lines from `from`, about two per second, with the incidents whose offsets
/// fall inside, each line with its truth.
fn log(seed: u64, from: f64, secs: f64, incidents_at: Option<f64>) -> Vec<(String, Truth)> {
    let mut rng = Lcg(seed);
    let mut out = Vec::new();
    let mut t = from;
    let mut injected = false;
    while t < from + secs {
        if let Some(at) = incidents_at {
            if !injected && t >= at {
                injected = true;
                // Each incident line is followed by a clean one: `n` lines from `start`, `gap` apart.
                let mut inject =
                    |start: f64, n: u64, gap: f64, after: f64, truth, line: &dyn Fn(f64, u64) -> String| {
                        for i in 0..n {
                            let tt = start + i as f64 * gap;
                            out.push((line(tt, i), truth));
                            out.push((clean_line(&mut rng, tt + after), Truth::Clean));
                        }
                    };
                // A new error: 17 lines over two minutes.
                inject(at, 17, 7.0, 0.2, Truth::NewError, &|tt, i| {
                    format!("{} ERROR db: Connection to 10.0.0.{}:5432 refused", stamp(tt), 7 + i % 3)
                });
                // A rare warning surging: 40 in a minute.
                inject(at + 300.0, 40, 1.5, 0.3, Truth::Surge, &|tt, i| {
                    format!("{} WARN payments: gateway slow, retrying (attempt {})", stamp(tt), 1 + i % 3)
                });
                // A measure far off its usual values.
                inject(at + 600.0, 5, 20.0, 0.4, Truth::Slow, &|tt, i| {
                    format!("{} INFO db: query took {} ms", stamp(tt), 5012 + i * 37)
                });
                t = at + 720.0;
                continue;
            }
        }
        out.push((clean_line(&mut rng, t), Truth::Clean));
        t += 0.2 + (rng.below(600) as f64) / 1000.0;
    }
    out
}

fn write(path: &std::path::Path, lines: &[(String, Truth)]) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for (l, _) in lines {
        writeln!(f, "{l}").unwrap();
    }
}

/// Per truth, lines and lines flagged as `pattern`; and the incident keys of the new error.
struct Outcome {
    lines: BTreeMap<Truth, usize>,
    flagged: BTreeMap<Truth, usize>,
    new_error_keys: BTreeSet<String>,
    detectors: BTreeMap<Truth, BTreeSet<String>>,
    examples: Vec<String>,
}

fn scan(args: &[&std::ffi::OsStr], truth: &[(String, Truth)]) -> Outcome {
    let out = bin().arg("scan").args(args).args(["--output", "jsonl", "--no-progress"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut o = Outcome {
        lines: BTreeMap::new(),
        flagged: BTreeMap::new(),
        new_error_keys: BTreeSet::new(),
        detectors: BTreeMap::new(),
        examples: Vec::new(),
    };
    for (_, t) in truth {
        *o.lines.entry(*t).or_default() += 1;
    }
    let mut seen = BTreeSet::new();
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        let a: serde_json::Value = serde_json::from_str(l).unwrap();
        let Some(n) = a["line"].as_u64() else { continue };
        if a["kind"] != "pattern" || !seen.insert(n) {
            continue;
        }
        let t = truth[n as usize - 1].1;
        *o.flagged.entry(t).or_default() += 1;
        for d in a["detectors"].as_array().unwrap() {
            o.detectors.entry(t).or_default().insert(d.as_str().unwrap().to_string());
        }
        if t == Truth::NewError {
            o.new_error_keys.insert(a["endpoint"].as_str().unwrap().to_string());
        }
        if t == Truth::Clean && o.examples.len() < 5 {
            o.examples.push(format!("{}: {}", a["reason"], a["raw"]));
        }
    }
    o
}

fn share(o: &Outcome, t: Truth) -> f64 {
    *o.flagged.get(&t).unwrap_or(&0) as f64 / *o.lines.get(&t).unwrap_or(&1) as f64
}

fn check(o: &Outcome, what: &str) {
    let report = format!(
        "{what}: lines {:?}, flagged {:?}, detectors {:?}, clean flagged {:?}",
        o.lines, o.flagged, o.detectors, o.examples
    );
    assert!(share(o, Truth::NewError) >= 0.9, "the new error is reported: {report}");
    assert_eq!(o.new_error_keys.len(), 1, "the new error is one incident, not one per line: {report}");
    assert!(o.detectors[&Truth::NewError].contains("pattern:new"), "{report}");
    assert!(share(o, Truth::Surge) >= 0.7, "the surge is reported: {report}");
    assert!(o.detectors[&Truth::Surge].iter().any(|d| d == "pattern:rate" || d == "pattern:level"), "{report}");
    assert!(share(o, Truth::Slow) >= 0.8, "the slow queries are reported: {report}");
    assert!(o.detectors[&Truth::Slow].contains("pattern:param"), "{report}");
    assert!(share(o, Truth::Clean) <= 0.005, "healthy lines stay quiet: {report}");
}

#[test]
fn learned_from_a_clean_history_the_new_error_the_surge_and_the_slow_queries_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let history = log(1, 0.0, 2.0 * 3600.0, None);
    let incidents = log(2, 2.0 * 3600.0, 1800.0, Some(2.0 * 3600.0 + 400.0));
    let (h, i) = (dir.path().join("history.log"), dir.path().join("today.log"));
    write(&h, &history);
    write(&i, &incidents);
    let o = scan(&["--train".as_ref(), h.as_os_str(), i.as_os_str()], &incidents);
    check(&o, "--train");
}

#[test]
fn a_history_that_holds_the_incidents_does_not_learn_them() {
    let dir = tempfile::tempdir().unwrap();
    // About 7,000 lines, fewer than `detection.training_events`: the whole file is the history
    // scan learns from.
    let lines = log(3, 0.0, 3600.0, Some(1500.0));
    let f = dir.path().join("app.log");
    write(&f, &lines);
    let o = scan(&[f.as_os_str()], &lines);
    check(&o, "self-trained");
}

#[test]
fn a_clean_application_log_is_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let history = log(4, 0.0, 2.0 * 3600.0, None);
    let today = log(5, 2.0 * 3600.0, 3600.0, None);
    let (h, t) = (dir.path().join("history.log"), dir.path().join("today.log"));
    write(&h, &history);
    write(&t, &today);
    for args in [vec![h.as_os_str(), t.as_os_str()], vec!["--train".as_ref(), h.as_os_str(), t.as_os_str()]] {
        let truth: Vec<_> =
            if args.len() == 2 { history.iter().chain(&today).cloned().collect() } else { today.clone() };
        let o = scan(&args, &truth);
        assert!(share(&o, Truth::Clean) <= 0.001, "{:?} {:?}", o.flagged, o.examples);
    }
}
