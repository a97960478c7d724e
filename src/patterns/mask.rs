//! Tokenising and variable masking.
//!
//! A line is cut into *pieces*: maximal runs of bytes that are neither ASCII
//! whitespace nor one of a few structural delimiters (`= , ; ( ) [ ] { } | < > '`).
//! Each piece is then either a **variable** (masked), a **constant** (part of the
//! template key) or **punctuation** (no letter or digit, kept only for display).
//!
//! The masking rule is deliberately generic, because lines arrive raw with their
//! headers and there is no per-source configuration: any piece containing a digit
//! is a variable (that covers timestamps, pids, counters, IPs, hex ids, UUIDs,
//! durations, versions and most host names), and digit-free pieces are variables
//! only when they have the shape of a path, URL, e-mail address, or a month/day
//! name (which occur in date headers). [`classify`] names the kind of a variable;
//! the hot path only needs the yes/no answer and never calls it.

/// The kind of a masked variable, as reported by [`classify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VarKind {
    /// `42`, `-7`
    Integer,
    /// `3.14`, `-0.5`, `1e-3`
    Decimal,
    /// `0x1f`, `deadbeef01`
    Hex,
    /// `10.0.0.1`, `10.0.0.1:8080`
    Ipv4,
    /// `fe80::1`, `[::1]:22`
    Ipv6,
    /// `host.example.com`, `proxy.example.edu:5070`
    Host,
    /// `true`, `false`, `null`
    Bool,
    /// `123e4567-e89b-12d3-a456-426614174000`
    Uuid,
    /// `/var/log/x.log`, `C:\Windows\x.dll`
    Path,
    /// `http://host/path?q=1`
    Url,
    /// `5012ms`, `3.2s`
    Duration,
    /// `"some text"` (only when quoted-string masking is enabled)
    Quoted,
    /// `user@example.com`
    Email,
    /// `2024-01-02`, `12:01:02.123`, `Dec`, `Sun`
    Timestamp,
    /// Anything else containing a digit: `blk_-123`, `R02-M1`, `v1.2.3`
    Other,
}

/// What a piece of a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceKind {
    /// Part of the template key.
    Const,
    /// Masked variable.
    Var,
    /// Punctuation only (no letter or digit); shown in templates, not matched.
    Punct,
}

/// A piece of a line: byte range plus kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Start byte offset in the line.
    pub start: u32,
    /// End byte offset (exclusive).
    pub end: u32,
    /// Whether the piece is a constant, a variable or punctuation.
    pub kind: PieceKind,
}

impl Piece {
    /// The text of this piece within `line`.
    pub fn text<'a>(&self, line: &'a str) -> &'a str {
        &line[self.start as usize..self.end as usize]
    }
}

// Byte classes, looked up once per byte in the tokeniser.
const SPACE: u8 = 1;
const DELIM: u8 = 2;
const DIGIT: u8 = 4;
const ALPHA: u8 = 8;
/// `/`, `\` or `@`: a digit-free piece with one of these may be a path/URL/e-mail.
const PATHY: u8 = 16;
/// `.`: a digit-free piece with dots may be a domain name.
const DOT: u8 = 32;

static CLASS: [u8; 256] = build_class_table();

const fn build_class_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = match c {
            // Control bytes separate like whitespace, so they never occur
            // inside a piece (cache keys use 0x1e/0x1f as separators).
            0x00..=0x20 | 0x7f => SPACE,
            b'=' | b',' | b';' | b':' | b'(' | b')' | b'[' | b']' | b'{' | b'}' | b'|' | b'<' | b'>' | b'\'' | b'"' => {
                DELIM
            }
            b'0'..=b'9' => DIGIT,
            b'a'..=b'z' | b'A'..=b'Z' => ALPHA,
            b'/' | b'\\' | b'@' => PATHY,
            b'.' => DOT,
            // Non-ASCII bytes (UTF-8 continuation/lead bytes) count as letters so
            // that words in other scripts stay constants.
            0x80..=0xff => ALPHA,
            _ => 0,
        };
        i += 1;
    }
    t
}

