"""The component cost model: what every component costs, defined and applied in one place.

Where is a ztunnel's CPU per request defined and applied? Here. The profile gives the
parameters (``params.ztunnel.request_cpu_us`` ...); ``proxy_demand`` turns them into the CPU a
ztunnel (or sidecar, or waypoint) spends on one message of a call; ``route_demands`` does so
for every stage of a route, kernel and wire included. Everything downstream reads these
functions and nothing else:

- the engine (``engine.py``) attaches cores, worker threads and random streams to each
  ``Demand`` and queues it; the simulated CPU is these demands (times a lognormal factor of
  mean 1 when ``cpu_cv`` > 0, plus wake-ups and handshakes as the run decides);
- the additive baseline (``additive.py``) sums the same demands with no queueing;
- resources, cost and report take memory (``memory_mib``), Kubernetes requests
  (``requests_of``) and the size of a proxy's configuration (``visible_config``) from here.

Costs per kind:

=============  ==========================================  ============================
component      CPU per message                             memory
=============  ==========================================  ============================
sidecar,       fixed part (request or response) + per KiB  base + per visible service
ztunnel,       carried + per KiB per mTLS side; a TLS      or workload + per open
waypoint,      handshake per mTLS side on a new            connection (mean requests
linkerd-proxy, connection; telemetry after the response    held, by Little's law)
cilium-envoy   (Linkerd: mTLS always on; cilium-envoy:
               no mTLS, as many workers as node cores)
kernel         per traversal (NIC, loopback or eBPF        none modelled
               redirect) + per KiB; under Cilium also
               eBPF per packet at each end, and WireGuard
               or IPsec per KiB and packet at each end of
               a cross-node transit
cilium-agent   none per message (control work)             base + per pod in cluster
=============  ==========================================  ============================
app         its service time, capped by                 ``Service.memory_mib``
            ``cpu_per_request_ms`` (the rest waits)
client      ``workload.client.cpu_per_request_us``      none modelled
==========  ==========================================  ============================
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from meshsim.domain import (
    BYTES_PER_KIB,
    KIB_PER_MIB,
    MS_PER_S,
    PROXY_KINDS,
    S_PER_US,
    Hop,
    Kind,
    component_name,
)
from meshsim.topology import Component, ProxyHop, Stage, Transit

if TYPE_CHECKING:
    from meshsim.scenario import (
        CiliumParams,
        KernelParams,
        Network,
        Params,
        ProxyParams,
        Scenario,
        Service,
        Workload,
    )
    from meshsim.topology import Topology

# What a step of a leg does: CPU in a node's kernel, a trip on the wire, work in a proxy.
KERNEL, WIRE, PROXY = 0, 1, 2


# --- parameters by kind ------------------------------------------------------------------


def proxy_params(params: Params, kind: str) -> ProxyParams:
    """The parameters of one proxy kind (``sidecar``, ``ztunnel``, ``linkerd-proxy`` ...)."""
    by_kind = {
        Kind.SIDECAR: params.sidecar,
        Kind.ZTUNNEL: params.ztunnel,
        Kind.WAYPOINT: params.waypoint,
        Kind.LINKERD_PROXY: params.linkerd,
        Kind.CILIUM_ENVOY: params.cilium_envoy,
    }
    return by_kind[kind]


# --- CPU per message ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Demand:
    """One step of a message's path and what it costs before any queueing, in seconds.

    ``op`` is KERNEL, WIRE or PROXY. A kernel or proxy step is paid by ``component`` on
    ``node``; a wire step starts on ``node`` and takes ``wire_mean_s`` (the network's
    ``relation`` distribution) plus ``serialise_s``.
    """

    op: int
    hop: str  # a Hop
    node: str
    component: str = ""
    cpu_s: float = 0.0
    proxy: str = ""  # the proxy kind of a PROXY step
    handshake_s: float = 0.0  # CPU per new connection (mTLS), request leg only
    after_s: float = 0.0  # proxy work after the response (telemetry), response leg only
    latency_s: float = 0.0  # proxy delay that is not CPU
    wakeup_s: float = 0.0  # proxy CPU when an idle worker picks the message up
    cpu_cv: float = 0.0  # coefficient of variation of cpu_s
    relation: str = ""  # same_node, same_zone or cross_zone, for a WIRE step
    wire_mean_s: float = 0.0
    serialise_s: float = 0.0


def proxy_demand(p: ProxyParams, hop: ProxyHop, kib: float, request: bool) -> Demand:
    """A proxy traversal of one message of ``kib`` KiB: CPU is a fixed part per message plus
    a part per KiB, and a part per KiB for each side that speaks mTLS."""
    us = (p.request_cpu_us if request else p.response_cpu_us) + kib * (
        p.cpu_per_kib_us + p.tls_cpu_per_kib_us * hop.tls_sides
    )
    return Demand(
        op=PROXY,
        hop=hop.hop,
        node=hop.node,
        component=hop.component,
        cpu_s=us * S_PER_US,
        proxy=hop.proxy,
        handshake_s=p.handshake_cpu_us * hop.tls_sides * S_PER_US if request else 0.0,
        after_s=0.0 if request else p.post_response_cpu_us * S_PER_US,
        latency_s=p.added_latency_us * S_PER_US,
        wakeup_s=p.wakeup_cpu_us * S_PER_US,
        cpu_cv=p.cpu_cv,
    )


def kernel_cpu_s(k: KernelParams, t: Transit, kib: float) -> float:
    """Kernel CPU at one end of a transit: a same-node hop pays once (loopback, or eBPF
    redirect), a hop across the network pays this at each end."""
    if t.relation == "same_node":
        fixed = k.ebpf_redirect_cpu_us if t.ebpf else k.loopback_cpu_us
        return (fixed + k.cpu_per_kib_us * kib) * S_PER_US
    return (k.traversal_cpu_us + k.cpu_per_kib_us * kib) * S_PER_US


def serialise_s(kib: float, bandwidth_gbps: float | None) -> float:
    """Time to put ``kib`` KiB on a link of ``bandwidth_gbps`` (0 when unlimited)."""
    return kib * BYTES_PER_KIB * 8 / (bandwidth_gbps * 1e9) if bandwidth_gbps else 0.0


def transit_demands(k: KernelParams, network: Network, t: Transit, kib: float) -> list[Demand]:
    """Kernel CPU at each end (once for a same-node hop) and the wire between; steps that
    cost nothing are left out."""
    cpu = kernel_cpu_s(k, t, kib)
    src = _kernel(t.src, cpu, Hop.EBPF if t.ebpf else Hop.KERNEL)
    if t.relation == "same_node":
        steps = [src] if t.ebpf else [src, _wire(network, t, kib)]
    else:
        steps = [src, _wire(network, t, kib), _kernel(t.dst, cpu, Hop.KERNEL)]
    return [s for s in steps if s is not None]


def _kernel(node: str, cpu_s: float, hop: str) -> Demand | None:
    if cpu_s <= 0:
        return None
    return Demand(KERNEL, hop, node, component=component_name(node, Kind.KERNEL), cpu_s=cpu_s)


def _wire(network: Network, t: Transit, kib: float) -> Demand | None:
    dist = getattr(network, f"{t.relation}_ms")
    serialise = serialise_s(kib, network.bandwidth_gbps)
    if dist.mean_s == 0 and dist.variance_s2 == 0 and serialise == 0:
        return None
    return Demand(
        WIRE,
        Hop.NETWORK,
        t.src,
        relation=t.relation,
        wire_mean_s=dist.mean_s,
        serialise_s=serialise,
    )


def cilium_datapath_s(c: CiliumParams, t: Transit, kib: float) -> tuple[float, float]:
    """(eBPF CPU, encryption CPU) Cilium adds at *each* end of a transit, in seconds: eBPF
    programs per packet (both ends on one node: both on that node), and WireGuard or IPsec per
    packet and per KiB on a cross-node transit (the sender encrypts, the receiver decrypts)."""
    packets = max(1, math.ceil(kib / c.packet_kib))
    ebpf = c.ebpf_cpu_per_packet_us * packets * S_PER_US
    per_kib = {"wireguard": c.wireguard_cpu_per_kib_us, "ipsec": c.ipsec_cpu_per_kib_us}
    crypt = 0.0
    if t.encryption:
        crypt = (per_kib[t.encryption] * kib + c.encryption_cpu_per_packet_us * packets) * S_PER_US
    return ebpf, crypt


def cilium_demands(c: CiliumParams, t: Transit, kib: float) -> tuple[list[Demand], list[Demand]]:
    """Cilium's kernel work before the wire (sender's node) and after it (receiver's)."""
    ebpf, crypt = cilium_datapath_s(c, t, kib)
    if t.relation == "same_node":
        return [d for d in (_kernel(t.src, 2 * ebpf, Hop.CILIUM_EBPF),) if d], []
    steps = [
        [_kernel(node, ebpf, Hop.CILIUM_EBPF), _kernel(node, crypt, Hop.NODE_ENCRYPTION)]
        for node in (t.src, t.dst)
    ]
    return [d for d in steps[0] if d], [d for d in reversed(steps[1]) if d]


def stage_demands(
    params: Params, network: Network, stage: Stage, kib: float, request: bool
) -> list[Demand]:
    if isinstance(stage, Transit):
        steps = transit_demands(params.kernel, network, stage, kib)
        if not stage.cilium:
            return steps
        before, after = cilium_demands(params.cilium, stage, kib)
        wire = next((i for i, d in enumerate(steps) if d.op == WIRE), len(steps))
        return [*steps[:wire], *before, *steps[wire:], *after]
    return [proxy_demand(proxy_params(params, stage.proxy), stage, kib, request)]


def route_demands(
    params: Params, network: Network, route: tuple[Stage, ...], svc: Service
) -> tuple[list[Demand], list[Demand]]:
    """The request leg and the response leg of a route, for one service's message sizes."""
    request = [
        d for stage in route for d in stage_demands(params, network, stage, svc.request_kib, True)
    ]
    response = [
        d
        for stage in reversed(route)
        for d in stage_demands(params, network, stage, svc.response_kib, False)
    ]
    return request, response


def app_cpu_cap_s(svc: Service) -> float:
    """The most CPU one request of an app uses: ``cpu_per_request_ms``, or no limit."""
    return math.inf if svc.cpu_per_request_ms is None else svc.cpu_per_request_ms / MS_PER_S


def app_cpu_s(svc: Service, duration_s: float) -> float:
    """The CPU part of an app's service time: all of it, up to its cap (the rest is waiting
    that holds no core)."""
    return min(duration_s, app_cpu_cap_s(svc))


def client_cpu_s(workload: Workload) -> float:
    """The load generator's own CPU per request it sends."""
    return workload.client.cpu_per_request_us * S_PER_US


def worker_threads(scenario: Scenario, params: Params, topo: Topology, c: Component) -> int | None:
    """How many messages a component works on at once: a proxy's worker threads, an app's
    ``concurrency``; None when unbounded (kernels, the client, apps without a limit)."""
    if c.kind == Kind.CILIUM_ENVOY:  # Envoy's default concurrency: the hardware threads
        return topo.nodes[c.node].cores
    if c.kind in PROXY_KINDS:
        return proxy_params(params, c.kind).workers
    if c.kind == Kind.APP:
        assert c.pod is not None
        return scenario.services[topo.pod_by_name[c.pod].service].concurrency
    return None


# --- configuration and memory ------------------------------------------------------------


def visible_config(scenario: Scenario, topo: Topology, component: Component) -> int:
    """How many services (sidecar, waypoint, cilium-envoy: its L7 services; linkerd-proxy: the
    services it calls, resolved on demand) or workloads (ztunnel) a proxy's config holds."""
    if component.kind == Kind.ZTUNNEL:
        return sum(len(p) for p in topo.pods.values())
    if component.kind == Kind.CILIUM_ENVOY:
        return len(scenario.mesh.cilium.l7_services)
    assert component.pod is not None
    if component.kind == Kind.LINKERD_PROXY:
        pod = topo.pod_by_name[component.pod]
        if pod.service not in scenario.services:  # the load generator
            return 1
        return len({c.service for step in scenario.services[pod.service].calls for c in step})
    if component.kind == Kind.WAYPOINT:
        waypoint = topo.pod_by_name[component.pod].service
        return sum(1 for w in topo.waypoint_of.values() if w == waypoint)
    if scenario.mesh.config_scope == "cluster":
        return len(scenario.services)
    pod = topo.pod_by_name[component.pod]
    if pod.service not in scenario.services:  # the load generator sees what it calls
        return 1
    return namespace_scope(scenario, pod.service)


def namespace_scope(scenario: Scenario, service: str) -> int:
    """Services a sidecar of ``service`` sees with namespace scope: its namespace's services
    and those it calls."""
    own = scenario.services[service]
    called = {c.service for step in own.calls for c in step}
    same_ns = {n for n, s in scenario.services.items() if s.namespace == own.namespace}
    return len(same_ns | called)


def proxy_memory_mib(p: ProxyParams, visible: float, concurrent: float) -> float:
    """A proxy's memory: a base, a part per item of configuration it holds, and a part per
    open connection (taken as the mean number of messages it holds, by Little's law)."""
    return (
        p.memory_base_mib
        + p.memory_per_service_kib * visible / KIB_PER_MIB
        + p.memory_per_connection_kib * concurrent / KIB_PER_MIB
    )


def memory_mib(
    scenario: Scenario, params: Params, topo: Topology, c: Component, concurrent: float
) -> float:
    """Modelled memory of one component holding ``concurrent`` messages on average."""
    if c.kind == Kind.APP:
        assert c.pod is not None
        return scenario.services[topo.pod_by_name[c.pod].service].memory_mib
    if c.kind in PROXY_KINDS:
        config = visible_config(scenario, topo, c)
        return proxy_memory_mib(proxy_params(params, c.kind), config, concurrent)
    if c.kind == Kind.CILIUM_AGENT:
        pods = sum(len(p) for p in topo.pods.values()) + 1  # the load generator's too
        return params.cilium.agent_memory_base_mib + params.cilium.agent_memory_per_pod_kib * (
            pods / KIB_PER_MIB
        )
    return 0.0


# --- Kubernetes requests -----------------------------------------------------------------


def requests_of(params: Params, kind: str, svc: Service | None = None) -> tuple[float, float]:
    """(CPU millicores, memory MiB) one container of a kind requests: an app's from its
    ``Service``, a proxy's from the profile."""
    if kind == Kind.APP:
        assert svc is not None
        return svc.cpu_request_m, svc.memory_request_mib
    if kind == Kind.CILIUM_AGENT:
        return params.cilium.agent_cpu_request_m, params.cilium.agent_memory_request_mib
    if kind == Kind.LINKERD_CONTROL:
        lc = params.linkerd_control
        return lc.cpu_request_m, lc.memory_request_mib
    p = proxy_params(params, kind)
    return p.cpu_request_m, p.memory_request_mib
