"""The highest entry rate a mode carries within a latency objective, and what that costs.

The search brackets the answer by doubling or halving the entry rate from the workload's own,
then bisects. ``engine="des"`` runs every rate of that search with the DES; with
``engine="hybrid"`` (the command line's default) the analytic engine (``meshsim.analytic``)
solves the search in milliseconds, and the DES then runs the same search's rates except those
far from the analytic answer, whose verdict the analytic engine gives (``_replay``): the same
answer as ``engine="des"`` for fewer DES runs. ``engine="analytic"`` stops after the analytic
search. Either way the answer is a DES (or analytic) rate that passed, with one that failed
within the tolerance above it.

A point passes when the run is not saturated (``Result.verdict()``) and the objective's
statistic (mean over replications) meets the threshold. Runs are kept short: a fixed number of
requests per point, one replication by default, a cap on requests in flight that stops an
overloaded run early instead of simulating an ever-growing queue, and a run stops as soon as
its objective is certainly missed (``Slo.certainly_missed``: the verdict the whole run would
give, for fewer requests). With the same seed at every point (common random numbers) nearby
rates see the same arrivals and service times, though a 2,000-request run's p99 still moves by
a few percent from one rate to the next, and by about 9 % between seeds (quickstart near
capacity): the answer is no more precise than that, hence the default tolerance of 5 %.

Searches are independent (one a mode and seed); with ``workers`` each runs in a thread and its
DES runs go to worker processes shared by every search, so the cores stay busy until the last
search ends, with the answers of one process.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from meshsim.cost import estimate, workload_rate_rps
from meshsim.errors import ScenarioError
from meshsim.loader import LoadedScenario
from meshsim.progress import Progress
from meshsim.recorder import OBJECTIVE_MISSED
from meshsim.results import Result
from meshsim.scenario import MODES, Fortio
from meshsim.simulate import simulate
from meshsim.slo import Slo
from meshsim.stats import confidence_interval

# The analytic verdict stands in for the DES's below TRUST_PASS and above TRUST_FAIL times
# the analytic answer: the DES-only answer was 0.90 to 1.37 times the analytic one on
# quickstart (6 modes, seeds 42-45) and 0.96 to 1.09 on four-meshes (benchmarks/README.md).
TRUST_PASS, TRUST_FAIL = 0.8, 1.6
# The search bisects until its bracket is within 5 % of the rate: a 2,000-request run's answer
# moves by 3.5-10 % between seeds (quickstart, benchmarks/README.md), so a finer bracket only
# places one noisy crossing more finely. Bisection nests, so the answer to 5 % lies within 5 %
# below the answer to any finer tolerance, which stays an option (--tolerance).
TOLERANCE = 0.05


@dataclass(frozen=True)
class Point:
    """One simulated rate in the search."""

    rate_rps: float
    value_ms: float  # the SLO statistic
    p50_ms: float
    p99_ms: float
    status: str  # Result.verdict()['status']
    bottleneck: str
    passed: bool
    stopped_early: bool = False  # a DES run stopped once it certainly missed the objective


@dataclass
class Capacity:
    """The answer for one mode: the highest passing rate and every point tried."""

    mode: str
    slo: Slo
    max_rate_rps: float  # 0 when even the lowest rate tried fails
    first_failing_rps: float | None
    points: list[Point] = field(default_factory=list)
    best: Result | None = None  # the run at max_rate_rps
    analytic_rps: float | None = None  # the analytic engine's answer (hybrid search)
    simulated_requests: int = 0  # requests the DES simulated, warm-up and pilot included

    @property
    def bottleneck(self) -> str:
        """The busiest component at the first failing rate (where the limit bites)."""
        failing = [p for p in self.points if p.rate_rps == self.first_failing_rps]
        return failing[0].bottleneck if failing else ""

    @property
    def limited_by(self) -> str:
        failing = [p for p in self.points if p.rate_rps == self.first_failing_rps]
        if not failing:
            return "not reached"
        return failing[0].status if failing[0].status != "ok" else f"latency ({self.slo.statistic})"


def rate_field(loaded: LoadedScenario) -> str:
    """The ``--set`` path of the entry rate; fortio's must be a number, not 'max'."""
    gen = loaded.scenario.workload.generator
    if isinstance(gen, Fortio):
        if gen.qps is None:
            raise ScenarioError(
                "capacity needs a target rate: the fortio generator has qps: null (max)",
                loaded.source,
                field="workload.generator.qps",
            )
        return "workload.generator.qps"
    return "workload.generator.rate_rps"


