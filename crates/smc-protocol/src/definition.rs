//! The eight session-monitoring definitions: their wire names (both
//! block-list spellings), the names the config and the simulator's fault
//! scopes accept, and the lowercase name used as the `definition` label value.

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

    /// The lowercase name (`block_list`, `sslvpn`): the value of the
    /// exporter's `definition` label, and a name the simulator's fault
    /// scopes accept.
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
}

impl fmt::Display for Definition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wire_name(false))
    }
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
    fn parse_definitions() {
        assert_eq!(Definition::parse("blacklist"), Some(Definition::BlockList));
        assert_eq!(Definition::parse("SSLVPNV2"), Some(Definition::SslVpn));
        assert_eq!(Definition::parse("nope"), None);
        assert_eq!(Definition::BlockList.wire_name(true), "BLACKLIST");
    }
}
