//! What the rules learn about the site itself:
//!
//! - [`ServedPaths`]: a path the site serves successfully to many clients is site content, not a
//!   probe. A project that publishes `release.tar.gz` or a `config.xml` its clients fetch would
//!   otherwise see every download called a sensitive-file probe. A download (an archive, a
//!   `config.xml`) that the site serves at all is content at once, unless its name says backup
//!   (`backup.zip`, `www.tar.gz`, `db.tar.gz`); a scanner's guesses are refused. Secrets that must
//!   never be public (`.env`, `.git/`, `wp-config.php`, …) are never learned as content, however
//!   many clients receive them.
//! - [`KnownScanners`]: a client a rule caught is a scanner for `detection.incident_window_secs`;
//!   each of its requests that the site refuses (4xx) is one of its probes and joins its incident,
//!   though no rule names the path (`/administrator/`, `/joomla/`): the later ones as they come, the
//!   few it sent just before it was caught ([`PENDING_PER_CLIENT`]) when it is caught.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::hash::BuildHasher;

use crate::features::FeatureRow;
use crate::hash::{FastMap, FastSet};

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

/// What the site rules learned, as `models.json` keeps it: a restart does not call the site's
/// own content a probe again, nor forget a scanner in the middle of its walk.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SiteMemory {
    /// Paths that became site content by being served to [`SERVED_CLIENTS`] clients.
    #[serde(default)]
    pub content: Vec<String>,
    /// Known scanners: the client, when a rule last flagged it (seconds), and the rule that did.
    #[serde(default)]
    pub scanners: Vec<(String, f64, String)>,
}

/// Paths a sensitive-file rule matched, with the clients that received them with a 2xx.
#[derive(Debug, Default)]
pub struct ServedPaths {
    paths: RefCell<FastMap<u64, Vec<u64>>>,
    /// The paths that became content, by name (what is saved).
    learned: RefCell<FastSet<String>>,
    hasher: foldhash::fast::RandomState,
}

impl Clone for ServedPaths {
    fn clone(&self) -> Self {
        ServedPaths {
            paths: RefCell::new(self.paths.borrow().clone()),
            learned: RefCell::new(self.learned.borrow().clone()),
            hasher: self.hasher.clone(),
        }
    }
}

/// File endings of downloads a site publishes (and a scanner guesses at).
const DOWNLOADS: &[&str] = &[".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip", ".7z", ".rar"];

/// Names of site configuration a site may publish as a document (and a scanner guesses at).
const PUBLISHED_CONFIG: &[&str] = &["config.xml", "configuration.xml", "settings.xml", "config.json", "settings.json"];

/// Archive names that say "a copy of the site or its data": never content, whatever the answer.
const BACKUP_NAMES: &[&str] = &[
    "db",
    "database",
    "site",
    "www",
    "wwwroot",
    "htdocs",
    "public_html",
    "html",
    "web",
    "src",
    "source",
    "root",
    "home",
    "data",
    "old",
    "archive",
    "sql",
    "mysql",
    "app",
    "website",
    "files",
    "upload",
    "uploads",
];

/// A download (an archive or a published config document) whose name does not say backup: served
/// at all, it is the site's own file.
fn download(lower: &str) -> bool {
    let name = lower.rsplit('/').next().unwrap_or(lower);
    if PUBLISHED_CONFIG.contains(&name) {
        return true;
    }
    let Some(ext) = DOWNLOADS.iter().find(|e| name.ends_with(*e)) else { return false };
    let stem = &name[..name.len() - ext.len()];
    !(stem.is_empty() || stem.contains("backup") || stem.contains("dump") || BACKUP_NAMES.contains(&stem))
}

/// The site has the file: a 2xx, a 304 (the client's copy is current) or a 416 (a range past the
/// end of a file that exists). A redirect says nothing (many sites redirect every path to https).
fn served(status: Option<u16>) -> bool {
    matches!(status, Some(200..=299 | 304 | 416))
}

