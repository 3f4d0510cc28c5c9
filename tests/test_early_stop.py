"""Stopping a run once its objective is certainly missed: the rule is sound (a stopped run
fails as the whole run would), the bound on measured requests holds, and the engine stops only
runs that miss, leaving every other run bit for bit as it was."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from meshsim.engine import Engine
from meshsim.loader import load_scenario
from meshsim.recorder import OBJECTIVE_MISSED
from meshsim.simulate import simulate
from meshsim.slo import Slo
from meshsim.stats import Histogram

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
QUANTILE = {"p50": 50 / 100, "p90": 90 / 100, "p99": 99 / 100, "p999": 99.9 / 100}  # as results


def statistic_ms(hist: Histogram, statistic: str) -> list[float]:
    """The statistic as a Result reports it for one replication (p999: q = 99.9 / 100, just
    above 0.999, as ``Replication.latency_ms`` computes it), and with q written as 0.999."""
    if statistic == "mean":
        return [hist.mean() * 1e3]
    q = QUANTILE[statistic]
    return [v * 1e3 for v in hist.quantiles([q, round(q, 3)])]


def test_count_beyond_counts_values_above_the_bucket_of_the_value() -> None:
    values = np.random.default_rng(3).lognormal(-5, 1, 20_000)
    hist = Histogram()
    hist.record_array(values)
    for x in np.quantile(values, [0.1, 0.5, 0.9, 0.99]):
        beyond = hist.count_beyond(float(x))
        assert beyond <= int((values > x).sum())  # never a value at or below x
        assert beyond >= int((values > x * 1.011).sum())  # at most one bucket left out
    # values still in the buffer count the same as binned ones, and asking bins nothing
    buffered = Histogram()
    for v in values[:3000]:
        buffered.record(float(v))
    counts, total = buffered.counts.copy(), buffered.total
    asked = [buffered.count_beyond(float(x)) for x in values[:20]]
    assert np.array_equal(buffered.counts, counts) and buffered.total == total
    assert buffered.sum() == pytest.approx(float(values[:3000].sum()), rel=1e-12)
    buffered.count  # bins the buffer  # noqa: B018
    assert asked == [buffered.count_beyond(float(x)) for x in values[:20]]


@pytest.mark.parametrize("statistic", ["p50", "p90", "p99", "p999", "mean"])
def test_a_run_stopped_as_certainly_missed_fails_as_the_whole_run_would(statistic: str) -> None:
    """Random runs of 2,000 latencies, thresholds around the run's own statistic: at every
    check along the run, 'certainly missed' with the run's length as the bound implies the
    whole run's statistic misses. The rule must also fire, and before the end when the miss
    is wide."""
    rng = np.random.default_rng(11)
    fired = fired_early = 0
    for trial in range(150):
        values = rng.lognormal(math.log(0.005), rng.uniform(0.2, 1.5), 2_000)
        whole = Histogram()
        whole.record_array(values)
        final = statistic_ms(whole, statistic)
        threshold = final[0] * rng.uniform(0.5, 1.3)
        slo = Slo(statistic, strict=bool(trial % 2), threshold_ms=threshold)
        part = Histogram()
        for start in range(0, values.size, 50):
            part.record_array(values[start : start + 50])
            if slo.certainly_missed(part, most=values.size):
                assert not any(map(slo.met, final)), (trial, start, final, threshold)
                assert not any(map(slo.met, statistic_ms(part, statistic)))  # the part too
                fired += 1
                fired_early += start + 50 <= 0.9 * values.size
                break
    assert fired > 20 and fired_early > 5


def test_the_bound_on_measured_requests_holds() -> None:
    """Poisson arrivals (8 standard deviations) and fortio's paced connections."""
    for seed in range(1, 21):
        loaded = load_scenario(
            SCENARIOS / "mm1.yaml", [f"sim.seed={seed}", "workload.duration_s=3"]
        )
        engine = Engine(loaded)
        most = engine.most_measured()
        rec = engine.run()
        assert most is not None and rec.measured_arrived <= most
        assert most == pytest.approx(700 + 8 * math.sqrt(700) + 1)  # the window's mean + 8 sd
    fortio = load_scenario(SCENARIOS / "fortio-2pod.yaml", ["workload.duration_s=1.5"])
    engine = Engine(fortio)
    most = engine.most_measured()
    assert most is not None and engine.run().measured_arrived <= most


def test_the_engine_stops_a_run_that_misses_and_no_other() -> None:
    slo = Slo.parse("mean<=5ms")
    busy = load_scenario(SCENARIOS / "mm1.yaml", ["workload.generator.rate_rps=900"])
    whole = simulate(busy, replications=1)
    stopped = simulate(busy, replications=1, objective=slo)
    rep = stopped.replications[0]
    assert rep.stop_reason == OBJECTIVE_MISSED
    assert rep.arrived < whole.replications[0].arrived / 2
    assert not slo.met(whole.latency()["ms"]["mean"])  # the whole run misses too
    assert not slo.met(stopped.latency()["ms"]["mean"])
    assert stopped.verdict()["reason"].startswith("stopped once")
    calm = load_scenario(SCENARIOS / "mm1.yaml", ["workload.generator.rate_rps=500"])
    plain, watched = (simulate(calm, 1, objective=o).replications[0] for o in (None, slo))
    assert watched.stop_reason == plain.stop_reason == "complete"
    assert np.array_equal(watched.latency.counts, plain.latency.counts)  # bit for bit
    assert watched.latency.sum() == plain.latency.sum()
