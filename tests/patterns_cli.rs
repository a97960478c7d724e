//! `anomaly-detector patterns`: one JSON object per input line across files, structured lines
//! templated by their message, and a text listing with counts and levels.

use std::io::Write;

use support::daemon::bin;

mod support;

#[test]
fn jsonl_has_one_object_per_line_across_files_and_groups_lines_by_their_template() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let mut fa = std::fs::File::create(&a).unwrap();
    for i in 0..30 {
        writeln!(fa, "2026-12-01 10:00:{:02} INFO checkout: order {} paid in {} ms", i, 1000 + i, 20 + i).unwrap();
        writeln!(fa, "2026-12-01 10:00:{:02} ERROR checkout: connection to 10.0.0.{} refused", i, i % 7).unwrap();
    }
    drop(fa);
    let mut fb = std::fs::File::create(&b).unwrap();
    for i in 0..10 {
        writeln!(
            fb,
            r#"{{"time":"2026-12-01T10:01:{i:02}Z","level":"error","msg":"connection to 10.0.1.{i} refused"}}"#
        )
        .unwrap();
    }
    drop(fb);
    let out = bin().args(["patterns", "--output", "jsonl"]).arg(&a).arg(&b).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 70);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["line"], i + 1, "1-based line numbers across the files");
        assert!(r["pattern"].is_string() && r["template"].is_string(), "{r}");
    }
    let pattern = |i: usize| rows[i]["pattern"].as_str().unwrap().to_string();
    assert!((0..60).step_by(2).all(|i| pattern(i) == pattern(0)), "the paid lines are one template");
    assert!((1..60).step_by(2).all(|i| pattern(i) == pattern(1)), "the refused lines are one template");
    assert_ne!(pattern(0), pattern(1));
    // "20 ms" is one variable: a duration with its unit.
    assert_eq!(rows[0]["template"], "order <*> paid in <*>");
    // A JSON line is templated by its message: the same words as the free-text refusals.
    assert_eq!(rows[60]["template"], "connection to <*> refused");
    assert!((60..70).all(|i| pattern(i) == pattern(60)));
}

#[test]
fn text_lists_templates_most_frequent_first_with_their_levels() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("app.log");
    let mut f = std::fs::File::create(&a).unwrap();
    for i in 0..20 {
        writeln!(f, r#"{{"level":"info","msg":"user {i} logged in"}}"#).unwrap();
    }
    for i in 0..5 {
        writeln!(f, r#"{{"level":"warn","msg":"cache miss for key {i}"}}"#).unwrap();
    }
    drop(f);
    let out = bin().arg("patterns").arg(&a).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let logged = text.find("user <*> logged in").expect("the first template");
    let miss = text.find("cache miss for key <*>").expect("the second template");
    assert!(logged < miss, "most frequent first:\n{text}");
    assert!(text.contains("      20  ") && text.contains("  info  ") && text.contains("  warn  "), "{text}");
    assert!(text.contains("25 lines, 2 templates"), "{text}");
}

#[test]
fn a_missing_input_is_an_error_naming_it() {
    let out = bin().args(["patterns", "/nonexistent/app.log"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/app.log"));
}
