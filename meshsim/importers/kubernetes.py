"""``meshsim import kubernetes``: a scenario from manifests, plus traces or metrics if given.

Kubernetes Services become scenario services (the Deployments, StatefulSets and DaemonSets they
select are their pods: replicas summed, requests averaged over pods); Nodes become the
cluster; node selectors, required node affinity and required pod anti-affinity on the host
name pin pods to nodes. The call graph comes from traces, else Istio metrics, else the
addresses in container environment variables (then rates and times are defaults, and a warning
says so). The scenario is validated before it is written (atomically), and its comments say,
per figure, what was inferred from which file and what was defaulted.

Length: joins manifests, traces, metrics and environment variables into one scenario,
with the comments that say what was inferred; the readers are in sibling modules.
"""

from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from meshsim import __version__
from meshsim.errors import ScenarioError
from meshsim.importers.callgraph import CallGraph, from_env
from meshsim.importers.manifests import Inventory, KubeService, Node, Workload, read_inventory
from meshsim.importers.prometheus import from_prometheus
from meshsim.importers.traces import from_traces
from meshsim.loader import load_scenario_dict
from meshsim.output import write_text

DEFAULT_NODE = {"cores": 4, "memory_gib": 16}
DEFAULT_RATE_RPS = 100.0
DEFAULT_SERVICE_TIME = {"type": "exponential", "mean_ms": 1.0}
ENTRY_TYPES = ("LoadBalancer", "NodePort")


@dataclass
class Imported:
    """The scenario as a dict, its YAML text (with comments), and what the user should check."""

    scenario: dict[str, Any]
    text: str
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Group:
    """One scenario service: a Kubernetes Service (and its aliases) and the workloads it selects."""

    name: str
    service: KubeService
    workloads: list[Workload]
    aliases: list[str] = field(default_factory=list)


def import_kubernetes(
    manifests: list[Path],
    traces: Path | None = None,
    prometheus: list[Path] | None = None,
    entry: str | None = None,
    name: str = "imported",
) -> Imported:
    """Read everything, build the scenario, validate it; raises ScenarioError on bad input."""
    inv = read_inventory(manifests)
    if not inv.workloads:
        raise ScenarioError(
            "no Deployment, StatefulSet or DaemonSet found", ", ".join(map(str, manifests))
        )
    groups, unserved, empty = _groups(inv)
    if not groups:
        raise ScenarioError(
            "no Service selects any workload: nothing to simulate", ", ".join(map(str, manifests))
        )
    resolve = _resolver(groups)
    warnings: list[str] = []
    header: list[str] = []
    graph = _call_graph(inv, groups, unserved, resolve, traces, prometheus, warnings, header)
    graph.break_cycles()
    warnings += graph.warnings
    nodes, slots, cluster_note = _cluster(inv, groups)
    services: dict[str, Any] = {}
    comments: dict[str, str] = {}
    offset = 0
    for g in groups:
        svc, note, offset = _service(g, graph, slots, offset, warnings)
        services[g.name] = svc
        comments[g.name] = note
    entry_name, entry_note = _entry(entry, graph, groups, unserved, resolve, services)
    if entry_note.startswith("guessed"):
        warnings.append(f"entry {entry_name!r} {entry_note}")
    rate = graph.rate_rps
    rate_note = graph.notes.get("") or f"rate defaulted to {DEFAULT_RATE_RPS:g} rps: set yours"
    raw: dict[str, Any] = {
        "name": name,
        "description": f"imported from {', '.join(p.name for p in manifests)} by meshsim "
        f"import kubernetes",
        "cluster": {"nodes": nodes, "placement": "spread"},
        "services": services,
        "workload": {
            "entry": entry_name,
            "generator": {
                "type": "open",
                "arrivals": "poisson",
                "rate_rps": rate or DEFAULT_RATE_RPS,
            },
            "duration_s": 30,
            "warmup_s": 2,
        },
        "mesh": {"mode": "none"},
        "sim": {"seed": 1, "replications": 3},
    }
    try:
        load_scenario_dict(raw, name)
    except ScenarioError as exc:  # a bug here, not the user's input
        raise ScenarioError(
            f"the imported scenario does not validate ({exc}); please report "
            "this with the input files",
            name,
        ) from None
    header.append(
        "defaulted for every service: all of its service time is CPU "
        "(cpu_per_request_ms unset), 1 KiB requests and responses, unbounded "
        "concurrency, memory in use 64 MiB; mesh mode none"
    )
    if unserved:
        header.append(
            "workloads no Service selects (clients, jobs; not simulated): "
            + ", ".join(w.where for w in unserved)
        )
    if empty:
        header.append(
            "Services selecting no workload (skipped): "
            + ", ".join(f"{s.name} ({s.namespace})" for s in empty)
        )
    if inv.ignored:
        header.append(
            "kinds ignored: " + ", ".join(f"{k} x{n}" for k, n in sorted(inv.ignored.items()))
        )
    text = _render(
        raw,
        manifests,
        traces,
        prometheus,
        header,
        warnings,
        cluster_note,
        comments,
        f"entry: {entry_note}; {rate_note}",
    )
    return Imported(raw, text, warnings)


