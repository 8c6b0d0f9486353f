"""The eight session-monitoring query classes of the official client against
the simulator's ground truth (`GET /sim/table`)."""

import time
from collections import Counter

import pytest
from smc_monitoring.models.formatters import RawDictFormat
from smc_monitoring.wsocket import FetchAborted, InvalidFetch

from simharness import (
    BATCH,
    BATCH_OPTS,
    DEFINITIONS,
    DRAIN_OPTS,
    drain,
    field_items,
    make_query,
    parse_table,
    pretty_value,
)

PARAMS = [pytest.param(d, id=d.id) for d in DEFINITIONS]


def expected_pretty_record(wire, row, catalog):
    """A ground-truth `id` row as the snapshot record of a `pretty` query."""
    rec = {k: v for k, v in row.items() if not k.isdigit()}
    for fid, v in field_items(row).items():
        rec[catalog[int(fid)].pretty] = pretty_value(wire, int(fid), v)
    rec["first_fetch"] = True
    return rec


@pytest.mark.parametrize("d", PARAMS)
def test_fetch_batch_raw_dict_returns_the_first_snapshot_batch(smc, busiest, catalog, d):
    target, rows = busiest[d.wire]
    by_key = {r["delta_key"]: r for r in rows}
    batches = list(make_query(d, target, **BATCH_OPTS).fetch_batch(RawDictFormat))
    assert len(batches) == 1, "fetch_batch reads exactly one records message"
    batch = batches[0]
    assert len(batch) == min(BATCH, len(rows))
    keys = [r["delta_key"] for r in batch]
    assert len(set(keys)) == len(keys)
    assert set(keys) <= set(by_key)
    for rec in batch:
        assert rec == expected_pretty_record(d.wire, by_key[rec["delta_key"]], catalog)


@pytest.mark.parametrize("d", PARAMS)
def test_fetch_batch_table_format_has_the_class_columns(smc, busiest, catalog, d):
    target, rows = busiest[d.wire]
    batches = list(make_query(d, target, **BATCH_OPTS).fetch_batch())
    assert len(batches) == 1
    table = parse_table(batches[0])
    missing = [i for i in d.cls.field_ids if i not in catalog]
    assert not missing, (
        f"{d.id}.field_ids {missing} have no label in crates/smc-protocol/src/fields.rs; "
        f"the client showed {table.headers}"
    )
    assert table.headers == [catalog[i].pretty for i in d.cls.field_ids]
    assert len(table.rows) == min(BATCH, len(rows))
    truth = Counter(
        tuple(
            pretty_value(d.wire, i, row[str(i)]) if str(i) in row else "-"
            for i in d.cls.field_ids
        )
        for row in rows
    )
    extra = Counter(table.rows) - truth
    assert not extra, f"table rows not in the ground truth: {list(extra)[:3]}"


@pytest.mark.parametrize("d", PARAMS)
def test_fetch_raw_drains_exactly_the_snapshot(smc, busiest, d):
    """`fetch_raw(max_recv=0, query_timeout, inactivity_timeout)` on a quiet
    simulator: every snapshot row once, equal to the ground truth (`id`
    format), each marked `first_fetch`."""
    target, rows = busiest[d.wire]
    q = make_query(d, target)
    q.format.field_format("id")
    got = drain(q.fetch_raw(**DRAIN_OPTS))
    assert len(got) == len(rows)
    keys = [r["delta_key"] for r in got]
    assert len(set(keys)) == len(keys)
    truth = {r["delta_key"]: {**r, "first_fetch": True} for r in rows}
    assert {r["delta_key"]: r for r in got} == truth


@pytest.mark.parametrize("d", PARAMS)
def test_unknown_target_raises_fetch_aborted_with_the_reason(smc, d):
    target = "no-such-target"
    what = "admin domain" if d.scope == "domain" else "engine"
    with pytest.raises(FetchAborted) as e:
        list(make_query(d, target, **BATCH_OPTS).fetch_batch(RawDictFormat))
    assert str(e.value) == f"Unknown target '{target}' for {d.wire}: no such {what}"
    assert isinstance(e.value.args[0], InvalidFetch)


def test_empty_table_yields_no_batch_and_ends_on_the_empty_records_message(sim, smc):
    empty = [
        (d, t) for d in DEFINITIONS for t in sim.targets(d) if not sim.table(d, t)
    ]
    assert empty, "the seed's world has no empty table; pick another SEED"
    d, target = empty[0]
    start = time.monotonic()
    got = list(make_query(d, target, **BATCH_OPTS).fetch_batch(RawDictFormat))
    elapsed = time.monotonic() - start
    assert got == []
    # Ended by the (empty) first records message, not by the query timeout.
    assert elapsed < BATCH_OPTS["query_timeout"] / 2, elapsed


def test_fetch_batch_max_recv_2_reads_two_batches(smc, busiest):
    d = DEFINITIONS[0]  # CONNECTIONS: the busiest engine has > 400 rows
    target, rows = busiest[d.wire]
    assert len(rows) > 2 * BATCH
    batches = list(make_query(d, target, **BATCH_OPTS).fetch_batch(RawDictFormat, max_recv=2))
    assert [len(b) for b in batches] == [BATCH, BATCH]
    keys = {r["delta_key"] for b in batches for r in b}
    assert len(keys) == 2 * BATCH
    assert keys <= {r["delta_key"] for r in rows}
