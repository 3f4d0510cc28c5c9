"""The engine at scale: call depth costs no stack, and memory per pod pair does not grow with
pods (legs and random streams are compiled per node pair and service, not per pod pair)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from meshsim.engine import Engine
from meshsim.loader import load_scenario

CHAIN = 1000  # services in the chain


def _chain(tmp_path: Path, services: int, mode: str) -> Path:
    calls = "".join(f"  s{i}: {{calls: [{{service: s{i + 1}}}]}}\n" for i in range(services - 1))
    path = tmp_path / f"chain-{services}.yaml"
    path.write_text(
        "cluster: {nodes: [{name: n, cores: 4}, {name: m, cores: 4}]}\n"
        f"services:\n{calls}  s{services - 1}: {{}}\n"
        "workload: {entry: s0, generator: {type: open, rate_rps: 1}, requests: 3}\n"
        f"mesh: {{mode: {mode}}}\nsim: {{replications: 1}}\n"
    )
    return path


@pytest.mark.parametrize("mode", ["sidecar", "waypoint"])
def test_a_1000_service_chain_runs_in_the_des_and_the_analytic_engine(
    tmp_path: Path, mode: str
) -> None:
    """Far deeper than Python's recursion limit allows nested generators to go."""
    from meshsim import analytic

    loaded = load_scenario(_chain(tmp_path, CHAIN, mode))
    rec = Engine(loaded, 0).run()
    assert rec.completed == 3 and rec.stop_reason == "complete"
    rec.flush_hops()
    assert rec.hops["app"].total.count == 3 * CHAIN  # every service answered every request
    solution = analytic.solve(loaded)
    assert not solution.saturated and math.isfinite(solution.latency.mean)
    assert solution.hops  # per-hop figures for the whole path


def _fleet(tmp_path: Path, replicas: int) -> Path:
    path = tmp_path / f"fleet-{replicas}.yaml"
    path.write_text(
        "cluster: {nodes: [{name: node, count: 4, cores: 8}]}\n"
        "services:\n"
        f"  front: {{replicas: {replicas}, calls: [{{service: back}}]}}\n"
        f"  back: {{replicas: {replicas}}}\n"
        "workload: {entry: front, generator: {type: open, rate_rps: 2000}, requests: 2000,"
        " warmup_s: 0}\n"
        "mesh: {mode: sidecar}\nsim: {replications: 1}\n"
    )
    return path


def _compiled(tmp_path: Path, replicas: int) -> dict[str, int]:
    engine = Engine(load_scenario(_fleet(tmp_path, replicas)), 0)
    rec = engine.run()
    assert rec.completed == 2000
    return {
        "pods": sum(len(p) for p in engine.topo.pods.values()),
        "legs": len(engine._legs),
        "routes": len(engine.topo._routes),
        "streams": len(engine.streams),
        "balancers": len(engine.balancing._balancers),
    }


def test_compiled_legs_and_streams_do_not_grow_with_pod_pairs(tmp_path: Path) -> None:
    """Four times the pods per service (sixteen times the pod pairs) on the same four nodes:
    the compiled legs, routes and random streams stay bounded by nodes and services, and the
    per-picker balancers grow at most linearly with the pods."""
    small, large = _compiled(tmp_path, 4), _compiled(tmp_path, 16)
    assert large["pods"] == 4 * small["pods"]
    nodes, services = 4, 2
    for n in (small, large):
        assert n["legs"] <= nodes * nodes * services  # one per (caller node, callee node, service)
        assert n["routes"] <= n["legs"]
    assert large["legs"] <= small["legs"] * 1.5 + 2  # the same node pairs, whatever the pods
    assert large["streams"] <= small["streams"] + nodes * services
    assert large["balancers"] <= 4 * small["balancers"]


def test_a_chain_of_calls_that_cost_nothing_does_not_recurse(tmp_path: Path) -> None:
    """No kernel cost, no wire delay, no service time: every call of a 1,000-deep chain
    starts and finishes without an event, so the engine must defer instead of nesting."""
    calls = "".join(
        f"  s{i}: {{service_time: 0ms, calls: [{{service: s{i + 1}}}]}}\n" for i in range(CHAIN - 1)
    )
    path = tmp_path / "free.yaml"
    path.write_text(
        "cluster: {nodes: [{name: n, cores: 1}]}\n"
        f"services:\n{calls}  s{CHAIN - 1}: {{service_time: 0ms}}\n"
        "workload: {entry: s0, generator: {type: open, rate_rps: 1}, requests: 2,"
        " client: {node: n, in_mesh: false}}\n"
        "mesh: {mode: none}\n"
        "params:\n  kernel: {traversal_cpu_us: 0, loopback_cpu_us: 0, cpu_per_kib_us: 0,"
        " ebpf_redirect_cpu_us: 0}\n"
        "network: {same_node_ms: 0, bandwidth_gbps: null}\nsim: {replications: 1}\n"
    )
    rec = Engine(load_scenario(path), 0).run()
    assert rec.completed == 2 and rec.latency_sum == 0.0
