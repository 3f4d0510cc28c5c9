"""The scenario language: what a user writes in YAML, validated declaratively.

Units live in the field names (``_ms``, ``_us``, ``_kib``, ``_rps``, ``_mib``); CPU, memory
and time also take Kubernetes quantities (``cpu_request: 500m``, ``service_time: 2ms``).
Cross-field rules (calls to known services, pods pinned to known nodes, an acyclic call graph no
deeper than ``MAX_CALL_DEPTH``, waypoints for existing services) are checked here too, so a
scenario that validates can be simulated.

Types are strict (``replicas: true`` is not 1, ``replicas: 2.5`` is not 2) and every number
must be finite: a ``.inf`` or ``.nan`` anywhere is an error, not a plausible-looking result.

Length: the whole input language is one pydantic schema, section by section, with its
validators; a reader finds every field here.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    create_model,
    field_validator,
    model_validator,
)

from meshsim import quantity
from meshsim.distributions import Constant, Distribution
from meshsim.domain import MODES as MODES
from meshsim.domain import ModeName as Mode
from meshsim.events import MAX_EVENTS, Event, IndexedError, Operations, check_events
from meshsim.slo import Slo

MAX_CALL_DEPTH = 2_000
"""Deepest call chain, in services: a bound on work, not on the stack (the engine's calls are
state machines, not nested frames, and the checks and the analytic engine walk the graph
iteratively). Each level is one more call, held in memory, for every request in flight, and
reading and checking a chain costs about 1 ms per service; the work a whole run asks for is
bounded separately (``meshsim.work``)."""
MAX_NODES = 100_000
"""Nodes in a cluster (node names are listed while validating)."""


class Strict(BaseModel):
    """No unknown keys, no type coercion (``true`` is not 1), no infinite or NaN numbers.

    A field with a unit in its name also takes a Kubernetes quantity under its name without
    the unit (``cpu_request: 500m`` for ``cpu_request_m: 500``; see ``meshsim.quantity``).
    """

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        allow_inf_nan=False,
        json_schema_extra=quantity.schema_spellings,
    )

    @model_validator(mode="wrap")
    @classmethod
    def _quantities(cls, data: object, handler: ModelWrapValidatorHandler) -> object:
        return quantity.spelled_as_quantities(data, cls, handler)


# --- cluster -----------------------------------------------------------------------------


class NodePool(Strict):
    """Identical nodes: ``count`` of them, named ``name`` (one) or ``name-0``, ``name-1``, ..."""

    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    count: int = Field(1, ge=1)
    cores: int = Field(ge=1, description="CPU cores that apps, proxies and the kernel share")
    memory_gib: float = Field(16, gt=0)
    zone: str = "zone-a"

    def node_names(self) -> list[str]:
        if self.count == 1:
            return [self.name]
        return [f"{self.name}-{i}" for i in range(self.count)]


class Cluster(Strict):
    nodes: list[NodePool] = Field(min_length=1)
    placement: Literal["spread", "binpack"] = Field(
        "spread",
        description="spread: as the Kubernetes scheduler does, a service's pods spread over "
        "zones and nodes, then the least allocated node, ties broken at random from the seed; "
        "binpack: fill nodes in order by CPU requests",
    )
    wakeup_latency_us: float = Field(
        0.0,
        ge=0,
        description="delay before an app or proxy that has been idle for at least "
        "idle_after_us starts on a message (CPU idle states, scheduler wake-up); at low load "
        "most messages pay it, at high load few do; 0 = always awake",
    )
    idle_after_us: float = Field(1000.0, ge=0, description="idle time before a wake-up is paid")
    shared_cores: int | None = Field(
        None,
        ge=1,
        description="all nodes draw on one pool of this many cores (kind, or network "
        "namespaces on one host); null = each node has its own cores",
    )

    def node_names(self) -> list[str]:
        return [n for pool in self.nodes for n in pool.node_names()]


# --- services and the call graph ---------------------------------------------------------


class Call(Strict):
    """A call to a service: made with ``probability``, ``count`` times one after another."""

    service: str
    probability: float = Field(1.0, ge=0, le=1)
    count: int = Field(1, ge=1)


def _step_as_list(value: object) -> object:
    return [value] if isinstance(value, dict) else value


Step = Annotated[
    list[Call],
    BeforeValidator(_step_as_list, json_schema_input_type=Call | list[Call]),
    Field(min_length=1),
]


class Service(Strict):
    """A Deployment: its pods, the work each request costs, and whom it calls.

    A request's own work (``service_time``) runs first, then the ``calls`` steps in order; the
    calls of one step run in parallel. The app holds one of its ``concurrency`` workers for its
    own work only (non-blocking I/O), or for the whole request when ``blocking_calls``.
    """

    replicas: int = Field(1, ge=1)
    namespace: str = "default"
    service_time: Distribution = Field(
        default_factory=lambda: Constant(value_ms=0.0),
        description="time the handler takes, ms (a number, or a distribution)",
    )
    cpu_per_request_ms: float | None = Field(
        None, ge=0, description="CPU part of the service time, ms; null = all of it"
    )
    concurrency: int | None = Field(None, ge=1, description="worker threads; null = unbounded")
    blocking_calls: bool = False
    request_kib: float = Field(1.0, ge=0, description="request size this service receives")
    response_kib: float = Field(1.0, ge=0, description="response size it returns")
    calls: list[Step] = Field(default_factory=list)
    nodes: list[str] | None = Field(
        None, description="explicit node per pod (one entry per replica, or one for all)"
    )
    load_balancing: Literal["least_request", "round_robin", "random", "peak_ewma"] = Field(
        "least_request",
        description="how callers pick this service's pods. Unset: as the mesh does, least "
        "request (the fewer-active of two random pods) where an Envoy picks (sidecar, waypoint), "
        "power of two choices over peak-EWMA latency where a linkerd-proxy picks, and a random "
        "pod where ztunnel, Cilium's socket LB or kube-proxy picks (ambient L4, cilium, mode "
        "none, callers outside the mesh). Set: this policy for every pick; round robin starts "
        "at a random pod per caller, as Envoy's does (see meshsim/balancing.py)",
    )
    prefer_same_zone: bool = False
    cpu_request_m: float = Field(100, ge=0, description="Kubernetes CPU request, millicores")
    memory_request_mib: float = Field(128, ge=0, description="Kubernetes memory request")
    memory_mib: float = Field(64, ge=0, description="memory the app uses")

    @model_validator(mode="after")
    def _check_nodes(self) -> Service:
        if self.nodes is not None and len(self.nodes) not in (1, self.replicas):
            raise ValueError("nodes needs one entry, or one per replica")
        return self


# --- workload ----------------------------------------------------------------------------


class OpenLoop(Strict):
    """Arrivals that do not wait for responses (Poisson or evenly spaced)."""

    type: Literal["open"] = "open"
    arrivals: Literal["poisson", "constant"] = "poisson"
    rate_rps: float = Field(gt=0, description="requests per second")


class Fortio(Strict):
    """fortio's closed loop: each connection paced at qps/connections, waiting for each reply."""

    type: Literal["fortio"] = "fortio"
    qps: float | None = Field(gt=0, description="target requests per second; null = max")
    connections: int = Field(ge=1)
    uniform: bool = Field(False, description="spread connection start times (-uniform)")
    jitter: bool = Field(False, description="+-10% noise on each wait (-jitter)")
    catchup: bool = Field(True, description="false: skip late slots (-nocatchup)")


