//! Rolls anomalies up into incidents: anomalies of one kind on one endpoint (for `suspicious`: from
//! one client, whatever the path) closer than `incident_window_secs` are one incident.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use jiff::Timestamp;

use super::{Anomaly, AnomalyKind, Incident};
use crate::sink::finding::Finding;

/// Examples kept per incident.
const EXAMPLES: usize = 5;
/// Open incidents kept at most (oldest are closed first past this).
const MAX_OPEN: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    kind: AnomalyKind,
    endpoint: String,
    client: Option<String>,
}

impl Key {
    fn of(a: &Anomaly) -> Key {
        if a.kind == AnomalyKind::Suspicious {
            // A scanner walks many paths: one incident per client, not per path.
            Key { kind: a.kind, endpoint: String::new(), client: a.client.clone() }
        } else {
            Key { kind: a.kind, endpoint: a.endpoint.clone(), client: None }
        }
    }

    fn fingerprint(&self) -> String {
        let s = format!("{}|{}|{}", self.kind.as_str(), self.endpoint, self.client.as_deref().unwrap_or(""));
        format!("{:016x}", crate::hash::fnv1a(s.as_bytes()))
    }
}

/// Where an open incident sits in the order of last activity: its `last_seen` and a sequence
/// number that tells apart incidents with the same time.
type Order = (Timestamp, u64);

/// The open incidents, indexed by key and by last activity, so that closing the quiet ones and
/// evicting the oldest cost O(log n) each, not a scan of every open incident.
#[derive(Debug)]
pub struct Incidents {
    window_secs: i64,
    open: HashMap<Key, (Order, Incident)>,
    by_last_seen: BTreeMap<Order, Key>,
    next_seq: u64,
}

impl Incidents {
    pub fn new(window_secs: u64) -> Incidents {
        Incidents { window_secs: window_secs as i64, open: HashMap::new(), by_last_seen: BTreeMap::new(), next_seq: 0 }
    }

    fn insert(&mut self, key: Key, inc: Incident) {
        let order = (inc.last_seen, self.next_seq);
        self.next_seq += 1;
        if let Some((old, _)) = self.open.insert(key.clone(), (order, inc)) {
            self.by_last_seen.remove(&old);
        }
        self.by_last_seen.insert(order, key);
    }

    fn remove(&mut self, key: &Key) -> Option<Incident> {
        let (order, inc) = self.open.remove(key)?;
        self.by_last_seen.remove(&order);
        Some(inc)
    }

    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Add an anomaly: opens an incident or updates one. An incident that makes way for the new
    /// one (its key's, quiet for longer than the window, while no clock closed it; or the oldest,
    /// at `MAX_OPEN`) is closed into `closed`, so it is resolved, not lost.
    pub fn add(&mut self, a: &Anomaly, closed: &mut Vec<Incident>) -> Finding {
        let key = Key::of(a);
        let window = self.window_secs;
        if let Some((order, inc)) = self.open.get_mut(&key) {
            if (a.timestamp.as_second() - inc.last_seen.as_second()).abs() <= window {
                inc.count += 1;
                if a.timestamp > inc.last_seen {
                    inc.last_seen = a.timestamp;
                    let moved = (a.timestamp, order.1);
                    if let Some(k) = self.by_last_seen.remove(order) {
                        self.by_last_seen.insert(moved, k);
                    }
                    *order = moved;
                }
                if a.timestamp < inc.first_seen {
                    inc.first_seen = a.timestamp;
                }
                for d in &a.detectors {
                    if !inc.detectors.contains(d) {
                        inc.detectors.push(d.clone());
                    }
                }
                if a.severity > inc.severity || (a.severity == inc.severity && a.score > inc.score) {
                    inc.severity = inc.severity.max(a.severity);
                    inc.reason = a.reason.clone();
                    // A scanner's incident walks many paths: it is labelled with the one its
                    // headline reason names, not with the first it probed.
                    if inc.kind == AnomalyKind::Suspicious {
                        inc.endpoint = a.endpoint.clone();
                    }
                }
                inc.score = inc.score.max(a.score);
                if inc.examples.len() < EXAMPLES {
                    inc.examples.push(a.clone());
                }
                return Finding::IncidentUpdated(Arc::new(inc.clone()));
            }
        }
        if let Some(quiet) = self.remove(&key) {
            closed.push(quiet);
        } else if self.open.len() >= MAX_OPEN {
            if let Some((_, oldest)) = self.by_last_seen.pop_first() {
                closed.extend(self.open.remove(&oldest).map(|(_, i)| i));
            }
        }
        let fingerprint = key.fingerprint();
        let inc = Incident {
            id: format!("{}-{}", fingerprint, a.timestamp.as_second()),
            fingerprint,
            kind: a.kind,
            endpoint: a.endpoint.clone(),
            client: a.client.clone().filter(|_| a.kind == AnomalyKind::Suspicious),
            severity: a.severity,
            score: a.score,
            first_seen: a.timestamp,
            last_seen: a.timestamp,
            count: 1,
            detectors: a.detectors.clone(),
            reason: a.reason.clone(),
            examples: vec![a.clone()],
        };
        self.insert(key, inc.clone());
        Finding::IncidentOpened(Arc::new(inc))
    }

