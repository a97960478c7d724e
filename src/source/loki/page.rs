//! Decoding Loki's JSON answers and merging a page's result streams into one time-ordered list.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt;
use std::sync::Arc;

use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;

use super::cursor::{line_hash, Cursor};
use crate::source::Labels;

/// One entry of a `query_range` page, after the merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageEntry {
    /// Unix nanoseconds.
    pub ts: i64,
    /// The result stream's labels (indexed labels plus structured metadata Loki merged in).
    pub labels: Labels,
    /// The line.
    pub line: String,
    /// [`line_hash`] of labels + line.
    pub hash: u64,
}

/// A decoded `query_range` page.
#[derive(Debug, Default)]
pub struct Page {
    /// Entries of every result stream, merged by timestamp (ties: result-stream order, then position).
    pub entries: Vec<PageEntry>,
}

impl Page {
    /// Entries in the page, summed over result streams (what Loki compares with `limit`).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the page has no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[derive(Deserialize)]
struct Envelope<T> {
    status: String,
    data: T,
}

#[derive(Deserialize)]
struct StreamsData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Vec<StreamResult>,
}

#[derive(Deserialize)]
struct StreamResult {
    stream: BTreeMap<String, String>,
    values: Vec<Value>,
}

/// `[ "ts", "line" ]` or `[ "ts", "line", {categorized labels} ]`.
struct Value {
    ts: i64,
    line: String,
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("[\"<unix ns>\", \"<line>\"]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                let ts: String = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let line: String = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(1, &self))?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                let ts = ts.parse::<i64>().map_err(|_| de::Error::custom(format!("bad timestamp {ts:?}")))?;
                Ok(Value { ts, line })
            }
        }
        d.deserialize_seq(V)
    }
}

/// Decode a `query_range` body of `resultType: streams` and merge its streams by time.
pub fn decode_streams(body: &[u8]) -> Result<Page, String> {
    let env: Envelope<StreamsData> = match serde_json::from_slice(body) {
        Ok(env) => env,
        Err(e) => {
            // A metric answer fails on its values; name the real problem.
            #[derive(Deserialize)]
            struct TypeOnly {
                #[serde(rename = "resultType")]
                result_type: String,
            }
            if let Ok(t) = serde_json::from_slice::<Envelope<TypeOnly>>(body) {
                if t.data.result_type != "streams" {
                    return Err(format!(
                        "resultType {:?}, expected streams (is loki.query a log query?)",
                        t.data.result_type
                    ));
                }
            }
            return Err(e.to_string());
        }
    };
    if env.status != "success" {
        return Err(format!("status {:?}", env.status));
    }
    if env.data.result_type != "streams" {
        return Err(format!("resultType {:?}, expected streams (is loki.query a log query?)", env.data.result_type));
    }
    let streams: Vec<(Labels, Vec<Value>)> = env
        .data
        .result
        .into_iter()
        .map(|s| {
            let mut values = s.values;
            // Loki sorts each stream; a proxy might not. A stable sort keeps same-timestamp order.
            if values.windows(2).any(|w| w[0].ts > w[1].ts) {
                values.sort_by_key(|v| v.ts);
            }
            (Arc::new(s.stream), values)
        })
        .collect();
    Ok(Page { entries: merge(streams) })
}

/// k-way merge of per-stream sorted values into one list ordered by (ts, stream index, position).
fn merge(streams: Vec<(Labels, Vec<Value>)>) -> Vec<PageEntry> {
    let total = streams.iter().map(|(_, v)| v.len()).sum();
    let mut out = Vec::with_capacity(total);
    let mut iters: Vec<(Labels, std::vec::IntoIter<Value>)> =
        streams.into_iter().map(|(l, v)| (l, v.into_iter())).collect();
    let mut heads: Vec<Option<Value>> = iters.iter_mut().map(|(_, it)| it.next()).collect();
    let mut heap: BinaryHeap<Reverse<(i64, usize)>> =
        heads.iter().enumerate().filter_map(|(i, h)| h.as_ref().map(|v| Reverse((v.ts, i)))).collect();
    while let Some(Reverse((_, i))) = heap.pop() {
        let v = heads[i].take().expect("heap entries have a head");
        let labels = iters[i].0.clone();
        let hash = line_hash(&labels, &v.line);
        out.push(PageEntry { ts: v.ts, labels, line: v.line, hash });
        heads[i] = iters[i].1.next();
        if let Some(n) = &heads[i] {
            heap.push(Reverse((n.ts, i)));
        }
    }
    out
}

/// Drop what the cursor says was delivered, advance the cursor over the rest, and return the rest.
///
/// `entries` is a merged page fetched from `cursor.ts - 1`: entries below `cursor.ts` were delivered;
/// at `cursor.ts` the first `seen[h]` occurrences of each hash were delivered.
pub fn take_new(cursor: &mut Cursor, entries: Vec<PageEntry>) -> Vec<PageEntry> {
    let boundary = cursor.ts;
    let mut skip = cursor.seen.clone();
    let mut fresh = Vec::with_capacity(entries.len());
    for e in entries {
        if e.ts < boundary {
            continue;
        }
        if e.ts == boundary {
            if let Some(n) = skip.get_mut(&e.hash) {
                if *n > 0 {
                    *n -= 1;
                    continue;
                }
            }
        }
        cursor.advance(e.ts, e.hash);
        fresh.push(e);
    }
    fresh
}

