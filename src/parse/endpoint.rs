//! Endpoint keys: what the detector groups events by.
//!
//! For requests: `METHOD /path/template`. The query string is split off (kept in
//! `LogEvent::query`), a full URL loses its scheme and host, and each path segment that is an id
//! becomes a placeholder: all digits → `{id}`, a UUID → `{uuid}`, hex of 8+ characters containing
//! a digit → `{hex}`, an email → `{email}`, a token of 20+ URL-safe characters containing a digit
//! → `{token}`. Ordinary words stay. A request without a method uses `ANY` (no method is
//! assumed). At most [`MAX_SEGMENTS`] segments are kept (then `/…`) and the template is cut to
//! [`MAX_TEMPLATE_CHARS`].
//!
//! For lines that are not requests: `text: LEVEL message` with numbers, IPs, UUIDs, hex ids and
//! paths masked (`<num>`, `<ip>`, `<uuid>`, `<hex>`, `<path>`), cut to [`MAX_MESSAGE_CHARS`], so
//! lines printed by the same statement share a key.

use super::Level;

/// Longest path template, in bytes (cut at a char boundary).
pub const MAX_TEMPLATE_CHARS: usize = 200;
/// Most path segments kept in a template.
pub const MAX_SEGMENTS: usize = 16;
/// Longest masked message in a text template, in bytes.
pub const MAX_MESSAGE_CHARS: usize = 80;

/// Splits a request target into path and query: drops `scheme://host` from a full URL and a
/// `#fragment`; the query has no leading `?` and is `None` when empty.
pub fn split_target(target: &str) -> (&str, Option<&str>) {
    let mut t = target.trim();
    if !t.starts_with('/') {
        if let Some(i) = t.find("://").filter(|&i| i <= 8 && t[..i].bytes().all(|b| b.is_ascii_alphabetic())) {
            let after = &t[i + 3..];
            t = after.find('/').map_or("/", |j| &after[j..]);
            if let Some(q) = after.find('?').filter(|_| !after.contains('/')) {
                t = &after[q..];
            }
        }
    }
    let b = t.as_bytes();
    let Some(i) = b.iter().position(|&c| c == b'?' || c == b'#') else {
        return (t, None);
    };
    let path = if i == 0 { "/" } else { &t[..i] };
    if b[i] == b'#' {
        return (path, None);
    }
    let query = &t[i + 1..];
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    (path, (!query.is_empty()).then_some(query))
}

/// The endpoint key of a request: `GET /api/users/{id}`, or `ANY /path` without a method.
pub fn request_key(method: Option<&str>, path: &str) -> String {
    let method = method.unwrap_or("ANY");
    let mut out = String::with_capacity(method.len() + 1 + path.len().min(MAX_TEMPLATE_CHARS));
    out.push_str(method);
    out.push(' ');
    push_template(&mut out, path);
    out
}

/// The template of a path alone (`/api/users/4812` → `/api/users/{id}`).
pub fn path_template(path: &str) -> String {
    let mut out = String::with_capacity(path.len().min(MAX_TEMPLATE_CHARS));
    push_template(&mut out, path);
    out
}

fn push_template(out: &mut String, path: &str) {
    let start = out.len();
    // Split on the byte: `/` is ASCII, so every piece is still a `str` slice.
    let segments = path.as_bytes().split(|&b| b == b'/').map(|seg| {
        let at = seg.as_ptr() as usize - path.as_ptr() as usize;
        &path[at..at + seg.len()]
    });
    for (n, seg) in segments.enumerate() {
        if n > 0 {
            out.push('/');
        }
        if n > MAX_SEGMENTS {
            out.push('…');
            break;
        }
        out.push_str(segment_placeholder(seg).unwrap_or(seg));
        if out.len() - start > MAX_TEMPLATE_CHARS {
            break;
        }
    }
    cut(out, start + MAX_TEMPLATE_CHARS);
}

/// Truncates `s` to at most `max` bytes, at a char boundary.
fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut i = max;
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        s.truncate(i);
    }
}

