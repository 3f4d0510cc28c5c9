"""The call graph every source yields: who calls whom, in which order, how often, how long.

A :class:`CallGraph` is in the scenario's own terms: per caller, ordered steps of parallel
calls, each with a probability and a count; per service, a service-time distribution; the entry
service and its rate. Sources fill what they know and leave the rest ``None``, and every
figure carries a note saying where it came from. Names are the sources' own (trace service
names, workload names, host names); :meth:`CallGraph.renamed` maps them onto Kubernetes
Services.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from meshsim.scenario import find_cycle

Dist = dict[str, Any]  # a scenario distribution, e.g. {"type": "lognormal", ...}


@dataclass
class CallEdge:
    service: str
    probability: float = 1.0
    count: int = 1


@dataclass
class CallGraph:
    source: str  # what it was inferred from, for the scenario's comments
    steps: dict[str, list[list[CallEdge]]] = field(default_factory=dict)
    service_time: dict[str, Dist] = field(default_factory=dict)
    entry: str | None = None
    rate_rps: float | None = None
    notes: dict[str, str] = field(default_factory=dict)  # service (or "") -> provenance
    warnings: list[str] = field(default_factory=list)

    def services(self) -> set[str]:
        names = set(self.steps) | set(self.service_time)
        names |= {e.service for steps in self.steps.values() for s in steps for e in s}
        return names | ({self.entry} if self.entry else set())

    def renamed(self, resolve: dict[str, str]) -> CallGraph:
        """The same graph on Kubernetes Service names; unknown names are dropped, with a
        warning. Two source names for one Service (workload versions) are merged."""
        unknown = sorted(n for n in self.services() if n not in resolve)
        out = CallGraph(
            self.source,
            entry=resolve.get(self.entry or ""),
            rate_rps=self.rate_rps,
            warnings=list(self.warnings),
        )
        if unknown:
            out.warnings.append(
                f"{self.source}: no Service for {', '.join(unknown[:8])}"
                + (" ..." if len(unknown) > 8 else "")
                + ": dropped"
            )
        for name, steps in self.steps.items():
            if name not in resolve or resolve[name] in out.steps:
                continue
            new = [
                [
                    CallEdge(resolve[e.service], e.probability, e.count)
                    for e in step
                    if e.service in resolve
                ]
                for step in steps
            ]
            out.steps[resolve[name]] = [s for s in new if s]
        for name, dist in self.service_time.items():
            if name in resolve:
                out.service_time.setdefault(resolve[name], dist)
        for name, note in self.notes.items():
            key = resolve.get(name, name if name == "" else None)
            if key is not None:
                out.notes.setdefault(key, note)
        return out

    def break_cycles(self) -> None:
        """meshsim needs an acyclic graph: drop the call that closes each cycle, with a warning."""
        while True:
            graph = {n: [e.service for s in steps for e in s] for n, steps in self.steps.items()}
            cycle = find_cycle(graph)
            if not cycle:
                return
            caller, callee = cycle[-2], cycle[-1]
            self.steps[caller] = [
                s
                for s in ([e for e in step if e.service != callee] for step in self.steps[caller])
                if s
            ]
            self.warnings.append(
                f"{self.source}: call {caller} -> {callee} closes the cycle "
                f"{' -> '.join(cycle)}: dropped (meshsim needs an acyclic "
                "call graph)"
            )


# -- observed requests -> steps --------------------------------------------------------------


@dataclass
class Observed:
    """One request a service handled: its calls as (callee, start, end), times in seconds."""

    calls: list[tuple[str, float, float]]


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def steps_from_requests(requests: list[Observed]) -> list[list[CallEdge]]:
    """Steps of parallel calls that summarise many observed requests of one service.

    Per callee: probability = share of requests calling it at least once; count = the median
    number of sequential calls to it (calls to one callee that do not overlap); parallel copies
    = the median number of overlapping calls to it. Callees are ordered by the mean start of
    their first call, and two callees share a step when their first calls overlapped in most
    of the requests that made both.
    """
    n = len(requests)
    if n == 0:
        return []
    first: dict[str, list[tuple[float, float]]] = {}
    sequential: dict[str, list[int]] = {}
    parallel: dict[str, list[int]] = {}
    firsts_by_request: list[dict[str, tuple[float, float]]] = []
    for req in requests:
        by_callee: dict[str, list[tuple[float, float]]] = {}
        for callee, start, end in sorted(req.calls, key=lambda c: c[1]):
            by_callee.setdefault(callee, []).append((start, end))
        mine = {}
        for callee, spans in by_callee.items():
            groups: list[list[tuple[float, float]]] = []
            for span in spans:
                if groups and any(_overlap(span, other) for other in groups[-1]):
                    groups[-1].append(span)
                else:
                    groups.append([span])
            sequential.setdefault(callee, []).append(len(groups))
            parallel.setdefault(callee, []).append(max(len(g) for g in groups))
            first.setdefault(callee, []).append(spans[0])
            mine[callee] = spans[0]
        firsts_by_request.append(mine)
    order = sorted(first, key=lambda c: (sum(s for s, _ in first[c]) / len(first[c]), c))
    steps: list[list[str]] = []
    for callee in order:
        if steps and any(_mostly_parallel(callee, other, firsts_by_request) for other in steps[-1]):
            steps[-1].append(callee)
        else:
            steps.append([callee])
    out: list[list[CallEdge]] = []
    for step in steps:
        edges = []
        for callee in step:
            p = round(len(first[callee]) / n, 4)
            count = max(1, _median(sequential[callee]))
            copies = max(1, _median(parallel[callee]))
            edges += [CallEdge(callee, p, count) for _ in range(copies)]
        out.append(edges)
    return out


def _mostly_parallel(a: str, b: str, firsts: list[dict[str, tuple[float, float]]]) -> bool:
    both = [f for f in firsts if a in f and b in f]
    return bool(both) and sum(_overlap(f[a], f[b]) for f in both) * 2 > len(both)


def _median(values: list[int]) -> int:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def rate_to_edge(callee: str, calls_per_request: float) -> CallEdge:
    """Mean calls per request as a probability and a count: 0.4 -> p 0.4; 2.5 -> 3 x p 0.83."""
    count = max(1, math.ceil(calls_per_request - 1e-9))
    return CallEdge(callee, round(min(1.0, calls_per_request / count), 4), count)


# -- environment variables -------------------------------------------------------------------

_ADDRESS_VAR = re.compile(r"(_ADDR|_ADDRESS|_HOST|_URL|_URI|_ENDPOINT|_SERVICE)$")
_SERVICE_HOST_VAR = re.compile(r"^(.+)_SERVICE_HOST$")


def host_of(value: str) -> str | None:
    """The host in ``cartservice:7070``, ``http://a.b.svc.cluster.local:80/x``, or None."""
    text = value.strip()
    text = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", "", text)
    text = text.split("/", 1)[0].split("@")[-1]
    host = text.rsplit(":", 1)[0] if text.count(":") == 1 else text
    return host.lower() if re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", host.lower()) else None


