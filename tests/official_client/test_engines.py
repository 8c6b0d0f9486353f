"""The engine listing and node status as the official client reads them
(`Engine.objects.all()`, `engine.nodes`, `node.status()`), compared with
the simulator's `GET /sim/truth/engines` (docs/smc-protocol.md §9)."""

from smc.core.engine import Engine


def _truth(sim):
    return {e["name"]: e for e in sim.get("/sim/truth/engines")["engines"]}


def _status(node):
    s = node.status()
    return {
        "name": s.name,
        "status": s.status,
        "state": s.state,
        "installed_policy": s.installed_policy,
        "version": s.version,
        "dyn_up": s.dyn_up,
        "platform": s.platform,
        "configuration_status": s.configuration_status,
    }


def _expected(node):
    return {k: node[k] for k in ("name", "status", "state", "installed_policy",
                                 "version", "dyn_up", "platform", "configuration_status")}


def test_engines_are_listed_with_their_types(smc, sim):
    truth = _truth(sim)
    engines = list(Engine.objects.all())
    assert [e.name for e in engines] == list(truth)
    for e in engines:
        assert e.typeof == truth[e.name]["type"]
        assert e.href.endswith("/elements/" + truth[e.name]["element"])


def test_node_status_equals_the_truth(smc, sim):
    truth = _truth(sim)
    for engine in Engine.objects.all():
        nodes = list(engine.nodes)
        assert [n.name for n in nodes] == [n["name"] for n in truth[engine.name]["nodes"]]
        assert [n.nodeid for n in nodes] == [n["nodeid"] for n in truth[engine.name]["nodes"]]
        for node, want in zip(nodes, truth[engine.name]["nodes"]):
            assert _status(node) == _expected(want)


def test_a_node_set_offline_reads_offline(smc, sim):
    sim.post("/sim/nodes", engine="HQ Cluster", node="2", status="Offline")
    try:
        engine = next(e for e in Engine.objects.all() if e.name == "HQ Cluster")
        statuses = [node.status().status for node in engine.nodes]
        assert statuses == ["Online", "Offline"]
    finally:
        sim.post("/sim/nodes", engine="HQ Cluster", node="2", status="Online")