def write_scenario(imported: Imported, out: Path) -> Path:
    return write_text(out, imported.text)


# -- Services and their workloads ------------------------------------------------------------


def _selects(svc: KubeService, w: Workload) -> bool:
    return (
        bool(svc.selector)
        and svc.namespace == w.namespace
        and all(w.pod_labels.get(k) == v for k, v in svc.selector.items())
    )


def _groups(inv: Inventory) -> tuple[list[_Group], list[Workload], list[KubeService]]:
    """Services in file order; a Service selecting only pods another already has is an alias."""
    groups: list[_Group] = []
    owner: dict[int, _Group] = {}
    empty: list[KubeService] = []
    for svc in inv.services:
        selected = [w for w in inv.workloads if _selects(svc, w)]
        if not selected:
            empty.append(svc)
            continue
        fresh = [w for w in selected if id(w) not in owner]
        if not fresh:
            owner[id(selected[0])].aliases.append(svc.name)
            continue
        g = _Group(svc.name, svc, fresh)
        groups.append(g)
        for w in fresh:
            owner[id(w)] = g
    names = [g.name for g in groups]
    for g in groups:  # one name in two namespaces: name-namespace (still a --set path)
        if names.count(g.name) > 1:
            g.name = f"{g.name}-{g.service.namespace}"
    unserved = [w for w in inv.workloads if id(w) not in owner]
    return groups, unserved, empty


def _resolver(groups: list[_Group]) -> dict[str, str]:
    """Every name a trace, a metric or an address may use for a scenario service."""
    resolve: dict[str, str] = {}
    for g in groups:
        ns = g.service.namespace
        for svc_name in [g.service.name, *g.aliases]:
            for form in (
                f"{svc_name}.{ns}.svc.cluster.local",
                f"{svc_name}.{ns}.svc",
                f"{svc_name}.{ns}",
                svc_name,
            ):
                resolve.setdefault(form, g.name)
        for w in g.workloads:
            resolve.setdefault(f"{w.name}.{ns}", g.name)
            resolve.setdefault(w.name, g.name)
            app = w.pod_labels.get("app") or w.pod_labels.get("app.kubernetes.io/name")
            if app:
                resolve.setdefault(f"{app}.{ns}", g.name)
                resolve.setdefault(app, g.name)
    return resolve