/// Options of the tokeniser (a subset of [`crate::MinerConfig`]).
#[derive(Debug, Clone, Copy)]
pub struct TokenizeOptions {
    /// Mask a whole `"..."` span as one variable.
    pub mask_quoted: bool,
    /// Only the first `max_bytes` bytes of a line are tokenised (bounds work and state).
    pub max_bytes: usize,
}

/// Cut `line` into pieces, appending them to `out` (which is cleared first).
pub fn tokenize(line: &str, opts: TokenizeOptions, out: &mut Vec<Piece>) {
    out.clear();
    let b = line.as_bytes();
    let n = floor_char_boundary(line, opts.max_bytes.min(b.len()));
    let mut i = 0;
    while i < n {
        if CLASS[b[i] as usize] & SPACE != 0 {
            i += 1;
            continue;
        }
        if b[i] == b'"' && opts.mask_quoted {
            if let Some(j) = memchr_byte(b'"', &b[i + 1..n]) {
                let end = i + 1 + j + 1;
                out.push(piece(i, end, PieceKind::Var));
                i = end;
                continue;
            }
        }
        let start = i;
        let mut seen = 0u8;
        while i < n && CLASS[b[i] as usize] & SPACE == 0 {
            // A quote inside a word (`tag="a b"`) ends the word; the quoted
            // span is handled at the top of the loop.
            if opts.mask_quoted && b[i] == b'"' && i > start {
                break;
            }
            seen |= CLASS[b[i] as usize];
            i += 1;
        }
        let before = out.len();
        let after_var = out.last().is_some_and(|p| p.kind == PieceKind::Var);
        word(b, start, i, seen, out);
        // `18.4 KB`, `1 sec`: a unit after a number belongs to the variable.
        if after_var && out.len() > before {
            let p = &mut out[before];
            let w = &b[p.start as usize..p.end as usize];
            if p.kind == PieceKind::Const && is_unit(w.strip_suffix(b".").unwrap_or(w)) {
                p.kind = PieceKind::Var;
            }
        }
    }
}

fn is_unit(w: &[u8]) -> bool {
    const UNITS: [&[u8]; 23] = [
        b"B", b"ms", b"us", b"ns", b"sec", b"secs", b"second", b"seconds", b"min", b"mins", b"minutes", b"hours",
        b"days", b"KB", b"kB", b"MB", b"GB", b"TB", b"KiB", b"MiB", b"GiB", b"Kb", b"Mb",
    ];
    UNITS.contains(&w)
}

/// One whitespace-separated word. Named masks whose text contains delimiters
/// (`10.0.0.1:80`, `12:01:02`, `fe80::1`, `C:\x`, URLs) are tried on the whole
/// word first; otherwise the word is split at delimiters.
fn word(b: &[u8], start: usize, end: usize, seen: u8, out: &mut Vec<Piece>) {
    let w = &b[start..end];
    // Runs of dots (`instruction......0`) separate like delimiters.
    let leader_dots = seen & DOT != 0 && contains(w, b"..");
    if seen & DELIM == 0 && !leader_dots {
        out.push(piece(start, end, kind_of(w, seen)));
        return;
    }
    // `key=value` words are split even when the value is a path or address,
    // so that the key stays a constant.
    if (seen & DIGIT != 0 || seen & PATHY != 0) && !is_key_value(w) {
        let (cs, ce) = trim_wrappers(b, start, end);
        if cs < ce && is_compound_var(&b[cs..ce]) {
            // The stripped brackets stay visible as punctuation: header
            // detection balances `[`/`]` across fields.
            push_delims(b, start, cs, out);
            out.push(piece(cs, ce, PieceKind::Var));
            push_delims(b, ce, end, out);
            return;
        }
    }
    let is_sep = |i: usize| {
        CLASS[b[i] as usize] & DELIM != 0
            || (leader_dots && b[i] == b'.' && ((i + 1 < end && b[i + 1] == b'.') || (i > start && b[i - 1] == b'.')))
    };
    let mut i = start;
    while i < end {
        if is_sep(i) {
            out.push(piece(i, i + 1, PieceKind::Punct));
            i += 1;
            continue;
        }
        let s = i;
        let mut seen = 0u8;
        while i < end && !is_sep(i) {
            seen |= CLASS[b[i] as usize];
            i += 1;
        }
        out.push(piece(s, i, kind_of(&b[s..i], seen)));
    }
}

