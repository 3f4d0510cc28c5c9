"""Spread placement as the Kubernetes scheduler does it, on a 1,000-node cluster."""

from __future__ import annotations

from collections import Counter
from typing import Any

from meshsim.loader import load_scenario_dict
from meshsim.topology import Topology

NODES, SERVICES, REPLICAS = 1000, 50, 200


def _cluster(*overrides: str) -> Topology:
    """Gateway pods one per node, then 50 services of 200 replicas, in two zones."""
    services: dict[str, Any] = {"gateway": {"replicas": NODES, "calls": [{"service": "svc-0"}]}}
    services |= {f"svc-{i}": {"replicas": REPLICAS} for i in range(SERVICES)}
    raw = {
        "name": "big",
        "cluster": {
            "nodes": [
                {"name": "a", "count": NODES // 2, "cores": 8, "zone": "zone-a"},
                {"name": "b", "count": NODES // 2, "cores": 8, "zone": "zone-b"},
            ]
        },
        "services": services,
        "workload": {
            "entry": "gateway",
            "generator": {"type": "open", "rate_rps": 100},
            "duration_s": 1,
        },
    }
    loaded = load_scenario_dict(raw).with_changes(*overrides)
    return Topology(loaded.scenario, loaded.params)


def test_replica_zero_of_many_services_does_not_pile_onto_the_first_nodes() -> None:
    topo = _cluster()
    per_node = Counter(p.node for p in topo.all_pods())
    mean = sum(per_node.values()) / NODES
    assert len(per_node) == NODES and max(per_node.values()) <= mean + 1
    # The trap: "the first of the least-used nodes" put replica 0 of every 200-replica service
    # on one of 5 nodes (10 each); the scheduler's random tie-break spreads them.
    first = Counter(topo.pods[f"svc-{i}"][0].node for i in range(SERVICES))
    assert max(first.values()) <= 3 and len(first) >= 40
    for i in range(SERVICES):  # each service over distinct nodes, half in each zone
        pods = topo.pods[f"svc-{i}"]
        assert len({p.node for p in pods}) == REPLICAS
        assert Counter(topo.nodes[p.node].zone for p in pods) == {"zone-a": 100, "zone-b": 100}


def test_same_seed_same_placement_and_another_seed_another() -> None:
    def nodes(topo: Topology) -> list[str]:
        return [p.node for p in topo.all_pods()]

    assert nodes(_cluster()) == nodes(_cluster())
    assert nodes(_cluster()) != nodes(_cluster("sim.seed=2"))


def test_spread_first_then_least_allocated() -> None:
    raw = {
        "name": "uneven",
        "cluster": {"nodes": [{"name": "a", "cores": 4}, {"name": "b", "cores": 4}]},
        "services": {
            "heavy": {"nodes": ["a"], "cpu_request_m": 2000},
            "api": {},
            "db": {"replicas": 3},
        },
        "workload": {"entry": "api", "generator": {"type": "open", "rate_rps": 1}, "requests": 1},
    }
    loaded = load_scenario_dict(raw)
    topo = Topology(loaded.scenario, loaded.params)
    assert topo.pods["api"][0].node == "b"  # the less allocated node
    # db: b (less allocated), then a (b already has one), then b again (both have one)
    assert [p.node for p in topo.pods["db"]] == ["b", "a", "b"]
