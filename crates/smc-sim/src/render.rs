//! Rendering world entries as session-monitoring records, following the
//! query's `format` (protocol §2.1, §3.2, §4.2).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};

use super::world::{Data, Entry, fmt_time};
use smc_protocol::{Definition, field_by_id, field_by_name};

/// `field_format`: which key each field gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldFormat {
    Id,
    Name,
    Pretty,
}

impl FieldFormat {
    /// The record key of field `id` (an id outside the catalog is
    /// `Field<id>` in the `name` and `pretty` formats).
    pub(crate) fn key(self, id: u32) -> String {
        match (self, field_by_id(id)) {
            (FieldFormat::Id, _) => id.to_string(),
            (FieldFormat::Name, Some(f)) => f.name.into(),
            (FieldFormat::Pretty, Some(f)) => f.pretty.into(),
            (_, None) => format!("Field{id}"),
        }
    }
}

/// One (non-combined) format: key style and optional field selection.
#[derive(Debug, Clone)]
pub(crate) struct SubFormat {
    pub field_format: FieldFormat,
    /// `field_ids` ∪ `field_names`, as ids; `None`: every field.
    pub select: Option<Vec<u32>>,
    /// `type: "detailed"`: the success message carries a `fields` schema.
    pub detailed: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum Format {
    Single(SubFormat),
    /// `type: "combined"`: (key, sub-format) pairs.
    Combined(Vec<(String, SubFormat)>),
}

/// Per-fetch rendering context.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    /// `http://host:port`, for hrefs.
    pub base: String,
    /// API version of the socket's URL path.
    pub version: String,
    /// API < 7.0: `BLACKLIST`, `blacklist_href`, no `first_fetch`.
    pub legacy: bool,
    pub def: Definition,
}

/// SessionEvent (302) codes.
pub(crate) const EVENT_NEW: &str = "1";
pub(crate) const EVENT_UPDATE: &str = "2";
pub(crate) const EVENT_REMOVE: &str = "3";

/// Parse a `format` object leniently: unknown keys are ignored, a missing or
/// odd `field_format` means `name`.
pub(crate) fn parse_format(v: Option<&Value>) -> Format {
    let Some(v) = v else {
        return Format::Single(parse_sub(&Value::Null));
    };
    if v.get("type").and_then(Value::as_str) == Some("combined") {
        let mut subs = Vec::new();
        if let Some(m) = v.get("formats").and_then(Value::as_object) {
            for (k, sub) in m {
                subs.push((k.clone(), parse_sub(sub)));
            }
        }
        return Format::Combined(subs);
    }
    Format::Single(parse_sub(v))
}

fn parse_sub(v: &Value) -> SubFormat {
    let field_format = match v.get("field_format").and_then(Value::as_str) {
        Some("id") => FieldFormat::Id,
        Some("pretty") => FieldFormat::Pretty,
        _ => FieldFormat::Name,
    };
    let mut select: Option<Vec<u32>> = None;
    if let Some(ids) = v.get("field_ids").and_then(Value::as_array) {
        let s = select.get_or_insert_with(Vec::new);
        s.extend(ids.iter().filter_map(|i| {
            i.as_u64()
                .or_else(|| i.as_str().and_then(|s| s.parse().ok()))
                .and_then(|i| u32::try_from(i).ok())
        }));
    }
    if let Some(names) = v.get("field_names").and_then(Value::as_array) {
        let s = select.get_or_insert_with(Vec::new);
        s.extend(names.iter().filter_map(Value::as_str).filter_map(|n| {
            field_by_name(n)
                .or_else(|| {
                    smc_protocol::FIELDS
                        .iter()
                        .find(|f| f.pretty.eq_ignore_ascii_case(n))
                })
                .map(|f| f.id)
        }));
    }
    // An empty selection selects nothing useful: treat it as "all fields".
    let select = select.filter(|s| !s.is_empty());
    SubFormat {
        field_format,
        select,
        detailed: v.get("type").and_then(Value::as_str) == Some("detailed"),
    }
}

