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
    return Topology(sw, topo_nodes, topo_pods)
