//! Throughput and memory benchmark.
//!
//! * `cargo bench --bench patterns -- [DATA_DIR] [--lines N] [--runs R]`: builds N (default 1,000,000)
//!   lines by cycling through the 16 Loghub-2k files with every digit replaced
//!   by a pseudo-random one (fixed seed), then mines them R times (default 3)
//!   with a fresh default miner on one thread. Reports lines/s (best, median),
//!   templates and peak memory.
//! * `cargo bench --bench patterns -- --cap [--templates T] [--lines N]`: a stream drawn from T
//!   (default 20,000) distinct synthetic templates, to show the template cap
//!   holds and resident memory stays bounded.

use std::path::Path;
use std::time::Instant;

use anomaly_detector::patterns::{Miner, MinerConfig};

use anomaly_detector::patterns::LOGHUB_2K_SYSTEMS as SYSTEMS;

/// xorshift64*: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().any(|a| a == name);
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|v| v.parse::<usize>().unwrap_or_else(|_| panic!("{name} needs a number")))
    };
    if flag("--cap") {
        cap_run(value("--templates").unwrap_or(20_000), value("--lines").unwrap_or(400_000));
        return;
    }
    let dir = args
        .iter()
        .find(|a| !a.starts_with("--") && a.parse::<usize>().is_err())
        .cloned()
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/datasets/loghub-2k").into());
    throughput_run(&dir, value("--lines").unwrap_or(1_000_000), value("--runs").unwrap_or(3));
}

fn throughput_run(dir: &str, n: usize, runs: usize) {
    let lines = build_lines(dir, n);
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    println!(
        "input: {} lines, {:.1} MB, RSS after loading {} MB",
        lines.len(),
        bytes as f64 / 1e6,
        status_kb("VmRSS") / 1024
    );
    let mut rates = Vec::new();
    let mut cpu_rates = Vec::new();
    for run in 1..=runs {
        let rss_before = status_kb("VmRSS");
        let mut m = Miner::new(MinerConfig::default());
        let cpu0 = thread_cpu_secs();
        let start = Instant::now();
        let mut sink = 0u64;
        for l in &lines {
            sink = sink.wrapping_add(m.add(l).as_u64());
        }
        let secs = start.elapsed().as_secs_f64();
        let cpu = thread_cpu_secs() - cpu0;
        let rate = lines.len() as f64 / secs;
        rates.push(rate);
        cpu_rates.push(lines.len() as f64 / cpu);
        let st = m.stats();
        let grown = status_kb("VmRSS").saturating_sub(rss_before);
        println!(
            "run {run}: {:.3} s, {:.0} lines/s, {:.1} MB/s, {} templates, cache hits {:.1}%, created {}, merged {}, evicted {}, RSS growth {} kB (checksum {sink:x})",
            secs,
            rate,
            bytes as f64 / secs / 1e6,
            m.len(),
            100.0 * st.cache_hits as f64 / st.lines as f64,
            st.created,
            st.merged,
            st.evicted,
            grown
        );
    }
    rates.sort_by(f64::total_cmp);
    cpu_rates.sort_by(f64::total_cmp);
    println!("lines/s (wall clock, Instant): best {:.0}, median {:.0}", rates[rates.len() - 1], rates[rates.len() / 2]);
    println!(
        "lines/s (thread CPU time, 10 ms ticks): best {:.0}, median {:.0}",
        cpu_rates[cpu_rates.len() - 1],
        cpu_rates[cpu_rates.len() / 2]
    );
    println!(
        "peak memory (VmHWM): {} MB (includes the {:.0} MB input held in memory)",
        status_kb("VmHWM") / 1024,
        bytes as f64 / 1e6
    );
}

/// `n` lines cycling through the 16 files, digits randomised.
fn build_lines(dir: &str, n: usize) -> Vec<String> {
    let mut base = Vec::new();
    for s in SYSTEMS {
        let p = Path::new(dir).join(s).join(format!("{s}_2k.log"));
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        base.extend(text.lines().map(|l| l.strip_suffix('\r').unwrap_or(l).to_string()));
    }
    let mut rng = Rng(0x1234_5678_9abc_def1);
    (0..n)
        .map(|i| {
            base[i % base.len()]
                .chars()
                .map(|c| if c.is_ascii_digit() { char::from(b'0' + (rng.next() % 10) as u8) } else { c })
                .collect()
        })
        .collect()
}

/// Lines from `t` distinct templates (digit-free words that differ at every
/// position, so nothing merges), in random order.
fn cap_run(t: usize, n: usize) {
    let cfg = MinerConfig::default();
    let cap = cfg.max_templates;
    let mut m = Miner::new(cfg);
    let mut rng = Rng(42);
    let rss0 = status_kb("VmRSS");
    let mut max_len = 0;
    let start = Instant::now();
    let mut line = String::new();
    for i in 0..n {
        let k = (rng.next() % t as u64) as usize;
        synthetic_line(k, rng.next() % 100_000, &mut line);
        m.add(&line);
        max_len = max_len.max(m.len());
        if (i + 1) % (n / 4) == 0 {
            println!(
                "after {:>7} lines: {:>6} live templates (cap {cap}), RSS {} MB",
                i + 1,
                m.len(),
                status_kb("VmRSS") / 1024
            );
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let st = m.stats();
    println!(
        "{t} distinct templates, {n} lines: max live {max_len} (cap {cap}), created {}, evicted {}, {:.0} lines/s",
        st.created,
        st.evicted,
        n as f64 / secs
    );
    println!("RSS before {} MB, peak (VmHWM) {} MB", rss0 / 1024, status_kb("VmHWM") / 1024);
    assert!(max_len <= cap, "cap exceeded");
}

fn synthetic_line(k: usize, value: u64, out: &mut String) {
    out.clear();
    out.push_str("2024-05-01 12:00:00 INFO synth: ");
    let words = 4 + k % 5;
    for j in 0..words {
        let mut h = (k as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (j as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        for _ in 0..6 {
            out.push(char::from(b'a' + (h % 26) as u8));
            h /= 26;
        }
        out.push(' ');
    }
    out.push_str("value=");
    out.push_str(&value.to_string());
}

/// User + system CPU time of this thread, from /proc (clock ticks of 10 ms);
/// unlike wall time it does not count time the thread was preempted.
fn thread_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok());
    match (tick(11), tick(12)) {
        (Some(u), Some(s)) => (u + s) as f64 / 100.0,
        _ => f64::NAN,
    }
}

/// A field of /proc/self/status, in kB (0 where unavailable).
fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
