//! Path traversal: `../` steps (after decoding, backslashes as slashes, `....//` and `..;/` as
//! steps too) and the files such probes reach for. In the request path one step is enough, since
//! browsers resolve dot segments before sending; in a parameter value too (as ModSecurity's core
//! rule set judges `../` in any argument), and so is a system file named outright (`/etc/passwd`,
//! `c:\boot.ini`) or a `file:` URL.

/// Files and folders traversal probes reach for, lower case with `/` separators.
const TARGETS: &[&str] = &[
    "etc/passwd",
    "etc/shadow",
    "etc/group",
    "etc/hosts",
    "etc/issue",
    "etc/motd",
    "proc/self/",
    "proc/version",
    "boot.ini",
    "win.ini",
    "system.ini",
    "windows/system32",
    "winnt/",
    "web-inf/",
    "meta-inf/",
    ".htpasswd",
    ".htaccess",
    ".ssh/",
    "id_rsa",
    "var/log/",
    "wwwroot/",
    "global.asa",
    "etc/apache",
    "etc/nginx",
    "etc/httpd",
    "usr/local/",
    "php.ini",
    "my.cnf",
    "wp-config.php",
    "autoexec.bat",
];

/// Where a value is: the request path, or a parameter or header value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Path,
    Value,
}

/// The traversal in `v` (decoded and lower-cased by the caller), as evidence.
pub fn path_traversal(v: &str, place: Place) -> Option<String> {
    let has_dots = v.contains("..");
    if !has_dots && !v.contains('/') && !v.contains('\\') && !v.contains(':') {
        return None;
    }
    let v = v.replace('\\', "/");
    let steps = steps(&v);
    let target = TARGETS.iter().find(|t| v.contains(*t));
    let b = v.as_bytes();
    let drive = b.len() > 2 && b[0].is_ascii_alphabetic() && b[1] == b':';
    let named = target.is_some_and(|t| v.starts_with(t) || ((v.starts_with('/') || drive) && !v.contains(' ')));
    let hit = match place {
        Place::Path => steps >= 1,
        Place::Value => steps >= 1 || named || v.starts_with("file:"),
    };
    hit.then(|| crate::detect::rules::shorten(&v, 120))
}

/// How many `..` steps towards the parent the value takes (`../`, `..;/`, `....//`, a final `..`).
fn steps(v: &str) -> usize {
    let b = v.as_bytes();
    let mut n = 0;
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b'.' && b[i + 1] == b'.' {
            let mut j = i;
            while j < b.len() && b[j] == b'.' {
                j += 1;
            }
            let boundary_before = i == 0 || b[i - 1] == b'/' || b[i - 1] == b'=' || b[i - 1] == b':';
            let next = b.get(j).copied();
            if boundary_before && matches!(next, None | Some(b'/') | Some(b';') | Some(b'\0')) {
                n += 1;
            }
            i = j;
        } else {
            i += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversals_are_found_in_paths_and_values() {
        for v in [
            "../../etc/passwd",
            "....//....//etc/passwd",
            "..;/..;/admin",
            "/etc/passwd",
            "file:/etc/passwd",
            "c:/boot.ini",
            "c:\\windows\\win.ini",
            "../../web-inf/web.xml",
            "/../web-inf/web.xml",
            "../etc/shadow",
            "..\\..\\..\\boot.ini",
            "/proc/self/environ",
            "file:///c:/windows/win.ini",
            "../../../../",
            "../x.png",
            "web-inf/web.xml",
        ] {
            assert!(path_traversal(v, Place::Value).is_some(), "{v:?} was missed");
        }
        assert!(path_traversal("/static/../admin", Place::Path).is_some());
    }

    #[test]
    fn ordinary_values_are_not_traversals() {
        for v in [
            "/api/users",
            "https://example.com/a/b",
            "version 1.2..3",
            "wait...",
            "a..b",
            "c:/users/ann/report.docx",
            "docs/etc/notes",
            "1..10",
            "/home",
            "my passwd is long",
            "/blog/etc-and-more",
        ] {
            assert!(path_traversal(v, Place::Value).is_none(), "{v:?} was flagged");
        }
        assert!(path_traversal("/static/app..js", Place::Path).is_none());
    }
}
