"""`LogQuery` on the log socket: stored fetches (`fields`, a `records` list,
`end`) and live streaming, against the simulator's stored logs
(`GET /sim/logs`, `POST /sim/logs?count=N`)."""

import json
import threading
import time
from collections import Counter

from smc_monitoring.models.formats import TextFormat
from smc_monitoring.models.formatters import RawDictFormat
from smc_monitoring.monitors.logs import LogQuery

from simharness import BATCH_OPTS, field_items, parse_table

#: Records asked for by the stored fetches.
FETCH_SIZE = 7


def canon(record):
    """A log record's identity: its field values (numeric keys)."""
    return json.dumps(field_items(record), sort_keys=True)


def newest(truth, n):
    """The `n` newest records by timestamp (field 1), tie-aware: (records
    that must all be returned, records of which the rest is drawn)."""
    stamps = sorted((r["1"] for r in truth), reverse=True)
    assert len(stamps) >= n, f"only {len(stamps)} stored log records"
    cutoff = stamps[n - 1]
    must = [r for r in truth if r["1"] > cutoff]
    ties = [r for r in truth if r["1"] == cutoff]
    return must, ties


def test_stored_fetch_batch_returns_fetch_size_newest_records(smc, sim):
    truth = sim.logs()
    must, ties = newest(truth, FETCH_SIZE)
    q = LogQuery(fetch_size=FETCH_SIZE, format=TextFormat(field_format="id"), **BATCH_OPTS)
    start = time.monotonic()
    batches = list(q.fetch_batch(RawDictFormat))
    elapsed = time.monotonic() - start
    got = [r for b in batches for r in b]

    assert len(got) == FETCH_SIZE
    stamps = [r["1"] for r in got]
    assert stamps == sorted(stamps, reverse=True), "backwards=True: newest first"
    got_c = Counter(canon(r) for r in got)
    assert not Counter(canon(r) for r in must) - got_c, "a newer record is missing"
    assert not got_c - Counter(canon(r) for r in must + ties), "a record is not among the newest"
    # Ended by the server's `end`, not by the query timeout.
    assert elapsed < BATCH_OPTS["query_timeout"] / 2, elapsed


def test_stored_fetch_batch_table_format_has_the_log_columns(smc, sim, catalog):
    truth = sim.logs()
    q = LogQuery(fetch_size=FETCH_SIZE, **BATCH_OPTS)
    batches = list(q.fetch_batch())
    # One `records` list (later TableFormat batches would carry no header).
    assert len(batches) == 1
    table = parse_table(batches[0])
    assert table.headers == [catalog[i].pretty for i in LogQuery.field_ids]
    rows = table.rows
    assert len(rows) == FETCH_SIZE
    projected = Counter(
        tuple(r.get(str(i), "-") for i in LogQuery.field_ids) for r in truth
    )
    extra = Counter(rows) - projected
    assert not extra, f"table rows not in the stored logs: {list(extra)[:3]}"


def test_fetch_live_streams_appended_records(smc, sim):
    before = {canon(r) for r in sim.logs()}
    q = LogQuery(format=TextFormat(field_format="id"), query_timeout=15, sock_timeout=0.25)
    done = threading.Event()
    appended = []

    def append_until_seen():
        # The live query may start after a given append: keep appending one
        # record at a time until the stream has delivered one (bounded).
        for _ in range(60):
            if done.is_set():
                return
            appended.append(sim.append_logs(1))
            done.wait(0.25)

    poster = threading.Thread(target=append_until_seen, name="log-appender", daemon=True)
    poster.start()
    got = []
    live = q.fetch_live(RawDictFormat)
    try:
        for batch in live:
            got.extend(batch)
            if any(canon(r) not in before for r in got):
                break
    finally:
        done.set()
        live.close()
        poster.join(timeout=10)

    assert appended, "no record was appended"
    new = [r for r in got if canon(r) not in before]
    assert new, f"no appended record was streamed (got {len(got)} known records)"
    after = {canon(r) for r in sim.logs()}
    assert {canon(r) for r in got} <= after