/// Named variables whose text contains delimiters, so they must be recognised
/// before the word is split: times, IPv4/host with port, IPv6, URLs, Windows
/// paths. Cheapest and most selective tests first.
fn is_compound_var(b: &[u8]) -> bool {
    let core = b.strip_prefix(b"/").unwrap_or(b);
    is_clock_or_date(b)
        || is_ipv4_port(core)
        || is_ipv6(b)
        || is_host_port(b)
        || contains(b, b"://")
        || (is_path(b) && !is_call_with_path(b))
}

/// `chdir(/a/b)`: a name and a bracket before the path; keep the name.
fn is_call_with_path(b: &[u8]) -> bool {
    let first_slash = b.iter().position(|&c| c == b'/' || c == b'\\').unwrap_or(b.len());
    b[..first_slash].iter().any(|c| b"([{=".contains(c))
}

/// `key=value` with a plain identifier as key (so not a URL query string).
fn is_key_value(w: &[u8]) -> bool {
    let w = w.strip_prefix(b"[").unwrap_or(w);
    let Some(eq) = w.iter().position(|&c| c == b'=') else {
        return false;
    };
    eq > 0 && w[0].is_ascii_alphabetic() && w[..eq].iter().all(|&c| c.is_ascii_alphanumeric() || b"_.-".contains(&c))
}

fn push_delims(b: &[u8], from: usize, to: usize, out: &mut Vec<Piece>) {
    for i in from..to {
        if CLASS[b[i] as usize] & DELIM != 0 {
            out.push(piece(i, i + 1, PieceKind::Punct));
        }
    }
}

/// Strip brackets, quotes and trailing `, ; : .` around a word.
fn trim_wrappers(b: &[u8], mut s: usize, mut e: usize) -> (usize, usize) {
    while s < e && b"([{<\"'".contains(&b[s]) {
        s += 1;
    }
    while e > s && b")]}>\"',;:.".contains(&b[e - 1]) {
        e -= 1;
    }
    (s, e)
}

fn piece(start: usize, end: usize, kind: PieceKind) -> Piece {
    Piece { start: start as u32, end: end as u32, kind }
}

/// The largest char boundary of `s` at or before `i` (`i` ≤ `s.len()`).
pub(crate) fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn memchr_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&c| c == needle)
}

/// Decide const/var/punct from the byte classes seen in the piece.
#[inline]
fn kind_of(p: &[u8], seen: u8) -> PieceKind {
    if seen & DIGIT != 0 {
        return PieceKind::Var;
    }
    if seen & PATHY != 0 && digitless_var(p).is_some() {
        return PieceKind::Var;
    }
    if seen & (PATHY | DOT) == DOT && is_domain(p) {
        return PieceKind::Var;
    }
    if seen & ALPHA == 0 {
        // Pure punctuation such as `-`, `::`, `=>`.
        return PieceKind::Punct;
    }
    if (p.len() == 3 && is_month_or_day(p)) || is_bool(p) {
        return PieceKind::Var;
    }
    PieceKind::Const
}

/// `true`, `false`, `null` in any case: values, never message words.
fn is_bool(p: &[u8]) -> bool {
    matches!(p.len(), 4 | 5)
        && (p.eq_ignore_ascii_case(b"true") || p.eq_ignore_ascii_case(b"false") || p.eq_ignore_ascii_case(b"null"))
}

