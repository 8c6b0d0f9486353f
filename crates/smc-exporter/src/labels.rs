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
    fn groupable_fields_are_in_catalog() {
        for d in Definition::ALL {
            for g in d.groupable() {
                assert!(field_by_id(g.field).is_some(), "{d}: field {}", g.field);
            }
        }
    }
}
