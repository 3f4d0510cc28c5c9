"""The words of the domain, each defined once: mesh modes, component kinds, hop kinds, units.

Each word is a plain string constant in a namespace class (``Kind.ZTUNNEL == "ztunnel"``), so
scenario files, CSV and JSON keep the words they always had, and the simulator's hot path pays
nothing for them: an enum member would cost an attribute lookup and a slower hash on every use
(Python 3.11), and the engine uses hop kinds per message. The ``Literal`` types name the same
words for type checkers and pydantic. A component is named ``OWNER.KIND``
(``frontend-0.sidecar``, ``n1.ztunnel``): build names with ``component_name``.

Units are constants named by what they convert, ``TARGET_PER_SOURCE``: a duration in ms times
``S_PER_MS`` is in seconds; seconds times ``MS_PER_S`` is in ms.
"""

from __future__ import annotations

from typing import Final, Literal

ModeName = Literal["none", "sidecar", "ambient", "waypoint"]
ProxyKindName = Literal["sidecar", "ztunnel", "waypoint"]


class Mode:
    """What the mesh puts on a call's path."""

    NONE: Final = "none"  # plain Kubernetes
    SIDECAR: Final = "sidecar"  # an Envoy in every pod
    AMBIENT: Final = "ambient"  # a ztunnel per node (L4, HBONE)
    WAYPOINT: Final = "waypoint"  # ambient plus L7 waypoint proxies


MODES: tuple[ModeName, ...] = (Mode.NONE, Mode.SIDECAR, Mode.AMBIENT, Mode.WAYPOINT)


class Kind:
    """What a component is: something that uses CPU or memory, or a whole node."""

    APP: Final = "app"
    CLIENT: Final = "client"  # the load generator
    SIDECAR: Final = "sidecar"
    ZTUNNEL: Final = "ztunnel"
    WAYPOINT: Final = "waypoint"
    KERNEL: Final = "kernel"  # a node's TCP/IP stack
    ISTIOD: Final = "istiod"  # the control plane (cost model only)
    NODE: Final = "node"  # a row of the resources table summing a node's components


PROXY_KINDS: tuple[ProxyKindName, ...] = (Kind.SIDECAR, Kind.ZTUNNEL, Kind.WAYPOINT)
MESH_KINDS: tuple[str, ...] = (*PROXY_KINDS, Kind.ISTIOD)
# Per-kind columns of compare and sweep tables (vcpu_KIND, memory_mib_KIND).
TABLE_KINDS: tuple[str, ...] = (Kind.APP, Kind.KERNEL, *PROXY_KINDS)


class Hop:
    """What a request visits on its path (``HOPS`` lists them in the order tables show)."""

    APP: Final = "app"
    KERNEL: Final = "kernel"
    EBPF: Final = "ebpf"  # a same-node socket hop short-circuited by eBPF redirect
    NETWORK: Final = "network"
    SIDECAR_OUT: Final = "sidecar_out"
    SIDECAR_IN: Final = "sidecar_in"
    ZTUNNEL_OUT: Final = "ztunnel_out"
    ZTUNNEL_LOCAL: Final = "ztunnel_local"  # caller and callee on one node: one ztunnel
    ZTUNNEL_IN: Final = "ztunnel_in"
    WAYPOINT: Final = "waypoint"


HOPS: tuple[str, ...] = (
    Hop.APP,
    Hop.KERNEL,
    Hop.EBPF,
    Hop.NETWORK,
    Hop.SIDECAR_OUT,
    Hop.SIDECAR_IN,
    Hop.ZTUNNEL_OUT,
    Hop.ZTUNNEL_LOCAL,
    Hop.ZTUNNEL_IN,
    Hop.WAYPOINT,
)
PROXY_HOPS: tuple[str, ...] = HOPS[4:]

CLIENT = "client"  # the load generator's pod (and the service it stands for)


def component_name(owner: str, kind: str) -> str:
    """``frontend-0.sidecar``: a pod's or node's component of one kind."""
    return f"{owner}.{kind}"


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
