//! Text from log lines made safe to show: on a terminal (no escape sequences, no hidden or
//! reordered characters) and in chat channels (no bidirectional overrides or zero-width text).
//!
//! Log lines are attacker-controlled: anyone who can send a request can put `\x1b]52;…` (a
//! clipboard write), a screen clear or U+202E (right-to-left override) into a path or user agent.

use std::borrow::Cow;
use std::fmt::Write;

/// Unicode format characters that change how text reads without showing themselves: bidirectional
/// embeddings, overrides and isolates, zero-width characters, the word joiner and invisible
/// operators, the byte-order mark.
pub fn is_hidden_format(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{FEFF}')
}

/// For a terminal: control characters (C0, DEL, C1) and hidden format characters written as
/// escapes (`\x1b`, `\u{202e}`), as the daemon's own log lines show them. Borrows when nothing
/// needed escaping.
pub fn escape_for_terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() || is_hidden_format(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() && (c as u32) < 0x80 {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else if c.is_control() || is_hidden_format(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// For chat channels and e-mail: hidden format characters shown as `<U+202E>` so nobody can make
/// text read differently than it is. Borrows when there were none.
pub fn neutralize_hidden(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_hidden_format) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_hidden_format(c) {
            let _ = write!(out, "<U+{:04X}>", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The rows of a CSV text (RFC 4180 quoting; CR ignored), for the tests that read the datasets.
#[cfg(test)]
pub(crate) fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            ('\r', false) => {}
            (c, _) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_cover_osc_csi_bidi_and_zero_width() {
        let line = "GET /\x1b]52;c;ZXZpbA==\x07 \x1b[2J\u{202e}gpj.exe\u{200b}\u{9b}x";
        let shown = escape_for_terminal(line);
        assert_eq!(shown, "GET /\\x1b]52;c;ZXZpbA==\\x07 \\x1b[2J\\u{202e}gpj.exe\\u{200b}\\u{9b}x");
        assert!(!shown.chars().any(|c| c.is_control() || is_hidden_format(c)));
        assert!(matches!(escape_for_terminal("plain ünïcode ✓"), Cow::Borrowed(_)));
    }

    #[test]
    fn hidden_characters_are_made_visible_for_channels() {
        assert_eq!(neutralize_hidden("invoice\u{202e}fdp.exe\u{2066}"), "invoice<U+202E>fdp.exe<U+2066>");
        assert!(matches!(neutralize_hidden("GET /api/users"), Cow::Borrowed(_)));
    }
}
