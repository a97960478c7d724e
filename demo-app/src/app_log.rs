//! The app's own messages, beside its access lines and in the same stream (as a container's stdout
//! holds both): one JSON object per message, `{"time", "level", "logger", "msg"}`, what the
//! detector's template stage reads (`msg` is templated, `level` counted).
//!
//! ```text
//! {"time":"2026-11-24T03:00:00.123Z","level":"info","logger":"db","msg":"query took 23 ms"}
//! ```
//!
//! Faults: a request carrying `X-Demo-Fault` makes the handler misbehave as a real dependency
//! failure would, so the traffic generator can stage application-log incidents over plain HTTP:
//! `ledger-down` (orders fail with a message never logged before), `gateway-slow` (orders log the
//! rare payment-gateway warning, three times each), `db-slow` (queries take about a second). A
//! demo's switch; a real app has none.

use axum::http::HeaderMap;
use serde::Serialize;

use crate::LogWriter;

/// The header that stages a fault.
pub const FAULT_HEADER: &str = "x-demo-fault";

/// A fault a request asks for (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    LedgerDown,
    GatewaySlow,
    DbSlow,
}

impl Fault {
    /// The fault a request's `X-Demo-Fault` names; unknown values are no fault.
    pub fn of(headers: &HeaderMap) -> Option<Fault> {
        match headers.get(FAULT_HEADER)?.to_str().ok()?.trim() {
            "ledger-down" => Some(Fault::LedgerDown),
            "gateway-slow" => Some(Fault::GatewaySlow),
            "db-slow" => Some(Fault::DbSlow),
            _ => None,
        }
    }

    /// The header value naming this fault.
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::LedgerDown => "ledger-down",
            Fault::GatewaySlow => "gateway-slow",
            Fault::DbSlow => "db-slow",
        }
    }
}

#[derive(Serialize)]
struct Message<'a> {
    time: String,
    level: &'a str,
    logger: &'a str,
    msg: &'a str,
}

/// Writes one message through `log`.
pub fn write(log: &dyn LogWriter, level: &str, logger: &str, msg: &str) {
    let m = Message { time: format!("{:.3}", jiff::Timestamp::now()), level, logger, msg };
    match serde_json::to_string(&m) {
        Ok(s) => log.write_line(&s),
        Err(e) => eprintln!("app log message could not be encoded: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fault_header_names_a_fault_or_none() {
        let mut h = HeaderMap::new();
        assert_eq!(Fault::of(&h), None);
        for f in [Fault::LedgerDown, Fault::GatewaySlow, Fault::DbSlow] {
            h.insert(FAULT_HEADER, f.as_str().parse().unwrap());
            assert_eq!(Fault::of(&h), Some(f));
        }
        h.insert(FAULT_HEADER, "reboot".parse().unwrap());
        assert_eq!(Fault::of(&h), None);
    }
}