class Client(Strict):
    """The load generator's pod: where it runs and whether the mesh captures it."""

    node: str | None = Field(None, description="null: placed like any pod")
    in_mesh: bool = Field(True, description="false: the client's traffic bypasses its proxy")
    cpu_per_request_us: float = Field(
        0.0, ge=0, description="the load generator's own CPU per request, on its node"
    )


class Workload(Strict):
    entry: str = Field(description="the service the load generator calls")
    generator: Annotated[OpenLoop | Fortio, Field(discriminator="type")]
    client: Client = Field(default_factory=Client)
    duration_s: float | None = Field(None, gt=0)
    requests: int | None = Field(None, ge=1, description="stop after this many requests")
    warmup_s: float = Field(0.0, ge=0, description="requests started earlier are not measured")

    @model_validator(mode="after")
    def _check_length(self) -> Workload:
        if (self.duration_s is None) == (self.requests is None):
            raise ValueError("give exactly one of duration_s and requests")
        if self.duration_s is not None and self.warmup_s >= self.duration_s:
            raise ValueError("warmup_s must be shorter than duration_s: nothing would be measured")
        return self


# --- mesh --------------------------------------------------------------------------------


class Waypoint(Strict):
    """An L7 Envoy Deployment serving some services, or a whole namespace."""

    name: str
    services: list[str] | None = None
    namespace: str | None = None
    replicas: int = Field(1, ge=1)
    nodes: list[str] | None = Field(None, description="explicit node per replica")

    @model_validator(mode="after")
    def _check_target(self) -> Waypoint:
        if (self.services is None) == (self.namespace is None):
            raise ValueError("give exactly one of services and namespace")
        return self


