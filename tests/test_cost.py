"""The cost model's arithmetic against hand-computed cases."""

from __future__ import annotations

import math
from typing import Any

import pytest

from meshsim import cost, density
from meshsim.errors import ScenarioError
from meshsim.loader import LoadedScenario, load_scenario_dict
from meshsim.simulate import simulate


def _scenario(mode: str = "sidecar", **cost_fields: Any) -> dict[str, Any]:
    """Five 250m/256Mi pods on two 2-vCPU nodes; an outside client; round prices."""
    return {
        "cluster": {
            "nodes": [
                {"name": "a", "cores": 2, "memory_gib": 8, "zone": "z1"},
                {"name": "b", "cores": 2, "memory_gib": 8, "zone": "z2"},
            ]
        },
        "services": {
            "api": {
                "replicas": 5,
                "cpu_request_m": 250,
                "memory_request_mib": 256,
                "service_time": 0.1,
            }
        },
        "workload": {
            "entry": "api",
            "client": {"node": "a", "in_mesh": False},
            "generator": {"type": "open", "rate_rps": 100},
            "duration_s": 1,
        },
        "mesh": {"mode": mode},
        "cost": {
            "usd_per_vcpu_hour": 0.05,
            "usd_per_gib_hour": 0.01,
            "node_type": {"reserved_cpu_m": 0, "reserved_memory_mib": 0},
            **cost_fields,
        },
        "sim": {"replications": 1},
    }


def _load(raw: dict[str, Any]) -> LoadedScenario:
    return load_scenario_dict(raw)


def test_requests_times_pods_per_kind() -> None:
    est = cost.estimate(_load(_scenario("sidecar")))
    kinds = est.by_kind
    # 5 pods x 250m / 256 Mi for the app; 5 sidecars x 100m / 128 Mi (Istio chart defaults)
    assert kinds.loc["app", "requested_vcpu"] == pytest.approx(1.25)
    assert kinds.loc["app", "requested_gib"] == pytest.approx(1.25)
    assert kinds.loc["sidecar", "requested_vcpu"] == pytest.approx(0.5)
    assert kinds.loc["sidecar", "requested_gib"] == pytest.approx(5 * 128 / 1024)
    assert kinds.loc["istiod", "requested_vcpu"] == pytest.approx(0.5)
    assert kinds.loc["ztunnel", "requested_vcpu"] == 0


def test_ztunnel_is_one_per_node_and_none_mode_has_no_mesh() -> None:
    amb = cost.estimate(_load(_scenario("ambient")))
    assert amb.nodes_run == 2
    assert amb.by_kind.loc["ztunnel", "requested_vcpu"] == pytest.approx(2 * 0.2)
    assert amb.by_kind.loc["ztunnel", "requested_gib"] == pytest.approx(2 * 0.5)
    assert amb.by_kind.loc["sidecar", "requested_vcpu"] == 0
    none = cost.estimate(_load(_scenario("none")))
    assert none.total("requested_vcpu", cost.MESH_KINDS) == 0
    assert none.control.proxies == 0


def test_first_fit_decreasing_packing() -> None:
    def pod(name: str, cpu: float, mem: float = 10) -> cost.PodRequest:
        return cost.PodRequest(name, (cost.Container("app", cpu, mem),))

    # 600 -> n1, 600 -> n2, 400 fills n1, 400 fills n2, 300 opens n3
    pods = [pod("a", 400), pod("b", 600), pod("c", 300), pod("d", 600), pod("e", 400)]
    nodes = cost.pack(pods, 1000, 1000)
    assert [[p.name for p in n] for n in nodes] == [["b", "a"], ["d", "e"], ["c"]]
    # memory binds: two 100m pods of 600 MiB cannot share a 1000 MiB node
    assert len(cost.pack([pod("x", 100, 600), pod("y", 100, 600)], 1000, 1000)) == 2
    with pytest.raises(ScenarioError, match="more than"):
        cost.pack([pod("big", 1500)], 1000, 1000)


def test_nodes_needed_leaves_room_for_daemonsets() -> None:
    # 2-vCPU nodes, nothing reserved: 2000m - ztunnel 200m = 1800m for pods.
    raw = _scenario("ambient")
    raw["services"]["api"]["replicas"] = 11
    raw["services"]["api"]["cpu_request_m"] = 500
    loaded = _load(raw)
    # 11 app pods of 500m + istiod 500m = 12 pods of 500m, 3 per node -> 4 nodes
    assert cost.nodes_needed(loaded) == 4
    est = cost.estimate(loaded)
    assert est.nodes_run == 4  # more than the scenario's 2
    assert est.by_kind.loc["ztunnel", "requested_vcpu"] == pytest.approx(4 * 0.2)
    sidecar = _load({**raw, "mesh": {"mode": "sidecar"}})
    # 11 pods of 600m, 3 per node (1800 of 2000m) -> 4 nodes; istiod 500m fits beside
    assert cost.nodes_needed(sidecar) == 4


def test_money_is_price_times_hours() -> None:
    raw = _scenario("sidecar", node_type={"usd_per_hour": 0.2}, hours_per_month=730)
    est = cost.estimate(_load(raw))
    assert est.nodes_usd_month == pytest.approx(2 * 0.2 * 730)
    # sidecars: 0.5 vCPU x $0.05 + 0.625 GiB x $0.01, per hour, x 730 h
    expected = (0.5 * 0.05 + 0.625 * 0.01) * 730
    assert est.by_kind.loc["sidecar", "requested_usd_month"] == pytest.approx(expected)
    # no instance price: a node is priced by its shape, 2 vCPU x 0.05 + 8 GiB x 0.01
    shape = cost.node_shape(_load(_scenario()).scenario)
    assert shape.usd_per_hour == pytest.approx(2 * 0.05 + 8 * 0.01)


