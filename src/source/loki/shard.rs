//! Replicas: `loki.shard_count` instances split the streams of one query between them.
//!
//! Before each window a replica lists the query's streams in it (`/loki/api/v1/series`) and owns
//! those whose label set hashes into its shard. The hash is a jump consistent hash (Lamping and
//! Veach, 2014) of the labels without `__stream_shard__`: stable across restarts and platforms, the
//! same for a stream that appears later, the same for every piece Loki's automatic stream sharding
//! cuts one stream into, and when `shard_count` grows by one only 1/(n+1) of the streams move.
//!
//! The owned streams are folded into the query as one more regex matcher on the label that tells
//! them apart best (`{job="app", pod=~"p01|p07"}`), so a replica fetches little besides its own; what
//! it fetches besides is dropped by the same ownership test, which alone decides. When no label
//! narrows the query (or the matcher would pass [`MAX_MATCHER_BYTES`]), the replica reads the whole
//! query and keeps its own streams.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::hash::Fnv1a;
use crate::source::Labels;

/// The label Loki's automatic stream sharding adds; not part of a stream's identity.
pub const STREAM_SHARD_LABEL: &str = "__stream_shard__";
/// Longest matcher folded into the query (the URL stays well inside common 8 KiB limits).
pub const MAX_MATCHER_BYTES: usize = 4096;

/// Which part of the streams this replica reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// The whole query (no replicas).
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Whether streams are split at all.
    pub fn is_split(self) -> bool {
        self.count > 1
    }

    /// Whether a stream with this identity (see [`stream_key`]) belongs to this shard.
    pub fn owns_key(self, key: u64) -> bool {
        jump_hash(key, self.count) == self.index
    }
}

/// Jump consistent hash: the bucket in `0..buckets` of `key`.
pub fn jump_hash(mut key: u64, buckets: u32) -> u32 {
    let (mut b, mut j): (i64, i64) = (-1, 0);
    while j < i64::from(buckets) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b.max(0) as u32
}

/// A stream's identity: FNV-1a of its labels (sorted) without `__stream_shard__`.
pub fn stream_key(labels: &BTreeMap<String, String>) -> u64 {
    let mut h = Fnv1a::default();
    for (k, v) in labels.iter().filter(|(k, _)| k.as_str() != STREAM_SHARD_LABEL) {
        h.write(k.as_bytes());
        h.write(&[0x1f]);
        h.write(v.as_bytes());
        h.write(&[0x1e]);
    }
    h.finish()
}

/// Byte range of the stream selector `{...}` at the start of a LogQL log query (braces included),
/// skipping quoted strings.
pub fn selector_span(query: &str) -> Option<(usize, usize)> {
    let start = query.find('{')?;
    if !query[..start].trim().is_empty() {
        return None;
    }
    let bytes = query.as_bytes();
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'`' {
                    i += 1;
                }
            }
            b'}' => return Some((start, i + 1)),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The streams this replica owns in a window, and the query that fetches them.
#[derive(Debug)]
pub struct Assignment {
    /// The configured query, narrowed to the owned streams where a label allows it.
    pub query: String,
    /// Owned streams among those listed.
    pub owned: usize,
    /// Streams listed.
    pub listed: usize,
    shard: Shard,
    /// Identity → owned: the listed streams, then each result stream as decided.
    known: HashMap<u64, bool>,
    /// The listed label sets, to recognise result streams that carry structured metadata too.
    series: Vec<BTreeMap<String, String>>,
}

impl Assignment {
    /// Plan the window from the streams `/series` listed for it.
    pub fn plan(query: &str, shard: Shard, series: Vec<BTreeMap<String, String>>) -> Assignment {
        let mut known = HashMap::with_capacity(series.len());
        for s in &series {
            let key = stream_key(s);
            known.insert(key, shard.owns_key(key));
        }
        let owned = series.iter().filter(|s| known[&stream_key(s)]).count();
        let query = narrow(query, &series, &known).unwrap_or_else(|| query.to_string());
        Assignment { query, owned, listed: series.len(), shard, known, series }
    }

    /// Whether entries of a result stream with these labels are this replica's.
    pub fn owns(&mut self, labels: &Labels) -> bool {
        let key = stream_key(labels);
        if let Some(&o) = self.known.get(&key) {
            return o;
        }
        // Structured metadata merged into the labels: the listed stream they extend decides.
        let owned =
            match self.series.iter().find(|s| {
                s.iter().filter(|(k, _)| k.as_str() != STREAM_SHARD_LABEL).all(|(k, v)| labels.get(k) == Some(v))
            }) {
                Some(s) => self.shard.owns_key(stream_key(s)),
                None => self.shard.owns_key(key),
            };
        self.known.insert(key, owned);
        owned
    }
}

