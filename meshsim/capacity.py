"""The highest entry rate a mode carries within a latency objective, and what that costs.

The search brackets the answer by doubling or halving the entry rate from the workload's own,
then bisects. With ``engine="hybrid"`` (the command line's default) the analytic engine
(``meshsim.analytic``) runs that search in milliseconds, and the DES confirms near its answer:
it runs just below and just above it, stepping outwards (doubling the step) until one rate
passes and the next fails, then bisects that bracket. ``engine="analytic"`` stops after the
analytic search; ``engine="des"`` searches with the DES alone.

A point passes when the run is not saturated (``Result.verdict()``) and the objective's
statistic (mean over replications) meets the threshold. Runs are kept short: a fixed number of
requests per point, one replication by default, and a cap on requests in flight that stops an
overloaded run early instead of simulating an ever-growing queue. With the same seed at every
point (common random numbers) the statistic moves smoothly with the rate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from meshsim.cost import estimate, workload_rate_rps
from meshsim.errors import ScenarioError
from meshsim.loader import LoadedScenario
from meshsim.progress import Progress
from meshsim.results import Result
from meshsim.scenario import MODES, Fortio
from meshsim.simulate import simulate
from meshsim.slo import Slo
from meshsim.stats import confidence_interval


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
) -> tuple[Point, Result]:
    short = short_run(loaded, rate_rps, slo, requests_per_point)
    result = simulate(short, replications, engine=engine)
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
    )
    return point, result


def search(
    loaded: LoadedScenario,
    slo: Slo | str,
    *,
    replications: int = 1,
    requests_per_point: int = 2000,
    rel_tol: float = 0.02,
    max_runs: int = 24,
    start_rps: float | None = None,
    progress: Progress | None = None,
    engine: str = "des",
) -> Capacity:
    """Highest entry rate meeting ``slo`` in the scenario's own mode, within ``rel_tol``."""
    slo = Slo.parse(slo) if isinstance(slo, str) else slo
    rate_field(loaded)
    if engine == "hybrid":
        return _hybrid(loaded, slo, replications, requests_per_point, rel_tol, max_runs, progress)
    start = start_rps or workload_rate_rps(loaded.scenario) or 100.0
    mode = loaded.scenario.mesh.mode
    points: list[Point] = []
    results: dict[float, Result] = {}
    tag = " (analytic)" if engine == "analytic" else ""

    def run(rate: float) -> bool:
        point, result = evaluate(loaded, rate, slo, replications, requests_per_point, engine)
        points.append(point)
        results[rate] = result
        if progress:
            mark = "pass" if point.passed else f"fail ({point.status})"
            progress(
                f"{mode}: {rate:,.1f} rps -> {slo.statistic} {point.value_ms:.3f} ms, {mark}{tag}"
            )
        return point.passed

    lo: float | None = None
    hi: float | None = None
    if run(start):
        lo, rate = start, start * 2
        while len(points) < max_runs and rate < 1e7:
            if run(rate):
                lo, rate = rate, rate * 2
            else:
                hi = rate
                break
    else:
        hi, rate = start, start / 2
        while len(points) < max_runs and rate > start / 1024:
            if run(rate):
                lo = rate
                break
            hi, rate = rate, rate / 2
    if lo is not None and hi is not None:
        lo, hi = _bisect(lo, hi, run, lambda: len(points) < max_runs, rel_tol)
    return Capacity(
        mode=mode,
        slo=slo,
        max_rate_rps=lo or 0.0,
        first_failing_rps=hi,
        points=sorted(points, key=lambda p: p.rate_rps),
        best=results.get(lo) if lo else None,
    )


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


