"""Helpers shared by the official-client tests: the simulator process, its
control endpoints (the ground truth), the eight query classes, the field
catalog (an independent oracle for labels) and a TableFormat parser.

Everything here talks to the simulator's `/sim/*` endpoints with plain
`requests`; the SMC protocol itself is only ever spoken by Forcepoint's client.
"""

from __future__ import annotations

import base64
import ctypes
import os
import queue
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import requests
from smc_monitoring.monitors.alerts import ActiveAlertQuery
from smc_monitoring.monitors.block_list import BlockListQuery
from smc_monitoring.monitors.connections import ConnectionQuery
from smc_monitoring.monitors.neighbors import NeighborQuery
from smc_monitoring.monitors.routes import RoutingQuery
from smc_monitoring.monitors.sslvpn import SSLVPNQuery
from smc_monitoring.monitors.users import UserQuery
from smc_monitoring.monitors.vpns import VPNSAQuery

REPO = Path(__file__).resolve().parents[2]

#: The world seed of every simulator the suite starts (the world is a pure
#: function of it, so targets and row counts are stable).
SEED = 7
#: API version the client logs in with.
API_VERSION = "7.1"
#: How long the simulator may take to print its listening line.
START_TIMEOUT = 30.0
#: How long a stopped simulator may take to exit after SIGTERM.
STOP_TIMEOUT = 10.0
#: Timeout of each control-endpoint HTTP call.
HTTP_TIMEOUT = 10.0
#: Records per snapshot message (protocol §3.2: batches of at most 200; the
#: simulator fills them).
BATCH = 200

#: Socket options of a single-message fetch (`fetch_batch`): bounded by a
#: total query time; `sock_timeout` is the client's select() interval, so
#: the bound is checked twice a second.
BATCH_OPTS: dict[str, Any] = {"query_timeout": 10, "sock_timeout": 0.5}
#: Options of a drain (`fetch_raw`/`fetch_as_element` with `max_recv=0`):
#: stop after the snapshot once the socket has been quiet. The client
#: compares `inactivity_timeout < int(seconds since the last message)`, so
#: 0.5 means "a full second of silence" (1 would mean two); the snapshot's
#: batches go out back to back, so a quiet second is the end of it. The
#: inactivity timer only works together with `query_timeout` (protocol
#: §3.5, §8 item 6).
DRAIN_OPTS: dict[str, Any] = {
    "max_recv": 0,
    "query_timeout": 20,
    "inactivity_timeout": 0.5,
    "sock_timeout": 0.1,
}

#: The Tomcat close reason of a too-big client frame (protocol §1.7).
TOO_BIG_REASON = (
    "The decoded text message was too big for the output buffer and the "
    "endpoint does not support partial messages"
)
#: Largest client text frame the SMC accepts.
MAX_CLIENT_TEXT = 8192


@dataclass(frozen=True)
class Definition:
    """One session-monitoring definition and the client's query class."""

    wire: str
    cls: type
    #: "engine" for engine-scoped definitions, "domain" for ACTIVE_ALERTS.
    scope: str

    @property
    def id(self) -> str:
        return self.cls.__name__


DEFINITIONS = [
    Definition("CONNECTIONS", ConnectionQuery, "engine"),
    Definition("BLOCK_LIST", BlockListQuery, "engine"),
    Definition("VPN_SA", VPNSAQuery, "engine"),
    Definition("USERS", UserQuery, "engine"),
    Definition("ROUTING", RoutingQuery, "engine"),
    Definition("SSLVPNV2", SSLVPNQuery, "engine"),
    Definition("ACTIVE_ALERTS", ActiveAlertQuery, "domain"),
    Definition("NEIGHBORS", NeighborQuery, "engine"),
]
BY_WIRE = {d.wire: d for d in DEFINITIONS}


def make_query(definition: Definition, target: str, **sockopt: Any):
    """A query of `definition` on `target` with socket options set.

    `ActiveAlertQuery` and `NeighborQuery` accept no socket keyword
    arguments (protocol §8 item 11), so the options go into the query's
    public `sockopt` dict, which every fetch (and the TableFormat field
    lookup) passes to the socket.
    """
    q = definition.cls(target)
    q.sockopt.update(sockopt)
    return q