impl ServedPaths {
    /// Record a request for `path` that a sensitive-file rule matched; whether the path is site
    /// content: a download the site serves (see [`download`]) or that a declared crawler
    /// (`crawler`) follows a link to, or a path received with a 2xx by [`SERVED_CLIENTS`] distinct
    /// clients, this one included.
    pub fn content(&self, path: &str, client: Option<&str>, status: Option<u16>, crawler: bool) -> bool {
        let lower = path.to_ascii_lowercase();
        if NEVER_CONTENT.iter().any(|n| lower.contains(n)) {
            return false;
        }
        if (served(status) || crawler) && download(&lower) {
            return true;
        }
        if self.learned.borrow().contains(path) {
            return true;
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
                let mut learned = self.learned.borrow_mut();
                if clients.len() == SERVED_CLIENTS && learned.len() < MAX_PATHS {
                    learned.insert(path.to_string());
                }
            }
        }
        paths.get(&key).is_some_and(|c| c.len() >= SERVED_CLIENTS)
    }

    /// The paths learned as content, sorted (for `models.json`).
    pub fn learned(&self) -> Vec<String> {
        let mut v: Vec<String> = self.learned.borrow().iter().cloned().collect();
        v.sort();
        v
    }

    /// Resume the paths saved in `models.json` as content.
    pub fn restore(&self, paths: Vec<String>) {
        let mut learned = self.learned.borrow_mut();
        for p in paths.into_iter().take(MAX_PATHS.saturating_sub(learned.len())) {
            learned.insert(p);
        }
    }
}

/// Clients a rule flagged, with when and by which rule; and the last refused requests of clients
/// not (yet) flagged, which join the incident if the client turns out to be a scanner.
#[derive(Debug, Clone)]
pub struct KnownScanners {
    clients: RefCell<FastMap<String, (f64, String)>>,
    pending: HeldRows,
}

impl Default for KnownScanners {
    fn default() -> Self {
        KnownScanners { clients: RefCell::default(), pending: HeldRows::new(PENDING_PER_CLIENT, MAX_PENDING_CLIENTS) }
    }
}

/// The last few rows of each key that nothing flagged, for a later verdict to take in: a
/// scanner's refused requests before it was caught, the 5xx that started a burst. At most
/// `per_key` rows of `max_keys` keys (past that, the keys quiet for longer than the window go, or
/// all of them). The same line held twice (judged again by the first models) is held once.
#[derive(Debug, Clone)]
pub struct HeldRows {
    rows: RefCell<FastMap<String, VecDeque<FeatureRow>>>,
    per_key: usize,
    max_keys: usize,
}

impl HeldRows {
    pub fn new(per_key: usize, max_keys: usize) -> HeldRows {
        HeldRows { rows: RefCell::default(), per_key, max_keys }
    }

    /// Hold `row` under `key`; `window_secs` is how long a held row can still be taken.
    pub fn hold(&self, key: &str, row: &FeatureRow, window_secs: f64) {
        let mut held = self.rows.borrow_mut();
        let time = row.summary.time;
        if held.len() >= self.max_keys && !held.contains_key(key) {
            held.retain(|_, rows| rows.back().is_some_and(|r| time - r.summary.time <= window_secs));
            if held.len() >= self.max_keys {
                held.clear();
            }
        }
        let rows = held.entry(key.to_string()).or_default();
        if rows.iter().any(|r| r.summary.time == time && r.event.raw.line == row.event.raw.line) {
            return;
        }
        if rows.len() >= self.per_key {
            rows.pop_front();
        }
        rows.push_back(row.clone());
    }

    /// The rows held under `key` within `window_secs` of `time` (each is handed out once).
    pub fn take(&self, key: &str, time: f64, window_secs: f64) -> Vec<FeatureRow> {
        let Some(rows) = self.rows.borrow_mut().remove(key) else { return Vec::new() };
        rows.into_iter().filter(|r| (time - r.summary.time).abs() <= window_secs).collect()
    }
}

/// Clients remembered at most.
const MAX_SCANNERS: usize = 10_000;

/// Refused requests kept per client not yet known as a scanner: about what `error_scanning` needs
/// before it can call a client a scanner.
pub const PENDING_PER_CLIENT: usize = 8;

