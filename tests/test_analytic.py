"""The analytic engine: exact on the queueing models it must reproduce, and the same files,
verdicts and commands as the DES."""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pytest
from conftest import SCENARIOS, meshsim_cmd

from meshsim import theory
from meshsim.analytic import Moments, erlang_c, fork_join, solve
from meshsim.analytic_results import quantiles_with_openings, solve_result
from meshsim.loader import load_scenario


def _solve(name: str, *overrides: str):
    return solve_result(load_scenario(SCENARIOS / name, list(overrides)))


def test_mm1_mean_and_p99_are_the_formulas() -> None:
    lat = _solve("mm1.yaml").latency_s()
    assert lat["mean"] == pytest.approx(theory.mm1_sojourn_mean(700, 1000), rel=1e-4)
    # M/M/1 sojourn is exponential: the gamma of its two moments is exactly that
    assert lat["p99"] == pytest.approx(theory.mm1_sojourn_quantile(700, 1000, 0.99), rel=1e-4)
    assert lat["p50"] == pytest.approx(theory.mm1_sojourn_quantile(700, 1000, 0.5), rel=1e-4)


def test_mmc_mean_is_erlang_c() -> None:
    lat = _solve("mmc.yaml").latency_s()
    # the app's CPU also queues for one of 8 cores (Erlang C ~0.002): 0.1 % at most
    assert lat["mean"] == pytest.approx(theory.mmc_sojourn_mean(2100, 1000, 3), rel=1e-3)
    assert erlang_c(3, 2.1) == pytest.approx(theory.erlang_c(3, 2.1), rel=1e-12)


def test_jackson_tandem_mean_is_the_sum_of_its_stations() -> None:
    lat = _solve("jackson-tandem.yaml").latency_s()
    expected = theory.tandem_sojourn_mean(500, [1000, 1000 / 1.5, 1250])
    assert lat["mean"] == pytest.approx(expected, rel=1e-3)


def test_saturation_is_exact_and_names_the_bottleneck() -> None:
    at = _solve("mm1.yaml", "workload.generator.rate_rps=999").verdict()
    over = _solve("mm1.yaml", "workload.generator.rate_rps=1000").verdict()
    assert at["status"] == "ok"
    assert over["status"] == "saturated"
    assert over["bottleneck"] == "server-0.app"
    assert over["bottleneck_utilisation"] == pytest.approx(1.0)


