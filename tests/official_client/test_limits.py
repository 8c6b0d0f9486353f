"""The SMC's (Tomcat's) 8192-byte limit on client text frames, as the
official client meets it."""

import json

import pytest
from smc_monitoring.models.constants import LogField
from smc_monitoring.models.formatters import RawDictFormat
from smc_monitoring.models.values import FieldValue, IPValue
from smc_monitoring.wsocket import FetchAborted
from websocket import WebSocketProtocolException

from simharness import (
    BATCH,
    BATCH_OPTS,
    BY_WIRE,
    DRAIN_OPTS,
    MAX_CLIENT_TEXT,
    TOO_BIG_REASON,
    drain,
    make_query,
)

CONNECTIONS = BY_WIRE["CONNECTIONS"]

#: What the client reports for the 1009 close: the raw close payload
#: (status 1009 = 0x03f1, then the reason) inside its own message.
TOO_BIG_MESSAGE = "Invalid close frame, " + repr(b"\x03\xf1" + TOO_BIG_REASON.encode())


def fake_ips(n):
    """`n` ≤ 254 TEST-NET-1 addresses (192.0.2.0/24)."""
    assert n <= 254
    return [f"192.0.2.{i + 1}" for i in range(n)]


def frame_len(q):
    """Bytes of the query frame the client sends (`json.dumps(request)`)."""
    return len(json.dumps(q.request).encode())


def test_250_ip_filter_is_closed_with_1009_and_raises_fetch_aborted(smc, busiest):
    target, _ = busiest["CONNECTIONS"]
    q = make_query(CONNECTIONS, target, **BATCH_OPTS)
    q.add_in_filter(FieldValue(LogField.SRC), [IPValue(*fake_ips(250))])
    assert frame_len(q) > MAX_CLIENT_TEXT
    with pytest.raises(FetchAborted) as e:
        list(q.fetch_batch(RawDictFormat))
    assert str(e.value) == TOO_BIG_MESSAGE
    assert isinstance(e.value.args[0], WebSocketProtocolException)


def _padded_query(target, size):
    """A CONNECTIONS query whose frame is exactly `size` bytes, padded with
    an unused `resolving` key (the simulator ignores unknown keys)."""
    q = make_query(CONNECTIONS, target, **BATCH_OPTS)
    q.format.set_resolving(pad="")
    q.format.set_resolving(pad="x" * (size - frame_len(q)))
    assert frame_len(q) == size
    return q


def test_frame_of_exactly_8192_bytes_is_accepted(smc, busiest):
    target, rows = busiest["CONNECTIONS"]
    batches = list(_padded_query(target, MAX_CLIENT_TEXT).fetch_batch(RawDictFormat))
    assert [len(b) for b in batches] == [min(BATCH, len(rows))]


def test_frame_of_8193_bytes_is_refused(smc, busiest):
    target, _ = busiest["CONNECTIONS"]
    with pytest.raises(FetchAborted) as e:
        list(_padded_query(target, MAX_CLIENT_TEXT + 1).fetch_batch(RawDictFormat))
    assert str(e.value) == TOO_BIG_MESSAGE


def test_180_ip_filter_fits_and_is_applied(smc, busiest):
    """Forcepoint's own example measures 180 IPs at about 7.3 kB: accepted,
    and the filter selects exactly the rows of the real sources in it."""
    target, rows = busiest["CONNECTIONS"]
    real = sorted({r["7"] for r in rows})[:5]
    ips = real + fake_ips(175)
    assert not {r["7"] for r in rows} & set(fake_ips(175))
    expected = {r["delta_key"] for r in rows if r["7"] in real}
    assert 0 < len(expected) < len(rows)

    q = make_query(CONNECTIONS, target)
    q.add_in_filter(FieldValue(LogField.SRC), [IPValue(*ips)])
    assert frame_len(q) < MAX_CLIENT_TEXT
    got = drain(q.fetch_raw(**DRAIN_OPTS))
    assert sorted(r["delta_key"] for r in got) == sorted(expected)
