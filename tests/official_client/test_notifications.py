"""`Notification('host').notify(as_type=Event)` on the notification socket,
fed by the simulator's element events (`POST /sim/elements`), and the
simulator's ledger of what the socket was sent (`GET /sim/notifications/sent`)."""

import threading

import requests
from smc import session
from smc.base.model import Element
from smc_monitoring.pubsub.subscribers import Event, Notification

from simharness import HTTP_TIMEOUT, until

#: Elements created per test.
COUNT = 3


def test_notify_yields_the_created_host_events(smc, sim):
    n = Notification("host", query_timeout=15, sock_timeout=0.25)
    hrefs = []
    failure = []

    def create_once_subscribed():
        # `notify()` records the subscription acknowledgement in
        # `subscription_map` before it waits for events: that is the signal
        # that the simulator will deliver what is created from now on.
        try:
            if until(lambda: n.subscription_map.get("subscription_id") is not None, timeout=10):
                hrefs.extend(sim.create_elements("host", COUNT))
        except Exception as e:  # reported by the assertions below
            failure.append(e)

    creator = threading.Thread(target=create_once_subscribed, name="host-creator", daemon=True)
    creator.start()
    events = []
    stream = n.notify(as_type=Event)
    try:
        for ev in stream:
            events.append(ev)
            if len(events) == COUNT:
                break
    finally:
        stream.close()
        creator.join(timeout=15)

    assert not failure, failure
    assert n.subscription_map.get("context") == "host"
    sub_id = n.subscription_map.get("subscription_id")
    assert isinstance(sub_id, int)
    assert len(hrefs) == COUNT, "no subscription acknowledgement, nothing created"
    assert len(events) == COUNT
    assert [e.action for e in events] == ["create"] * COUNT
    assert {e.subscription_id for e in events} == {sub_id}

    # `Event.element` resolves the href with a REST GET into an Element.
    elements = [e.element for e in events]
    assert all(isinstance(el, Element) for el in elements), elements
    assert sorted(el.href for el in elements) == sorted(hrefs)
    for el in elements:
        assert el.typeof == "host"
        body = requests.get(
            el.href,
            headers={"Cookie": session.session_id},
            timeout=HTTP_TIMEOUT,
        ).json()
        assert el.name == body["name"]

    # The ledger of this socket (the newest) holds exactly these events.
    socket = sim.get("/sim/notifications/sent")["sockets"][-1]
    assert (socket["sent"], socket["dropped"]) == (COUNT, 0)
    assert socket["events"] == [
        {"subscription_id": sub_id, "element_type": "host", "action": "create", "href": h}
        for h in hrefs
    ]
