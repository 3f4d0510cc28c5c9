"""A call graph from Istio's standard metrics, saved from Prometheus's HTTP API as JSON.

Accepted series (``/api/v1/query`` results, vector or matrix; matrix values are averaged):

- request rates by ``source_workload`` and ``destination_workload`` (or
  ``destination_service_name``), e.g. ``sum by (source_workload, destination_workload)
  (rate(istio_requests_total{reporter="destination"}[5m]))``; raw ``istio_requests_total``
  counters also work, for probabilities only (no rate);
- durations: ``istio_request_duration_milliseconds_bucket`` series (anything with an ``le``
  label), e.g. ``sum by (le, destination_workload)
  (rate(istio_request_duration_milliseconds_bucket[5m]))``.

Calls per request of A to B = rate(A -> B) / rate(-> A). Sources that are never a destination
(``unknown``, gateways, load generators) send the entry's traffic. Metrics carry no order or
parallelism, so each callee gets its own step (sequential); a service's own time is its mean
duration minus the mean durations of its calls, with the duration's coefficient of variation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from meshsim.errors import ScenarioError
from meshsim.importers.callgraph import CallGraph, rate_to_edge
from meshsim.importers.traces import load_json

MAX_FILE_BYTES = 64 * 2**20
MAX_SERIES = 200_000
SOURCE_LABELS = ("source_workload", "source_canonical_service", "source_app")
DEST_LABELS = (
    "destination_workload",
    "destination_service_name",
    "destination_canonical_service",
    "destination_app",
)


def _value(series: dict, where: str, file: str) -> float:
    if "value" in series:
        points = [series["value"]]
    elif "values" in series:
        points = series["values"]
    else:
        raise ScenarioError("no value or values", file, None, where)
    try:
        numbers = [float(p[1]) for p in points]
    except (TypeError, ValueError, IndexError):
        raise ScenarioError(
            'values must be [timestamp, "number"] pairs', file, None, f"{where}.value"
        ) from None
    numbers = [n for n in numbers if np.isfinite(n)]
    return float(np.mean(numbers)) if numbers else 0.0


def _label(metric: dict, keys: tuple[str, ...]) -> str | None:
    return next((str(metric[k]) for k in keys if metric.get(k)), None)


def read_series(path: Path) -> list[tuple[dict[str, str], float]]:
    file = str(path)
    out: list[tuple[dict[str, str], float]] = []
    for doc in load_json(path, MAX_FILE_BYTES):
        data = doc.get("data") if isinstance(doc, dict) else None
        result = data.get("result") if isinstance(data, dict) else None
        if not isinstance(result, list):
            raise ScenarioError(
                "not a Prometheus query result (no data.result list)", file, None, "data.result"
            )
        for i, series in enumerate(result):
            if len(out) >= MAX_SERIES:
                raise ScenarioError(f"more than {MAX_SERIES} series", file)
            metric = series.get("metric") if isinstance(series, dict) else None
            if not isinstance(metric, dict):
                raise ScenarioError("missing", file, None, f"data.result.{i}.metric")
            out.append(
                (
                    {str(k): str(v) for k, v in metric.items()},
                    _value(series, f"data.result.{i}", file),
                )
            )
    return out


def _histogram_stats(buckets: dict[float, float]) -> tuple[float, float] | None:
    """Mean and coefficient of variation (ms) from cumulative buckets ``le -> count``."""
    edges = sorted(buckets)
    if not edges:
        return None
    finite = [e for e in edges if np.isfinite(e)]
    if not finite:
        return None
    cum = np.array([buckets[e] for e in edges])
    counts = np.diff(np.concatenate([[0.0], np.maximum.accumulate(cum)]))
    lows = np.array([0.0, *edges[:-1]])
    highs = np.array([e if np.isfinite(e) else finite[-1] * 2 for e in edges])
    total = counts.sum()
    if total <= 0:
        return None
    mids = (lows + highs) / 2
    mean = float((counts * mids).sum() / total)
    second = float((counts * (lows**2 + lows * highs + highs**2) / 3).sum() / total)
    std = float(np.sqrt(max(0.0, second - mean**2)))
    return mean, (std / mean if mean > 0 else 0.0)


def from_prometheus(paths: list[Path], resolve: dict[str, str] | None = None) -> CallGraph:
    """Call probabilities and counts, entry rate, and service times from saved query results.

    ``resolve`` maps workload names to service names first, so the versions of one Service
    (reviews-v1, -v2, -v3) add up before rates are divided."""
    resolve = resolve or {}
    names = ", ".join(p.name for p in paths)
    graph = CallGraph(f"Istio metrics {names}")
    requests: dict[tuple[str, str], float] = {}
    buckets: dict[str, dict[float, float]] = {}
    counters = False
    series = [(m, v, p) for p in paths for m, v in read_series(p)]
    reporters = {m.get("reporter") for m, _, _ in series}
    for metric, value, path in series:
        if "destination" in reporters and metric.get("reporter") not in (None, "destination"):
            continue
        name = metric.get("__name__")
        dst = _label(metric, DEST_LABELS)
        if dst is None:
            continue
        dst = resolve.get(dst, dst)
        if "le" in metric:
            try:
                le = float(metric["le"])
            except ValueError:
                raise ScenarioError(
                    f"le is not a number: {metric['le'][:20]!r}", str(path), None, "metric.le"
                ) from None
            hist = buckets.setdefault(dst, {})
            hist[le] = hist.get(le, 0.0) + value
        elif name in (None, "istio_requests_total"):
            counters = counters or name is not None
            src = _label(metric, SOURCE_LABELS) or "unknown"
            src = resolve.get(src, src)
            requests[(src, dst)] = requests.get((src, dst), 0.0) + value
        else:
            graph.warnings.append(f"{path.name}: series {name!r} not used")
    incoming: dict[str, float] = {}
    for (_, dst), rate in requests.items():
        incoming[dst] = incoming.get(dst, 0.0) + rate
    external = {src for src, _ in requests} - set(incoming)
    for (src, dst), rate in sorted(requests.items()):
        if src in external or src == dst or incoming.get(src, 0) <= 0:
            continue
        graph.steps.setdefault(src, []).append([rate_to_edge(dst, rate / incoming[src])])
        graph.notes[src] = f"calls per request from request rates in {names} (order defaulted)"
    from_outside: dict[str, float] = {}
    for (src, dst), rate in requests.items():
        if src in external:
            from_outside[dst] = from_outside.get(dst, 0.0) + rate
    if from_outside:
        graph.entry = max(sorted(from_outside), key=lambda d: from_outside[d])
        if not counters:
            graph.rate_rps = round(from_outside[graph.entry], 3)
            graph.notes[""] = (
                f"entry rate {graph.rate_rps} /s: requests into "
                f"{graph.entry} from outside the mesh in {names}"
            )
    stats = {d: s for d, b in buckets.items() if (s := _histogram_stats(b))}
    for service, (mean, cv) in stats.items():
        downstream = sum(
            e.probability * e.count * stats.get(e.service, (0.0, 0.0))[0]
            for step in graph.steps.get(service, [])
            for e in step
        )
        own = max(0.05 * mean, mean - downstream)
        graph.service_time[service] = (
            {"type": "lognormal", "mean_ms": round(own, 4), "cv": round(cv, 4)}
            if cv > 1e-6
            else {"type": "constant", "value_ms": round(own, 4)}
        )
        note = graph.notes.get(service, "")
        graph.notes[service] = (note + "; " if note else "") + (
            f"service time: mean duration {mean:.3g} ms minus its calls', cv of the duration "
            f"(istio_request_duration_milliseconds)"
        )
    if not requests and not buckets:
        raise ScenarioError(
            "no istio_requests_total or istio_request_duration_milliseconds "
            "series with a destination label",
            names,
        )
    return graph