/// The label sets of a `/loki/api/v1/series` answer (`data` may be missing when empty).
pub fn decode_series(body: &[u8]) -> Result<Vec<BTreeMap<String, String>>, String> {
    #[derive(Deserialize)]
    struct Series {
        status: String,
        #[serde(default)]
        data: Vec<BTreeMap<String, String>>,
    }
    let s: Series = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if s.status != "success" {
        return Err(format!("status {:?}", s.status));
    }
    Ok(s.data)
}

/// Sum of the samples of a metric answer (`vector` or `matrix`), by sample time in unix seconds.
pub fn decode_samples(body: &[u8]) -> Result<Vec<(f64, f64)>, String> {
    #[derive(Deserialize)]
    struct Data {
        #[serde(rename = "resultType")]
        result_type: String,
        result: Vec<serde_json::Value>,
    }
    let env: Envelope<Data> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if env.status != "success" {
        return Err(format!("status {:?}", env.status));
    }
    let point = |p: &serde_json::Value| -> Result<(f64, f64), String> {
        let t = p.get(0).and_then(|t| t.as_f64()).ok_or("sample time is not a number")?;
        let v = p.get(1).and_then(|v| v.as_str()).ok_or("sample value is not a string")?;
        let v: f64 = v.parse().map_err(|_| format!("sample value {v:?}"))?;
        Ok((t, v))
    };
    let mut out = Vec::new();
    for series in &env.data.result {
        match env.data.result_type.as_str() {
            "vector" => out.push(point(series.get("value").ok_or("vector sample without value")?)?),
            "matrix" => {
                for p in series.get("values").and_then(|v| v.as_array()).ok_or("matrix series without values")? {
                    out.push(point(p)?);
                }
            }
            other => return Err(format!("resultType {other:?}, expected vector or matrix")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/fixtures/loki/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn merges_result_streams_by_time() {
        // Five entries over two result streams (trace_id split one off): merged order is by time.
        let page = decode_streams(&fixture("query_range_streams_forward_limit5.json")).unwrap();
        assert_eq!(page.len(), 5);
        let ts: Vec<i64> = page.entries.iter().map(|e| e.ts).collect();
        let mut sorted = ts.clone();
        sorted.sort();
        assert_eq!(ts, sorted);
        assert_eq!(ts[0], 1_795_489_200_000_000_000);
        assert!(page.entries.iter().any(|e| e.labels.contains_key("trace_id")));
    }

    #[test]
    fn categorized_values_with_a_third_element_decode() {
        let page = decode_streams(&fixture("query_range_streams_categorize_labels.json")).unwrap();
        assert_eq!(page.len(), 3);
    }

    #[test]
    fn garbage_and_metric_bodies_are_errors() {
        assert!(decode_streams(b"<html>bad gateway</html>").is_err());
        assert!(decode_streams(
            br#"{"status":"success","data":{"resultType":"streams","result":[{"stream":{},"values":[["x","y"]]}]}}"#
        )
        .is_err());
        let e = decode_streams(&fixture("metric_count_over_time_matrix.json")).unwrap_err();
        assert!(e.contains("matrix"), "{e}");
    }

    #[test]
    fn take_new_drops_delivered_boundary_entries_by_count() {
        let l: Labels = Arc::new(BTreeMap::new());
        let e = |ts: i64, line: &str| PageEntry { ts, labels: l.clone(), line: line.into(), hash: line_hash(&l, line) };
        // Delivered: one "dup" at 10. Loki has two "dup" at 10 (identical text) and "z" at 10.
        let mut c = Cursor::at(9);
        c.advance(10, line_hash(&l, "dup"));
        let fresh = take_new(&mut c, vec![e(9, "old"), e(10, "dup"), e(10, "z"), e(10, "dup"), e(11, "n")]);
        let lines: Vec<&str> = fresh.iter().map(|e| e.line.as_str()).collect();
        assert_eq!(lines, vec!["z", "dup", "n"]);
        assert_eq!(c.ts, 11);
    }

    #[test]
    fn series_answers_decode_with_and_without_data() {
        let s = decode_series(&fixture("v2/series_shard_40_streams.json")).unwrap();
        assert_eq!(s.len(), 40);
        assert!(s.iter().all(|l| l["job"] == "fx2-shard" && l.contains_key("pod")));
        assert!(decode_series(&fixture("v2/quirk_old_range_unflushed_not_visible_series.json")).unwrap().is_empty());
        assert!(decode_series(br#"{"status":"success"}"#).unwrap().is_empty());
        assert!(decode_series(b"<html>").is_err());
    }

    #[test]
    fn instant_vector_samples_decode() {
        let s = decode_samples(&fixture("instant_query_vector.json")).unwrap();
        assert_eq!(s.iter().map(|(_, v)| v).sum::<f64>(), 45.0);
        assert_eq!(s[0].0, 1_795_489_500.0);
    }
}
