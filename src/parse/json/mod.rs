//! JSON lines, read by one of two readers that give the same answer:
//!
//! - [`flat`]: a hand-written scanner for the shape nearly every access log has, one object of
//!   scalar values whose keys and strings have no escapes. It borrows every value from the line.
//! - [`walk`]: serde_json, for everything else (nested objects, arrays, escapes, exponents,
//!   negative numbers, invalid JSON).
//!
//! `flat` gives up at the first thing it does not handle, and `walk` then reads the line from the
//! start, so what a line yields never depends on which reader took it. Only `walk` decides that a
//! line is not JSON or not an object.

mod flat;
mod walk;

pub(crate) use flat::KeyMemo;

use super::fields::{alias, Field, FieldMap, Found, Val, RANK_EXPLICIT, RANK_NESTED};
use super::ParseProblem;

/// Parses a JSON line into `found`. `Err(NotAnObject)` for a valid non-object, `Err(BadJson)` for
/// invalid JSON (including nesting over the limit and trailing garbage). `memo` remembers the keys
/// of `map`'s lines (keep one per map).
pub(crate) fn parse<'a>(
    line: &'a str,
    map: &FieldMap,
    memo: &mut KeyMemo,
    found: &mut Found<'a>,
) -> Result<(), ParseProblem> {
    if flat::parse(line, map, memo, found).is_some() {
        return Ok(());
    }
    *found = Found::default();
    walk::parse(line, map, found)
}

/// What a key means at its depth.
#[derive(Debug, Default, Clone, Copy)]
struct KeyInfo {
    /// Explicitly mapped field ending at this key.
    explicit: Option<Field>,
    /// Alias match and its rank (depth-adjusted).
    alias: Option<(Field, u16)>,
    /// Explicit mappings that continue below this key (bit i = `map.entries[i]`).
    below: u32,
    /// A `headers` object (Caddy's `request.headers`): its `User-Agent` (a string, or an array of
    /// them) is the user agent.
    headers: bool,
}

impl KeyInfo {
    /// A value under this key is used, or an object under it is searched.
    fn interesting(&self) -> bool {
        self.explicit.is_some() || self.alias.is_some() || self.below != 0 || self.headers
    }

    /// A scalar under this key feeds a field.
    fn wants_scalar(&self) -> bool {
        self.explicit.is_some() || self.alias.is_some()
    }
}

/// Looks `key` up at `depth` (0 = top level): the aliases at depths 0 and 1, and the explicit
/// mappings still matching (`live`, bit i = `map.entries[i]`).
fn key_info(map: &FieldMap, depth: usize, key: &str, live: u32) -> KeyInfo {
    let mut info = KeyInfo::default();
    if depth <= 1 {
        info.alias = alias(key).map(|(f, r)| (f, r + RANK_NESTED * depth as u16));
        info.headers = key.eq_ignore_ascii_case("headers");
    }
    let mut bits = live;
    while bits != 0 {
        let i = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        let m = &map.entries[i];
        if m.segs.get(depth).is_some_and(|s| s.eq_ignore_ascii_case(key)) {
            if m.segs.len() == depth + 1 {
                info.explicit = Some(m.field);
            } else {
                info.below |= 1 << i;
            }
        }
    }
    info
}

/// Every explicit mapping, as `live` bits for the top level.
fn all_live(map: &FieldMap) -> u32 {
    (1u32 << map.entries.len()) - 1
}

/// Offers a scalar to the fields its key feeds: the explicit one first, then the alias.
fn take<'a>(found: &mut Found<'a>, key: KeyInfo, v: Val<'a>) {
    if let Some(field) = key.explicit {
        found.offer(field, RANK_EXPLICIT, v.clone());
    }
    if let Some((field, rank)) = key.alias {
        found.offer(field, rank, v);
    }
}

#[cfg(test)]
mod tests;
