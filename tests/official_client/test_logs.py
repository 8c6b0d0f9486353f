"""`LogQuery` on the log socket: stored fetches (`fields`, a `records` list,
`end`) and live streaming, against the simulator's stored logs
(`GET /sim/logs`, `POST /sim/logs?count=N`) and its ledger of what a live
query was sent (`GET /sim/logs/sent`)."""

import threading
import time

from smc_monitoring.models.formats import TextFormat
from smc_monitoring.models.formatters import RawDictFormat
from smc_monitoring.monitors.logs import LogQuery

from simharness import BATCH_OPTS, parse_table, until

#: Records asked for by the stored fetches.
FETCH_SIZE = 7
#: Records appended while a live query runs.
APPENDED = 5


def test_stored_fetch_batch_returns_fetch_size_newest_records(smc, sim):
    truth = sim.logs()  # newest first
    assert len(truth) > FETCH_SIZE
    q = LogQuery(fetch_size=FETCH_SIZE, format=TextFormat(field_format="id"), **BATCH_OPTS)
    start = time.monotonic()
    batches = list(q.fetch_batch(RawDictFormat))
    elapsed = time.monotonic() - start

    # One `records` list holding exactly the newest FETCH_SIZE, newest first.
    assert batches == [truth[:FETCH_SIZE]]
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
    # The newest FETCH_SIZE records, newest first, projected on the columns
    # ("-" where a record lacks the field).
    assert table.rows == [
        tuple(r.get(str(i), "-") for i in LogQuery.field_ids) for r in truth[:FETCH_SIZE]
    ]


def test_fetch_live_streams_appended_records(smc, sim):
    q = LogQuery(format=TextFormat(field_format="id"), query_timeout=15, sock_timeout=0.25)
    appended = []
    failure = []

    def append_once_live():
        # The simulator counts open `current` queries: once the client's is
        # registered, every appended record must reach it.
        try:
            if until(lambda: sim.live_log_fetches() >= 1, timeout=10):
                appended.append(sim.append_logs(APPENDED))
        except Exception as e:  # reported by the assertions below
            failure.append(e)

    poster = threading.Thread(target=append_once_live, name="log-appender", daemon=True)
    poster.start()
    got = []
    live = q.fetch_live(RawDictFormat)
    try:
        for batch in live:
            got.extend(batch)
            if len(got) >= APPENDED:
                break
    finally:
        live.close()
        poster.join(timeout=15)

    assert not failure, failure
    assert appended == [{"appended": APPENDED}], "the live query never registered"
    # Exactly the appended records, in the order they were produced (the
    # newest APPENDED of the stored log, oldest first).
    assert got == list(reversed(sim.logs()[:APPENDED]))
    # The simulator's ledger of this fetch (the newest) holds exactly what
    # the client read, and marks the fetch ended once the client closed it.
    assert until(lambda: not sim.get("/sim/logs/sent")["fetches"][-1]["live"], timeout=10)
    fetch = sim.get("/sim/logs/sent")["fetches"][-1]
    assert (fetch["sent"], fetch["dropped"], fetch["records"]) == (APPENDED, 0, got)
