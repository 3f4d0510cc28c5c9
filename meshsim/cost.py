"""What a mesh mode costs: requests provisioned, resources used, money, and the control plane.

Four views of one scenario in one mode, each with its units in its names:

- *provisioned*: Kubernetes requests per component (app containers from ``Service``, a sidecar
  per pod, a ztunnel per node as a DaemonSet, waypoint Deployments with replicas, istiod),
  packed first-fit-decreasing onto nodes of ``cost.node_type`` to give the nodes needed;
- *used*: the vCPU and memory the simulation measured per component kind (``Result``);
- *money*: requests and use priced per vCPU-hour and GiB-hour, whole nodes priced per hour,
  and cross-zone bytes per GB (derived from the routes: waypoint placement changes them);
- *control plane*: istiod vCPU and memory from the number of proxies and their config size.

Everything here is arithmetic on the scenario and a ``Result``; nothing is simulated.

Length: requests, prices, node packing, istiod and Linkerd control planes and traffic cost
are one estimate; ``density.py`` holds the pods-per-node arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from meshsim.components import requests_of, visible_config
from meshsim.domain import (
    BYTES_PER_GB,
    BYTES_PER_KIB,
    CLIENT,
    ISTIO_MODES,
    ISTIO_PROXY_KINDS,
    MESH_KINDS,
    MIB_PER_GIB,
    PROXY_KINDS,
    SECONDS_PER_HOUR,
    Kind,
    Mode,
)
from meshsim.errors import ScenarioError
from meshsim.scenario import Fortio, Scenario
from meshsim.topology import Component, Pod, Topology, Transit

if TYPE_CHECKING:
    from meshsim.loader import LoadedScenario
    from meshsim.results import Result

KINDS = (Kind.APP, Kind.CLIENT, *ISTIO_PROXY_KINDS, Kind.ISTIOD, Kind.KERNEL)
# rows only the mode that deploys them adds (so the Istio modes' tables keep their shape)
MODE_KINDS: dict[str, tuple[Kind, ...]] = {
    Mode.LINKERD: (Kind.LINKERD_PROXY, Kind.LINKERD_CONTROL),
    Mode.CILIUM: (Kind.CILIUM_ENVOY, Kind.CILIUM_AGENT),
}
DATAPLANE_KINDS = (*PROXY_KINDS, Kind.CILIUM_AGENT)

PROVENANCE = {
    "sidecar requests": "Istio Helm chart default: 100m CPU, 128 Mi per pod (profile "
    "`cpu_request_m`, `memory_request_mib`)",
    "ztunnel requests": "istio/istio manifests/charts/ztunnel/values.yaml: 200m CPU, 512 Mi "
    "per node (profile)",
    "waypoint requests": "profile (assumption: the sidecar's default proxy resources)",
    "linkerd-proxy requests": "linkerd2 values-ha.yaml: 100m CPU, 20 Mi per pod (the default "
    "install requests nothing; profile `linkerd`)",
    "linkerd control plane": "linkerd2 values-ha.yaml: 3 replicas each of destination, identity "
    "and proxy-injector at 100m; use measured in Buoyant's 2025 runs (profile "
    "`linkerd_control`)",
    "cilium requests": "Cilium Helm: agent `resources: {}` and `envoy.resources: {}` (no "
    "requests; a BestEffort DaemonSet); agent memory used from Cilium's scalability report "
    "(profile `cilium`)",
    "istiod requests": "Istio chart istio-discovery default: 500m CPU, 2048 Mi (cost.istiod)",
    "istiod use": "0.5 vCPU per 1000 proxies after istio.io Performance and Scalability "
    "(istiod ~1 vCPU and 1.5 GB at 2000 sidecars, 1000 services); memory = 256 MiB + per "
    "proxy 256 KiB + 0.5 KiB per service or workload in its config (assumption fitted to the "
    "same figure; AKS's Istio add-on docs report ~25,000 sidecars in 32 GB, i.e. more per proxy)",
    "node allocatable": "GKE's reservation formula (CPU 6% of the first core, 1% of the "
    "second, 0.5% of cores 3-4, 0.25% above; memory 25% of the first 4 GiB, 20% of the next "
    "4, 10% of the next 8, 6% of the next 112, 2% above, plus 100 MiB eviction threshold)",
    "prices": "Google Cloud E2 on-demand list prices, us-central1: $0.021811 per vCPU-hour, "
    "$0.002923 per GiB-hour; inter-zone egress within a region $0.01/GB (cost.*)",
    "cross-zone bytes": "request and response payloads (request_kib, response_kib) on every "
    "network transit between zones along each call's route; headers, TLS and HBONE framing "
    "are not counted",
}


# --- nodes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeShape:
    """One node of the chosen type: its size, what pods may request on it, its price."""

    name: str
    vcpu: float
    memory_gib: float
    reserved_cpu_m: float
    reserved_memory_mib: float
    usd_per_hour: float

    @property
    def allocatable_cpu_m(self) -> float:
        return self.vcpu * 1000 - self.reserved_cpu_m

    @property
    def allocatable_memory_mib(self) -> float:
        return self.memory_gib * MIB_PER_GIB - self.reserved_memory_mib


def _tiers(amount: float, tiers: list[tuple[float, float]]) -> float:
    """Apply ``(size, fraction)`` tiers in order; the last tier's size is unbounded."""
    reserved, left = 0.0, amount
    for size, fraction in tiers:
        part = min(left, size)
        reserved += part * fraction
        left -= part
        if left <= 0:
            break
    return reserved


