//! The metric contract of the state families: per session-monitoring
//! definition, the family name and HELP, the label carrying the target, the
//! record fields that may become labels (`group_by`) and the default ones.
//!
//! These are the exporter's public API (metric names are added, never
//! renamed); the protocol crate only knows the definitions themselves.

use smc_fold::FieldPick;
use smc_protocol::{Definition, Transform};

/// A record field that can become a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupField {
    /// The Prometheus label name.
    pub label: &'static str,
    /// The SMC log-field id (the key in `field_format: "id"` records).
    pub field: u32,
    /// How the rendered value becomes a label value.
    pub transform: Transform,
}

impl GroupField {
    /// What the fold reads for this label.
    pub fn pick(self) -> FieldPick {
        FieldPick {
            field: self.field,
            transform: self.transform,
        }
    }
}

/// The state family of a definition and its labels.
pub trait StateFamily {
    /// The state metric family this definition folds into.
    fn family(self) -> &'static str;

    /// HELP text of the state family.
    fn family_help(self) -> &'static str;

    /// The label carrying the subscription target on the state family:
    /// `domain` for ACTIVE_ALERTS, `engine` for the rest.
    fn target_label(self) -> &'static str;

    /// Fields that may be chosen in `group_by` for this definition. Every one
    /// is low-cardinality by nature (no address, port, user or session id).
    fn groupable(self) -> &'static [GroupField];

    /// The `group_by` used when the config names none: the metric contract's labels.
    fn default_group_by(self) -> &'static [&'static str];

    /// Look up a groupable field by its label name.
    fn group_field(self, label: &str) -> Option<GroupField>;
}

impl StateFamily for Definition {
    fn family(self) -> &'static str {
        match self {
            Definition::Connections => "smc_connections",
            Definition::BlockList => "smc_block_list_entries",
            Definition::VpnSa => "smc_vpn_security_associations",
            Definition::Users => "smc_authenticated_users",
            Definition::Routing => "smc_routes",
            Definition::SslVpn => "smc_sslvpn_sessions",
            Definition::ActiveAlerts => "smc_active_alerts",
            Definition::Neighbors => "smc_neighbors",
        }
    }

    fn family_help(self) -> &'static str {
        match self {
            Definition::Connections => "Connections in the engine's state table (CONNECTIONS).",
            Definition::BlockList => {
                "Active block-list entries (BLOCK_LIST, BLACKLIST before SMC 7.0)."
            }
            Definition::VpnSa => "Established VPN security associations (VPN_SA).",
            Definition::Users => "Authenticated users (USERS).",
            Definition::Routing => "Routes in the engine's routing table (ROUTING).",
            Definition::SslVpn => "SSL VPN portal sessions (SSLVPNV2).",
            Definition::ActiveAlerts => {
                "Active alerts in an administrative domain (ACTIVE_ALERTS)."
            }
            Definition::Neighbors => "Neighbor (ARP/NDP) table entries (NEIGHBORS).",
        }
    }

    fn target_label(self) -> &'static str {
        match self {
            Definition::ActiveAlerts => "domain",
            _ => "engine",
        }
    }

    fn groupable(self) -> &'static [GroupField] {
        use Transform::{AsIs, Severity};
        macro_rules! g {
            ($label:literal, $id:literal) => {
                GroupField {
                    label: $label,
                    field: $id,
                    transform: AsIs,
                }
            };
        }
        match self {
            Definition::Connections => &[
                g!("node", 4),
                g!("protocol", 11),
                g!("state", 116),
                g!("service", 27),
                g!("src_zone", 46),
                g!("dst_zone", 47),
                g!("src_if", 12),
                g!("dst_if", 13),
            ],
            Definition::BlockList => &[g!("node", 4), g!("protocol", 122), g!("block_lister", 128)],
            Definition::VpnSa => &[
                g!("node", 4),
                g!("sa_type", 535),
                g!("peer_gateway", 505),
                g!("gateway", 502),
                g!("vpn", 501),
                g!("negotiation_role", 539),
                g!("cipher", 536),
            ],
            Definition::Users => &[
                g!("node", 4),
                g!("id_service", 3003),
                g!("sender_domain", 38),
            ],
            Definition::Routing => &[
                g!("node", 4),
                g!("route_type", 165),
                g!("dst_if", 13),
                g!("dst_zone", 47),
            ],
            Definition::SslVpn => &[g!("node", 4), g!("session_type", 808)],
            Definition::ActiveAlerts => &[
                GroupField {
                    label: "severity",
                    field: 602,
                    transform: Severity,
                },
                g!("node", 4),
                g!("action", 14),
            ],
            Definition::Neighbors => &[
                g!("node", 4),
                g!("protocol", 734),
                g!("state", 737),
                g!("interface", 733),
            ],
        }
    }

    fn default_group_by(self) -> &'static [&'static str] {
        match self {
            Definition::Connections => &["node", "protocol", "state"],
            Definition::BlockList => &["node", "protocol"],
            Definition::VpnSa => &["node", "sa_type", "peer_gateway"],
            Definition::Users => &["node"],
            Definition::Routing => &["route_type"],
            Definition::SslVpn => &["node"],
            Definition::ActiveAlerts => &["severity"],
            Definition::Neighbors => &["node", "protocol", "state"],
        }
    }

    fn group_field(self, label: &str) -> Option<GroupField> {
        self.groupable().iter().copied().find(|g| g.label == label)
    }
}

