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


MODES: tuple[Mode, ...] = tuple(Mode)
# The same words as a type, for pydantic fields and signatures.
ModeName = Literal["none", "sidecar", "ambient", "waypoint"]


class Kind(StrEnum):
    """What a component is: something that uses CPU or memory, or a whole node."""

    APP = "app"
    CLIENT = "client"  # the load generator
    SIDECAR = "sidecar"
    ZTUNNEL = "ztunnel"
    WAYPOINT = "waypoint"
    KERNEL = "kernel"  # a node's TCP/IP stack
    ISTIOD = "istiod"  # the control plane (cost model only)
    NODE = "node"  # a row of the resources table summing a node's components


PROXY_KINDS: tuple[Kind, ...] = (Kind.SIDECAR, Kind.ZTUNNEL, Kind.WAYPOINT)  # the data plane
MESH_KINDS: tuple[Kind, ...] = (*PROXY_KINDS, Kind.ISTIOD)
# Per-kind columns of compare and sweep tables (vcpu_KIND, memory_mib_KIND).
TABLE_KINDS: tuple[Kind, ...] = (Kind.APP, Kind.KERNEL, *PROXY_KINDS)
ProxyKindName = Literal["sidecar", "ztunnel", "waypoint"]


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


HOPS: tuple[Hop, ...] = tuple(Hop)
PROXY_HOPS: tuple[Hop, ...] = (
    Hop.SIDECAR_OUT,
    Hop.SIDECAR_IN,
    Hop.ZTUNNEL_OUT,
    Hop.ZTUNNEL_LOCAL,
    Hop.ZTUNNEL_IN,
    Hop.WAYPOINT,
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