def gke_reserved(vcpu: float, memory_gib: float) -> tuple[float, float]:
    """(CPU millicores, memory MiB) GKE reserves for the system on a node of this size."""
    cpu_m = _tiers(vcpu * 1000, [(1000, 0.06), (1000, 0.01), (2000, 0.005), (math.inf, 0.0025)])
    mem_gib = _tiers(memory_gib, [(4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06), (math.inf, 0.02)])
    return cpu_m, mem_gib * MIB_PER_GIB + 100


def node_shape(sc: Scenario) -> NodeShape:
    nt, pool = sc.cost.node_type, sc.cluster.nodes[0]
    vcpu = nt.vcpu if nt.vcpu is not None else float(pool.cores)
    mem = nt.memory_gib if nt.memory_gib is not None else pool.memory_gib
    cpu_r, mem_r = gke_reserved(vcpu, mem)
    price = nt.usd_per_hour
    if price is None:
        price = vcpu * sc.cost.usd_per_vcpu_hour + mem * sc.cost.usd_per_gib_hour
    return NodeShape(
        name=nt.name,
        vcpu=vcpu,
        memory_gib=mem,
        reserved_cpu_m=cpu_r if nt.reserved_cpu_m is None else nt.reserved_cpu_m,
        reserved_memory_mib=mem_r if nt.reserved_memory_mib is None else nt.reserved_memory_mib,
        usd_per_hour=price,
    )


# --- requests ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Container:
    """A container's Kubernetes requests, labelled with the component kind it belongs to."""

    kind: str
    cpu_m: float
    memory_mib: float


@dataclass(frozen=True)
class PodRequest:
    name: str
    containers: tuple[Container, ...]

    @property
    def cpu_m(self) -> float:
        return sum(c.cpu_m for c in self.containers)

    @property
    def memory_mib(self) -> float:
        return sum(c.memory_mib for c in self.containers)


@dataclass(frozen=True)
class Requests:
    """Everything a mode asks Kubernetes for: pods to place, and per-node DaemonSet pods."""

    pods: tuple[PodRequest, ...]
    per_node: tuple[Container, ...]  # DaemonSet containers, one set on every node

    def daemonset_cpu_m(self) -> float:
        return sum(c.cpu_m for c in self.per_node)

    def daemonset_memory_mib(self) -> float:
        return sum(c.memory_mib for c in self.per_node)