# ---------------------------------------------------------------------------
# The field catalog, read from the Rust source: the oracle for labels.


@dataclass(frozen=True)
class Field:
    id: int
    name: str
    pretty: str


def load_catalog() -> dict[int, Field]:
    """`crates/smc-protocol/src/fields.rs` `FIELDS`: id → (name, pretty)."""
    src = (REPO / "crates" / "smc-protocol" / "src" / "fields.rs").read_text(encoding="utf-8")
    pat = re.compile(r'f!\(\s*(\d+),\s*"((?:[^"\\]|\\.)*)",\s*"((?:[^"\\]|\\.)*)"')
    cat = {int(m[1]): Field(int(m[1]), m[2], m[3]) for m in pat.finditer(src)}
    if not cat:
        raise AssertionError(
            "no f!(id, name, pretty, …) entries found in crates/smc-protocol/src/fields.rs"
        )
    return cat


def pretty_value(wire: str, field_id: int, id_value: str) -> str:
    """The value a `pretty` record shows for an `id`-format value.

    Only the block-list entry id differs: the Management Client shows the
    decimal id, while `id`/`name` records carry base64 of that decimal
    (the 6.2 capture, protocol §4.3).
    """
    if wire == "BLOCK_LIST" and field_id == 117:
        return base64.b64decode(id_value).decode("ascii")
    return id_value


def field_items(record: dict[str, Any]) -> dict[str, Any]:
    """The field entries of an `id`-format record (numeric keys only)."""
    return {k: v for k, v in record.items() if k.isdigit()}


# ---------------------------------------------------------------------------
# TableFormat output.


@dataclass
class Table:
    headers: list[str]
    rows: list[tuple[str, ...]]


def parse_table(text: str) -> Table:
    """Parse one `TableFormat.formatted()` batch: a header line, a line of
    dashes giving the column widths, then one line per record (cells are
    left-justified to the column width and separated by one space; missing
    values are `-`)."""
    lines = text.rstrip("\n").split("\n")
    if len(lines) < 2:
        raise AssertionError(f"not a TableFormat batch: {text!r}")
    widths = [len(d) for d in lines[1].split(" ")]
    if not all(widths) or set(lines[1]) - {"-", " "}:
        raise AssertionError(f"second line is not the dash ruler: {lines[1]!r}")

    def cells(line: str) -> tuple[str, ...]:
        out, pos = [], 0
        for w in widths:
            out.append(line[pos : pos + w].rstrip())
            pos += w + 1
        return tuple(out)

    return Table(headers=list(cells(lines[0])), rows=[cells(line) for line in lines[2:]])


# ---------------------------------------------------------------------------
# The simulator process.


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the test process dies, so a
    killed pytest never leaves a simulator behind (Linux prctl; a no-op
    elsewhere)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def simulator_binary() -> Path:
    """`SMC_LAB_BIN` (relative paths are taken from the repository root),
    else `$CARGO_TARGET_DIR/debug/smc-lab`, else `target/debug/smc-lab`."""
    env = os.environ.get("SMC_LAB_BIN")
    if env:
        p = Path(env)
    else:
        target = Path(os.environ.get("CARGO_TARGET_DIR", "target"))
        p = target / "debug" / "smc-lab"
    return p if p.is_absolute() else REPO / p


