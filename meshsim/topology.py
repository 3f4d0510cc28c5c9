"""Where everything runs, and which hops each mesh mode puts on a call's path.

A call from one pod to another is a chain of *endpoints* (the caller's app, the proxies the mode
inserts, the callee's app) joined by *transits* (a socket hop inside a node, with or without
eBPF redirect, or a trip across the network). The chain for the response is the same, reversed.
Everything here is pure data: the engine walks these routes, and the cost model reads the
components.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from meshsim.domain import CLIENT, Hop, Kind, Mode
from meshsim.domain import ProxyKindName as ProxyKind
from meshsim.domain import component_name as _name
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


Stage = ProxyHop | Transit


@dataclass(frozen=True)
class Component:
    """Something that uses CPU or memory, named like ``frontend-0.sidecar`` or ``n1.ztunnel``."""

    name: str
    kind: str  # a Kind: app, client, sidecar, ztunnel, waypoint, kernel
    node: str
    pod: str | None = None


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
        self.nodes: dict[str, Node] = {
            name: Node(name, pool.cores, pool.zone, pool.memory_gib)
            for pool in scenario.cluster.nodes
            for name in pool.node_names()
        }
        self._placed: dict[str, float] = dict.fromkeys(self.nodes, 0.0)  # CPU requests, m
        self._count: dict[str, int] = dict.fromkeys(self.nodes, 0)
        self.pods: dict[str, list[Pod]] = {}
        sidecar_m = params.sidecar.cpu_request_m if self.mode == "sidecar" else 0.0
        for name, svc in scenario.services.items():
            self.pods[name] = [
                self._place(f"{name}-{i}", name, svc.nodes, i, svc.cpu_request_m + sidecar_m)
                for i in range(svc.replicas)
            ]
        client = scenario.workload.client
        pinned = [client.node] if client.node else None
        self.client = self._place(CLIENT, CLIENT, pinned, 0, 0.0, in_mesh=client.in_mesh)
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
        request_m: float,
        in_mesh: bool = True,
    ) -> Pod:
        if pinned:
            node = pinned[index % len(pinned)]
        elif self.scenario.cluster.placement == "binpack":
            node = self._binpack(request_m)
        else:
            node = min(self.nodes, key=lambda n: self._count[n])  # first of the least used
        self._placed[node] += request_m
        self._count[node] += 1
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
        request_m = self.params.waypoint.cpu_request_m
        for spec in specs:
            self.waypoints[spec.name] = [
                self._place(f"{spec.name}-{i}", spec.name, spec.nodes, i, request_m)
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

    def components(self) -> list[Component]:
        """Every CPU and memory user this mode deploys, in a stable order."""
        sidecars = self.mode == Mode.SIDECAR
        client = self.client
        # the load generator's own work is billed to its "app" component, of kind client
        out = [Component(_name(CLIENT, Kind.APP), Kind.CLIENT, client.node, CLIENT)]
        if sidecars and client.in_mesh:
            out.append(Component(_name(CLIENT, Kind.SIDECAR), Kind.SIDECAR, client.node, CLIENT))
        for pods in self.pods.values():
            for pod in pods:
                out.append(Component(_name(pod.name, Kind.APP), Kind.APP, pod.node, pod.name))
                if sidecars:
                    name = _name(pod.name, Kind.SIDECAR)
                    out.append(Component(name, Kind.SIDECAR, pod.node, pod.name))
        for pods in self.waypoints.values():
            for pod in pods:
                name = _name(pod.name, Kind.WAYPOINT)
                out.append(Component(name, Kind.WAYPOINT, pod.node, pod.name))
        for node in self.nodes:
            if self.mode in (Mode.AMBIENT, Mode.WAYPOINT):
                out.append(Component(_name(node, Kind.ZTUNNEL), Kind.ZTUNNEL, node))
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
        meshed = caller.in_mesh
        tls = int(self.mtls)

        def sidecar(pod: Pod, hop: str, sides: int) -> ProxyHop:
            return ProxyHop(_name(pod.name, Kind.SIDECAR), Kind.SIDECAR, hop, pod.node, sides)

        def ztunnel(node: str, hop: str, sides: int) -> ProxyHop:
            return ProxyHop(_name(node, Kind.ZTUNNEL), Kind.ZTUNNEL, hop, node, sides)

        if self.mode == Mode.SIDECAR:
            hops = [sidecar(caller, Hop.SIDECAR_OUT, tls)] if meshed else []
            return [*hops, sidecar(callee, Hop.SIDECAR_IN, tls * meshed)]
        if self.mode in (Mode.AMBIENT, Mode.WAYPOINT):
            if meshed and waypoint is not None:
                name = _name(waypoint.name, Kind.WAYPOINT)
                return [
                    ztunnel(caller.node, Hop.ZTUNNEL_OUT, tls),
                    ProxyHop(name, Kind.WAYPOINT, Hop.WAYPOINT, waypoint.node, 2 * tls),
                    ztunnel(callee.node, Hop.ZTUNNEL_IN, tls),
                ]
            if meshed and caller.node == callee.node:
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
        return Transit(src, dst, relation, ebpf=self.ebpf and relation == "same_node")