def short_run(
    loaded: LoadedScenario, rate_rps: float, slo: Slo, requests_per_point: int
) -> LoadedScenario:
    """The scenario at ``rate_rps``, shortened to about ``requests_per_point`` requests.

    A fortio connection needs a few hundred requests of its own, or the edges of the window
    make the achieved rate look short of the rate asked for.
    """
    gen = loaded.scenario.workload.generator
    if isinstance(gen, Fortio):
        requests_per_point = max(requests_per_point, 250 * gen.connections)
    duration = max(0.2, requests_per_point / rate_rps)
    warmup = min(loaded.scenario.workload.warmup_s, duration / 5)
    cap = max(200, int(8 * rate_rps * slo.threshold_ms / 1e3) + 100)
    drain = min(loaded.scenario.sim.drain_timeout_s, max(1.0, 100 * slo.threshold_ms / 1e3))
    rate_key = rate_field(loaded).rsplit(".", 1)[1]
    return loaded.replace(
        workload={
            "generator": {rate_key: rate_rps},
            "duration_s": duration + warmup,
            "requests": None,
            "warmup_s": warmup,
        },
        sim={
            "max_in_flight": min(cap, loaded.scenario.sim.max_in_flight),
            "drain_timeout_s": drain,
        },
    )


def evaluate(
    loaded: LoadedScenario,
    rate_rps: float,
    slo: Slo,
    replications: int = 1,
    requests_per_point: int = 2000,
    engine: str = "des",
    stop_early: bool = True,
) -> tuple[Point, Result]:
    """The point at ``rate_rps``. With ``stop_early`` a single-replication DES run stops as
    soon as it certainly misses the objective (``Slo.certainly_missed``): the same verdict
    as the whole run, for fewer simulated requests; its statistic is the part run's."""
    short = short_run(loaded, rate_rps, slo, requests_per_point)
    objective = slo if stop_early and replications == 1 else None
    result = simulate(short, replications, engine=engine, objective=objective)
    verdict = result.verdict()
    lat = result.latency()["ms"]
    value = float(lat[slo.statistic])
    ok = verdict["status"] == "ok"
    point = Point(
        rate_rps=rate_rps,
        value_ms=value,
        p50_ms=float(lat["p50"]),
        p99_ms=float(lat["p99"]),
        status=verdict["status"],
        bottleneck=str(verdict["bottleneck"]),
        passed=ok and slo.met(value),
        stopped_early=any(r.stop_reason == OBJECTIVE_MISSED for r in result.replications),
    )
    return point, result


class _Runs:
    """The rates one search has run with one engine and their points: the one place a search
    simulates (or solves) a rate, reports it and counts the requests the DES simulated."""

    def __init__(
        self,
        loaded: LoadedScenario,
        slo: Slo,
        engine: str,
        replications: int = 1,
        requests_per_point: int = 2000,
        progress: Progress | None = None,
        stop_early: bool = True,
        runner: Executor | None = None,
    ) -> None:
        self.loaded, self.slo, self.engine = loaded, slo, engine
        self.replications, self.requests_per_point = replications, requests_per_point
        self.stop_early = stop_early
        self.runner = runner if engine == "des" else None  # worker processes for DES runs
        self.progress = progress
        self.points: dict[float, Point] = {}
        self.results: dict[float, Result] = {}
        self.simulated_requests = 0

    def __call__(self, rate: float) -> Point:
        """The point at ``rate``, run the first time it is asked for."""
        if rate in self.points:
            return self.points[rate]
        how = (self.replications, self.requests_per_point, self.engine, self.stop_early)
        if self.runner is None:
            point, result = evaluate(self.loaded, rate, self.slo, *how)
        else:
            point, result = self.runner.submit(evaluate, self.loaded, rate, self.slo, *how).result()
        if self.engine == "des":
            self.simulated_requests += sum(r.arrived for r in result.replications)
        self.points[rate], self.results[rate] = point, result
        if self.progress:
            mark = "pass" if point.passed else f"fail ({point.status})"
            self.progress(
                f"{self.loaded.scenario.mesh.mode}: {rate:,.1f} rps -> {self.slo.statistic} "
                f"{point.value_ms:.3f} ms, {mark} ({self.engine})"
            )
        return point

    def bracket(self) -> tuple[float | None, float | None]:
        """The highest passing rate and the lowest failing rate above it."""
        passing = [rate for rate, p in self.points.items() if p.passed]
        lo = max(passing) if passing else None
        failing = [rate for rate, p in self.points.items() if not p.passed and rate > (lo or 0)]
        return lo, min(failing) if failing else None

    def answer(self, analytic_rps: float | None = None) -> Capacity:
        lo, hi = self.bracket()
        return Capacity(
            mode=self.loaded.scenario.mesh.mode,
            slo=self.slo,
            max_rate_rps=lo or 0.0,
            first_failing_rps=hi,
            points=sorted(self.points.values(), key=lambda p: p.rate_rps),
            best=self.results.get(lo) if lo else None,
            analytic_rps=analytic_rps,
            simulated_requests=self.simulated_requests,
        )


