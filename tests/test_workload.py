"""Load generators: fortio's closed-loop pacing, open loops, and distributions."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SCENARIOS
from pydantic import TypeAdapter

from meshsim.distributions import Distribution
from meshsim.loader import load_scenario
from meshsim.simulate import simulate


def _fortio(*overrides: str):
    loaded = load_scenario(
        SCENARIOS / "fortio-2pod.yaml", ["sim.replications=1", "workload.duration_s=2", *overrides]
    )
    return simulate(loaded)


def test_fast_server_achieves_requested_qps() -> None:
    result = _fortio()
    assert result.replications[0].throughput_rps == pytest.approx(1000, rel=0.02)
    assert result.verdict()["status"] == "ok"


def test_slow_server_cannot_keep_up_in_a_closed_loop() -> None:
    # one connection, 3 ms per request: at most ~330 of 1000 qps (coordinated omission)
    result = _fortio("workload.generator.connections=1", "services.fortioserver.service_time=3")
    achieved = result.replications[0].throughput_rps
    assert 250 < achieved < 340
    assert result.verdict()["status"] == "qps_not_achieved"


def test_latency_rises_with_connections_at_fixed_qps() -> None:
    # synchronised starts: all connections fire together, so requests queue at the proxies
    p50 = {
        c: _fortio("mesh.mode=sidecar", f"workload.generator.connections={c}")
        .latency()
        .loc["p50", "ms"]
        for c in (1, 64)
    }
    assert p50[64] > p50[1]


def test_uniform_start_spreads_bursts() -> None:
    burst = _fortio("workload.generator.connections=64").latency().loc["p99", "ms"]
    spread = (
        _fortio("workload.generator.connections=64", "workload.generator.uniform=true")
        .latency()
        .loc["p99", "ms"]
    )
    assert spread < burst


def test_nocatchup_skips_late_slots() -> None:
    slow = [
        "workload.generator.connections=4",
        "services.fortioserver.service_time={type: exponential, mean_ms: 3.5}",
    ]
    catchup = _fortio(*slow).replications[0].throughput_rps
    skip = _fortio(*slow, "workload.generator.catchup=false").replications[0].throughput_rps
    assert skip < catchup


def test_request_count_mode_sends_exactly_that_many() -> None:
    loaded = load_scenario(
        SCENARIOS / "fortio-2pod.yaml",
        [
            "sim.replications=1",
            "workload.duration_s=null",
            "workload.requests=1001",
            "workload.warmup_s=0",
        ],
    )
    assert simulate(loaded).replications[0].arrived == 1001


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "constant", "value_ms": 2.0},
        {"type": "exponential", "mean_ms": 2.0},
        {"type": "lognormal", "mean_ms": 2.0, "cv": 1.5},
        {"type": "empirical", "edges_ms": [0, 1, 2, 5], "counts": [10, 30, 5]},
    ],
)
def test_distributions_sample_their_declared_moments(spec) -> None:
    dist = TypeAdapter(Distribution).validate_python(spec)
    x = dist.draw()(np.random.default_rng(0), 400_000)
    assert x.mean() == pytest.approx(dist.mean_s, rel=0.02)
    assert x.var() == pytest.approx(dist.variance_s2, rel=0.1, abs=1e-12)


def test_wakeup_latency_makes_light_load_slower_than_moderate_load() -> None:
    # measured on real machines (real_bench/results): p50 falls as the rate rises, because a
    # process idle for long pays a wake-up; one that is kept busy does not
    def p50(qps: int) -> float:
        loaded = load_scenario(
            SCENARIOS / "calibration" / "real-bench-local.yaml",
            [
                "mesh.mode=none",
                f"workload.generator.qps={qps}",
                "cluster.wakeup_latency_us=60",
                "cluster.idle_after_us=1000",
            ],
        )
        return simulate(loaded).latency().loc["p50", "ms"]

    assert p50(250) - p50(3000) == pytest.approx(0.060, abs=0.01)
