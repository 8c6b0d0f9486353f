"""`session.login(url, api_key, api_version)` and `session.logout()` of the
official client against the cookie-mode simulator."""

import pytest
import requests
from smc import session
from smc.api.exceptions import SMCConnectionError

from simharness import API_VERSION, HTTP_TIMEOUT


def _api_status(sim, cookie):
    """Status of `GET /{ver}/api` with a given Cookie header (401 = no live session)."""
    r = requests.get(
        f"{sim.url}/{API_VERSION}/api", headers={"Cookie": cookie}, timeout=HTTP_TIMEOUT
    )
    return r.status_code


def test_login_then_logout_ends_the_server_session(sim):
    session.login(url=sim.url, api_key=sim.api_key, api_version=API_VERSION, timeout=10)
    try:
        cookie = session.session_id
        assert session.api_version == API_VERSION
        assert cookie is not None and cookie.startswith("JSESSIONID=")
        assert len(cookie) > len("JSESSIONID=")
        assert session._token is None  # cookie mode: no Authorization header
        assert _api_status(sim, cookie) == 200
    finally:
        session.logout()
    assert session.session_id is None
    assert _api_status(sim, cookie) == 401


def test_login_entry_points_come_from_the_simulator(sim, smc):
    rels = {ep.rel for ep in smc.entry_points.all()}
    assert {"current_user", "logout", "system", "elements"} <= rels
    assert smc.entry_points.get("logout") == f"{sim.url}/{API_VERSION}/logout"


def test_wrong_key_fails_the_login(sim):
    with pytest.raises(SMCConnectionError) as e:
        session.login(url=sim.url, api_key=sim.api_key + "-wrong", api_version=API_VERSION, timeout=10)
    assert str(e.value) == "Login failed, HTTP status code: 401 and reason: Unauthorized"
    assert session.session_id is None


def test_two_sessions_in_a_row_get_distinct_ids(sim):
    ids = []
    for _ in range(2):
        session.login(url=sim.url, api_key=sim.api_key, api_version=API_VERSION, timeout=10)
        try:
            ids.append(session.session_id)
        finally:
            session.logout()
    assert ids[0] != ids[1]
    assert [_api_status(sim, c) for c in ids] == [401, 401]
