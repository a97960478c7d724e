//! What the rules learn about the site itself:
//!
//! - [`ServedPaths`]: a path the site serves successfully to many clients is site content, not a
//!   probe. A project that publishes `release.tar.gz` or a `config.xml` its clients fetch would
//!   otherwise see every download called a sensitive-file probe. Secrets that must never be
//!   public (`.env`, `.git/`, `wp-config.php`, …) are never learned as content, however many
//!   clients receive them.
//! - [`KnownScanners`]: a client a rule caught is a scanner for `detection.incident_window_secs`;
//!   each of its later requests that the site refuses (4xx) is one of its probes and joins its
//!   incident, though no rule names the path (`/administrator/`, `/joomla/`).

use std::cell::RefCell;
use std::hash::BuildHasher;

use crate::hash::FastMap;

/// Distinct clients that must receive a path with a 2xx before it counts as site content.
pub const SERVED_CLIENTS: usize = 5;

/// Paths tracked at most; past it the table starts over (a bound, not a cache policy).
const MAX_PATHS: usize = 10_000;

/// Probe targets that are never site content, whoever receives them.
const NEVER_CONTENT: &[&str] = &[
    "/.env",
    "/.git",
    "/.svn",
    "/.hg",
    "/.bzr",
    "/.htpasswd",
    "/.htaccess",
    "/.aws",
    "/.ssh",
    "/.docker",
    "/.npmrc",
    "/.bash_history",
    "wp-config",
    "phpinfo",
    "shell.php",
    "cmd.php",
    "eval-stdin",
    "/phpmyadmin",
    "/adminer",
    "/server-status",
    "/actuator",
    "/jmx-console",
    "/manager/html",
    "/vendor/phpunit",
    "/_ignition",
    "/telescope",
    ".pem",
    ".key",
    "credentials",
    "secrets",
    ".sql",
    ".sqlite",
];

/// Paths a sensitive-file rule matched, with the clients that received them with a 2xx.
#[derive(Debug, Default)]
pub struct ServedPaths {
    paths: RefCell<FastMap<u64, Vec<u64>>>,
    hasher: foldhash::fast::RandomState,
}

impl Clone for ServedPaths {
    fn clone(&self) -> Self {
        ServedPaths { paths: RefCell::new(self.paths.borrow().clone()), hasher: self.hasher.clone() }
    }
}

impl ServedPaths {
    /// Record a request for `path` that a sensitive-file rule matched; whether the path is site
    /// content (received with a 2xx by [`SERVED_CLIENTS`] distinct clients, this one included).
    pub fn content(&self, path: &str, client: Option<&str>, status: Option<u16>) -> bool {
        let lower = path.to_ascii_lowercase();
        if NEVER_CONTENT.iter().any(|n| lower.contains(n)) {
            return false;
        }
        let key = self.hasher.hash_one(path);
        let mut paths = self.paths.borrow_mut();
        if let (Some(c), Some(200..=299)) = (client, status) {
            if paths.len() >= MAX_PATHS && !paths.contains_key(&key) {
                paths.clear();
            }
            let clients = paths.entry(key).or_default();
            let c = self.hasher.hash_one(c);
            if clients.len() < SERVED_CLIENTS && !clients.contains(&c) {
                clients.push(c);
            }
        }
        paths.get(&key).is_some_and(|c| c.len() >= SERVED_CLIENTS)
    }
}

/// Clients a rule flagged, with when and by which rule.
#[derive(Debug, Clone, Default)]
pub struct KnownScanners {
    clients: RefCell<FastMap<String, (f64, String)>>,
}

/// Clients remembered at most.
const MAX_SCANNERS: usize = 10_000;

impl KnownScanners {
    /// `client` was flagged by `rule` at `time` (seconds).
    pub fn flagged(&self, client: &str, time: f64, rule: &str, window_secs: f64) {
        let mut clients = self.clients.borrow_mut();
        if clients.len() >= MAX_SCANNERS && !clients.contains_key(client) {
            clients.retain(|_, (t, _)| time - *t <= window_secs);
            if clients.len() >= MAX_SCANNERS {
                clients.clear();
            }
        }
        match clients.get_mut(client) {
            Some(entry) => entry.0 = entry.0.max(time),
            None => {
                clients.insert(client.to_string(), (time, rule.to_string()));
            }
        }
    }

    /// The rule that made `client` a known scanner, if it flagged it within `window_secs` of `time`.
    pub fn known(&self, client: &str, time: f64, window_secs: f64) -> Option<String> {
        let clients = self.clients.borrow();
        let (t, rule) = clients.get(client)?;
        (time - *t <= window_secs && time >= *t - window_secs).then(|| rule.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_download_many_clients_receive_is_content_but_a_secret_never_is() {
        let s = ServedPaths::default();
        for i in 0..SERVED_CLIENTS - 1 {
            assert!(!s.content("/dist/app-1.2.tar.gz", Some(&format!("10.0.0.{i}")), Some(200)));
        }
        assert!(!s.content("/dist/app-1.2.tar.gz", Some("10.0.0.0"), Some(200)), "the same client twice is one client");
        assert!(!s.content("/dist/app-1.2.tar.gz", Some("10.0.0.9"), Some(404)), "a refusal is not serving");
        assert!(s.content("/dist/app-1.2.tar.gz", Some("10.0.0.9"), Some(200)));
        assert!(s.content("/dist/app-1.2.tar.gz", Some("198.51.100.7"), Some(404)), "content stays content");
        for i in 0..20 {
            assert!(!s.content("/.env", Some(&format!("10.0.1.{i}")), Some(200)));
            assert!(!s.content("/backup.sql", Some(&format!("10.0.1.{i}")), Some(200)));
        }
    }

    #[test]
    fn a_scanner_is_known_for_the_incident_window() {
        let k = KnownScanners::default();
        k.flagged("203.0.113.9", 1000.0, "sensitive_file_probe", 300.0);
        assert_eq!(k.known("203.0.113.9", 1200.0, 300.0).as_deref(), Some("sensitive_file_probe"));
        assert_eq!(k.known("203.0.113.9", 1400.0, 300.0), None);
        assert_eq!(k.known("198.51.100.1", 1000.0, 300.0), None);
        k.flagged("203.0.113.9", 1350.0, "xss", 300.0);
        assert_eq!(
            k.known("203.0.113.9", 1600.0, 300.0).as_deref(),
            Some("sensitive_file_probe"),
            "kept by the later flag"
        );
    }
}