    /// The open incidents (for `models.json`).
    pub fn export(&self) -> Vec<Incident> {
        self.open.values().map(|(_, i)| i.clone()).collect()
    }

    /// Reopen saved incidents, so their further anomalies update them instead of opening new ones.
    pub fn restore(&mut self, incidents: Vec<Incident>) {
        for inc in incidents {
            let first = inc.examples.first().cloned();
            if let Some(a) = first {
                self.insert(Key::of(&a), inc);
            }
        }
    }

    /// Close the incidents quiet for longer than the window, as of `now` (event time).
    pub fn expire(&mut self, now: Timestamp) -> Vec<Incident> {
        let window = self.window_secs;
        let mut closed = Vec::new();
        while let Some(entry) = self.by_last_seen.first_entry() {
            if now.as_second() - entry.key().0.as_second() <= window {
                break;
            }
            let key = entry.remove();
            if let Some((_, inc)) = self.open.remove(&key) {
                closed.push(inc);
            }
        }
        closed.sort_by_key(|i| i.first_seen);
        closed
    }

    /// Close the open incidents `which` selects, whatever their age (a re-baselined endpoint).
    pub fn close_where(&mut self, which: impl Fn(&Incident) -> bool) -> Vec<Incident> {
        let keys: Vec<Key> = self.open.iter().filter(|(_, (_, inc))| which(inc)).map(|(k, _)| k.clone()).collect();
        let mut closed: Vec<Incident> = keys.iter().filter_map(|k| self.remove(k)).collect();
        closed.sort_by_key(|i| i.first_seen);
        closed
    }

    /// Whether an incident is open on `endpoint`.
    pub fn has_endpoint(&self, endpoint: &str) -> bool {
        self.open.values().any(|(_, i)| i.endpoint == endpoint)
    }

