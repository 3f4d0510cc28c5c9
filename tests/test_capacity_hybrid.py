"""The hybrid capacity search: the DES-only answer (the same rates, the same crossing) for
fewer simulated requests, the same answer every time and on worker processes, and the DES-only
search's answer still when the analytic engine is far off."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from meshsim.capacity import TOLERANCE, capacity, search
from meshsim.loader import load_scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
SEARCH = importlib.import_module("meshsim.capacity")  # the module; meshsim.capacity is the api's


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
    assert des.max_rate_rps > 0
    # the same search: its rates and answer, each DES run bit for bit the DES-only one
    assert (hybrid.max_rate_rps, hybrid.first_failing_rps) == (
        des.max_rate_rps,
        des.first_failing_rps,
    )
    assert set(hybrid.points) < set(des.points)
    # a counted quantity, not a time: the DES simulated fewer requests for the hybrid answer
    assert 0 < hybrid.simulated_requests < des.simulated_requests
    assert len(hybrid.points) < len(des.points)
    # the hybrid's answer is a DES pass with a DES fail within the tolerance above it
    assert hybrid.first_failing_rps is not None
    assert hybrid.first_failing_rps / hybrid.max_rate_rps - 1 <= TOLERANCE + 1e-9
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


def test_a_misleading_analytic_engine_costs_runs_not_the_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An analytic engine 2.5 times too pessimistic: the fails it lends (at 1.6 times its
    answer) are passes in the DES; the DES's confirmation of the bracket's ends catches it and
    the DES-only search runs on to the DES-only answer."""
    real = SEARCH.evaluate

    def pessimistic(loaded, rate, slo, replications, requests_per_point, engine, stop_early):  # type: ignore[no-untyped-def]
        rate = rate * 2.5 if engine == "analytic" else rate
        return real(loaded, rate, slo, replications, requests_per_point, engine, stop_early)

    loaded = load_scenario(SCENARIOS / "mm1.yaml", ["mesh.mode=none"])
    des = search(loaded, "mean<=5ms", requests_per_point=1000, engine="des")
    monkeypatch.setattr(SEARCH, "evaluate", pessimistic)
    hybrid = search(loaded, "mean<=5ms", requests_per_point=1000, engine="hybrid")
    assert hybrid.analytic_rps is not None and hybrid.analytic_rps < des.max_rate_rps / 2
    assert (hybrid.max_rate_rps, hybrid.first_failing_rps) == (
        des.max_rate_rps,
        des.first_failing_rps,
    )
    # it had to run rates the DES-only search never did: the ones a lent fail misplaced
    assert not set(hybrid.points) <= set(des.points)


def test_hybrid_answers_per_seed_are_the_des_only_ones() -> None:
    loaded = load_scenario(SCENARIOS / "mm1.yaml")
    kwargs = {"requests_per_point": 1000, "seeds": 2}
    des, des_caps = capacity(loaded, "mean<=5ms", ["none"], engine="des", **kwargs)
    hybrid, hybrid_caps = capacity(loaded, "mean<=5ms", ["none"], engine="hybrid", **kwargs)
    assert hybrid["max_rate_seeds_rps"][0] == des["max_rate_seeds_rps"][0]
    assert len(set(des["max_rate_seeds_rps"][0].split())) == 2  # the seeds differ
    assert len(hybrid_caps["none"].points) < len(des_caps["none"].points)


@pytest.mark.parametrize(
    ("scenario", "slo"), [("mm1.yaml", "p99<=20ms"), ("jackson-tandem.yaml", "mean<=6ms")]
)
def test_early_stops_keep_every_verdict_for_fewer_requests(scenario: str, slo: str) -> None:
    """Runs stopped once they certainly miss (``Slo.certainly_missed``): the same rates, the
    same verdicts and answer as runs to the end, every passing run bit for bit."""
    loaded = load_scenario(SCENARIOS / scenario, ["mesh.mode=none"])
    whole = search(loaded, slo, requests_per_point=2000, rel_tol=0.02, stop_early=False)
    early = search(loaded, slo, requests_per_point=2000, rel_tol=0.02)
    assert [(p.rate_rps, p.passed) for p in early.points] == [
        (p.rate_rps, p.passed) for p in whole.points
    ]
    assert [p for p in early.points if p.passed] == [p for p in whole.points if p.passed]
    assert any(p.stopped_early for p in early.points)
    assert not any(p.stopped_early for p in whole.points)
    assert early.simulated_requests < whole.simulated_requests


def test_a_coarser_tolerance_answers_within_it_below_a_finer_one() -> None:
    """Bisection nests: the answer to 5 % lies within 5 % below the answer to 2 %, and the
    hybrid to 5 % against the DES-only search to 2 % (the command before the default changed)."""
    loaded = load_scenario(SCENARIOS / "jackson-tandem.yaml", ["mesh.mode=none"])
    fine = search(loaded, "p99<=20ms", rel_tol=0.02, engine="des")
    coarse = search(loaded, "p99<=20ms", engine="hybrid")
    assert fine.max_rate_rps / (1 + TOLERANCE) <= coarse.max_rate_rps <= fine.max_rate_rps
    assert coarse.first_failing_rps is not None and fine.first_failing_rps is not None
    assert coarse.first_failing_rps >= fine.first_failing_rps
