//! The log-field catalog: id, internal name and Management Client label.
//!
//! Names and pretty labels marked "evidenced" in `docs/smc-protocol.md`
//! §4.2 are taken from captures (e.g. 1 `Timestamp`/`Creation Time`,
//! 7 `Src`/`Src Addr`, 9 `Sport`/`Src Port`, the `Facility` label of 22).
//! The other names are the `LogField` constant names in CamelCase
//! (`IPSAPPID` → `IpsAppId`, `IKECOOKIE` → `IkeCookie`, §4.2 "name"), and the
//! other pretty labels are our own Management-Client-style titles: neither is
//! evidenced. The exporter itself only relies on the numeric ids (it
//! subscribes with `field_format: "id"`).
//!
//! The catalog covers every default `field_ids` of every query class in
//! §4.1, so a `fields` reply (log socket, `detailed` format) names them all.

/// One field of the SMC log/monitoring schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub id: u32,
    /// `field_format: "name"` key.
    pub name: &'static str,
    /// `field_format: "pretty"` key.
    pub pretty: &'static str,
    /// `raw_type` in a `fields` descriptor.
    pub raw_type: &'static str,
    /// `comment` in a `fields` descriptor.
    pub comment: &'static str,
}

macro_rules! f {
    ($id:literal, $name:literal, $pretty:literal, $raw:literal, $comment:literal) => {
        FieldSpec {
            id: $id,
            name: $name,
            pretty: $pretty,
            raw_type: $raw,
            comment: $comment,
        }
    };
}

