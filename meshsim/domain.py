"""The words of the domain, each defined once: mesh modes, component kinds, hop kinds, units.

Every member is a ``StrEnum``, so it is its own string value: ``Kind.ZTUNNEL == "ztunnel"``,
it keys dictionaries and DataFrames as the plain string does, and scenario files, CSV and JSON
keep the words they always had. A component is named ``OWNER.KIND`` (``frontend-0.sidecar``,
``n1.ztunnel``): build and read names with ``component_name``, never with an f-string.

Units are constants named by what they convert, ``TARGET_PER_SOURCE``: a duration in ms times
``S_PER_MS`` is in seconds; seconds times ``MS_PER_S`` is in ms.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class Mode(StrEnum):
    """What the mesh puts on a call's path."""

    NONE = "none"  # plain Kubernetes
    SIDECAR = "sidecar"  # an Envoy in every pod
    AMBIENT = "ambient"  # a ztunnel per node (L4, HBONE)
    WAYPOINT = "waypoint"  # ambient plus L7 waypoint proxies
    LINKERD = "linkerd"  # a Linkerd micro-proxy (linkerd2-proxy) in every pod, mTLS always on
    CILIUM = "cilium"  # eBPF in the kernel, node-to-node encryption, a shared Envoy per node


MODES: tuple[Mode, ...] = tuple(Mode)
ISTIO_MODES: tuple[Mode, ...] = (Mode.SIDECAR, Mode.AMBIENT, Mode.WAYPOINT)  # istiod's modes
# The same words as a type, for pydantic fields and signatures.
ModeName = Literal["none", "sidecar", "ambient", "waypoint", "linkerd", "cilium"]


class Kind(StrEnum):
    """What a component is: something that uses CPU or memory, or a whole node."""

    APP = "app"
    CLIENT = "client"  # the load generator
    SIDECAR = "sidecar"
    ZTUNNEL = "ztunnel"
    WAYPOINT = "waypoint"
    LINKERD_PROXY = "linkerd-proxy"  # Linkerd's sidecar
    CILIUM_ENVOY = "cilium-envoy"  # Cilium's L7 Envoy, one per node, shared by its pods
    CILIUM_AGENT = "cilium-agent"  # Cilium's per-node agent (memory; no per-request work)
    KERNEL = "kernel"  # a node's TCP/IP stack
    ISTIOD = "istiod"  # the control plane (cost model only)
    LINKERD_CONTROL = "linkerd-control"  # destination, identity, proxy-injector (cost model)
    NODE = "node"  # a row of the resources table summing a node's components


ISTIO_PROXY_KINDS: tuple[Kind, ...] = (Kind.SIDECAR, Kind.ZTUNNEL, Kind.WAYPOINT)
# The data plane: every kind that carries requests in user space.
PROXY_KINDS: tuple[Kind, ...] = (*ISTIO_PROXY_KINDS, Kind.LINKERD_PROXY, Kind.CILIUM_ENVOY)
# What a mesh deploys besides the apps: its proxies, per-node agents and control planes.
MESH_KINDS: tuple[Kind, ...] = (
    *PROXY_KINDS,
    Kind.CILIUM_AGENT,
    Kind.ISTIOD,
    Kind.LINKERD_CONTROL,
)
# Per-kind columns of compare and sweep tables (vcpu_KIND, memory_mib_KIND).
TABLE_KINDS: tuple[Kind, ...] = (Kind.APP, Kind.KERNEL, *PROXY_KINDS, Kind.CILIUM_AGENT)
ProxyKindName = Literal["sidecar", "ztunnel", "waypoint", "linkerd-proxy", "cilium-envoy"]


class Hop(StrEnum):
    """What a request visits on its path, in the order a request meets them."""

    APP = "app"
    KERNEL = "kernel"
    EBPF = "ebpf"  # a same-node socket hop short-circuited by eBPF redirect
    NETWORK = "network"
    SIDECAR_OUT = "sidecar_out"
    SIDECAR_IN = "sidecar_in"
    ZTUNNEL_OUT = "ztunnel_out"
    ZTUNNEL_LOCAL = "ztunnel_local"  # caller and callee on one node: one ztunnel
    ZTUNNEL_IN = "ztunnel_in"
    WAYPOINT = "waypoint"
    LINKERD_OUT = "linkerd_out"  # the caller's linkerd-proxy (outbound)
    LINKERD_IN = "linkerd_in"  # the callee's linkerd-proxy (inbound)
    CILIUM_ENVOY = "cilium_envoy"  # the node's shared Envoy, for an L7 service under Cilium
    CILIUM_EBPF = "cilium_ebpf"  # Cilium's eBPF datapath programs, in the node's kernel
    NODE_ENCRYPTION = "node_encryption"  # WireGuard or IPsec between nodes, in the kernel


HOPS: tuple[Hop, ...] = tuple(Hop)
PROXY_HOPS: tuple[Hop, ...] = (
    Hop.SIDECAR_OUT,
    Hop.SIDECAR_IN,
    Hop.ZTUNNEL_OUT,
    Hop.ZTUNNEL_LOCAL,
    Hop.ZTUNNEL_IN,
    Hop.WAYPOINT,
    Hop.LINKERD_OUT,
    Hop.LINKERD_IN,
    Hop.CILIUM_ENVOY,
)

CLIENT = "client"  # the load generator's pod (and the service it stands for)


def component_name(owner: str, kind: str) -> str:
    """``frontend-0.sidecar``: a pod's or node's component of one kind."""
    return f"{owner}.{kind}"


def component_owner(name: str) -> str:
    """The pod or node of a component name: ``frontend-0`` for ``frontend-0.sidecar``."""
    return name.rsplit(".", 1)[0]


# --- units ---------------------------------------------------------------------------------

S_PER_US = 1e-6
S_PER_MS = 1e-3
MS_PER_S = 1e3
BYTES_PER_KIB = 1024
KIB_PER_MIB = 1024
MIB_PER_GIB = 1024
BYTES_PER_GB = 1e9  # cloud providers bill decimal gigabytes
SECONDS_PER_HOUR = 3600

# The latency percentiles a measurement point carries (meshsim.measurements, meshsim.published).
MEASURED_LATENCY = ("p50", "p90", "p99")