def env_targets(env: list[tuple[str, str]], known: dict[str, str]) -> list[tuple[str, str]]:
    """(variable, Service) for each address variable naming a known host; (variable, "") for
    an address variable whose host is not a known Service.

    ``known`` maps every host form (``svc``, ``svc.ns``, ``svc.ns.svc``,
    ``svc.ns.svc.cluster.local``) to a Service name. ``X_SERVICE_HOST`` names its Service by
    Kubernetes' own convention (``CART_SERVICE_HOST`` -> ``cart``).
    """
    found: list[tuple[str, str]] = []
    for name, value in env:
        match = _SERVICE_HOST_VAR.match(name)
        target = None
        if match and match.group(1).lower().replace("_", "-") in known:
            target = known[match.group(1).lower().replace("_", "-")]
        elif _ADDRESS_VAR.search(name) or "://" in value or ":" in value:
            host = host_of(value)
            target = known.get(host) if host else None
            if target is None and _ADDRESS_VAR.search(name) and host and not host[0].isdigit():
                target = ""
        if target is not None:
            found.append((name, target))
    return found


def from_env(callers: dict[str, list[tuple[str, str]]], known: dict[str, str]) -> CallGraph:
    """Calls named by environment variables: probability 1, count 1, one step each (no order,
    rate or time is known)."""
    graph = CallGraph("container environment variables")
    for caller, env in callers.items():
        targets = env_targets(env, known)
        unknown = sorted(v for v, t in targets if not t)
        if unknown:
            graph.warnings.append(
                f"{caller}: {', '.join(unknown)} name no Service in the input: not called"
            )
        targets = [(v, t) for v, t in targets if t]
        callees = list(dict.fromkeys(t for _, t in targets if t != caller))
        if callees:
            graph.steps[caller] = [[CallEdge(c)] for c in callees]
            variables = Counter(v for v, t in targets if t != caller)
            graph.notes[caller] = "calls from env " + ", ".join(sorted(variables))
    return graph
