"""The analytic engine against the DES: every shipped scenario, every mode.

The target (issue 12) at utilisation <= 0.8: mean and p50 within 5 %, p90 within 10 %, p99
within 20 %. Each scenario asserts the target where the analytic engine meets it, and the
bound it achieves where it does not, with the cause; benchmarks/README.md records the errors
against the scenarios' full-length DES runs. The DES runs here are shortened (2
replications, a few thousand requests) and seeded, so the errors are reproducible.
"""

from __future__ import annotations

import pytest
from conftest import SCENARIOS

from meshsim.analytic_results import solve_result
from meshsim.loader import load_scenario
from meshsim.scenario import MODES
from meshsim.simulate import simulate

TARGET = {"mean": 5.0, "p50": 5.0, "p90": 10.0, "p99": 20.0}  # percent

# Seconds of simulated load per replication (a few thousand requests each).
DURATION_S = {
    "mm1.yaml": 12,
    "mmc.yaml": 4,
    "jackson-tandem.yaml": 16,
    "quickstart.yaml": 15,
    # linkerd's p99 rests on the ~1 % of requests queued behind a new connection's handshake
    # at a one-worker proxy: the DES needs ~70,000 requests to place it (at 2 x 10 s it was
    # 22.6 % above the analytic p99, at 2 x 40 s 1.3 %)
    "fortio-2pod.yaml": 40,
    "seed-claims.yaml": 20,
    "four-meshes.yaml": 4,
}
# The analytic engine solves steady state; a scenario with events needs the DES (it refuses).
NOT_STEADY = {"cve-rollout.yaml"}

# Where the target is missed, the bound achieved (percent) and why: nowhere. (fortio-2pod,
# whose connections send in lockstep batches, meets the target since the batch is traced:
# meshsim/lockstep.py; its worst errors here are linkerd's p50 +4.1 % and waypoint's p99
# +6.0 %. seed-claims in linkerd mode meets it since a connection opening is an atom of the
# latency's distribution rather than spread into its variance (``Network._openings``): p90
# +13.6 % before, +2.5 % after.)
MISSES: dict[str, dict[str, float]] = {}


def errors(name: str, mode: str) -> tuple[dict[str, float], float]:
    """Percent error of the analytic mean, p50, p90 and p99 against a short DES run, and the
    busiest station's utilisation."""
    overrides = [
        f"mesh.mode={mode}",
        "sim.replications=2",
        f"workload.duration_s={DURATION_S[name]}",
    ]
    loaded = load_scenario(SCENARIOS / name, overrides)
    des = simulate(loaded).latency()["ms"]
    analytic = solve_result(loaded)
    ana = analytic.latency()["ms"]
    err = {k: 100 * (float(ana[k]) / float(des[k]) - 1) for k in TARGET}
    return err, float(analytic.verdict()["bottleneck_utilisation"])


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(DURATION_S))
def test_analytic_within_target_of_the_des(name: str, mode: str) -> None:
    err, rho = errors(name, mode)
    assert rho <= 0.8
    bound = {**TARGET, **MISSES.get(name, {})}
    for key, value in err.items():
        assert abs(value) <= bound[key], f"{name} {mode} {key}: {value:+.1f} %"


def test_every_shipped_scenario_is_validated() -> None:
    shipped = {p.name for p in SCENARIOS.glob("*.yaml")} - {"fleet.yaml"} - NOT_STEADY
    assert shipped == set(DURATION_S)


if __name__ == "__main__":  # print the errors (to set the bounds above)
    for name in sorted(DURATION_S):
        for mode in MODES:
            e, r = errors(name, mode)
            print(name, mode, f"rho {r:.2f}", " ".join(f"{k} {v:+.1f}" for k, v in e.items()))
