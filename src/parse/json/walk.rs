//! The full JSON reader: serde_json in one streaming pass, without building a `serde_json::Value`
//! tree. It reads every line the [`flat`](super::flat) scanner hands back.
//!
//! A custom visitor walks the top-level object: each key is looked up (explicit mapping, then the
//! built-in aliases) while it is still a borrowed `&str`; values of interesting keys are kept as
//! borrowed strings or numbers, everything else is skipped with `IgnoredAny`. Objects one level
//! down are searched with the aliases too (`{"http":{"status":500}}`); deeper objects are entered
//! only along an explicit dotted mapping (`http.response.status_code`). serde_json's recursion
//! limit (128) turns absurd nesting into an error, never a stack overflow.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{all_live, key_info, take, KeyInfo};
use crate::parse::fields::{FieldMap, Found, Val};
use crate::parse::ParseProblem;

/// Parses a JSON line into `found`. `Err(NotAnObject)` for a valid non-object, `Err(BadJson)` for
/// invalid JSON (including nesting over the limit and trailing garbage).
pub(crate) fn parse<'a>(line: &'a str, map: &FieldMap, found: &mut Found<'a>) -> Result<(), ParseProblem> {
    let mut de = serde_json::Deserializer::from_str(line);
    let is_object = Top { cx: Cx { map, found } }.deserialize(&mut de).map_err(|_| ParseProblem::BadJson)?;
    de.end().map_err(|_| ParseProblem::BadJson)?;
    if is_object {
        Ok(())
    } else {
        Err(ParseProblem::NotAnObject)
    }
}

/// What the visitors share: the mapping and where found values go.
struct Cx<'m, 'f, 'a> {
    map: &'m FieldMap,
    found: &'f mut Found<'a>,
}

/// The top-level value: an object is walked; anything else is consumed and reported as "not an object".
struct Top<'m, 'f, 'a> {
    cx: Cx<'m, 'f, 'a>,
}

impl<'de, 'm, 'f> DeserializeSeed<'de> for Top<'m, 'f, 'de> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, 'm, 'f> Visitor<'de> for Top<'m, 'f, 'de> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, map: A) -> Result<bool, A::Error> {
        let live = all_live(self.cx.map);
        walk_object(&mut self.cx, map, 0, live)?;
        Ok(true)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
}

/// Looks a key up without allocating (escaped keys arrive as a transient `&str`).
struct KeySeed<'m> {
    map: &'m FieldMap,
    depth: usize,
    live: u32,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = KeyInfo;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<KeyInfo, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = KeyInfo;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<KeyInfo, E> {
        Ok(key_info(self.map, self.depth, key, self.live))
    }
}

/// Walks one object's entries at `depth`, with `live` the explicit mappings still matching.
fn walk_object<'de, A: MapAccess<'de>>(
    cx: &mut Cx<'_, '_, 'de>,
    mut map: A,
    depth: usize,
    live: u32,
) -> Result<(), A::Error> {
    while let Some(key) = map.next_key_seed(KeySeed { map: cx.map, depth, live })? {
        // At the top level every value is looked at, so nested objects get the alias search.
        if key.interesting() || depth == 0 {
            map.next_value_seed(ValueSeed { cx: Cx { map: cx.map, found: cx.found }, key, depth })?;
        } else {
            map.next_value::<IgnoredAny>()?;
        }
    }
    Ok(())
}

/// One value, routed by what its key meant.
struct ValueSeed<'m, 'f, 'a> {
    cx: Cx<'m, 'f, 'a>,
    key: KeyInfo,
    depth: usize,
}

impl<'de> ValueSeed<'_, '_, 'de> {
    fn take(self, v: Val<'de>) {
        take(self.cx.found, self.key, v);
    }