/// The placeholder for an id-like path segment, or `None` for an ordinary word.
pub fn segment_placeholder(seg: &str) -> Option<&'static str> {
    let b = seg.as_bytes();
    if b.is_empty() {
        return None;
    }
    let has_digit = b.iter().any(u8::is_ascii_digit);
    if has_digit && b.iter().all(u8::is_ascii_digit) {
        return Some("{id}");
    }
    if is_uuid(b) {
        return Some("{uuid}");
    }
    if b.len() >= 8 && has_digit && b.iter().all(u8::is_ascii_hexdigit) {
        return Some("{hex}");
    }
    if b.iter().any(|&c| c == b'@' || c == b'%') && is_email(seg) {
        return Some("{email}");
    }
    if b.len() >= 20
        && has_digit
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'=' | b'+' | b'.' | b'~' | b'%'))
    {
        return Some("{token}");
    }
    None
}

fn is_uuid(b: &[u8]) -> bool {
    b.len() == 36
        && b.iter()
            .enumerate()
            .all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { *c == b'-' } else { c.is_ascii_hexdigit() })
}

fn is_email(s: &str) -> bool {
    let (local, domain) = match s.split_once('@') {
        Some(parts) => parts,
        None => match s.find("%40") {
            Some(i) => (&s[..i], &s[i + 3..]),
            None => return false,
        },
    };
    !local.is_empty() && domain.len() >= 3 && domain.contains('.') && !domain.contains('@')
}

/// The endpoint key of a line that is not a request: `text: ERROR upstream timeout after <num>`.
pub fn message_key(level: Option<Level>, message: &str) -> String {
    let mut out = String::with_capacity(6 + 6 + MAX_MESSAGE_CHARS.min(message.len() + 8));
    out.push_str("text: ");
    if let Some(level) = level {
        out.push_str(level_name(level));
        out.push(' ');
    }
    let start = out.len();
    for (n, tok) in message.split_ascii_whitespace().enumerate() {
        if n > 0 {
            out.push(' ');
        }
        push_masked(&mut out, tok);
        if out.len() - start >= MAX_MESSAGE_CHARS {
            break;
        }
    }
    if out.len() > start + MAX_MESSAGE_CHARS {
        cut(&mut out, start + MAX_MESSAGE_CHARS);
        // Drop the partial last word, unless it is the only one.
        if let Some(space) = out[start..].rfind(' ') {
            out.truncate(start + space);
        }
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "TRACE",
        Level::Debug => "DEBUG",
        Level::Info => "INFO",
        Level::Warn => "WARN",
        Level::Error => "ERROR",
        Level::Fatal => "FATAL",
    }
}

/// Writes one whitespace-separated token with its variable parts masked.
fn push_masked(out: &mut String, tok: &str) {
    let edge =
        |c: char| matches!(c, '[' | ']' | '(' | ')' | '{' | '}' | '<' | '>' | ',' | ';' | ':' | '"' | '\'' | '=');
    let core = tok.trim_matches(edge);
    let (mut dots, mut colons, mut digits, mut slash) = (0, 0, 0, false);
    for b in core.bytes() {
        match b {
            b'.' => dots += 1,
            b':' => colons += 1,
            b'0'..=b'9' => digits += 1,
            b'/' => slash = true,
            _ => {}
        }
    }
    if core.is_empty() || (dots < 2 && digits == 0 && !slash) {
        out.push_str(tok);
        return;
    }
    let lead = &tok[..tok.len() - tok.trim_start_matches(edge).len()];
    let trail = &tok[lead.len() + core.len()..];
    // `key=value`: keep the key, mask the value.
    if let Some((k, v)) = core.split_once('=').filter(|(k, _)| !k.is_empty() && !k.contains('/')) {
        out.push_str(lead);
        out.push_str(k);
        out.push('=');
        push_masked(out, v);
        out.push_str(trail);
        return;
    }
    out.push_str(lead);
    let maybe_address = digits > 0 && (dots == 3 || colons >= 1);
    match whole_mask(core, maybe_address) {
        Some(m) => out.push_str(m),
        None => mask_pieces(out, dotted_tail(core).unwrap_or(core)),
    }
    out.push_str(trail);
}

