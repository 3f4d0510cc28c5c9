"""fortio's lockstep batch (``meshsim.lockstep``): exact on the bulk-arrival queues it must
reproduce, and wired into the analytic engine's latency and percentiles."""

from __future__ import annotations

import pytest
from conftest import SCENARIOS

from meshsim.analytic import Moments
from meshsim.analytic_results import quantiles, quantiles_in_batch, solve_result
from meshsim.loader import load_scenario
from meshsim.lockstep import Fanout, Release, Visit, batch_waits

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


def test_a_call_made_half_the_time_is_made_by_half_the_batch() -> None:
    """Downstream calls: a branch of probability 1/2 is dealt to exactly half the members
    (descriptive sampling), who queue at the callee's one server."""
    db = [Visit(core=0, cpu_s=S, hop="db")]
    call = [Fanout(((0.5, 1, 0),), caller=0, key=-64)]
    [(waits, _)] = _waits([call] * 8, [1], route=lambda edge, caller, spot: db)
    assert sorted(waits) == pytest.approx([0, 0, 0, 0, 0, S, 2 * S, 3 * S])


def test_parallel_branches_wait_for_the_longest_and_a_blocking_app_holds_its_worker() -> None:
    one = [Visit(core=0, cpu_s=S, hop="db")]
    both = [Fanout(((1.0, 1, 0), (1.0, 1, 0)), caller=0, key=-64)]
    [(waits, _)] = _waits([both], [1], route=lambda edge, caller, spot: one)
    assert waits == pytest.approx([S])  # the second branch queues behind the first
    # an app holding its one worker through a call of S: the next member waits 2 S
    app: list = [Visit(core=1, cpu_s=S, pool=2, keep=True, hop="app")]
    app += [Fanout(((1.0, 1, 0),), caller=0, key=-128), Release(2)]
    wire = [Visit(held_s=S)]
    [(waits, _)] = _waits([app] * 2, [1, 4, 1], route=lambda edge, caller, spot: wire)
    assert waits == pytest.approx([0.0, 2 * S])


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


def test_a_batch_queues_downstream_too() -> None:
    """quickstart under fortio in step: 16 requests at once reach the backends and the db."""
    path = SCENARIOS / "quickstart.yaml"
    fortio = "workload.generator={type: fortio, qps: 300, connections: 16}"
    in_step = solve_result(load_scenario(path, [fortio])).solution
    uniform = solve_result(
        load_scenario(path, [fortio[:-1] + ", uniform: true, jitter: true}"])
    ).solution
    assert in_step.hops["app"].wait.mean > 2 * uniform.hops["app"].wait.mean
    # the DES measures 14.0 ms (2 x 6 s, benchmarks/README.md); a smooth stream gives ~7 ms
    assert 12e-3 < in_step.latency.mean < 17e-3


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


def test_a_call_tree_too_large_to_trace_keeps_its_entry_call_traced(monkeypatch) -> None:
    """Past MAX_TRACE_VISITS only the entry call is traced; its callees' calls are delays."""
    from meshsim import analytic

    path = SCENARIOS / "quickstart.yaml"
    fortio = ["workload.generator={type: fortio, qps: 300, connections: 16}"]
    deep = solve_result(load_scenario(path, fortio)).solution
    monkeypatch.setattr(analytic, "MAX_TRACE_VISITS", 1)
    shallow = solve_result(load_scenario(path, fortio)).solution
    assert len(shallow.batch_waits_s) == len(deep.batch_waits_s)
    assert 0 < shallow.latency.mean < deep.latency.mean
