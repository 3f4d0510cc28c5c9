"""Kubernetes objects that matter to a mesh's latency and cost, read from manifests.

Reads what ``kubectl apply -f`` takes and what ``kubectl get -o yaml`` prints: multi-document
YAML, ``kind: List`` (and ``*List``) wrappers. Workloads (Deployment, StatefulSet, DaemonSet)
give pods, replicas, resource requests and limits, where pods may run (node selectors, required
node affinity) and whether they must be on distinct nodes (required pod anti-affinity on the
host name) and the environment variables that name other services; Services say which pods
answer which name; Nodes give cores, memory and zone. Other kinds are counted and ignored.

Input is bounded (file size, documents, YAML nodes: anchors cannot blow it up) and read with
the safe loader; every error is one line naming file, line and field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from meshsim.errors import ScenarioError
from meshsim.quantity import Kind
from meshsim.quantity import parse as parse_quantity
from meshsim.safe_yaml import read_text

MAX_FILE_BYTES = 32 * 2**20
MAX_DOCUMENTS = 20_000
MAX_YAML_NODES = 2_000_000
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
HOSTNAME_KEY = "kubernetes.io/hostname"
ZONE_KEYS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")

Path_ = tuple[str | int, ...]


@dataclass
class Workload:
    """One Deployment, StatefulSet or DaemonSet: its pods and what they ask for."""

    kind: str
    name: str
    namespace: str
    replicas: int | None  # None: not written (Kubernetes defaults to 1); DaemonSet: per node
    pod_labels: dict[str, str]
    cpu_request_m: float | None
    memory_request_mib: float | None
    cpu_limit_m: float | None
    memory_limit_mib: float | None
    node_terms: list[tuple[str, frozenset[str]]]  # label key in values (selector, affinity)
    one_per_node: bool  # required pod anti-affinity on the host name against its own pods
    env: list[tuple[str, str]]
    file: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.kind} {self.name} ({Path(self.file).name}:{self.line})"


@dataclass
class KubeService:
    name: str
    namespace: str
    selector: dict[str, str]
    type: str
    file: str
    line: int


@dataclass
class Node:
    name: str
    cores: int
    memory_gib: float
    zone: str | None
    labels: dict[str, str]
    schedulable: bool
    file: str
    line: int


@dataclass
class Inventory:
    workloads: list[Workload] = field(default_factory=list)
    services: list[KubeService] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    ignored: dict[str, int] = field(default_factory=dict)


# -- quantities ------------------------------------------------------------------------------

def quantity(value: object, kind: Kind = "memory") -> float | None:
    """A Kubernetes quantity (``500m``, ``2``, ``128Mi``, ``1e3``) in cores or bytes, or None
    (``meshsim.quantity`` reads it, as a scenario's ``cpu_request: 500m``)."""
    try:
        return float(parse_quantity(value, kind))
    except ValueError:
        return None


# -- reading YAML with lines -----------------------------------------------------------------


class _Document:
    """One YAML document's data and the line of every field path in it."""

    def __init__(self, data: Any, lines: dict[Path_, int], file: str) -> None:
        self.data, self.lines, self.file = data, lines, file

    def line(self, path: Path_) -> int | None:
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path)

    def error(self, path: Path_, message: str) -> ScenarioError:
        return ScenarioError(message, self.file, self.line(path), ".".join(map(str, path)))


def _line_map(node: yaml.Node, budget: list[int], file: str) -> dict[Path_, int]:
    lines: dict[Path_, int] = {}
    stack: list[tuple[yaml.Node, Path_]] = [(node, ())]
    while stack:
        current, path = stack.pop()
        budget[0] -= 1
        if budget[0] < 0:
            raise ScenarioError(
                f"more than {MAX_YAML_NODES} YAML nodes (anchors?)",
                file,
                current.start_mark.line + 1,
            )
        lines.setdefault(path, current.start_mark.line + 1)
        if isinstance(current, yaml.MappingNode):
            stack += [(v, (*path, str(k.value))) for k, v in current.value]
        elif isinstance(current, yaml.SequenceNode):
            stack += [(v, (*path, i)) for i, v in enumerate(current.value)]
    return lines


def read_documents(path: Path) -> list[_Document]:
    """Every YAML document of a file, bounded; located errors."""
    file = str(path)
    text = read_text(path, MAX_FILE_BYTES)
    loader = yaml.SafeLoader(text)
    docs: list[_Document] = []
    budget = [MAX_YAML_NODES]
    try:
        while loader.check_node():
            node = loader.get_node()
            if len(docs) >= MAX_DOCUMENTS:
                raise ScenarioError(
                    f"more than {MAX_DOCUMENTS} YAML documents", file, node.start_mark.line + 1
                )
            lines = _line_map(node, budget, file)
            docs.append(_Document(loader.construct_document(node), lines, file))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(
            f"YAML syntax error: {problem}", file, mark.line + 1 if mark else None
        ) from None
    finally:
        loader.dispose()
    return docs


