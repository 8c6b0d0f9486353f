"""Fixtures: the simulator processes (cookie and token mode), the
process-global `smc.session` logged in around each test, and a wall-clock
bound per test."""

from __future__ import annotations

import time

import pytest
from smc import session as smc_session

from simharness import API_VERSION, DEFINITIONS, Simulator, load_catalog

#: Longest a single test may run (every fetch is bounded far below this;
#: this catches a bound that stopped working).
TEST_WALL_CLOCK = 30.0


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    start = time.monotonic()
    result = yield
    elapsed = time.monotonic() - start
    if elapsed > TEST_WALL_CLOCK:
        pytest.fail(f"{item.nodeid} took {elapsed:.1f}s (bound {TEST_WALL_CLOCK}s)")
    return result


def _start(tmp_path_factory, name: str, extra: list[str]):
    log = tmp_path_factory.mktemp(name) / "simulator.log"
    sim = Simulator(extra, log)
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(scope="session")
def sim(tmp_path_factory):
    """The simulator in cookie mode (`JSESSIONID`)."""
    yield from _start(tmp_path_factory, "sim-cookie", [])


@pytest.fixture(scope="session")
def token_sim(tmp_path_factory):
    """The simulator in "Use SSL for session ID" mode (`--auth token`)."""
    yield from _start(tmp_path_factory, "sim-token", ["--auth", "token"])


@pytest.fixture(scope="session")
def catalog():
    cat = load_catalog()
    pretties = [f.pretty for f in cat.values()]
    dupes = {p for p in pretties if pretties.count(p) > 1}
    assert not dupes, f"pretty labels must be unique to map records back to ids: {dupes}"
    return cat


@pytest.fixture(scope="session")
def busiest_targets(sim):
    """Per definition: the target with the most rows (the world is quiet,
    `--churn 0`, so the choice holds for the whole run)."""
    return {d.wire: sim.busiest_target(d)[0] for d in DEFINITIONS}


class _Busiest:
    """`busiest[wire]` → (busiest target, its ground-truth rows read now)."""

    def __init__(self, sim, targets):
        self._sim, self._targets = sim, targets

    def __getitem__(self, wire):
        target = self._targets[wire]
        return target, self._sim.table(wire, target)


@pytest.fixture
def busiest(sim, busiest_targets):
    return _Busiest(sim, busiest_targets)


def _login(sim: Simulator):
    smc_session.login(url=sim.url, api_key=sim.api_key, api_version=API_VERSION, timeout=10)
    try:
        yield smc_session
    finally:
        smc_session.logout()


@pytest.fixture
def smc(sim):
    """The official client's global session, logged in to the cookie-mode
    simulator for the duration of one test."""
    yield from _login(sim)


@pytest.fixture
def smc_token(token_sim):
    """The global session logged in to the token-mode simulator."""
    yield from _login(token_sim)
