"""Percentiles interpolated within histogram buckets; p95 and any other percentile on request."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import SCENARIOS, meshsim_cmd

from meshsim.errors import ScenarioError
from meshsim.loader import load_scenario
from meshsim.stats import Histogram, confidence_interval, parse_percentiles, percentile_key

QS = [0.5, 0.9, 0.95, 0.99, 0.999]


def _histogram(values: np.ndarray) -> Histogram:
    h = Histogram()
    for v in values:
        h.record(float(v))
    return h


def test_interpolated_quantiles_of_an_exponential_match_the_exact_ones() -> None:
    mean = 2e-3
    rng = np.random.default_rng(11)
    values = rng.exponential(mean, 200_000)
    got = _histogram(values).quantiles(QS)
    exact = [-mean * math.log(1 - q) for q in QS]
    empirical = np.quantile(values, QS)
    for g, x, e in zip(got, exact, empirical, strict=True):
        assert abs(g - e) / e < 0.002  # well inside one bucket (1%)
        assert abs(g - x) / x < 0.03  # the sample's own error, mostly at p99.9


def test_p50_over_replications_has_a_confidence_interval_of_nonzero_width() -> None:
    """Bucket-edge quantiles gave every replication the same p50, so a zero-width interval."""
    p50s = []
    for seed in range(3):
        values = np.random.default_rng(seed).exponential(1e-3, 20_000)
        (p50,) = _histogram(values).quantiles([0.5])
        p50s.append(p50)
    mean, low, high = confidence_interval(p50s)
    assert high - low > 0 and low < mean < high
    assert len(set(p50s)) == 3


def test_quantiles_stay_within_the_data_and_are_monotone() -> None:
    h = _histogram(np.array([1e-3, 1e-3, 2e-3, 5e-3]))
    qs = h.quantiles([0.0, 0.25, 0.5, 0.75, 0.9, 1.0])
    assert qs == sorted(qs)
    assert qs[0] == pytest.approx(1e-3) and qs[-1] == pytest.approx(5e-3)
    assert _histogram(np.array([3e-3])).quantiles([0.5]) == [pytest.approx(3e-3)]


def test_percentile_names_and_parsing() -> None:
    assert [percentile_key(p) for p in (50, 95, 99.9, 99.99)] == ["p50", "p95", "p999", "p9999"]
    assert parse_percentiles("99, 50,95,50") == (50.0, 95.0, 99.0)
    for bad in ("", "fifty", "0", "100", "-5"):
        with pytest.raises(ScenarioError):
            parse_percentiles(bad)


def test_run_reports_p95_by_default_and_other_percentiles_on_request(tmp_path: Path) -> None:
    from meshsim.simulate import compare, simulate

    loaded = load_scenario(
        SCENARIOS / "fortio-2pod.yaml", ["sim.replications=2", "workload.duration_s=1.5"]
    )
    summary = simulate(loaded).summary()
    assert list(summary["latency_ms"]) == ["mean", "p50", "p90", "p95", "p99", "p999"]
    lo, hi = summary["latency_ms_ci95"]["p50"]
    assert hi > lo
    lat = summary["latency_ms"]
    assert lat["p50"] < lat["p90"] < lat["p95"] < lat["p99"]
    table = compare(loaded, ["none", "sidecar"], percentiles=(50, 75, 99.99)).table()
    assert {"p75_ms", "p9999_ms", "added_p75_ms", "added_p9999_ms"} <= set(table.columns)
    assert "p95_ms" not in table.columns


def test_cli_percentiles_flag(tmp_path: Path) -> None:
    scenario = str(SCENARIOS / "fortio-2pod.yaml")
    common = ["--replications", "1", "--set", "workload.duration_s=1.5", "--quiet"]
    out = tmp_path / "run"
    done = subprocess.run(
        [*meshsim_cmd(), "run", scenario, *common, "--percentiles", "50,75,99.5", "--out", out],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads((out / "summary.json").read_text())
    assert list(doc["latency_ms"]) == ["mean", "p50", "p75", "p995"]
    bad = subprocess.run(
        [*meshsim_cmd(), "compare", scenario, *common, "--percentiles", "50,101"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "--percentiles" in bad.stderr
    assert "Traceback" not in bad.stderr
