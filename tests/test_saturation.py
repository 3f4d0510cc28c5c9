"""A scenario that cannot keep up ends quickly and says where the bottleneck is."""

from __future__ import annotations

import time

from conftest import SCENARIOS

from meshsim.loader import load_scenario
from meshsim.simulate import simulate


def test_overloaded_server_is_reported_saturated_in_bounded_time() -> None:
    loaded = load_scenario(
        SCENARIOS / "mm1.yaml",
        [
            "workload.generator.rate_rps=1500",
            "workload.duration_s=3600",
            "sim.replications=1",
            "sim.max_in_flight=2000",
        ],
    )
    started = time.perf_counter()
    result = simulate(loaded)
    verdict = result.verdict()
    assert verdict["status"] == "saturated"
    assert verdict["bottleneck"] == "server-0.app"
    assert verdict["bottleneck_utilisation"] > 0.99
    rep = result.replications[0]
    assert rep.stop_reason == "saturated"
    # stopped long before the hour of simulated arrivals it was asked for
    assert rep.end_time_s < 60
    assert time.perf_counter() - started < 120


def test_saturated_sidecar_is_named_as_the_bottleneck() -> None:
    loaded = load_scenario(
        SCENARIOS / "fortio-2pod.yaml",
        [
            "workload.generator.qps=20000",
            "workload.generator.connections=64",
            "params.sidecar.workers=1",
            "sim.replications=1",
            "workload.duration_s=1.5",
        ],
    )
    verdict = simulate(loaded).verdict()
    assert verdict["status"] in {"qps_not_achieved", "saturated"}
    assert verdict["bottleneck"].endswith(".sidecar")


def test_light_load_is_ok() -> None:
    loaded = load_scenario(
        SCENARIOS / "mm1.yaml",
        ["workload.generator.rate_rps=100", "workload.duration_s=3", "sim.replications=1"],
    )
    assert simulate(loaded).verdict()["status"] == "ok"