/// Where a log-family label's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSource {
    /// A record field, as the state families read theirs.
    Field(u32, Transform),
    /// The engine of the node that sent the record ([`LOG_SENDER`]).
    Engine,
}

/// A live log record field that can become a label of the log families
/// (`smc_log_records_total`, `smc_log_bytes_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogGroupField {
    pub label: &'static str,
    pub source: LogSource,
}

impl LogGroupField {
    /// The record field this label reads.
    pub fn field(self) -> u32 {
        match self.source {
            LogSource::Field(f, _) => f,
            LogSource::Engine => LOG_SENDER,
        }
    }
}

/// `NodeId` (4): the node that sent a log record.
pub const LOG_SENDER: u32 = 4;
/// `RuleId` (20): the rule tag of the rule that logged the record.
pub const LOG_RULE_TAG: u32 = 20;
/// `AccTxBytes` (105): bytes sent during the connection (closing records).
pub const LOG_BYTES_SENT: u32 = 105;
/// `AccRxBytes` (106): bytes received during the connection.
pub const LOG_BYTES_RECEIVED: u32 = 106;

/// The labels a log stream may `group_by`: each is low-cardinality by
/// nature (no address, port, user or message text).
pub const LOG_GROUPABLE: &[LogGroupField] = {
    use Transform::{AsIs, Severity};
    macro_rules! l {
        ($label:literal, $id:literal) => {
            LogGroupField {
                label: $label,
                source: LogSource::Field($id, AsIs),
            }
        };
    }
    &[
        LogGroupField {
            label: "engine",
            source: LogSource::Engine,
        },
        l!("node", 4),
        l!("action", 14),
        l!("event", 6),
        l!("service", 27),
        l!("protocol", 11),
        l!("src_zone", 46),
        l!("dst_zone", 47),
        l!("rule_tag", 20),
        l!("nat_rule_tag", 21),
        l!("facility", 22),
        l!("situation", 1000),
        LogGroupField {
            label: "severity",
            source: LogSource::Field(602, Severity),
        },
        l!("domain", 38),
    ]
};

/// A log stream's `group_by` when the config names none.
pub const LOG_DEFAULT_GROUP_BY: &[&str] = &["engine", "action"];

/// Look up a log group field by its label name.
pub fn log_group_field(label: &str) -> Option<LogGroupField> {
    LOG_GROUPABLE.iter().copied().find(|g| g.label == label)
}

#[cfg(test)]
mod tests {
    use super::*;
    use smc_protocol::field_by_id;

    #[test]
    fn default_group_by_is_groupable() {
        for d in Definition::ALL {
            for l in d.default_group_by() {
                assert!(d.group_field(l).is_some(), "{d}: {l}");
            }
        }
    }

    #[test]
    fn severity_is_read_from_field_602_with_its_transform() {
        let d = Definition::ActiveAlerts;
        let picks: Vec<FieldPick> = ["severity", "node"]
            .iter()
            .map(|l| d.group_field(l).map(GroupField::pick))
            .collect::<Option<_>>()
            .unwrap();
        assert_eq!(
            picks,
            [
                FieldPick {
                    field: 602,
                    transform: Transform::Severity
                },
                FieldPick {
                    field: 4,
                    transform: Transform::AsIs
                },
            ]
        );
    }

    #[test]
    fn log_groupable_fields_are_in_catalog_and_the_default_is_groupable() {
        for g in LOG_GROUPABLE {
            assert!(
                field_by_id(g.field()).is_some(),
                "{}: field {}",
                g.label,
                g.field()
            );
        }
        for l in LOG_DEFAULT_GROUP_BY {
            assert!(log_group_field(l).is_some(), "{l}");
        }
        for id in [LOG_RULE_TAG, LOG_BYTES_SENT, LOG_BYTES_RECEIVED] {
            assert!(field_by_id(id).is_some(), "field {id}");
        }
    }

    #[test]
    fn groupable_fields_are_in_catalog() {
        for d in Definition::ALL {
            for g in d.groupable() {
                assert!(field_by_id(g.field).is_some(), "{d}: field {}", g.field);
            }
        }
    }
}
