//! logfmt lines: `key=value` pairs separated by spaces; values may be double-quoted with backslash
//! escapes (`msg="request \"done\""`); a bare key is a flag. Parsing is lenient: a lone quote
//! runs to the end of the line, stray characters are skipped, nothing fails.

use std::borrow::Cow;

use super::fields::{alias, FieldMap, Found, Val, RANK_EXPLICIT};

/// True if the line starts like logfmt: a key (letters, digits, `_ . - @ /`, starting with a letter,
/// `_` or `@`) directly followed by `=`.
pub(crate) fn looks_like(line: &str) -> bool {
    let b = line.as_bytes();
    if !b.first().is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_' || *c == b'@') {
        return false;
    }
    for &c in b.iter().take(64) {
        if c == b'=' {
            return true;
        }
        if !is_key_byte(c) {
            return false;
        }
    }
    false
}

fn is_key_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'@' | b'/')
}

/// Iterates over the `(key, value)` pairs of a logfmt line. Flags (keys without `=`) are skipped.
pub(crate) struct Pairs<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Pairs<'a> {
    pub(crate) fn new(s: &'a str) -> Self {
        Pairs { s, pos: 0 }
    }
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a str, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        let s = self.s;
        let b = s.as_bytes();
        loop {
            while self.pos < b.len() && b[self.pos].is_ascii_whitespace() {
                self.pos += 1;
            }
            if self.pos >= b.len() {
                return None;
            }
            let key_start = self.pos;
            while self.pos < b.len() && b[self.pos] != b'=' && !b[self.pos].is_ascii_whitespace() {
                self.pos += 1;
            }
            let key = &s[key_start..self.pos];
            if self.pos >= b.len() || b[self.pos] != b'=' {
                continue; // a flag, or stray text
            }
            self.pos += 1; // '='
            let value = if b.get(self.pos) == Some(&b'"') {
                self.quoted()
            } else {
                let start = self.pos;
                while self.pos < b.len() && !b[self.pos].is_ascii_whitespace() {
                    self.pos += 1;
                }
                Cow::Borrowed(&s[start..self.pos])
            };
            if !key.is_empty() {
                return Some((key, value));
            }
        }
    }
}

impl<'a> Pairs<'a> {
    /// A quoted value starting at the opening quote; an unterminated one runs to the end of the line.
    fn quoted(&mut self) -> Cow<'a, str> {
        let s = self.s;
        let b = s.as_bytes();
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        while i < b.len() {
            match b[i] {
                b'\\' => {
                    escaped = true;
                    i += 2;
                }
                b'"' => break,
                _ => i += 1,
            }
        }
        let end = i.min(b.len());
        self.pos = (end + 1).min(b.len());
        let raw = &s[start..end];
        if !escaped {
            return Cow::Borrowed(raw);
        }
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        }
        Cow::Owned(out)
    }
}

/// Feeds every known key of a logfmt line into `found`; returns the number of pairs seen.
pub(crate) fn parse<'a>(line: &'a str, map: &FieldMap, found: &mut Found<'a>) -> usize {
    let mut pairs = 0;
    for (key, value) in Pairs::new(line) {
        pairs += 1;
        if !map.is_empty() {
            if let Some(field) = map.flat(key) {
                found.offer(field, RANK_EXPLICIT, Val::Str(value.clone()));
            }
        }
        if let Some((field, rank)) = alias(key) {
            found.offer(field, rank, Val::Str(value));
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(s: &str) -> Vec<(String, String)> {
        Pairs::new(s).map(|(k, v)| (k.to_string(), v.into_owned())).collect()
    }

    #[test]
    fn detection() {
        assert!(looks_like("ts=2026-11-24T03:00:01Z level=info"));
        assert!(looks_like("at=info method=GET"));
        assert!(!looks_like("127.0.0.1 - - [10/Oct/2000:13:55:36 -0700]"));
        assert!(!looks_like("ERROR: upstream timeout"));
        assert!(!looks_like("=value"));
        assert!(!looks_like("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass"));
    }

    #[test]
    fn quoting_escapes_and_flags() {
        let got = pairs(r#"a=1 msg="say \"hi\"\n" flag b= c="x y" d=\"q"#);
        let want = [("a", "1"), ("msg", "say \"hi\"\n"), ("b", ""), ("c", "x y"), ("d", "\\\"q")];
        let want: Vec<(String, String)> = want.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn lone_quotes_and_trailing_backslash_do_not_panic() {
        assert_eq!(pairs(r#"msg="unterminated value"#), vec![("msg".into(), "unterminated value".into())]);
        assert_eq!(pairs(r#"a=""#), vec![("a".into(), "".into())]);
        assert_eq!(pairs("a=\"x\\"), vec![("a".into(), "x\\".into())]);
        assert_eq!(pairs("a=\"é\\é\""), vec![("a".into(), "éé".into())]);
        assert_eq!(pairs("= == ="), Vec::<(String, String)>::new());
    }
}
