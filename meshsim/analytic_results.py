"""The analytic engine's answer as a ``Result``: the same tables and summary.json as the DES.

Latency percentiles come from a distribution matched to the mean and variance of a root
request's latency (``meshsim.analytic``): in open loop a mixture over whether a call of the
request opens a connection (``quantiles_with_openings``), for fortio in step the mixture over
places in its batch (``quantiles_in_batch``); a hop's percentiles from its own moments.
There are no replications, so no confidence intervals (NaN), and request counts are the
expected ones over the workload's measurement window.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from meshsim.analytic import Moments, Solution, solve
from meshsim.components import memory_mib, proxy_memory_mib, proxy_params, visible_config
from meshsim.domain import MS_PER_S, PROXY_KINDS
from meshsim.loader import LoadedScenario
from meshsim.results import HOP_COLUMNS, QPS_ACHIEVED_FRACTION, Result, _hop_order, _num
from meshsim.scenario import Fortio
from meshsim.stats import DEFAULT_PERCENTILES, percentile_key

ENGINE = "analytic"


LOGNORMAL_BELOW_SCV = 0.3
"""A latency whose squared coefficient of variation is below this is mostly service times
(sums and maxima of right-skewed work, little queueing): its percentiles come from a lognormal,
whose median sits lower and tail higher than a gamma's of the same moments. Above it, queueing
dominates and a gamma fits (exact for M/M/1). Chosen by measurement against the DES
(benchmarks/README.md): quickstart (SCV 0.1-0.2) p50 error +5.1..5.9 % with a gamma,
+2.7..4.2 % with a lognormal; M/M/1 and M/M/c (SCV 0.7-1) are better with the gamma."""


def quantiles(m: Moments, qs: list[float]) -> list[float]:
    """Quantiles of the distribution matched to these two moments (``_matched``)."""
    if not math.isfinite(m.mean):
        return [math.inf for _ in qs]
    if m.mean <= 0:
        return [0.0 for _ in qs]
    dist = _matched(m)
    if dist is None:
        return [m.mean for _ in qs]
    return [float(v) for v in dist.ppf(qs)]


def _matched(m: Moments) -> Lognormal | Gamma | None:
    """The distribution of these two moments (mean > 0): a lognormal when the SCV is below
    LOGNORMAL_BELOW_SCV, else a gamma; None for a point mass (no variance)."""
    var = m.variance
    if var <= 1e-18 * m.mean**2:
        return None
    scv = var / m.mean**2
    if scv < LOGNORMAL_BELOW_SCV:
        sigma2 = math.log1p(scv)
        return Lognormal(math.sqrt(sigma2), m.mean * math.exp(-sigma2 / 2))
    return Gamma(m.mean**2 / var, var / m.mean)


@dataclass(frozen=True)
class Lognormal:
    """``scipy.stats.lognorm(sigma, scale=scale)``'s ppf and cdf, the same numbers, from
    ``scipy.special`` (scipy.stats takes half a second to import; a command may need no more)."""

    sigma: float
    scale: float

    def ppf(self, qs: Any) -> np.ndarray:
        from scipy.special import ndtri

        return np.exp(self.sigma * ndtri(np.asarray(qs, dtype=float))) * self.scale

    def cdf(self, t: Any) -> np.ndarray:
        from scipy.special import ndtr

        t = np.asarray(t, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(t > 0, ndtr(np.log(t / self.scale) / self.sigma), 0.0)


@dataclass(frozen=True)
class Gamma:
    """``scipy.stats.gamma(shape, scale=scale)``'s ppf and cdf, the same numbers, likewise."""

    shape: float
    scale: float

    def ppf(self, qs: Any) -> np.ndarray:
        from scipy.special import gammaincinv

        return gammaincinv(self.shape, np.asarray(qs, dtype=float)) * self.scale

    def cdf(self, t: Any) -> np.ndarray:
        from scipy.special import gammainc

        t = np.asarray(t, dtype=float)
        with np.errstate(invalid="ignore"):
            return np.where(t > 0, gammainc(self.shape, t / self.scale), 0.0)


