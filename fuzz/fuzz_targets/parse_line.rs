//! The parser on arbitrary lines: never panics, and what it yields is plausible (a timestamp the
//! parser accepts is no earlier than 1990, a latency is finite and not negative, the endpoint is
//! never empty), whatever the format it took the line for.
#![no_main]

use anomaly_detector::config::ParseConfig;
use anomaly_detector::parse::Parser;
use anomaly_detector::source::RawLine;
use libfuzzer_sys::fuzz_target;

thread_local! {
    // One parser for the run, as the daemon keeps one: its key memo carries over between lines.
    static PARSER: Parser = Parser::new(&ParseConfig::default());
}

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data).into_owned();
    let now = jiff::Timestamp::from_second(1_780_000_000).unwrap();
    let raw = RawLine { timestamp: now, labels: Default::default(), line, line_no: 1, truncated: false };
    let e = PARSER.with(|p| p.parse(raw));
    if e.own_time {
        assert!(e.time.as_second() >= 631_152_000, "a timestamp before 1990 was accepted: {}", e.time);
    }
    if let Some(rt) = e.response_time_ms {
        assert!(rt.is_finite() && rt >= 0.0, "latency {rt}");
    }
    assert!(!e.endpoint.is_empty());
});
