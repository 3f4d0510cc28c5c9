"""The Python API under the CLI: simulate a scenario, or compare it across mesh modes."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from meshsim.engine import Engine
from meshsim.loader import LoadedScenario
from meshsim.progress import Progress
from meshsim.resources import component_table
from meshsim.results import Replication, Result
from meshsim.scenario import MODES, Fortio, Mode
from meshsim.slo import Slo
from meshsim.stats import DEFAULT_PERCENTILES, confidence_interval


def run_replication(
    loaded: LoadedScenario, index: int, objective: Slo | None = None
) -> Replication:
    """Simulate one replication; its random streams depend only on (seed, index, name). With
    an ``objective`` it stops as soon as that is certainly missed (``Engine``)."""
    engine = Engine(loaded, index, objective)
    rec = engine.run()
    window = rec.window_s
    lam = rec.measured_arrived / window if window > 0 else 0.0
    mean_latency = rec.latency.mean() if rec.latency.count else 0.0
    gen = loaded.scenario.workload.generator
    requested = gen.qps if isinstance(gen, Fortio) else gen.rate_rps
    return Replication(
        index=index,
        latency=rec.latency,
        hops=rec.hops,
        resources=component_table(
            loaded.scenario, loaded.params, engine.topo, rec.usage_in_window(), window
        ),
        arrived=rec.arrived,
        completed=rec.completed,
        in_flight=rec.in_flight,
        measured_completed=rec.measured_completed,
        window_s=window,
        end_time_s=rec.end_time,
        stop_reason=rec.stop_reason,
        littles_law={
            "mean_in_flight": rec.window_area / window if window > 0 else 0.0,
            "arrival_rate_rps": lam,
            "mean_latency_s": mean_latency,
            "rate_times_latency": lam * mean_latency,
        },
        conservation={
            "arrived": rec.arrived,
            "completed": rec.completed,
            "in_flight": rec.in_flight,
            "in_flight_integral_s": rec.area,
            "latency_sum_s": rec.latency_sum,
            **({"failed": rec.failed} if engine.ops is not None else {}),
        },
        requested_rps=requested,
        **_operations(engine),
    )


def _operations(engine: Engine) -> dict[str, Any]:
    """What a scenario's events did (nothing for a scenario without events)."""
    if engine.ops is None:
        return {}
    rows = engine.ops.timeseries()
    return {
        "failed": engine.recorder.failed,
        "operations": {"timeseries": rows, "rollout": engine.ops.rollout(rows)},
    }


def simulate(
    loaded: LoadedScenario,
    replications: int | None = None,
    progress: Progress | None = None,
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES,
    engine: str = "des",
    objective: Slo | None = None,
) -> Result:
    """Run every replication of a scenario in its own mode; report these latency percentiles.
    ``engine="analytic"`` solves it as a queueing network instead (``meshsim.analytic``). A
    replication stops as soon as it certainly misses ``objective``, when one is given."""
    if engine == "analytic":
        from meshsim.analytic_results import solve_result

        if progress:
            progress(f"{loaded.scenario.mesh.mode}: analytic")
        return solve_result(loaded, tuple(percentiles))
    if engine != "des":
        raise ValueError(f"unknown engine {engine!r}")
    sim = loaded.scenario.sim
    n = replications or sim.replications
    started = time.perf_counter()
    reps = []
    while True:
        i = len(reps)
        if progress:
            progress(f"{loaded.scenario.mesh.mode}: replication {i + 1}")
        reps.append(run_replication(loaded, i, objective))
        if len(reps) < n:
            continue
        if replications or sim.precision_pct is None or len(reps) >= sim.max_replications:
            break
        if _precise(reps, sim.precision_pct):
            break
    return Result(
        loaded,
        reps,
        wall_time_s=time.perf_counter() - started,
        meta={"engine": "des"},
        percentiles=tuple(percentiles),
    )


def _precise(reps: list[Replication], precision_pct: float) -> bool:
    """Is the p99's 95% confidence interval within ``precision_pct`` of it?"""
    mean, low, high = confidence_interval([r.latency_ms()["p99"] for r in reps])
    return not math.isnan(low) and (high - low) / 2 <= precision_pct / 100 * mean


@dataclass
class Comparison:
    """One scenario in several modes, with common random numbers."""

    results: dict[str, Result]

    def table(self) -> pd.DataFrame:
        """One row per mode: latency, latency added over ``none``, vCPU and memory by kind."""
        rows = []
        base = self.results.get("none")
        base_lat = base.latency()["ms"] if base is not None else None
        for mode, result in self.results.items():
            lat = result.latency()["ms"]
            row: dict[str, object] = {"mode": mode}
            for key, value in lat.items():
                row[f"{key}_ms"] = value
            if base_lat is not None:
                for key in result.latency_keys:
                    row[f"added_{key}_ms"] = lat[key] - base_lat[key]
                for key, (_, low, high) in self.added_intervals(mode).items():
                    row[f"added_{key}_ci95_low_ms"] = low
                    row[f"added_{key}_ci95_high_ms"] = high
            row["throughput_rps"] = result.summary()["throughput_rps"]
            row.update(result.kind_columns())
            verdict = result.verdict()
            row["verdict"] = verdict["status"]
            row["bottleneck"] = verdict["bottleneck"]
            rows.append(row)
        return pd.DataFrame(rows)

    def paired_differences(self, mode: str) -> dict[str, list[float]]:
        """Per latency statistic, replication by replication: ``mode`` minus ``none``.

        Replication i of every mode sees the same arrivals and app service times (common
        random numbers), so most of the seed-to-seed noise cancels in the difference.
        """
        base, result = self.results["none"], self.results[mode]
        pairs = zip(base.replications, result.replications, strict=False)
        per_rep = [
            (b.latency_ms(result.percentiles), r.latency_ms(result.percentiles)) for b, r in pairs
        ]
        return {k: [r[k] - b[k] for b, r in per_rep] for k in result.latency_keys}

    def added_intervals(self, mode: str) -> dict[str, tuple[float, float, float]]:
        """Latency added over ``none`` per statistic: mean of the paired differences and its
        95% Student-t interval (NaN with one replication)."""
        if "none" not in self.results:
            return {}
        diffs = self.paired_differences(mode)
        return {k: confidence_interval(v) for k, v in diffs.items()}

    def added_summary(self) -> dict[str, object]:
        """The latency added per mode, with intervals, as a JSON-ready document."""
        if "none" not in self.results:
            return {}
        out: dict[str, object] = {}
        for mode in self.results:
            out[mode] = {
                key: {"ms": _num(mean), "ci95_ms": [_num(low), _num(high)]}
                for key, (mean, low, high) in self.added_intervals(mode).items()
            }
        pairs = min(len(r.replications) for r in self.results.values())
        return {
            "method": "paired differences under common random numbers: per replication, mode "
            "minus none; mean and 95% Student-t interval over replications",
            "paired_replications": pairs,
            "modes": out,
        }


def _num(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def compare(
    loaded: LoadedScenario,
    modes: Iterable[Mode] = MODES,
    replications: int | None = None,
    progress: Progress | None = None,
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES,
    engine: str = "des",
) -> Comparison:
    """The same scenario, seed and streams in each mode: only the data path differs."""
    results = {}
    for mode in modes:
        results[mode] = simulate(
            loaded.replace(mesh={"mode": mode}), replications, progress, percentiles, engine
        )
    return Comparison(results)