def requests(loaded: LoadedScenario, topo: Topology | None = None) -> Requests:
    """The requests of the scenario's own mode. The load generator's pod requests nothing for
    its app (it stands in for callers) but carries a sidecar when meshed in sidecar mode."""
    sc, params = loaded.scenario, loaded.params
    topo = topo or Topology(sc, params)
    mode = sc.mesh.mode
    kind = topo.sidecar_kind
    side = (Container(kind, *requests_of(params, kind)),) if kind else ()
    pods: list[PodRequest] = []
    for name, svc in sc.services.items():
        app = Container(Kind.APP, *requests_of(params, Kind.APP, svc))
        for pod in topo.pods[name]:
            pods.append(PodRequest(pod.name, (app, *side)))
    if side and topo.client.in_mesh:
        pods.append(PodRequest(CLIENT, (Container(Kind.CLIENT, 0.0, 0.0), *side)))
    waypoint = Container(Kind.WAYPOINT, *requests_of(params, Kind.WAYPOINT))
    for wp_pods in topo.waypoints.values():
        for pod in wp_pods:
            pods.append(PodRequest(pod.name, (waypoint,)))
    per_node: tuple[Container, ...] = ()
    if mode == Mode.LINKERD:
        lc = Container(Kind.LINKERD_CONTROL, *requests_of(params, Kind.LINKERD_CONTROL))
        pods += [
            PodRequest(f"linkerd-control-{i}", (lc,))
            for i in range(params.linkerd_control.replicas)
        ]
    if mode == Mode.CILIUM:
        per_node = (
            Container(Kind.CILIUM_AGENT, *requests_of(params, Kind.CILIUM_AGENT)),
            Container(Kind.CILIUM_ENVOY, *requests_of(params, Kind.CILIUM_ENVOY)),
        )
    if mode in ISTIO_MODES:
        # a request is a floor, not a ceiling: istiod busier than its request needs the room
        ist, use = sc.cost.istiod, control_plane(loaded, topo)
        istiod = Container(
            Kind.ISTIOD,
            max(ist.cpu_request_m, use.vcpu * 1000 / ist.replicas),
            max(ist.memory_request_mib, use.memory_mib / ist.replicas),
        )
        pods += [PodRequest(f"istiod-{i}", (istiod,)) for i in range(ist.replicas)]
    if mode in (Mode.AMBIENT, Mode.WAYPOINT):
        per_node = (Container(Kind.ZTUNNEL, *requests_of(params, Kind.ZTUNNEL)),)
    return Requests(tuple(pods), per_node)


# --- bin packing -------------------------------------------------------------------------


def pack(
    pods: list[PodRequest] | tuple[PodRequest, ...],
    cpu_m: float,
    memory_mib: float,
    node_type: str = "node",
) -> list[list[PodRequest]]:
    """First-fit decreasing by CPU then memory: each pod on the first node it fits, opening a
    node when none fits. ``cpu_m`` and ``memory_mib`` are what pods may request per node."""
    nodes: list[list[PodRequest]] = []
    free: list[list[float]] = []
    for pod in sorted(pods, key=lambda p: (-p.cpu_m, -p.memory_mib, p.name)):
        if pod.cpu_m > cpu_m + 1e-9 or pod.memory_mib > memory_mib + 1e-9:
            raise ScenarioError(
                f"pod {pod.name} requests {pod.cpu_m:g}m CPU and {pod.memory_mib:g} MiB, more "
                f"than a {node_type} node offers ({cpu_m:g}m, {memory_mib:g} MiB)",
                field="cost.node_type",
            )
        for i, (c, m) in enumerate(free):
            if pod.cpu_m <= c + 1e-9 and pod.memory_mib <= m + 1e-9:
                free[i] = [c - pod.cpu_m, m - pod.memory_mib]
                nodes[i].append(pod)
                break
        else:
            nodes.append([pod])
            free.append([cpu_m - pod.cpu_m, memory_mib - pod.memory_mib])
    return nodes


