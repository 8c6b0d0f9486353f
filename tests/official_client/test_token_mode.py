""""Use SSL for session ID" (token) mode: the simulator started with
`--auth token` answers the login with an `Authorization` header instead of a
cookie, and WebSockets authenticate with the `access_token` subprotocol."""

import pytest
import requests
import websocket
from smc import session
from smc_monitoring.models.formatters import RawDictFormat

from simharness import API_VERSION, BATCH, BATCH_OPTS, DEFINITIONS, HTTP_TIMEOUT, make_query


def _api_status(sim, token):
    """`GET /{ver}/api` on a fresh connection, authenticated by the header only."""
    r = requests.get(
        f"{sim.url}/{API_VERSION}/api",
        headers={"Authorization": token, "Connection": "close"},
        timeout=HTTP_TIMEOUT,
    )
    return r.status_code


def _ws_url(sim):
    return "ws://" + sim.url.split("://", 1)[1] + f"/{API_VERSION}/monitoring/session/socket"


def test_login_answers_with_an_authorization_header_and_no_cookie(token_sim):
    with requests.Session() as s:
        r = s.post(
            f"{token_sim.url}/{API_VERSION}/login",
            json={"domain": "Shared Domain", "authenticationkey": token_sim.api_key},
            timeout=HTTP_TIMEOUT,
        )
        assert r.status_code == 200
        token = r.headers.get("Authorization")
        assert token
        assert "Set-Cookie" not in r.headers
        assert _api_status(token_sim, token) == 200
        # Logout carries no token (like the client): the keep-alive connection
        # that logged in identifies the session.
        assert s.put(f"{token_sim.url}/{API_VERSION}/logout", timeout=HTTP_TIMEOUT).status_code == 204
    assert _api_status(token_sim, token) == 401


def test_official_client_keeps_the_token_and_no_session_id(token_sim, smc_token):
    assert session.session_id is None
    assert session._token
    assert _api_status(token_sim, session._token) == 200


def test_official_client_logout_ends_the_token_session(token_sim):
    session.login(url=token_sim.url, api_key=token_sim.api_key, api_version=API_VERSION, timeout=10)
    try:
        token = session._token
        assert token and _api_status(token_sim, token) == 200
    finally:
        session.logout()
    assert _api_status(token_sim, token) == 401


def test_handshake_echoes_the_access_token_subprotocol(token_sim, smc_token):
    ws = websocket.create_connection(
        _ws_url(token_sim),
        subprotocols=["access_token", session._token],
        suppress_origin=True,
        timeout=5,
    )
    try:
        assert ws.getstatus() == 101
        assert ws.getsubprotocol() == "access_token"
    finally:
        ws.close()


def test_handshake_without_the_token_is_refused(token_sim, smc_token):
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        websocket.create_connection(_ws_url(token_sim), suppress_origin=True, timeout=5)
    assert e.value.status_code == 401


@pytest.mark.parametrize("d", [pytest.param(d, id=d.id) for d in DEFINITIONS])
def test_fetch_batch_in_token_mode(token_sim, smc_token, d):
    target, rows = token_sim.busiest_target(d)
    batches = list(make_query(d, target, **BATCH_OPTS).fetch_batch(RawDictFormat))
    assert [len(b) for b in batches] == [min(BATCH, len(rows))]
    assert {r["delta_key"] for r in batches[0]} <= {r["delta_key"] for r in rows}
