"""Query filters built with the official client's filter classes: the
simulator must return exactly the rows an independent Python predicate
selects from the ground truth (`GET /sim/table`)."""

import pytest
from smc_monitoring.models.constants import LogField
from smc_monitoring.models.filters import (
    AndFilter,
    DefinedFilter,
    InFilter,
    NotFilter,
    OrFilter,
    QueryFilter,
)
from smc_monitoring.models.formatters import RawDictFormat
from smc_monitoring.models.values import FieldValue, IPValue, TranslatedValue
from smc_monitoring.wsocket import FetchAborted, InvalidFetch

from simharness import BATCH_OPTS, BY_WIRE, DRAIN_OPTS, drain, make_query

CONNECTIONS = BY_WIRE["CONNECTIONS"]


def translated(expr):
    """A translated filter the way the client documents it
    (`QueryFilter("translated")` + `TranslatedValue`)."""
    f = QueryFilter("translated")
    f.update_filter(TranslatedValue(expr).value)
    return f


class Sample:
    """Deterministic picks from the busiest CONNECTIONS table."""

    def __init__(self, rows):
        self.rows = sorted(rows, key=lambda r: r["delta_key"])
        srcs = []
        for r in self.rows:
            if r["7"] not in srcs:
                srcs.append(r["7"])
        self.srcs = srcs
        https = [r for r in self.rows if r["10"] == "443"]
        other = [r for r in self.rows if r["10"] != "443"]
        assert len(https) >= 5 and len(other) >= 5
        # Sources of five HTTPS and five non-HTTPS connections.
        self.mixed_srcs = sorted({r["7"] for r in https[:5] + other[:5]})


# Each case: (id, build(sample) -> client filter, predicate(sample, row) -> bool).
CASES = [
    (
        "in-src-three-ips",
        lambda s: InFilter(FieldValue(LogField.SRC), [IPValue(*s.srcs[:3])]),
        lambda s, r: r["7"] in s.srcs[:3],
    ),
    (
        "in-src-field-by-name",
        lambda s: InFilter(FieldValue("Src"), [IPValue(s.srcs[3])]),
        lambda s, r: r["7"] == s.srcs[3],
    ),
    (
        "translated-dport-443",
        lambda s: translated("$Dport == 443"),
        lambda s, r: r["10"] == "443",
    ),
    (
        "and-in-src-translated-dport",
        lambda s: AndFilter(
            [InFilter(FieldValue(LogField.SRC), [IPValue(*s.mixed_srcs)]), translated("$Dport == 443")]
        ),
        lambda s, r: r["7"] in s.mixed_srcs and r["10"] == "443",
    ),
    (
        "or-src-or-dst",
        lambda s: OrFilter(
            [
                InFilter(FieldValue(LogField.SRC), [IPValue(s.rows[0]["7"])]),
                InFilter(FieldValue(LogField.DST), [IPValue(s.rows[1]["8"])]),
            ]
        ),
        lambda s, r: r["7"] == s.rows[0]["7"] or r["8"] == s.rows[1]["8"],
    ),
    (
        "not-in-src",
        lambda s: NotFilter([InFilter(FieldValue(LogField.SRC), [IPValue(*s.srcs[:3])])]),
        lambda s, r: r["7"] not in s.srcs[:3],
    ),
    (
        "defined-service",
        lambda s: DefinedFilter(FieldValue(LogField.SERVICE)),
        lambda s, r: "27" in r,
    ),
    (
        "defined-username-on-connections",
        lambda s: DefinedFilter(FieldValue(LogField.USERNAME)),
        lambda s, r: "3001" in r,
    ),
    (
        "and-not-defined-username-in-src",
        lambda s: AndFilter(
            [
                NotFilter([DefinedFilter(FieldValue(LogField.USERNAME))]),
                InFilter(FieldValue(LogField.SRC), [IPValue(s.srcs[0])]),
            ]
        ),
        lambda s, r: "3001" not in r and r["7"] == s.srcs[0],
    ),
]


@pytest.mark.parametrize("build,pred", [pytest.param(b, p, id=i) for i, b, p in CASES])
def test_connection_filter_returns_exactly_the_matching_rows(smc, busiest, build, pred):
    target, rows = busiest["CONNECTIONS"]
    s = Sample(rows)
    expected = {r["delta_key"]: {**r, "first_fetch": True} for r in rows if pred(s, r)}

    q = make_query(CONNECTIONS, target)
    q.format.field_format("id")
    q.update_filter(build(s))
    got = drain(q.fetch_raw(**DRAIN_OPTS))
    keys = [r["delta_key"] for r in got]
    assert len(keys) == len(set(keys))
    assert len(got) == len(expected)
    assert {r["delta_key"]: r for r in got} == expected


def test_filter_cases_discriminate(busiest):
    """Guard for the cases above: each one's expected row set is what it is
    meant to be (a proper, non-empty subset, or the two `defined` extremes),
    so an ignored filter cannot pass them all."""
    _, rows = busiest["CONNECTIONS"]
    s = Sample(rows)
    sizes = {i: sum(1 for r in rows if p(s, r)) for i, _, p in CASES}
    assert sizes["defined-service"] == len(rows)
    assert sizes["defined-username-on-connections"] == 0
    for i, n in sizes.items():
        if not i.startswith("defined-"):
            assert 0 < n < len(rows), (i, n)


def test_block_list_in_filter_as_elements(smc, busiest):
    """The block-list docstring's example: an InFilter on the entry source
    IP, fetched as elements (combined format + filter)."""
    d = BY_WIRE["BLOCK_LIST"]
    target, rows = busiest["BLOCK_LIST"]
    srcs = sorted({r["118"] for r in rows})[:2]
    expected = sorted(r["block_list_href"] for r in rows if r["118"] in srcs)
    assert 0 < len(expected) < len(rows)

    q = make_query(d, target)
    q.add_in_filter(FieldValue(LogField.BLOCK_LISTENTRYSOURCEIP), [IPValue(*srcs)])
    els = list(q.fetch_as_element(**DRAIN_OPTS))
    assert sorted(e.href for e in els) == expected
    assert {e.source.split("/")[0] for e in els} == set(srcs)


def test_invalid_filter_raises_fetch_aborted(smc, busiest):
    target, _ = busiest["CONNECTIONS"]
    q = make_query(CONNECTIONS, target, **BATCH_OPTS)
    q.update_filter(QueryFilter("no_such_filter_type"))
    with pytest.raises(FetchAborted) as e:
        list(q.fetch_batch(RawDictFormat))
    assert str(e.value).startswith("Invalid filter: "), str(e.value)
    assert isinstance(e.value.args[0], InvalidFetch)