def nodes_needed(loaded: LoadedScenario, reqs: Requests | None = None) -> int:
    """Nodes of the chosen type that hold every request (DaemonSets on each, at least one)."""
    shape = node_shape(loaded.scenario)
    reqs = reqs or requests(loaded)
    cpu = shape.allocatable_cpu_m - reqs.daemonset_cpu_m()
    mem = shape.allocatable_memory_mib - reqs.daemonset_memory_mib()
    if cpu <= 0 or mem <= 0:
        raise ScenarioError(
            f"DaemonSets request more than a {shape.name} node's allocatable "
            f"({shape.allocatable_cpu_m:g}m, {shape.allocatable_memory_mib:g} MiB)",
            field="cost.node_type",
        )
    return max(1, len(pack(reqs.pods, cpu, mem, shape.name)))


# --- traffic -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Traffic:
    """Per root request: calls made, and bytes that cross a zone boundary."""

    calls_per_request: float
    cross_zone_bytes_per_request: float


def traffic(loaded: LoadedScenario, topo: Topology | None = None) -> Traffic:
    """Expected calls and cross-zone bytes per root request, from the call graph and routes.

    Each call goes through one of its waypoint's replicas, evenly, to one of the callee's
    pods, evenly among ``balancing.candidates`` (what every balancing policy does in
    expectation).
    """
    from meshsim.balancing import candidates

    sc = loaded.scenario
    topo = topo or Topology(sc, loaded.params)
    visits: dict[str, float] = {}  # expected visits per root request, per pod
    flows: list[tuple[Pod, Pod, Pod | None, float, float]] = []  # caller, callee, wp, w, kib

    def call(caller: Pod, service: str, weight: float) -> None:
        svc = sc.services[service]
        wp_name = topo.waypoint_of.get(service) if caller.in_mesh else None
        wps: list[Pod | None] = list(topo.waypoints[wp_name]) if wp_name else [None]
        for wp in wps:
            pods = candidates(topo, svc, topo.pods[service], wp or caller)
            share = weight / (len(pods) * len(wps))
            for callee in pods:
                visits[callee.name] = visits.get(callee.name, 0.0) + share
                flows.append((caller, callee, wp, share, svc.request_kib + svc.response_kib))

    call(topo.client, sc.workload.entry, 1.0)
    for service in _topological(sc):
        svc = sc.services[service]
        for pod in topo.pods[service]:
            weight = visits.get(pod.name, 0.0)
            if weight == 0:
                continue
            for step in svc.calls:
                for c in step:
                    call(pod, c.service, weight * c.probability * c.count)
    calls = sum(w for *_, w, _ in flows)
    cross = 0.0
    for caller, callee, wp, weight, kib in flows:
        hops = sum(
            1
            for s in topo.route(caller, callee, wp)
            if isinstance(s, Transit) and s.relation == "cross_zone"
        )
        cross += weight * hops * kib * BYTES_PER_KIB
    return Traffic(calls, cross)


def _topological(sc: Scenario) -> list[str]:
    """Services, each after every service that calls it (the call graph is acyclic)."""
    callers: dict[str, set[str]] = {n: set() for n in sc.services}
    for name, svc in sc.services.items():
        for step in svc.calls:
            for c in step:
                callers[c.service].add(name)
    order: list[str] = []
    done: set[str] = set()
    while len(order) < len(callers):
        for name in callers:
            if name not in done and callers[name] <= done:
                order.append(name)
                done.add(name)
    return order


def workload_rate_rps(sc: Scenario) -> float | None:
    gen = sc.workload.generator
    return gen.qps if isinstance(gen, Fortio) else gen.rate_rps


# --- control plane -----------------------------------------------------------------------


@dataclass(frozen=True)
class ControlPlane:
    proxies: int
    config_items: int  # services or workloads summed over every proxy's configuration
    vcpu: float
    memory_mib: float


