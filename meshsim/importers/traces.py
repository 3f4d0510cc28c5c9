"""A call graph measured from trace exports: Jaeger JSON or OpenTelemetry OTLP JSON.

Every span belongs to a service. A span whose parent is missing or in another service starts a
*request* of its service; the first spans below it in another service are its *calls* (timed by
the caller's client span when there is one, so they include the network and the callee's
proxies). From all requests of a service: which services it calls, with what probability, how
many times, in which order and which in parallel (calls whose times overlap), and its
*self time* (its duration minus the union of its calls), whose distribution becomes the
service time. The entry is the service of the root spans; the rate is their count over the
time they span (a lower bound when the exporter samples traces).

Input is bounded (file size, spans) and errors are one line naming the file and the field.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from meshsim.errors import ScenarioError
from meshsim.importers.callgraph import CallGraph, Dist, Observed, steps_from_requests
from meshsim.safe_yaml import read_text

MAX_FILE_BYTES = 64 * 2**20
MAX_SPANS = 500_000
EMPIRICAL_MIN_SAMPLES = 20
EMPIRICAL_BUCKETS = 10
_CLIENT = {"client", "3", "SPAN_KIND_CLIENT"}


@dataclass(frozen=True)
class Span:
    trace: str
    id: str
    parent: str | None
    service: str
    client: bool
    start_s: float
    end_s: float


def load_json(path: Path, limit: int = MAX_FILE_BYTES) -> list[Any]:
    """The JSON documents of a file: one document, or one per line (JSON Lines, as
    OpenTelemetry's file exporter writes)."""
    file = str(path)
    text = read_text(path, limit)
    try:
        return [json.loads(text)]
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            raise ScenarioError(f"not JSON: {exc.msg}", file, exc.lineno) from None
    docs = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                docs.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ScenarioError(f"not JSON: {exc.msg}", file, number) from None
    return docs


class _Reader:
    """Field access that fails with a located one-line error."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.count = 0

    def fail(self, where: str, message: str) -> ScenarioError:
        return ScenarioError(message, self.file, None, where)

    def get(self, obj: Any, key: str, where: str, kind: type | tuple = object) -> Any:
        if not isinstance(obj, dict) or key not in obj:
            raise self.fail(f"{where}.{key}", "missing")
        value = obj[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise self.fail(f"{where}.{key}", f"unexpected value {str(value)[:40]!r}")
        return value

    def number(self, obj: Any, key: str, where: str) -> float:
        value = self.get(obj, key, where, (int, float, str))
        try:
            number = float(value)
        except ValueError:
            raise self.fail(f"{where}.{key}", f"not a number: {str(value)[:40]!r}") from None
        if not np.isfinite(number) or number < 0:
            raise self.fail(f"{where}.{key}", f"not a time: {number}")
        return number

    def add(self, spans: list[Span], span: Span) -> None:
        self.count += 1
        if self.count > MAX_SPANS:
            raise ScenarioError(f"more than {MAX_SPANS} spans", self.file)
        spans.append(span)


def read_spans(path: Path) -> list[Span]:
    """Spans from a Jaeger JSON export (``{"data": [trace, ...]}``) or OTLP JSON."""
    r = _Reader(str(path))
    spans: list[Span] = []
    for i, doc in enumerate(load_json(path)):
        where = f"[{i}]" if i else ""
        if isinstance(doc, dict) and "resourceSpans" in doc:
            _otlp(r, doc, where, spans)
        elif isinstance(doc, dict) and "data" in doc:
            for j, trace in enumerate(r.get(doc, "data", where, list)):
                _jaeger(r, trace, f"{where}data.{j}", spans)
        elif isinstance(doc, dict) and "spans" in doc:
            _jaeger(r, doc, where or "(top)", spans)
        else:
            raise r.fail(
                where or "(top)",
                'neither Jaeger JSON ({"data": [...]}) nor OTLP JSON ({"resourceSpans": [...]})',
            )
    if not spans:
        raise ScenarioError("no spans", str(path))
    return spans


def _jaeger(r: _Reader, trace: Any, where: str, spans: list[Span]) -> None:
    processes = r.get(trace, "processes", where, dict)
    for k, span in enumerate(r.get(trace, "spans", where, list)):
        at = f"{where}.spans.{k}"
        pid = r.get(span, "processID", at, str)
        if pid not in processes:
            raise r.fail(f"{at}.processID", f"no process {pid[:40]!r} in {where}.processes")
        service = r.get(processes[pid], "serviceName", f"{where}.processes.{pid}", str)
        parent = next(
            (
                ref.get("spanID")
                for ref in span.get("references") or []
                if isinstance(ref, dict) and ref.get("refType") == "CHILD_OF"
            ),
            None,
        )
        tags = {
            t.get("key"): str(t.get("value")) for t in span.get("tags") or [] if isinstance(t, dict)
        }
        start = r.number(span, "startTime", at) * 1e-6
        r.add(
            spans,
            Span(
                str(r.get(span, "traceID", at, str)),
                r.get(span, "spanID", at, str),
                parent,
                service,
                tags.get("span.kind") in _CLIENT,
                start,
                start + r.number(span, "duration", at) * 1e-6,
            ),
        )


def _otlp(r: _Reader, doc: dict, where: str, spans: list[Span]) -> None:
    for i, rs in enumerate(r.get(doc, "resourceSpans", where, list)):
        at = f"{where}resourceSpans.{i}"
        attrs = (rs.get("resource") or {}).get("attributes") or [] if isinstance(rs, dict) else []
        service = next(
            (
                a.get("value", {}).get("stringValue")
                for a in attrs
                if isinstance(a, dict) and a.get("key") == "service.name"
            ),
            None,
        )
        if not isinstance(service, str) or not service:
            raise r.fail(f"{at}.resource.attributes", "no service.name")
        scopes = rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or []
        for j, scope in enumerate(scopes):
            for k, span in enumerate(r.get(scope, "spans", f"{at}.scopeSpans.{j}", list)):
                sat = f"{at}.scopeSpans.{j}.spans.{k}"
                start = r.number(span, "startTimeUnixNano", sat) * 1e-9
                end = r.number(span, "endTimeUnixNano", sat) * 1e-9
                r.add(
                    spans,
                    Span(
                        r.get(span, "traceId", sat, str),
                        r.get(span, "spanId", sat, str),
                        span.get("parentSpanId") or None,
                        service,
                        str(span.get("kind")) in _CLIENT,
                        start,
                        max(start, end),
                    ),
                )


def _union_length(intervals: list[tuple[float, float]], lo: float, hi: float) -> float:
    total, cursor = 0.0, lo
    for start, end in sorted(intervals):
        start, end = max(start, cursor), min(end, hi)
        if end > start:
            total += end - start
            cursor = end
    return total


def distribution(samples_ms: list[float]) -> Dist:
    """Empirical (equal-probability buckets) from enough samples; else lognormal or constant."""
    x = np.asarray(samples_ms, dtype=float)
    mean = float(x.mean())
    if len(x) >= EMPIRICAL_MIN_SAMPLES:
        edges = np.unique(np.round(np.quantile(x, np.linspace(0, 1, EMPIRICAL_BUCKETS + 1)), 4))
        if len(edges) >= 2:
            counts, _ = np.histogram(x, edges)
            return {
                "type": "empirical",
                "edges_ms": [float(e) for e in edges],
                "counts": [int(c) for c in counts],
            }
    cv = float(x.std() / mean) if mean > 0 else 0.0
    if mean > 0 and cv > 1e-6:
        return {"type": "lognormal", "mean_ms": round(mean, 4), "cv": round(cv, 4)}
    return {"type": "constant", "value_ms": round(mean, 4)}


def from_traces(path: Path, resolve: dict[str, str] | None = None) -> CallGraph:
    """Call structure, probabilities, counts, parallelism and service times from a trace file.

    ``resolve`` maps trace service names to service names first, so spans of one Service
    under several names (versions, ``name.namespace``) count as one service; spans of services
    it does not know (an ingress gateway, a waypoint) are hops on the way, not services: a
    call through them is a call to the first known service behind them.
    """
    spans = read_spans(path)
    if resolve:
        spans = [replace(s, service=resolve.get(s.service, s.service)) for s in spans]
    known = set(resolve.values()) if resolve else {s.service for s in spans}
    by_id = {(s.trace, s.id): s for s in spans}
    children: dict[tuple[str, str], list[Span]] = {}
    for s in spans:
        if s.parent:
            children.setdefault((s.trace, s.parent), []).append(s)
    requests: dict[str, list[Observed]] = {}
    self_ms: dict[str, list[float]] = {}
    tops: list[Span] = []
    for s in spans:
        if s.service not in known:
            continue
        caller = _known_ancestor(s, by_id, known)
        if caller is not None and caller.service == s.service:
            continue  # a span inside a request of the same service
        if caller is None:
            tops.append(s)
        calls = _calls(s, children, known)
        requests.setdefault(s.service, []).append(
            Observed([(svc, a - s.start_s, b - s.start_s) for svc, a, b in calls])
        )
        busy = _union_length([(a, b) for _, a, b in calls], s.start_s, s.end_s)
        self_ms.setdefault(s.service, []).append(max(0.0, s.end_s - s.start_s - busy) * 1e3)
    if not requests:
        raise ScenarioError("no span of a known service", str(path))
    graph = CallGraph(f"traces {path.name}")
    hops = sorted({s.service for s in spans} - known)
    if hops:
        graph.warnings.append(
            f"{graph.source}: spans of {', '.join(hops[:8])} (no Service in "
            "the input) taken as hops between services, not services"
        )
    for service, observed in requests.items():
        steps = steps_from_requests(observed)
        if steps:
            graph.steps[service] = steps
        graph.service_time[service] = distribution(self_ms[service])
        graph.notes[service] = (
            f"{len(observed)} requests in {path.name}: calls, order and "
            "service time (self time) measured"
        )
    graph.entry = Counter(s.service for s in tops).most_common(1)[0][0]
    starts = sorted(s.start_s for s in tops if s.service == graph.entry)
    if len(starts) >= 2 and starts[-1] > starts[0]:
        graph.rate_rps = round((len(starts) - 1) / (starts[-1] - starts[0]), 3)
        graph.notes[""] = (
            f"entry rate from {len(starts)} traces over "
            f"{starts[-1] - starts[0]:.3g} s (sampled traces understate it)"
        )
    return graph


def _known_ancestor(span: Span, by_id: dict[tuple[str, str], Span], known: set[str]) -> Span | None:
    """The nearest ancestor in a known service, or None (a malformed export cannot loop)."""
    seen = {span.id}
    parent = by_id.get((span.trace, span.parent)) if span.parent else None
    while parent is not None and parent.id not in seen:
        if parent.service in known:
            return parent
        seen.add(parent.id)
        parent = by_id.get((parent.trace, parent.parent)) if parent.parent else None
    return None


def _calls(
    request: Span, children: dict[tuple[str, str], list[Span]], known: set[str]
) -> list[tuple[str, float, float]]:
    """(callee, start, end) of the first spans below ``request`` in other known services,
    timed by the caller's side: its client span, or the first hop out of the caller."""
    out: list[tuple[str, float, float]] = []
    stack: list[tuple[Span, Span | None]] = [(request, None)]
    seen = {request.id}
    while stack:
        span, hop = stack.pop()
        for child in children.get((span.trace, span.id), []):
            if child.id in seen:  # a malformed export can loop
                continue
            seen.add(child.id)
            if child.service == request.service and hop is None:
                stack.append((child, None))
                continue
            timed = hop or (span if span.client and span is not request else child)
            if child.service not in known:
                stack.append((child, timed))
            else:
                out.append((child.service, timed.start_s, timed.end_s))
    return out
