"""Symmetry: a fleet of identical copies simulated as fewer copies, checked against the full run.

The comparison runs a small fleet (4 copies of a two-service namespace behind a shared gateway,
8 nodes in 2 zones) in full and reduced to one copy on 2 nodes, several replications each,
and asks that the reduced run, scaled back, be within the statistical noise of the full run:
the difference of the replication means within ``Z`` standard errors of that difference
(Welch). Under "no difference" a normal deviate beyond 4 has probability below 1e-4; the
errors this guards against (a load not divided, counts not scaled, a share of the nodes that
is not the load's share) move the figures by tens of standard errors (the control below).
Runs are deterministic (fixed seeds), so the outcome never flips between runs.

Placement is the known approximation (meshsim.symmetry): on 1/k of the nodes a call finds
its callee on its own node k times as often. The latency comparison neutralises it (the same
wire time and no kernel CPU whatever the two ends' relation), so what is compared is the
reduction itself; with the defaults, a test checks the bias is the one stated (kernel CPU
falls), and the README's fleet section gives its size.
"""

from __future__ import annotations

import math
import statistics
import subprocess
from typing import Any

import pytest
from conftest import meshsim_cmd

from meshsim import api, symmetry
from meshsim.errors import ScenarioError
from meshsim.loader import load_scenario_dict
from meshsim.results import Result

Z = 4.0
REPLICATIONS = 6


def fleet(copies: int = 4, **changes: Any) -> dict[str, Any]:
    """A small symmetric fleet: ``copies`` of frontend -> db behind a shared gateway."""
    doc: dict[str, Any] = {
        "name": "small-fleet",
        "cluster": {
            "nodes": [
                {"name": "a", "count": 4, "cores": 2, "zone": "zone-a"},
                {"name": "b", "count": 4, "cores": 2, "zone": "zone-b"},
            ]
        },
        "fleets": [
            {
                "namespace": "shop",
                "copies": copies,
                "services": {
                    "frontend": {
                        "replicas": 2,
                        "service_time": {"type": "exponential", "mean_ms": 1.0},
                        "calls": [{"service": "db"}],
                    },
                    "db": {
                        "replicas": 2,
                        "concurrency": 4,
                        "service_time": {"type": "exponential", "mean_ms": 0.5},
                    },
                },
            }
        ],
        "services": {
            "gateway": {
                "replicas": 8,
                "service_time": {"type": "exponential", "mean_ms": 0.2},
                "calls": [{"service": "shop/frontend"}],
            }
        },
        "workload": {
            "entry": "gateway",
            "client": {"in_mesh": False},
            "generator": {"type": "open", "rate_rps": 1200},
            "duration_s": 1.5,
            "warmup_s": 0.3,
        },
        "mesh": {"mode": "sidecar"},
        "sim": {"seed": 7, "replications": REPLICATIONS},
    }
    for path, value in changes.items():
        target = doc
        *parents, last = path.split("__")
        for part in parents:
            target = target[part]
        target[last] = value
    return doc


NEUTRAL = {  # the same wire time and no kernel CPU for same-node and cross-node calls
    "network": {
        "same_node_ms": 0.05,
        "same_zone_ms": 0.05,
        "cross_zone_ms": 0.05,
        "bandwidth_gbps": None,
    },
    "params": {"kernel": {"traversal_cpu_us": 0, "loopback_cpu_us": 0, "cpu_per_kib_us": 0}},
}


# --- the reduced scenario ------------------------------------------------------------------


def test_the_reduced_scenario_is_one_copy_on_its_share():
    loaded = load_scenario_dict(fleet())
    reduction, why_not = symmetry.decide(loaded, "auto")
    assert why_not == "" and reduction is not None
    sc = reduction.reduced.scenario
    assert (reduction.copies_total, reduction.copies_simulated, reduction.factor) == (4, 1, 4)
    assert [(p.count, p.zone) for p in sc.cluster.nodes] == [(1, "zone-a"), (1, "zone-b")]
    assert sorted(sc.services) == ["db-shop-0", "frontend-shop-0", "gateway"]
    assert sc.services["gateway"].replicas == 2  # one per zone, as the 8 were 4 per zone
    assert sc.workload.generator.rate_rps == 300
    assert sc.sim.max_in_flight == 5000
    # the fleet call keeps its 4 calls of probability 1/4, all to the one copy simulated
    step = sc.services["gateway"].calls[0]
    assert [(c.service, c.probability) for c in step] == [("frontend-shop-0", 0.25)] * 4


