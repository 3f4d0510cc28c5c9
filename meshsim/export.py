"""A simulated run in the formats load-testing tools read: fortio JSON and HdrHistogram text.

fortio's ``load -json`` document is what fortio's web UI, istio/tools' plotter and
``real-bench import`` read: latencies in seconds, ``ActualDuration`` in nanoseconds, histogram
buckets ``]Start, End]`` with cumulative ``Percent``. The ``.hgrm`` text is the table HdrHistogram's
``outputPercentileDistribution`` prints (here with values in ms), which HdrHistogram's plotter and
wrk2-style percentile-spectrum charts read.

Both come from the run's latency histogram pooled over its replications: meshsim's log-spaced
buckets (each about 1% wide, ``meshsim.stats.RELATIVE_ERROR``) become fortio's buckets one for
one, so a percentile read back is within one bucket of meshsim's own.
"""

from __future__ import annotations

import math
from typing import Any

from meshsim import __version__
from meshsim.domain import MS_PER_S
from meshsim.results import Result
from meshsim.scenario import Fortio
from meshsim.stats import Histogram

# fortio's default percentiles (-p "50,75,90,99,99.9")
FORTIO_PERCENTILES = (50.0, 75.0, 90.0, 99.0, 99.9)
HGRM_TICKS_PER_HALF_DISTANCE = 5  # HdrHistogram's default


def fortio_label(result: Result) -> str:
    """``meshsim_<scenario>_<mode>``: ends in the mode, as istio/tools labels do."""
    return f"meshsim_{result.loaded.scenario.name}_{result.mode}"


def _stddev(hist: Histogram) -> float:
    """From bucket midpoints (each bucket ~1% wide): the histogram keeps no sum of squares."""
    mean = hist.mean()
    buckets = hist.buckets()
    total = sum(c for _, _, c in buckets)
    var = sum(c * ((lo + hi) / 2 - mean) ** 2 for lo, hi, c in buckets) / total
    return math.sqrt(var)


def to_fortio(result: Result) -> dict[str, Any]:
    """The run as fortio's ``load -json`` document (latencies in seconds)."""
    hist = result.pooled_latency()
    if hist.count == 0:
        raise ValueError("the run completed no measured request: nothing to export")
    window_s = sum(r.window_s for r in result.replications)
    gen = result.loaded.scenario.workload.generator
    requested = result.replications[0].requested_rps
    data, seen = [], 0
    for lower, upper, count in hist.buckets():
        seen += count
        data.append(
            {"Start": lower, "End": upper, "Percent": 100.0 * seen / hist.count, "Count": count}
        )
    values = hist.quantiles([p / 100 for p in FORTIO_PERCENTILES])
    prov = result.loaded.provenance()
    return {
        "RunType": "HTTP",
        "Labels": fortio_label(result),
        "Version": f"meshsim {__version__}",
        "RequestedQPS": "max" if requested is None else f"{requested:g}",
        "RequestedDuration": f"{window_s:g}s (simulated, {len(result.replications)} "
        "replications pooled)",
        "ActualQPS": hist.count / window_s,
        "ActualDuration": round(window_s * 1e9),
        "NumThreads": gen.connections if isinstance(gen, Fortio) else 0,
        "DurationHistogram": {
            "Count": hist.count,
            "Min": hist.minimum,
            "Max": hist.maximum,
            "Sum": hist.total,
            "Avg": hist.mean(),
            "StdDev": _stddev(hist),
            "Data": data,
            "Percentiles": [
                {"Percentile": p, "Value": v}
                for p, v in zip(FORTIO_PERCENTILES, values, strict=True)
            ],
        },
        "RetCodes": {"200": hist.count},
        "Exactly": 0,
        "meshsim": {
            "note": "simulated, not measured; latency pooled over replications; StdDev from "
            "bucket midpoints",
            "mode": result.mode,
            "meshsim_version": __version__,
            **{k: v if isinstance(v, (str, int, float)) else str(v) for k, v in prov.items()},
        },
    }


def hgrm_levels(ticks_per_half_distance: int = HGRM_TICKS_PER_HALF_DISTANCE) -> list[float]:
    """The percentiles (0-100) HdrHistogram's percentile iterator reports, up to 99.9999,
    then 100: ``ticks`` steps in each halving of the distance to 100%."""
    levels, p = [], 0.0
    while p < 99.9999:
        levels.append(p)
        half_distances = math.floor(math.log2(100.0 / (100.0 - p))) + 1
        p += 100.0 / (ticks_per_half_distance * 2**half_distances)
    return [*levels, 100.0]


def to_hgrm(result: Result) -> str:
    """HdrHistogram's percentile distribution text, values in ms."""
    hist = result.pooled_latency()
    if hist.count == 0:
        raise ValueError("the run completed no measured request: nothing to export")
    n = hist.count
    levels = [p for p in hgrm_levels() if p < 100 and math.ceil(p / 100 * n) < n] + [100.0]
    values = hist.quantiles([p / 100 for p in levels])
    lines = [f"{'Value':>12} {'Percentile':>14} {'TotalCount':>10} {'1/(1-Percentile)':>14}", ""]
    for p, v in zip(levels, values, strict=True):
        q = p / 100
        total = min(n, max(1, math.ceil(q * n)))
        if p < 100:
            lines.append(f"{v * MS_PER_S:12.3f} {q:2.12f} {total:10d} {1 / (1 - q):14.2f}")
        else:
            lines.append(f"{hist.maximum * MS_PER_S:12.3f} {q:2.12f} {n:10d}")
    mean, sd = hist.mean() * MS_PER_S, _stddev(hist) * MS_PER_S
    lines += [
        f"#[Mean    = {mean:12.3f}, StdDeviation   = {sd:12.3f}]",
        f"#[Max     = {hist.maximum * MS_PER_S:12.3f}, Total count    = {n:12d}]",
        f"#[Buckets = {len(hist.buckets()):12d}, SubBuckets     = {1:12d}]",
    ]
    return "\n".join(lines) + "\n"


def percentile_spectrum(result: Result, points: int = 200) -> tuple[list[float], list[float]]:
    """(percentile 0-100, latency ms) along a log scale of 1/(1-percentile), for the plot."""
    hist = result.pooled_latency()
    top = min(99.999, 100 * (1 - 1 / max(hist.count, 2)))
    nines = -math.log10(1 - top / 100)
    ps = [100 * (1 - 10 ** (-nines * i / (points - 1))) for i in range(points)]
    return ps, [v * MS_PER_S for v in hist.quantiles([p / 100 for p in ps])]