def _call_graph(
    inv: Inventory,
    groups: list[_Group],
    unserved: list[Workload],
    resolve: dict[str, str],
    traces: Path | None,
    prometheus: list[Path] | None,
    warnings: list[str],
    header: list[str],
) -> CallGraph:
    metrics = from_prometheus(prometheus, resolve).renamed(resolve) if prometheus else None
    if traces is not None:
        graph = from_traces(traces, resolve).renamed(resolve)
        header.append(f"call graph, order, parallelism and service times: {graph.source}")
        if metrics is not None:
            if metrics.rate_rps:
                graph.rate_rps, graph.notes[""] = metrics.rate_rps, metrics.notes.get("", "")
            for svc, dist in metrics.service_time.items():
                graph.service_time.setdefault(svc, dist)
            graph.warnings += metrics.warnings
            header.append(f"entry rate and missing service times: {metrics.source}")
        return graph
    if metrics is not None:
        header.append(
            f"call graph, probabilities, counts, rate and service times: "
            f"{metrics.source}; call order is not in metrics: one step per callee"
        )
        return metrics
    env = {g.name: [v for w in g.workloads for v in w.env] for g in groups}
    env.update({f"workload {w.name}": w.env for w in unserved})
    graph = from_env(env, resolve)
    graph.steps = {k: v for k, v in graph.steps.items() if not k.startswith("workload ")}
    warnings.append(
        "call graph from container environment variables only: call "
        "probabilities, counts, order, the entry rate and service times are "
        "defaults; give --traces or --prometheus to measure them"
    )
    header.append(
        "call graph: service addresses in container environment variables "
        "(every call made once per request, one after another)"
    )
    return graph


def _entry(
    given: str | None,
    graph: CallGraph,
    groups: list[_Group],
    unserved: list[Workload],
    resolve: dict[str, str],
    services: dict[str, Any],
) -> tuple[str, str]:
    if given:
        if given not in resolve:
            raise ScenarioError(f"no Service named {given!r}", "--entry")
        return resolve[given], "given with --entry"
    if graph.entry and graph.entry in services:
        return graph.entry, f"from {graph.source}"
    env = from_env({w.name: w.env for w in unserved}, resolve)
    targets = [e.service for steps in env.steps.values() for s in steps for e in s]
    if targets:
        return targets[0], "the service the non-Service workload(s) address (a load generator)"
    exposed = [g.name for g in groups if g.service.type in ENTRY_TYPES]
    if exposed:
        return exposed[0], "the first Service of type LoadBalancer or NodePort"
    called = {e.service for steps in graph.steps.values() for s in steps for e in s}
    roots = [g.name for g in groups if g.name not in called]
    best = max(
        roots or [groups[0].name], key=lambda n: (len(_reach(n, graph)), -list(services).index(n))
    )
    return best, "guessed: the uncalled service reaching most others (set --entry)"


def _reach(start: str, graph: CallGraph) -> set[str]:
    seen, stack = set(), [start]
    while stack:
        for step in graph.steps.get(stack.pop(), []):
            for e in step:
                if e.service not in seen:
                    seen.add(e.service)
                    stack.append(e.service)
    return seen


# -- cluster and services --------------------------------------------------------------------


