use std::sync::Arc;

use crate::detect::{Anomaly, Incident};

/// What detection hands to sinks.
#[derive(Debug, Clone)]
pub enum Finding {
    Anomaly(Arc<Anomaly>),
    IncidentOpened(Arc<Incident>),
    IncidentUpdated(Arc<Incident>),
    IncidentResolved(Arc<Incident>),
}

/// A sink takes findings without ever blocking detection.
pub trait FindingSink: Send + Sync {
    fn name(&self) -> &'static str;
    fn offer(&self, finding: &Finding);
}