# -- objects ---------------------------------------------------------------------------------


def read_inventory(paths: list[Path]) -> Inventory:
    """Workloads, Services and Nodes from every file, in file order."""
    inv = Inventory()
    for path in paths:
        for doc in read_documents(path):
            if doc.data is None:
                continue
            _object(doc, doc.data, (), inv)
    return inv


def _mapping(doc: _Document, value: Any, path: Path_, what: str = "a mapping") -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise doc.error(path, f"expected {what}")
    return value


def _list(doc: _Document, value: Any, path: Path_) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise doc.error(path, "expected a list")
    return value


def _labels(doc: _Document, value: Any, path: Path_) -> dict[str, str]:
    return {str(k): str(v) for k, v in _mapping(doc, value, path).items()}


def _object(doc: _Document, obj: Any, path: Path_, inv: Inventory) -> None:
    obj = _mapping(doc, obj, path, "a Kubernetes object (a mapping)")
    kind = obj.get("kind")
    if not isinstance(kind, str) or not kind:
        raise doc.error((*path, "kind"), "a Kubernetes object needs a kind")
    if kind == "List" or (kind.endswith("List") and "items" in obj):
        for i, item in enumerate(_list(doc, obj.get("items"), (*path, "items"))):
            _object(doc, item, (*path, "items", i), inv)
        return
    meta = _mapping(doc, obj.get("metadata"), (*path, "metadata"))
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise doc.error((*path, "metadata", "name"), f"{kind} needs metadata.name")
    namespace = str(meta.get("namespace") or "default")
    line = doc.line(path) or 1
    if kind in WORKLOAD_KINDS:
        inv.workloads.append(_workload(doc, obj, path, kind, name, namespace, line))
    elif kind == "Service":
        spec = _mapping(doc, obj.get("spec"), (*path, "spec"))
        selector = _labels(doc, spec.get("selector"), (*path, "spec", "selector"))
        inv.services.append(
            KubeService(
                name, namespace, selector, str(spec.get("type") or "ClusterIP"), doc.file, line
            )
        )
    elif kind == "Node":
        inv.nodes.append(_node(doc, obj, path, name, line))
    else:
        inv.ignored[kind] = inv.ignored.get(kind, 0) + 1


def _workload(
    doc: _Document, obj: dict, path: Path_, kind: str, name: str, namespace: str, line: int
) -> Workload:
    spec_path = (*path, "spec")
    spec = _mapping(doc, obj.get("spec"), spec_path)
    replicas = spec.get("replicas")
    if replicas is not None and (
        isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0
    ):
        raise doc.error(
            (*spec_path, "replicas"), f"{kind} {name}: replicas must be an integer >= 0"
        )
    tmpl_path = (*spec_path, "template")
    tmpl = _mapping(doc, spec.get("template"), tmpl_path)
    pod_labels = _labels(
        doc,
        _mapping(doc, tmpl.get("metadata"), (*tmpl_path, "metadata")).get("labels"),
        (*tmpl_path, "metadata", "labels"),
    )
    pod_path = (*tmpl_path, "spec")
    pod = _mapping(doc, tmpl.get("spec"), pod_path)
    totals: dict[str, float | None] = {}
    env: list[tuple[str, str]] = []
    containers = _list(doc, pod.get("containers"), (*pod_path, "containers"))
    if not containers:
        raise doc.error((*pod_path, "containers"), f"{kind} {name}: no containers")
    for i, c in enumerate(containers):
        c_path = (*pod_path, "containers", i)
        c = _mapping(doc, c, c_path)
        res = _mapping(doc, c.get("resources"), (*c_path, "resources"))
        for section in ("requests", "limits"):
            values = _mapping(doc, res.get(section), (*c_path, "resources", section))
            for resource in ("cpu", "memory"):
                if resource not in values:
                    continue
                q = quantity(values[resource], resource)
                if q is None:
                    raise doc.error(
                        (*c_path, "resources", section, resource),
                        f"{kind} {name}: not a Kubernetes quantity: {str(values[resource])[:40]!r}",
                    )
                key = f"{section}.{resource}"
                totals[key] = (totals.get(key) or 0.0) + q
        for j, var in enumerate(_list(doc, c.get("env"), (*c_path, "env"))):
            var = _mapping(doc, var, (*c_path, "env", j))
            if isinstance(var.get("value"), str | int) and var.get("name"):
                env.append((str(var["name"]), str(var["value"])))

    def cpu_m(key: str) -> float | None:
        return None if totals.get(key) is None else totals[key] * 1000.0

    def mib(key: str) -> float | None:
        return None if totals.get(key) is None else totals[key] / 2**20

    # Kubernetes sets a missing request to the limit
    cpu_req = cpu_m("requests.cpu") if "requests.cpu" in totals else cpu_m("limits.cpu")
    mem_req = mib("requests.memory") if "requests.memory" in totals else mib("limits.memory")
    return Workload(
        kind=kind,
        name=name,
        namespace=namespace,
        replicas=replicas,
        pod_labels=pod_labels,
        cpu_request_m=cpu_req,
        memory_request_mib=mem_req,
        cpu_limit_m=cpu_m("limits.cpu"),
        memory_limit_mib=mib("limits.memory"),
        node_terms=_node_terms(doc, pod, pod_path),
        one_per_node=_one_per_node(doc, pod, pod_path, pod_labels),
        env=env,
        file=doc.file,
        line=line,
    )


