//! The vocabulary of an engine node's health as the SMC reports it over
//! REST (`docs/smc-protocol.md` §9; the official client's
//! `ApplianceStatus`): the simulator serves these values, the exporter
//! turns them into state sets.

/// Every node `status` the SMC documents.
pub const NODE_STATUSES: &[&str] = &[
    "Not Monitored",
    "Unknown",
    "Online",
    "Going Online",
    "Locked Online",
    "Going Locked Online",
    "Offline",
    "Going Offline",
    "Locked Offline",
    "Going Locked Offline",
    "Standby",
    "Going Standby",
    "No Policy Installed",
];

/// Every node `state` the SMC documents.
pub const NODE_STATES: &[&str] = &[
    "INITIAL",
    "READY",
    "ERROR",
    "SERVER_ERROR",
    "NO_STATUS",
    "TIMEOUT",
    "DELETED",
    "DUMMY",
];
