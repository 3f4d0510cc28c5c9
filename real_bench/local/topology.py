"""Nodes and pods as network namespaces, wired like a small Kubernetes cluster.

::

    pod ns (eth0 10.(100+k).j.2/24) --veth-- node k ns (p<j> 10.(100+k).j.1, routes to peers)
    node k ns (eth0 10.77.0.k/24) --veth-- switch ns (n<k>, enslaved to bridge br0)

A cross-node call therefore crosses pod veth -> node routing -> bridge -> node routing -> pod
veth, as on a real node with a routed CNI. Addresses exist only inside namespaces this run
created, so they cannot clash with the host.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from real_bench.local.netns import Lab

NODE_NET = "10.77.0"


@dataclass
class Pod:
    name: str
    node: str
    ns: str
    ip: str
    node_side_ip: str
    node_if: str


@dataclass
class Node:
    name: str
    index: int
    ns: str
    ip: str
    pod_cidr: str
    pods: list[Pod] = field(default_factory=list)


@dataclass
class Topology:
    switch_ns: str
    nodes: dict[str, Node]
    pods: dict[str, Pod]


def build(lab: Lab, nodes: list[str], pods: dict[str, str]) -> Topology:
    """Create the switch, `nodes` (names) and `pods` (name -> node name); return addresses."""
    sw = lab.netns("sw")
    lab.ip(sw, "link", "add", "br0", "type", "bridge")
    lab.ip(sw, "link", "set", "br0", "up")
    topo_nodes: dict[str, Node] = {}
    for k, name in enumerate(nodes, start=1):
        ns = lab.netns(name)
        lab.veth(ns, "eth0", sw, f"n{k}")
        lab.ip(sw, "link", "set", f"n{k}", "master", "br0")
        ip = f"{NODE_NET}.{k}"
        lab.ip(ns, "addr", "add", f"{ip}/24", "dev", "eth0")
        lab.sysctl(ns, "net.ipv4.ip_forward", "1")
        topo_nodes[name] = Node(name, k, ns, ip, f"10.{100 + k}.0.0/16")
    topo_pods: dict[str, Pod] = {}
    for j, (pname, nname) in enumerate(pods.items(), start=1):
        node = topo_nodes[nname]
        ns = lab.netns(pname)
        base = f"10.{100 + node.index}.{j}"
        node_if = f"p{j}"
        lab.veth(ns, "eth0", node.ns, node_if)
        lab.ip(ns, "addr", "add", f"{base}.2/24", "dev", "eth0")
        lab.ip(ns, "route", "add", "default", "via", f"{base}.1")
        lab.ip(node.ns, "addr", "add", f"{base}.1/24", "dev", node_if)
        pod = Pod(pname, nname, ns, f"{base}.2", f"{base}.1", node_if)
        node.pods.append(pod)
        topo_pods[pname] = pod
    for node in topo_nodes.values():
        for other in topo_nodes.values():
            if other is not node:
                lab.ip(node.ns, "route", "add", other.pod_cidr, "via", other.ip)
    for ns in lab.namespaces:
        lab.quickack(ns)
    return Topology(sw, topo_nodes, topo_pods)


@dataclass(frozen=True)
class Service:
    """An application service: one pod on `node`, calling `calls` in parallel per request."""

    name: str
    node: str
    calls: tuple[str, ...] = ()


@dataclass(frozen=True)
class AppGraph:
    """Who calls whom, and where each pod runs; the load generator's pod is `client` on
    `client_node` and calls `entry`."""

    name: str
    client_node: str
    entry: str
    services: tuple[Service, ...]

    def calls(self) -> dict[str, tuple[str, ...]]:
        return {s.name: s.calls for s in self.services}

    def node_of(self, pod: str) -> str:
        if pod == "client":
            return self.client_node
        return next(s.node for s in self.services if s.name == pod)

    def hops(self) -> list[tuple[str, str, str]]:
        """(caller, callee, same-node|cross-node) for every call edge, the client's first."""
        edges = [("client", self.entry)]
        edges += [(s.name, c) for s in self.services for c in s.calls]
        return [(a, b, "same-node" if self.node_of(a) == self.node_of(b) else "cross-node")
                for a, b in edges]


# One client, one server on another node: the classic single-hop benchmark.
SINGLE_HOP = AppGraph("single-hop", "node1", "server", (Service("server", "node2"),))
# A -> (B1 and B2 in parallel) -> C, as in Istio's published multi-hop benchmark. The client, a
# and b1 share node1; b2 and c share node2: client->a, a->b1 and b2->c are same-node hops,
# a->b2 and b1->c cross nodes.
THREE_TIER = AppGraph("3-tier", "node1", "a", (
    Service("a", "node1", ("b1", "b2")),
    Service("b1", "node1", ("c",)),
    Service("b2", "node2", ("c",)),
    Service("c", "node2"),
))
GRAPHS = {g.name: g for g in (SINGLE_HOP, THREE_TIER)}