def control_plane(loaded: LoadedScenario, topo: Topology | None = None) -> ControlPlane:
    """istiod's modelled use: CPU per proxy, memory per proxy and per item of its config."""
    sc = loaded.scenario
    topo = topo or Topology(sc, loaded.params)
    proxies = [c for c in topo.components() if c.kind in PROXY_KINDS]
    if sc.mesh.mode not in ISTIO_MODES or not proxies:
        return ControlPlane(0, 0, 0.0, 0.0)
    items = sum(config_items(loaded, topo, c) for c in proxies)
    ist = sc.cost.istiod
    vcpu = ist.vcpu_per_1000_proxies * len(proxies) / 1000
    memory = (
        ist.memory_base_mib * ist.replicas
        + (ist.memory_per_proxy_kib * len(proxies) + ist.memory_per_proxy_item_kib * items) / 1024
    )
    return ControlPlane(len(proxies), items, vcpu, memory)


def config_items(loaded: LoadedScenario, topo: Topology, component: Component) -> int:
    """What one proxy's configuration holds, counted as its memory counts it."""
    return visible_config(loaded.scenario, topo, component)


# --- the estimate ------------------------------------------------------------------------


@dataclass
class CostEstimate:
    """One scenario in one mode: per-kind table, node count and monthly money."""

    mode: str
    by_kind: pd.DataFrame  # index kind; requested/used vCPU and GiB; USD per month
    nodes_needed: int  # by packing the requests
    nodes_run: int  # the scenario's nodes, or more if the requests need more
    node: NodeShape
    rate_rps: float
    traffic: Traffic
    control: ControlPlane
    hours_per_month: float
    usd_per_cross_zone_gb: float
    notes: list[str] = field(default_factory=list)

    @property
    def nodes_usd_month(self) -> float:
        return self.nodes_run * self.node.usd_per_hour * self.hours_per_month

    @property
    def cross_zone_gb_month(self) -> float:
        per_s = self.traffic.cross_zone_bytes_per_request * self.rate_rps
        return per_s * SECONDS_PER_HOUR * self.hours_per_month / BYTES_PER_GB

    @property
    def cross_zone_usd_month(self) -> float:
        return self.cross_zone_gb_month * self.usd_per_cross_zone_gb

    def total(self, column: str, kinds: tuple[str, ...] | None = None) -> float:
        if kinds is not None:
            kinds = tuple(k for k in kinds if k in self.by_kind.index)
        frame = self.by_kind if kinds is None else self.by_kind.loc[list(kinds)]
        return float(frame[column].sum())

    def summary(self) -> dict[str, Any]:
        """Flat figures for one table row; every key names its unit."""
        return {
            "mode": self.mode,
            "requested_vcpu": self.total("requested_vcpu"),
            "requested_gib": self.total("requested_gib"),
            "mesh_requested_vcpu": self.total("requested_vcpu", MESH_KINDS),
            "mesh_requested_gib": self.total("requested_gib", MESH_KINDS),
            "used_vcpu": self.total("used_vcpu"),
            "used_gib": self.total("used_gib"),
            "mesh_used_vcpu": self.total("used_vcpu", MESH_KINDS),
            "mesh_used_gib": self.total("used_gib", MESH_KINDS),
            "dataplane_requested_vcpu": self.total("requested_vcpu", DATAPLANE_KINDS),
            "dataplane_requested_gib": self.total("requested_gib", DATAPLANE_KINDS),
            "dataplane_used_vcpu": self.total("used_vcpu", DATAPLANE_KINDS),
            "dataplane_used_gib": self.total("used_gib", DATAPLANE_KINDS),
            "dataplane_provisioned_usd_month": self.total("requested_usd_month", DATAPLANE_KINDS),
            "dataplane_used_usd_month": self.total("used_usd_month", DATAPLANE_KINDS),
            "nodes_needed": self.nodes_needed,
            "nodes_run": self.nodes_run,
            "provisioned_usd_month": self.total("requested_usd_month"),
            "mesh_provisioned_usd_month": self.total("requested_usd_month", MESH_KINDS),
            "used_usd_month": self.total("used_usd_month"),
            "mesh_used_usd_month": self.total("used_usd_month", MESH_KINDS),
            "nodes_usd_month": self.nodes_usd_month,
            "cross_zone_gb_month": self.cross_zone_gb_month,
            "cross_zone_usd_month": self.cross_zone_usd_month,
            "total_usd_month": self.nodes_usd_month + self.cross_zone_usd_month,
            "istiod_proxies": self.control.proxies,
            "istiod_vcpu": self.control.vcpu,
            "istiod_memory_mib": self.control.memory_mib,
            "rate_rps": self.rate_rps,
        }