class Simulator:
    """A running `smc-lab simulate` and its control endpoints."""

    LISTENING = "simulated SMC listening on "

    def __init__(self, extra_args: list[str], log_path: Path):
        binary = simulator_binary()
        if not binary.is_file():
            raise AssertionError(
                f"simulator binary {binary} not found: build it "
                "(cargo build -p smc-lab) or set SMC_LAB_BIN"
            )
        args = [
            str(binary),
            "simulate",
            "--listen",
            "127.0.0.1:0",
            "--churn",
            "0",
            "--seed",
            str(SEED),
            *extra_args,
        ]
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            preexec_fn=_die_with_parent,
        )
        try:
            self.url = self._await_url()
            self.world = self.get("/sim/world")
        except BaseException:
            self.stop()
            raise

    def _await_url(self) -> str:
        """Read the first stdout line (bounded) and take the URL from it."""
        lines: queue.Queue[bytes] = queue.Queue()
        assert self.proc.stdout is not None
        stdout = self.proc.stdout

        def read() -> None:
            # The rest of stdout is drained so the child never blocks on it.
            for line in stdout:
                lines.put(line)

        threading.Thread(target=read, name="simulator-stdout", daemon=True).start()
        try:
            first = lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            raise AssertionError(
                f"simulator printed nothing within {START_TIMEOUT}s; "
                f"exit status {self.proc.poll()}; log: {self.log_tail()}"
            ) from None
        text = first.decode("utf-8", "replace").strip()
        if not text.startswith(self.LISTENING):
            raise AssertionError(f"unexpected first line {text!r}; log: {self.log_tail()}")
        return text[len(self.LISTENING) :]

    def log_tail(self, n: int = 2000) -> str:
        self._log.flush()
        data = self.log_path.read_bytes()
        return data[-n:].decode("utf-8", "replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
        self._log.close()

    # -- control endpoints --------------------------------------------------

    def _check(self, r: requests.Response) -> Any:
        if r.status_code != 200:
            raise AssertionError(f"{r.request.method} {r.url} → {r.status_code}: {r.text[:500]}")
        if not r.headers.get("content-type", "").startswith("application/json"):
            raise AssertionError(
                f"{r.request.method} {r.url}: content-type {r.headers.get('content-type')!r}"
            )
        return r.json()

    def get(self, path: str, **params: Any) -> Any:
        return self._check(requests.get(self.url + path, params=params, timeout=HTTP_TIMEOUT))

    def post(self, path: str, **params: Any) -> Any:
        return self._check(requests.post(self.url + path, params=params, timeout=HTTP_TIMEOUT))

    @property
    def api_key(self) -> str:
        return self.world["api_key"]

    def targets(self, definition: Definition) -> list[str]:
        key = "alert_domains" if definition.scope == "domain" else "engines"
        return list(self.world[key])

    def table(self, definition: Definition | str, target: str) -> list[dict[str, Any]]:
        """Ground truth: the rows of one table as `id`-format records."""
        wire = definition if isinstance(definition, str) else definition.wire
        body = self.get("/sim/table", definition=wire, target=target)
        return body["rows"]

    def busiest_target(self, definition: Definition) -> tuple[str, list[dict[str, Any]]]:
        """The target with the most rows (ties: the first listed)."""
        best: tuple[str, list[dict[str, Any]]] | None = None
        for t in self.targets(definition):
            rows = self.table(definition, t)
            if best is None or len(rows) > len(best[1]):
                best = (t, rows)
        assert best is not None and best[1], f"no {definition.wire} table has rows"
        return best

    def logs(self) -> list[dict[str, Any]]:
        """Ground truth: the stored log records (`id`-format), newest first."""
        return self.get("/sim/logs")["records"]

    def live_log_fetches(self) -> int:
        """How many `current` log queries the simulator is streaming to."""
        return self.get("/sim/logs")["live_fetches"]

    def append_logs(self, count: int) -> Any:
        return self.post("/sim/logs", count=count)

    def create_elements(self, typ: str, count: int) -> list[str]:
        """Emit `count` create events of element type `typ`; their hrefs."""
        hrefs = self.post("/sim/elements", type=typ, action="create", count=count)
        assert isinstance(hrefs, list) and all(isinstance(h, str) for h in hrefs), hrefs
        return hrefs


# ---------------------------------------------------------------------------
# Small utilities.


def drain(gen) -> list[Any]:
    """Flatten a generator of record batches."""
    return [r for batch in gen for r in batch]


def until(pred: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Wait (bounded) for `pred()`; True when it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()
