"""fortio's lockstep batch (``meshsim.lockstep``): exact on the bulk-arrival queues it must
reproduce, and wired into the analytic engine's latency and percentiles."""

from __future__ import annotations

import pytest
from conftest import SCENARIOS

from meshsim.analytic import Moments
from meshsim.analytic_results import quantiles, quantiles_in_batch, solve_result
from meshsim.loader import load_scenario
from meshsim.lockstep import Visit, batch_waits

S = 1e-4  # one service time, seconds


def _waits(paths, servers, period=0.0, **kw):
    return batch_waits(paths, servers, period, **kw)


@pytest.mark.parametrize(("batch", "servers"), [(16, 1), (16, 2), (16, 4), (7, 3)])
def test_the_kth_of_a_batch_waits_floor_k_over_c_services(batch: int, servers: int) -> None:
    """D^B/D/c: the k-th of B simultaneous arrivals waits floor(k / c) service times."""
    path = [Visit(core=0, cpu_s=S, hop="h")]
    [(waits, _)] = _waits([path] * batch, [servers])
    assert waits == pytest.approx([(k // servers) * S for k in range(batch)])


def test_a_station_as_fast_as_the_batch_leaves_the_last_adds_no_wait() -> None:
    """Tandem: after a c-server station the batch leaves c at a time, S apart; an equal
    station behind it serves each group as it arrives."""
    path = [Visit(core=0, cpu_s=S, hop="first"), Visit(core=1, cpu_s=S, hop="second")]
    [(waits, hops)] = _waits([path] * 8, [2, 2])
    assert waits == pytest.approx([(k // 2) * S for k in range(8)])
    assert all("second" not in h for h in hops)


def test_telemetry_keeps_the_worker_and_the_next_member_waits_for_it() -> None:
    """A proxy's work after the response holds its one worker (the DES's order)."""
    path = [Visit(core=0, cpu_s=S, pool=1, after_s=2 * S, hop="proxy")]
    [(waits, _)] = _waits([path] * 3, [8, 1])
    assert waits == pytest.approx([0.0, 3 * S, 6 * S])


def test_a_random_step_spreads_the_batch_and_shortens_its_queue() -> None:
    """Wire delays drawn from their quantiles spread the batch before a queue."""
    station = Visit(core=0, cpu_s=S, hop="h")
    fixed = [Visit(held_s=S), station]
    spread = [Visit(draws=tuple(S * (0.2 + 0.2 * i) for i in range(8)), key=1), station]
    [(w_fixed, _)] = _waits([fixed] * 8, [1])
    [(w_spread, _)] = _waits([spread] * 8, [1])
    assert sum(w_spread) < sum(w_fixed)


def test_overlapping_batches_queue_behind_each_other() -> None:
    path = [Visit(core=0, cpu_s=S, hop="h")]
    [(alone, _)] = _waits([path] * 4, [1], period=10 * S)  # the batch ends at 4 S
    [(overlap, _)] = _waits([path] * 4, [1], period=2 * S)  # the next comes at 2 S
    assert alone == pytest.approx([0, S, 2 * S, 3 * S])
    assert sum(overlap) > sum(alone)
    slow = [Visit(core=0, cpu_s=10 * S, hop="h")]
    after = _waits([path] * 4, [1], period=2 * S, first=[slow] + [path] * 3)
    assert len(after) > 1  # the slow batch and the clean ones it delays


def test_percentiles_are_the_mixture_over_places_in_the_batch() -> None:
    rest = Moments(1e-3, 1e-6 + (1e-4) ** 2)  # mean 1 ms, sd 0.1 ms
    assert quantiles_in_batch(rest, (), (), [0.5, 0.99]) == quantiles(rest, [0.5, 0.99])
    # half the batch waits nothing and half 1 ms: the median lies between the two groups
    mean, var = rest.mean + 0.5e-3, rest.variance + 0.25e-6  # waits: mean 0.5, sd 0.5 ms
    m = Moments(mean, var + mean * mean)
    p25, p50, p75 = quantiles_in_batch(m, (0.0, 1e-3), (0.5, 0.5), [0.25, 0.5, 0.75])
    assert p25 == pytest.approx(quantiles(rest, [0.5])[0], rel=0.05)
    assert 1.1e-3 < p50 < 1.9e-3
    assert p75 == pytest.approx(quantiles(rest, [0.5])[0] + 1e-3, rel=0.05)


def test_fortio_in_step_waits_in_its_batch_and_uniform_does_not() -> None:
    path = SCENARIOS / "fortio-2pod.yaml"
    in_step = solve_result(load_scenario(path, ["mesh.mode=sidecar"])).solution
    uniform = solve_result(
        load_scenario(path, ["mesh.mode=sidecar", "workload.generator.uniform=true"])
    ).solution
    assert len(in_step.batch_waits_s) >= 16
    assert sum(in_step.batch_chances) == pytest.approx(1.0)
    assert uniform.batch_waits_s == ()
    # 16 requests through 2-worker sidecars, each visited twice: the DES measures about
    # 0.8 ms of queueing per request (benchmarks/README.md); spread out, nearly none
    extra = in_step.latency.mean - uniform.latency.mean
    assert 0.5e-3 < extra < 1.2e-3
    assert in_step.hops["sidecar_out"].wait.mean > 0.1e-3
