"""The official client's consumer in the ingest benchmark (benches/ingest).

Forcepoint's smc-python logs in to the replaying simulator and drains one
CONNECTIONS query with `fetch_raw(max_recv=0, ...)`, the way a script that
collects connections would. The query is in `id` field format without the
class's default `field_ids`: with FIELDS "all" (as `fetch_as_element`
does), so the simulator sends it the whole-record variant, every
CONNECTIONS field; with FIELDS a comma-separated list of field ids (the
exporter's), so it gets the very frames the exporter gets.

`fetch_raw` yields only `records.added` lists, and every frame of the
stream has one, so counting added records tells when the snapshot
(`snapshot` on stdout) and the live stream (`live`) have been consumed.
Then it idles (the harness reads its CPU time and kills it), bounded.

usage: official_client.py URL API_KEY TARGET SNAPSHOT_ROWS LIVE_ADDED FIELDS
"""

from __future__ import annotations

import sys
import time

from smc import session
from smc_monitoring.monitors.connections import ConnectionQuery

#: Bound of the whole query (seconds); the harness's own bound is shorter.
QUERY_TIMEOUT = 1800
#: Longest idle after the stream, waiting to be killed.
IDLE_AFTER = 600


def main() -> int:
    url, key, target = sys.argv[1], sys.argv[2], sys.argv[3]
    snapshot, live_added = int(sys.argv[4]), int(sys.argv[5])
    fields = sys.argv[6]
    session.login(url=url, api_key=key, api_version="7.1", timeout=30)
    query = ConnectionQuery(target)
    query.format.field_format("id")
    for custom in ("field_ids", "field_names"):
        query.format.data.pop(custom, None)
    if fields != "all":
        query.format.field_ids([int(f) for f in fields.split(",")])
    seen, said_snapshot = 0, False
    for added in query.fetch_raw(max_recv=0, query_timeout=QUERY_TIMEOUT, sock_timeout=1):
        seen += len(added)
        if not said_snapshot and seen >= snapshot:
            print("snapshot", flush=True)
            said_snapshot = True
        if seen >= snapshot + live_added:
            print("live", flush=True)
            break
    time.sleep(IDLE_AFTER)
    return 0


if __name__ == "__main__":
    sys.exit(main())