def search(
    loaded: LoadedScenario,
    slo: Slo | str,
    *,
    replications: int = 1,
    requests_per_point: int = 2000,
    rel_tol: float = TOLERANCE,
    max_runs: int = 24,
    start_rps: float | None = None,
    progress: Progress | None = None,
    engine: str = "des",
    stop_early: bool = True,
    runner: Executor | None = None,
) -> Capacity:
    """Highest entry rate meeting ``slo`` in the scenario's own mode, within ``rel_tol``;
    ``stop_early=False`` runs every DES point to its end (the same verdicts, more requests);
    a ``runner`` (worker processes) runs the DES points, and this thread waits for them."""
    slo = Slo.parse(slo) if isinstance(slo, str) else slo
    rate_field(loaded)
    start = start_rps or workload_rate_rps(loaded.scenario) or 100.0
    runs = _Runs(
        loaded,
        slo,
        "analytic" if engine == "analytic" else "des",
        replications,
        requests_per_point,
        progress,
        stop_early,
        runner,
    )
    if engine == "hybrid":
        how = (loaded, slo, start, rel_tol)
        solved, analytic = (
            _analytic(*how) if runner is None else runner.submit(_analytic, *how).result()
        )
        if analytic is not None:  # else it fails everywhere
            model = _Runs(loaded, slo, "analytic")
            model.points.update(solved)
            return _replay(runs, model, analytic, start, rel_tol, max_runs)
    _path(lambda rate: runs(rate).passed, lambda: len(runs.points) < max_runs, start, rel_tol)
    return runs.answer()


def _path(
    passes: Callable[[float], bool], may_run: Callable[[], bool], start: float, rel_tol: float
) -> tuple[float | None, float | None]:
    """The DES-only search's rule: bracket from ``start``, then bisect to ``rel_tol``."""
    lo, hi = _bracket(passes, start, may_run)
    if lo is not None and hi is not None:
        lo, hi = _bisect(lo, hi, passes, may_run, rel_tol)
    return lo, hi


def _analytic(
    loaded: LoadedScenario, slo: Slo, start: float, rel_tol: float
) -> tuple[dict[float, Point], float | None]:
    """The analytic engine's points and answer (None when it fails at every rate tried): the
    hybrid's first step, in a worker process when the DES runs are in worker processes."""
    model = _Runs(loaded, slo, "analytic")
    if None in _bracket(lambda r: model(r).passed, start, lambda: len(model.points) < 60):
        return model.points, None
    return model.points, _reach(model, slo.threshold_ms, rel_tol / 4)


def _replay(
    des: _Runs, model: _Runs, analytic: float, start: float, rel_tol: float, max_runs: int
) -> Capacity:
    """The DES-only search's rates and answer, the analytic verdict standing in for the DES
    far from the analytic answer, then the DES confirming the bracket's ends.

    Near capacity a 2,000-request run's statistic is not monotone in the rate (quickstart
    sidecar, seed 42: p99 19.32 ms at 900 rps, 21.79 at 905, 19.30 at 937.5), so several
    rates cross the objective, and a search placing its runs elsewhere lands on another
    crossing (a bracket closed from below tends to the lowest). Following the DES-only
    search's rates gives its crossing. Far below the analytic answer (``TRUST_PASS``; the
    engine is conservative) a pass, far above it (``TRUST_FAIL``) a fail is taken from the
    analytic engine; every other rate is run, so the answer is the DES-only one while the lent
    verdicts hold. It is a DES pass with a DES fail within ``rel_tol`` above it; should a lent
    verdict be contradicted there, the DES-only search runs on (reusing the runs so far)."""
    if des.progress:
        des.progress(f"{des.loaded.scenario.mesh.mode}: analytic capacity {analytic:,.1f} rps")
    tried: set[float] = set()

    def passes(rate: float) -> bool:
        tried.add(rate)
        if rate not in des.points:
            if rate <= TRUST_PASS * analytic and model(rate).passed:
                return True
            if rate >= TRUST_FAIL * analytic and not model(rate).passed:
                return False
        return des(rate).passed

    lo, hi = _path(passes, lambda: len(tried) < max_runs, start, rel_tol)
    if any(rate is not None and des(rate).passed != (rate == lo) for rate in (lo, hi)):
        _path(lambda rate: des(rate).passed, lambda: len(des.points) < max_runs, start, rel_tol)
    return des.answer(analytic_rps=analytic)