/// Name the kind of variable `tok` is, or `None` if it is a constant.
///
/// `tok` is one piece (no whitespace). This is the reference classifier; the
/// tokeniser agrees with it on the var/const decision but skips the naming.
pub fn classify(tok: &str) -> Option<VarKind> {
    let b = tok.as_bytes();
    if b.is_empty() {
        return None;
    }
    if b.len() >= 2 && b[0] == b'"' && b[b.len() - 1] == b'"' {
        return Some(VarKind::Quoted);
    }
    if let Some(k) = named_kind(b) {
        return Some(k);
    }
    b.iter().any(u8::is_ascii_digit).then_some(VarKind::Other)
}

/// A variable of a named kind (everything but [`VarKind::Other`]).
fn named_kind(b: &[u8]) -> Option<VarKind> {
    if !b.iter().any(u8::is_ascii_digit) {
        if let Some(k) = digitless_var(b) {
            return Some(k);
        }
        if is_bool(b) {
            return Some(VarKind::Bool);
        }
        return (b.len() == 3 && is_month_or_day(b)).then_some(VarKind::Timestamp);
    }
    digit_kind(b)
}

/// Variables that need no digit: URLs, e-mails, paths.
fn digitless_var(b: &[u8]) -> Option<VarKind> {
    if contains(b, b"://") {
        return Some(VarKind::Url);
    }
    if is_email(b) {
        return Some(VarKind::Email);
    }
    if is_path(b) {
        return Some(VarKind::Path);
    }
    if is_domain(b) {
        return Some(VarKind::Host);
    }
    None
}

/// `a.b.example.com`: dotted labels ending in a common top-level domain. The
/// TLD test keeps Java/Python names (`org.apache.Foo`, `com.apple.x`) constant.
fn is_domain(b: &[u8]) -> bool {
    const TLDS: [&[u8]; 24] = [
        b"com", b"net", b"org", b"edu", b"gov", b"mil", b"io", b"info", b"biz", b"us", b"uk", b"de", b"cn", b"hk",
        b"jp", b"br", b"ru", b"fr", b"nl", b"au", b"ca", b"kr", b"tw", b"local",
    ];
    let Some(dot) = b.iter().rposition(|&c| c == b'.') else {
        return false;
    };
    dot > 0
        && TLDS.contains(&&b[dot + 1..])
        && b[..dot].iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'_')
}

/// `host.example.com:443`: a dotted host name with a port.
fn is_host_port(b: &[u8]) -> bool {
    let Some(colon) = b.iter().rposition(|&c| c == b':') else {
        return false;
    };
    let (host, port) = (&b[..colon], &b[colon + 1..]);
    (1..=5).contains(&port.len())
        && port.iter().all(u8::is_ascii_digit)
        && host.contains(&b'.')
        && host.first().is_some_and(u8::is_ascii_alphanumeric)
        && host.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'_')
}

fn digit_kind(b: &[u8]) -> Option<VarKind> {
    let core = b.strip_prefix(b"/").unwrap_or(b);
    let kind = if contains(b, b"://") {
        VarKind::Url
    } else if is_email(b) {
        VarKind::Email
    } else if is_uuid(b) {
        VarKind::Uuid
    } else if is_ipv4_port(core) {
        VarKind::Ipv4
    } else if is_host_port(b) || is_domain(b) {
        VarKind::Host
    } else if is_clock_or_date(b) {
        VarKind::Timestamp
    } else if is_ipv6(b) {
        VarKind::Ipv6
    } else if let Some(k) = number_kind(b) {
        k
    } else if is_duration(b) {
        VarKind::Duration
    } else if is_hex(b) {
        VarKind::Hex
    } else if is_path(b) {
        VarKind::Path
    } else {
        return None;
    };
    Some(kind)
}

fn contains(h: &[u8], n: &[u8]) -> bool {
    h.windows(n.len()).any(|w| w == n)
}