/// Clients whose refused requests are kept at most (a bound on memory: about 1 kB a request).
const MAX_PENDING_CLIENTS: usize = 2048;

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

    /// The known scanners, for `models.json`.
    pub fn export(&self) -> Vec<(String, f64, String)> {
        let mut v: Vec<(String, f64, String)> =
            self.clients.borrow().iter().map(|(c, (t, r))| (c.clone(), *t, r.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Resume the known scanners saved in `models.json`.
    pub fn restore(&self, saved: Vec<(String, f64, String)>) {
        let mut clients = self.clients.borrow_mut();
        for (client, t, rule) in saved.into_iter().take(MAX_SCANNERS.saturating_sub(clients.len())) {
            clients.insert(client, (t, rule));
        }
    }

    /// Keep a refused request that nothing flagged, from a client not known as a scanner: if the
    /// client is caught within `window_secs`, the request was one of its probes.
    pub fn hold_refused(&self, client: &str, row: &FeatureRow, window_secs: f64) {
        self.pending.hold(client, row, window_secs);
    }

    /// The refused requests `client` sent within `window_secs` before `time`, now that it is
    /// caught (each is handed out once).
    pub fn take_refused(&self, client: &str, time: f64, window_secs: f64) -> Vec<FeatureRow> {
        self.pending.take(client, time, window_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_many_clients_receive_is_content_but_a_secret_never_is() {
        let s = ServedPaths::default();
        for i in 0..SERVED_CLIENTS - 1 {
            assert!(!s.content("/wp-login.php", Some(&format!("10.0.0.{i}")), Some(200), false));
        }
        assert!(!s.content("/wp-login.php", Some("10.0.0.0"), Some(200), false), "the same client twice is one client");
        assert!(!s.content("/wp-login.php", Some("10.0.0.9"), Some(404), false), "a refusal is not serving");
        assert!(s.content("/wp-login.php", Some("10.0.0.9"), Some(200), false));
        assert!(s.content("/wp-login.php", Some("198.51.100.7"), Some(404), false), "content stays content");
        for i in 0..20 {
            assert!(!s.content("/.env", Some(&format!("10.0.1.{i}")), Some(200), false));
            assert!(!s.content("/backup.sql", Some(&format!("10.0.1.{i}")), Some(200), false));
        }
    }

    #[test]
    fn a_download_the_site_serves_is_content_at_once_unless_it_is_named_as_a_backup() {
        let s = ServedPaths::default();
        assert!(s.content("/files/xdotool/xdotool-2.20101014.tar.gz", Some("10.0.0.1"), Some(200), false));
        assert!(s.content("/files/fex/fex-20070729.tgz", Some("10.0.0.1"), Some(304), false));
        assert!(s.content("/files/xdotool/xdotool-2.20101014.tar.gz", Some("10.0.0.2"), Some(416), false));
        assert!(s.content("/files/logstash/config.xml", Some("10.0.0.1"), Some(200), false));
        assert!(!s.content("/release.zip", Some("10.0.0.1"), Some(404), false), "a guess the site refuses");
        assert!(!s.content("/release.zip", Some("10.0.0.1"), Some(301), false), "a redirect proves nothing");
        for backup in ["/backup.tar.gz", "/www.zip", "/site.tar.gz", "/files/db.tar.gz", "/example-dump.7z", "/.tar.gz"]
        {
            assert!(!s.content(backup, Some("10.0.0.1"), Some(200), false), "{backup}");
            assert!(!s.content(backup, Some("10.0.0.1"), Some(404), true), "{backup} by a crawler");
        }
        // A crawler follows the site's links, to a file that has moved or gone too.
        assert!(s.content("/projects/chat/imchat.tar.gz", Some("10.0.0.3"), Some(301), true));
        assert!(s.content("/projects/securitrack/config.xml", Some("10.0.0.3"), Some(404), true));
        assert!(!s.content("/.env", Some("10.0.0.3"), Some(404), true));
    }

    #[test]
    fn what_was_learned_survives_a_save() {
        let s = ServedPaths::default();
        for i in 0..SERVED_CLIENTS {
            s.content("/wp-login.php", Some(&format!("10.0.0.{i}")), Some(200), false);
        }
        assert_eq!(s.learned(), ["/wp-login.php"]);
        let resumed = ServedPaths::default();
        resumed.restore(s.learned());
        assert!(resumed.content("/wp-login.php", Some("192.0.2.1"), Some(200), false));
        assert!(!resumed.content("/xmlrpc.php", Some("192.0.2.1"), Some(200), false));
        let k = KnownScanners::default();
        k.flagged("203.0.113.9", 1000.0, "sensitive_file_probe", 300.0);
        let again = KnownScanners::default();
        again.restore(k.export());
        assert_eq!(again.known("203.0.113.9", 1100.0, 300.0).as_deref(), Some("sensitive_file_probe"));
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