/// The field ids a definition's records carry, sorted.
pub(crate) fn definition_fields(def: Definition) -> &'static [u32] {
    match def {
        Definition::Connections => &[
            1, 3, 4, 7, 8, 9, 10, 11, 12, 13, 24, 27, 34, 38, 46, 47, 115, 116, 302, 485,
        ],
        Definition::BlockList => &[
            1, 3, 4, 24, 34, 38, 117, 118, 120, 122, 123, 125, 127, 128, 172, 173, 302, 485,
        ],
        Definition::VpnSa => &[
            1, 3, 4, 11, 24, 34, 38, 302, 485, 501, 502, 504, 505, 506, 534, 535, 536, 539, 12200,
            12201, 20007, 20008,
        ],
        Definition::Users => &[1, 3, 4, 7, 24, 34, 38, 302, 485, 534, 3001, 3003],
        Definition::Routing => &[
            1, 3, 4, 13, 24, 34, 38, 47, 113, 160, 161, 163, 164, 165, 302, 485,
        ],
        Definition::SslVpn => &[1, 3, 4, 7, 24, 34, 38, 302, 485, 808, 809, 810, 811, 3001],
        Definition::ActiveAlerts => &[
            1, 3, 4, 7, 8, 9, 10, 11, 14, 24, 27, 34, 38, 302, 485, 602, 1000, 20000,
        ],
        Definition::Neighbors => &[1, 3, 4, 19, 24, 34, 38, 302, 485, 733, 734, 735, 736, 737],
    }
}

/// `DataType` (34) and `DataTags` (485) per definition (protocol §3.2).
fn data_type(def: Definition, legacy: bool) -> (&'static str, &'static str) {
    match def {
        Definition::Connections => ("6", "INFO: Connection Monitoring"),
        Definition::BlockList if legacy => ("7", "INFO: Blacklist Monitoring"),
        Definition::BlockList => ("7", "INFO: BLOCK_LIST Monitoring"),
        Definition::VpnSa => ("20", "INFO: VPN SA Monitoring"),
        Definition::Users => ("33", "INFO: User Monitoring"),
        Definition::Routing => ("34", "INFO: Routing Monitoring"),
        Definition::SslVpn => ("SSL VPN Session Monitoring", "INFO: SSL VPN Monitoring"),
        Definition::ActiveAlerts => ("3", "INFO: Alert Monitoring"),
        Definition::Neighbors => ("40", "INFO: Neighbor Monitoring"),
    }
}

/// Every field value of an entry, by id (ascending).
pub(crate) fn field_values(e: &Entry, ctx: &Ctx, event: &str) -> Vec<(u32, String)> {
    let (dt, tags) = data_type(ctx.def, ctx.legacy);
    let mut v: Vec<(u32, String)> = vec![
        (1, fmt_time(e.created)),
        (3, e.node.to_string()),
        (4, e.node.to_string()),
        (24, fmt_time(e.received)),
        (34, dt.into()),
        (38, e.domain.to_string()),
        (302, event.into()),
        (485, tags.into()),
    ];
    match &e.data {
        Data::Connection(c) => v.extend([
            (7, c.src.to_string()),
            (8, c.dst.to_string()),
            (9, c.sport.to_string()),
            (10, c.dport.to_string()),
            (11, c.protocol.into()),
            (12, c.src_if.into()),
            (13, c.dst_if.into()),
            (27, c.service.into()),
            (46, c.src_zone.into()),
            (47, c.dst_zone.into()),
            (115, c.timeout.to_string()),
            (116, c.state.into()),
        ]),
        Data::BlockList(b) => v.extend([
            (117, B64.encode(b.id.to_string())),
            (118, b.src.to_string()),
            (120, b.dst.to_string()),
            (122, b.protocol.into()),
            (123, b.sport.to_string()),
            (125, b.dport.to_string()),
            (127, b.duration.to_string()),
            (128, b.blacklister.into()),
            (172, b.src_prefix.to_string()),
            (173, b.dst_prefix.to_string()),
        ]),
        Data::VpnSa(s) => v.extend([
            (11, s.protocol().into()),
            (501, s.vpn.into()),
            (502, s.gateway.to_string()),
            (504, s.endpoint.clone()),
            (505, s.peer_gateway.into()),
            (506, s.peer_endpoint.clone()),
            (534, fmt_time(s.expires)),
            (535, s.sa_class.into()),
            (536, s.cipher.into()),
            (539, s.role.into()),
            (12200, s.bytes_sent.to_string()),
            (12201, s.bytes_received.to_string()),
            (20007, s.local_nets.clone()),
            (20008, s.peer_nets.clone()),
        ]),
        Data::User(u) => v.extend([
            (7, u.ip.to_string()),
            (534, fmt_time(u.expires)),
            (3001, u.name.clone()),
            (3003, u.id_service.into()),
        ]),
        Data::Route(r) => v.extend([
            (13, r.dst_if.into()),
            (47, r.zone.into()),
            (113, r.vlan.to_string()),
            (160, r.network.to_string()),
            (161, r.prefix.to_string()),
            (163, r.metric.to_string()),
            (164, r.gateway.to_string()),
            (165, r.route_type.into()),
        ]),
        Data::SslVpn(s) => v.extend([
            (7, s.src.to_string()),
            (808, s.session_type.into()),
            (809, fmt_time(s.started)),
            (810, fmt_time(s.timeout)),
            (811, s.id.clone()),
            (3001, s.user.clone()),
        ]),
        Data::Alert(a) => v.extend([
            (7, a.src.to_string()),
            (8, a.dst.to_string()),
            (9, a.sport.to_string()),
            (10, a.dport.to_string()),
            (11, a.protocol.into()),
            (14, a.action.into()),
            (27, a.service.into()),
            (602, a.severity.into()),
            (1000, a.situation.into()),
            (20000, a.vuln_refs.into()),
        ]),
        Data::Neighbor(n) => v.extend([
            (
                19,
                if n.protocol == "IPv6" {
                    "NDP entry"
                } else {
                    "ARP entry"
                }
                .into(),
            ),
            (733, n.interface.into()),
            (734, n.protocol.into()),
            (735, n.l3.clone()),
            (736, n.l2.clone()),
            (737, n.state.into()),
        ]),
    }
    v.sort_by_key(|(id, _)| *id);
    v
}

