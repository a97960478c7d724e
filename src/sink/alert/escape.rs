//! Escaping of text taken from log lines, per channel markup, and length caps.
//!
//! Log lines are attacker-controlled (anyone can send a request whose path or user agent ends up in a
//! log line), so nothing from them may turn into a mention, a link or markup in a channel.

use std::borrow::Cow;

/// Zero-width space: breaks `@everyone` / `@here` without changing what a reader sees.
pub const ZWSP: char = '\u{200B}';

/// At most `max` characters (not bytes): longer text is cut and ends with `…`.
pub fn truncate_chars(s: &str, max: usize) -> Cow<'_, str> {
    if max == 0 {
        return Cow::Borrowed("");
    }
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some(_) => {
            let cut = s.char_indices().nth(max - 1).map(|(i, _)| i).unwrap_or(s.len());
            let mut out = String::with_capacity(cut + 3);
            out.push_str(&s[..cut]);
            out.push('…');
            Cow::Owned(out)
        }
    }
}

/// Number of characters (Discord and Slack count characters, not bytes).
pub fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// Slack `mrkdwn` text: `&`, `<` and `>` escaped as Slack documents, so `<!channel>`, `<!here>`,
/// `<@U123>` and `<http://x|label>` stay plain text. Slack has no escape for its formatting
/// characters or for the links it makes of bare URLs and host names, so those are written with
/// look-alikes: `*`, `_`, `~` and `` ` `` at a word's edge (where they would format; `status_code`
/// stays as it is) become `∗ ˍ ∼ ˋ`, the slashes of `://` become `∕∕`, and a dot between a letter or
/// digit and a letter becomes `․` (one dot leader), so `evil.example` is no link.
pub fn slack_text(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let word = |i: usize| chars.get(i).is_some_and(|c| c.is_alphanumeric());
    let mut out = String::with_capacity(s.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        let inside_word = i > 0 && word(i - 1) && word(i + 1);
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '*' if !inside_word => out.push('∗'),
            '_' if !inside_word => out.push('ˍ'),
            '~' if !inside_word => out.push('∼'),
            '`' => out.push('ˋ'),
            '/' if i > 0 && (chars[i - 1] == ':' || (chars[i - 1] == '/' && i > 1 && chars[i - 2] == ':')) => {
                out.push('∕')
            }
            '.' if i > 0 && word(i - 1) && chars.get(i + 1).is_some_and(|c| c.is_alphabetic()) => out.push('․'),
            c if c.is_control() && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text for inside a Slack code block: [`slack_text`], with backticks replaced so the block cannot be
/// closed early, and on one line.
pub fn slack_code(s: &str) -> String {
    slack_text(&one_line(s)).replace('`', "ˋ")
}

/// Discord markdown: every markdown character backslash-escaped (no bold, links, masked links
/// `[x](url)`, headings, quotes or spoilers), `<` escaped (no `<@id>`, `<#id>`, `<http://…>`), and
/// `@everyone` / `@here` broken with a zero-width space. Sent with `allowed_mentions: {"parse": []}`
/// too, so even a missed mention would not ping.
pub fn discord_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '<' | '#' | '-' | '[' | ']' | '(' | ')' | ':' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    break_mentions(&out)
}

/// Text for inside a Discord code block: backticks replaced so the block cannot be closed early,
/// mentions broken, on one line.
pub fn discord_code(s: &str) -> String {
    break_mentions(&one_line(s).replace('`', "ˋ"))
}

/// `@everyone` → `@\u{200B}everyone`, `@here` → `@\u{200B}here` (case-insensitive, as Discord matches).
pub fn break_mentions(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('@') {
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        let lower: String = rest.chars().take(8).collect::<String>().to_ascii_lowercase();
        if lower.starts_with("everyone") || lower.starts_with("here") {
            out.push(ZWSP);
        }
    }
    out.push_str(rest);
    out
}

/// HTML text and attribute escaping.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One line: CR, LF and other control characters become spaces (email subjects, code blocks).
pub fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_text_neither_formats_nor_links() {
        // The bug: bare URLs were linked by Slack and `*_~` formatted text from log lines.
        let t = slack_text("*urgent* _call_ ~now~ `x` http://evil.example/login www.evil.example a@b.example");
        assert_eq!(t, "∗urgent∗ ˍcallˍ ∼now∼ ˋxˋ http:∕∕evil․example/login www․evil․example a@b․example");
        assert_eq!(slack_text("status_code took 612.3 ms"), "status_code took 612.3 ms");
    }

    #[test]
    fn truncation_counts_characters_and_marks_the_cut() {
        assert_eq!(truncate_chars("héllo", 5), "héllo");
        assert_eq!(truncate_chars("héllo!", 5), "héll…");
        assert_eq!(char_len(&truncate_chars(&"é".repeat(5000), 3000)), 3000);
    }

    #[test]
    fn slack_mentions_and_links_become_plain_text() {
        let s = slack_text("<!channel> <!here> <@U123> <http://evil|click> a&b");
        assert_eq!(s, "&lt;!channel&gt; &lt;!here&gt; &lt;@U123&gt; &lt;http:∕∕evil|click&gt; a&amp;b");
        assert!(!slack_code("```x```").contains('`'));
    }

    #[test]
    fn discord_mentions_are_broken_and_markdown_escaped() {
        let s = discord_text("@everyone @HERE [click](http://evil) **b** <@123>");
        assert!(!s.contains("@everyone") && !s.to_lowercase().contains("@here"), "{s}");
        assert!(s.contains("\\[click\\]\\(http\\://evil\\)"), "{s}");
        assert!(s.contains("\\*\\*b\\*\\*") && s.contains("\\<@123\\>"), "{s}");
        assert_eq!(discord_code("a`b @everyone"), format!("aˋb @{ZWSP}everyone"));
    }

    #[test]
    fn html_and_single_line_escaping() {
        assert_eq!(html("<script>\"x\"&'"), "&lt;script&gt;&quot;x&quot;&amp;&#39;");
        assert_eq!(one_line("a\r\nBcc: x"), "a  Bcc: x");
    }
}
