//! How big an answer gets: `raw` lines shortened to `server.max_raw_line_bytes`, and list bodies
//! written item by item until `server.max_response_bytes`, saying `"truncated": true` when items
//! were left out. A body is built once, at its final size; nothing is converted to a JSON tree.

use std::borrow::Cow;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::detect::{Anomaly, Incident};

/// `raw` cut to at most `max` bytes on a character boundary, then `…[+N bytes]`.
pub fn shorten(raw: &str, max: usize) -> Cow<'_, str> {
    if raw.len() <= max {
        return Cow::Borrowed(raw);
    }
    let mut cut = max;
    while !raw.is_char_boundary(cut) {
        cut -= 1;
    }
    Cow::Owned(format!("{}…[+{} bytes]", &raw[..cut], raw.len() - cut))
}

/// The anomaly as served: its `raw` line shortened.
pub fn anomaly(a: &Anomaly, max_raw: usize) -> Cow<'_, Anomaly> {
    match a.raw.as_deref().map(|r| shorten(r, max_raw)) {
        Some(Cow::Owned(short)) => Cow::Owned(Anomaly { raw: Some(short), ..a.clone() }),
        _ => Cow::Borrowed(a),
    }
}

/// The incident as served: the `raw` lines of its examples shortened.
pub fn incident(i: &Incident, max_raw: usize) -> Cow<'_, Incident> {
    if i.examples.iter().all(|e| e.raw.as_ref().is_none_or(|r| r.len() <= max_raw)) {
        return Cow::Borrowed(i);
    }
    let examples = i.examples.iter().map(|e| anomaly(e, max_raw).into_owned()).collect();
    Cow::Owned(Incident { examples, ..i.clone() })
}

/// `{"<key>": [items...], "count": N, "truncated": bool}`, items added while the body stays
/// within `max_bytes`.
pub fn body<T: Serialize>(key: &str, items: impl Iterator<Item = T>, max_bytes: usize) -> Response {
    let mut out = Vec::with_capacity(4096.min(max_bytes));
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":[");
    let (mut count, mut truncated) = (0usize, false);
    // Room for the closing `],"count":…,"truncated":…}`.
    let budget = max_bytes.saturating_sub(64);
    for item in items {
        let before = out.len();
        if count > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &item).expect("API items serialise");
        if out.len() > budget {
            out.truncate(before);
            truncated = true;
            break;
        }
        count += 1;
    }
    out.extend_from_slice(format!("],\"count\":{count},\"truncated\":{truncated}}}").as_bytes());
    ([(header::CONTENT_TYPE, "application/json")], out).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_lines_are_cut_on_a_character_boundary_and_say_how_much_was_cut() {
        assert_eq!(shorten("short", 16), "short");
        // 'é' is two bytes: a cut after 5 bytes would split it.
        let cut = shorten("abcdéfgh", 5);
        assert_eq!(cut, "abcd…[+5 bytes]");
        let long = "x".repeat(65_536);
        let cut = shorten(&long, 2048);
        assert!(cut.starts_with(&"x".repeat(2048)) && cut.ends_with("…[+63488 bytes]"), "{}", cut.len());
    }

    #[test]
    fn a_list_body_stops_at_its_size_and_says_so() {
        let items = (0..1000).map(|i| format!("item {i:>100}"));
        let response = body("things", items, 10_000);
        let bytes = bytes_of(response);
        assert!(bytes.len() <= 10_000, "{}", bytes.len());
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["truncated"], true);
        let n = v["things"].as_array().unwrap().len();
        assert!(n > 50 && v["count"] == n, "{v}");

        let v: serde_json::Value = serde_json::from_slice(&bytes_of(body("things", 0..3, 10_000))).unwrap();
        assert_eq!(v, serde_json::json!({"things": [0, 1, 2], "count": 3, "truncated": false}));
    }

    fn bytes_of(response: Response) -> Vec<u8> {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(axum::body::to_bytes(response.into_body(), usize::MAX)).unwrap().to_vec()
    }
}