fn is_month_or_day(b: &[u8]) -> bool {
    const NAMES: [&[u8; 3]; 19] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec", b"Mon", b"Tue",
        b"Wed", b"Thu", b"Fri", b"Sat", b"Sun",
    ];
    NAMES.iter().any(|n| n.as_slice() == b)
}

fn is_email(b: &[u8]) -> bool {
    let Some(at) = b.iter().position(|&c| c == b'@') else {
        return false;
    };
    let (user, host) = (&b[..at], &b[at + 1..]);
    !user.is_empty()
        && user.iter().all(|&c| c.is_ascii_alphanumeric() || b"._%+-".contains(&c))
        && host.len() >= 3
        && host.contains(&b'.')
        && host.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-')
}

/// Unix absolute/relative paths and Windows paths. A single inner `/` (as in
/// `read/write` or `TCP/IP`) is not enough: such words are usually constants.
fn is_path(b: &[u8]) -> bool {
    if b.len() < 2 {
        return false;
    }
    let slashes = b.iter().filter(|&&c| c == b'/').count();
    b[0] == b'/'
        || b.starts_with(b"~/")
        || b.starts_with(b"./")
        || b.starts_with(b"../")
        || slashes >= 2
        // `com.example/.MainActivity`: a qualified name with a slash.
        || (slashes == 1 && b.contains(&b'.'))
        || b.contains(&b'\\')
        || (b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'\\')
}

fn is_uuid(b: &[u8]) -> bool {
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// `a.b.c.d` with optional `:port`.
fn is_ipv4_port(b: &[u8]) -> bool {
    let (addr, port) = match b.iter().position(|&c| c == b':') {
        Some(i) => (&b[..i], Some(&b[i + 1..])),
        None => (b, None),
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.iter().all(u8::is_ascii_digit) {
            return false;
        }
    }
    let mut parts = 0;
    for part in addr.split(|&c| c == b'.') {
        parts += 1;
        if part.is_empty() || part.len() > 3 || !part.iter().all(u8::is_ascii_digit) {
            return false;
        }
    }
    parts == 4
}

/// IPv6 (optionally `[addr]:port`): hex groups separated by `:`, at least two colons.
fn is_ipv6(b: &[u8]) -> bool {
    let mut a = b;
    if a.first() == Some(&b'[') {
        let Some(close) = a.iter().position(|&c| c == b']') else {
            return false;
        };
        a = &a[1..close];
    }
    let colons = a.iter().filter(|&&c| c == b':').count();
    (2..=7).contains(&colons)
        && a.iter().any(u8::is_ascii_hexdigit)
        && a.iter().all(|&c| c.is_ascii_hexdigit() || c == b':' || c == b'.')
}

/// Dates and clock times: digit groups joined by `- / : . , T` with at least one
/// date/clock separator (`-`, `/`, `:`), e.g. `2005-06-03-15.42.50.675872`.
fn is_clock_or_date(b: &[u8]) -> bool {
    let mut seps = 0;
    let mut digits = 0;
    for &c in b {
        match c {
            b'0'..=b'9' => digits += 1,
            b'-' | b'/' | b':' => seps += 1,
            b'.' | b',' | b'T' | b'Z' | b'+' => {}
            _ => return false,
        }
    }
    seps >= 1 && digits >= 4 && b[0].is_ascii_digit()
}

fn number_kind(b: &[u8]) -> Option<VarKind> {
    let s = std::str::from_utf8(b).ok()?;
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()) {
        return Some(VarKind::Integer);
    }
    let looks_float = t.bytes().next().is_some_and(|c| c.is_ascii_digit())
        && t.bytes().all(|c| c.is_ascii_digit() || b".eE-+".contains(&c));
    (looks_float && t.parse::<f64>().is_ok()).then_some(VarKind::Decimal)
}

fn is_duration(b: &[u8]) -> bool {
    const UNITS: [&[u8]; 12] =
        [b"ns", b"us", "µs".as_bytes(), b"ms", b"s", b"sec", b"secs", b"m", b"min", b"mins", b"h", b"d"];
    let split = b.iter().position(|c| !(c.is_ascii_digit() || *c == b'.')).unwrap_or(b.len());
    let (num, unit) = b.split_at(split);
    !num.is_empty() && num[0].is_ascii_digit() && UNITS.contains(&unit)
}