def _bracket(
    passes: Callable[[float], bool], start: float, may_run: Callable[[], bool]
) -> tuple[float | None, float | None]:
    """A passing and a failing rate, doubling up from ``start`` or halving down from it."""
    if passes(start):
        lo, rate = start, start * 2
        while may_run() and rate < 1e7:
            if not passes(rate):
                return lo, rate
            lo, rate = rate, rate * 2
        return lo, None
    hi, rate = start, start / 2
    while may_run() and rate > start / 1024:
        if passes(rate):
            return rate, hi
        hi, rate = rate, rate / 2
    return None, hi


def _bisect(
    lo: float,
    hi: float,
    passes: Callable[[float], bool],
    may_run: Callable[[], bool],
    rel_tol: float,
) -> tuple[float, float]:
    """Halve the bracket (``lo`` passes, ``hi`` fails) until it is within ``rel_tol``."""
    while may_run() and hi / lo - 1 > rel_tol:
        mid = (lo + hi) / 2
        if passes(mid):
            lo = mid
        else:
            hi = mid
    return lo, hi


def _reach(model: _Runs, value_ms: float, rel_tol: float) -> float:
    """The rate at which the analytic statistic reaches ``value_ms``: it rises with the rate,
    so Brent's method between the solved rates around it, saturated rates counting as high."""
    from scipy.optimize import brentq

    def excess(rate: float) -> float:
        point = model(rate)
        ok = point.status == "ok" and 0 < point.value_ms < math.inf
        return math.log(point.value_ms / value_ms) if ok else 50.0

    for _ in range(60):  # a rate below and one above it, doubling or halving (bounded)
        curve = sorted(model.points)
        below = [rate for rate in curve if excess(rate) <= 0]
        above = [rate for rate in curve if excess(rate) > 0 and rate > (below or [0])[-1]]
        if below and above:
            break
        excess(curve[-1] * 2 if below else curve[0] / 2)
    else:
        return curve[-1] if below else curve[0]
    lo, hi = below[-1], above[0]
    if hi / lo - 1 <= rel_tol or excess(lo) == 0:
        return lo
    return float(brentq(excess, lo, hi, xtol=lo * rel_tol))


def capacity_row(loaded: LoadedScenario, cap: Capacity, target_rps: float | None) -> dict:
    """One CSV row: the highest rate, headroom over the workload's rate, and sizing for a
    target rate by scaling the simulated cluster linearly (k times the nodes carry k times the
    rate), never below the nodes its requests need."""
    sc = loaded.scenario
    rate = workload_rate_rps(sc) or math.nan
    target = target_rps or sc.cost.target_rate_rps or rate
    est = estimate(loaded, cap.best, rate_rps=target)
    base_nodes = est.nodes_run
    if cap.max_rate_rps > 0:
        nodes = max(est.nodes_needed, math.ceil(base_nodes * target / cap.max_rate_rps - 1e-9))
        usd = nodes * est.node.usd_per_hour * est.hours_per_month + est.cross_zone_usd_month
    else:
        nodes, usd = None, None
    best = [p for p in cap.points if p.rate_rps == cap.max_rate_rps]
    return {
        "mode": cap.mode,
        "slo": str(cap.slo),
        "max_rate_rps": cap.max_rate_rps,
        "first_failing_rps": cap.first_failing_rps,
        f"{cap.slo.statistic}_at_max_ms": best[0].value_ms if best else math.nan,
        "limited_by": cap.limited_by,
        "bottleneck": cap.bottleneck,
        "workload_rate_rps": rate,
        "headroom_pct": (cap.max_rate_rps / rate - 1) * 100 if rate > 0 else math.nan,
        "cluster_nodes": base_nodes,
        "target_rate_rps": target,
        "nodes_for_target": nodes,
        "usd_month_for_target": usd,
        "node_usd_hour": est.node.usd_per_hour,
        "runs": len(cap.points),
        "simulated_requests": cap.simulated_requests,
        "analytic_max_rate_rps": cap.analytic_rps,
    }