class CiliumMesh(Strict):
    """Cilium's options: kernel encryption between nodes, and which services need L7."""

    encryption: Literal["wireguard", "ipsec", "none"] = Field(
        "wireguard",
        description="node-to-node encryption in the kernel; same-node traffic is never "
        "encrypted (Cilium docs, encryption-wireguard.rst)",
    )
    l7_services: list[str] = Field(
        default_factory=list,
        description="services with an L7 policy: their calls pass the shared Envoy of a node",
    )
    l7_side: Literal["ingress", "egress"] = Field(
        "ingress",
        description="whose node's Envoy handles an L7 call: the callee's (ingress policy) or "
        "the caller's (egress policy)",
    )


class Mesh(Strict):
    mode: Mode = "none"
    mtls: bool = True
    ebpf_shortcircuit: bool = Field(
        False, description="socket redirect between endpoints on one node (any mode)"
    )
    profile: str = Field(
        "istio-1.24-published", description="parameter profile: a built-in name or a YAML path"
    )
    waypoints: list[Waypoint] = Field(
        default_factory=list, description="waypoint mode; empty = one per namespace"
    )
    config_scope: Literal["cluster", "namespace"] = Field(
        "cluster", description="which services a sidecar's configuration holds"
    )
    requests_per_connection: float = Field(
        1000, ge=1, description="mean requests carried by one mTLS connection (reuse)"
    )
    ambient_same_node: Literal["local", "tunnel"] = Field(
        "tunnel",
        description="ambient/waypoint, caller and callee on one node: 'tunnel' (default) = the "
        "outbound and inbound ztunnel steps with mTLS over loopback, as in-pod ztunnel "
        "(Istio 1.21+, today's only mode) and the real-bench local HBONE stand-in do; 'local' "
        "= one ztunnel pass without mTLS, the in-memory fast path of ztunnel before in-pod "
        "redirection (Istio before 1.21)",
    )
    cilium: CiliumMesh = Field(default_factory=CiliumMesh, description="mode cilium only")


# --- per-component parameters (defaulted from a profile) ----------------------------------


class ProxyParams(Strict):
    """CPU and memory model of one proxy kind (Envoy sidecar, ztunnel, waypoint)."""

    workers: int = Field(ge=1, description="worker threads (Envoy concurrency)")
    request_cpu_us: float = Field(ge=0, description="CPU per request message, fixed part")
    response_cpu_us: float = Field(ge=0, description="CPU per response message, fixed part")
    cpu_per_kib_us: float = Field(ge=0, description="CPU per KiB carried, each direction")
    tls_cpu_per_kib_us: float = Field(ge=0, description="CPU per KiB per mTLS side crossed")
    handshake_cpu_us: float = Field(ge=0, description="CPU per new connection per mTLS side")
    post_response_cpu_us: float = Field(
        ge=0, description="work after the response is sent (telemetry); keeps the worker busy"
    )
    added_latency_us: float = Field(
        0, ge=0, description="delay per message that is not CPU (buffering, wake-up), each way"
    )
    cpu_cv: float = Field(
        0,
        ge=0,
        description="coefficient of variation of the CPU per message (lognormal; 0 = fixed)",
    )
    wakeup_cpu_us: float = Field(
        0,
        ge=0,
        description="CPU an idle worker spends waking up for a message; shared by the messages "
        "it then finds queued, so CPU per request falls as load rises",
    )
    memory_base_mib: float = Field(ge=0)
    memory_per_connection_kib: float = Field(ge=0)
    memory_per_service_kib: float = Field(ge=0, description="configuration per visible service")
    cpu_request_m: float = Field(ge=0, description="Kubernetes CPU request, millicores")
    memory_request_mib: float = Field(ge=0, description="Kubernetes memory request")