/// The last part of a dotted name (`org.apache.hadoop.mapreduce.v2.app.MRAppMaster` →
/// `MRAppMaster`, `ns.example.com` → `com`), so long class and host names do not eat the
/// template's length budget.
fn dotted_tail(core: &str) -> Option<&str> {
    let ok = core.bytes().filter(|&b| b == b'.').count() >= 2
        && core.bytes().all(|b| b.is_ascii_alphanumeric() || b"_$.-".contains(&b))
        && !core.starts_with('.')
        && !core.ends_with('.');
    ok.then(|| core.rsplit('.').next().unwrap_or(core))
}

/// A mask for a token that is entirely variable.
/// `maybe_address`: the token has digits and three dots or a colon (IP, `host:port`).
fn whole_mask(core: &str, maybe_address: bool) -> Option<&'static str> {
    let b = core.as_bytes();
    if maybe_address && is_ip(core) {
        return Some("<ip>");
    }
    if is_uuid(b) {
        return Some("<uuid>");
    }
    if b[0] == b'/' && b.len() > 1 {
        return Some("<path>");
    }
    if let Some((host, port)) = core.rsplit_once(':').filter(|_| maybe_address) {
        let host_ok = host.contains('.') && host.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-');
        if host_ok && !port.is_empty() && port.bytes().all(|c| c.is_ascii_digit()) {
            return Some("<host>");
        }
    }
    if b.len() > 2 && (b.starts_with(b"0x") || b.starts_with(b"0X")) && b[2..].iter().all(u8::is_ascii_hexdigit) {
        return Some("<hex>");
    }
    // Numbers, times, dates, sizes with a unit: digits and separators first, then at most a unit.
    let num_end = b.iter().position(|c| !(c.is_ascii_digit() || b".,:-+/_".contains(c))).unwrap_or(b.len());
    let starts_numeric = b[0].is_ascii_digit() || (b.len() > 1 && b"-+".contains(&b[0]) && b[1].is_ascii_digit());
    if starts_numeric && b[num_end..].len() <= 3 && b[num_end..].iter().all(|c| c.is_ascii_alphabetic() || *c == b'%') {
        return Some("<num>");
    }
    if b.len() >= 8 && b.iter().all(u8::is_ascii_hexdigit) {
        return Some("<hex>");
    }
    None
}

/// Masks each alphanumeric run that holds a digit: all digits → `<num>`, mixed → `<*>`
/// (`blk_-1608999` → `blk_<num>`, `req-38101a0b` → `req-<*>`, `node-246` → `node-<num>`). A `-`
/// sign before a number is dropped unless it follows a letter or digit.
fn mask_pieces(out: &mut String, core: &str) {
    fn flush(out: &mut String, run: &str) {
        let b = run.as_bytes();
        if !b.iter().any(u8::is_ascii_digit) {
            out.push_str(run);
        } else if b.iter().all(u8::is_ascii_digit) {
            out.push_str("<num>");
        } else {
            out.push_str("<*>");
        }
    }
    let mut start = 0;
    let mut prev_alnum = false;
    let mut chars = core.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c.is_ascii_alphanumeric() {
            prev_alnum = true;
            continue;
        }
        flush(out, &core[start..i]);
        start = i + c.len_utf8();
        let sign = c == '-' && !prev_alnum && chars.peek().is_some_and(|(_, n)| n.is_ascii_digit());
        if !sign {
            out.push(c);
        }
        prev_alnum = false;
    }
    flush(out, &core[start..]);
}