def quantiles_in_batch(
    m: Moments, waits: tuple[float, ...], chances: tuple[float, ...], qs: list[float]
) -> list[float]:
    """Quantiles of the mixture over a batch's positions (fortio in step, ``meshsim.lockstep``):
    a position's latency is its own queueing wait (``waits``, each with its probability in
    ``chances``) plus the rest of the path, a distribution (``quantiles``' choice) matched to
    the moments left once the waits' mean and variance are taken out of ``m``."""
    from scipy import optimize

    if not waits or not math.isfinite(m.mean):
        return quantiles(m, qs)
    w, p = np.asarray(waits), np.asarray(chances)
    extra = float(p @ w)
    mean = m.mean - extra
    var = max(m.variance - float(p @ (w - extra) ** 2), 0.0)
    rest = Moments(mean, var + mean * mean)
    cdf = _cdf(rest)
    out = []
    for q, top in zip(qs, quantiles(rest, qs), strict=True):

        def below(t: float, q: float = q) -> float:
            return float(p @ cdf(t - w)) - q

        lo, hi = float(w.min()), float(w.max()) + top
        while below(hi) < 0:  # rounding at the bracket's top
            hi = hi * (1 + 1e-6) + 1e-12
        out.append(float(optimize.brentq(below, lo, hi, xtol=1e-12)))
    return out


def quantiles_with_openings(parts: tuple[float, Moments, Moments], qs: list[float]) -> list[float]:
    """Quantiles of the mixture over connection openings (``Network._openings``): the body
    with probability p0, else the body plus the handshakes, each ``quantiles``' distribution
    of its own two moments. The CDF of a mixture is the mixture of the CDFs; each quantile is
    its root, bracketed by the parts' own quantiles."""
    from scipy import optimize

    p0, body, opened = parts
    low, high = _cdf(body), _cdf(opened)
    out = []
    for q in qs:

        def below(t: float, q: float = q) -> float:
            return float(p0 * low(t) + (1 - p0) * high(t)) - q

        ends = quantiles(body, [q]) + quantiles(opened, [q])
        lo, hi = min(ends), max(ends)
        if below(lo) >= 0:  # a point mass at lo (a part without variance)
            out.append(lo)
            continue
        out.append(float(optimize.brentq(below, lo, hi, xtol=1e-12)))
    return out


def _cdf(m: Moments) -> Any:
    """The CDF of ``quantiles``' distribution for these moments (vectorised)."""
    dist = _matched(m) if m.mean > 0 else None
    if dist is None:
        return lambda t: (np.asarray(t) >= m.mean).astype(float)
    return dist.cdf


def window_s(loaded: LoadedScenario, rate_rps: float) -> float:
    """The measurement window a DES run of this scenario would have, for CPU seconds."""
    wl = loaded.scenario.workload
    if wl.duration_s is not None:
        return max(wl.duration_s - wl.warmup_s, 0.0) or wl.duration_s
    return (wl.requests or 0) / rate_rps if rate_rps > 0 else 0.0