def capacity(
    loaded: LoadedScenario,
    slo: Slo | str,
    modes: Iterable[str] = MODES,
    target_rps: float | None = None,
    progress: Progress | None = None,
    seeds: int = 1,
    workers: int | None = 1,
    **kwargs: Any,
) -> tuple[pd.DataFrame, dict[str, Capacity]]:
    """Search every mode; one row per mode, and each mode's search points.

    With ``seeds`` > 1 the search runs again with seeds seed+1, seed+2, ...: the row keeps the
    first seed's answer (and its sizing) and adds the answers' mean and 95% interval. Each
    mode and seed is searched independently: ``workers`` > 1 runs their DES runs on that many
    worker processes (None: one a core), with the same answers (``_search_all``).
    """
    slo = Slo.parse(slo) if isinstance(slo, str) else slo
    for mode in modes:
        if mode not in MODES:
            raise ScenarioError(
                f"unknown mode {mode!r}; choose from " + ", ".join(MODES), "--modes"
            )
    in_mode = {mode: loaded.replace(mesh={"mode": mode}) for mode in modes}
    seeded = [
        scenario.replace(sim={"seed": scenario.scenario.sim.seed + k}) if k else scenario
        for scenario in in_mode.values()
        for k in range(seeds)
    ]
    answers = _search_all(seeded, partial(search, slo=slo, progress=progress, **kwargs), workers)
    caps: dict[str, Capacity] = {}
    rows = []
    for i, (mode, scenario) in enumerate(in_mode.items()):
        per_seed = answers[i * seeds : (i + 1) * seeds]
        caps[mode] = per_seed[0]
        row = capacity_row(scenario, caps[mode], target_rps)
        if seeds > 1:
            rates = [cap.max_rate_rps for cap in per_seed]
            row.update(seed_spread(rates, kwargs.get("rel_tol", TOLERANCE)))
        rows.append(row)
    return pd.DataFrame(rows), caps


def _search_all(
    scenarios: list[LoadedScenario], one: Callable[..., Capacity], workers: int | None
) -> list[Capacity]:
    """``one`` search per scenario, in order. With ``workers`` > 1 (None: one a core) each
    search runs in a thread of this process and sends its DES runs to worker processes that
    end with this one (the sweep's worker set-up): the runs of every search share the
    workers, so they stay busy until the last search ends. The answers are those of one
    process: a search's rates depend only on its own verdicts."""
    workers = min(workers or os.cpu_count() or 1, len(scenarios))
    if workers <= 1:
        return [one(scenario) for scenario in scenarios]
    from meshsim.sweep import end_workers_now, start_workers

    pool = start_workers(workers)
    threads = ThreadPoolExecutor(len(scenarios), thread_name_prefix="capacity")
    try:
        futures = [threads.submit(one, scenario, runner=pool) for scenario in scenarios]
        answers = [future.result() for future in futures]
    except BaseException:
        end_workers_now(pool)  # the searches' next runs fail at once, so their threads end
        threads.shutdown(wait=False, cancel_futures=True)
        raise
    threads.shutdown(wait=True)
    pool.shutdown(wait=True)
    return answers


def seed_spread(answers: list[float], rel_tol: float) -> dict[str, Any]:
    """The capacity answer across seeds: mean, 95% Student-t interval, spread against the
    search's tolerance (a tolerance below the spread claims a precision the answer lacks)."""
    mean, low, high = confidence_interval(answers)
    spread = float(np.std(answers, ddof=1)) / mean * 100 if mean > 0 else math.nan
    half = (high - low) / 2 / mean * 100 if mean > 0 else math.nan
    if spread > rel_tol * 100:
        note = (
            f"seed-to-seed spread {spread:.1f}% exceeds the search tolerance "
            f"{rel_tol * 100:g}%: the answer is known to +-{half:.0f}% (95%), not +-"
            f"{rel_tol * 100:g}%"
        )
    else:
        note = f"seed-to-seed spread {spread:.1f}% within the tolerance {rel_tol * 100:g}%"
    return {
        "seeds": len(answers),
        "max_rate_seeds_rps": " ".join(f"{a:.6g}" for a in answers),
        "max_rate_mean_rps": mean,
        "max_rate_ci95_low_rps": low,
        "max_rate_ci95_high_rps": high,
        "seed_spread_pct": spread,
        "tolerance_pct": rel_tol * 100,
        "precision": note,
    }


def points_frame(caps: dict[str, Capacity]) -> pd.DataFrame:
    """Every point of every search, for a latency-against-load plot."""
    rows = [{"mode": mode, **p.__dict__} for mode, cap in caps.items() for p in cap.points]
    return pd.DataFrame(rows)