class KernelParams(Strict):
    """CPU the kernel spends moving a message through a node's TCP/IP stack."""

    traversal_cpu_us: float = Field(ge=0, description="per socket send or receive via a NIC")
    loopback_cpu_us: float = Field(ge=0, description="per same-node socket hop (veth/loopback)")
    cpu_per_kib_us: float = Field(ge=0, description="per KiB per traversal")
    ebpf_redirect_cpu_us: float = Field(
        ge=0, description="per same-node hop with eBPF socket redirect (replaces loopback)"
    )


class CiliumParams(Strict):
    """Cilium's kernel datapath and per-node agent: CPU charged to the node's kernel."""

    ebpf_cpu_per_packet_us: float = Field(
        ge=0, description="eBPF datapath CPU per packet at each end (tc programs, socket LB)"
    )
    packet_kib: float = Field(gt=0, description="payload per packet (MTU less headers)")
    wireguard_cpu_per_kib_us: float = Field(ge=0, description="per KiB, each end, cross-node")
    ipsec_cpu_per_kib_us: float = Field(ge=0, description="per KiB, each end, cross-node")
    encryption_cpu_per_packet_us: float = Field(
        ge=0, description="WireGuard or IPsec per packet, each end, cross-node"
    )
    agent_memory_base_mib: float = Field(ge=0, description="cilium-agent memory per node")
    agent_memory_per_pod_kib: float = Field(ge=0, description="per pod in the cluster")
    agent_cpu_request_m: float = Field(ge=0, description="Kubernetes CPU request per agent")
    agent_memory_request_mib: float = Field(ge=0, description="memory request per agent")


class LinkerdControl(Strict):
    """Linkerd's control plane (destination, identity, proxy-injector): cost model only."""

    replicas: int = Field(ge=1, description="replicas of each of the three Deployments")
    cpu_request_m: float = Field(ge=0, description="per replica of each Deployment")
    memory_request_mib: float = Field(ge=0, description="per replica (identity's is lower)")
    used_vcpu: float = Field(ge=0, description="whole control plane, measured")
    used_memory_mib: float = Field(ge=0, description="whole control plane, measured")


class Params(Strict):
    sidecar: ProxyParams
    ztunnel: ProxyParams
    waypoint: ProxyParams
    kernel: KernelParams
    # Linkerd and Cilium: a profile that omits them takes the built-in published values
    # (meshsim/profile_data/dataplanes.yaml, filled in by meshsim.profiles).
    linkerd: ProxyParams
    linkerd_control: LinkerdControl
    cilium_envoy: ProxyParams
    cilium: CiliumParams


def _partial(model: type[Strict], name: str) -> type[Strict]:
    """The same fields, all optional: a scenario overrides only what it names."""
    fields = {
        name: (info.annotation | None, Field(None, description=info.description))
        for name, info in model.model_fields.items()
    }
    # named as the module attribute it is bound to, so that pickle (sweep workers) finds it
    return create_model(name, __base__=Strict, __module__=__name__, **fields)


ProxyOverride = _partial(ProxyParams, "ProxyOverride")
KernelOverride = _partial(KernelParams, "KernelOverride")
CiliumOverride = _partial(CiliumParams, "CiliumOverride")
LinkerdControlOverride = _partial(LinkerdControl, "LinkerdControlOverride")


class ParamOverrides(Strict):
    sidecar: ProxyOverride | None = None  # type: ignore[valid-type]
    ztunnel: ProxyOverride | None = None  # type: ignore[valid-type]
    waypoint: ProxyOverride | None = None  # type: ignore[valid-type]
    kernel: KernelOverride | None = None  # type: ignore[valid-type]
    linkerd: ProxyOverride | None = None  # type: ignore[valid-type]
    linkerd_control: LinkerdControlOverride | None = None  # type: ignore[valid-type]
    cilium_envoy: ProxyOverride | None = None  # type: ignore[valid-type]
    cilium: CiliumOverride | None = None  # type: ignore[valid-type]


# --- network and simulation control ------------------------------------------------------


class Network(Strict):
    """One-way wire latency by where the two ends are, plus serialisation at a bandwidth."""

    same_node_ms: Distribution = Field(default_factory=lambda: Constant(value_ms=0.005))
    same_zone_ms: Distribution = Field(default_factory=lambda: Constant(value_ms=0.05))
    cross_zone_ms: Distribution = Field(default_factory=lambda: Constant(value_ms=0.5))
    bandwidth_gbps: float | None = Field(
        10.0, gt=0, description="link bandwidth for serialisation delay; null = not modelled"
    )


