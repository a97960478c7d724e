//! Behaviour of the public API: stability, merging, masks, eviction,
//! multi-line events and grouping accuracy on a small synthetic sample.

use std::collections::HashMap;

use anomaly_detector::patterns::{Miner, MinerConfig, TemplateId};

fn miner() -> Miner {
    Miner::new(MinerConfig::default())
}

#[test]
fn same_line_twice_gets_same_id() {
    let mut m = miner();
    let line = "2024-01-01 10:00:00 INFO svc: connection reset by peer";
    let a = m.add(line);
    let b = m.add(line);
    assert_eq!(a, b);
    assert_eq!(m.len(), 1);
    let info = m.info(a).unwrap();
    assert_eq!(info.count, 2);
    assert_eq!((info.first_seen, info.last_seen), (1, 2));
    assert_eq!(info.examples, vec![line.to_string()]);
}

#[test]
fn ids_stay_valid_after_merges() {
    let mut m = miner();
    let users = ["alice", "bob", "carol", "dave", "erin"];
    let ids: Vec<TemplateId> =
        users.iter().map(|u| m.add(&format!("Jun 14 15:16:02 host sshd[42]: session opened for user {u}"))).collect();
    // Digit-free words need evidence: the first ones start as separate
    // templates, then merge; every id handed out resolves to the merged one.
    let canon = m.resolve(ids[0]).unwrap();
    for &id in &ids {
        assert_eq!(m.resolve(id), Some(canon));
        assert_eq!(m.template(id).unwrap(), "session opened for user <*>");
    }
    assert_eq!(m.len(), 1);
    assert_eq!(m.info(ids[0]).unwrap().count, users.len() as u64);
    // A later value joins directly.
    let later = m.add("Jun 14 15:16:09 host sshd[43]: session opened for user zoe");
    assert_eq!(m.resolve(later), Some(canon));
}

#[test]
fn two_values_are_not_enough_to_merge() {
    let mut m = miner();
    let a = m.add("Dec 10 06:55:46 host sshd[1]: session opened for user root");
    let b = m.add("Dec 10 06:55:47 host sshd[2]: session closed for user root");
    assert_ne!(m.resolve(a), m.resolve(b));
}

#[test]
fn each_variable_kind_is_masked() {
    let pairs = [
        ("took 17 steps", "took 923 steps"),                // integer
        ("load 0.75 now", "load 12.5 now"),                 // decimal
        ("addr 0x7fed806eb5d ok", "addr 0xff83e97c ok"),    // hex
        ("peer 10.0.0.1 up", "peer 192.168.10.20:8080 up"), // IPv4 (+port)
        ("peer fe80::1 up", "peer [2001:db8::7]:443 up"),   // IPv6
        ("req 123e4567-e89b-12d3-a456-426614174000 done", "req 9f1c2d3e-0000-4abc-8def-1234567890ab done"), // UUID
        ("open /var/log/messages failed", "open /etc/passwd failed"), // path
        ("fetch https://a.example.com/x?y=1 ok", "fetch http://b.org/ ok"), // URL
        ("done in 5012ms total", "done in 3.2s total"),     // duration
        ("mail from alice@example.com queued", "mail from bob@corp.org queued"), // e-mail
        ("at 2024-01-02T10:11:12 tick", "at 2023-12-31 tick"), // timestamp
        ("on Mon Dec 04 tick", "on Sun Jan 07 tick"),       // day/month names
        ("host proxy.example.edu:5070 gone", "host db.example.com gone"), // host names
    ];
    for (a, b) in pairs {
        let mut m = miner();
        let x = m.add(&format!("INFO app: {a}"));
        let y = m.add(&format!("INFO app: {b}"));
        assert_eq!(x, y, "{a:?} vs {b:?} -> {:?}", m.template(x));
    }
}