/// IPv4 (with an optional `:port`) or IPv6.
fn is_ip(s: &str) -> bool {
    let host = match s.rsplit_once(':') {
        Some((h, p)) if h.contains('.') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => s,
    };
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        return true;
    }
    s.contains(':') && s.bytes().filter(|&b| b == b':').count() >= 2 && s.parse::<std::net::Ipv6Addr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One template per line.
    fn keys(paths: &[&str]) -> String {
        paths.iter().map(|p| path_template(p) + "\n").collect()
    }

    #[test]
    fn path_segments() {
        assert_eq!(request_key(Some("GET"), "/api/users/4812"), "GET /api/users/{id}");
        assert_eq!(
            keys(&[
                "/api/orders/3fa85f64-5717-4562-b3fc-2c963f66afa6/items",
                "/blobs/9f86d081884c7d65",
                "/users/jane.doe@example.com/prefs",
                "/users/jane.doe%40example.com",
                "/reset/eyJhbGciOiJIUzI1NiJ9x4Q2_abc-def",
                "/api/products",
                "/api/deadbeef",
                "/v2/search",
                "/",
                "",
            ]),
            "/api/orders/{uuid}/items\n/blobs/{hex}\n/users/{email}/prefs\n/users/{email}\n/reset/{token}\n\
             /api/products\n/api/deadbeef\n/v2/search\n/\n\n"
        );
        assert_eq!(request_key(None, "/health"), "ANY /health");
    }

    #[test]
    fn bounded_templates() {
        let many = "/a".repeat(100);
        let t = path_template(&many);
        assert_eq!(t.matches('/').count(), MAX_SEGMENTS + 1);
        assert!(t.ends_with('…'));
        let long = format!("/{}", "é".repeat(500));
        let t = path_template(&long);
        assert!(t.len() <= MAX_TEMPLATE_CHARS);
    }

    #[test]
    fn targets() {
        assert_eq!(split_target("/a?b=1&c=2"), ("/a", Some("b=1&c=2")));
        assert_eq!(split_target("/a?"), ("/a", None));
        assert_eq!(split_target("https://shop.example:8443/cart?x=1#top"), ("/cart", Some("x=1")));
        assert_eq!(split_target("http://shop.example"), ("/", None));
        assert_eq!(split_target("http://shop.example?q=1"), ("/", Some("q=1")));
        assert_eq!(split_target("?only=query"), ("/", Some("only=query")));
    }

    #[test]
    fn message_templates_group_by_statement() {
        let a = message_key(
            Some(Level::Info),
            "dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating",
        );
        let b = message_key(
            Some(Level::Info),
            "dfs.DataNode$PacketResponder: PacketResponder 0 for block blk_-6952295868487656571 terminating",
        );
        assert_eq!(a, "text: INFO dfs.DataNode$PacketResponder: PacketResponder <num> for block blk_<num>");
        assert_eq!(a, b);
        assert_eq!(
            message_key(
                None,
                "[main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created for appattempt_1445_0020"
            ),
            "text: [main] MRAppMaster: Created for appattempt_<num>_<num>"
        );
        assert_eq!(
            message_key(None, "chrome.exe - proxy.cse.cuhk.edu.hk:5070 open through req-38101a0b-2096 node-246 é1"),
            "text: chrome.exe - <host> open through req-<*>-<num> node-<num> é<num>"
        );
        assert_eq!(
            message_key(None, "Received connection request /10.10.34.11:45307 from 10.0.0.1 id=0x1f3a"),
            "text: Received connection request <path> from <ip> id=<hex>"
        );
        assert_eq!(
            message_key(Some(Level::Error), "upstream timeout after 30s calling payments-service"),
            "text: ERROR upstream timeout after <num> calling payments-service"
        );
        assert_eq!(
            message_key(None, "job 3fa85f64-5717-4562-b3fc-2c963f66afa6 took 12.5ms (deadbeef01)"),
            "text: job <uuid> took <num> (<hex>)"
        );
        let long = message_key(None, &"word ".repeat(100));
        assert!(long.len() <= 6 + MAX_MESSAGE_CHARS, "{long}");
        assert_eq!(message_key(None, ""), "text:");
    }
}