    /// Close everything (end of a scan).
    pub fn close_all(&mut self) -> Vec<Incident> {
        self.by_last_seen.clear();
        let mut closed: Vec<Incident> = self.open.drain().map(|(_, (_, i))| i).collect();
        closed.sort_by_key(|i| i.first_seen);
        closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Severity;

    fn anomaly(t: i64, kind: AnomalyKind, endpoint: &str, client: &str) -> Anomaly {
        Anomaly {
            line: Some(t as u64),
            timestamp: Timestamp::from_second(t).unwrap(),
            kind,
            detectors: vec!["ocsvm_response_time".into()],
            score: 0.8,
            severity: Severity::Medium,
            endpoint: endpoint.into(),
            client: Some(client.into()),
            session: None,
            reason: "slow".into(),
            features: vec![],
            raw: Some("line".into()),
        }
    }

    #[test]
    fn three_hundred_anomalies_of_one_spike_are_one_incident() {
        let mut inc = Incidents::new(300);
        let mut opened = 0;
        for i in 0..300 {
            if let Finding::IncidentOpened(_) =
                inc.add(&anomaly(1000 + i / 3, AnomalyKind::ResponseTime, "GET /a", "c"), &mut Vec::new())
            {
                opened += 1;
            }
        }
        assert_eq!(opened, 1);
        let closed = inc.expire(Timestamp::from_second(1000 + 100 + 301).unwrap());
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].count, 300);
        assert_eq!(closed[0].examples.len(), EXAMPLES);
    }

    #[test]
    fn a_scanner_incident_is_labelled_with_the_path_its_reason_names() {
        let mut inc = Incidents::new(300);
        let mut first = anomaly(1000, AnomalyKind::Suspicious, "GET /HNAP1/", "scanner");
        first.reason = "probe for a router admin page: /HNAP1/".into();
        inc.add(&first, &mut Vec::new());
        let mut worse = anomaly(1001, AnomalyKind::Suspicious, "GET /api/orders/{id}", "scanner");
        (worse.severity, worse.reason) = (Severity::Critical, "SQL injection in the query: 1 UNION SELECT".into());
        let Finding::IncidentUpdated(i) = inc.add(&worse, &mut Vec::new()) else { panic!("one scanner, one incident") };
        assert_eq!((i.endpoint.as_str(), i.reason.as_str()), ("GET /api/orders/{id}", worse.reason.as_str()));
        assert_eq!(i.severity, Severity::Critical);
    }

    #[test]
    fn past_the_cap_the_least_recently_active_incident_is_evicted() {
        let mut inc = Incidents::new(1_000_000);
        for i in 0..MAX_OPEN as i64 {
            inc.add(&anomaly(i, AnomalyKind::ResponseTime, &format!("GET /e{i}"), "c"), &mut Vec::new());
        }
        // The first endpoint is active again, so the second is now the oldest.
        inc.add(&anomaly(MAX_OPEN as i64, AnomalyKind::ResponseTime, "GET /e0", "c"), &mut Vec::new());
        let mut evicted = Vec::new();
        inc.add(&anomaly(MAX_OPEN as i64 + 1, AnomalyKind::ResponseTime, "GET /new", "c"), &mut evicted);
        assert_eq!(
            evicted.iter().map(|i| i.endpoint.as_str()).collect::<Vec<_>>(),
            ["GET /e1"],
            "evicted, and resolved"
        );
        assert_eq!(inc.open_count(), MAX_OPEN);
        assert!(inc.has_endpoint("GET /e0") && inc.has_endpoint("GET /new") && !inc.has_endpoint("GET /e1"));
        let closed = inc.expire(Timestamp::from_second(2_000_000 + 10).unwrap());
        assert_eq!(closed.len(), MAX_OPEN);
        assert_eq!(inc.open_count(), 0);
    }

    #[test]
    fn kinds_endpoints_and_gaps_split_incidents() {
        let mut inc = Incidents::new(60);
        assert!(matches!(
            inc.add(&anomaly(0, AnomalyKind::ResponseTime, "GET /a", "c"), &mut Vec::new()),
            Finding::IncidentOpened(_)
        ));
        assert!(matches!(
            inc.add(&anomaly(1, AnomalyKind::StatusCode, "GET /a", "c"), &mut Vec::new()),
            Finding::IncidentOpened(_)
        ));
        assert!(matches!(
            inc.add(&anomaly(2, AnomalyKind::ResponseTime, "GET /b", "c"), &mut Vec::new()),
            Finding::IncidentOpened(_)
        ));
        // No clock closed the first one (a backlog read faster than its time passes): the new
        // incident closes it, so it is resolved rather than lost.
        let mut closed = Vec::new();
        assert!(matches!(
            inc.add(&anomaly(200, AnomalyKind::ResponseTime, "GET /a", "c"), &mut closed),
            Finding::IncidentOpened(_)
        ));
        assert_eq!(closed.iter().map(|i| (i.endpoint.as_str(), i.count)).collect::<Vec<_>>(), [("GET /a", 1)]);
        assert_eq!(inc.open_count(), 3);
    }

    #[test]
    fn a_scanner_walking_many_paths_is_one_incident_per_client() {
        let mut inc = Incidents::new(60);
        let mut opened = 0;
        for (i, p) in ["GET /.env", "GET /.git/config", "POST /wp-login.php"].iter().enumerate() {
            if let Finding::IncidentOpened(_) =
                inc.add(&anomaly(i as i64, AnomalyKind::Suspicious, p, "203.0.113.9"), &mut Vec::new())
            {
                opened += 1;
            }
        }
        assert!(matches!(
            inc.add(&anomaly(5, AnomalyKind::Suspicious, "GET /.env", "198.51.100.1"), &mut Vec::new()),
            Finding::IncidentOpened(_)
        ));
        assert_eq!(opened, 1);
    }
}
