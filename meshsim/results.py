"""Turning replications into answers: latency with confidence intervals, hops, resources.

Every table is a pandas DataFrame; ``summary()`` is the JSON document ``meshsim run`` writes.
Units are in the column names; provenance travels with every result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from meshsim import __version__
from meshsim.domain import HOPS, MS_PER_S, PROXY_KINDS, TABLE_KINDS, Kind
from meshsim.loader import LoadedScenario
from meshsim.recorder import OBJECTIVE_MISSED
from meshsim.scenario import Fortio
from meshsim.stats import DEFAULT_PERCENTILES, Histogram, confidence_interval, percentile_key

SATURATION_UTILISATION = 0.99
QPS_ACHIEVED_FRACTION = 0.98  # a closed loop below this share of its requested qps fell short

UNITS = {
    "latency_ms": "milliseconds, end to end, per root request; pNN = NN-th percentile, "
    "interpolated within log-spaced histogram buckets (p999 = 99.9th)",
    "throughput_rps": "completed requests per second in the measurement window",
    "vcpu": "mean cores busy over the measurement window",
    "cpu_s": "CPU seconds in the measurement window",
    "memory_mib": "MiB (model: base + per connection + per visible service)",
    "utilisation": "fraction of capacity (cores, or worker threads) busy",
}
HOP_COLUMNS = (
    "hop",
    "visits",
    "visits_per_request",
    "wait_mean_ms",
    "wait_p50_ms",
    "wait_p99_ms",
    "service_mean_ms",
    "service_p50_ms",
    "service_p99_ms",
    "total_p50_ms",
    "total_p99_ms",
    "per_request_ms",
)
"""The columns of hops.csv, in both engines (a saturated analytic solve has no rows)."""
ROLLOUT_UNITS = (
    "s of simulated time from the first event (duration: until every new pod is ready; "
    "settled: until the last replaced one is gone); counts of pods, proxies, requests and "
    "attempts, summed over the run; p99 in ms over time-series windows; ready capacity in % of "
    "each Deployment's replicas, the lowest at any instant; means over replications"
)


@dataclass
class Replication:
    """The figures of one replication (one seed stream)."""

    index: int
    latency: Histogram
    hops: dict[str, Any]
    resources: pd.DataFrame
    arrived: int
    completed: int
    in_flight: int
    measured_completed: int
    window_s: float
    end_time_s: float
    stop_reason: str
    littles_law: dict[str, float]
    conservation: dict[str, float]
    requested_rps: float | None
    failed: int = 0  # requests that ended in an error (scenarios with events)
    operations: dict[str, Any] | None = None  # timeseries rows and rollout block (events)

    @property
    def throughput_rps(self) -> float:
        return self.measured_completed / self.window_s if self.window_s > 0 else math.nan

    def latency_ms(self, percentiles: tuple[float, ...] = DEFAULT_PERCENTILES) -> dict[str, float]:
        """Mean and percentiles (keys ``mean``, ``p50``, ``p999``, ...) in ms."""
        out = {"mean": self.latency.mean() * MS_PER_S}
        values = self.latency.quantiles([p / 100 for p in percentiles])
        for p, v in zip(percentiles, values, strict=True):
            out[percentile_key(p)] = v * MS_PER_S
        return out


@dataclass
class Result:
    """All replications of one scenario in one mode."""

    loaded: LoadedScenario
    replications: list[Replication]
    wall_time_s: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES  # which latency percentiles to report
    symmetry: dict[str, Any] | None = None  # fewer copies simulated (meshsim.symmetry.record)

    @property
    def mode(self) -> str:
        return self.loaded.scenario.mesh.mode

    @property
    def latency_keys(self) -> tuple[str, ...]:
        return ("mean", *(percentile_key(p) for p in self.percentiles))

    # --- latency -----------------------------------------------------------------------

    def latency(self) -> pd.DataFrame:
        """One row per statistic: mean over replications and its 95% confidence interval."""
        per_rep = [r.latency_ms(self.percentiles) for r in self.replications]
        rows = []
        for key in self.latency_keys:
            mean, lo, hi = confidence_interval([p[key] for p in per_rep])
            rows.append({"statistic": key, "ms": mean, "ci95_low_ms": lo, "ci95_high_ms": hi})
        return pd.DataFrame(rows).set_index("statistic")

    def pooled_latency(self) -> Histogram:
        pooled = Histogram()
        for r in self.replications:
            pooled.merge(r.latency)
        return pooled

    # --- hops --------------------------------------------------------------------------

    def hops(self) -> pd.DataFrame:
        """Per hop kind: visits, queue wait and service time (mean and percentiles), and the
        time a root request spends in that kind of hop on average (its share of the path)."""
        kinds: dict[str, dict[str, Histogram]] = {}
        for r in self.replications:
            for kind, hs in r.hops.items():
                acc = kinds.setdefault(
                    kind, {"wait": Histogram(), "service": Histogram(), "total": Histogram()}
                )
                acc["wait"].merge(hs.wait)
                acc["service"].merge(hs.service)
                acc["total"].merge(hs.total)
        roots = sum(r.measured_completed for r in self.replications) or 1
        rows = []
        for kind in sorted(kinds, key=_hop_order):
            h = kinds[kind]
            w50, w99 = h["wait"].quantiles([0.5, 0.99])
            s50, s99 = h["service"].quantiles([0.5, 0.99])
            t50, t99 = h["total"].quantiles([0.5, 0.99])
            rows.append(
                {
                    "hop": kind,
                    "visits": h["total"].count,
                    "visits_per_request": h["total"].count / roots,
                    "wait_mean_ms": h["wait"].mean() * MS_PER_S,
                    "wait_p50_ms": w50 * MS_PER_S,
                    "wait_p99_ms": w99 * MS_PER_S,
                    "service_mean_ms": h["service"].mean() * MS_PER_S,
                    "service_p50_ms": s50 * MS_PER_S,
                    "service_p99_ms": s99 * MS_PER_S,
                    "total_p50_ms": t50 * MS_PER_S,
                    "total_p99_ms": t99 * MS_PER_S,
                    "per_request_ms": h["total"].total / roots * MS_PER_S,
                }
            )
        return pd.DataFrame(rows, columns=HOP_COLUMNS)

    # --- resources ---------------------------------------------------------------------

    def resources(self) -> pd.DataFrame:
        """Per component: mean over replications of CPU, vCPU, utilisation and memory."""
        frames = pd.concat([r.resources for r in self.replications])
        numeric = ["cpu_s", "vcpu", "utilisation", "memory_mib"]
        keys = ["component", "kind", "node"]
        out = frames.groupby(keys, sort=False)[numeric].mean().reset_index()
        return out

    def by_kind(self) -> pd.DataFrame:
        res = self.resources()
        res = res[res["kind"] != Kind.NODE]
        return res.groupby("kind", sort=True)[["vcpu", "memory_mib"]].sum()

    def kind_columns(self) -> dict[str, float]:
        """vCPU and memory per component kind as flat columns (``vcpu_sidecar``, ...), and
        their sums over the data plane (``vcpu_mesh``, ``memory_mib_mesh``)."""
        kinds = self.by_kind()
        row: dict[str, float] = {}
        for kind in TABLE_KINDS:
            has = kind in kinds.index
            row[f"vcpu_{kind}"] = float(kinds.loc[kind, "vcpu"]) if has else 0.0
            row[f"memory_mib_{kind}"] = float(kinds.loc[kind, "memory_mib"]) if has else 0.0
        mesh = (*PROXY_KINDS, Kind.CILIUM_AGENT)  # what the mesh runs beside the apps
        row["vcpu_mesh"] = sum(row[f"vcpu_{k}"] for k in mesh)
        row["memory_mib_mesh"] = sum(row[f"memory_mib_{k}"] for k in mesh)
        return row

    def verdict(self) -> dict[str, Any]:
        return verdict(self)

    # --- the document ------------------------------------------------------------------

    def timeseries(self) -> pd.DataFrame | None:
        """Per-window figures of every replication (scenarios with events; else None)."""
        frames = [
            pd.DataFrame(r.operations["timeseries"]).assign(replication=r.index)
            for r in self.replications
            if r.operations is not None
        ]
        return pd.concat(frames, ignore_index=True) if frames else None

    def _rollout(self) -> dict[str, Any]:
        blocks = [r.operations["rollout"] for r in self.replications if r.operations]
        if not blocks:
            return {}
        return {"rollout": {"units": ROLLOUT_UNITS, **rollout_summary(blocks)}}

    def summary(self) -> dict[str, Any]:
        lat = self.latency()
        throughput = [r.throughput_rps for r in self.replications]
        tp, tp_lo, tp_hi = confidence_interval(throughput)
        kinds = self.by_kind()
        return {
            "meshsim_version": __version__,
            "provenance": {
                **self.loaded.provenance(),
                "mode": self.mode,
                "engine": self.meta.get("engine", "des"),
                "replications": len(self.replications),
                **({"symmetry": self.symmetry} if self.symmetry is not None else {}),
            },
            "units": UNITS,
            "mode": self.mode,
            "latency_percentiles": list(self.percentiles),
            "latency_ms": {k: _num(lat.loc[k, "ms"]) for k in self.latency_keys},
            "latency_ms_ci95": {
                k: [_num(lat.loc[k, "ci95_low_ms"]), _num(lat.loc[k, "ci95_high_ms"])]
                for k in self.latency_keys
            },
            "throughput_rps": _num(tp),
            "throughput_rps_ci95": [_num(tp_lo), _num(tp_hi)],
            "requested_rps": self.replications[0].requested_rps,
            "requests": {
                "arrived": sum(r.arrived for r in self.replications),
                "completed": sum(r.completed for r in self.replications),
                "in_flight_at_end": sum(r.in_flight for r in self.replications),
                "measured": sum(r.measured_completed for r in self.replications),
                "errors": sum(r.failed for r in self.replications),
            },
            **self._rollout(),
            "verdict": self.verdict(),
            "resources_by_kind": {
                kind: {"vcpu": _num(row["vcpu"]), "memory_mib": _num(row["memory_mib"])}
                for kind, row in kinds.iterrows()
            },
            "replications": [
                {
                    "index": r.index,
                    "latency_ms": {k: _num(v) for k, v in r.latency_ms(self.percentiles).items()},
                    "throughput_rps": _num(r.throughput_rps),
                    "window_s": _num(r.window_s),
                    "sim_time_s": _num(r.end_time_s),
                    "stop_reason": r.stop_reason,
                    "littles_law": {k: _num(v) for k, v in r.littles_law.items()},
                    "conservation": r.conservation,
                }
                for r in self.replications
            ],
            "run": {"wall_time_s": round(self.wall_time_s, 3), **self.meta},
        }


def rollout_summary(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """The rollout blocks of several replications: the mean of each figure (null if any is
    null), the lowest of the lowest capacities, and each replication's own block."""
    return {"replications": len(blocks), **_mean_blocks(blocks), "each": blocks}