def test_the_largest_even_reduction_and_an_explicit_one():
    loaded = load_scenario_dict(fleet(copies=4, services__gateway__replicas=4))
    reduction, _ = symmetry.decide(loaded, "auto")  # 2 gateway pods per zone: 1/2 of them
    assert reduction is not None and reduction.copies_simulated == 2
    with pytest.raises(ScenarioError, match=r"gateway's pods per zone \(2, 2\) do not divide by 4"):
        symmetry.decide(loaded, 1)
    two, _ = symmetry.decide(load_scenario_dict(fleet()), 2)
    assert two is not None and two.copies_simulated == 2
    assert sorted(two.reduced.scenario.services)[:2] == ["db-shop-0", "db-shop-1"]
    calls = [c.service for c in two.reduced.scenario.services["gateway"].calls[0]]
    assert calls == ["frontend-shop-0", "frontend-shop-1"] * 2  # copy i -> i mod 2


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"fleets": []}, "no fleet"),
        ({"cluster__nodes": [{"name": "a", "count": 3, "cores": 2}]}, "no common factor"),
        ({"workload__entry": "frontend-shop-0"}, "the load enters one copy"),
        ({"services__gateway__replicas": 2}, "gateway's pods per zone (1, 1) do not divide by 2"),
        ({"workload__client": {"in_mesh": True}}, "load generator is in the mesh"),
        (
            {"mesh": {"mode": "waypoint", "waypoints": [{"name": "w", "namespace": "shop-0"}]}},
            "waypoints",
        ),
    ],
)
def test_refused_with_one_line(changes, reason):
    doc = fleet(**changes)
    if "fleets" in changes:
        doc.pop("fleets")
        doc["services"]["gateway"]["calls"] = []
    loaded = load_scenario_dict(doc)
    reduction, why_not = symmetry.decide(loaded, "auto")
    assert reduction is None
    assert reason in why_not and "\n" not in why_not and why_not
    with pytest.raises(ScenarioError, match="cannot simulate 1 copies"):
        symmetry.decide(loaded, 1)


def test_copies_that_differ_or_call_each_other_are_refused():
    loaded = load_scenario_dict(fleet()).with_changes("services.db-shop-2.replicas=4")
    _, why_not = symmetry.decide(loaded, "auto")
    assert why_not == "copy shop-2 differs from copy shop-0 (db: replicas)"
    doc = fleet()
    doc["fleets"][0]["services"]["frontend"]["calls"] = [{"service": "shop/db"}]  # every copy's
    _, why_not = symmetry.decide(load_scenario_dict(doc), "auto")
    assert why_not.startswith("copies call each other")


def test_the_analytic_engine_is_not_reduced():
    loaded = load_scenario_dict(fleet())
    assert symmetry.decide(loaded, "auto", "analytic")[0] is None
    with pytest.raises(ScenarioError, match="analytic engine solves every copy"):
        symmetry.decide(loaded, 1, "analytic")


# --- the reduced run against the full run --------------------------------------------------


def _per_replication(result: Result) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for r in result.replications:
        figures = {f"latency_{k}_ms": v for k, v in r.latency_ms((50, 99)).items()}
        figures["throughput_rps"] = r.throughput_rps
        kinds = r.resources[r.resources["kind"] != "node"].groupby("kind")
        for kind, group in kinds:
            figures[f"vcpu_{kind}"] = float(group["vcpu"].sum())
        for key, value in figures.items():
            out.setdefault(key, []).append(value)
    return out