def _node_terms(doc: _Document, pod: dict, pod_path: Path_) -> list[tuple[str, frozenset[str]]]:
    """nodeSelector and the first required node-affinity term, as (label, allowed values)."""
    terms = [
        (k, frozenset([v]))
        for k, v in _labels(doc, pod.get("nodeSelector"), (*pod_path, "nodeSelector")).items()
    ]
    aff_path = (
        *pod_path,
        "affinity",
        "nodeAffinity",
        "requiredDuringSchedulingIgnoredDuringExecution",
    )
    node_aff = _mapping(
        doc, _mapping(doc, pod.get("affinity"), aff_path[:-2]).get("nodeAffinity"), aff_path[:-1]
    )
    required = _mapping(doc, node_aff.get(aff_path[-1]), aff_path)
    selector_terms = _list(doc, required.get("nodeSelectorTerms"), (*aff_path, "nodeSelectorTerms"))
    if selector_terms:  # terms are ORed; the first one is used (stated in the scenario)
        first = _mapping(doc, selector_terms[0], (*aff_path, "nodeSelectorTerms", 0))
        for expr in _list(doc, first.get("matchExpressions"), (*aff_path, "nodeSelectorTerms", 0)):
            if isinstance(expr, dict) and expr.get("operator") == "In":
                terms.append((str(expr.get("key")), frozenset(map(str, expr.get("values") or []))))
    return terms


def _one_per_node(doc: _Document, pod: dict, pod_path: Path_, labels: dict[str, str]) -> bool:
    """Required anti-affinity against its own pods on the host name: one pod per node."""
    aff = _mapping(doc, pod.get("affinity"), (*pod_path, "affinity"))
    anti = _mapping(doc, aff.get("podAntiAffinity"), (*pod_path, "affinity", "podAntiAffinity"))
    for term in anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []:
        if not isinstance(term, dict) or term.get("topologyKey") != HOSTNAME_KEY:
            continue
        match = (term.get("labelSelector") or {}).get("matchLabels") or {}
        if match and all(labels.get(str(k)) == str(v) for k, v in match.items()):
            return True
    return False


def _node(doc: _Document, obj: dict, path: Path_, name: str, line: int) -> Node:
    meta = _mapping(doc, obj.get("metadata"), (*path, "metadata"))
    labels = _labels(doc, meta.get("labels"), (*path, "metadata", "labels"))
    status = _mapping(doc, obj.get("status"), (*path, "status"))
    capacity = _mapping(doc, status.get("capacity"), (*path, "status", "capacity"))
    cpu = quantity(capacity.get("cpu"), "cpu") if "cpu" in capacity else None
    memory = quantity(capacity.get("memory")) if "memory" in capacity else None
    if cpu is None or cpu <= 0:
        raise doc.error(
            (*path, "status", "capacity", "cpu"),
            f"Node {name}: needs status.capacity.cpu (as kubectl get -o yaml prints)",
        )
    spec = _mapping(doc, obj.get("spec"), (*path, "spec"))
    taints = [t for t in spec.get("taints") or [] if isinstance(t, dict)]
    schedulable = not spec.get("unschedulable") and not any(
        t.get("effect") == "NoSchedule" for t in taints
    )
    zone = next((labels[k] for k in ZONE_KEYS if k in labels), None)
    return Node(
        name,
        max(1, round(cpu)),
        (memory or 16 * 2**30) / 2**30,
        zone,
        labels,
        schedulable,
        doc.file,
        line,
    )
