"""Where everything runs, and which hops each mesh mode puts on a call's path.

A call from one pod to another is a chain of *endpoints* (the caller's app, the proxies the mode
inserts, the callee's app) joined by *transits* (a socket hop inside a node, with or without
eBPF redirect, or a trip across the network). The chain for the response is the same, reversed.
Everything here is pure data: the engine walks these routes, and the cost model reads the
components.

Placement ``spread`` follows the Kubernetes scheduler's default scoring, simplified to a strict
order (kube-scheduler's default plugins: PodTopologySpread's system default constraints spread a
workload's pods over zones and hostnames; NodeResourcesFit scores LeastAllocated, the mean of
the free CPU and memory fractions, counting a pod without requests as 100m and 200 MB; the
scheduler breaks ties between the best nodes at random): first the zone with fewest of the
service's pods per node, then a node with fewest of them, then the least allocated, then a
random one, drawn from the named stream ``placement`` of the scenario's seed. The scheduler's
weighted sum of scores and its sampling of a subset of nodes in large clusters are not modelled.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Literal

from meshsim.domain import CLIENT, Hop, Kind, Mode
from meshsim.domain import ProxyKindName as ProxyKind
from meshsim.domain import component_name as _name
from meshsim.random import stream
from meshsim.scenario import Params, Scenario, Waypoint

Relation = Literal["same_node", "same_zone", "cross_zone"]


@dataclass(frozen=True)
class Node:
    name: str
    cores: int
    zone: str
    memory_gib: float


@dataclass(frozen=True)
class Pod:
    name: str
    service: str  # the service it serves; CLIENT for the load generator; the waypoint's name
    node: str
    in_mesh: bool = True


@dataclass(frozen=True)
class ProxyHop:
    """One traversal of a proxy. ``tls_sides``: how many of its two sides speak mTLS."""

    component: str
    proxy: ProxyKind
    hop: str  # a proxy Hop: sidecar_out, sidecar_in, ztunnel_out, ztunnel_in, ...
    node: str
    tls_sides: int


@dataclass(frozen=True)
class Transit:
    """A message moving between two endpoints' sockets."""

    src: str
    dst: str
    relation: Relation
    ebpf: bool  # same-node hop short-circuited by socket redirect
    cilium: bool = False  # Cilium's eBPF datapath runs at each end
    encryption: str = ""  # "wireguard" or "ipsec" between nodes under Cilium; "" = none


Stage = ProxyHop | Transit


@dataclass(frozen=True)
class Component:
    """Something that uses CPU or memory, named like ``frontend-0.sidecar`` or ``n1.ztunnel``."""

    name: str
    kind: str  # a Kind: app, client, a proxy kind, cilium-agent, kernel
    node: str
    pod: str | None = None


# kube-scheduler scores a pod without requests as if it asked for this much (NonZeroRequested)
SCORE_DEFAULT_CPU_M = 100.0
SCORE_DEFAULT_MEMORY_MIB = 200 * 1e6 / 2**20


