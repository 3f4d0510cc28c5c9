"""Multi-hop validation (issue 10): the 3-tier template is the topology that was measured, and
the shipped validation figures are computed from their tables, not written by hand."""

from __future__ import annotations

import importlib.util
import json
import math

import pandas as pd
import pytest
from conftest import ROOT, SCENARIOS

from meshsim import simulate
from meshsim.loader import load_scenario
from meshsim.measurements import load_points
from meshsim.topology import ProxyHop, Topology, Transit
from meshsim.validate import summarise

TEMPLATE = SCENARIOS / "calibration" / "real-bench-local-3tier.yaml"
RECORDS = ROOT / "real_bench" / "results" / "local-hbone-3tier" / "records.jsonl"
REPORTS = sorted(
    p.parent for p in (ROOT / "reports/validation").glob("real-bench-local-hbone*/summary.json")
)
MODES = ("none", "sidecar", "ambient", "waypoint")


def read_csv(path) -> pd.DataFrame:
    """A shipped table: plain CSV, or (written before provenance.json) with its provenance in
    leading '#' lines."""
    lines = path.read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    return pd.read_csv(path, skiprows=header)


def _measured_hops() -> dict[tuple[str, str], str]:
    """(caller, callee) -> same_node/cross, as the harness recorded them in every run."""
    seen = set()
    for line in RECORDS.read_text().splitlines():
        seen.add(tuple(json.loads(line)["extra"]["hops"]))
    assert len(seen) == 1, "every 3-tier run recorded the same hops"
    hops = {}
    for text in seen.pop():  # e.g. "a->b1 (same-node)"
        edge, relation = text.split(" ")
        caller, callee = edge.split("->")
        hops[(caller, callee)] = relation.strip("()").replace("-", "_")
    return hops


@pytest.mark.parametrize("mode", MODES)
def test_3tier_template_routes_a_to_b1_and_b2_in_parallel_to_c_as_placed(mode: str) -> None:
    loaded = load_scenario(TEMPLATE, [f"mesh.mode={mode}"])
    services = loaded.scenario.services
    assert [[c.service for c in step] for step in services["a"].calls] == [["b1", "b2"]]
    assert [[c.service for c in step] for step in services["b1"].calls] == [["c"]]
    assert [[c.service for c in step] for step in services["b2"].calls] == [["c"]]
    assert services["c"].calls == []
    topo = Topology(loaded.scenario, loaded.params)
    pod = {name: pods[0] for name, pods in topo.pods.items()} | {"client": topo.client}
    assert {name: p.node for name, p in pod.items()} == {
        "client": "node1",
        "a": "node1",
        "b1": "node1",
        "b2": "node2",
        "c": "node2",
    }
    waypoint = None
    if mode == "waypoint":
        (waypoint,) = topo.waypoints["waypoint"]
        assert waypoint.node == "node3"
        assert all(topo.waypoint_of[s] == "waypoint" for s in ("a", "b1", "b2", "c"))
    for (caller, callee), relation in _measured_hops().items():
        assert (topo.relation(pod[caller].node, pod[callee].node) == "same_node") == (
            relation == "same_node"
        ), (caller, callee)
        stages = topo.route(pod[caller], pod[callee], waypoint)
        proxies = [(s.proxy, s.node) for s in stages if isinstance(s, ProxyHop)]
        if mode == "none":
            assert proxies == []
        elif mode == "sidecar":
            assert proxies == [("sidecar", pod[caller].node), ("sidecar", pod[callee].node)]
        elif mode == "waypoint":
            assert proxies == [
                ("ztunnel", pod[caller].node),
                ("waypoint", "node3"),
                ("ztunnel", pod[callee].node),
            ]
        else:
            assert {p for p, _ in proxies} == {"ztunnel"}
        assert all(isinstance(s, Transit) for s in stages if not isinstance(s, ProxyHop))


def test_3tier_simulation_visits_every_tier_once_and_c_twice() -> None:
    loaded = load_scenario(TEMPLATE, ["mesh.mode=waypoint", "workload.duration_s=0.6"])
    hops = simulate(loaded).hops().set_index("hop")["visits_per_request"]
    assert hops["app"] == pytest.approx(5.0)  # a, b1, b2 and c twice
    assert hops["waypoint"] == pytest.approx(10.0)  # five calls, request and response


def test_3tier_points_are_their_own_campaign() -> None:
    points, dropped = load_points([RECORDS])
    assert set(points["campaign"]) == {"local-3-tier"}
    assert set(points["topology"]) == {"3-tier"}
    assert len(points) == 8 and dropped.empty
    sidecar = points[points["mode"] == "sidecar"]
    assert (sidecar["cpu_sidecar_server"] > sidecar["cpu_sidecar_client"]).all()


@pytest.mark.parametrize("folder", REPORTS, ids=lambda p: p.name)
def test_shipped_summary_is_computed_from_its_table(folder) -> None:
    table = read_csv(folder / "validation.csv")
    table["dropped_because"] = table["dropped_because"].astype(object).fillna("")
    summary = json.loads((folder / "summary.json").read_text())
    again = summarise(table, summary["provenance"])
    for subset in ("holdout", "fit", "all"):
        assert (subset in again) == (subset in summary)
        if subset not in summary:
            continue
        assert again[subset]["points"] == summary[subset]["points"]
        for model in ("meshsim_mape_pct", "additive_mape_pct"):
            assert again[subset][model].keys() == summary[subset][model].keys()
            for metric, value in summary[subset][model].items():
                # the table's numbers are written with 6 significant digits
                assert math.isclose(again[subset][model][metric], value, abs_tol=0.02), (
                    subset,
                    model,
                    metric,
                )
    assert again["dropped"] == summary["dropped"]


def test_there_are_shipped_hbone_reports() -> None:
    names = {p.name for p in REPORTS}
    assert {"real-bench-local-hbone", "real-bench-local-hbone-3tier"} <= names
    table = read_csv(ROOT / "reports/validation/real-bench-local-hbone-3tier/validation.csv")
    assert set(table["mode"]) == set(MODES)
    assert set(pd.to_numeric(table["requested_qps"])) == {200.0, 500.0}


@pytest.mark.parametrize("folder", [p for p in REPORTS if p.name.endswith("-3tier")], ids=str)
def test_shipped_added_latency_is_computed_from_the_3tier_table(folder) -> None:
    script = ROOT / "reports/validation/real-bench-local-hbone-3tier/added_latency.py"
    spec = importlib.util.spec_from_file_location("added_latency", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    again = module.added_latency(read_csv(folder / "validation.csv"))
    shipped = pd.read_csv(folder / "added-latency.csv")
    pd.testing.assert_frame_equal(
        again.reset_index(drop=True), shipped, check_dtype=False, atol=1e-3
    )
    ratios = shipped[shipped["what"] == "ratio_sidecar_to_ambient"]
    assert set(ratios["requested_qps"]) == {200, 500}