def test_a_saturated_solve_writes_its_files_and_tables(tmp_path) -> None:
    """Saturated, the analytic engine has no hop figures: the command still prints its tables
    and writes hops.csv with its columns (it once ended in a pandas traceback)."""
    out = tmp_path / "out"
    done = subprocess.run(
        [
            *meshsim_cmd(),
            "run",
            str(SCENARIOS / "mm1.yaml"),
            "--engine",
            "analytic",
            "--set",
            "workload.generator.rate_rps=1000",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "saturated" in done.stdout and "Traceback" not in done.stderr
    header = (out / "hops.csv").read_text().splitlines()
    assert any(line.startswith("hop,visits,") for line in header)


def test_fork_join_of_two_exponentials_is_one_and_a_half_means() -> None:
    m = np.array([1e-3])
    mean, _ = fork_join([(1.0, m, m * m, 1), (1.0, m, m * m, 1)])
    assert float(mean[0]) == pytest.approx(1.5e-3, rel=5e-3)  # E[max] = 1.5 / mu
    half, _ = fork_join([(0.5, m, m * m, 1)])  # present half the time
    assert float(half[0]) == pytest.approx(0.5e-3)


def test_a_mixture_over_openings_keeps_its_parts_apart() -> None:
    # 90 % of requests open no connection (1 ms), 10 % do (3 ms): no two-moment spread
    parts = (0.9, Moments(1.0, 1.0), Moments(3.0, 9.0))
    assert quantiles_with_openings(parts, [0.5, 0.89, 0.95]) == pytest.approx([1.0, 1.0, 3.0])


def test_a_rare_connection_opening_is_an_atom_not_a_spread() -> None:
    # seed-claims, linkerd: 1 call in 1,000 opens a connection (two ~1 ms handshakes on a
    # 0.46 ms path). The body's percentiles are those of the paths without openings; the
    # openings keep the mean and show in p99.9 only.
    rare = _solve("seed-claims.yaml", "mesh.mode=linkerd")
    never = _solve("seed-claims.yaml", "mesh.mode=linkerd", "mesh.requests_per_connection=1e9")
    lat, body = rare.latency_s(), never.latency_s()
    p0, _, opened = rare.solution.openings
    assert p0 == pytest.approx(0.999)
    assert lat["mean"] > body["mean"]
    assert lat["p90"] == pytest.approx(body["p90"], rel=0.01)
    assert lat["p999"] > opened.mean * 0.9 > 2 * body["p999"]
    # every call opens one: no atom, the handshakes are part of every path
    every = _solve("seed-claims.yaml", "mesh.mode=linkerd", "mesh.requests_per_connection=1")
    assert every.solution.openings is None
    assert every.latency_s()["p50"] > opened.mean * 0.9


def test_reproducible_and_every_mode_solves() -> None:
    for mode in ("none", "sidecar", "ambient", "waypoint"):
        loaded = load_scenario(SCENARIOS / "quickstart.yaml", [f"mesh.mode={mode}"])
        a, b = solve(loaded), solve(loaded)
        assert a.latency.mean == b.latency.mean and math.isfinite(a.latency.mean)
        assert not a.saturated


def test_mesh_adds_latency_and_cpu_in_the_expected_order() -> None:
    lat = {}
    for mode in ("none", "sidecar", "ambient"):
        res = _solve("seed-claims.yaml", f"mesh.mode={mode}")
        lat[mode] = res.latency_s()["mean"]
    assert lat["none"] < lat["ambient"] < lat["sidecar"]


def test_closed_loop_carries_what_its_pacing_and_latency_allow() -> None:
    paced = _solve("fortio-2pod.yaml")
    assert paced.solution.rate_rps == pytest.approx(1000)
    assert paced.verdict()["status"] == "ok"
    flat_out = _solve("fortio-2pod.yaml", "workload.generator.qps=null")
    rate = flat_out.solution.rate_rps
    assert 1000 < rate < math.inf  # 16 connections back to back: C / R, bounded by a station
    too_fast = _solve("fortio-2pod.yaml", f"workload.generator.qps={rate * 1.5}")
    assert too_fast.verdict()["status"] == "qps_not_achieved"


def test_run_writes_the_same_files_with_the_engine_in_the_provenance(tmp_path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            *meshsim_cmd(),
            "run",
            str(SCENARIOS / "quickstart.yaml"),
            "--engine",
            "analytic",
            "--quiet",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["provenance"]["engine"] == "analytic"
    assert summary["verdict"]["status"] == "ok"
    assert set(summary["latency_ms"]) == {"mean", "p50", "p90", "p95", "p99", "p999"}
    hops = (out / "hops.csv").read_text()
    assert "sidecar_out" in hops
    tables = json.loads((out / "provenance.json").read_text())["tables"]
    assert tables["hops.csv"]["provenance"]["engine"] == "analytic"
    assert "frontend-0.sidecar" in (out / "resources.csv").read_text()


def test_analytic_sweep_runs_many_points_in_process(tmp_path) -> None:
    pytest.importorskip("pyarrow")
    from meshsim.api import sweep

    rates = ",".join(str(r) for r in range(100, 1000, 20))
    table = sweep(
        SCENARIOS / "mm1.yaml",
        tmp_path / "sweep",
        [f"workload.generator.rate_rps={rates}", "mesh.mode=none,sidecar"],
        progress=False,
        engine="analytic",
    )
    assert len(table) == 45 * 2
    assert set(table["engine"]) == {"analytic"}
    none = table[table["mesh.mode"] == "none"].sort_values("workload.generator.rate_rps")
    expected = [1e3 / (1000 - r) for r in none["workload.generator.rate_rps"]]
    assert np.allclose(none["latency_mean_ms"], expected, rtol=1e-4)


@pytest.mark.slow
def test_hybrid_capacity_confirms_the_analytic_bracket_with_the_des() -> None:
    from meshsim.capacity import search

    loaded = load_scenario(SCENARIOS / "mm1.yaml", ["mesh.mode=none"])
    cap = search(loaded, "mean<=5ms", engine="hybrid", requests_per_point=4000)
    # M/M/1: mean <= 5 ms  <=>  lambda <= mu - 200 = 800 /s
    assert cap.analytic_rps == pytest.approx(800, rel=0.01)
    assert cap.max_rate_rps == pytest.approx(800, rel=0.06)
    assert cap.first_failing_rps is not None and cap.first_failing_rps > cap.max_rate_rps
    assert len(cap.points) <= 8  # the DES runs near the answer only