class Sim(Strict):
    """How to simulate: seeds, replications, and when to stop."""

    seed: int = Field(1, ge=0)
    replications: int = Field(3, ge=1, description="independent runs (at least this many)")
    precision_pct: float | None = Field(
        None,
        gt=0,
        description="stopping rule: add replications until the 95% CI half-width of the "
        "p99 is within this % of it (or max_replications is reached); null = fixed count",
    )
    max_replications: int = Field(20, ge=1)
    max_in_flight: int = Field(
        20_000, ge=1, description="stop with a 'saturated' verdict beyond this many in flight"
    )
    drain_timeout_s: float = Field(
        10.0, ge=0, description="after arrivals stop, wait this long for requests in flight"
    )


# --- cost and capacity --------------------------------------------------------------------


class NodeType(Strict):
    """The machine nodes are bought as, for packing requests and pricing whole nodes.

    Null shape fields take the first node pool's; a null price prices the node per vCPU-hour
    and GiB-hour; null reservations follow GKE's published allocatable formula.
    """

    name: str = "cluster-node"
    vcpu: float | None = Field(None, gt=0, description="vCPUs per node; null = first pool's")
    memory_gib: float | None = Field(None, gt=0, description="null = first pool's memory_gib")
    usd_per_hour: float | None = Field(None, ge=0, description="instance price per hour")
    reserved_cpu_m: float | None = Field(None, ge=0, description="kube/system reserved")
    reserved_memory_mib: float | None = Field(None, ge=0, description="incl. eviction")


class Istiod(Strict):
    """The control plane: requests from Istio's chart, use modelled from proxies and config."""

    replicas: int = Field(1, ge=1)
    cpu_request_m: float = Field(500, ge=0, description="Istio chart default request")
    memory_request_mib: float = Field(2048, ge=0, description="Istio chart default request")
    vcpu_per_1000_proxies: float = Field(
        0.5, ge=0, description="istio.io: ~1 vCPU at 2000 sidecars (1000 services)"
    )
    memory_base_mib: float = Field(256, ge=0, description="assumption")
    memory_per_proxy_kib: float = Field(256, ge=0, description="assumption")
    memory_per_proxy_item_kib: float = Field(
        0.5, ge=0, description="per proxy per service/workload in its config (assumption)"
    )


class Cost(Strict):
    """Prices and objectives for ``meshsim capacity`` and ``meshsim report`` (all optional).

    Defaults: Google Cloud E2 on-demand list prices in us-central1 (vCPU-hour, GiB-hour) and
    inter-zone egress within a region; check them against your own bill.
    """

    usd_per_vcpu_hour: float = Field(0.021811, ge=0, description="GCP E2, us-central1")
    usd_per_gib_hour: float = Field(0.002923, ge=0, description="GCP E2, us-central1")
    usd_per_cross_zone_gb: float = Field(
        0.01, ge=0, description="GCP inter-zone egress; AWS charges $0.01/GB each way"
    )
    hours_per_month: float = Field(730, gt=0)
    node_type: NodeType = Field(default_factory=NodeType)
    istiod: Istiod = Field(default_factory=Istiod)
    slo: str = Field("p99<=10ms", description="latency objective, e.g. p99<=10ms, mean<500us")
    target_rate_rps: float | None = Field(
        None, gt=0, description="rate to size the cluster for; null = the workload's rate"
    )

    @field_validator("slo")
    @classmethod
    def _check_slo(cls, value: str) -> str:
        Slo.read(value)
        return value


class Scenario(Strict):
    """A cluster, its services and call graph, a load, a mesh and how to simulate it."""

    name: str = "scenario"
    description: str = ""
    cluster: Cluster
    services: dict[str, Service] = Field(min_length=1)
    workload: Workload
    mesh: Mesh = Field(default_factory=Mesh)
    params: ParamOverrides = Field(default_factory=ParamOverrides)
    network: Network = Field(default_factory=Network)
    sim: Sim = Field(default_factory=Sim)
    cost: Cost = Field(default_factory=Cost)
    events: list[Event] = Field(
        default_factory=list, max_length=MAX_EVENTS, description="operations over time"
    )
    operations: Operations = Field(default_factory=Operations)


