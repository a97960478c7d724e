//! The line reader on arbitrary bytes, read in chunks of every size: never panics, one line per
//! newline (plus a last line without one), each within the cap, and valid UTF-8 that needed no cut
//! comes back exactly.
#![no_main]

use anomaly_detector::source::file::split_all;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, u8, &[u8])| {
    let (chunk, cap, data) = input;
    let chunk = usize::from(chunk).max(1);
    let cap = usize::from(cap).max(1) * 4;
    let lines = split_all(data, chunk, cap);
    let newlines = data.iter().filter(|b| **b == b'\n').count();
    let trailing = usize::from(!data.is_empty() && data.last() != Some(&b'\n'));
    assert_eq!(lines.len(), newlines + trailing, "one line per newline");
    for (line, truncated) in &lines {
        // A cut line keeps at most `cap` bytes; invalid bytes become U+FFFD (3 bytes for 1).
        assert!(line.len() <= cap * 3, "{} > cap {cap}", line.len());
        assert!(!line.contains('\n'));
        let _ = truncated;
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if !text.contains('\r') && lines.iter().all(|(_, t)| !t) {
            let joined: Vec<&str> = lines.iter().map(|(l, _)| l.as_str()).collect();
            let expect: Vec<&str> = text.strip_suffix('\n').unwrap_or(text).split('\n').collect();
            if !data.is_empty() {
                assert_eq!(joined, expect);
            }
        }
    }
});
