"""The hybrid capacity search: the DES-only answer within 5 % for fewer simulated requests,
the same answer every time and on worker processes, and where it places its DES runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshsim.capacity import _next_rate, capacity, search
from meshsim.loader import load_scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


@pytest.mark.parametrize(
    ("scenario", "slo"),
    [("mm1.yaml", "mean<=5ms"), ("mmc.yaml", "p99<=10ms"), ("jackson-tandem.yaml", "p99<=20ms")],
)
def test_hybrid_answer_is_the_des_answer_for_fewer_simulated_requests(
    scenario: str, slo: str
) -> None:
    loaded = load_scenario(SCENARIOS / scenario, ["mesh.mode=none"])
    des = search(loaded, slo, requests_per_point=2000, engine="des")
    hybrid = search(loaded, slo, requests_per_point=2000, engine="hybrid")
    assert des.max_rate_rps > 0 and hybrid.max_rate_rps > 0
    assert hybrid.max_rate_rps == pytest.approx(des.max_rate_rps, rel=0.05)
    # a counted quantity, not a time: the DES simulated fewer requests for the hybrid answer
    assert 0 < hybrid.simulated_requests < des.simulated_requests
    assert len(hybrid.points) < len(des.points)
    # the hybrid's answer is a DES pass with a DES fail within the tolerance above it
    assert hybrid.first_failing_rps is not None
    assert hybrid.first_failing_rps / hybrid.max_rate_rps - 1 <= 0.02 + 1e-9
    best = [p for p in hybrid.points if p.rate_rps == hybrid.max_rate_rps]
    assert best[0].passed and hybrid.best is not None


def test_hybrid_is_deterministic_and_the_same_on_worker_processes() -> None:
    loaded = load_scenario(SCENARIOS / "mm1.yaml")
    modes = ["none", "sidecar"]
    kwargs = {"requests_per_point": 1000, "rel_tol": 0.05, "engine": "hybrid"}
    _, here = capacity(loaded, "p99<=20ms", modes, **kwargs)
    _, again = capacity(loaded, "p99<=20ms", modes, **kwargs)
    _, spread = capacity(loaded, "p99<=20ms", modes, workers=2, **kwargs)
    for mode in modes:
        assert here[mode].points == again[mode].points == spread[mode].points  # bit for bit
        assert here[mode].simulated_requests == spread[mode].simulated_requests
        assert here[mode].max_rate_rps > 0


def test_next_rate_closes_the_bracket_when_the_prediction_holds() -> None:
    tol = 0.02
    # nothing passed or failed yet: just below the prediction, so that a pass is expected
    assert _next_rate(None, 1000.0, 900.0, tol, 1) == pytest.approx(900 / 1.02**0.5)
    # a pass at 1000 and the answer predicted just above: one tolerance above closes it
    assert _next_rate(1000.0, None, 1005.0, tol, 1) == pytest.approx(1020)
    # predicted further up: just above the prediction, so that a fail is expected
    assert _next_rate(1000.0, None, 1100.0, tol, 1) == pytest.approx(1100 * 1.02**0.5)
    # the prediction keeps falling short: the step doubles with every pass, up to twice
    assert _next_rate(1000.0, None, 1000.0, tol, 3) == pytest.approx(1000 * 1.02**4)
    assert _next_rate(1000.0, None, 5000.0, tol, 1) == 2000
    # inside a bracket: next to an end when the prediction is within a tolerance of it ...
    assert _next_rate(1000.0, 1100.0, 1010.0, tol, 1) == pytest.approx(1020)
    assert _next_rate(1000.0, 1100.0, 1090.0, tol, 1) == pytest.approx(1100 / 1.02)
    # ... else at the prediction, kept off the ends
    assert _next_rate(1000.0, 1100.0, 1050.0, tol, 1) == pytest.approx(1050)
    assert _next_rate(1000.0, 2000.0, 1030.0, tol, 1) == pytest.approx(1000 * 2**0.1)
    # a bracket within two tolerances: one run closes it, whether it passes or fails
    rate = _next_rate(1000.0, 1030.0, 1012.0, tol, 1)
    assert 1030 / 1.02 <= rate <= 1020 and rate == pytest.approx(1012)