def _mean_blocks(blocks: list[dict[str, Any]], lowest: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, first in blocks[0].items():
        values = [b[key] for b in blocks]
        if any(v is None for v in values):
            out[key] = None
        elif isinstance(first, dict):
            out[key] = _mean_blocks(values, lowest or key.startswith("lowest"))
        elif isinstance(first, bool):
            out[key] = all(values)
        elif lowest or key.startswith("lowest"):
            out[key] = min(values)
        else:
            out[key] = sum(values) / len(values)
    return out


def _num(value: float) -> float | None:
    """A number for JSON: null when it has none (NaN) or none finite (a saturated solve)."""
    value = float(value)
    return value if math.isfinite(value) else None


def _hop_order(kind: str) -> int:
    return HOPS.index(kind) if kind in HOPS else len(HOPS)


def verdict(result: Result) -> dict[str, Any]:
    """ok, saturated, or qps_not_achieved, naming the busiest component (the bottleneck)."""
    res = result.resources()
    busiest = res.sort_values("utilisation", ascending=False, kind="stable").iloc[0]
    reasons = {r.stop_reason for r in result.replications}
    status, why = "ok", "every replication drained"
    if reasons & {"saturated", "drain timeout"}:
        status, why = "saturated", "requests in flight grew without bound"
    elif busiest["utilisation"] >= SATURATION_UTILISATION:
        status, why = "saturated", f"utilisation {busiest['utilisation']:.3f} >= 0.99"
    elif OBJECTIVE_MISSED in reasons:  # stopped early: its rate is not the whole window's
        why = "stopped once its latency objective was certainly missed"
    else:
        gen = result.loaded.scenario.workload.generator
        if isinstance(gen, Fortio) and gen.qps:
            achieved = sum(r.throughput_rps for r in result.replications) / len(result.replications)
            if achieved < QPS_ACHIEVED_FRACTION * gen.qps:
                status = "qps_not_achieved"
                why = f"closed loop achieved {achieved:.1f} of {gen.qps:g} qps requested"
    return {
        "status": status,
        "reason": why,
        "bottleneck": busiest["component"],
        "bottleneck_utilisation": _num(busiest["utilisation"]),
    }
