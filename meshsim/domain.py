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

ModeName = Literal["none", "sidecar", "ambient", "waypoint", "linkerd", "cilium"]
ProxyKindName = Literal["sidecar", "ztunnel", "waypoint", "linkerd-proxy", "cilium-envoy"]


class Mode:
    """What the mesh puts on a call's path."""

    NONE: Final = "none"  # plain Kubernetes
    SIDECAR: Final = "sidecar"  # an Envoy in every pod
    AMBIENT: Final = "ambient"  # a ztunnel per node (L4, HBONE)
    WAYPOINT: Final = "waypoint"  # ambient plus L7 waypoint proxies
    LINKERD: Final = "linkerd"  # a Linkerd micro-proxy (linkerd2-proxy) in every pod, mTLS on
    CILIUM: Final = "cilium"  # eBPF in the kernel, node-to-node encryption, a shared Envoy


MODES: tuple[ModeName, ...] = (
    Mode.NONE,
    Mode.SIDECAR,
    Mode.AMBIENT,
    Mode.WAYPOINT,
    Mode.LINKERD,
    Mode.CILIUM,
)
ISTIO_MODES: tuple[ModeName, ...] = (Mode.SIDECAR, Mode.AMBIENT, Mode.WAYPOINT)  # istiod's


class Kind:
    """What a component is: something that uses CPU or memory, or a whole node."""

    APP: Final = "app"
    CLIENT: Final = "client"  # the load generator
    SIDECAR: Final = "sidecar"
    ZTUNNEL: Final = "ztunnel"
    WAYPOINT: Final = "waypoint"
    LINKERD_PROXY: Final = "linkerd-proxy"  # Linkerd's sidecar
    CILIUM_ENVOY: Final = "cilium-envoy"  # Cilium's L7 Envoy, one per node, shared by its pods
    CILIUM_AGENT: Final = "cilium-agent"  # Cilium's per-node agent (memory; no per-request work)
    KERNEL: Final = "kernel"  # a node's TCP/IP stack
    ISTIOD: Final = "istiod"  # the control plane (cost model only)
    LINKERD_CONTROL: Final = "linkerd-control"  # destination, identity, injector (cost model)
    NODE: Final = "node"  # a row of the resources table summing a node's components


ISTIO_PROXY_KINDS: tuple[ProxyKindName, ...] = (Kind.SIDECAR, Kind.ZTUNNEL, Kind.WAYPOINT)
# The data plane: every kind that carries requests in user space.
PROXY_KINDS: tuple[ProxyKindName, ...] = (
    *ISTIO_PROXY_KINDS,
    Kind.LINKERD_PROXY,
    Kind.CILIUM_ENVOY,
)
# What a mesh deploys besides the apps: its proxies, per-node agents and control planes.
MESH_KINDS: tuple[str, ...] = (
    *PROXY_KINDS,
    Kind.CILIUM_AGENT,
    Kind.ISTIOD,
    Kind.LINKERD_CONTROL,
)
# Per-kind columns of compare and sweep tables (vcpu_KIND, memory_mib_KIND).
TABLE_KINDS: tuple[str, ...] = (Kind.APP, Kind.KERNEL, *PROXY_KINDS, Kind.CILIUM_AGENT)


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
    LINKERD_OUT: Final = "linkerd_out"  # the caller's linkerd-proxy (outbound)
    LINKERD_IN: Final = "linkerd_in"  # the callee's linkerd-proxy (inbound)
    CILIUM_ENVOY: Final = "cilium_envoy"  # the node's shared Envoy, for an L7 service
    CILIUM_EBPF: Final = "cilium_ebpf"  # Cilium's eBPF datapath programs, in the node's kernel
    NODE_ENCRYPTION: Final = "node_encryption"  # WireGuard or IPsec between nodes, in the kernel


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
    Hop.LINKERD_OUT,
    Hop.LINKERD_IN,
    Hop.CILIUM_ENVOY,
    Hop.CILIUM_EBPF,
    Hop.NODE_ENCRYPTION,
)
PROXY_HOPS: tuple[str, ...] = (
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
