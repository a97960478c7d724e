//! Request values decoded as servers decode them, so an encoded payload is judged as what the
//! application finally sees: percent escapes (repeatedly, for double encoding, at most
//! [`MAX_ROUNDS`] times), `+` as a space in queries, IIS's `%uXXXX`, overlong UTF-8 (`%c0%af` is
//! `/`), full-width forms (`．．／`), and for markup the HTML character references.

use std::borrow::Cow;

/// Percent-decoding rounds: `%25252e` is three encodings of `.`; a fourth is not undone.
pub const MAX_ROUNDS: usize = 3;

/// The value after percent-decoding (repeated), overlong UTF-8 and full-width forms folded to
/// ASCII. `plus_is_space` for query strings (the first round only: a `+` that was `%2b` stays).
pub fn decode(raw: &str, plus_is_space: bool) -> Cow<'_, str> {
    let mut v = Cow::Borrowed(raw);
    for round in 0..MAX_ROUNDS {
        let plus = plus_is_space && round == 0;
        if !(v.contains('%') || (plus && v.contains('+'))) {
            break;
        }
        let next = percent_round(&v, plus);
        if next == *v {
            break;
        }
        v = Cow::Owned(next);
    }
    if v.bytes().any(|b| b >= 0x80) {
        v = Cow::Owned(fold_wide(&v));
    }
    v
}

/// One round of `%XX` and `%uXXXX` decoding; invalid escapes stay as they are. Overlong UTF-8
/// sequences of ASCII characters (`C0 AF`, `E0 80 AF`) become the character they spell.
fn percent_round(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                if matches!(b[i + 1], b'u' | b'U') && i + 5 < b.len() {
                    let code = (2..6).try_fold(0u32, |acc, k| hex(b[i + k]).map(|d| acc * 16 + d));
                    if let Some(ch) = code.and_then(char::from_u32) {
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        i += 6;
                        continue;
                    }
                }
                out.push(b'%');
            }
            b'+' if plus_is_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(fold_overlong(&out)).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Overlong encodings of ASCII (two bytes `C0`/`C1` + continuation, three bytes `E0 80..9F` + continuation)
/// replaced by the ASCII byte: decoders that accept them are what `%c0%af` traversals target.
fn fold_overlong(b: &[u8]) -> Vec<u8> {
    if !b.iter().any(|&c| c == 0xC0 || c == 0xC1 || c == 0xE0) {
        return b.to_vec();
    }
    let cont = |c: Option<&u8>| c.is_some_and(|&c| c & 0xC0 == 0x80);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            c @ (0xC0 | 0xC1) if cont(b.get(i + 1)) => {
                out.push(((c & 0x1F) << 6) | (b[i + 1] & 0x3F));
                i += 2;
            }
            0xE0 if b.get(i + 1).is_some_and(|&c| (0x80..0xA0).contains(&c)) && cont(b.get(i + 2)) => {
                let code = (u32::from(b[i + 1] & 0x3F) << 6) | u32::from(b[i + 2] & 0x3F);
                match u8::try_from(code) {
                    Ok(a) if a < 0x80 => out.push(a),
                    _ => out.extend_from_slice(&b[i..i + 3]),
                }
                i += 3;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Full-width ASCII forms (U+FF01–U+FF5E) and the division and set-minus slashes as the ASCII
/// characters they look like, so `．．／` is `../`.
fn fold_wide(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{2215}' | '\u{2044}' => '/',
            '\u{2216}' | '\u{FE68}' => '\\',
            _ => c,
        })
        .collect()
}

/// HTML character references (`&lt;`, `&#60;`, `&#x3c;`, with or without the `;` for numbers) as
/// a browser resolves them in an attribute, for judging markup.
pub fn html_unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match reference(rest) {
            Some((ch, len)) => {
                out.push(ch);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The character and byte length of the reference at the start of `s` (which starts with `&`).
fn reference(s: &str) -> Option<(char, usize)> {
    const NAMED: &[(&str, char)] = &[
        ("&lt;", '<'),
        ("&gt;", '>'),
        ("&quot;", '"'),
        ("&apos;", '\''),
        ("&amp;", '&'),
        ("&colon;", ':'),
        ("&lpar;", '('),
        ("&rpar;", ')'),
        ("&sol;", '/'),
        ("&tab;", '\t'),
        ("&newline;", '\n'),
    ];
    let b = s.as_bytes();
    if b.get(1) == Some(&b'#') {
        let (radix, start) = if matches!(b.get(2), Some(b'x' | b'X')) { (16, 3) } else { (10, 2) };
        let digits = s[start..].bytes().take(8).take_while(|c| (*c as char).is_digit(radix)).count();
        if digits == 0 {
            return None;
        }
        let code = u32::from_str_radix(&s[start..start + digits], radix).ok()?;
        let semi = usize::from(b.get(start + digits) == Some(&b';'));
        return Some((char::from_u32(code).unwrap_or('\u{FFFD}'), start + digits + semi));
    }
    let lower = s.get(..12.min(s.len())).unwrap_or(s).to_ascii_lowercase();
    NAMED.iter().find(|(name, _)| lower.starts_with(name)).map(|(name, ch)| (*ch, name.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_are_undone_as_a_server_would() {
        assert_eq!(decode("%2e%2e%2f", false), "../");
        assert_eq!(decode("%252e%252e%252f", false), "../");
        assert_eq!(decode("%25252e", false), ".");
        assert_eq!(decode("%2525252e", false), "%2e", "a fourth encoding is not undone");
        assert_eq!(decode("%c0%ae%c0%ae%c0%af", false), "../");
        assert_eq!(decode("%e0%80%ae", false), ".");
        assert_eq!(decode("%u002e%u002e%u2215", false), "../");
        assert_eq!(decode("%uff0e%uff0e/", false), "../");
        assert_eq!(decode("a+b%2bc", true), "a b+c");
        assert_eq!(decode("a+b", false), "a+b");
        assert_eq!(decode("100%", true), "100%");
        assert_eq!(decode("%zz%4", false), "%zz%4");
        assert_eq!(decode("%ff", false), "\u{fffd}");
    }

    #[test]
    fn character_references_are_resolved_for_markup() {
        assert_eq!(html_unescape("&lt;img src=x onerror=alert(1)&gt;"), "<img src=x onerror=alert(1)>");
        assert_eq!(html_unescape("&#106;&#x61;vascript&colon;"), "javascript:");
        assert_eq!(html_unescape("&#106&#97"), "ja");
        assert_eq!(html_unescape("rock & roll"), "rock & roll");
        assert_eq!(html_unescape("AT&T &amp"), "AT&T &amp");
    }
}
