//! Sessions (`pattern:session`) in `scan`: lines carrying one id are judged together when the
//! session ends. An order flow whose broken orders (shipped unpaid, charged twice) hide among
//! normal ones, in a history that holds them too; and the HDFS block labels of ../shared.

use std::collections::BTreeSet;
use std::io::Write;

use support::daemon::bin;

mod support;

struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Order {
    Normal,
    Unpaid,
    ChargedTwice,
}

const START: i64 = 1_795_507_200; // 2026-11-24T08:00:00Z

/// `n` orders, one starting every 1.5 s, each over about 20 s (so about 14 are open at once);
/// every `broken_every`-th is broken, alternately unpaid and charged twice. `json`: the lines
/// are JSON with the id in `order_id` (else free text naming `ord-<n>`). Returns the lines in
/// time order and each order's id and truth.
fn orders(seed: u64, first: u64, n: u64, broken_every: u64, json: bool) -> (Vec<String>, Vec<(String, Order)>) {
    let mut rng = Lcg(seed);
    let mut lines: Vec<(f64, String)> = Vec::new();
    let mut truth = Vec::new();
    for k in 0..n {
        let id = format!("ord-{}", first + k);
        let kind = if k % broken_every == broken_every / 2 {
            if (k / broken_every) % 2 == 0 {
                Order::Unpaid
            } else {
                Order::ChargedTwice
            }
        } else {
            Order::Normal
        };
        let mut t = START as f64 + first as f64 * 1.5 + k as f64 * 1.5;
        let mut step = |rng: &mut Lcg| {
            t += 1.0 + rng.below(4000) as f64 / 1000.0;
            t
        };
        let items = 1 + rng.below(4);
        let mut msgs: Vec<String> = vec![format!("order {id} received with {items} items")];
        for i in 0..items {
            msgs.push(format!("stock reserved for {id} item {}", 1000 + rng.below(9000) + i));
        }
        let paid = format!(
            "payment authorised for {id}: {}.{:02} EUR in {} ms",
            rng.below(300),
            rng.below(100),
            20 + rng.below(80)
        );
        match kind {
            Order::Normal => msgs.push(paid),
            Order::ChargedTwice => {
                msgs.push(paid.clone());
                msgs.push(paid);
            }
            Order::Unpaid => {}
        }
        msgs.push(format!("order {id} shipped via carrier {}", ["dhl", "ups", "gls"][rng.below(3) as usize]));
        for m in msgs {
            let at = step(&mut rng);
            let stamp =
                jiff::Timestamp::from_millisecond((at * 1000.0) as i64).unwrap().strftime("%Y-%m-%dT%H:%M:%S%.3fZ");
            let line = if json {
                let text = m.replace(&format!("{id} "), "").replace(&format!("{id}:"), ":");
                format!(r#"{{"time":"{stamp}","level":"info","msg":"{text}","order_id":"{id}"}}"#)
            } else {
                format!("{stamp} INFO shop: {m}")
            };
            lines.push((at, line));
        }
        truth.push((id, kind));
    }
    lines.sort_by(|a, b| a.0.total_cmp(&b.0));
    (lines.into_iter().map(|(_, l)| l).collect(), truth)
}

fn write(path: &std::path::Path, lines: &[String]) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

/// The sessions `scan` reports as `pattern:session`, and one reason.
fn flagged_sessions(args: &[&std::ffi::OsStr]) -> (BTreeSet<String>, Vec<String>) {
    let out = bin().arg("scan").args(args).args(["--output", "jsonl", "--no-progress"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut found = BTreeSet::new();
    let mut reasons = Vec::new();
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        let a: serde_json::Value = serde_json::from_str(l).unwrap();
        if a["detectors"].as_array().unwrap().iter().any(|d| d == "pattern:session") {
            found.insert(a["session"].as_str().expect("a session anomaly names its session").to_string());
            reasons.push(a["reason"].as_str().unwrap().to_string());
        }
    }
    (found, reasons)
}

fn check(found: &BTreeSet<String>, truth: &[(String, Order)], reasons: &[String], what: &str) {
    let broken: Vec<&(String, Order)> = truth.iter().filter(|(_, k)| *k != Order::Normal).collect();
    let caught = broken.iter().filter(|(id, _)| found.contains(id)).count();
    let normal = truth.len() - broken.len();
    let false_alarms = truth.iter().filter(|(id, k)| *k == Order::Normal && found.contains(id)).count();
    let show = format!(
        "{what}: {caught} of {} broken orders, {false_alarms} of {normal} normal ones; {:?}",
        broken.len(),
        &reasons[..reasons.len().min(3)]
    );
    assert!(caught as f64 >= 0.95 * broken.len() as f64, "{show}");
    assert!(false_alarms as f64 <= 0.01 * normal as f64, "{show}");
    for kind in [Order::Unpaid, Order::ChargedTwice] {
        assert!(broken.iter().any(|(id, k)| *k == kind && found.contains(id)), "both kinds are caught: {show}");
    }
}

fn config(dir: &std::path::Path, key: &str) -> std::path::PathBuf {
    let c = dir.join("sessions.toml");
    std::fs::write(&c, format!("[patterns.sessions]\n{key}\nidle_secs = 60\n")).unwrap();
    c
}

#[test]
fn broken_orders_in_a_history_that_holds_them_are_reported_when_they_end() {
    let dir = tempfile::tempdir().unwrap();
    // 3,000 orders, 2 % broken, all in one file: scan learns from the sessions themselves.
    let (lines, truth) = orders(1, 0, 3000, 50, false);
    let f = dir.path().join("shop.log");
    write(&f, &lines);
    let c = config(dir.path(), r"key_regex = 'ord-\d+'");
    let (found, reasons) = flagged_sessions(&["-c".as_ref(), c.as_os_str(), f.as_os_str()]);
    check(&found, &truth, &reasons, "self-trained");
    // The reason names what broke, in the templates' words.
    let paid = "\"payment authorised for <*>: <*> EUR in <*>\"";
    for broke in [format!("{paid} never"), format!("{paid} 2 times")] {
        assert!(reasons.iter().any(|r| r.contains(&broke)), "{broke}: {:?}", &reasons[..reasons.len().min(3)]);
    }
}

#[test]
fn a_key_field_groups_json_lines_and_training_on_a_clean_history_works() {
    let dir = tempfile::tempdir().unwrap();
    let (history, _) = orders(2, 0, 1500, 1_000_000, true);
    let (today, truth) = orders(3, 1500, 1000, 25, true);
    let (h, t) = (dir.path().join("history.log"), dir.path().join("today.log"));
    write(&h, &history);
    write(&t, &today);
    let c = config(dir.path(), "key_field = 'order_id'");
    let (found, reasons) =
        flagged_sessions(&["-c".as_ref(), c.as_os_str(), "--train".as_ref(), h.as_os_str(), t.as_os_str()]);
    check(&found, &truth, &reasons, "--train, key_field");
}

#[test]
fn without_a_session_key_there_are_no_session_anomalies() {
    let dir = tempfile::tempdir().unwrap();
    let (lines, _) = orders(4, 0, 2000, 20, false);
    let f = dir.path().join("shop.log");
    write(&f, &lines);
    let (found, _) = flagged_sessions(&[f.as_os_str()]);
    assert!(found.is_empty(), "{found:?}");
}

/// Block-level scores on the HDFS labels (`scripts/sessions_hdfs.py`, which writes HDFS lines for
/// the labelled block sequences; the README's table comes from the same script).
#[test]
fn hdfs_blocks_are_found_near_the_ceiling_of_the_data() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/datasets/hdfs-100k/hdfs_100k_blocks.csv");
    if !std::path::Path::new(data).exists() {
        eprintln!("SKIPPED hdfs_blocks_are_found_near_the_ceiling_of_the_data: no {data} (HDFS_v1 via deep-loglizer, see ../shared/datasets/README.md)");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/sessions_hdfs.py");
    let out = std::process::Command::new("python3")
        .args([script, env!("CARGO_BIN_EXE_anomaly-detector"), "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cases: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let score = |i: usize, at: usize| cases[i]["scores"][at].as_f64().unwrap();
    // All blocks, learned from themselves: the best any count-based detector can do on this
    // sample is F1 0.657 (P 0.987, R 0.492; ../shared/datasets/README.md).
    assert!(score(0, 5) >= 0.6, "{cases}");
    assert!(score(0, 3) >= 0.9, "{cases}");
    assert!(score(1, 5) >= 0.6, "{cases}");
    assert!(score(2, 1) >= 0.95, "DeepLog's anomalous sessions: {cases}");
    assert!(score(3, 1) <= 0.01, "normal blocks stay quiet: {cases}");
}
