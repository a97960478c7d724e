//! The two readers must agree: whatever `flat` accepts, `walk` reads to the same fields.

use std::cell::RefCell;
use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

/// A field map with its key memo, as a `Parser` holds them, and both ways to read a line.
struct Readers {
    map: FieldMap,
    memo: RefCell<KeyMemo>,
}

impl Readers {
    fn new(map: FieldMap) -> Readers {
        Readers { map, memo: RefCell::default() }
    }

    /// The result and every field found, comparable: by `parse` (flat first, then the full reader).
    fn parsed(&self, line: &str) -> String {
        let mut found = Found::default();
        let r = parse(line, &self.map, &mut self.memo.borrow_mut(), &mut found);
        format!("{r:?} {found:?}")
    }

    /// The same, by the full reader alone.
    fn walked(&self, line: &str) -> String {
        let mut found = Found::default();
        let r = walk::parse(line, &self.map, &mut found);
        format!("{r:?} {found:?}")
    }

    fn flat_accepts(&self, line: &str) -> bool {
        flat::parse(line, &self.map, &mut self.memo.borrow_mut(), &mut Found::default()).is_some()
    }
}

const BASES: &[&str] = &[
    r#"{"time":"2026-11-24T00:00:00.035Z","remote_addr":"89.55.197.65","method":"GET","path":"/api/users?page=2","status":200,"response_time_ms":21.6,"bytes":1937,"user_agent":"ShopApp/4.2 (iOS 17.1)","referer":"-"}"#,
    r#"{"time_iso8601":"2026-11-24T03:00:00+00:00","remote_addr":"10.0.0.7","remote_user":"","request":"GET /api/users/4812?expand=orders HTTP/1.1","status":"200","body_bytes_sent":"1534","request_time":"0.042","http_user_agent":"Mozilla/5.0 (X11; Linux x86_64)","upstream_response_time":"0.040"}"#,
    r#"{ "ts" : 1764000000123 , "level" : "error" , "msg" : "upstream timed out" , "code" : 504 , "ok" : false , "retry" : null , "took_ms" : 0 }"#,
    r#"{"Status":"503","PATH":"/é/日本","Duration":"1.5s","ip":"203.0.113.7, 10.0.0.1","size":"-"}"#,
    r#"{}"#,
];

#[test]
fn flat_reads_the_common_access_log_shapes() {
    let r = Readers::new(FieldMap::default());
    for line in BASES {
        assert!(r.flat_accepts(line), "{line}");
        assert_eq!(r.parsed(line), r.walked(line), "{line}");
    }
    // Trailing whitespace after the object is still one object.
    assert!(r.flat_accepts("{\"status\":200}  \r\n"));
}

#[test]
fn flat_hands_over_what_it_does_not_handle() {
    let r = Readers::new(FieldMap::default());
    for line in [
        r#"{"path":"/a\/b","status":200}"#,      // escape
        r#"{"http":{"status":500}}"#,            // nested object
        r#"{"tags":["a","b"],"status":200}"#,    // array
        r#"{"status":-1}"#,                      // minus sign
        r#"{"response_time":1e-3}"#,             // exponent
        r#"{"status":200,}"#,                    // trailing comma: invalid
        r#"{"status":0200}"#,                    // leading zero: invalid
        r#"{"status":200} x"#,                   // trailing garbage
        r#"{"status":200"#,                      // unterminated
        "{\"msg\":\"tab\there\"}",               // raw control character: invalid
        r#"[{"status":200}]"#,                   // not an object
        r#"{"bytes":123456789012345678901234}"#, // beyond u64
    ] {
        assert!(!r.flat_accepts(line), "{line}");
        assert_eq!(r.parsed(line), r.walked(line), "{line}");
    }
}

#[test]
fn explicit_mappings_apply_in_both_readers() {
    let mut cfg = BTreeMap::new();
    cfg.insert("status".to_string(), "RESULT".to_string());
    cfg.insert("response_time_ms".to_string(), "timing.total".to_string());
    let r = Readers::new(FieldMap::new(&cfg));
    let line = r#"{"status":200,"result":"404","timing":7}"#;
    assert!(r.flat_accepts(line));
    assert_eq!(r.parsed(line), r.walked(line));
    let mut found = Found::default();
    parse(line, &r.map, &mut r.memo.borrow_mut(), &mut found).unwrap();
    assert_eq!(found.status.val, Some(404));
}

/// Random edits of valid lines (structural characters inserted, deleted, swapped; escapes,
/// signs and nesting sprinkled in) never make the two readers disagree, and the flat reader
/// still takes a good share of them.
#[test]
fn readers_agree_on_mutated_lines() {
    const PIECES: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"",
        "\\",
        "\\\"",
        "-",
        ".",
        "e",
        "E",
        "0",
        "7",
        " ",
        "\t",
        "\n",
        "true",
        "nul",
        "\u{1}",
        "é",
        "{\"a\":1}",
        "1.",
        ".5",
        "00",
    ];
    let readers = [Readers::new(FieldMap::default()), {
        let mut cfg = BTreeMap::new();
        cfg.insert("path".to_string(), "referer".to_string());
        Readers::new(FieldMap::new(&cfg))
    }];
    let mut rng = StdRng::seed_from_u64(7);
    let (mut tried, mut flat_took) = (0, 0);
    for round in 0..20_000 {
        let base = BASES[round % BASES.len()];
        let mut line = base.to_string();
        for _ in 0..rng.gen_range(0..3) {
            let mut at = rng.gen_range(0..=line.len());
            while !line.is_char_boundary(at) {
                at -= 1;
            }
            match rng.gen_range(0..3) {
                0 => line.insert_str(at, PIECES[rng.gen_range(0..PIECES.len())]),
                1 => {
                    let mut to = (at + rng.gen_range(1..4)).min(line.len());
                    while !line.is_char_boundary(to) {
                        to += 1;
                    }
                    line.replace_range(at..to, "");
                }
                _ => line.replace_range(at..at, PIECES[rng.gen_range(0..PIECES.len())]),
            }
        }
        let r = &readers[round % readers.len()];
        tried += 1;
        if r.flat_accepts(&line) {
            flat_took += 1;
            assert!(walk::parse(&line, &r.map, &mut Found::default()).is_ok(), "flat accepted invalid JSON: {line}");
        }
        assert_eq!(r.parsed(&line), r.walked(&line), "{line}");
    }
    assert!(flat_took > tried / 4, "flat reader took only {flat_took} of {tried} lines");
}