/// Every field the simulator renders and the exporter may group by, sorted by id.
pub const FIELDS: &[FieldSpec] = &[
    f!(
        1,
        "Timestamp",
        "Creation Time",
        "time_ms",
        "Time of creating the event record."
    ),
    f!(
        3,
        "CompId",
        "Component ID",
        "string",
        "The identifier of the creator of the log entry."
    ),
    f!(
        4,
        "NodeId",
        "Sender",
        "ip",
        "Firewall or server node that sent the entry."
    ),
    f!(
        6,
        "Event",
        "Event",
        "string",
        "The event that triggered the log entry."
    ),
    f!(7, "Src", "Src Addr", "ip", "Connection source IP address"),
    f!(
        8,
        "Dst",
        "Dst Addr",
        "ip",
        "Connection destination IP address"
    ),
    f!(9, "Sport", "Src Port", "long", "TCP or UDP source port."),
    f!(
        10,
        "Dport",
        "Dst Port",
        "long",
        "TCP or UDP destination port."
    ),
    f!(
        11,
        "Protocol",
        "IP Protocol",
        "string",
        "Connection IP protocol."
    ),
    f!(
        12,
        "SrcIf",
        "Source Interface",
        "string",
        "Source interface of the connection."
    ),
    f!(
        13,
        "DstIf",
        "Destination Interface",
        "string",
        "Destination interface."
    ),
    f!(
        14,
        "Action",
        "Action",
        "string",
        "Action of the rule that triggered the entry."
    ),
    f!(
        19,
        "InfoMsg",
        "Information Message",
        "string",
        "Information message."
    ),
    f!(
        20,
        "RuleId",
        "Rule Tag",
        "string",
        "Rule tag value of acceptance rule."
    ),
    f!(
        21,
        "NatRuleId",
        "NAT Rule Tag",
        "string",
        "The rule number of the NAT rule that led to the log creation."
    ),
    f!(
        22,
        "Facility",
        "Facility",
        "string",
        "The firewall subsystem that created the entry."
    ),
    f!(
        24,
        "ReceptionTime",
        "Reception Time",
        "time_ms",
        "Time when the entry was received."
    ),
    f!(
        27,
        "Service",
        "Service",
        "string",
        "Special field for filtering by service."
    ),
    f!(
        34,
        "DataType",
        "Data Type",
        "string",
        "Data type of the entry."
    ),
    f!(
        38,
        "SenderDomain",
        "Sender Domain",
        "long",
        "Administrative domain of the sender."
    ),
    f!(
        46,
        "SrcZone",
        "Source Zone",
        "string",
        "Zone of the source interface."
    ),
    f!(
        47,
        "DstZone",
        "Destination Zone",
        "string",
        "Zone of the destination interface."
    ),
    f!(
        104,
        "AccElapsed",
        "Elapsed Time",
        "long",
        "Elapsed time of connection in seconds."
    ),
    f!(
        105,
        "AccTxBytes",
        "Sent Bytes",
        "long",
        "Number of bytes sent during connection."
    ),
    f!(
        106,
        "AccRxBytes",
        "Received Bytes",
        "long",
        "Number of bytes received during connection."
    ),
    f!(
        113,
        "DstVlan",
        "Destination VLAN",
        "long",
        "Destination VLAN."
    ),
    f!(
        115,
        "Timeout",
        "Timeout",
        "long",
        "Connection idle timeout in seconds."
    ),
    f!(
        116,
        "State",
        "State",
        "string",
        "Connection state in the state table."
    ),
    f!(
        117,
        "BlacklistEntryId",
        "Blacklist Entry ID",
        "string",
        "Block-list entry identifier."
    ),
    f!(
        118,
        "BlacklistEntrySourceIp",
        "Block List Source IP",
        "ip",
        "Block-list entry source address."
    ),
    f!(
        120,
        "BlacklistEntryDestinationIp",
        "Block List Destination IP",
        "ip",
        "Block-list entry destination address."
    ),
    f!(
        122,
        "BlacklistEntryProtocol",
        "Block List Protocol",
        "string",
        "Block-list entry protocol."
    ),
    f!(
        123,
        "BlacklistEntrySourcePort",
        "Block List Source Port",
        "long",
        "Block-list entry source port."
    ),
    f!(
        125,
        "BlacklistEntryDestinationPort",
        "Block List Destination Port",
        "long",
        "Block-list entry destination port."
    ),
    f!(
        127,
        "BlacklistEntryDuration",
        "Block List Duration",
        "long",
        "Block-list entry duration in seconds."
    ),
    f!(
        128,
        "Blacklister",
        "Block Lister",
        "string",
        "Who created the block-list entry."
    ),
    f!(
        134,
        "IpsAppId",
        "Application",
        "string",
        "The application detected in the connection."
    ),
    f!(
        160,
        "RouteNetwork",
        "Route Network",
        "ip",
        "Destination network of the route."
    ),
    f!(
        161,
        "RouteNetmask",
        "Route Netmask",
        "long",
        "Prefix length of the route."
    ),
    f!(163, "RouteMetric", "Route Metric", "long", "Route metric."),
    f!(
        164,
        "RouteGateway",
        "Route Gateway",
        "ip",
        "Next-hop gateway of the route."
    ),
    f!(
        165,
        "RouteType",
        "Route Type",
        "string",
        "Route type (Connected, Static, Dynamic...)."
    ),
    f!(
        172,
        "BlacklistEntrySourceIpPrefixlen",
        "Block List Source Prefix",
        "long",
        "Block-list source prefix length."
    ),
    f!(
        173,
        "BlacklistEntryDestinationIpPrefixlen",
        "Block List Destination Prefix",
        "long",
        "Block-list destination prefix length."
    ),
    f!(
        302,
        "SessionEvent",
        "Session Event",
        "long",
        "Session monitoring event: 1 new, 2 update, 3 remove, 4 all sent."
    ),
    f!(
        485,
        "DataTags",
        "Data Tags",
        "string",
        "Tags of the data type."
    ),
    f!(501, "VpnId", "VPN", "string", "The VPN."),
    f!(
        502,
        "SecurityGateway",
        "Gateway",
        "string",
        "Local VPN gateway."
    ),
    f!(504, "Endpoint", "Endpoint", "string", "Local VPN endpoint."),
    f!(
        505,
        "PeerSecurityGateway",
        "Peer Gateway",
        "string",
        "Peer VPN gateway."
    ),
    f!(
        506,
        "PeerEndpoint",
        "Peer Endpoint",
        "string",
        "Peer VPN endpoint."
    ),
    f!(
        534,
        "ExpirationTime",
        "Expiration Time",
        "time_ms",
        "Expiration time."
    ),
    f!(
        535,
        "SaClass",
        "SA Type",
        "string",
        "Security association class (IKE or IPsec)."
    ),
    f!(
        536,
        "CipherAlg",
        "Cipher Algorithm",
        "string",
        "Cipher algorithm of the SA."
    ),
    f!(
        539,
        "NegotiationRole",
        "Negotiation Role",
        "string",
        "Initiator or Responder."
    ),
    f!(
        602,
        "AlertSeverity",
        "Severity",
        "string",
        "Alert severity."
    ),
    f!(
        733,
        "NeighborInterface",
        "Neighbor Interface",
        "string",
        "Interface of the neighbor entry."
    ),
    f!(
        734,
        "NeighborProtocol",
        "Neighbor Protocol",
        "string",
        "Neighbor protocol (IPv4 or IPv6)."
    ),
    f!(
        735,
        "NeighborL3Data",
        "Neighbor IP Address",
        "ip",
        "Neighbor layer-3 address."
    ),
    f!(
        736,
        "NeighborL2Data",
        "Neighbor MAC Address",
        "string",
        "Neighbor layer-2 address."
    ),
    f!(
        737,
        "NeighborState",
        "Neighbor State",
        "string",
        "Neighbor cache state."
    ),
    f!(
        808,
        "SslVpnSessionType",
        "SSL VPN Session Type",
        "string",
        "SSL VPN client type."
    ),
    f!(
        809,
        "SslVpnSessionMonReceived",
        "Session Start",
        "time_ms",
        "SSL VPN session start."
    ),
    f!(
        810,
        "SslVpnSessionMonTimeout",
        "Session Timeout",
        "time_ms",
        "SSL VPN session timeout."
    ),
    f!(
        811,
        "SslVpnSessionMonId",
        "Session ID",
        "string",
        "SSL VPN session identifier."
    ),
    f!(
        1000,
        "Situation",
        "Situation",
        "string",
        "The situation that triggered the entry."
    ),
    f!(
        3000,
        "IkeCookie",
        "IKE Cookie",
        "string",
        "IKE SA cookies of the initiator and the responder."
    ),
    f!(
        3001,
        "UserName",
        "User",
        "string",
        "Authenticated user name."
    ),
    f!(
        3003,
        "IdService",
        "Identity Service",
        "string",
        "The service that authenticated the user."
    ),
    f!(
        12200,
        "NumBytesSent",
        "Bytes Sent",
        "long",
        "Bytes sent through the SA."
    ),
    f!(
        12201,
        "NumBytesReceived",
        "Bytes Received",
        "long",
        "Bytes received through the SA."
    ),
    f!(
        20000,
        "VulnerabilityReferences",
        "Vulnerability References",
        "string",
        "References of the vulnerability."
    ),
    f!(
        20007,
        "SrcAddrs",
        "Source Addresses",
        "string",
        "Local networks of the SA."
    ),
    f!(
        20008,
        "DstAddrs",
        "Destination Addresses",
        "string",
        "Peer networks of the SA."
    ),
];

