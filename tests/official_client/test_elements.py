"""`fetch_as_element()`: the client's element classes built from the
simulator's records, their accessors compared with the ground truth."""

from collections import Counter

import pytest

from simharness import BY_WIRE, DRAIN_OPTS, make_query, pretty_value


def _elements(busiest, wire):
    d = BY_WIRE[wire]
    target, rows = busiest[wire]
    els = list(make_query(d, target).fetch_as_element(**DRAIN_OPTS))
    return els, rows


def test_block_list_entries_combined_format(smc, busiest):
    """BlockListQuery uses a combined format (`bldata` by name, `blid`
    pretty) and reads `block_list_href` inside `bldata`."""
    els, rows = _elements(busiest, "BLOCK_LIST")
    by_href = {r["block_list_href"]: r for r in rows}
    assert len(els) == len(rows)
    assert sorted(e.href for e in els) == sorted(by_href)
    for e in els:
        r = by_href[e.href]
        got = {
            "block_list_id": e.block_list_id,
            "block_list_entry_key": e.block_list_entry_key,
            "timestamp": e.timestamp,
            "engine": e.engine,
            "source": e.source,
            "destination": e.destination,
            "protocol": e.protocol,
            "duration": e.duration,
            "first_fetch": e.first_fetch,
        }
        assert got == {
            "block_list_id": pretty_value("BLOCK_LIST", 117, r["117"]),
            "block_list_entry_key": r["117"],
            "timestamp": r["1"],
            "engine": r["4"],
            "source": f"{r['118']}/{r['172']}",
            "destination": f"{r['120']}/{r['173']}",
            "protocol": r["122"],
            "duration": int(r["127"]),
            "first_fetch": True,
        }


def test_vpn_security_associations(smc, busiest):
    els, rows = _elements(busiest, "VPN_SA")
    by_href = {r["vpn_sa_href"]: r for r in rows}
    assert len(els) == len(rows)
    assert sorted(e.href for e in els) == sorted(by_href)
    for e in els:
        r = by_href[e.href]
        got = {
            "timestamp": e.timestamp,
            "engine": e.engine,
            "local_gateway": e.local_gateway,
            "peer_gateway": e.peer_gateway,
            "local_endpoint": e.local_endpoint,
            "peer_endpoint": e.peer_endpoint,
            "local_networks": e.local_networks,
            "peer_networks": e.peer_networks,
            "vpn_id": e.vpn_id,
            "sa_type": e.sa_type,
            "protocol": e.protocol,
            "negotiation_role": e.negotiation_role,
            "bytes_sent": e.bytes_sent,
            "bytes_received": e.bytes_received,
            "expiration": e.expiration,
            "first_fetch": e.first_fetch,
        }
        assert got == {
            "timestamp": r["1"],
            "engine": r["4"],
            "local_gateway": r["502"],
            "peer_gateway": r["505"],
            "local_endpoint": r["504"],
            "peer_endpoint": r["506"],
            "local_networks": r["20007"],
            "peer_networks": r["20008"],
            "vpn_id": r["501"],
            "sa_type": r["535"],
            "protocol": r["11"],
            "negotiation_role": r["539"],
            "bytes_sent": int(r["12200"]),
            "bytes_received": int(r["12201"]),
            "expiration": r["534"],
            "first_fetch": True,
        }


# The other six element classes carry no href, so elements and rows are
# compared as multisets of accessor tuples. Each entry: accessor names, and
# the same values computed from an `id` row the way protocol §4.3 says the
# accessor reads them.
OTHERS = {
    "CONNECTIONS": (
        ["timestamp", "engine", "source_addr", "dest_addr", "service", "protocol",
         "source_port", "dest_port", "state"],
        lambda r: (r["1"], r["4"], r["7"], r["8"], r["27"], r["11"], int(r["9"]),
                   int(r["10"]), r["116"]),
    ),
    "USERS": (
        ["timestamp", "engine", "username", "ipaddress", "domain", "expiration", "first_fetch"],
        lambda r: (r["1"], r["4"], r["3001"], r["7"], r["38"], r["534"], True),
    ),
    "ROUTING": (
        ["timestamp", "engine", "dest_if", "dest_vlan", "dest_zone", "route_gw",
         "route_network", "route_type", "route_metric", "first_fetch"],
        lambda r: (r["24"], r["4"], r["13"], r["113"], r["47"], r["164"], r["160"],
                   r["165"], int(r["163"]), True),
    ),
    "SSLVPNV2": (
        ["engine", "source_addr", "username", "session_start", "session_expiration",
         "first_fetch"],
        lambda r: (r["4"], r["7"], r["3001"], r["809"], r["810"], True),
    ),
    "ACTIVE_ALERTS": (
        ["timestamp", "engine", "severity", "action", "source", "destination", "service",
         "protocol", "source_port", "destination_port", "situation", "vulnerability_refs"],
        lambda r: (r["1"], r["4"], r["602"], r["14"], r["7"], r["8"], r["27"], r["11"],
                   int(r["9"]), int(r["10"]), r["1000"], r["20000"]),
    ),
    "NEIGHBORS": (
        ["node_id", "reception_time", "sender_domain", "data_type", "info_msg", "data_tags",
         "neighbor_state", "neighbor_interface", "neighbor_protocol", "neighbor_l3_data",
         "neighbor_l2_data", "first_fetch"],
        lambda r: (r["4"], r["24"], r["38"], r["34"], r["19"], r["485"], r["737"], r["733"],
                   r["734"], r["735"], r["736"], True),
    ),
}


@pytest.mark.parametrize("wire", [pytest.param(w, id=BY_WIRE[w].id) for w in OTHERS])
def test_other_elements_accessors(smc, busiest, wire):
    names, expect = OTHERS[wire]
    els, rows = _elements(busiest, wire)
    assert len(els) == len(rows)
    got = Counter(tuple(getattr(e, n) for n in names) for e in els)
    assert got == Counter(expect(r) for r in rows)