def test_gke_reservations() -> None:
    cpu_m, mem_mib = cost.gke_reserved(4, 16)
    assert cpu_m == pytest.approx(60 + 10 + 10)  # 6% of core 1, 1% of core 2, 0.5% x 2
    assert mem_mib == pytest.approx((4 * 0.25 + 4 * 0.20 + 8 * 0.10) * 1024 + 100)


def test_cross_zone_bytes_follow_the_route_and_waypoint_placement() -> None:
    raw = _scenario("none", usd_per_cross_zone_gb=0.01, hours_per_month=730)
    raw["services"]["api"].update(
        {"replicas": 1, "nodes": ["b"], "request_kib": 1, "response_kib": 3}
    )
    est = cost.estimate(_load(raw), rate_rps=1000)
    # client in z1 -> api in z2: one cross-zone transit, 4 KiB per call each way summed
    assert est.traffic.cross_zone_bytes_per_request == pytest.approx(4096)
    gb = 4096 * 1000 * 3600 * 730 / 1e9
    assert est.cross_zone_gb_month == pytest.approx(gb)
    assert est.cross_zone_usd_month == pytest.approx(gb * 0.01)
    raw["workload"]["client"]["in_mesh"] = True
    raw["mesh"] = {"mode": "waypoint", "waypoints": [{"name": "wp", "services": ["api"]}]}
    raw["mesh"]["waypoints"][0]["nodes"] = ["b"]  # beside the server: still one crossing
    assert cost.traffic(_load(raw)).cross_zone_bytes_per_request == pytest.approx(4096)
    raw["cluster"]["nodes"].append({"name": "c", "cores": 2, "zone": "z3"})
    raw["mesh"]["waypoints"][0]["nodes"] = ["c"]  # a third zone: two crossings
    assert cost.traffic(_load(raw)).cross_zone_bytes_per_request == pytest.approx(2 * 4096)


def test_calls_per_request_follow_probabilities_and_counts() -> None:
    raw = _scenario("none")
    raw["services"] = {
        "front": {"calls": [[{"service": "a"}, {"service": "b", "probability": 0.5}]]},
        "a": {"calls": [{"service": "b", "count": 3}]},
        "b": {},
    }
    raw["workload"]["entry"] = "front"
    # front 1 + a 1 + b (0.5 + 3)
    assert cost.traffic(_load(raw)).calls_per_request == pytest.approx(5.5)


def test_istiod_grows_with_proxies_and_visible_services() -> None:
    raw = _scenario("sidecar")
    cp = cost.control_plane(_load(raw))
    assert cp.proxies == 5  # the client is outside the mesh
    assert cp.config_items == 5  # each sidecar sees the one service
    assert cp.vcpu == pytest.approx(0.5 * 5 / 1000)
    assert cp.memory_mib == pytest.approx(256 + (256 * 5 + 0.5 * 5) / 1024)
    raw["cost"]["istiod"] = {"memory_request_mib": 0, "memory_base_mib": 4000}
    # above its request, istiod's request grows to what it uses
    est = cost.estimate(_load(raw))
    assert est.by_kind.loc["istiod", "requested_gib"] == pytest.approx(
        cp.memory_mib / 1024 + 3744 / 1024
    )


def test_sidecar_memory_grows_with_visible_services_unless_scoped() -> None:
    raw = _scenario("sidecar")
    raw["services"] = {f"s{i}": {"namespace": f"ns{i % 5}"} for i in range(20)}
    raw["workload"]["entry"] = "s0"
    cluster = cost.control_plane(_load(raw))
    raw["mesh"]["config_scope"] = "namespace"
    scoped = cost.control_plane(_load(raw))
    assert cluster.config_items == 20 * 20
    assert scoped.config_items == 20 * 4  # four services per namespace
    loaded = _load(raw)
    p = loaded.params.sidecar
    assert density.sidecar_memory_mib(loaded, 1000, 0) - density.sidecar_memory_mib(
        loaded, 0, 0
    ) == pytest.approx(p.memory_per_service_kib * 1000 / 1024)


def test_used_comes_from_the_simulation() -> None:
    loaded = _load(_scenario("sidecar"))
    result = simulate(loaded, 1)
    est = cost.estimate(loaded, result)
    by_kind = result.by_kind()
    assert est.by_kind.loc["sidecar", "used_vcpu"] == pytest.approx(
        float(by_kind.loc["sidecar", "vcpu"])
    )
    assert est.by_kind.loc["sidecar", "used_vcpu"] > 0
    assert est.rate_rps == pytest.approx(result.summary()["throughput_rps"])


def test_ambient_saving_by_pods_per_node() -> None:
    loaded = _load(_scenario("sidecar", usd_per_vcpu_hour=1.0, usd_per_gib_hour=0.0))
    # CPU only: ztunnel 200m against 100m per sidecar -> 75% saved at 8 pods per node
    assert density.pods_per_node_for_saving(loaded, 0.75) == pytest.approx(8)
    assert density.ambient_saving(loaded, 2) == pytest.approx(0)
    assert density.ambient_saving(loaded, 1) == pytest.approx(-1)
    assert math.isinf(density.pods_per_node_for_saving(loaded, 1.0))
