"""The engine against queueing theory: M/M/1, M/M/c (Erlang C) and a Jackson tandem."""

from __future__ import annotations

import pytest
from conftest import SCENARIOS

from meshsim import theory
from meshsim.loader import load_scenario
from meshsim.simulate import simulate


def _pooled(path: str, *overrides: str):
    result = simulate(load_scenario(SCENARIOS / path, list(overrides)))
    pooled = result.pooled_latency()
    return result, pooled


@pytest.mark.slow
def test_mm1_mean_and_p99_match_theory() -> None:
    result, pooled = _pooled("mm1.yaml", "sim.replications=6")
    lam, mu = 700.0, 1000.0
    assert pooled.mean() == pytest.approx(theory.mm1_sojourn_mean(lam, mu), rel=0.02)
    (p99,) = pooled.quantiles([0.99])
    assert p99 == pytest.approx(theory.mm1_sojourn_quantile(lam, mu, 0.99), rel=0.05)
    busy = result.resources().set_index("component").loc["server-0.app", "utilisation"]
    assert busy == pytest.approx(lam / mu, rel=0.02)


@pytest.mark.slow
def test_mmc_mean_matches_erlang_c() -> None:
    _, pooled = _pooled("mmc.yaml")
    expected = theory.mmc_sojourn_mean(2100.0, 1000.0, 3)
    assert pooled.mean() == pytest.approx(expected, rel=0.02)


@pytest.mark.slow
def test_jackson_tandem_mean_is_sum_of_stations() -> None:
    _, pooled = _pooled("jackson-tandem.yaml")
    expected = theory.tandem_sojourn_mean(500.0, [1000.0, 1000.0 / 1.5, 1250.0])
    assert pooled.mean() == pytest.approx(expected, rel=0.02)


def test_erlang_c_known_value() -> None:
    # c = 2, a = 1: C = (a^2/2! * 1/(1 - a/2)) / (1 + a + a^2/2! /(1 - a/2)) = 1/3
    assert theory.erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert theory.mmc_sojourn_mean(0.5, 1.0, 1) == pytest.approx(theory.mm1_sojourn_mean(0.5, 1))


def test_theory_rejects_unstable_queue() -> None:
    with pytest.raises(ValueError):
        theory.mm1_sojourn_mean(2.0, 1.0)