class Spread:
    """Spread placement (see the module docstring), in O(log nodes) per pod: one lazy heap per
    zone of (allocated fraction, random tie-break, node); an entry is stale once its node's
    allocation has moved on, and a node already holding more of the service's pods than the
    zone's least-used node is set aside for that pick."""

    def __init__(self, nodes: dict[str, Node], seed: int) -> None:
        self._nodes = nodes
        self._rng = stream(seed, 0, "placement")
        self._cpu_m = dict.fromkeys(nodes, 0.0)
        self._memory_mib = dict.fromkeys(nodes, 0.0)
        self._zones: dict[str, list[str]] = {}
        for name, node in nodes.items():
            self._zones.setdefault(node.zone, []).append(name)
        self._heaps: dict[str, list[tuple[float, float, str]]] = {z: [] for z in self._zones}
        for name in nodes:
            self._push(name)
        self._on_node: dict[str, dict[str, int]] = {}  # service -> node -> pods
        self._in_zone: dict[str, dict[str, int]] = {}  # service -> zone -> pods
        self._level: dict[tuple[str, str], int] = {}  # (service, zone) -> fewest pods on a node

    def allocated(self, node: str) -> float:
        n = self._nodes[node]
        return (
            self._cpu_m[node] / (n.cores * 1000) + self._memory_mib[node] / (n.memory_gib * 1024)
        ) / 2

    def record(self, node: str, service: str, cpu_m: float, memory_mib: float) -> None:
        """Count a pod on ``node``, wherever it was placed (pinned pods too)."""
        self._cpu_m[node] += max(cpu_m, SCORE_DEFAULT_CPU_M)
        self._memory_mib[node] += max(memory_mib, SCORE_DEFAULT_MEMORY_MIB)
        on_node = self._on_node.setdefault(service, {})
        on_node[node] = on_node.get(node, 0) + 1
        in_zone = self._in_zone.setdefault(service, {})
        zone = self._nodes[node].zone
        in_zone[zone] = in_zone.get(zone, 0) + 1
        self._push(node)

    def choose(self, service: str) -> str:
        """The node the next pod of ``service`` goes to (not yet recorded)."""
        in_zone = self._in_zone.get(service, {})
        load = {z: in_zone.get(z, 0) / len(names) for z, names in self._zones.items()}
        fewest = min(load.values())
        zones = sorted(z for z, v in load.items() if v == fewest)
        zone = zones[int(self._rng.random() * len(zones))] if len(zones) > 1 else zones[0]
        return self._choose_in(service, zone)

    def _choose_in(self, service: str, zone: str) -> str:
        heap, on_node = self._heaps[zone], self._on_node.get(service, {})
        level = self._level.get((service, zone), 0)
        aside: list[tuple[float, float, str]] = []
        while True:
            if not heap:  # every node holds more than `level` of this service's pods
                level += 1
                heap.extend(aside)
                heapq.heapify(heap)
                aside = []
                continue
            entry = heapq.heappop(heap)
            allocated, _, node = entry
            if allocated != self.allocated(node):
                continue  # stale: a newer entry for this node is in the heap
            if on_node.get(node, 0) > level:
                aside.append(entry)
                continue
            for kept in aside:
                heapq.heappush(heap, kept)
            self._level[(service, zone)] = level
            return node  # its entry is pushed again when the pod is recorded

    def _push(self, node: str) -> None:
        zone = self._nodes[node].zone
        heapq.heappush(self._heaps[zone], (self.allocated(node), float(self._rng.random()), node))