def _hybrid(
    loaded: LoadedScenario,
    slo: Slo,
    replications: int,
    requests_per_point: int,
    rel_tol: float,
    max_runs: int,
    progress: Progress | None,
) -> Capacity:
    """Bracket analytically, then confirm with the DES around the analytic answer.

    The first DES run, at the analytic answer, measures how far the analytic statistic is
    from the simulated one there; the analytic search is run again with the objective scaled
    by that ratio, and the DES brackets the corrected answer: just below, just above,
    stepping outwards (doubling the step) when needed, then bisecting."""
    mode = loaded.scenario.mesh.mode
    guess = search(loaded, slo, rel_tol=rel_tol / 4, max_runs=60, engine="analytic")
    if guess.max_rate_rps <= 0:  # even the lowest rate fails analytically: let the DES search
        return search(
            loaded,
            slo,
            replications=replications,
            requests_per_point=requests_per_point,
            rel_tol=rel_tol,
            max_runs=max_runs,
            progress=progress,
        )
    points: list[Point] = []
    results: dict[float, Result] = {}

    def run(rate: float) -> Point:
        point, result = evaluate(loaded, rate, slo, replications, requests_per_point)
        points.append(point)
        results[rate] = result
        if progress:
            mark = "pass" if point.passed else f"fail ({point.status})"
            progress(f"{mode}: {rate:,.1f} rps -> {slo.statistic} {point.value_ms:.3f} ms, {mark}")
        return point

    first = guess.max_rate_rps
    if progress:
        progress(f"{mode}: analytic capacity {first:,.1f} rps; confirming with the DES")
    measured = run(first)
    centre = first
    analytic_value = evaluate(loaded, first, slo, engine="analytic")[0].value_ms
    if measured.status == "ok" and 0 < measured.value_ms < math.inf and analytic_value > 0:
        ratio = measured.value_ms / analytic_value
        scaled = Slo(slo.statistic, slo.strict, slo.threshold_ms / ratio)
        corrected = search(
            loaded, scaled, rel_tol=rel_tol / 4, max_runs=60, start_rps=first, engine="analytic"
        )
        centre = corrected.max_rate_rps or first

    def lowest_failing_above(rate: float) -> float | None:
        failing = [p.rate_rps for p in points if not p.passed and p.rate_rps > rate]
        return min(failing) if failing else None

    def highest_passing() -> float | None:
        passing = [p.rate_rps for p in points if p.passed]
        return max(passing) if passing else None

    step = rel_tol / 2
    lo = highest_passing()
    if lo is None or lo < centre * (1 - rel_tol):
        while len(points) < max_runs:  # a passing rate just below the centre
            rate = centre * max(1 - step, 1 / 1024)
            if run(rate).passed or rate <= centre / 1024:
                break
            step *= 2
        lo = highest_passing()
    if lo is not None:
        step = rel_tol / 2
        while lowest_failing_above(lo) is None and len(points) < max_runs and lo < 1e7:
            rate = max(lo, centre) * (1 + step)  # a failing rate just above
            if run(rate).passed:
                lo, step = rate, step * 2
        hi = lowest_failing_above(lo)
        if hi is not None:
            lo, hi = _bisect(
                lo, hi, lambda rate: run(rate).passed, lambda: len(points) < max_runs, rel_tol
            )
    hi = lowest_failing_above(lo or 0.0)
    return Capacity(
        mode=mode,
        slo=slo,
        max_rate_rps=lo or 0.0,
        first_failing_rps=hi,
        points=sorted(points, key=lambda p: p.rate_rps),
        best=results.get(lo) if lo else None,
        analytic_rps=first,
    )


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
        "analytic_max_rate_rps": cap.analytic_rps,
    }


def capacity(
    loaded: LoadedScenario,
    slo: Slo | str,
    modes: Iterable[str] = MODES,
    target_rps: float | None = None,
    progress: Progress | None = None,
    seeds: int = 1,
    **kwargs: Any,
) -> tuple[pd.DataFrame, dict[str, Capacity]]:
    """Search every mode; one row per mode, and each mode's search points.

    With ``seeds`` > 1 the search runs again with seeds seed+1, seed+2, ...: the row keeps the
    first seed's answer (and its sizing) and adds the answers' mean and 95% interval.
    """
    slo = Slo.parse(slo) if isinstance(slo, str) else slo
    caps: dict[str, Capacity] = {}
    rows = []
    for mode in modes:
        if mode not in MODES:
            raise ScenarioError(
                f"unknown mode {mode!r}; choose from " + ", ".join(MODES), "--modes"
            )
        in_mode = loaded.replace(mesh={"mode": mode})
        caps[mode] = search(in_mode, slo, progress=progress, **kwargs)
        row = capacity_row(in_mode, caps[mode], target_rps)
        if seeds > 1:
            seed = in_mode.scenario.sim.seed
            answers = [caps[mode].max_rate_rps] + [
                search(in_mode.replace(sim={"seed": seed + k}), slo, progress=progress, **kwargs)
                .max_rate_rps
                for k in range(1, seeds)
            ]
            row.update(seed_spread(answers, kwargs.get("rel_tol", 0.02)))
        rows.append(row)
    return pd.DataFrame(rows), caps


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