def _node_name(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "node"
    out, i = base, 1
    while out in taken:
        out, i = f"{base}-{i}", i + 1
    taken.add(out)
    return out


@dataclass
class _NodeSlot:
    name: str
    labels: dict[str, str]


def _cluster(
    inv: Inventory, groups: list[_Group]
) -> tuple[list[dict[str, Any]], list[_NodeSlot], str]:
    """Node pools for the scenario, the nodes with their labels, and a note."""
    usable: list[Node] = [n for n in inv.nodes if n.schedulable]
    if usable:
        taken: set[str] = set()
        pools, slots = [], []
        for n in usable:
            pool = {
                "name": _node_name(n.name, taken),
                "cores": n.cores,
                "memory_gib": round(n.memory_gib, 3),
            }
            if n.zone:
                pool["zone"] = n.zone
            pools.append(pool)
            slots.append(_NodeSlot(pool["name"], {**n.labels, "kubernetes.io/hostname": n.name}))
        skipped = len(inv.nodes) - len(usable)
        note = f"{len(usable)} Nodes from the input (cores and memory from status.capacity)" + (
            f"; {skipped} unschedulable or NoSchedule-tainted skipped" if skipped else ""
        )
        return pools, slots, note
    cpu = sum(
        (w.cpu_request_m or 0) * (w.replicas if w.replicas is not None else 1)
        for g in groups
        for w in g.workloads
    )
    spread = max([w.replicas or 1 for g in groups for w in g.workloads if w.one_per_node] + [0])
    count = max(3, spread, math.ceil(cpu / (DEFAULT_NODE["cores"] * 1000 * 0.8)))
    note = (
        f"defaulted: no Node objects in the input; {count} nodes of "
        f"{DEFAULT_NODE['cores']} cores (enough for the CPU requests at 80%)"
    )
    slots = [_NodeSlot(f"node-{i}", {}) for i in range(count)]
    return [{"name": "node", "count": count, **DEFAULT_NODE}], slots, note


def _service(
    g: _Group, graph: CallGraph, slots: list[_NodeSlot], offset: int, warnings: list[str]
) -> tuple[dict[str, Any], str, int]:
    notes = [", ".join(w.where for w in g.workloads)]
    replicas = 0
    for w in g.workloads:
        if w.kind == "DaemonSet":
            eligible = (
                [s for s in slots if _matches(s, w)] if any(s.labels for s in slots) else slots
            )
            replicas += max(1, len(eligible))
        else:
            replicas += w.replicas if w.replicas is not None else 1
    if any(w.replicas is None and w.kind != "DaemonSet" for w in g.workloads):
        notes.append("replicas not written: Kubernetes' default 1")
    if any(w.replicas == 0 for w in g.workloads):
        notes.append("a workload scaled to 0")
    replicas = max(1, replicas)
    svc: dict[str, Any] = {"replicas": replicas}
    if g.service.namespace != "default":
        svc["namespace"] = g.service.namespace
    if g.name in graph.service_time:
        svc["service_time"] = graph.service_time[g.name]
    else:
        svc["service_time"] = dict(DEFAULT_SERVICE_TIME)
        notes.append("service_time defaulted (exponential, mean 1 ms)")
    steps = graph.steps.get(g.name)
    if steps:
        svc["calls"] = [
            [
                {
                    "service": e.service,
                    **({"probability": e.probability} if e.probability < 1 else {}),
                    **({"count": e.count} if e.count > 1 else {}),
                }
                for e in step
            ]
            for step in steps
        ]
    if g.name in graph.notes:
        notes.append(graph.notes[g.name])
    weights = [max(1, w.replicas or 1) for w in g.workloads]
    for key, written, unit in (
        ("cpu_request_m", "cpu_request", "m"),
        ("memory_request_mib", "memory_request", "Mi"),
    ):
        given = [
            (getattr(w, key), n)
            for w, n in zip(g.workloads, weights, strict=True)
            if getattr(w, key) is not None
        ]
        if given:  # written as in the manifest: cpu_request: 250m, memory_request: 64Mi
            mean = sum(v * n for v, n in given) / sum(n for _, n in given)
            svc[written] = f"{mean:.3f}".rstrip("0").rstrip(".") + unit
        else:
            notes.append(f"{written} defaulted (no resources.requests)")
    limits = [f"{w.name}: cpu {w.cpu_limit_m:g}m" for w in g.workloads if w.cpu_limit_m]
    limits += [
        f"{w.name}: memory {w.memory_limit_mib:g}Mi" for w in g.workloads if w.memory_limit_mib
    ]
    if limits:
        notes.append("limits (not modelled): " + ", ".join(limits))
    first = g.workloads[0]
    if first.node_terms or first.one_per_node:
        pinned, offset = _pin(first, replicas, slots, offset, warnings)
        if pinned:
            svc["nodes"] = pinned
            notes.append(
                "pods pinned to nodes by "
                + " and ".join(
                    filter(
                        None,
                        [
                            "node selector/affinity" if first.node_terms else "",
                            "required anti-affinity (one per node)" if first.one_per_node else "",
                        ],
                    )
                )
            )
    return svc, "; ".join(notes), offset


def _matches(slot: _NodeSlot, w: Workload) -> bool:
    return all(slot.labels.get(key) in values for key, values in w.node_terms)


def _pin(
    w: Workload, replicas: int, slots: list[_NodeSlot], offset: int, warnings: list[str]
) -> tuple[list[str] | None, int]:
    if w.node_terms and not any(s.labels for s in slots):
        warnings.append(f"{w.where}: node selector ignored (no Node objects to match it)")
        eligible = slots
    else:
        eligible = [s for s in slots if _matches(s, w)]
    if not eligible:
        warnings.append(
            f"{w.where}: no node matches its node selector/affinity (its pods "
            "would stay Pending): placed like any pod"
        )
        return None, offset
    if w.one_per_node and replicas > len(eligible):
        warnings.append(
            f"{w.where}: {replicas} pods, one per node, but {len(eligible)} "
            "eligible nodes (some would stay Pending): nodes shared"
        )
    names = [eligible[(offset + i) % len(eligible)].name for i in range(replicas)]
    return names, offset + replicas


# -- YAML with comments ----------------------------------------------------------------------


def _comment(text: str, indent: str = "") -> str:
    return "".join(
        f"{indent}# {line}\n"
        for line in textwrap.wrap(text, 96 - len(indent), break_on_hyphens=False)
    )


def _dump(mapping: dict[str, Any], indent: str) -> str:
    """Block mappings for structure; one flow line for each leaf (a distribution, a node pool,
    a step of calls), which keeps a big scenario readable."""
    out = ""
    for key, value in mapping.items():
        if isinstance(value, dict) and not _leaf(value):
            out += f"{indent}{key}:\n" + _dump(value, indent + "  ")
        elif isinstance(value, list) and value and not _leaf(value):
            out += f"{indent}{key}:\n" + "".join(f"{indent}  - {_flow(v)}\n" for v in value)
        else:
            out += f"{indent}{key}: {_flow(value)}\n"
    return out


def _leaf(value: Any) -> bool:
    items = value.values() if isinstance(value, dict) else value
    return all(
        not isinstance(v, dict | list)
        or (isinstance(v, list) and all(not isinstance(x, dict | list) for x in v))
        for v in items
    )


def _flow(value: Any) -> str:
    return yaml.safe_dump([value], default_flow_style=True, sort_keys=False, width=10**9).strip()[
        1:-1
    ]


def _render(
    raw: dict[str, Any],
    manifests: list[Path],
    traces: Path | None,
    prometheus: list[Path] | None,
    header: list[str],
    warnings: list[str],
    cluster_note: str,
    comments: dict[str, str],
    workload_note: str,
) -> str:
    inputs = (
        [p.name for p in manifests]
        + ([traces.name] if traces else [])
        + [p.name for p in prometheus or []]
    )
    out = _comment(
        f"Imported by meshsim {__version__} `meshsim import kubernetes` from "
        f"{', '.join(inputs)}. Check every 'defaulted' below before trusting "
        "the numbers."
    )
    for line in header:
        out += _comment(line)
    for line in warnings:
        out += _comment("WARNING: " + line)
    out += _dump({"name": raw["name"], "description": raw["description"]}, "")
    out += "cluster:\n" + _comment(cluster_note, "  ") + _dump(raw["cluster"], "  ")
    out += "services:\n"
    for svc_name, svc in raw["services"].items():
        out += _comment(f"{svc_name}: {comments[svc_name]}", "  ")
        out += _dump({svc_name: svc}, "  ")
    out += "workload:\n" + _comment(workload_note, "  ") + _dump(raw["workload"], "  ")
    out += "mesh:\n" + _comment("compare modes with `meshsim compare`", "  ")
    out += _dump(raw["mesh"], "  ")
    out += _dump({"sim": raw["sim"]}, "")
    return out
