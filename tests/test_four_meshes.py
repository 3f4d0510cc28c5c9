"""Linkerd and Cilium beside Istio: their routes, costs, per-node agents and balancing."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import SCENARIOS

from meshsim import cost
from meshsim.balancing import Balancing, PeakEwma
from meshsim.components import route_demands
from meshsim.loader import load_scenario, load_scenario_dict
from meshsim.random import Streams
from meshsim.simulate import compare
from meshsim.topology import Pod, ProxyHop, Topology, Transit


def _two_nodes(mode: str, **mesh: Any) -> dict[str, Any]:
    """A client and ``web`` on node a; ``db`` on node b; web calls db."""
    return {
        "cluster": {"nodes": [{"name": "a", "cores": 4}, {"name": "b", "cores": 4}]},
        "services": {
            "web": {"nodes": ["a"], "calls": [{"service": "db"}], "service_time": 0.1},
            "db": {"nodes": ["b"], "service_time": 0.1},
        },
        "workload": {
            "entry": "web",
            "client": {"node": "a"},
            "generator": {"type": "open", "rate_rps": 200},
            "duration_s": 0.5,
        },
        "mesh": {"mode": mode, **mesh},
        "sim": {"replications": 1, "seed": 3},
    }


def _topology(mode: str, **mesh: Any) -> Topology:
    loaded = load_scenario_dict(_two_nodes(mode, **mesh))
    return Topology(loaded.scenario, loaded.params)


def _shape(topo: Topology, caller: Pod, callee: Pod) -> list[str]:
    out = []
    for stage in topo.route(caller, callee):
        if isinstance(stage, ProxyHop):
            out.append(f"{stage.hop}@{stage.node}/tls{stage.tls_sides}")
        else:
            assert isinstance(stage, Transit)
            crypt = f"+{stage.encryption}" if stage.encryption else ""
            out.append(f"{stage.relation}{'/bpf' if stage.cilium else ''}{crypt}")
    return out


def _pods(topo: Topology) -> tuple[Pod, Pod]:
    return topo.pods["web"][0], topo.pods["db"][0]


# --- routes ------------------------------------------------------------------------------


def test_linkerd_passes_two_proxies_with_mtls_even_when_mtls_is_off() -> None:
    topo = _topology("linkerd", mtls=False)  # Linkerd's mTLS cannot be turned off
    web, db = _pods(topo)
    assert _shape(topo, web, db) == [
        "same_node",
        "linkerd_out@a/tls1",
        "same_zone",
        "linkerd_in@b/tls1",
        "same_node",
    ]
    assert _shape(topo, topo.client, web) == [
        "same_node",
        "linkerd_out@a/tls1",
        "same_node",
        "linkerd_in@a/tls1",
        "same_node",
    ]


def test_linkerd_without_client_capture_is_inbound_only_and_plain() -> None:
    raw = _two_nodes("linkerd")
    raw["workload"]["client"]["in_mesh"] = False
    loaded = load_scenario_dict(raw)
    topo = Topology(loaded.scenario, loaded.params)
    assert _shape(topo, topo.client, topo.pods["web"][0]) == [
        "same_node",
        "linkerd_in@a/tls0",
        "same_node",
    ]


def test_cilium_l4_has_no_proxy_and_encrypts_only_across_nodes() -> None:
    topo = _topology("cilium")  # WireGuard by default
    web, db = _pods(topo)
    assert _shape(topo, web, db) == ["same_zone/bpf+wireguard"]
    assert _shape(topo, topo.client, web) == ["same_node/bpf"]
    ipsec = _topology("cilium", cilium={"encryption": "ipsec"})
    assert _shape(ipsec, *_pods(ipsec)) == ["same_zone/bpf+ipsec"]
    plain = _topology("cilium", cilium={"encryption": "none"})
    assert _shape(plain, *_pods(plain)) == ["same_zone/bpf"]


def test_cilium_l7_service_passes_the_shared_envoy_of_one_node() -> None:
    ingress = _topology("cilium", cilium={"l7_services": ["db"]})
    web, db = _pods(ingress)
    assert _shape(ingress, web, db) == [
        "same_zone/bpf+wireguard",
        "cilium_envoy@b/tls0",
        "same_node/bpf",
    ]
    assert _shape(ingress, ingress.client, web) == ["same_node/bpf"]  # web is L4
    egress = _topology("cilium", cilium={"l7_services": ["db"], "l7_side": "egress"})
    web, db = _pods(egress)
    assert _shape(egress, web, db) == [
        "same_node/bpf",
        "cilium_envoy@a/tls0",
        "same_zone/bpf+wireguard",
    ]


def test_cilium_kernel_work_is_charged_to_each_node() -> None:
    loaded = load_scenario_dict(_two_nodes("cilium"))
    topo = Topology(loaded.scenario, loaded.params)
    web, db = _pods(topo)
    svc = loaded.scenario.services["db"]
    request, _ = route_demands(loaded.params, loaded.scenario.network, topo.route(web, db), svc)
    steps = [(str(d.hop), d.node) for d in request]
    assert steps == [
        ("kernel", "a"),
        ("cilium_ebpf", "a"),
        ("node_encryption", "a"),
        ("network", "a"),
        ("kernel", "b"),  # the receiver: NIC, then decryption, then the pod's eBPF
        ("node_encryption", "b"),
        ("cilium_ebpf", "b"),
    ]
    c = loaded.params.cilium
    crypt = next(d for d in request if str(d.hop) == "node_encryption")
    expected = c.wireguard_cpu_per_kib_us * svc.request_kib + c.encryption_cpu_per_packet_us
    assert crypt.cpu_s == pytest.approx(expected * 1e-6)
    assert all(d.component.endswith(".kernel") for d in request if str(d.hop) != "network")


def test_unknown_l7_service_is_a_located_error() -> None:
    from meshsim.errors import ScenarioError

    with pytest.raises(ScenarioError, match="unknown service 'nope'"):
        load_scenario_dict(_two_nodes("cilium", cilium={"l7_services": ["nope"]}))


# --- cost model ----------------------------------------------------------------------------


def test_cilium_runs_an_agent_and_an_envoy_per_node_without_requests() -> None:
    loaded = load_scenario_dict(_two_nodes("cilium"))
    reqs = cost.requests(loaded)
    assert [c.kind for c in reqs.per_node] == ["cilium-agent", "cilium-envoy"]
    assert reqs.daemonset_cpu_m() == 0  # Cilium's chart requests nothing
    est = cost.estimate(loaded)
    assert "istiod" in est.by_kind.index and est.by_kind.loc["istiod", "requested_vcpu"] == 0
    assert est.summary()["istiod_proxies"] == 0
    kinds = {c.kind for c in Topology(loaded.scenario, loaded.params).components()}
    assert {"cilium-agent", "cilium-envoy"} <= kinds


def test_linkerd_requests_a_proxy_per_pod_and_its_own_control_plane() -> None:
    loaded = load_scenario_dict(_two_nodes("linkerd"))
    est = cost.estimate(loaded)
    p, lc = loaded.params.linkerd, loaded.params.linkerd_control
    proxies = 3  # web, db and the meshed load generator
    assert est.by_kind.loc["linkerd-proxy", "requested_vcpu"] == pytest.approx(
        proxies * p.cpu_request_m / 1000
    )
    assert est.by_kind.loc["linkerd-control", "requested_vcpu"] == pytest.approx(
        lc.replicas * lc.cpu_request_m / 1000
    )
    assert est.by_kind.loc["istiod", "requested_vcpu"] == 0
    assert est.summary()["mesh_requested_vcpu"] == pytest.approx(
        (proxies * p.cpu_request_m + lc.replicas * lc.cpu_request_m) / 1000
    )


def test_istio_profiles_get_published_linkerd_and_cilium_sections() -> None:
    loaded = load_scenario(SCENARIOS / "fortio-2pod.yaml")
    assert loaded.params.linkerd.workers == 1
    prov = loaded.profile.provenance
    assert prov["linkerd.from"].endswith("linkerd-cilium-published.yaml")
    assert "ASSUMPTION" in prov["cilium.ebpf_cpu_per_packet_us"]


def test_profile_digest_covers_the_defaults_it_took(tmp_path: Any) -> None:
    """A profile that took the Linkerd and Cilium sections from the built-in defaults file is
    fingerprinted with that file too; one that gives every section is its text alone."""
    from meshsim import profiles

    base = load_scenario(SCENARIOS / "fortio-2pod.yaml")
    text, _ = profiles.profile_source(base.scenario.mesh.profile)
    assert base.profile_sha256 != profiles.digest(text)  # its own text alone is not enough
    assert base.profile_sha256 == profiles.digest(text, base.profile)
    whole = base.profile.model_dump(mode="json")
    for key in [k for k, v in whole["provenance"].items() if v == profiles.DEFAULTS_SOURCE]:
        del whole["provenance"][key]  # every section now given by the profile itself
    own = tmp_path / "own.yaml"
    import yaml

    own.write_text(yaml.safe_dump(whole))
    loaded = load_scenario_dict(
        {**base.scenario.model_dump(mode="json"), "mesh": {"mode": "sidecar", "profile": str(own)}}
    )
    assert loaded.profile_sha256 == profiles.digest(own.read_text())


# --- balancing ---------------------------------------------------------------------------


def test_peak_ewma_avoids_a_slow_pod_and_forgets_it_with_time() -> None:
    now = [0.0]
    pods = [Pod("slow", "svc", "n"), Pod("fast", "svc", "n")]
    lb = PeakEwma(Streams(1, 0), "lb", clock=lambda: now[0])
    lb.release(lb.pick(pods[:1]), 0.500)  # slow answers in 500 ms
    lb.release(lb.pick(pods[1:]), 0.001)  # fast in 1 ms (estimate decays only with time)
    now[0] = 1.0
    picks = []
    for _ in range(50):
        pod = lb.pick(pods)
        picks.append(pod.name)
        lb.release(pod, 0.500 if pod.name == "slow" else 0.001)
    assert picks.count("fast") == 50  # two candidates, both pods: the faster always wins
    now[0] = 1000.0  # 100 decay constants later both estimates have decayed to ~0
    assert lb.load(pods[0]) < 1e-6 and lb.load(pods[1]) < 1e-6


def test_peak_ewma_counts_pending_requests() -> None:
    pods = [Pod("a", "svc", "n"), Pod("b", "svc", "n")]
    lb = PeakEwma(Streams(1, 0), "lb")
    first = lb.pick(pods)
    second = lb.pick(pods)  # same default RTT: the pending request decides
    assert first != second


def test_linkerd_picks_with_peak_ewma_and_cilium_at_random() -> None:
    loaded = load_scenario_dict(_two_nodes("linkerd"))
    web = Pod("web-0", "web", "a")
    assert isinstance(Balancing(loaded.scenario, Streams(1, 0)).for_call(web, "db", None), PeakEwma)
    cilium = load_scenario_dict(_two_nodes("cilium"))
    balancer = Balancing(cilium.scenario, Streams(1, 0)).for_call(web, "db", None)
    assert type(balancer).__name__ == "Random"


# --- the four-way comparison ------------------------------------------------------------


def test_four_meshes_compare_runs_and_each_mode_shows_its_own_hops() -> None:
    loaded = load_scenario(
        SCENARIOS / "four-meshes.yaml",
        ["sim.replications=1", "workload.duration_s=0.6", "workload.warmup_s=0.1"],
    )
    comp = compare(loaded, ["none", "sidecar", "ambient", "linkerd", "cilium"])
    hops = {m: set(r.hops()["hop"]) for m, r in comp.results.items()}
    assert {"linkerd_out", "linkerd_in"} <= hops["linkerd"]
    assert "cilium_ebpf" in hops["cilium"] and "node_encryption" not in hops["cilium"]
    assert not hops["cilium"] & {"sidecar_out", "linkerd_out", "ztunnel_local"}
    table = comp.table().set_index("mode")
    assert table.loc["linkerd", "vcpu_linkerd-proxy"] > 0
    assert table.loc["cilium", "vcpu_mesh"] == 0  # eBPF runs in the kernel, not in a pod
    assert table.loc["cilium", "vcpu_kernel"] > table.loc["none", "vcpu_kernel"]
    # the same arrivals: what a mode adds is its proxies' time, not other traffic
    assert table.loc["linkerd", "added_p50_ms"] > table.loc["cilium", "added_p50_ms"]


@pytest.mark.parametrize("mode", ["linkerd", "cilium"])
def test_events_are_refused_in_linkerd_and_cilium_modes(mode: str, capsys) -> None:
    """Rollouts and failures are modelled for Istio's data planes only (meshsim.operations):
    the other modes refuse them in one located line rather than simulate them wrongly."""
    from meshsim.cli import main

    status = main(["check", str(SCENARIOS / "cve-rollout.yaml"), "--set", f"mesh.mode={mode}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1
    assert "cve-rollout.yaml" in err[0] and "events" in err[0] and mode in err[0]