/// The query with one regex matcher added that selects the owned streams' values of the label that
/// separates them best from the others; `None` when nothing narrows it.
fn narrow(query: &str, series: &[BTreeMap<String, String>], known: &HashMap<u64, bool>) -> Option<String> {
    let (_, close) = selector_span(query)?;
    let owned: Vec<&BTreeMap<String, String>> = series.iter().filter(|s| known[&stream_key(s)]).collect();
    let foreign: Vec<&BTreeMap<String, String>> = series.iter().filter(|s| !known[&stream_key(s)]).collect();
    if owned.is_empty() {
        return None;
    }
    // Labels every listed stream has; the one whose owned values match the fewest foreign streams.
    let mut keys: BTreeSet<&str> = owned[0].keys().map(String::as_str).collect();
    keys.remove(STREAM_SHARD_LABEL);
    for s in series {
        keys.retain(|k| s.contains_key(*k));
    }
    let mut best: Option<(usize, usize, &str, BTreeSet<&str>)> = None;
    for k in keys {
        // A label with one value throughout tells no stream apart (it is the selector's own).
        if series.iter().all(|s| s[k] == owned[0][k]) {
            continue;
        }
        let values: BTreeSet<&str> = owned.iter().map(|s| s[k].as_str()).collect();
        let extra = foreign.iter().filter(|s| values.contains(s[k].as_str())).count();
        if (extra < foreign.len() || foreign.is_empty())
            && best.as_ref().is_none_or(|(e, n, _, _)| (extra, values.len()) < (*e, *n))
        {
            best = Some((extra, values.len(), k, values));
        }
    }
    let (_, _, key, values) = best?;
    let alternation: Vec<String> = values.iter().map(|v| logql_escape(&regex::escape(v))).collect();
    let matcher = format!(", {key}=~\"{}\"", alternation.join("|"));
    if matcher.len() > MAX_MATCHER_BYTES {
        return None;
    }
    let inner_end = close - 1;
    Some(format!("{}{matcher}{}", &query[..inner_end].trim_end(), &query[inner_end..]))
}

/// A value inside a LogQL double-quoted string.
fn logql_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn fixture_series(name: &str) -> Vec<BTreeMap<String, String>> {
        let text = std::fs::read(format!("{}/tests/fixtures/loki/v2/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
        serde_json::from_value(v["data"].clone()).unwrap()
    }

    #[test]
    fn jump_hash_is_pinned_balanced_and_moves_few_keys_when_growing() {
        // Pinned: a change would move every stream to another replica after an upgrade.
        // Values from an independent implementation of the paper's algorithm.
        assert_eq!(jump_hash(0, 1), 0);
        assert_eq!(jump_hash(42, 1000), 571);
        assert_eq!(jump_hash(0xdead_beef, 7), 5);
        let keys: Vec<u64> = (0..10_000u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15)).collect();
        let mut per = [0u32; 4];
        for &k in &keys {
            per[jump_hash(k, 4) as usize] += 1;
        }
        assert!(per.iter().all(|&n| (2_200..2_800).contains(&n)), "{per:?}");
        let moved = keys.iter().filter(|&&k| jump_hash(k, 4) != jump_hash(k, 5)).count();
        assert!((1_700..2_300).contains(&moved), "{moved} of 10000 moved from 4 to 5 shards (expect about 2000)");
        // A key only ever moves to the new bucket.
        assert!(keys.iter().all(|&k| jump_hash(k, 4) == jump_hash(k, 5) || jump_hash(k, 5) == 4));
    }

    #[test]
    fn stream_shards_of_one_stream_share_its_identity() {
        let series = fixture_series("stream_shard_series_bigstream.json");
        assert_eq!(series.len(), 3);
        let keys: BTreeSet<u64> = series.iter().map(stream_key).collect();
        assert_eq!(keys.len(), 1, "{series:?}");
    }

    #[test]
    fn three_replicas_split_forty_streams_and_narrow_by_pod() {
        let series = fixture_series("series_shard_40_streams.json");
        assert_eq!(series.len(), 40);
        let mut owners = vec![0u32; 40];
        for index in 0..3 {
            let shard = Shard { index, count: 3 };
            let mut a = Assignment::plan(r#"{job="fx2-shard"} |= "line""#, shard, series.clone());
            assert!(a.query.starts_with(r#"{job="fx2-shard", pod=~""#), "{}", a.query);
            assert!(a.query.ends_with(r#""} |= "line""#), "{}", a.query);
            assert!(a.owned > 5 && a.owned < 25, "shard {index} owns {}", a.owned);
            for (i, s) in series.iter().enumerate() {
                if a.owns(&Arc::new(s.clone())) {
                    owners[i] += 1;
                    let pod = &s["pod"];
                    assert!(a.query.contains(pod.as_str()), "{pod} owned but not queried: {}", a.query);
                }
            }
        }
        assert!(owners.iter().all(|&n| n == 1), "every stream has exactly one owner: {owners:?}");
    }

    #[test]
    fn metadata_in_result_labels_follows_the_listed_stream() {
        let series = vec![labels(&[("job", "a"), ("pod", "1")]), labels(&[("job", "a"), ("pod", "2")])];
        for index in 0..2 {
            let mut a = Assignment::plan(r#"{job="a"}"#, Shard { index, count: 2 }, series.clone());
            let plain = a.owns(&Arc::new(series[0].clone()));
            let with_level = a.owns(&Arc::new(labels(&[("job", "a"), ("pod", "1"), ("detected_level", "warn")])));
            assert_eq!(plain, with_level);
        }
    }

    #[test]
    fn selectors_are_found_past_quoted_braces_and_values_are_escaped() {
        assert_eq!(selector_span(r#"{a="}{", b=`}`} |= "x""#), Some((0, 15)));
        assert_eq!(selector_span(r#"sum(count_over_time({a="b"}[1m]))"#), None);
        let series = vec![labels(&[("job", "a"), ("path", "/x\"y.z")]), labels(&[("job", "a"), ("path", "/q")])];
        let known: HashMap<u64, bool> = series.iter().map(|s| (stream_key(s), s["path"].starts_with("/x"))).collect();
        let q = narrow(r#"{job="a"}"#, &series, &known).unwrap();
        assert_eq!(q, r#"{job="a", path=~"/x\"y\\.z"}"#);
    }
}