def _distance(full: list[float], reduced: list[float]) -> float:
    """The difference of the means in standard errors of that difference (Welch)."""
    se = math.sqrt(
        statistics.variance(full) / len(full) + statistics.variance(reduced) / len(reduced)
    )
    diff = statistics.fmean(reduced) - statistics.fmean(full)
    return abs(diff) / se if se > 0 else (0.0 if diff == 0 else math.inf)


@pytest.fixture(scope="module")
def runs() -> dict[str, Result]:
    loaded = load_scenario_dict({**fleet(), **NEUTRAL})
    return {
        "full": api.simulate(loaded),
        "reduced": api.simulate(loaded, symmetry="auto"),
        "wrong": api.simulate(loaded.with_changes("workload.generator.rate_rps=4800"), symmetry=1),
    }


@pytest.mark.slow
def test_reduced_run_scaled_back_is_within_the_noise_of_the_full_run(runs):
    full, reduced = _per_replication(runs["full"]), _per_replication(runs["reduced"])
    assert runs["reduced"].symmetry["copies_simulated"] == 1
    compared = [k for k in full if k.startswith(("latency", "vcpu_app", "vcpu_sidecar"))]
    compared.append("throughput_rps")
    assert len(compared) == 6
    far = {k: round(_distance(full[k], reduced[k]), 2) for k in compared}
    assert all(d <= Z for d in far.values()), far
    # the control: the same comparison catches a reduction that keeps the whole load
    wrong = _per_replication(runs["wrong"])
    assert max(_distance(full[k], wrong[k]) for k in compared) > 10 * Z


@pytest.mark.slow
def test_the_placement_approximation_is_the_one_stated():
    """With the default network and kernel, 1/k of the nodes puts more calls on one node:
    the kernel's CPU falls beyond the noise (the README's figures), the apps' and proxies'
    stay within it."""
    loaded = load_scenario_dict(fleet())
    full = _per_replication(api.simulate(loaded))
    reduced_result = api.simulate(loaded, symmetry="auto")
    assert any(a.startswith("placement") for a in reduced_result.symmetry["approximations"])
    reduced = _per_replication(reduced_result)
    assert statistics.fmean(reduced["vcpu_kernel"]) < statistics.fmean(full["vcpu_kernel"])
    assert _distance(full["vcpu_kernel"], reduced["vcpu_kernel"]) > Z
    assert _distance(full["vcpu_app"], reduced["vcpu_app"]) <= Z
    assert _distance(full["vcpu_sidecar"], reduced["vcpu_sidecar"]) <= Z


@pytest.mark.slow
def test_memory_and_pods_are_the_full_clusters(runs):
    full, reduced = runs["full"].by_kind(), runs["reduced"].by_kind()
    assert reduced.loc["app", "memory_mib"] == full.loc["app", "memory_mib"]  # 20 pods x 64 MiB
    # sidecar memory: base and configuration (recomputed for the full cluster) are exact; the
    # per-connection part follows the mean messages held, which is within the runs' noise
    assert reduced.loc["sidecar", "memory_mib"] == pytest.approx(
        full.loc["sidecar", "memory_mib"], rel=0.005
    )
    assert len(runs["reduced"].resources()) < len(runs["full"].resources())  # rows simulated
    summary = runs["reduced"].summary()
    assert summary["provenance"]["symmetry"]["scaled_fields"] == list(symmetry.SCALED_FIELDS)
    assert summary["requested_rps"] == 1200
    hops = runs["reduced"].hops().set_index("hop")
    full_hops = runs["full"].hops().set_index("hop")
    assert hops.loc["app", "visits_per_request"] == pytest.approx(
        full_hops.loc["app", "visits_per_request"], rel=0.05
    )