    fn wants_scalar(&self) -> bool {
        self.key.wants_scalar()
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        if self.key.headers && self.key.below == 0 {
            while let Some(name) = map.next_key::<Cow<'de, str>>()? {
                if name.eq_ignore_ascii_case("user-agent") {
                    map.next_value_seed(HeaderSeed { found: self.cx.found, depth: self.depth })?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            return Ok(());
        }
        // Enter one level for the alias search, deeper only along an explicit path.
        if self.depth == 0 || self.key.below != 0 {
            walk_object(&mut self.cx, map, self.depth + 1, self.key.below)
        } else {
            IgnoredAny.visit_map(map).map(|_| ())
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        IgnoredAny.visit_seq(seq).map(|_| ())
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        if self.wants_scalar() {
            self.take(Val::Str(Cow::Borrowed(v)));
        }
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if self.wants_scalar() {
            self.take(Val::Str(Cow::Owned(v.to_string())));
        }
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.take(Val::U64(v));
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.take(Val::I64(v));
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.take(Val::F64(v));
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        self.take(Val::Bool);
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.take(Val::Null);
        Ok(())
    }
}

/// A header's value in a `headers` object: a string or an array of strings (the first is used).
struct HeaderSeed<'f, 'a> {
    found: &'f mut Found<'a>,
    depth: usize,
}

impl HeaderSeed<'_, '_> {
    fn offer(self, v: String) {
        let rank = crate::parse::fields::RANK_NESTED * (self.depth as u16 + 1);
        self.found.offer(crate::parse::fields::Field::UserAgent, rank, Val::Str(Cow::Owned(v)));
    }
}

impl<'de> DeserializeSeed<'de> for HeaderSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for HeaderSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a header value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.offer(v.to_string());
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let first: Option<serde_json::Value> = seq.next_element()?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        if let Some(serde_json::Value::String(v)) = first {
            self.offer(v);
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        IgnoredAny.visit_map(map).map(|_| ())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn run(line: &str, map: &FieldMap) -> (Result<(), ParseProblem>, Option<u16>, Option<f64>, Option<String>) {
        let mut found = Found::default();
        let r = parse(line, map, &mut found);
        (r, found.status.val, found.response_time_ms.val, found.path.val.map(|p| p.into_owned()))
    }

    #[test]
    fn flat_object_with_escapes_and_string_numbers() {
        let line = r#"{"ts":"2026-11-24T03:48:59.494Z","Status":"503","path":"/a\/b","response_time_ms":"12.5"}"#;
        let (r, status, rt, path) = run(line, &FieldMap::default());
        assert_eq!(r, Ok(()));
        assert_eq!(status, Some(503));
        assert_eq!(rt, Some(12.5));
        assert_eq!(path.as_deref(), Some("/a/b"));
    }

    #[test]
    fn nested_one_level_and_explicit_dot_path() {
        let line = r#"{"http":{"status":500,"meta":{"status":201}},"resp":{"x":{"code":204}}}"#;
        assert_eq!(run(line, &FieldMap::default()).1, Some(500));
        let mut cfg = BTreeMap::new();
        cfg.insert("status".to_string(), "resp.x.code".to_string());
        assert_eq!(run(line, &FieldMap::new(&cfg)).1, Some(204));
        // A top-level alias beats a nested one.
        assert_eq!(run(r#"{"http":{"status":500},"status":200}"#, &FieldMap::default()).1, Some(200));
    }

    #[test]
    fn caddy_request_headers_give_the_user_agent() {
        let mut found = Found::default();
        let line = r#"{"request":{"uri":"/a","headers":{"Accept":["*/*"],"User-Agent":["curl/8.5",3]}},"status":200}"#;
        assert_eq!(parse(line, &FieldMap::default(), &mut found), Ok(()));
        assert_eq!(found.user_agent.val.as_deref(), Some("curl/8.5"));
        let mut found = Found::default();
        let odd = r#"{"headers":{"user-agent":{"x":1}},"user_agent":"top"}"#;
        assert_eq!(parse(odd, &FieldMap::default(), &mut found), Ok(()));
        assert_eq!(found.user_agent.val.as_deref(), Some("top"));
    }

    #[test]
    fn non_objects_and_garbage() {
        let map = FieldMap::default();
        assert_eq!(run("[1,2,3]", &map).0, Err(ParseProblem::NotAnObject));
        assert_eq!(run("\"just a string\"", &map).0, Err(ParseProblem::NotAnObject));
        assert_eq!(run("42", &map).0, Err(ParseProblem::NotAnObject));
        assert_eq!(run("{\"a\":1", &map).0, Err(ParseProblem::BadJson));
        assert_eq!(run("{\"a\":1} trailing", &map).0, Err(ParseProblem::BadJson));
        assert_eq!(run("{\"a\":NaN}", &map).0, Err(ParseProblem::BadJson));
    }

    #[test]
    fn absurd_nesting_is_an_error_not_a_crash() {
        let map = FieldMap::default();
        let deep_arrays = "[".repeat(100_000);
        assert_eq!(run(&deep_arrays, &map).0, Err(ParseProblem::BadJson));
        let deep_objects = r#"{"a":"#.repeat(100_000);
        assert_eq!(run(&deep_objects, &map).0, Err(ParseProblem::BadJson));
        // Closed deep nesting below the searched levels is skipped iteratively: valid, no crash.
        let closed = format!("{}1{}", r#"{"a":"#.repeat(50_000), "}".repeat(50_000));
        assert_eq!(run(&closed, &map).0, Ok(()));
        let closed = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
        assert_eq!(run(&closed, &map).0, Err(ParseProblem::NotAnObject));
    }
}