class Topology:
    """Pods placed on nodes, and the route of every call under one mesh mode."""

    def __init__(self, scenario: Scenario, params: Params) -> None:
        self.scenario = scenario
        self.params = params
        self._routes: dict[tuple[Pod, Pod, Pod | None], tuple[Stage, ...]] = {}
        mesh = scenario.mesh
        self.mode = mesh.mode
        self.mtls = mesh.mtls
        self.ebpf = mesh.ebpf_shortcircuit
        self.same_node_local = mesh.ambient_same_node == "local"
        self.nodes: dict[str, Node] = {
            name: Node(name, pool.cores, pool.zone, pool.memory_gib)
            for pool in scenario.cluster.nodes
            for name in pool.node_names()
        }
        self._placed: dict[str, float] = dict.fromkeys(self.nodes, 0.0)  # CPU requests, m
        self._spread = Spread(self.nodes, scenario.sim.seed)
        self.pods: dict[str, list[Pod]] = {}
        sidecar = {Mode.SIDECAR: params.sidecar, Mode.LINKERD: params.linkerd}.get(self.mode)
        for name, svc in scenario.services.items():
            cpu_m = svc.cpu_request_m + (sidecar.cpu_request_m if sidecar else 0.0)
            memory_mib = svc.memory_request_mib + (sidecar.memory_request_mib if sidecar else 0.0)
            self.pods[name] = [
                self._place(f"{name}-{i}", name, svc.nodes, i, cpu_m, memory_mib)
                for i in range(svc.replicas)
            ]
        client = scenario.workload.client
        pinned = [client.node] if client.node else None
        self.client = self._place(CLIENT, CLIENT, pinned, 0, 0.0, 0.0, in_mesh=client.in_mesh)
        self.waypoint_of: dict[str, str] = {}
        self.waypoints: dict[str, list[Pod]] = {}
        if self.mode == "waypoint":
            self._place_waypoints()
        self.pod_by_name = {p.name: p for p in self.all_pods()}

    # --- placement ---------------------------------------------------------------------

    def _place(
        self,
        name: str,
        service: str,
        pinned: list[str] | None,
        index: int,
        cpu_m: float,
        memory_mib: float,
        in_mesh: bool = True,
    ) -> Pod:
        if pinned:
            node = pinned[index % len(pinned)]
        elif self.scenario.cluster.placement == "binpack":
            node = self._binpack(cpu_m)
        else:
            node = self._spread.choose(service)
        self._placed[node] += cpu_m
        self._spread.record(node, service, cpu_m, memory_mib)
        return Pod(name, service, node, in_mesh)

    def _binpack(self, request_m: float) -> str:
        for node in self.nodes.values():
            if self._placed[node.name] + request_m <= node.cores * 1000:
                return node.name
        return min(self.nodes, key=lambda n: self._placed[n] / self.nodes[n].cores)

    def _place_waypoints(self) -> None:
        specs = self.scenario.mesh.waypoints
        if not specs:
            namespaces = sorted({s.namespace for s in self.scenario.services.values()})
            specs = [Waypoint(name=f"waypoint-{ns}", namespace=ns) for ns in namespaces]
        wp = self.params.waypoint
        for spec in specs:
            self.waypoints[spec.name] = [
                self._place(
                    f"{spec.name}-{i}",
                    spec.name,
                    spec.nodes,
                    i,
                    wp.cpu_request_m,
                    wp.memory_request_mib,
                )
                for i in range(spec.replicas)
            ]
            served = spec.services or [
                n for n, s in self.scenario.services.items() if s.namespace == spec.namespace
            ]
            for svc in served:
                self.waypoint_of.setdefault(svc, spec.name)

    # --- components --------------------------------------------------------------------

    def all_pods(self) -> list[Pod]:
        pods = [self.client] + [p for pods in self.pods.values() for p in pods]
        return pods + [p for pods in self.waypoints.values() for p in pods]

    @property
    def sidecar_kind(self) -> Kind | None:
        """The proxy this mode puts in every pod, if any."""
        return {Mode.SIDECAR: Kind.SIDECAR, Mode.LINKERD: Kind.LINKERD_PROXY}.get(self.mode)

    def components(self) -> list[Component]:
        """Every CPU and memory user this mode deploys, in a stable order."""
        sidecar = self.sidecar_kind
        client = self.client
        # the load generator's own work is billed to its "app" component, of kind client
        out = [Component(_name(CLIENT, Kind.APP), Kind.CLIENT, client.node, CLIENT)]
        if sidecar and client.in_mesh:
            out.append(Component(_name(CLIENT, sidecar), sidecar, client.node, CLIENT))
        for pods in self.pods.values():
            for pod in pods:
                out.append(Component(_name(pod.name, Kind.APP), Kind.APP, pod.node, pod.name))
                if sidecar:
                    out.append(Component(_name(pod.name, sidecar), sidecar, pod.node, pod.name))
        for pods in self.waypoints.values():
            for pod in pods:
                name = _name(pod.name, Kind.WAYPOINT)
                out.append(Component(name, Kind.WAYPOINT, pod.node, pod.name))
        for node in self.nodes:
            if self.mode in (Mode.AMBIENT, Mode.WAYPOINT):
                out.append(Component(_name(node, Kind.ZTUNNEL), Kind.ZTUNNEL, node))
            if self.mode == Mode.CILIUM:  # DaemonSets: the agent, and Envoy for L7
                out.append(Component(_name(node, Kind.CILIUM_AGENT), Kind.CILIUM_AGENT, node))
                out.append(Component(_name(node, Kind.CILIUM_ENVOY), Kind.CILIUM_ENVOY, node))
            out.append(Component(_name(node, Kind.KERNEL), Kind.KERNEL, node))
        return out

    def relation(self, a: str, b: str) -> Relation:
        if a == b:
            return "same_node"
        return "same_zone" if self.nodes[a].zone == self.nodes[b].zone else "cross_zone"

    # --- routes ------------------------------------------------------------------------

    def route(self, caller: Pod, callee: Pod, waypoint: Pod | None = None) -> tuple[Stage, ...]:
        """The stages of a request from caller to callee (the response walks them reversed)."""
        key = (caller, callee, waypoint)
        if key not in self._routes:
            self._routes[key] = self._build_route(caller, callee, waypoint)
        return self._routes[key]

    def _proxies(self, caller: Pod, callee: Pod, waypoint: Pod | None) -> list[ProxyHop]:
        """The proxies a call crosses, in order.

        Ambient, caller and callee on one node (``mesh.ambient_same_node``): ``local`` is the
        in-memory fast path that ztunnel added in 2022 (istio/ztunnel pull request 141:
        outbound hands the stream to inbound, no HBONE, no TLS). In-pod redirection (default
        since Istio 1.21) made it unused (pull request 915 removes it: "not used in any
        deployment modes now that k8s runs on inpod mode"; today's src/proxy/outbound.rs always
        sends HBONE), so a same-node call takes the outbound and inbound steps with mTLS:
        ``tunnel``, the default. ``local`` remains to model ztunnel before in-pod mode.
        """
        meshed = caller.in_mesh
        tls = int(self.mtls)

        def sidecar(pod: Pod, hop: str, sides: int) -> ProxyHop:
            return ProxyHop(_name(pod.name, Kind.SIDECAR), Kind.SIDECAR, hop, pod.node, sides)

        def linkerd(pod: Pod, hop: str, sides: int) -> ProxyHop:
            name = _name(pod.name, Kind.LINKERD_PROXY)
            return ProxyHop(name, Kind.LINKERD_PROXY, hop, pod.node, sides)

        def ztunnel(node: str, hop: str, sides: int) -> ProxyHop:
            return ProxyHop(_name(node, Kind.ZTUNNEL), Kind.ZTUNNEL, hop, node, sides)

        if self.mode == Mode.SIDECAR:
            hops = [sidecar(caller, Hop.SIDECAR_OUT, tls)] if meshed else []
            return [*hops, sidecar(callee, Hop.SIDECAR_IN, tls * meshed)]
        if self.mode == Mode.LINKERD:  # mTLS between meshed proxies is always on
            hops = [linkerd(caller, Hop.LINKERD_OUT, 1)] if meshed else []
            return [*hops, linkerd(callee, Hop.LINKERD_IN, int(meshed))]
        if self.mode == Mode.CILIUM:
            if callee.service not in self.scenario.mesh.cilium.l7_services:
                return []  # L4: the eBPF datapath only (see _transit)
            side = self.scenario.mesh.cilium.l7_side
            node = callee.node if side == "ingress" else caller.node
            name = _name(node, Kind.CILIUM_ENVOY)
            return [ProxyHop(name, Kind.CILIUM_ENVOY, Hop.CILIUM_ENVOY, node, 0)]
        if self.mode in (Mode.AMBIENT, Mode.WAYPOINT):
            if meshed and waypoint is not None:
                name = _name(waypoint.name, Kind.WAYPOINT)
                return [
                    ztunnel(caller.node, Hop.ZTUNNEL_OUT, tls),
                    ProxyHop(name, Kind.WAYPOINT, Hop.WAYPOINT, waypoint.node, 2 * tls),
                    ztunnel(callee.node, Hop.ZTUNNEL_IN, tls),
                ]
            if meshed and caller.node == callee.node and self.same_node_local:
                return [ztunnel(caller.node, Hop.ZTUNNEL_LOCAL, 0)]
            hops = [ztunnel(caller.node, Hop.ZTUNNEL_OUT, tls)] if meshed else []
            return [*hops, ztunnel(callee.node, Hop.ZTUNNEL_IN, tls * meshed)]
        return []

    def _build_route(self, caller: Pod, callee: Pod, waypoint: Pod | None) -> tuple[Stage, ...]:
        stages: list[Stage] = []
        here = caller.node
        for proxy in self._proxies(caller, callee, waypoint):
            stages += [self._transit(here, proxy.node), proxy]
            here = proxy.node
        stages.append(self._transit(here, callee.node))
        return tuple(stages)

    def _transit(self, src: str, dst: str) -> Transit:
        relation = self.relation(src, dst)
        ebpf = self.ebpf and relation == "same_node"
        if self.mode != Mode.CILIUM:
            return Transit(src, dst, relation, ebpf)
        # WireGuard and IPsec encrypt between nodes only (Cilium docs, encryption-wireguard.rst)
        encryption = self.scenario.mesh.cilium.encryption
        crypt = "" if relation == "same_node" or encryption == "none" else encryption
        return Transit(src, dst, relation, ebpf, cilium=True, encryption=crypt)