class AnalyticResult(Result):
    """One scenario in one mode, solved analytically (``meshsim.analytic``)."""

    def __init__(
        self,
        loaded: LoadedScenario,
        solution: Solution,
        wall_time_s: float = 0.0,
        percentiles: tuple[float, ...] = DEFAULT_PERCENTILES,
    ) -> None:
        super().__init__(loaded, [], wall_time_s, {"engine": ENGINE}, tuple(percentiles))
        self.solution = solution
        self._resources: pd.DataFrame | None = None

    # --- latency -------------------------------------------------------------------------

    def latency_s(self) -> dict[str, float]:
        lat = self.solution.latency
        levels = [p / 100 for p in self.percentiles]
        sol = self.solution
        if sol.openings is not None:
            qs = quantiles_with_openings(sol.openings, levels)
        else:
            qs = quantiles_in_batch(lat, sol.batch_waits_s, sol.batch_chances, levels)
        out = {"mean": lat.mean}
        out.update({percentile_key(p): q for p, q in zip(self.percentiles, qs, strict=True)})
        return out

    def latency(self) -> pd.DataFrame:
        rows = [
            {"statistic": k, "ms": v * MS_PER_S, "ci95_low_ms": math.nan, "ci95_high_ms": math.nan}
            for k, v in self.latency_s().items()
        ]
        return pd.DataFrame(rows).set_index("statistic")

    # --- hops and resources ----------------------------------------------------------------

    def hops(self) -> pd.DataFrame:
        rows = []
        window = window_s(self.loaded, self.solution.rate_rps)
        for kind in sorted(self.solution.hops, key=_hop_order):
            t = self.solution.hops[kind]
            if t.visits <= 0:
                continue
            per = {
                name: Moments(m.mean / t.visits, m.second / t.visits)
                for name, m in (("wait", t.wait), ("service", t.service), ("total", t.total))
            }
            w50, w99 = quantiles(per["wait"], [0.5, 0.99])
            s50, s99 = quantiles(per["service"], [0.5, 0.99])
            t50, t99 = quantiles(per["total"], [0.5, 0.99])
            rows.append(
                {
                    "hop": kind,
                    "visits": t.visits * self.solution.rate_rps * window,
                    "visits_per_request": t.visits,
                    "wait_mean_ms": per["wait"].mean * MS_PER_S,
                    "wait_p50_ms": w50 * MS_PER_S,
                    "wait_p99_ms": w99 * MS_PER_S,
                    "service_mean_ms": per["service"].mean * MS_PER_S,
                    "service_p50_ms": s50 * MS_PER_S,
                    "service_p99_ms": s99 * MS_PER_S,
                    "total_p50_ms": t50 * MS_PER_S,
                    "total_p99_ms": t99 * MS_PER_S,
                    "per_request_ms": t.total.mean * MS_PER_S,
                }
            )
        return pd.DataFrame(rows, columns=HOP_COLUMNS)

    def resources(self) -> pd.DataFrame:
        if self._resources is None:  # a fleet has 100,000 components: built once
            self._resources = self._component_table()
        return self._resources.copy()

    def _component_table(self) -> pd.DataFrame:
        sol, sc, params = self.solution, self.loaded.scenario, self.loaded.params
        topo = sol.topo
        window = window_s(self.loaded, sol.rate_rps)
        rows = []
        visible: dict[tuple[str, str], int] = {}  # the same for every pod of a service
        for c, workers in zip(sol.components, sol.component_workers, strict=True):
            vcpu = sol.component_cpu[c.name]
            held = sol.component_concurrency[c.name]
            if c.kind in PROXY_KINDS:
                key = (c.kind, topo.pod_by_name[c.pod].service if c.pod else "")
                if key not in visible:
                    visible[key] = visible_config(sc, topo, c)
                memory = proxy_memory_mib(proxy_params(params, c.kind), visible[key], held)
            else:
                memory = memory_mib(sc, params, topo, c, held)
            rows.append(
                {
                    "component": c.name,
                    "kind": c.kind,
                    "node": c.node,
                    "workers": workers,
                    "cpu_s": vcpu * window,
                    "vcpu": vcpu,
                    "utilisation": sol.component_utilisation[c.name],
                    "memory_mib": memory,
                }
            )
        cores = sc.cluster.shared_cores
        for name, node in topo.nodes.items():
            vcpu = sol.node_vcpu[name]
            rows.append(
                {
                    "component": name,
                    "kind": "node",
                    "node": name,
                    "workers": node.cores,
                    "cpu_s": vcpu * window,
                    "vcpu": vcpu,
                    "utilisation": (
                        sum(sol.node_vcpu.values()) / cores if cores else vcpu / node.cores
                    ),
                    "memory_mib": None,
                }
            )
        return pd.DataFrame(rows)

    # --- verdict and summary -----------------------------------------------------------------

    def verdict(self) -> dict[str, Any]:
        sol = self.solution
        if sol.saturated:
            return {
                "status": "saturated",
                "reason": f"utilisation {sol.bottleneck_utilisation:.3f} >= 1 (analytic)",
                "bottleneck": sol.bottleneck,
                "bottleneck_utilisation": sol.bottleneck_utilisation,
            }
        res = self.resources()
        busiest = res.sort_values("utilisation", ascending=False, kind="stable").iloc[0]
        status, why = "ok", "every station below utilisation 1 (analytic)"
        gen = self.loaded.scenario.workload.generator
        if isinstance(gen, Fortio) and gen.qps and sol.rate_rps < QPS_ACHIEVED_FRACTION * gen.qps:
            status = "qps_not_achieved"
            why = f"closed loop carries {sol.rate_rps:.1f} of {gen.qps:g} qps requested"
        return {
            "status": status,
            "reason": why,
            "bottleneck": busiest["component"],
            "bottleneck_utilisation": _num(busiest["utilisation"]),
        }

    def summary(self) -> dict[str, Any]:
        sol = self.solution
        lat = self.latency_s()
        kinds = self.by_kind()
        window = window_s(self.loaded, sol.rate_rps)
        expected = sol.rate_rps * window
        return {
            "meshsim_version": self._version(),
            "provenance": {
                **self.loaded.provenance(),
                "mode": self.mode,
                "engine": ENGINE,
                "replications": 0,
            },
            "units": self._units(),
            "mode": self.mode,
            "engine": ENGINE,
            "latency_percentiles": list(self.percentiles),
            "latency_ms": {k: _num(v * MS_PER_S) for k, v in lat.items()},
            "latency_ms_ci95": {k: [None, None] for k in lat},
            "throughput_rps": _num(sol.rate_rps if not sol.saturated else math.nan),
            "throughput_rps_ci95": [None, None],
            "requested_rps": sol.requested_rps,
            "requests": {
                "arrived": expected,
                "completed": expected,
                "in_flight_at_end": 0,
                "measured": expected,
                "errors": 0,
            },
            "verdict": self.verdict(),
            "resources_by_kind": {
                kind: {"vcpu": _num(row["vcpu"]), "memory_mib": _num(row["memory_mib"])}
                for kind, row in kinds.iterrows()
            },
            "replications": [],
            "analytic": {
                "latency_mean_s": _num(sol.latency.mean),
                "latency_sd_s": _num(math.sqrt(sol.latency.variance))
                if math.isfinite(sol.latency.mean)
                else None,
                "percentiles_from": (
                    f"mixture over the {self.loaded.scenario.workload.generator.connections} "
                    "places of fortio's lockstep batch, each its traced queueing wait plus the "
                    "rest of the path (gamma or lognormal of its mean and variance)"
                    if sol.batch_waits_s
                    else "mixture over connection openings: with the chance that no call "
                    "opens one, the path without handshakes, else with them (each a gamma, or "
                    "lognormal below SCV 0.3, of its mean and variance)"
                    if sol.openings is not None
                    else "gamma (lognormal below SCV 0.3) matched to the latency's mean and "
                    "variance"
                ),
                **sol.closed_loop,
            },
            "run": {"wall_time_s": round(self.wall_time_s, 3), **self.meta},
        }

    @staticmethod
    def _version() -> str:
        from meshsim import __version__

        return __version__

    @staticmethod
    def _units() -> dict[str, str]:
        from meshsim.results import UNITS

        return {
            **UNITS,
            "latency_ms": "milliseconds, end to end, per root request (analytic: mean exact "
            "for the model, pNN from a distribution matched to mean and variance, or for "
            "fortio in step a mixture over places in its batch)",
        }


def solve_result(
    loaded: LoadedScenario, percentiles: tuple[float, ...] = DEFAULT_PERCENTILES
) -> AnalyticResult:
    """Solve a scenario in its own mode and wrap the answer as a Result."""
    started = time.perf_counter()
    solution = solve(loaded)
    return AnalyticResult(loaded, solution, time.perf_counter() - started, percentiles)