fn is_hex(b: &[u8]) -> bool {
    let body = b.strip_prefix(b"0x").or_else(|| b.strip_prefix(b"0X")).map(|r| (r, true));
    match body {
        Some((r, _)) => !r.is_empty() && r.iter().all(u8::is_ascii_hexdigit),
        None => b.len() >= 8 && b.iter().all(u8::is_ascii_hexdigit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> TokenizeOptions {
        TokenizeOptions { mask_quoted: true, max_bytes: 4096 }
    }

    #[test]
    fn kinds() {
        let cases = [
            ("42", VarKind::Integer),
            ("-7", VarKind::Integer),
            ("3.14", VarKind::Decimal),
            ("0x1F", VarKind::Hex),
            ("deadbeef01", VarKind::Hex),
            ("10.0.0.1", VarKind::Ipv4),
            ("10.0.0.1:8080", VarKind::Ipv4),
            ("/10.250.19.102:54106", VarKind::Ipv4),
            ("fe80::1ff:fe23:4567:890a", VarKind::Ipv6),
            ("[::1]:22", VarKind::Ipv6),
            ("proxy.example.edu:5070", VarKind::Host),
            ("ns.example.com", VarKind::Host),
            ("123e4567-e89b-12d3-a456-426614174000", VarKind::Uuid),
            ("/var/log/messages", VarKind::Path),
            ("C:\\Windows\\system32", VarKind::Path),
            ("http://example.com/a?b=c", VarKind::Url),
            ("5012ms", VarKind::Duration),
            ("3.2s", VarKind::Duration),
            ("\"hello world\"", VarKind::Quoted),
            ("root@example.com", VarKind::Email),
            ("2024-01-02", VarKind::Timestamp),
            ("12:01:02.123", VarKind::Timestamp),
            ("2005-06-03-15.42.50.675872", VarKind::Timestamp),
            ("Dec", VarKind::Timestamp),
            ("blk_-123", VarKind::Other),
            ("false", VarKind::Bool),
        ];
        for (tok, kind) in cases {
            assert_eq!(classify(tok), Some(kind), "{tok}");
        }
        for tok in ["error", "read/write", "INFO", "Kind:", "org.apache.Foo", "chrome.exe"] {
            assert_eq!(classify(tok), None, "{tok}");
        }
    }

    fn kinds_of(line: &str) -> Vec<(&str, PieceKind)> {
        let mut v = Vec::new();
        tokenize(line, opts(), &mut v);
        v.iter().map(|p| (p.text(line), p.kind)).collect()
    }

    #[test]
    fn tokenizer_agrees_with_classify() {
        let line = "Dec 10 06:55:46 host sshd[24200]: Failed password for root from 1.2.3.4 port 22 ssh2 took 5ms path=/tmp/x mail a@b.org";
        for (text, kind) in kinds_of(line) {
            if kind == PieceKind::Punct {
                continue;
            }
            assert_eq!(kind == PieceKind::Var, classify(text).is_some(), "piece {text:?}");
        }
    }

    #[test]
    fn quoted_spans_are_one_variable() {
        let v = kinds_of("tag=\"View Lock\", name=x");
        assert_eq!(
            v,
            vec![
                ("tag", PieceKind::Const),
                ("=", PieceKind::Punct),
                ("\"View Lock\"", PieceKind::Var),
                (",", PieceKind::Punct),
                ("name", PieceKind::Const),
                ("=", PieceKind::Punct),
                ("x", PieceKind::Const),
            ]
        );
    }

    #[test]
    fn max_bytes_respects_utf8() {
        let mut v = Vec::new();
        let o = TokenizeOptions { mask_quoted: false, max_bytes: 2 };
        tokenize("aé", o, &mut v);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].end, 1);
    }
}