class InvalidReference(ValueError):
    """A scenario field that names something that does not exist (or a cycle)."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


def check_references(sc: Scenario) -> None:
    """Cross-field rules pydantic cannot express per field; raises InvalidReference."""
    if sum(pool.count for pool in sc.cluster.nodes) > MAX_NODES:
        raise InvalidReference(("cluster", "nodes"), f"more than {MAX_NODES} nodes")
    names = sc.cluster.node_names()
    nodes = set(names)
    if len(nodes) != len(names):
        raise InvalidReference(("cluster", "nodes"), "node names must be unique")
    for name, svc in sc.services.items():
        for i, step in enumerate(svc.calls):
            for j, call in enumerate(step):
                if call.service not in sc.services:
                    loc = ("services", name, "calls", i, j, "service")
                    raise InvalidReference(loc, f"unknown service {call.service!r}")
        for i, node in enumerate(svc.nodes or []):
            if node not in nodes:
                raise InvalidReference(("services", name, "nodes", i), f"unknown node {node!r}")
    if sc.workload.entry not in sc.services:
        raise InvalidReference(("workload", "entry"), f"unknown service {sc.workload.entry!r}")
    client_node = sc.workload.client.node
    if client_node is not None and client_node not in nodes:
        raise InvalidReference(("workload", "client", "node"), f"unknown node {client_node!r}")
    namespaces = {s.namespace for s in sc.services.values()}
    for i, wp in enumerate(sc.mesh.waypoints):
        for j, svc_name in enumerate(wp.services or []):
            if svc_name not in sc.services:
                loc = ("mesh", "waypoints", i, "services", j)
                raise InvalidReference(loc, f"waypoint for unknown service {svc_name!r}")
        if wp.namespace is not None and wp.namespace not in namespaces:
            loc = ("mesh", "waypoints", i, "namespace")
            raise InvalidReference(loc, f"no service in namespace {wp.namespace!r}")
        for j, node in enumerate(wp.nodes or []):
            if node not in nodes:
                loc = ("mesh", "waypoints", i, "nodes", j)
                raise InvalidReference(loc, f"unknown node {node!r}")
    for i, svc_name in enumerate(sc.mesh.cilium.l7_services):
        if svc_name not in sc.services:
            loc = ("mesh", "cilium", "l7_services", i)
            raise InvalidReference(loc, f"unknown service {svc_name!r}")
    if sc.events and sc.mesh.mode in ("linkerd", "cilium"):
        raise InvalidReference(
            ("events",),
            f"events are modelled for Istio's modes and none, not yet for {sc.mesh.mode}",
        )
    try:
        check_events(sc.events, nodes, set(sc.services))
    except IndexedError as error:
        raise InvalidReference(error.loc, str(error)) from None
    graph = {n: [c.service for step in s.calls for c in step] for n, s in sc.services.items()}
    cycle = find_cycle(graph)
    if cycle:
        loc = ("services", cycle[0], "calls")
        raise InvalidReference(loc, "cyclic call graph: " + " -> ".join(cycle))
    depth, deepest = call_depth(graph)
    if depth > MAX_CALL_DEPTH:
        raise InvalidReference(
            ("services", deepest, "calls"),
            f"the call graph is {depth} services deep from here; meshsim simulates chains of "
            f"at most {MAX_CALL_DEPTH}",
        )


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle in a directed graph as a list of names (first repeated at the end), or None.

    Depth-first, with an explicit stack: a call graph thousands deep must not overflow.
    """
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in graph:
        if root in state:
            continue
        state[root] = 1
        path = [root]
        stack = [iter(graph.get(root, []))]
        while stack:
            for nxt in stack[-1]:
                if state.get(nxt) == 1:
                    return [*path[path.index(nxt) :], nxt]
                if nxt not in state:
                    state[nxt] = 1
                    path.append(nxt)
                    stack.append(iter(graph.get(nxt, [])))
                    break
            else:
                stack.pop()
                state[path.pop()] = 2
    return None


def call_depth(graph: dict[str, list[str]]) -> tuple[int, str]:
    """The longest call chain of an acyclic graph, in services, and the service it starts at."""
    depth: dict[str, int] = {}
    for root in graph:
        stack = [(root, False)]
        while stack:
            node, children_done = stack.pop()
            if node in depth:
                continue
            if children_done:
                depth[node] = 1 + max((depth[c] for c in graph.get(node, [])), default=0)
            else:
                stack.append((node, True))
                stack.extend((c, False) for c in graph.get(node, []) if c not in depth)
    deepest = max(depth, key=lambda n: depth[n], default="")
    return depth.get(deepest, 0), deepest
