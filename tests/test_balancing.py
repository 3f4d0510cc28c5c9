"""Endpoint choice: Envoy's and ztunnel's policies, and the lockstep round robin trap."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from meshsim.balancing import Balancing, LeastRequest, Random, RoundRobin, policy
from meshsim.loader import load_scenario_dict
from meshsim.random import Streams
from meshsim.scenario import Service
from meshsim.simulate import simulate
from meshsim.topology import Pod

PODS = [Pod(f"callee-{i}", "callee", "n") for i in range(50)]


def _fifty_by_fifty(policy_name: str) -> dict[str, Any]:
    """50 caller pods, each calling 50 single-worker callee pods, at 70% utilisation."""
    lb = {"load_balancing": policy_name}
    return {
        "name": "fifty-by-fifty",
        "cluster": {"nodes": [{"name": "n", "count": 20, "cores": 16}]},
        "services": {
            "caller": {"replicas": 50, "calls": [{"service": "callee"}], **lb},
            "callee": {
                "replicas": 50,
                "concurrency": 1,
                "service_time": {"type": "exponential", "mean_ms": 10.0},
                **lb,
            },
        },
        "workload": {
            "entry": "caller",
            "generator": {"type": "open", "rate_rps": 3500},
            "duration_s": 5,
            "warmup_s": 0.5,
        },
        "sim": {"seed": 7, "replications": 4},
    }


def _latency(raw: dict[str, Any]) -> pd.Series:
    return simulate(load_scenario_dict(raw)).latency()["ms"]


def test_round_robin_callers_start_at_independent_pods() -> None:
    streams = Streams(1, 0)
    first = {RoundRobin(streams, f"lb.caller-{i}.callee").pick(PODS).name for i in range(50)}
    assert len(first) > 20  # lockstep pointers would all start at callee-0


def test_round_robin_visits_every_pod_once_per_cycle() -> None:
    rr = RoundRobin(Streams(1, 0), "lb.a.b")
    picks = [rr.pick(PODS).name for _ in range(100)]
    assert sorted(picks[:50]) == sorted(p.name for p in PODS) and picks[:50] == picks[50:]


def test_least_request_counts_only_its_own_requests_and_releases_them() -> None:
    two = PODS[:2]
    lr = LeastRequest(Streams(1, 0), "lb.a.b")
    busy = lr.pick(two)
    for _ in range(20):  # with one request still active at `busy`, the other pod wins
        other = lr.pick(two)  # whenever both are drawn
        lr.release(other)
    assert lr._active[busy.name] == 1
    lr.release(busy)
    assert all(v == 0 for v in lr._active.values())


def test_defaults_follow_istio_envoy_and_ztunnel() -> None:
    unset = Service()
    assert policy(unset, "envoy") == "least_request"
    assert policy(unset, "ztunnel") == "random" and policy(unset, "kube-proxy") == "random"
    explicit = Service(load_balancing="round_robin")
    assert policy(explicit, "ztunnel") == "round_robin"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("sidecar", LeastRequest), ("ambient", Random), ("none", Random), ("waypoint", LeastRequest)],
)
def test_who_picks_in_each_mode(mode: str, expected: type) -> None:
    raw = _fifty_by_fifty("random")
    for svc in raw["services"].values():
        del svc["load_balancing"]
    raw["mesh"] = {"mode": mode}
    sc = load_scenario_dict(raw).scenario
    balancing = Balancing(sc, Streams(1, 0))
    caller = Pod("caller-0", "caller", "n-0")
    waypoint = Pod("waypoint-default-0", "waypoint-default", "n-1") if mode == "waypoint" else None
    assert type(balancing.for_call(caller, "callee", waypoint)) is expected
    assert type(balancing.for_waypoint(caller, "waypoint-default")) is Random


def test_fifty_round_robin_callers_are_no_slower_than_random() -> None:
    """The trap: every caller's pointer started at pod 0 and moved in step with the others',
    so each burst of 50 calls hit one callee (before the fix: p99 586 ms against 131 ms)."""
    rr = _latency(_fifty_by_fifty("round_robin"))
    rnd = _latency(_fifty_by_fifty("random"))
    assert rr["mean"] <= rnd["mean"]
    assert rr["p99"] <= rnd["p99"]


def test_least_request_beats_random_at_high_utilisation() -> None:
    """One caller, ten single-worker pods at 90%: two choices avoid the busy pods."""

    def run(policy_name: str) -> pd.Series:
        return _latency(
            {
                "name": "one-caller",
                "cluster": {"nodes": [{"name": "n", "count": 4, "cores": 16}]},
                "services": {
                    "api": {
                        "replicas": 10,
                        "concurrency": 1,
                        "load_balancing": policy_name,
                        "service_time": {"type": "exponential", "mean_ms": 10.0},
                    }
                },
                "workload": {
                    "entry": "api",
                    "generator": {"type": "open", "rate_rps": 900},
                    "duration_s": 6,
                    "warmup_s": 1,
                },
                "sim": {"seed": 3, "replications": 3},
            }
        )

    least, rnd = run("least_request"), run("random")
    assert least["mean"] < 0.6 * rnd["mean"]
    assert least["p99"] < 0.6 * rnd["p99"]


def test_same_zone_candidates_follow_the_picker_in_engine_and_cost() -> None:
    """With prefer_same_zone, the proxy that picks decides the zone: the waypoint's when there
    is one. The engine and the cost model share ``balancing.candidates``, so both agree."""
    from meshsim.balancing import candidates
    from meshsim.cost import traffic
    from meshsim.topology import Topology

    doc = {
        "name": "zones",
        "cluster": {
            "nodes": [
                {"name": "a", "count": 1, "cores": 4, "zone": "za"},
                {"name": "b", "count": 1, "cores": 4, "zone": "zb"},
            ]
        },
        "services": {
            "front": {"replicas": 1, "nodes": ["a"], "calls": [{"service": "back"}]},
            "back": {"replicas": 2, "nodes": ["a", "b"], "prefer_same_zone": True},
        },
        "workload": {
            "entry": "front",
            "generator": {"type": "open", "rate_rps": 10},
            "duration_s": 1,
        },
        "mesh": {
            "mode": "waypoint",
            "waypoints": [{"name": "wp", "services": ["back"], "nodes": ["b"]}],
        },
    }
    loaded = load_scenario_dict(doc)
    topo = Topology(loaded.scenario, loaded.params)
    svc = loaded.scenario.services["back"]
    front = topo.pods["front"][0]
    waypoint = topo.waypoints["wp"][0]
    by_caller = candidates(topo, svc, topo.pods["back"], front)
    by_waypoint = candidates(topo, svc, topo.pods["back"], waypoint)
    assert {topo.nodes[p.node].zone for p in by_caller} == {"za"}
    assert {topo.nodes[p.node].zone for p in by_waypoint} == {"zb"}
    # the cost model sends every call on to the waypoint's zone: front(za) -> waypoint(zb)
    # -> back(zb) crosses zones once; spread over both pods, half the calls would cross back
    # to za (1.5 crossings on average)
    doc["services"]["back"]["prefer_same_zone"] = False
    spread = traffic(load_scenario_dict(doc)).cross_zone_bytes_per_request
    assert traffic(loaded, topo).cross_zone_bytes_per_request / spread == pytest.approx(2 / 3)