/// The element href of a block-list entry or VPN SA: (key, href).
pub(crate) fn href(e: &Entry, ctx: &Ctx) -> Option<(&'static str, String)> {
    let prefix = format!("{}/{}/elements/{}", ctx.base, ctx.version, e.element);
    match &e.data {
        Data::BlockList(b) => {
            let id = B64.encode(b.id.to_string());
            Some(if ctx.legacy {
                ("blacklist_href", format!("{prefix}/blacklist/{id}"))
            } else {
                ("block_list_href", format!("{prefix}/block_list/{id}"))
            })
        }
        Data::VpnSa(s) => Some((
            "vpn_sa_href",
            format!("{prefix}/vpn_sa/{}", B64.encode(s.spi.to_string())),
        )),
        _ => None,
    }
}

/// The fields and href of one sub-format.
fn render_sub(
    e: &Entry,
    ctx: &Ctx,
    sub: &SubFormat,
    values: &[(u32, String)],
) -> Map<String, Value> {
    let mut m = Map::new();
    for (id, val) in values {
        if let Some(sel) = &sub.select {
            if !sel.contains(id) {
                continue;
            }
        }
        let val = match (&e.data, *id, sub.field_format) {
            // The Management Client shows the decimal entry id (6.2 capture).
            (Data::BlockList(b), 117, FieldFormat::Pretty) => b.id.to_string(),
            _ => val.clone(),
        };
        m.insert(sub.field_format.key(*id), Value::String(val));
    }
    if let Some((k, h)) = href(e, ctx) {
        m.insert(k.into(), Value::String(h));
    }
    m
}

/// A full record (snapshot, added, updated or a full deleted entry).
pub(crate) fn render(e: &Entry, ctx: &Ctx, fmt: &Format, event: &str, first_fetch: bool) -> Value {
    let values = field_values(e, ctx, event);
    let mut m = match fmt {
        Format::Single(sub) => render_sub(e, ctx, sub, &values),
        Format::Combined(subs) => {
            let mut m = Map::new();
            for (k, sub) in subs {
                m.insert(k.clone(), Value::Object(render_sub(e, ctx, sub, &values)));
            }
            m
        }
    };
    m.insert("delta_key".into(), Value::String(e.delta_key()));
    if first_fetch && !ctx.legacy {
        m.insert("first_fetch".into(), Value::Bool(true));
    }
    Value::Object(m)
}