#[test]
fn quoted_strings_can_be_masked() {
    let mut m = Miner::new(MinerConfig { mask_quoted: true, ..MinerConfig::default() });
    let a = m.add(r#"INFO app: acquire lock tag="View Lock" ok"#);
    let b = m.add(r#"INFO app: acquire lock tag="other thing entirely" ok"#);
    assert_eq!(a, b);
    assert_eq!(m.template(a).unwrap(), "acquire lock tag=<*> ok");
}

#[test]
fn cap_evicts_least_recently_seen() {
    let cap = 100;
    let mut m = Miner::new(MinerConfig { max_templates: cap, ..MinerConfig::default() });
    let word = |i: usize| -> String {
        let mut s = String::new();
        let mut k = i + 1;
        while k > 0 {
            s.push(char::from(b'a' + (k % 26) as u8));
            k /= 26;
        }
        s
    };
    let mut ids = Vec::new();
    for i in 0..1000 {
        let line = format!("INFO app: {} {} {} happened", word(i), word(i * 7 + 3), word(i * 13 + 5));
        ids.push(m.add(&line));
        assert!(m.len() <= cap);
    }
    assert!(m.stats().evicted >= 900);
    assert_eq!(m.resolve(ids[0]), None, "oldest template was evicted");
    assert!(m.template(ids[0]).is_none());
    assert!(m.resolve(ids[999]).is_some(), "newest template is live");
    // A template that keeps being seen survives.
    let mut m = Miner::new(MinerConfig { max_templates: cap, ..MinerConfig::default() });
    let hot = m.add("INFO app: heartbeat ok");
    for i in 0..1000 {
        m.add(&format!("INFO app: {} {} once", word(i), word(i * 3 + 1)));
        m.add("INFO app: heartbeat ok");
    }
    assert!(m.resolve(hot).is_some());
}

#[test]
fn multiline_entry_is_one_event() {
    let mut m = miner();
    let a = m.add(
        "2024-01-01 10:00:00 ERROR app.Main: request 17 failed: java.lang.IllegalStateException: boom\n\tat a.B.c(B.java:10)\n\tat a.D.e(D.java:20)",
    );
    let b = m.add(
        "2024-01-01 10:00:05 ERROR app.Main: request 18 failed: java.lang.IllegalStateException: boom\n\tat a.B.c(B.java:10)\n\tat x.Y.z(Y.java:5)\n\tat a.D.e(D.java:20)",
    );
    let single = m.add("2024-01-01 10:00:06 ERROR app.Main: request 19 failed: java.lang.IllegalStateException: boom");
    assert_eq!(a, b);
    assert_ne!(m.resolve(a), m.resolve(single));
    let t = m.template(a).unwrap();
    assert!(t.ends_with("\n<*>"), "{t}");
    assert_eq!(m.info(a).unwrap().count, 2);
}

#[test]
fn caller_timestamps_are_recorded() {
    let mut m = miner();
    let id = m.add_at("INFO app: tick 1", 1_700_000_000);
    m.add_at("INFO app: tick 2", 1_700_000_060);
    m.add_at("INFO app: tick 3", 1_700_000_030);
    let info = m.info(id).unwrap();
    assert_eq!((info.first_seen, info.last_seen), (1_700_000_000, 1_700_000_060));
}

#[test]
fn examples_are_bounded() {
    let mut m = miner();
    let mut id = None;
    for i in 0..10 {
        id = Some(m.add(&format!("INFO app: tick {i}")));
    }
    assert_eq!(m.info(id.unwrap()).unwrap().examples.len(), 3);
}

/// GA (Zhu et al.): a line is right iff its predicted group has exactly the
/// lines of its true group.
fn grouping_accuracy(pred: &[TemplateId], truth: &[&str]) -> f64 {
    let mut p: HashMap<TemplateId, Vec<usize>> = HashMap::new();
    let mut t: HashMap<&str, Vec<usize>> = HashMap::new();
    for i in 0..pred.len() {
        p.entry(pred[i]).or_default().push(i);
        t.entry(truth[i]).or_default().push(i);
    }
    let ok = (0..pred.len()).filter(|&i| p[&pred[i]] == t[truth[i]]).count();
    ok as f64 / pred.len() as f64
}

#[test]
fn grouping_accuracy_on_synthetic_sample() {
    let sample = include_str!("data/synthetic.log");
    let (truth, lines): (Vec<&str>, Vec<&str>) =
        sample.lines().map(|l| l.split_once('\t').expect("label<TAB>line")).unzip();
    let mut m = miner();
    let ids: Vec<TemplateId> = lines.iter().map(|l| m.add(l)).collect();
    let pred: Vec<TemplateId> = ids.iter().map(|&id| m.resolve(id).unwrap()).collect();
    let ga = grouping_accuracy(&pred, &truth);
    assert!(ga >= 0.999, "GA {ga}: {:#?}", m.templates());
}

#[test]
fn many_merged_variants_all_resolve() {
    let mut m = miner();
    let base = m.add("INFO ntpd: synchronized to 10.0.0.1, stratum 3");
    let mut ids = Vec::new();
    for i in 0..200u32 {
        let name: String = (0..4).map(|k| char::from(b'A' + ((i / 26u32.pow(k)) % 26) as u8)).collect();
        ids.push(m.add(&format!("INFO ntpd: synchronized to {name}(0), stratum 3")));
    }
    let canon = m.resolve(base).unwrap();
    assert!(ids.iter().all(|&id| m.resolve(id) == Some(canon)));
    assert_eq!(m.len(), 1);
    assert_eq!(m.info(base).unwrap().count, 201);
}

#[test]
fn fixed_column_header_is_learned_and_early_templates_rekeyed() {
    // `<id> <node> <component> <state> <time> <flag> message`: component and
    // state are constants between masked columns, so only learning can tell
    // they are header.
    let comps = ["switch_module error", "switch_module bcast-error", "unix.hw net.up", "node status"];
    let msgs = [
        "Link error",
        "Link ok",
        "Link in reset",
        "running",
        "not responding",
        "Fan speeds low",
        "Temperature high",
        "Power supply failed",
        "Cable removed",
        "Boot done",
    ];
    let mut m = miner();
    let mut first_link_error = Vec::new();
    for i in 0..400usize {
        let comp = comps[i % comps.len()];
        let msg = msgs[(i / 3) % msgs.len()];
        let line = format!("{} node-{} {comp} {} 1 {msg}", 100_000 + i, i % 50, 1_077_000_000 + i);
        let id = m.add(&line);
        if msg == "Link error" {
            first_link_error.push(id);
        }
    }
    let canon = m.resolve(first_link_error[0]).unwrap();
    assert!(first_link_error.iter().all(|&id| m.resolve(id) == Some(canon)));
    assert_eq!(m.template(canon).unwrap(), "Link error");
    assert_eq!(m.len(), msgs.len());
}

#[test]
fn odd_inputs_do_not_panic() {
    let fixed = [
        "",
        "   ",
        "\n",
        "\r\n",
        "\"",
        "a \" b",
        "[[[[",
        "]]]] - | : :",
        "ünïcödé wörds ☃ 42",
        "12 34 56",
        "x=",
        "=x",
        "::::",
        "....0",
        "a\n\n\n",
        "ERROR",
    ];
    let long = "word ".repeat(5000);
    let alphabet: Vec<char> = "ab Z09-_.:/\\@[](){}=,;|<>\"'*\té☃\n".chars().collect();
    for quoted in [false, true] {
        let mut m = Miner::new(MinerConfig { mask_quoted: quoted, max_templates: 50, ..MinerConfig::default() });
        for l in fixed.iter().copied().chain(std::iter::once(long.as_str())) {
            let id = m.add(l);
            assert!(m.template(id).is_some());
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..3000 {
            let mut line = String::new();
            for _ in 0..(x % 60) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                line.push(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            let id = m.add(&line);
            assert!(m.resolve(id).is_some(), "fresh id must resolve: {line:?}");
            assert!(m.len() <= 50);
        }
    }
}
#[test]
fn snapshot_round_trip_keeps_ids() {
    let mut m = miner();
    let users = ["alice", "bob", "carol", "dave"];
    let ids: Vec<TemplateId> =
        users.iter().map(|u| m.add(&format!("Jun 14 15:16:02 host sshd[42]: session opened for user {u}"))).collect();
    let other = m.add("Jun 14 15:16:03 host sshd[43]: connection closed by 10.0.0.1");
    let json = m.to_json();
    let mut r = Miner::from_json(&json).expect("restores");
    for &id in ids.iter().chain([&other]) {
        assert_eq!(r.resolve(id), m.resolve(id));
        assert_eq!(r.template(id), m.template(id));
        assert_eq!(r.info(id), m.info(id));
    }
    // It keeps mining where it left off.
    let next = r.add("Jun 14 15:17:00 host sshd[44]: session opened for user zoe");
    assert_eq!(r.resolve(next), r.resolve(ids[0]));
    assert_eq!(r.stats().lines, 6);
    assert!(Miner::from_json("{}").is_err());
}
