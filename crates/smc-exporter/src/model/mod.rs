//! The SMC monitoring vocabulary shared by the exporter and the simulator:
//! the eight session-monitoring definitions, the log-field catalog (id, name,
//! pretty label) and, per definition, the fields that may become labels.
//!
//! Nothing here knows about sockets or metrics; it is the protocol's data
//! dictionary (the field ids are the SMC's log-field ids).

mod fields;

pub use fields::{FIELDS, FieldSpec, field_by_id, field_by_name};

use std::fmt;

/// A session-monitoring definition (the `definition` of a session-socket query).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Definition {
    Connections,
    BlockList,
    VpnSa,
    Users,
    Routing,
    SslVpn,
    ActiveAlerts,
    Neighbors,
}

impl Definition {
    pub const ALL: [Definition; 8] = [
        Definition::Connections,
        Definition::BlockList,
        Definition::VpnSa,
        Definition::Users,
        Definition::Routing,
        Definition::SslVpn,
        Definition::ActiveAlerts,
        Definition::Neighbors,
    ];

    /// Position in [`Definition::ALL`] (declaration order).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The definitions whose target is an engine (all but ACTIVE_ALERTS).
    pub fn engine_scoped() -> impl Iterator<Item = Definition> {
        Self::ALL
            .into_iter()
            .filter(|d| *d != Definition::ActiveAlerts)
    }

    /// The name sent on the wire. `legacy` selects the pre-7.0 spelling
    /// (`BLACKLIST` instead of `BLOCK_LIST`).
    pub fn wire_name(self, legacy: bool) -> &'static str {
        match self {
            Definition::Connections => "CONNECTIONS",
            Definition::BlockList if legacy => "BLACKLIST",
            Definition::BlockList => "BLOCK_LIST",
            Definition::VpnSa => "VPN_SA",
            Definition::Users => "USERS",
            Definition::Routing => "ROUTING",
            Definition::SslVpn => "SSLVPNV2",
            Definition::ActiveAlerts => "ACTIVE_ALERTS",
            Definition::Neighbors => "NEIGHBORS",
        }
    }

    /// Parse a wire or config name, case-insensitively. Accepts both block-list
    /// spellings and `SSLVPN` as a synonym of `SSLVPNV2`.
    pub fn parse(s: &str) -> Option<Definition> {
        let up = s.trim().to_ascii_uppercase();
        Some(match up.as_str() {
            "CONNECTIONS" => Definition::Connections,
            "BLOCK_LIST" | "BLACKLIST" => Definition::BlockList,
            "VPN_SA" => Definition::VpnSa,
            "USERS" => Definition::Users,
            "ROUTING" => Definition::Routing,
            "SSLVPNV2" | "SSLVPN" => Definition::SslVpn,
            "ACTIVE_ALERTS" => Definition::ActiveAlerts,
            "NEIGHBORS" => Definition::Neighbors,
            _ => return None,
        })
    }

    /// The value of the `definition` label on health metrics.
    pub fn label(self) -> &'static str {
        match self {
            Definition::Connections => "connections",
            Definition::BlockList => "block_list",
            Definition::VpnSa => "vpn_sa",
            Definition::Users => "users",
            Definition::Routing => "routing",
            Definition::SslVpn => "sslvpn",
            Definition::ActiveAlerts => "active_alerts",
            Definition::Neighbors => "neighbors",
        }
    }

    /// The state metric family this definition folds into.
    pub fn family(self) -> &'static str {
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

    /// HELP text of the state family.
    pub fn family_help(self) -> &'static str {
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

    /// The label carrying the subscription target on the state family:
    /// `domain` for ACTIVE_ALERTS, `engine` for the rest.
    pub fn target_label(self) -> &'static str {
        match self {
            Definition::ActiveAlerts => "domain",
            _ => "engine",
        }
    }

    /// Fields that may be chosen in `group_by` for this definition. Every one
    /// is low-cardinality by nature (no address, port, user or session id).
    pub fn groupable(self) -> &'static [GroupField] {
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

    /// The `group_by` used when the config names none: the metric contract's labels.
    pub fn default_group_by(self) -> &'static [&'static str] {
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

    /// Look up a groupable field by its label name.
    pub fn group_field(self, label: &str) -> Option<GroupField> {
        self.groupable().iter().copied().find(|g| g.label == label)
    }
}

impl fmt::Display for Definition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wire_name(false))
    }
}

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

/// Normalisation applied to a field value before it becomes a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// The SMC's own rendering, unchanged.
    AsIs,
    /// Alert severity: the rendered text (`Critical`) or the numeric code
    /// (`10`) becomes one of `info`, `low`, `high`, `critical`.
    Severity,
}

impl Transform {
    /// Apply the transform. Returns the label value.
    pub fn apply(self, raw: &str) -> &str {
        match self {
            Transform::AsIs => raw,
            Transform::Severity => severity_label(raw).unwrap_or(raw),
        }
    }
}

/// Alert severities in SMC order, with their numeric codes (`Alerts` constants).
pub const SEVERITIES: [(&str, u32); 4] = [("info", 1), ("low", 3), ("high", 5), ("critical", 10)];

/// Map a rendered or numeric severity to its label value.
pub fn severity_label(raw: &str) -> Option<&'static str> {
    let t = raw.trim();
    for (name, code) in SEVERITIES {
        if t.eq_ignore_ascii_case(name) || t.parse::<u32>().ok() == Some(code) {
            return Some(name);
        }
    }
    None
}

/// Parse an SMC API version string (`"7.1"`) into (major, minor).
pub fn parse_api_version(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.trim().split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// API versions this exporter speaks, oldest first. Session monitoring needs 6.3+.
pub const SUPPORTED_API_VERSIONS: ((u32, u32), (u32, u32)) = ((6, 3), (7, 99));

/// Whether an API version is within [`SUPPORTED_API_VERSIONS`].
pub fn api_version_supported(v: (u32, u32)) -> bool {
    v >= SUPPORTED_API_VERSIONS.0 && v <= SUPPORTED_API_VERSIONS.1
}

/// Below 7.0 the block list is called BLACKLIST.
pub fn is_legacy_api(v: (u32, u32)) -> bool {
    v < (7, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_the_position_in_all() {
        for (i, d) in Definition::ALL.into_iter().enumerate() {
            assert_eq!(d.index(), i, "{d}");
        }
    }

    #[test]
    fn default_group_by_is_groupable() {
        for d in Definition::ALL {
            for l in d.default_group_by() {
                assert!(d.group_field(l).is_some(), "{d}: {l}");
            }
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

    #[test]
    fn severity_maps_text_and_codes() {
        assert_eq!(severity_label("Critical"), Some("critical"));
        assert_eq!(severity_label("10"), Some("critical"));
        assert_eq!(severity_label("3"), Some("low"));
        assert_eq!(severity_label("bogus"), None);
    }

    #[test]
    fn parse_definitions() {
        assert_eq!(Definition::parse("blacklist"), Some(Definition::BlockList));
        assert_eq!(Definition::parse("SSLVPNV2"), Some(Definition::SslVpn));
        assert_eq!(Definition::parse("nope"), None);
        assert_eq!(Definition::BlockList.wire_name(true), "BLACKLIST");
    }

    #[test]
    fn api_versions() {
        assert_eq!(parse_api_version("6.10"), Some((6, 10)));
        assert!(parse_api_version("7").is_none());
        assert!(api_version_supported((7, 1)));
        assert!(!api_version_supported((6, 2)));
        assert!(is_legacy_api((6, 10)));
    }
}
