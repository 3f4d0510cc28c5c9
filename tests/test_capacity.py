"""The capacity search: SLO grammar, a known M/M/1 capacity, saturation, the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from meshsim.capacity import Slo, capacity_row, search
from meshsim.errors import ScenarioError
from meshsim.loader import load_scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def meshsim_cmd() -> list[str]:
    return [sys.executable, "-m", "meshsim.cli"]


@pytest.mark.parametrize(
    ("text", "statistic", "strict", "threshold_ms"),
    [
        ("p99<=10ms", "p99", False, 10.0),
        (" mean < 500us ", "mean", True, 0.5),
        ("p999<=1.5s", "p999", False, 1500.0),
        ("p50<2e-1ms", "p50", True, 0.2),
    ],
)
def test_slo_grammar(text: str, statistic: str, strict: bool, threshold_ms: float) -> None:
    slo = Slo.parse(text)
    assert (slo.statistic, slo.strict) == (statistic, strict)
    assert slo.threshold_ms == pytest.approx(threshold_ms)
    assert slo.met(threshold_ms) is not strict
    assert not slo.met(threshold_ms * 1.01)
    assert not slo.met(float("nan"))


@pytest.mark.parametrize("text", ["p99=10ms", "p98<=10ms", "p99<=10", "p99<=0ms", "fast"])
def test_bad_slo_is_a_scenario_error(text: str) -> None:
    with pytest.raises(ScenarioError):
        Slo.parse(text)


def test_finds_mm1_capacity_for_a_mean_objective() -> None:
    """M/M/1 with mu = 1000/s: W = 1/(mu - lambda) <= 5 ms gives lambda* = 800/s."""
    loaded = load_scenario(SCENARIOS / "mm1.yaml")
    cap = search(loaded, "mean<=5ms", requests_per_point=8000, rel_tol=0.01)
    assert cap.max_rate_rps == pytest.approx(800, rel=0.05)
    assert cap.first_failing_rps is not None
    assert cap.first_failing_rps > cap.max_rate_rps
    assert all(p.passed == (p.status == "ok" and p.value_ms <= 5) for p in cap.points)
    # above mu the queue grows without bound: the search saw saturation and did not pass it
    assert any(p.status == "saturated" for p in cap.points if p.rate_rps > 1000)
    assert not any(p.passed for p in cap.points if p.rate_rps > 1000)


def test_search_from_an_overloaded_start_comes_down() -> None:
    loaded = load_scenario(SCENARIOS / "mm1.yaml")
    cap = search(loaded, "p99<=10ms", start_rps=4000, requests_per_point=3000, rel_tol=0.05)
    # p99 of M/M/1 = ln(100) / (mu - lambda): lambda* = 1000 - 460.5 = 539.5/s
    assert cap.points[-1].status == "saturated"  # 4000/s is past capacity
    assert cap.max_rate_rps == pytest.approx(539.5, rel=0.1)
    row = capacity_row(loaded, cap, target_rps=2 * cap.max_rate_rps)
    assert row["headroom_pct"] == pytest.approx((cap.max_rate_rps / 700 - 1) * 100)
    assert row["headroom_pct"] < 0  # 700/s already breaks a 10 ms p99
    assert row["nodes_for_target"] == 2  # twice the rate: twice the one node
    assert row["limited_by"] == "latency (p99)"


def test_fortio_max_qps_has_no_rate_to_search() -> None:
    loaded = load_scenario(SCENARIOS / "fortio-2pod.yaml", ["workload.generator.qps=null"])
    with pytest.raises(ScenarioError, match="qps"):
        search(loaded, "p99<=10ms")


def test_cli_writes_capacity_csv(tmp_path) -> None:
    out = tmp_path / "cap"
    proc = subprocess.run(
        [
            *meshsim_cmd(),
            "capacity",
            str(SCENARIOS / "mm1.yaml"),
            "--slo",
            "mean<=5ms",
            "--modes",
            "none",
            "--requests-per-point",
            "2000",
            "--tolerance",
            "0.1",
            "--quiet",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out / "capacity.csv")
    assert list(table["mode"]) == ["none"]
    assert table.loc[0, "max_rate_rps"] == pytest.approx(800, rel=0.15)
    assert "max_rate_rps" in proc.stdout
    bad = subprocess.run(
        [*meshsim_cmd(), "capacity", str(SCENARIOS / "mm1.yaml"), "--slo", "p99 under 5ms"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "--slo" in bad.stderr
