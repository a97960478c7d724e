//! A byte cursor over a space-separated log line with double-quoted fields, shared by the
//! positional readers (access logs, Envoy, HAProxy, load balancers).

use std::borrow::Cow;

/// A cursor over the line's bytes.
pub(crate) struct Cur<'a> {
    pub s: &'a str,
    pub i: usize,
}

impl<'a> Cur<'a> {
    pub fn at(s: &'a str, i: usize) -> Self {
        Cur { s, i }
    }

    /// Nothing left but spaces.
    pub fn done(&mut self) -> bool {
        self.space();
        self.i >= self.s.len()
    }

    /// The next space-separated token, or a double-quoted string; `None` at the end of the line
    /// or at an unterminated quote.
    pub fn field(&mut self) -> Option<Cow<'a, str>> {
        if self.done() {
            return None;
        }
        if self.eat(b'"') {
            return self.quoted();
        }
        Some(Cow::Borrowed(self.token()))
    }

    /// Up to (not including) the next `close` byte, which is eaten.
    pub fn until(&mut self, close: u8) -> Option<&'a str> {
        let rel = self.s.as_bytes()[self.i..].iter().position(|&b| b == close)?;
        let out = &self.s[self.i..self.i + rel];
        self.i += rel + 1;
        Some(out)
    }

    pub fn space(&mut self) {
        while self.s.as_bytes().get(self.i) == Some(&b' ') {
            self.i += 1;
        }
    }

    /// A run of non-space bytes (may be empty).
    pub fn token(&mut self) -> &'a str {
        let b = self.s.as_bytes();
        let start = self.i;
        while self.i < b.len() && b[self.i] != b' ' {
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    pub fn eat(&mut self, c: u8) -> bool {
        if self.s.as_bytes().get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// A double-quoted string (the opening quote already eaten); `\"` and `\\` stay escaped in the
    /// returned slice, which is unescaped only if it contains a backslash.
    pub fn quoted(&mut self) -> Option<Cow<'a, str>> {
        let b = self.s.as_bytes();
        let start = self.i;
        let mut escaped = false;
        while self.i < b.len() {
            match b[self.i] {
                b'\\' => {
                    escaped = true;
                    self.i += 2;
                }
                b'"' => {
                    let raw = &self.s[start..self.i];
                    self.i += 1;
                    return Some(if escaped { Cow::Owned(unescape(raw)) } else { Cow::Borrowed(raw) });
                }
                _ => self.i += 1,
            }
        }
        None
    }
}

/// Undoes nginx/Apache escaping of `\"` and `\\` (other `\xHH` sequences are kept as written).
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(&n) = chars.peek() {
                if n == '"' || n == '\\' {
                    out.push(n);
                    chars.next();
                    continue;
                }
            }
        }
        out.push(c);
    }
    out
}

/// A non-empty run of ASCII digits (a status, a byte count, an integer timer).
pub(crate) fn is_int(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}