def test_compare_scales_every_mode_and_counts_shared_waypoints_once():
    doc = fleet()
    doc["sim"] = {"seed": 2, "replications": 1}
    doc["workload"].update(duration_s=0.4, warmup_s=0.1)
    loaded = load_scenario_dict(doc)
    modes = ("sidecar", "waypoint")
    full = api.compare(loaded, modes).table().set_index("mode")
    reduced_comp = api.compare(loaded, modes, symmetry="auto")
    reduced = reduced_comp.table().set_index("mode")
    for mode in modes:
        assert reduced_comp.results[mode].symmetry["copies_simulated"] == 1
        assert reduced_comp.results[mode].mode == mode
    # waypoint-default (the gateway's namespace) exists once in the full cluster, the copies'
    # waypoints four times: mesh memory as the full run's (connections: within the noise)
    for mode in modes:
        assert reduced.loc[mode, "memory_mib_mesh"] == pytest.approx(
            full.loc[mode, "memory_mib_mesh"], rel=0.005
        )


def test_without_a_fleet_nothing_changes():
    doc = fleet(copies=1)
    loaded = load_scenario_dict({**doc, "sim": {"seed": 3, "replications": 1}})
    loaded = loaded.with_changes("workload.duration_s=0.3", "workload.warmup_s=0.1")
    off = api.simulate(loaded).summary()
    auto = api.simulate(loaded, symmetry="auto").summary()
    assert "symmetry" not in off["provenance"]
    assert auto["provenance"]["symmetry"]["copies_simulated"] is None
    assert "no fleet" in auto["provenance"]["symmetry"]["note"]
    auto["provenance"].pop("symmetry")
    auto.pop("run"), off.pop("run")
    assert auto == off


# --- the command line ----------------------------------------------------------------------


def _scenario_file(tmp_path, doc: dict[str, Any]):
    import yaml

    path = tmp_path / "small-fleet.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_cli_states_the_reduction_and_refuses_an_impossible_one(tmp_path):
    doc = fleet()
    doc["sim"] = {"seed": 1, "replications": 1}
    doc["workload"].update(duration_s=0.3, warmup_s=0.1)
    path = _scenario_file(tmp_path, doc)
    done = subprocess.run(
        [*meshsim_cmd(), "run", str(path), "--symmetry", "auto", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("symmetry: simulated 1 of 4 copies of fleet shop")
    bad = subprocess.run(
        [*meshsim_cmd(), "compare", str(path), "--symmetry", "3", "--modes", "none"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "meshsim: error: --symmetry: cannot simulate 3 copies: 3 does not divide the 4 copies "
        "of fleet shop"
    ]
    doc["cluster"]["nodes"][0]["count"] = 3  # 3 + 4 nodes: no even share
    fallback = subprocess.run(
        [*meshsim_cmd(), "run", str(_scenario_file(tmp_path, doc)), "--symmetry", "auto"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert fallback.returncode == 0
    assert fallback.stderr.splitlines()[0].startswith(
        "symmetry: every copy simulated: the 4 copies, node pool a (3 nodes) have no common"
    )


def test_compare_report_states_the_reduction(tmp_path):
    doc = fleet()
    doc["sim"] = {"seed": 1, "replications": 1}
    doc["workload"].update(duration_s=0.3, warmup_s=0.1)
    out = tmp_path / "out"
    done = subprocess.run(
        [
            *meshsim_cmd(),
            "compare",
            str(_scenario_file(tmp_path, doc)),
            "--symmetry",
            "auto",
            "--modes",
            "none,sidecar",
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    md = (out / "report.md").read_text()
    section = md.split("## Symmetry", 1)[1].split("## Provenance", 1)[0]
    assert "simulated 1 of 4 copies" in section and "- copies_total: 4" in section
    assert "- approximate: placement" in section
    assert "{" not in md.split("## Provenance", 1)[1]  # no raw dict left in the provenance


def test_advice_names_a_reduction_only_when_it_would_work():
    doc = fleet()
    assert symmetry.advice(load_scenario_dict(doc), 2.0) == "--symmetry 2 fits (or --symmetry auto)"
    doc["cluster"]["nodes"][0]["count"] = 3  # 3 + 4 nodes: no even share
    assert symmetry.advice(load_scenario_dict(doc), 2.0) == (
        "--symmetry 2 would fit, with node pools and shared replicas divisible by 2"
    )
