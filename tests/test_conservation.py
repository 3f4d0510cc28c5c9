"""Little's law and conservation of requests, on every shipped scenario and every mode."""

from __future__ import annotations

import pytest
from conftest import SCENARIOS

from meshsim.loader import load_scenario
from meshsim.scenario import MODES
from meshsim.simulate import run_replication

# fleet.yaml is beyond the DES (its work limits refuse it): the analytic engine's tests cover it
SHIPPED = sorted(p.name for p in SCENARIOS.glob("*.yaml") if p.name != "fleet.yaml")


def _short(name: str, mode: str):
    overrides = [f"mesh.mode={mode}", "sim.replications=1"]
    loaded = load_scenario(SCENARIOS / name, overrides)
    if loaded.scenario.workload.duration_s is not None:
        loaded = loaded.with_changes("workload.duration_s=3", "workload.warmup_s=0.5")
    return run_replication(loaded, 0)


# meshsim refuses events (cve-rollout.yaml) in modes meshsim.operations does not model
CASES = [
    (mode, name)
    for mode in MODES
    for name in SHIPPED
    if not (mode in ("linkerd", "cilium") and "events:" in (SCENARIOS / name).read_text())
]


@pytest.mark.parametrize(("mode", "name"), CASES)
def test_every_request_is_accounted_for(name: str, mode: str) -> None:
    rep = _short(name, mode)
    c = rep.conservation
    assert c["arrived"] > 0
    assert c["arrived"] == c["completed"] + c["in_flight"]
    # The integral of requests in flight over time equals the sum of their times in system
    # (exact when every request has left; Little's law with no edge effects).
    if c["in_flight"] == 0:
        assert c["in_flight_integral_s"] == pytest.approx(c["latency_sum_s"], rel=1e-9)


@pytest.mark.parametrize("name", SHIPPED)
def test_littles_law_holds_in_the_measurement_window(name: str) -> None:
    rep = _short(name, "sidecar")
    law = rep.littles_law
    assert law["mean_in_flight"] > 0
    # L = lambda W over a finite window: only the requests straddling its edges differ.
    assert law["mean_in_flight"] == pytest.approx(law["rate_times_latency"], rel=0.05)