def estimate(
    loaded: LoadedScenario, result: Result | None = None, rate_rps: float | None = None
) -> CostEstimate:
    """The cost of the scenario's own mode; ``used`` columns need a simulated ``result``.

    ``rate_rps`` (for cross-zone traffic) defaults to the result's throughput, else the
    workload's requested rate.
    """
    sc, cost = loaded.scenario, loaded.scenario.cost
    topo = Topology(sc, loaded.params)
    reqs = requests(loaded, topo)
    n_nodes = nodes_needed(loaded, reqs)
    n_run = max(n_nodes, len(sc.cluster.node_names()))
    control = control_plane(loaded, topo)
    rows = {
        k: dict.fromkeys(("requested_vcpu", "requested_gib", "used_vcpu", "used_gib"), 0.0)
        for k in (*KINDS, *MODE_KINDS.get(sc.mesh.mode, ()))
    }
    for pod in reqs.pods:
        for c in pod.containers:
            rows[c.kind]["requested_vcpu"] += c.cpu_m / 1000
            rows[c.kind]["requested_gib"] += c.memory_mib / MIB_PER_GIB
    for c in reqs.per_node:
        rows[c.kind]["requested_vcpu"] += c.cpu_m / 1000 * n_run
        rows[c.kind]["requested_gib"] += c.memory_mib / MIB_PER_GIB * n_run
    if sc.mesh.mode in ISTIO_MODES:
        rows[Kind.ISTIOD]["used_vcpu"] = control.vcpu
        rows[Kind.ISTIOD]["used_gib"] = control.memory_mib / MIB_PER_GIB
    if sc.mesh.mode == Mode.LINKERD:
        lc = loaded.params.linkerd_control
        rows[Kind.LINKERD_CONTROL]["used_vcpu"] = lc.used_vcpu
        rows[Kind.LINKERD_CONTROL]["used_gib"] = lc.used_memory_mib / MIB_PER_GIB
    notes = []
    if result is not None:
        res = result.resources()
        res = res[res["kind"] != Kind.NODE]
        for kind, group in res.groupby("kind"):
            row = rows.setdefault(
                str(kind), dict.fromkeys(("requested_vcpu", "requested_gib"), 0.0)
            )
            row["used_vcpu"] = float(group["vcpu"].sum())
            row["used_gib"] = float(group["memory_mib"].fillna(0).sum()) / MIB_PER_GIB
        if rate_rps is None:
            rate_rps = result.summary()["throughput_rps"] or 0.0
    else:
        notes.append("no simulation: used columns hold istiod's model only")
    if rate_rps is None:
        rate_rps = workload_rate_rps(sc) or 0.0
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "kind"
    hours = cost.hours_per_month
    for what in ("requested", "used"):
        frame[f"{what}_usd_month"] = (
            frame[f"{what}_vcpu"] * cost.usd_per_vcpu_hour
            + frame[f"{what}_gib"] * cost.usd_per_gib_hour
        ) * hours
    return CostEstimate(
        mode=sc.mesh.mode,
        by_kind=frame,
        nodes_needed=n_nodes,
        nodes_run=n_run,
        node=node_shape(sc),
        rate_rps=float(rate_rps),
        traffic=traffic(loaded, topo),
        control=control,
        hours_per_month=hours,
        usd_per_cross_zone_gb=cost.usd_per_cross_zone_gb,
        notes=notes,
    )
