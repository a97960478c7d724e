//! The fast reader for flat JSON objects: `{"key":"string","key":123,"key":1.5,"key":true,…}`.
//!
//! It accepts only what it can read exactly as serde_json would: keys and strings without escapes
//! or control characters, unsigned numbers with at most 18 integer digits and an optional
//! fraction (no exponent), `true`, `false`, `null`, and JSON whitespace. At anything else (a nested
//! object or array, an escape, a minus sign, an exponent, a syntax error) it returns `None` and
//! [`walk`](super::walk) reads the line instead. Strings are scanned eight bytes at a time.

use std::borrow::Cow;

use super::{all_live, key_info, take, KeyInfo};
use crate::parse::fields::{FieldMap, Found, Val};

/// Most keys remembered per line position.
const MEMO_KEYS: usize = 64;

/// The keys of the last line read, by position, with what they meant. Lines of one stream repeat
/// their keys in the same order, so looking a key up is usually one comparison. The meanings come
/// from one [`FieldMap`]: a [`Parser`](crate::parse::Parser) keeps one memo beside its map.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyMemo {
    keys: Vec<(String, KeyInfo)>,
}

impl KeyMemo {
    fn info(&mut self, map: &FieldMap, at: usize, key: &str, live: u32) -> KeyInfo {
        if let Some((k, info)) = self.keys.get(at) {
            if k == key {
                return *info;
            }
        }
        let info = key_info(map, 0, key, live);
        if let Some((k, i)) = self.keys.get_mut(at) {
            k.clear();
            k.push_str(key);
            *i = info;
        } else if at == self.keys.len() && at < MEMO_KEYS {
            self.keys.push((key.to_string(), info));
        }
        info
    }
}

/// Reads `line` into `found` if it is a flat object this reader handles; `None` otherwise (and
/// `found` may then hold part of the line: the caller resets it). `memo` belongs to `map`.
pub(super) fn parse<'a>(line: &'a str, map: &FieldMap, memo: &mut KeyMemo, found: &mut Found<'a>) -> Option<()> {
    let b = line.as_bytes();
    if b.first() != Some(&b'{') {
        return None;
    }
    let live = all_live(map);
    let mut i = skip_ws(b, 1);
    let mut at = 0;
    if b.get(i) == Some(&b'}') {
        return end(b, i + 1);
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let close = string_end(b, i + 1)?;
        let key = memo.info(map, at, &line[i + 1..close], live);
        at += 1;
        i = skip_ws(b, close + 1);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        let (value, next) = match *b.get(i)? {
            b'"' => {
                let close = string_end(b, i + 1)?;
                (Val::Str(Cow::Borrowed(&line[i + 1..close])), close + 1)
            }
            b'0'..=b'9' => number(line, i)?,
            b't' => (Val::Bool, literal(b, i, b"true")?),
            b'f' => (Val::Bool, literal(b, i, b"false")?),
            b'n' => (Val::Null, literal(b, i, b"null")?),
            _ => return None,
        };
        take(found, key, value);
        i = skip_ws(b, next);
        match b.get(i)? {
            b',' => i = skip_ws(b, i + 1),
            b'}' => return end(b, i + 1),
            _ => return None,
        }
    }
}

/// Only whitespace may follow the closing brace.
fn end(b: &[u8], i: usize) -> Option<()> {
    (skip_ws(b, i) == b.len()).then_some(())
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The end of the literal `word` starting at `i`, if it is there.
fn literal(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    b.get(i..i + word.len()).filter(|w| *w == word).map(|_| i + word.len())
}

/// Index of the quote that closes the string whose content starts at `i`. `None` at a backslash,
/// a control character (invalid in JSON) or the end of the line.
fn string_end(b: &[u8], mut i: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Per byte, the high bit says "this byte is `"`, `\` or below 0x20". Bits above the first true
    // hit may be wrong (borrows), so only the lowest set bit is used.
    while let Some(chunk) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let quote = x ^ (ONES * u64::from(b'"'));
        let backslash = x ^ (ONES * u64::from(b'\\'));
        let hits = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (x.wrapping_sub(ONES * 0x20) & !x);
        let hits = hits & HIGH;
        if hits != 0 {
            i += (hits.trailing_zeros() / 8) as usize;
            return (b[i] == b'"').then_some(i);
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        match c {
            b'"' => return Some(i),
            b'\\' | 0..=0x1f => return None,
            _ => i += 1,
        }
    }
    None
}

/// An unsigned number starting at `i` (a digit): a `u64` when it has no fraction, else an `f64`
/// (correctly rounded, as serde_json's `float_roundtrip` reads it). `None` for a leading zero
/// before more digits, an exponent, a dangling `.` or more than 18 integer digits.
fn number(line: &str, start: usize) -> Option<(Val<'_>, usize)> {
    let b = line.as_bytes();
    let mut i = start;
    let mut n: u64 = 0;
    while let Some(&c @ b'0'..=b'9') = b.get(i) {
        n = n.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
        i += 1;
    }
    let digits = i - start;
    if digits > 18 || (digits > 1 && b[start] == b'0') {
        return None;
    }
    let value = if b.get(i) == Some(&b'.') {
        let frac = i + 1;
        i = frac;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == frac {
            return None;
        }
        Val::F64(line[start..i].parse().ok()?)
    } else {
        Val::U64(n)
    };
    if matches!(b.get(i), Some(b'e' | b'E')) {
        return None;
    }
    Some((value, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_end_at_the_first_quote_and_give_up_at_escapes_and_controls() {
        let s = br#"abcdefghijklmnop"rest"#;
        assert_eq!(string_end(s, 0), Some(16));
        // Every position of the quote relative to the 8-byte chunks.
        for at in 0..20 {
            let mut v = vec![b'x'; at];
            v.push(b'"');
            v.extend_from_slice(b"tail\"");
            assert_eq!(string_end(&v, 0), Some(at), "quote at {at}");
            v[at] = b'\\';
            assert_eq!(string_end(&v, 0), None, "backslash at {at}");
            v[at] = 0x1f;
            assert_eq!(string_end(&v, 0), None, "control at {at}");
        }
        // Multi-byte UTF-8 (all bytes >= 0x80) is plain content.
        let s = "é日本語✓é日本語✓\"".as_bytes();
        assert_eq!(string_end(s, 0), Some(s.len() - 1));
        assert_eq!(string_end(b"unterminated string", 0), None);
    }

    #[test]
    fn numbers_read_as_serde_json_reads_them_or_not_at_all() {
        let n = |s: &str| number(s, 0).map(|(v, at)| (format!("{v:?}"), at));
        assert_eq!(n("200,"), Some(("U64(200)".into(), 3)));
        assert_eq!(n("0}"), Some(("U64(0)".into(), 1)));
        assert_eq!(n("21.6}"), Some(("F64(21.6)".into(), 4)));
        assert_eq!(n("999999999999999999"), Some(("U64(999999999999999999)".into(), 18)));
        assert_eq!(n("1234567890123456789"), None);
        assert_eq!(n("012"), None);
        assert_eq!(n("1."), None);
        assert_eq!(n("1e3"), None);
        assert_eq!(n("1.5E3"), None);
    }
}
