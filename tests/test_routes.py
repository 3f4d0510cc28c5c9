"""Which hops each mesh mode puts on a call's path (shared/MODEL.md section 1)."""

from __future__ import annotations

import pytest
from conftest import SCENARIOS

from meshsim.errors import ScenarioError
from meshsim.loader import load_scenario
from meshsim.topology import ProxyHop, Topology, Transit


def _topology(*overrides: str) -> Topology:
    loaded = load_scenario(SCENARIOS / "fortio-2pod.yaml", list(overrides))
    return Topology(loaded.scenario, loaded.params)


def _shape(topo: Topology, caller, callee, waypoint=None) -> list[str]:
    out = []
    for stage in topo.route(caller, callee, waypoint):
        if isinstance(stage, ProxyHop):
            out.append(f"{stage.hop}@{stage.node}/tls{stage.tls_sides}")
        else:
            assert isinstance(stage, Transit)
            out.append("ebpf" if stage.ebpf else stage.relation)
    return out


def test_none_is_one_network_trip() -> None:
    topo = _topology("mesh.mode=none")
    server = topo.pods["fortioserver"][0]
    assert _shape(topo, topo.client, server) == ["same_zone"]


def test_sidecar_crosses_two_envoys_with_mtls() -> None:
    topo = _topology("mesh.mode=sidecar")
    server = topo.pods["fortioserver"][0]
    assert _shape(topo, topo.client, server) == [
        "same_node",
        "sidecar_out@n1/tls1",
        "same_zone",
        "sidecar_in@n2/tls1",
        "same_node",
    ]


def test_sidecar_without_client_capture_is_server_only() -> None:
    topo = _topology("mesh.mode=sidecar", "workload.client.in_mesh=false")
    server = topo.pods["fortioserver"][0]
    assert _shape(topo, topo.client, server) == ["same_zone", "sidecar_in@n2/tls0", "same_node"]


def test_ambient_crosses_two_ztunnels_even_on_the_same_node() -> None:
    topo = _topology("mesh.mode=ambient")
    server = topo.pods["fortioserver"][0]
    assert _shape(topo, topo.client, server) == [
        "same_node",
        "ztunnel_out@n1/tls1",
        "same_zone",
        "ztunnel_in@n2/tls1",
        "same_node",
    ]
    local = _topology("mesh.mode=ambient", "workload.client.node=n2")
    server = local.pods["fortioserver"][0]
    assert _shape(local, local.client, server) == [  # in-pod ztunnel: no fast path
        "same_node",
        "ztunnel_out@n2/tls1",
        "same_node",
        "ztunnel_in@n2/tls1",
        "same_node",
    ]


def test_ambient_same_node_tunnel_takes_both_ztunnel_steps_with_mtls() -> None:
    shapes = {}
    for how in ("local", "tunnel"):
        topo = _topology(
            "mesh.mode=ambient", "workload.client.node=n2", f"mesh.ambient_same_node={how}"
        )
        shapes[how] = _shape(topo, topo.client, topo.pods["fortioserver"][0])
    assert shapes["local"] == ["same_node", "ztunnel_local@n2/tls0", "same_node"]
    assert shapes["tunnel"] == [
        "same_node",
        "ztunnel_out@n2/tls1",
        "same_node",
        "ztunnel_in@n2/tls1",
        "same_node",
    ]


def test_ambient_same_node_rejects_unknown_values() -> None:
    with pytest.raises(ScenarioError, match="ambient_same_node"):
        _topology("mesh.mode=ambient", "mesh.ambient_same_node=fast")


def test_waypoint_adds_an_l7_hop_on_its_own_node() -> None:
    topo = _topology("mesh.mode=waypoint")
    server = topo.pods["fortioserver"][0]
    (waypoint,) = topo.waypoints["waypoint-default"]
    assert waypoint.node == "n3"  # spread placement: the empty node
    assert _shape(topo, topo.client, server, waypoint) == [
        "same_node",
        "ztunnel_out@n1/tls1",
        "same_zone",
        "waypoint@n3/tls2",
        "same_zone",
        "ztunnel_in@n2/tls1",
        "same_node",
    ]


@pytest.mark.parametrize("mode", ["none", "sidecar", "ambient"])
def test_ebpf_short_circuits_only_same_node_hops(mode: str) -> None:
    topo = _topology(f"mesh.mode={mode}", "mesh.ebpf_shortcircuit=true")
    server = topo.pods["fortioserver"][0]
    shape = _shape(topo, topo.client, server)
    assert "same_node" not in shape
    assert "same_zone" in shape  # the trip between nodes is unchanged


def test_mtls_off_removes_tls_work() -> None:
    topo = _topology("mesh.mode=sidecar", "mesh.mtls=false")
    server = topo.pods["fortioserver"][0]
    hops = [s for s in topo.route(topo.client, server) if isinstance(s, ProxyHop)]
    assert [h.tls_sides for h in hops] == [0, 0]


def test_spread_and_binpack_placement() -> None:
    loaded = load_scenario(SCENARIOS / "quickstart.yaml")
    spread = Topology(loaded.scenario, loaded.params)
    per_node = {n: 0 for n in spread.nodes}
    for pod in spread.all_pods():
        per_node[pod.node] += 1
    assert max(per_node.values()) - min(per_node.values()) <= 1
    packed = loaded.with_changes("cluster.placement=binpack")
    topo = Topology(packed.scenario, packed.params)
    # 7 app pods x (100m app + 100m sidecar) fit on one 4-core node
    assert {p.node for pods in topo.pods.values() for p in pods} == {"node-0"}


def test_ebpf_lowers_latency_only_for_same_node_traffic() -> None:
    from meshsim.simulate import simulate

    def p50(*overrides: str) -> float:
        loaded = load_scenario(
            SCENARIOS / "fortio-2pod.yaml",
            ["sim.replications=1", "workload.duration_s=2", *overrides],
        )
        return simulate(loaded).latency().loc["p50", "ms"]

    same_node = ["workload.client.node=n2"]
    cross = p50("mesh.mode=sidecar") - p50("mesh.mode=sidecar", "mesh.ebpf_shortcircuit=true")
    local = p50("mesh.mode=sidecar", *same_node) - p50(
        "mesh.mode=sidecar", "mesh.ebpf_shortcircuit=true", *same_node
    )
    assert local > cross > 0  # evolution, not revolution: helps most on one node
