"""Fleets in the scenario language: expanded at load time, bounded, and beyond the DES."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import SCENARIOS, meshsim_cmd

from meshsim import work
from meshsim.errors import ScenarioError
from meshsim.loader import load_scenario

SMALL = """\
name: small-fleet
cluster:
  nodes: [{{name: n, count: 4, cores: 4}}]
fleets:
  - namespace: shop
    copies: {copies}
    services:
      web: {{replicas: 2, calls: [{{service: db}}], service_time: 0.5}}
      db: {{replicas: 1, service_time: 0.2}}
services:
  gateway:
    calls: [{{service: shop/web}}]
    service_time: 0.1
workload:
  entry: gateway
  generator: {{type: open, rate_rps: 200}}
  duration_s: 2
mesh: {{mode: sidecar}}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    return path


def test_fleet_yaml_expands_to_the_advertised_size() -> None:
    sc = load_scenario(SCENARIOS / "fleet.yaml").scenario
    assert len(sc.services) == 501
    assert sum(s.replicas for s in sc.services.values()) == 50_100
    assert len(sc.cluster.node_names()) == 1000
    assert sc.workload.generator.rate_rps == 100_000
    assert sc.services["db-shop-7"].namespace == "shop-7"
    assert [c.service for c in sc.services["catalog-shop-7"].calls[0]] == ["db-shop-7"]
    spread = sc.services["gateway"].calls[0]
    assert len(spread) == 100 and {c.probability for c in spread} == {0.01}


def test_a_copy_calls_its_own_services_and_calls_into_a_fleet_spread(tmp_path) -> None:
    sc = load_scenario(_write(tmp_path, SMALL.format(copies=3))).scenario
    assert sorted(sc.services) == [
        "db-shop-0",
        "db-shop-1",
        "db-shop-2",
        "gateway",
        "web-shop-0",
        "web-shop-1",
        "web-shop-2",
    ]
    assert sc.services["web-shop-2"].calls[0][0].service == "db-shop-2"
    probabilities = [c.probability for c in sc.services["gateway"].calls[0]]
    assert probabilities == pytest.approx([1 / 3] * 3)


def test_a_small_fleet_runs_in_both_engines(tmp_path) -> None:
    from meshsim.analytic_results import solve_result
    from meshsim.simulate import simulate

    loaded = load_scenario(_write(tmp_path, SMALL.format(copies=2)), ["sim.replications=1"])
    des = simulate(loaded).latency()["ms"]["mean"]
    analytic = solve_result(loaded).latency()["ms"]["mean"]
    assert analytic == pytest.approx(des, rel=0.1)


@pytest.mark.parametrize(
    ("copies", "message"),
    [("0", "greater than or equal to 1"), ("100000", "less than or equal to 20000")],
)
def test_bad_copies_are_one_line_with_file_and_line(tmp_path, copies: str, message: str) -> None:
    path = _write(tmp_path, SMALL.format(copies=copies))
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert str(err.value).startswith(f"{path}:6: fleets.0.copies")
    assert message in str(err.value)


def test_the_expansion_is_bounded_before_it_is_made(tmp_path) -> None:
    text = SMALL.format(copies=15000)  # 2 services x 15,000 copies > 20,000
    with pytest.raises(ScenarioError, match="expand to 30001 services, over the limit"):
        load_scenario(_write(tmp_path, text))


def test_an_error_in_a_copy_names_its_template_line(tmp_path) -> None:
    path = _write(tmp_path, SMALL.format(copies=2).replace("replicas: 1,", "replicas: -1,"))
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert str(err.value).startswith(f"{path}:9: services.db-shop-0.replicas")


def test_the_des_refuses_the_fleet_in_one_line_suggesting_the_analytic_engine() -> None:
    proc = subprocess.run(
        [*meshsim_cmd(), "run", str(SCENARIOS / "fleet.yaml"), "--quiet"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--engine analytic" in lines[0]
    assert lines[0].endswith("--symmetry 20 fits (or --symmetry auto)")  # 4 zones of 250
    sc = load_scenario(SCENARIOS / "fleet.yaml").scenario
    assert work.components(sc) > work.DEFAULT_MAX_COMPONENTS  # counted expanded
    work.check(0.0, sc, "fleet.yaml", "it", work.Limits(), "analytic")  # within its limits


@pytest.mark.slow
def test_the_analytic_engine_solves_the_fleet() -> None:
    from meshsim.analytic_results import solve_result

    result = solve_result(load_scenario(SCENARIOS / "fleet.yaml", ["mesh.mode=ambient"]))
    assert result.verdict()["status"] == "ok"
    assert result.summary()["throughput_rps"] == pytest.approx(100_000)
    lat = result.latency_s()
    assert 0 < lat["p50"] < lat["p99"] < 0.1