/// Whether a deleted entry is sent as `{"delta_key":…}` only. Deterministic
/// per key, about half of them, so clients must handle both shapes.
pub(crate) fn delete_as_key_only(e: &Entry) -> bool {
    xxhash_rust::xxh3::xxh3_64(&e.key) & 1 == 0
}

/// A `deleted` list entry.
pub(crate) fn render_deleted(e: &Entry, ctx: &Ctx, fmt: &Format) -> Value {
    if delete_as_key_only(e) {
        json!({ "delta_key": e.delta_key() })
    } else {
        render(e, ctx, fmt, EVENT_REMOVE, false)
    }
}

/// The `fields` schema of a `detailed` format (ids as JSON ints).
pub(crate) fn descriptors(def: Definition, sub: &SubFormat) -> Vec<Value> {
    definition_fields(def)
        .iter()
        .filter(|id| sub.select.as_ref().is_none_or(|s| s.contains(id)))
        .map(|id| descriptor(*id))
        .collect()
}

/// A `fields` descriptor (protocol §3.4); ids outside the catalog get a
/// generic one so that no requested column goes missing. Time fields are
/// not filterable, as in the capture of `Timestamp`.
pub(crate) fn descriptor(id: u32) -> Value {
    match field_by_id(id) {
        Some(f) => json!({"id": f.id, "name": f.name, "pretty": f.pretty, "comment": f.comment,
                          "filterable": f.raw_type != "time_ms", "raw_type": f.raw_type, "visible": true}),
        None => json!({"id": id, "name": format!("Field{id}"), "pretty": format!("Field {id}"),
                       "comment": "", "filterable": false, "raw_type": "string", "visible": true}),
    }
}

#[cfg(test)]
mod tests {
    use super::super::world::World;
    use super::*;

    fn ctx(def: Definition, legacy: bool) -> Ctx {
        Ctx {
            base: "http://127.0.0.1:1".into(),
            version: if legacy { "6.10" } else { "7.1" }.into(),
            legacy,
            def,
        }
    }

    #[test]
    fn every_rendered_field_is_declared_and_in_catalog() {
        let w = World::generate(5, 1);
        for t in &w.tables {
            let Some(e) = t.entries.first() else { continue };
            let ids: Vec<u32> = field_values(e, &ctx(t.def, false), EVENT_NEW)
                .into_iter()
                .map(|(i, _)| i)
                .collect();
            assert_eq!(ids, definition_fields(t.def), "{}", t.def);
            for id in ids {
                assert!(
                    field_by_id(id).is_some(),
                    "{} field {id} not in catalog",
                    t.def
                );
            }
        }
    }

    #[test]
    fn format_parsing() {
        let f = parse_format(Some(
            &json!({"type":"texts","field_ids":[4, "116"],"field_names":["Src","Dst Addr"]}),
        ));
        let Format::Single(s) = f else {
            panic!("single")
        };
        assert_eq!(s.field_format, FieldFormat::Name);
        assert_eq!(s.select, Some(vec![4, 116, 7, 8]));
        let f = parse_format(Some(
            &json!({"type":"combined","formats":{"a":{"field_format":"id"},"b":{"field_format":"pretty"}}}),
        ));
        let Format::Combined(subs) = f else {
            panic!("combined")
        };
        assert_eq!(subs.len(), 2);
    }

    #[test]
    fn legacy_block_list_href_and_no_first_fetch() {
        let w = World::generate(5, 1);
        let t = w
            .tables
            .iter()
            .find(|t| t.def == Definition::BlockList)
            .unwrap();
        let e = &t.entries[0];
        let r6 = render(
            e,
            &ctx(Definition::BlockList, true),
            &parse_format(None),
            EVENT_NEW,
            true,
        );
        assert!(r6.get("first_fetch").is_none());
        assert!(
            r6["blacklist_href"]
                .as_str()
                .unwrap()
                .contains("/6.10/elements/")
        );
        let r7 = render(
            e,
            &ctx(Definition::BlockList, false),
            &parse_format(None),
            EVENT_NEW,
            true,
        );
        assert_eq!(r7["first_fetch"], json!(true));
        assert!(
            r7["block_list_href"]
                .as_str()
                .unwrap()
                .contains("/block_list/")
        );
    }
}