/// Find a field by numeric id.
pub fn field_by_id(id: u32) -> Option<&'static FieldSpec> {
    FIELDS
        .binary_search_by_key(&id, |f| f.id)
        .ok()
        .map(|i| &FIELDS[i])
}

/// Find a field by internal name, case-insensitively (the 7.x guide writes
/// `BlackListEntry…` where captures write `BlacklistEntry…`).
pub fn field_by_name(name: &str) -> Option<&'static FieldSpec> {
    FIELDS.iter().find(|f| f.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_sorted_and_unique() {
        for w in FIELDS.windows(2) {
            assert!(w[0].id < w[1].id, "{} before {}", w[0].id, w[1].id);
        }
        // No two fields share a `name` or `pretty` key (records would collide).
        for (i, a) in FIELDS.iter().enumerate() {
            for b in &FIELDS[i + 1..] {
                assert_ne!(a.name, b.name, "fields {} and {}", a.id, b.id);
                assert_ne!(a.pretty, b.pretty, "fields {} and {}", a.id, b.id);
            }
        }
        assert_eq!(field_by_id(7).map(|f| f.pretty), Some("Src Addr"));
        assert_eq!(field_by_name("BlackListEntryId").map(|f| f.id), Some(117));
    }

    /// Every default `field_ids` of every query class (protocol §4.1),
    /// including the `LogQuery` defaults and the `resolve_field_ids` example
    /// of §2.2, resolves to a catalog entry.
    #[test]
    fn every_default_query_field_id_resolves() {
        let defaults: [(&str, &[u32]); 10] = [
            (
                "ConnectionQuery",
                &[1, 4, 7, 9, 46, 8, 10, 47, 27, 134, 11, 116],
            ),
            ("BlockListQuery", &[1, 128, 118, 120, 11, 127, 4, 38, 117]),
            (
                "VPNSAQuery",
                &[
                    1, 4, 501, 502, 505, 3000, 504, 506, 535, 536, 539, 20007, 20008, 11, 12200,
                    12201, 534,
                ],
            ),
            ("UserQuery", &[1, 3001, 7, 4, 38, 534, 3003]),
            ("RoutingQuery", &[1, 13, 113, 47, 164, 160, 161, 165, 163]),
            ("SSLVPNQuery", &[809, 810, 4, 7, 3001]),
            (
                "ActiveAlertQuery",
                &[1, 602, 14, 4, 7, 8, 27, 11, 9, 10, 1000, 20000],
            ),
            (
                "NeighborQuery",
                &[4, 24, 38, 19, 34, 485, 737, 733, 734, 735, 736],
            ),
            ("LogQuery", &[1, 602, 14, 4, 7, 9, 8, 10, 11, 6, 19]),
            (
                "resolve_field_ids example",
                &[1, 4, 7, 9, 46, 8, 10, 47, 27, 134, 11, 116],
            ),
        ];
        for (class, ids) in defaults {
            for id in ids {
                assert!(field_by_id(*id).is_some(), "{class}: field {id} missing");
            }
        }
        assert_eq!(field_by_id(134).map(|f| f.name), Some("IpsAppId"));
        assert_eq!(field_by_id(3000).map(|f| f.name), Some("IkeCookie"));
        assert_eq!(field_by_id(22).map(|f| f.pretty), Some("Facility"));
        assert_eq!(field_by_id(9).map(|f| f.pretty), Some("Src Port"));
        let names: Vec<&str> = [20, 21, 104, 105, 106]
            .iter()
            .map(|id| field_by_id(*id).map_or("?", |f| f.name))
            .collect();
        assert_eq!(
            names,
            [
                "RuleId",
                "NatRuleId",
                "AccElapsed",
                "AccTxBytes",
                "AccRxBytes"
            ]
        );
    }
}
