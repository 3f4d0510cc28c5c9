"""The analytic engine: the same scenario as the DES, solved as a queueing network in seconds.

It reads what the DES reads: the topology's pods and routes per mode (``topology.py``) and the
component cost model (``components.route_demands`` and friends), and defines no cost of its
own. The model:

- **visit ratios** from the call graph: a call's probability and count scale the rate a pod
  sends to a service; a caller splits its calls evenly over the callee's pods (and waypoint
  pods), as every balancer does on average (``balancing.py``); ``prefer_same_zone`` keeps the
  same-zone pods. A caller weighs at most ``MAX_CALLEES`` callee pods, rotated so that every
  pod of a larger service gets an equal share (exact below that size);
- **stations**: each node's cores are one multi-server station carrying every CPU burst on the
  node (apps, proxies, kernels, telemetry); each proxy's worker threads, and an app's
  ``concurrency``, are multi-server stations whose service time is the holding time (the core
  wait, the CPU, and for a proxy's response its telemetry); wires are pure delays;
- **waiting** at a c-server station by Allen-Cunneen's M/G/c approximation (Erlang C scaled by
  (ca^2 + cs^2) / 2: exact for M/M/c and for the mean of M/G/1), the arrival variability ca^2
  propagated along each path as in Whitt's QNA (a station's departures have
  cd^2 = 1 + (1 - rho^2)(ca^2 - 1) + rho^2 (cs^2 - 1) / sqrt(c); its arrivals are the
  rate-weighted merge of what reaches it); a wait is 0 with probability 1 - P(wait) and
  exponential otherwise, which gives its variance;
- **paths**: a call's sojourn is the sum of its steps (means and variances add), mixed over the
  callee pods it may reach; parallel calls of one step take the maximum of the branches (each
  a gamma of its two moments, present with its probability: the CDF of the maximum is the
  product of theirs, integrated on a grid);
- **fortio's closed loop**: C connections, each paced at qps / C (the pacing is the think
  time); the throughput X solves X = C / cycle(R(X)) by bisection (``closed_loop``). In step
  (fortio's default start) the C connections send in batches of C at one instant: the
  queueing is then the batch's own, from its mean-value trace through the call tree
  (``meshsim.lockstep``; a batch in which a member opens a connection is traced too), and
  the latency is a mixture over places in the batch (``Solution.batch_waits_s``);
- **saturation** exactly: a station at utilisation >= 1 saturates the run, and is named.

The work is vectorised over every (caller pod, waypoint pod, callee pod) *leg* of a call-graph
edge: the route of one representative leg per kind of leg (which endpoints share a node or a
zone) gives the demands, and each demand's station is looked up per leg by its role (the
caller's, the waypoint's or the callee's pod or node).

Not modelled (the DES has them): the wake-up delay of idle components
(``cluster.wakeup_latency_us``), least request's preference for the less busy pod (an even
split here); a lockstep batch's queueing below the entry call when its call tree is too
large to trace (``MAX_TRACE_VISITS``: the downstream calls are smooth streams then).

Length: one model, kept in one file (stations, paths, fork-join, closed loop) so that its
formulas read in order; its results wrapper is ``analytic_results.py``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from meshsim.components import (
    KERNEL,
    PROXY,
    WIRE,
    Demand,
    app_cpu_cap_s,
    client_cpu_s,
    route_demands,
    worker_threads,
)
from meshsim.domain import CLIENT, HOPS, Hop, Kind, component_name
from meshsim.errors import ScenarioError
from meshsim.scenario import Fortio
from meshsim.topology import Component, Pod, Topology

if TYPE_CHECKING:
    from meshsim.loader import LoadedScenario

MAX_CALLEES = 8  # callee pods one caller pod weighs (work.ANALYTIC_CALLEES)
GRID_POINTS = 128  # the grid on which the maximum of parallel branches is integrated
QNA_PASSES = 2  # passes of load, waits and path times (variability and blocking settle)
OPENER_SPOTS = 4  # places in a lockstep batch at which a member opening a connection is traced
MAX_TRACE_VISITS = 200_000  # a lockstep batch's visits traced through the whole call tree
KEYS_PER_LEG = 4096  # step keys of a lockstep trace: leg x KEYS_PER_LEG + step
GROUP_LEGS = 2048  # legs of one group at most: a pass holds a few (steps, legs) arrays of it
MAX_PENDING = 1 << 17  # arrivals kept before ``Stations`` sums them
FLOAT = np.float64

# Proxies that belong to a pod (its sidecar) and those shared by a node (a DaemonSet).
PER_POD_PROXIES = (Kind.SIDECAR, Kind.LINKERD_PROXY)
PER_NODE_PROXIES = (Kind.ZTUNNEL, Kind.CILIUM_ENVOY)


# --- queueing formulas -------------------------------------------------------------------


def erlang_c(servers: int, offered: float) -> float:
    """P(wait) in M/M/c with offered load a (Erlang B's stable recursion, then C)."""
    if offered <= 0:
        return 0.0
    if offered >= servers:
        return 1.0
    b = 1.0
    for k in range(1, servers + 1):
        b = offered * b / (k + offered * b)
    rho = offered / servers
    return b / (1 - rho + rho * b)


def _erlang_c_vec(servers: np.ndarray, offered: np.ndarray) -> np.ndarray:
    """Erlang C for many stations at once (the recursion up to the largest pool)."""
    b = np.ones_like(offered)
    top = int(servers.max()) if len(servers) else 0
    out = np.zeros_like(offered)
    for k in range(1, top + 1):
        b = offered * b / (k + offered * b)
        done = servers == k
        if done.any():
            rho = offered[done] / k
            out[done] = b[done] / (1 - rho + rho * b[done])
    out[offered <= 0] = 0.0
    out[offered >= servers] = 1.0
    return out


@dataclass
class Moments:
    """Mean and second moment of a duration, seconds."""

    mean: float = 0.0
    second: float = 0.0

    @property
    def variance(self) -> float:
        return max(0.0, self.second - self.mean**2)


# --- stations ------------------------------------------------------------------------------


class Stations:
    """Every station's servers, its load this pass, and its waits (arrays over stations)."""

    def __init__(self, names: list[str], servers: list[int]) -> None:
        self.names = names
        self.servers = np.array(servers, dtype=FLOAT)
        n = len(names)
        self.wait_mean = np.zeros(n)
        self.wait_second = np.zeros(n)
        self.p_wait = np.zeros(n)
        self.rho = np.zeros(n)
        self.ca2 = np.ones(n)
        self.ca2_out = np.ones(n)
        self.reset()

    def reset(self) -> None:
        n = len(self.names)
        self.rate, self.busy, self.second, self.ca2_in = (np.zeros(n) for _ in range(4))
        self._arrivals: list[tuple[np.ndarray, ...]] = []
        self._pending = 0  # arrivals kept in ``_arrivals``

    def add(self, idx: np.ndarray, rate: np.ndarray, mean: Any, second: Any, ca2: Any) -> None:
        """Arrivals at stations ``idx`` (-1: none) with their holding time's two moments
        (``rate`` per ``idx``'s last axis; each moment and ``ca2`` broadcast to ``idx``).
        Kept until ``solve`` (nothing reads the load before), which sums them all at once:
        a pass adds a few small arrays per group, and one bincount per quantity is cheaper."""
        rows = np.empty((4, *idx.shape))  # idx may be (steps, legs), the rest broadcast
        rows[0], rows[1], rows[2], rows[3] = rate, mean, second, ca2
        rows[1:] *= rows[0]
        if idx.size >= MAX_PENDING:  # a large network: summed at once, without copies
            self._sum(idx.ravel(), rows.reshape(4, -1))
            return
        self._arrivals.append((idx.ravel(), rows.reshape(4, -1)))
        self._pending += idx.size
        if self._pending >= MAX_PENDING:  # in bounded memory
            self._gather()

    def _gather(self) -> None:
        """The arrivals kept by ``add``, summed per station."""
        if self._arrivals:
            idx = np.concatenate([i for i, _ in self._arrivals])
            rows = np.concatenate([r for _, r in self._arrivals], axis=1)
            self._arrivals, self._pending = [], 0
            self._sum(idx, rows)

    def _sum(self, idx: np.ndarray, rows: np.ndarray) -> None:
        n = len(self.names)
        idx = np.where(idx >= 0, idx, n)  # none: a bin past the stations, dropped
        self.rate += np.bincount(idx, rows[0], n + 1)[:n]
        self.busy += np.bincount(idx, rows[1], n + 1)[:n]
        self.second += np.bincount(idx, rows[2], n + 1)[:n]
        self.ca2_in += np.bincount(idx, rows[3], n + 1)[:n]

    def solve(self) -> None:
        """Allen-Cunneen waits at this load, and QNA's variability of the departures."""
        self._gather()
        on = self.rate > 0
        mean = np.where(on, self.busy / np.where(on, self.rate, 1), 0.0)
        second = np.where(on, self.second / np.where(on, self.rate, 1), 0.0)
        self.ca2 = np.where(on, self.ca2_in / np.where(on, self.rate, 1), 1.0)
        cs2 = np.where(mean > 0, np.maximum(second / np.where(mean > 0, mean, 1) ** 2 - 1, 0), 0)
        offered = self.busy
        self.rho = offered / self.servers
        pw = _erlang_c_vec(self.servers, offered)
        room = np.maximum(self.servers - offered, 1e-300)
        wq = pw * mean / room * (self.ca2 + cs2) / 2
        wq[self.rho >= 1] = math.inf
        self.wait_mean = np.where(mean > 0, wq, 0.0)
        self.p_wait = np.where(mean > 0, pw, 0.0)
        safe_pw = np.where(self.p_wait > 0, self.p_wait, 1.0)
        self.wait_second = np.where(self.p_wait > 0, 2 * self.wait_mean**2 / safe_pw, 0.0)
        rho = np.minimum(self.rho, 0.999)
        self.ca2_out = np.where(
            on,
            1 + (1 - rho**2) * (self.ca2 - 1) + rho**2 * (cs2 - 1) / np.sqrt(self.servers),
            1.0,
        )


# --- legs ------------------------------------------------------------------------------------


@dataclass
class Group:
    """Legs (of any edges) whose routes have the same shape and costs: the demands of one
    representative, and per demand and leg the station and component that carry it."""

    legs: np.ndarray  # indices into the network's leg arrays
    request: list[Demand]
    response: list[Demand]
    core: np.ndarray  # (steps, legs) core station per step (-1 for a wire)
    pool: np.ndarray  # (steps, legs) worker station, -1 for none
    comp: np.ndarray  # (steps, legs) component, -1 for a wire
    # What every pass needs that does not depend on the load (``Network._plan``): per leg,
    # and per step a column (steps, 1), so that a pass is a few array operations per group.
    steps: list[tuple[bool, Demand]] = field(init=False)  # (on the request?, demand)
    hops: list[str] = field(init=False)  # each step's hop kind
    rate: np.ndarray = field(init=False)  # calls per root request
    callees: np.ndarray = field(init=False)
    smooth: np.ndarray = field(init=False)  # not traced as a lockstep batch
    wire: np.ndarray = field(init=False)  # (steps, 1) whether a step is a wire
    on: np.ndarray = field(init=False)  # the steps that are not wires (their rows)
    proxy: np.ndarray = field(init=False)  # the proxy steps (their rows)
    cpu: np.ndarray = field(init=False)  # CPU mean and variance before a wake-up, with ...
    var: np.ndarray = field(init=False)
    cpu_body: np.ndarray = field(init=False)  # ... and without the handshake (``_openings``)
    var_body: np.ndarray = field(init=False)
    service: np.ndarray = field(init=False)  # a step's time beyond its CPU: latency, or wire
    service_var: np.ndarray = field(init=False)  # a wire's variance
    wakeup: np.ndarray = field(init=False)
    after: np.ndarray = field(init=False)  # telemetry CPU after a response
    # per step that is not a wire, and leg: the station whose departures arrive, or the load
    # generator's own pacing; the same for the callee app
    feed: np.ndarray = field(init=False)
    from_root: np.ndarray = field(init=False)
    proxy_on: np.ndarray = field(init=False)  # the proxy steps' rows among those
    app_feed: np.ndarray = field(init=False)
    app_root: np.ndarray = field(init=False)


@dataclass
class Edge:
    """Calls from the pods of one caller (a service, or the load generator) to one service:
    the legs ``start:stop`` of the network's leg arrays."""

    caller: str
    service: str
    times: float  # expected calls per request of the caller
    start: int = 0
    stop: int = 0


@dataclass
class HopTally:
    """A hop kind per root request: visits, and rate-weighted moments of wait and service."""

    visits: float = 0.0
    wait: Moments = field(default_factory=Moments)
    service: Moments = field(default_factory=Moments)
    total: Moments = field(default_factory=Moments)


@dataclass
class Solution:
    """What the analytic engine found for one scenario in one mode."""

    topo: Topology
    rate_rps: float  # root requests per second carried
    requested_rps: float | None
    latency: Moments  # of a root request, seconds
    saturated: bool
    bottleneck: str
    bottleneck_utilisation: float
    components: list[Component]
    component_workers: list[int | None]
    component_cpu: dict[str, float]  # vCPU per component
    component_utilisation: dict[str, float]
    component_concurrency: dict[str, float]  # mean messages held (Little's law)
    node_vcpu: dict[str, float]
    hops: dict[str, HopTally]
    closed_loop: dict[str, Any] = field(default_factory=dict)
    # fortio in step: each batch position's own queueing wait, seconds (in ``latency``)
    batch_waits_s: tuple[float, ...] = ()
    batch_chances: tuple[float, ...] = ()  # the probability of each of those waits
    # open loop: (p0, body, opened): the latency is the body with probability p0 (no call
    # of the request opens a connection), else ``opened`` (``Network._openings``)
    openings: tuple[float, Moments, Moments] | None = None


class Network:
    """The queueing network of one scenario in its mode; ``solve(rate)`` at a root rate."""

    def __init__(self, loaded: LoadedScenario) -> None:
        sc = self.sc = loaded.scenario
        self.params = loaded.params
        topo = self.topo = Topology(sc, self.params)
        self.pods = topo.all_pods()
        self.pod_ix = {p.name: i for i, p in enumerate(self.pods)}
        node_names = list(topo.nodes)
        self.node_ix = {n: i for i, n in enumerate(node_names)}
        self.pod_node = np.array([self.node_ix[p.node] for p in self.pods], dtype=np.int64)
        zones = {z: i for i, z in enumerate(sorted({n.zone for n in topo.nodes.values()}))}
        self.node_zone = np.array([zones[topo.nodes[n].zone] for n in node_names])
        self._stations(loaded)
        self.new_conn = 1.0 / sc.mesh.requests_per_connection
        gen = sc.workload.generator
        # fortio's connections all start together and stay in step (unless -uniform or
        # -jitter): they send in batches of C at the same instants (``lockstep``). Unpaced
        # (qps max), each sends again when its reply comes, so the batch stays together
        # for a while as a train: traced the same way, batches one latency apart (less
        # accurate: benchmarks/README.md).
        in_step = isinstance(gen, Fortio) and not gen.uniform and not gen.jitter
        self.batch = gen.connections if in_step else 1
        if isinstance(gen, Fortio):
            self.root_ca2 = 1.0 if gen.jitter else 0.0
        else:
            self.root_ca2 = 0.0 if gen.arrivals == "constant" else 1.0
        self._traces: dict = {}  # lockstep traces, which do not depend on the load
        self.order = self._topological()
        self.edges = self._edges()
        # the legs of a lockstep batch (``lockstep``): their queueing is the batch's own
        self.traced = self.edge_is_root[self.leg_edge] & (self.batch > 1)
        self.visits = self._visit_rates()
        self.groups = self._groups()
        self.edge_ix = {(e.caller, e.service): i for i, e in enumerate(self.edge_list)}
        # a lockstep batch is traced through the whole call tree unless that is too long
        per_root = sum(
            float(self.leg_rate[g.legs].sum()) * (len(g.request) + len(g.response) + 1)
            for g in self.groups
        )
        self.deep = self.batch > 1 and per_root * self.batch <= MAX_TRACE_VISITS
        if self.deep:
            self.traced[:] = True
        self.wakeups = any(d.wakeup_s for g in self.groups for d in (*g.request, *g.response))
        self.body_only = False  # paths without connection openings (``_openings``)
        for g in self.groups:
            self._plan(g)

    # --- structure -------------------------------------------------------------------

    def _stations(self, loaded: LoadedScenario) -> None:
        sc, topo = self.sc, self.topo
        names: list[str] = []
        servers: list[int] = []
        shared = sc.cluster.shared_cores
        if shared:
            names.append("host")
            servers.append(shared)
            self.core_of_node = np.zeros(len(topo.nodes), dtype=np.int32)
        else:
            self.core_of_node = np.arange(len(topo.nodes), dtype=np.int32)
            for name, node in topo.nodes.items():
                names.append(name)
                servers.append(node.cores)
        self.components = topo.components()
        n_pods, n_nodes = len(self.pods), len(topo.nodes)
        self.pool_by = {k: np.full(n, -1, dtype=np.int32) for k, n in self._role_sizes().items()}
        self.comp_by = {k: np.full(n, -1, dtype=np.int32) for k, n in self._role_sizes().items()}
        self.comp_pool = np.full(len(self.components), -1, dtype=np.int64)
        threads_of: dict[tuple[str, str], int | None] = {}  # the same for every pod of a service
        for i, c in enumerate(self.components):
            key = Kind.APP if c.kind == Kind.CLIENT else c.kind
            where = self.node_ix[c.node] if c.pod is None else self.pod_ix[c.pod]
            self.comp_by[key][where] = i
            service = self.pods[where].service if c.pod is not None else ""
            if (c.kind, service) not in threads_of:
                threads_of[(c.kind, service)] = worker_threads(sc, self.params, topo, c)
            threads = threads_of[(c.kind, service)]
            if threads is not None:
                self.comp_pool[i] = len(names)
                self.pool_by[key][where] = len(names)
                names.append(c.name)
                servers.append(threads)
        assert n_pods and n_nodes
        self.st = Stations(names, servers)

    def _role_sizes(self) -> dict[str, int]:
        n_pods, n_nodes = len(self.pods), len(self.topo.nodes)
        per_pod = (Kind.APP, Kind.WAYPOINT, *PER_POD_PROXIES)
        return {
            **dict.fromkeys(per_pod, n_pods),
            **dict.fromkeys((Kind.KERNEL, Kind.CILIUM_AGENT, *PER_NODE_PROXIES), n_nodes),
        }

    def _topological(self) -> list[str]:
        """Services callers first (Kahn's algorithm; the graph is acyclic once validated)."""
        callers = dict.fromkeys(self.sc.services, 0)
        for svc in self.sc.services.values():
            for step in svc.calls:
                for call in step:
                    callers[call.service] += 1
        ready = sorted((n for n, k in callers.items() if k == 0), reverse=True)
        order: list[str] = []
        while ready:
            name = ready.pop()
            order.append(name)
            for step in self.sc.services[name].calls:
                for call in step:
                    callers[call.service] -= 1
                    if callers[call.service] == 0:
                        ready.append(call.service)
        return order

    def _edges(self) -> dict[tuple[str, str], Edge]:
        """Every edge of the call graph (callers in topological order) and its legs, as the
        arrays ``leg_caller``, ``leg_waypoint`` (-1: none), ``leg_callee``, ``leg_weight``
        (the leg's probability given a call from its caller) and ``leg_edge``."""
        edges: dict[tuple[str, str], Edge] = {}
        entry = self.sc.workload.entry
        parts: list[tuple[np.ndarray, ...]] = []
        todo = [(CLIENT, [self.topo.client], entry, 1.0)]
        for name in self.order:
            times: dict[str, float] = {}
            for step in self.sc.services[name].calls:
                for call in step:
                    share = call.probability * call.count
                    times[call.service] = times.get(call.service, 0.0) + share
            todo += [(name, self.topo.pods[name], svc, t) for svc, t in times.items()]
        start = 0
        for caller, pods, service, times_ in todo:
            legs = self._legs(pods, service)
            n = len(legs[0])
            edge = Edge(caller, service, times_, start, start + n)
            parts.append((*legs, np.full(n, len(edges))))
            edges[(caller, service)] = edge
            start += n
        cols = [np.concatenate(c) for c in zip(*parts, strict=True)]
        self.leg_caller, self.leg_waypoint, self.leg_callee, self.leg_weight, self.leg_edge = cols
        self.edge_list = list(edges.values())
        self.edge_times = np.array([e.times for e in self.edge_list])
        self.edge_is_root = np.array([e.caller == CLIENT for e in self.edge_list])
        return edges

    def _legs(self, pods: list[Pod], service: str) -> tuple[np.ndarray, ...]:
        """The legs of calls from ``pods`` to ``service``: every waypoint pod, and every callee
        pod (same-zone ones with ``prefer_same_zone``), at most MAX_CALLEES of them, rotated."""
        topo, svc = self.topo, self.sc.services[service]
        callers = np.array([self.pod_ix[p.name] for p in pods], dtype=np.int64)
        targets = np.array([self.pod_ix[p.name] for p in topo.pods[service]], dtype=np.int64)
        wp_name = topo.waypoint_of.get(service)
        meshed = pods[0].in_mesh  # the load generator alone may be outside the mesh
        wps = topo.waypoints[wp_name] if wp_name is not None and meshed else [None]
        rank = np.arange(len(callers))
        out: list[tuple[np.ndarray, ...]] = []
        for wp in wps:
            w_ix = self.pod_ix[wp.name] if wp is not None else -1
            picker_zone = self.node_zone[self.pod_node[callers if wp is None else [w_ix]]]
            picker_zone = np.broadcast_to(picker_zone, callers.shape)
            target_zone = self.node_zone[self.pod_node[targets]]
            zones = np.unique(picker_zone) if svc.prefer_same_zone else [None]
            for zone in zones:
                mine = picker_zone == zone if zone is not None else np.ones(len(callers), bool)
                chosen = targets
                if zone is not None and (target_zone == zone).any():
                    chosen = targets[target_zone == zone]
                # enough callees that every one is weighed by some caller
                k = min(len(chosen), max(MAX_CALLEES, -(-len(chosen) // int(mine.sum()))))
                offsets = (rank[mine, None] * k + np.arange(k)[None, :]) % len(chosen)
                if k == len(chosen):
                    offsets = np.broadcast_to(np.arange(k), offsets.shape)
                callee = chosen[offsets].ravel()
                caller = np.repeat(callers[mine], k)
                out.append(
                    (
                        caller,
                        np.full(len(caller), w_ix),
                        callee,
                        np.full(len(caller), 1.0 / (len(wps) * k)),
                    )
                )
        return tuple(np.concatenate(c) for c in zip(*out, strict=True))

    def _relation(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """0 same node, 1 same zone, 2 across zones, between the nodes of pods a and b."""
        na, nb = self.pod_node[a], self.pod_node[b]
        return np.where(na == nb, 0, np.where(self.node_zone[na] == self.node_zone[nb], 1, 2))

    def _groups(self) -> list[Group]:
        """Legs grouped by route shape: one route (and ``route_demands``) per edge and kind of
        leg (which of caller, waypoint and callee share a node or a zone), then merged over
        edges whose demands cost the same, so that each pass is a few array operations."""
        p, w, q = self.leg_caller, self.leg_waypoint, self.leg_callee
        w_or_p = np.where(w >= 0, w, p)
        kind = self._relation(p, q) * 9 + self._relation(p, w_or_p) * 3 + self._relation(w_or_p, q)
        key = self.leg_edge * 27 + kind
        order = np.argsort(key, kind="stable")
        bounds = np.flatnonzero(np.diff(key[order])) + 1
        merged: dict[tuple, tuple[list[Demand], list[Demand], list[tuple], list[np.ndarray]]] = {}
        for legs in np.split(order, bounds):
            i = legs[0]
            edge = self.edge_list[self.leg_edge[i]]
            p0, q0 = self.pods[p[i]], self.pods[q[i]]
            w0 = self.pods[w[i]] if w[i] >= 0 else None
            route = self.topo.route(p0, q0, w0)
            svc = self.sc.services[edge.service]
            request, response = route_demands(self.params, self.sc.network, route, svc)
            roles = [self._roles(d, p0, w0, q0) for d in (*request, *response)]
            sig = (
                len(request),
                tuple(_constants(d) for d in (*request, *response)),
                tuple(roles),
            )
            found = merged.setdefault(sig, (request, response, roles, []))
            found[3].append(legs)
        groups = []
        for request, response, roles, parts in merged.values():
            every = np.sort(np.concatenate(parts))
            for start in range(0, len(every), GROUP_LEGS):  # a pass's arrays stay small
                legs = every[start : start + GROUP_LEGS]
                groups.append(self._group(legs, request, response, roles))
        return groups

    def _group(
        self, legs: np.ndarray, request: list[Demand], response: list[Demand], roles: list[tuple]
    ) -> Group:
        """The group of these legs: per demand and leg, its stations and component."""
        p, w, q = self.leg_caller, self.leg_waypoint, self.leg_callee
        pods = {"P": p[legs], "W": w[legs], "Q": q[legs]}
        of_role = {r: self._stations_of(r, pods) for r in set(roles)}
        found = [of_role[r] for r in roles]
        empty = np.zeros((0, len(legs)), dtype=np.int32)
        core, pool, comp = ((np.stack([f[i] for f in found]) if found else empty) for i in range(3))
        return Group(legs, request, response, core, pool, comp)

    def _roles(self, d: Demand, p0: Pod, w0: Pod | None, q0: Pod) -> tuple[str, str, str]:
        """Which endpoint's node carries demand ``d``, its component kind, and whose pod (or
        node) that component is: (node role, kind, owner role); roles P, W, Q."""
        if d.op == WIRE:
            return ("", "", "")
        ends = (("P", p0), ("W", w0), ("Q", q0))
        role = next(r for r, pod in ends if pod is not None and pod.node == d.node)
        if d.op == KERNEL:
            return (role, str(Kind.KERNEL), role)
        kind = d.proxy
        if kind in PER_NODE_PROXIES:
            return (role, kind, role)
        owner = "W" if kind == Kind.WAYPOINT else "P"
        if kind in PER_POD_PROXIES and d.component != component_name(p0.name, kind):
            owner = "Q"
        return (role, kind, owner)

    def _stations_of(
        self, roles: tuple[str, str, str], pods: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per leg: the core station, worker station and component of one demand."""
        role, kind_name, owner = roles
        n = len(pods["P"])
        none = np.full(n, -1, dtype=np.int32)
        if not role:
            return none, none, none
        nodes = self.pod_node[pods[role]]
        core = self.core_of_node[nodes]
        kind = kind_name
        per_node = kind == Kind.KERNEL or kind in PER_NODE_PROXIES
        where = self.pod_node[pods[owner]] if per_node else pods[owner]
        return core, self.pool_by[kind][where], self.comp_by[kind][where]

    def _visit_rates(self) -> np.ndarray:
        """Arrivals per second at each pod's app per root request per second; and
        ``leg_rate``, each leg's calls per root request."""
        visits = np.zeros(len(self.pods))
        client = self.pod_ix[self.topo.client.name]
        visits[client] = 1.0
        self.leg_rate = np.zeros(len(self.leg_callee))
        for edge in self.edge_list:  # in topological order of the callers
            sl = slice(edge.start, edge.stop)
            flow = visits[self.leg_caller[sl]] * edge.times * self.leg_weight[sl]
            self.leg_rate[sl] = flow
            visits += np.bincount(self.leg_callee[sl], flow, len(self.pods))
        visits[client] = 0.0
        return visits

    def _plan(self, g: Group) -> None:
        """A group's load-independent arrays (``Group``), and which station's departures
        reach each step (QNA's splitting: the previous step's station, else the apps')."""
        g.steps = [(True, d) for d in g.request] + [(False, d) for d in g.response]
        g.hops = [str(Hop.NETWORK if d.op == WIRE else d.hop) for _, d in g.steps]
        g.rate = self.leg_rate[g.legs]
        g.callees = self.leg_callee[g.legs]
        g.smooth = ~self.traced[g.legs]

        def column(values: list[float]) -> np.ndarray:
            return np.array(values, dtype=FLOAT).reshape(-1, 1)

        g.on = np.array([i for i, (_, d) in enumerate(g.steps) if d.op != WIRE], dtype=np.int64)
        g.proxy = np.array([i for i, (_, d) in enumerate(g.steps) if d.op == PROXY], np.int64)
        full = [self._cpu_base(d, request) for request, d in g.steps]
        body = [self._cpu_base(d, request, False) for request, d in g.steps]
        g.cpu, g.var = column([c for c, _ in full]), column([v for _, v in full])
        g.cpu_body, g.var_body = column([c for c, _ in body]), column([v for _, v in body])
        demands = [d for _, d in g.steps]
        g.service = column(
            [d.wire_mean_s + d.serialise_s if d.op == WIRE else d.latency_s for d in demands]
        )
        g.wire = np.array([d.op == WIRE for d in demands], dtype=bool).reshape(-1, 1)
        network = self.sc.network
        spread = {
            r: getattr(network, f"{r}_ms").variance_s2
            for r in {d.relation for d in demands if d.op == WIRE}
        }
        g.service_var = column([spread[d.relation] if d.op == WIRE else 0.0 for d in demands])
        g.wakeup = column([d.wakeup_s for _, d in g.steps])
        g.after = column([0.0 if request else d.after_s for request, d in g.steps])
        root = self.edge_is_root[self.leg_edge[g.legs]]
        app = self.pool_by[Kind.APP]

        def app_station(pods: np.ndarray) -> np.ndarray:
            return np.where(app[pods] >= 0, app[pods], self.core_of_node[self.pod_node[pods]])

        station, fed_root = app_station(self.leg_caller[g.legs]), root
        feed, feed_root = [], []
        app_feed, app_root = None, None
        for j, (_, d) in enumerate(g.steps):
            if j == len(g.request):
                app_feed, app_root = station, fed_root
                station, fed_root = app_station(g.callees), np.zeros(len(g.legs), bool)
            feed.append(station)
            feed_root.append(fed_root)
            if d.op != WIRE:
                station = g.pool[j] if d.op == PROXY else g.core[j]
                fed_root = np.zeros(len(g.legs), bool)
        if app_feed is None:
            app_feed, app_root = station, fed_root
        shape = (len(g.steps), len(g.legs))
        g.feed = np.array(feed, dtype=np.int32).reshape(shape)[g.on]
        g.from_root = np.array(feed_root, dtype=bool).reshape(shape)[g.on]
        g.feed[g.from_root] = 0  # any station: the generator's own variability is used
        g.proxy_on = np.searchsorted(g.on, g.proxy)
        g.app_feed, g.app_root = np.where(app_root, 0, app_feed), app_root

    # --- one step's CPU and the apps ------------------------------------------------------

    def step_cpu(
        self, d: Demand, request: bool, pool: np.ndarray, handshake: bool = True
    ) -> tuple[Any, Any]:
        """Mean and variance of the CPU of one kernel or proxy step (before any queueing):
        the cost model's demand, a handshake on a new connection (unless ``handshake`` is
        False: a path's body, ``_openings``), a wake-up of an idle worker."""
        cpu, var = self._cpu_base(d, request, handshake)
        if d.wakeup_s:
            free = 1 - np.where(pool >= 0, self.st.p_wait[pool], 0.0)
            cpu = cpu + free * d.wakeup_s
            var = var + d.wakeup_s**2 * free * (1 - free)
        return cpu, var

    def _cpu_base(self, d: Demand, request: bool, handshake: bool = True) -> tuple[Any, Any]:
        """``step_cpu`` without the wake-up (which follows the load)."""
        cpu: Any = d.cpu_s
        var: Any = (d.cpu_s * d.cpu_cv) ** 2
        if request and d.handshake_s and handshake:
            q = self.new_conn
            cpu += q * d.handshake_s
            var += d.handshake_s**2 * q * (1 - q)
        return cpu, var

    def group_cpu(self, g: Group, handshake: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``step_cpu`` of every step of a group: (steps, 1), or (steps, legs) with wake-ups."""
        cpu, var = (g.cpu, g.var) if handshake else (g.cpu_body, g.var_body)
        if self.wakeups:
            free = 1 - np.where(g.pool >= 0, self.st.p_wait[g.pool], 0.0)
            cpu = cpu + free * g.wakeup
            var = var + g.wakeup**2 * free * (1 - free)
        return cpu, var

    def _app_arrays(self) -> None:
        """Per pod: mean and variance of the app's duration, and its mean CPU."""
        from meshsim.distributions import Exponential

        n = len(self.pods)
        self.app_mean, self.app_var, self.app_cpu = np.zeros(n), np.zeros(n), np.zeros(n)
        self.app_blocking = np.zeros(n, dtype=bool)
        for name, svc in self.sc.services.items():
            dist, cap = svc.service_time, app_cpu_cap_s(svc)
            mean = dist.mean_s
            if isinstance(dist, Exponential) and math.isfinite(cap):
                cpu = mean * (1 - math.exp(-cap / mean))  # E[min(D, cap)]
            else:
                cpu = min(mean, cap)
            ix = [self.pod_ix[p.name] for p in self.topo.pods[name]]
            self.app_mean[ix], self.app_var[ix], self.app_cpu[ix] = mean, dist.variance_s2, cpu
            self.app_blocking[ix] = svc.blocking_calls
        self.app_pool = self.pool_by[Kind.APP]

    # --- solving -----------------------------------------------------------------------

    def solve(self, rate: float) -> Solution:
        """The network at ``rate`` root requests per second."""
        self._app_arrays()
        st = self.st
        st.ca2[:] = 1.0
        st.ca2_out[:] = 1.0
        st.wait_mean[:] = st.wait_second[:] = st.p_wait[:] = 0.0
        self.downstream = (np.zeros(len(self.pods)), np.zeros(len(self.pods)))
        blocking = bool((self.app_blocking & (self.app_pool >= 0)).any())
        for _ in range(QNA_PASSES):
            self._load(rate)
            st.solve()
            if (st.rho >= 1).any():
                break
            if blocking:  # a blocking app holds its worker through its calls
                self._paths()
        return self._solution(rate)

    def _load(self, rate: float) -> None:
        st = self.st
        wait_m, wait_2 = st.wait_mean, st.wait_second
        self.last_total = np.where(st.rate > 0, st.rate, np.inf)  # ``_split``: none, no share
        st.reset()
        client = client_cpu_s(self.sc.workload)
        if client > 0:
            core = self.core_of_node[[self.pod_node[self.pod_ix[self.topo.client.name]]]]
            st.add(core, np.array([rate]), client, client * client, self.root_ca2)
        for g in self.groups:
            lam = rate * g.rate
            # what reaches each step: the previous station's departures (the caller's app,
            # or the load generator's own pacing)
            before = np.where(g.from_root, self.root_ca2, self._split(g.feed, lam))
            self._load_app(
                g.callees, lam, np.where(g.app_root, self.root_ca2, self._split(g.app_feed, lam))
            )
            cpu, var = self.group_cpu(g)
            on = g.on
            st.add(g.core[on], lam, cpu[on], var[on] + cpu[on] * cpu[on], before)
            px = g.proxy
            if not len(px):
                continue
            core = g.core[px]
            cw, cw2, cpu, var = wait_m[core], wait_2[core], cpu[px], var[px]
            hold = cw + cpu
            second = cw2 + var + cpu * cpu + 2 * cw * cpu
            after = g.after[px]
            if after.any():  # telemetry: the worker stays busy
                tele = after > 0
                st.add(np.where(tele, core, -1), lam, after, after**2, before[g.proxy_on])
                extra = cw + after
                second = np.where(
                    tele, second + 2 * hold * extra + cw2 + 2 * cw * after + after**2, second
                )
                hold = np.where(tele, hold + extra, hold)
            st.add(g.pool[px], lam, hold, second, before[g.proxy_on])

    def _load_app(self, pods: np.ndarray, lam: np.ndarray, ca2: Any) -> None:
        """The app's CPU on its node's cores, and its hold on its own workers (with its
        calls, when they block)."""
        st = self.st
        mean, var, cpu = self.app_mean[pods], self.app_var[pods], self.app_cpu[pods]
        core = self.core_of_node[self.pod_node[pods]]
        cv2 = np.where(mean > 0, var / np.where(mean > 0, mean, 1) ** 2, 0.0)
        st.add(core, np.where(cpu > 0, lam, 0.0), cpu, cpu * cpu * (1 + cv2), ca2)
        pool = self.app_pool[pods]
        if (pool >= 0).any():
            cw = np.where(cpu > 0, st.wait_mean[core], 0.0)
            cw2 = np.where(cpu > 0, st.wait_second[core], 0.0)
            hold = cw + mean
            second = cw2 + var + mean * mean + 2 * cw * mean
            dm, d2 = self.downstream[0][pods], self.downstream[1][pods]
            blocking = self.app_blocking[pods]
            second = np.where(blocking, second + d2 + 2 * hold * dm, second)
            hold = np.where(blocking, hold + dm, hold)
            st.add(pool, lam, hold, second, ca2)

    def _split(self, station: np.ndarray, lam: np.ndarray) -> np.ndarray:
        """QNA's splitting: the part ``lam`` of a station's departures has variability
        p cd^2 + 1 - p, p its share of the station's rate (last pass)."""
        share = np.minimum(lam / self.last_total[station], 1)
        return share * self.st.ca2_out[station] + 1 - share

    # --- paths ---------------------------------------------------------------------------

    def group_times(self, g: Group) -> tuple[np.ndarray, ...]:
        """(wait mean, wait second moment, service mean, service variance) of every step of
        a group, (steps, legs) arrays (the service (steps, 1) unless a worker wakes up): a
        proxy step waits for a core and a worker."""
        st = self.st
        cpu, var = self.group_cpu(g, not self.body_only)
        wm, w2 = st.wait_mean[g.core], st.wait_second[g.core]
        px = g.proxy
        pm, p2 = st.wait_mean[g.pool[px]], st.wait_second[g.pool[px]]
        w2[px] = w2[px] + p2 + 2 * pm * wm[px]
        wm[px] = wm[px] + pm
        wire = g.wire  # a wire does not queue, and its time is its own
        return (
            np.where(wire, 0.0, wm),
            np.where(wire, 0.0, w2),
            np.where(wire, g.service, cpu + g.service),
            np.where(wire, g.service_var, var),
        )

    def app_time(self, pods: np.ndarray) -> tuple[Any, Any, Any, Any]:
        """(wait mean, wait second, service mean, service variance) of the apps' own work."""
        st = self.st
        core = self.core_of_node[self.pod_node[pods]]
        has_cpu = self.app_cpu[pods] > 0
        wm = np.where(has_cpu, st.wait_mean[core], 0.0)
        w2 = np.where(has_cpu, st.wait_second[core], 0.0)
        pool = self.app_pool[pods]
        pm = np.where(pool >= 0, st.wait_mean[pool], 0.0)
        p2 = np.where(pool >= 0, st.wait_second[pool], 0.0)
        return wm + pm, w2 + p2 + 2 * wm * pm, self.app_mean[pods], self.app_var[pods]

    def leg_times(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of every leg's messages both ways (not the callee's time)."""
        n = len(self.leg_callee)
        mean, var = np.zeros(n), np.zeros(n)
        for g in self.groups:
            wm, w2, sm, sv = self.group_times(g)
            wm, w2 = wm * g.smooth, w2 * g.smooth  # a lockstep batch's own trace has its waits
            mean[g.legs] = (wm + sm).sum(axis=0)
            var[g.legs] = ((w2 - np.square(wm)) + sv).sum(axis=0)
        return mean, var

    def call_time(self, edge: Edge, at_mean: np.ndarray, at_var: np.ndarray) -> tuple[Any, Any]:
        """Per caller pod: mean and variance of one call along this edge (mixed over legs)."""
        sl = slice(edge.start, edge.stop)
        lm, lv = self.legs_mean[sl], self.legs_var[sl]
        callees, weight = self.leg_callee[sl], self.leg_weight[sl]
        m = lm + at_mean[callees]
        second = lv + at_var[callees] + m * m
        n = len(self.pods)
        mean = np.bincount(self.leg_caller[sl], weight * m, n)
        sec = np.bincount(self.leg_caller[sl], weight * second, n)
        return mean, np.maximum(sec - mean * mean, 0.0)

    def _paths(self) -> None:
        """Bottom-up: the time from a request reaching each app pod to its response leaving."""
        n = len(self.pods)
        self.legs_mean, self.legs_var = self.leg_times()
        self.app_wait = (np.zeros(n), np.zeros(n))  # mean and variance of an app's wait
        at_mean, at_var = np.zeros(n), np.zeros(n)
        down_mean, down_second = np.zeros(n), np.zeros(n)
        for name in reversed(self.order):
            svc = self.sc.services[name]
            pods = np.array([self.pod_ix[p.name] for p in self.topo.pods[name]], dtype=np.int64)
            wm, w2, sm, sv = self.app_time(pods)
            if self.deep:  # a lockstep batch's trace has every wait
                wm, w2 = wm * 0.0, w2 * 0.0
            calls_m, calls_v = np.zeros(len(pods)), np.zeros(len(pods))
            times = {}
            for step in svc.calls:
                branches = []
                for call in step:
                    if call.service not in times:
                        cm, cv = self.call_time(self.edges[(name, call.service)], at_mean, at_var)
                        times[call.service] = (cm[pods], cv[pods])
                    branches.append((call.probability, *times[call.service], call.count))
                bm, bv = fork_join(branches)
                calls_m, calls_v = calls_m + bm, calls_v + bv
            down_mean[pods] = calls_m
            down_second[pods] = calls_v + calls_m**2
            at_mean[pods] = wm + sm + calls_m
            self.app_wait[0][pods], self.app_wait[1][pods] = wm, w2 - wm**2
            at_var[pods] = (w2 - wm**2) + sv + calls_v
        self.at = (at_mean, at_var)
        self.downstream = (down_mean, down_second)

    # --- the answer ------------------------------------------------------------------------

    def _solution(self, rate: float) -> Solution:
        st = self.st
        worst = int(np.argmax(st.rho))
        saturated = bool(st.rho[worst] >= 1)
        waits, prob = np.zeros(0), np.zeros(0)
        by_hop: dict[str, np.ndarray] = {}
        openings: tuple[float, Moments, Moments] | None = None
        if saturated:
            latency = Moments(math.inf, math.inf)
        else:
            self._paths()
            edge = self.edges[(CLIENT, self.sc.workload.entry)]
            mean, var = self.call_time(edge, *self.at)
            c = self.pod_ix[self.topo.client.name]
            if self.batch > 1 and not self.deep:  # the trace has the entry apps' waits
                at_mean, at_var = self.at[0] - self.app_wait[0], self.at[1] - self.app_wait[1]
                mean, var = self.call_time(edge, at_mean, np.maximum(at_var, 0.0))
            m, v = float(mean[c]), float(var[c])
            if self.batch > 1 and rate > 0:
                waits, prob, by_hop = self.lockstep(rate)
                extra = float(prob @ waits)
                m, v = m + extra, v + float(prob @ (waits - extra) ** 2)
            latency = Moments(m, v + m * m)
            if self.batch == 1:
                latency, openings = self._openings(latency)
        with np.errstate(invalid="ignore"):  # saturated: infinite waits times zero
            cpu, conc, hops = self._usage(rate, saturated)
        for kind, (wait, square) in by_hop.items():  # the batch's own queueing
            tally = hops.setdefault(kind, HopTally())
            visits = tally.visits or 1.0
            # a visit's wait gains the batch's: E[(w + b)^2] = E[w^2] + 2 E[w] E[b] + E[b^2]
            tally.wait.second += square + 2 * tally.wait.mean / visits * wait
            tally.total.second += square + 2 * tally.total.mean / visits * wait
            tally.wait.mean += wait
            tally.total.mean += wait
        util: dict[str, float] = {}
        for i, c in enumerate(self.components):
            pool = int(self.comp_pool[i])
            if pool >= 0:
                util[c.name] = float(st.busy[pool] / st.servers[pool])
            else:
                util[c.name] = cpu[c.name] / self.topo.nodes[c.node].cores
        node_vcpu = dict.fromkeys(self.topo.nodes, 0.0)
        for c in self.components:
            node_vcpu[c.node] += cpu[c.name]
        gen = self.sc.workload.generator
        return Solution(
            topo=self.topo,
            rate_rps=rate,
            requested_rps=gen.qps if isinstance(gen, Fortio) else gen.rate_rps,
            latency=latency,
            saturated=saturated,
            bottleneck=st.names[worst],
            bottleneck_utilisation=float(st.rho[worst]),
            components=self.components,
            component_workers=[
                int(st.servers[k]) if k >= 0 else None for k in self.comp_pool.tolist()
            ],
            component_cpu=cpu,
            component_utilisation=util,
            component_concurrency=conc,
            node_vcpu=node_vcpu,
            hops=hops,
            batch_waits_s=tuple(waits.tolist()),
            batch_chances=tuple(prob.tolist()),
            openings=openings,
        )

    def _openings(self, latency: Moments) -> tuple[Moments, tuple[float, Moments, Moments] | None]:
        """A root request's latency as a mixture over connection openings: ``(p0, body,
        opened)``, and the mixture's two moments (its mean is ``latency``'s).

        A call opens a connection with probability q = 1 / requests_per_connection, and then
        every proxy on its request path adds its handshake (one draw per call, as in the DES:
        ``calls.Call.begin``), so a path's handshake time H is 0 with probability 1 - q and a
        whole H_leg otherwise. Folded into the path's variance as independent steps, this rare
        and large term (q = 0.001, H = 2 x 1 ms against a 0.46 ms path in seed-claims' linkerd
        mode) spreads the two-moment fit's body: p90 +13.6 % there. Kept apart as an atom
        instead: with probability p0 = (1 - q)^N (N the calls per root request whose route has
        a handshake) no call opens and the latency is the body B (the paths without
        handshakes); otherwise it is B + S, S's mean the handshakes' share of the mean
        (divided by 1 - p0) and its spread that of H_leg over the legs (the mixture's
        variance counts each call's handshakes as one draw). This is how a delay with an atom
        at zero is approximated: its probability, and two moments fitted to the part away
        from it (the conditional delay), as Whitt's QNA does for a station's wait (P(W > 0)
        and W given W > 0; W. Whitt, "The Queueing Network Analyzer", Bell System Technical
        Journal 62 (1983) 2779-2815), here for the handshakes, the term that matters at low
        load. Fortio in step traces its openings in the batch instead."""
        q = self.new_conn
        shake = np.zeros(len(self.leg_rate))  # H_leg: the handshakes of a leg's request
        for g in self.groups:
            shake[g.legs] = sum(d.handshake_s for d in g.request if d.op == PROXY)
        calls = float(self.leg_rate[shake > 0].sum())
        p0 = (1 - q) ** calls if q < 1 else 0.0
        if calls <= 0 or p0 <= 0 or p0 >= 1:
            return latency, None
        saved = (self.at, self.downstream, self.app_wait, self.legs_mean, self.legs_var)
        self.body_only = True
        try:
            self._paths()
            edge = self.edges[(CLIENT, self.sc.workload.entry)]
            mean, var = self.call_time(edge, *self.at)
        finally:
            self.body_only = False
            self.at, self.downstream, self.app_wait, self.legs_mean, self.legs_var = saved
        c = self.pod_ix[self.topo.client.name]
        bm, bv = float(mean[c]), float(var[c])
        extra = max(latency.mean - bm, 0.0)  # E[S]
        if extra <= 0:
            return latency, None
        w = self.leg_rate * (shake > 0)
        h1, h2 = float(w @ shake), float(w @ shake**2)
        scv = max(h2 * float(w.sum()) / (h1 * h1) - 1, 0.0)  # of H_leg over the legs
        s1 = extra / (1 - p0)  # E[S | S > 0]
        body = Moments(bm, bv + bm * bm)
        om = bm + s1
        opened = Moments(om, bv + scv * s1 * s1 + om * om)
        mixed = p0 * body.second + (1 - p0) * opened.second
        return Moments(latency.mean, mixed), (p0, body, opened)

    def lockstep(self, rate: float) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """fortio's batch of C requests sent at once (``meshsim.lockstep``): each position's
        queueing wait with its probability, and per hop kind the mean sum and sum of squares
        of a member's waits there.

        Position k takes the entry edge's legs in proportion to their weights; every step
        costs its mean, or a random step its quantiles in turn (the CPU and the app's
        duration as in the stations, downstream calls as their mean time). A new connection
        is rare (1 / requests_per_connection) but its handshakes hold a worker while the
        rest of the batch queues behind it: the batch in which one member opens a
        connection, at one of ``OPENER_SPOTS`` places in the batch, is traced too, with the
        probability that one of the C members opens one."""
        from meshsim.lockstep import batch_waits

        edge = self.edges[(CLIENT, self.sc.workload.entry)]
        weights = self.leg_weight[edge.start : edge.stop]
        spots = np.cumsum(weights) / weights.sum()
        legs = [
            edge.start + int(np.searchsorted(spots, (k + 0.5) / self.batch))
            for k in range(self.batch)
        ]
        before = self._client_visits()
        servers = [int(n) for n in self.st.servers]
        opens = any(
            d.handshake_s > 0 for leg in set(legs) for d in self._leg_columns()[leg][0].request
        )
        p_open = 1 - (1 - self.new_conn) ** self.batch if opens else 0.0
        # the middles of n equal strata of places, rounded down and up in turn (their mean
        # is the batch's middle place)
        n = min(OPENER_SPOTS, self.batch) if p_open > 0 else 0
        middles = [(i + 0.5) * self.batch / n - 0.5 for i in range(n)]
        openers = sorted({math.floor(m) if i % 2 else math.ceil(m) for i, m in enumerate(middles)})
        build: dict[tuple[int, bool], list[Any]] = {}  # members on one leg share a path

        def batch(opener: int | None) -> list[list[Any]]:
            paths = []
            for k, leg in enumerate(legs):
                if (leg, k == opener) not in build:
                    build[(leg, k == opener)] = self._batch_path(leg, k == opener)
                paths.append(build[(leg, k == opener)])
            return paths

        clean, period = batch(None), self.batch / rate
        cache = self._cache()
        route = self._route if self.deep else None
        catchup = getattr(self.sc.workload.generator, "catchup", True)
        outcomes = batch_waits(clean, servers, period, before, cache, None, route, catchup)
        chance = [1.0]
        for opener in openers:
            found = batch_waits(
                clean, servers, period, before, cache, batch(opener), route, catchup
            )
            outcomes += found
            chance += [p_open / len(openers)] * len(found)
        chance[0] = max(0.0, 1 - sum(chance[1:]))
        waits, prob = [], []
        by_hop: dict[str, np.ndarray] = {}  # mean sum and sum of squares of waits
        for (w, hops), p in zip(outcomes, chance, strict=True):
            waits += w
            prob += [p / self.batch] * self.batch
            for member in hops:
                for kind, v in member.items():
                    by_hop[kind] = by_hop.get(kind, 0.0) + p / self.batch * np.array(v)
        return np.array(waits), np.array(prob), by_hop

    def _client_visits(self) -> list[list[Any]] | None:
        """The load generator's own CPU before each member's clock starts (fortio's timer)."""
        from meshsim.lockstep import Visit

        client = client_cpu_s(self.sc.workload)
        if client <= 0:
            return None
        core = int(self.core_of_node[self.pod_node[self.pod_ix[self.topo.client.name]]])
        return [[Visit(core=core, cpu_s=client)]] * self.batch

    def _cache(self) -> dict:
        """Traces and downstream paths, kept while what they depend on holds: everything
        but an idle worker's wake-up (which follows the load)."""
        wakes = self.st.p_wait.tobytes() if self.wakeups else b""
        if self._traces.get("wakes") != wakes:
            self._traces = {"wakes": wakes, "paths": {}}
        return self._traces

    def _route(self, edge: int, caller: int, spot: float) -> list[Any]:
        """A downstream call's path for a batch member: the leg of ``edge`` from pod
        ``caller`` at ``spot`` of their cumulative weights."""
        cache = self._cache()["paths"]
        key = (edge, caller)
        if key not in cache:
            e = self.edge_list[edge]
            legs = e.start + np.flatnonzero(self.leg_caller[e.start : e.stop] == caller)
            cum = np.cumsum(self.leg_weight[legs])
            cache[key] = (legs, cum / cum[-1])
        legs, cum = cache[key]
        leg = int(legs[min(int(np.searchsorted(cum, spot, side="right")), len(legs) - 1)])
        if leg not in cache:
            cache[leg] = self._batch_path(leg, None)
        return cache[leg]

    def _batch_path(self, leg: int, opens: bool | None) -> list[Any]:
        """The steps of one batch member along ``leg``; ``opens``: it opens a connection
        (its request's proxies add their handshakes), False: it does not, None: a
        downstream call (handshakes at their mean)."""
        from meshsim.lockstep import Visit

        g, col = self._leg_columns()[leg]
        visits: list[Any] = []
        steps = [(True, d) for d in g.request] + [(False, d) for d in g.response]
        key = leg * KEYS_PER_LEG  # one per random step of a leg
        callee = int(self.leg_callee[leg])
        for j, (request, d) in enumerate(steps):
            if j == len(g.request):
                visits += self._app_steps(callee, key + j)
            if d.op == WIRE:
                dist = getattr(self.sc.network, f"{d.relation}_ms")
                draws = _draws(d.wire_mean_s, dist.variance_s2, self.batch, d.serialise_s)
                fixed = 0.0 if draws else d.wire_mean_s + d.serialise_s
                visits.append(Visit(held_s=fixed, draws=draws, key=key + j))
                continue
            pool = g.pool[j][col : col + 1]
            cpu = float(np.asarray(self.step_cpu(d, request, pool)[0]).reshape(-1)[0])
            if request and d.handshake_s and opens is not None:
                cpu += d.handshake_s * ((1.0 if opens else 0.0) - self.new_conn)
            spread = (d.cpu_s * d.cpu_cv) ** 2
            visits.append(
                Visit(
                    core=int(g.core[j][col]),
                    cpu_s=cpu,
                    pool=int(pool[0]) if d.op == PROXY else -1,
                    after_s=d.after_s if d.op == PROXY and not request else 0.0,
                    delay_s=d.latency_s,
                    hop=str(d.hop),
                    draws=_draws(d.cpu_s, spread, self.batch, cpu - d.cpu_s),
                    key=key + j,
                )
            )
        if len(g.request) == len(steps):
            visits += self._app_steps(callee, key + len(steps))
        return visits

    def _app_steps(self, pod: int, key: int) -> list[Any]:
        """The callee app's steps for a batch member: its workers, its CPU (its duration up
        to its cap) on its node's cores, the rest of its duration, then its downstream calls
        step by step (``deep``; else their mean time as a delay), its workers held through
        them when it blocks."""
        from meshsim.lockstep import Fanout, Release, Visit

        cpu, mean = float(self.app_cpu[pod]), float(self.app_mean[pod])
        name = self.pods[pod].service
        blocking = bool(self.app_blocking[pod])
        pool = int(self.app_pool[pod])
        draws = _draws(mean, float(self.app_var[pod]), self.batch)
        down = 0.0 if self.deep else float(self.downstream[0][pod])
        app = Visit(
            core=int(self.core_of_node[self.pod_node[pod]]),
            cpu_s=cpu,
            pool=pool,
            held_s=(0.0 if draws else mean - cpu) + (down if blocking else 0.0),
            delay_s=0.0 if blocking else down,
            hop=str(Hop.APP),
            draws=draws,
            cap_s=app_cpu_cap_s(self.sc.services[name]),
            key=key,
            keep=blocking and self.deep,
        )
        if not self.deep:
            return [app]
        steps: list[Any] = [app]
        for i, step in enumerate(self.sc.services[name].calls):
            branches = tuple(
                (call.probability, call.count, self.edge_ix[(name, call.service)]) for call in step
            )
            steps.append(Fanout(branches, pod, -(pod * KEYS_PER_LEG + i + 1) * 64))
        if blocking and pool >= 0:
            steps.append(Release(pool))
        return steps

    def _leg_columns(self) -> dict[int, tuple[Group, int]]:
        """Each leg's group and column in it (for the batch's paths)."""
        if not hasattr(self, "_columns"):
            self._columns = {
                int(leg): (g, col) for g in self.groups for col, leg in enumerate(g.legs)
            }
        return self._columns

    def _usage(
        self, rate: float, saturated: bool
    ) -> tuple[dict[str, float], dict[str, float], dict[str, HopTally]]:
        """vCPU and mean messages held per component, and the hop tallies per root request."""
        n = len(self.components)
        cpu, conc = np.zeros(n), np.zeros(n)
        tallies: dict[str, np.ndarray] = {}  # visits, wait m/2, service m/2 (rate-weighted)
        client = client_cpu_s(self.sc.workload)
        cpu[self.comp_by[Kind.APP][self.pod_ix[self.topo.client.name]]] += rate * client

        def tally(kinds: list[str], lam: np.ndarray, wm: Any, w2: Any, sm: Any, sv: Any) -> None:
            """Adds lam-weighted sums of the visits and the wait, service and total moments
            of steps of these kinds (one reduction of a (7, steps, legs) array per group; a
            sum per row, not a matrix product, keeps the rounding of a zero variance)."""
            if saturated:
                return
            rows = np.empty((7, len(kinds), len(lam)))
            rows[0], rows[1], rows[2], rows[3] = 1.0, wm, w2, sm
            rows[4] = sv + rows[3] * rows[3]
            rows[5] = rows[1] + rows[3]
            rows[6] = rows[2] + rows[4] + 2 * rows[1] * rows[3]
            sums = (rows * lam).sum(axis=2)
            for j, kind in enumerate(kinds):
                tallies[kind] = tallies.get(kind, 0.0) + sums[:, j]

        for g in self.groups:
            lam = rate * g.rate
            smooth = g.smooth  # a lockstep batch's waits: added from its trace
            wm, w2, sm, sv = self.group_times(g)
            wm, w2 = wm * smooth, w2 * smooth
            step_cpu, _ = self.group_cpu(g)
            on, px = g.on, g.proxy
            callees = g.callees
            at = np.concatenate((g.comp[on].ravel(), self.comp_by[Kind.APP][callees]))
            of = (lam * (step_cpu[on] + g.after[on])).ravel(), lam * self.app_cpu[callees]
            cpu += np.bincount(at, np.concatenate(of), n)
            if len(px) and not saturated:
                conc += np.bincount(g.comp[px].ravel(), (lam * (wm[px] + sm[px])).ravel(), n)
            tally(g.hops, lam, wm, w2, sm, sv)
            wm, w2, sm, sv = self.app_time(callees)
            tally([str(Hop.APP)], lam, wm * smooth, w2 * smooth, sm, sv)
        hops = {}
        root = rate if rate > 0 else 1.0
        for kind in sorted(tallies, key=lambda k: HOPS.index(k) if k in HOPS else len(HOPS)):
            v, wm, w2, sm, s2, tm, t2 = tallies[kind] / root
            hops[kind] = HopTally(v, Moments(wm, w2), Moments(sm, s2), Moments(tm, t2))
        names = [c.name for c in self.components]
        return (
            dict(zip(names, cpu.tolist(), strict=True)),
            dict(zip(names, conc.tolist(), strict=True)),
            hops,
        )


@functools.lru_cache(maxsize=4096)
def _draws(mean: float, var: float, n: int, shift: float = 0.0) -> tuple[float, ...]:
    """n values standing for a random duration in a batch of n: the quantiles at
    (i + 1/2) / n of a lognormal of this mean and variance, plus ``shift``; none (the mean
    stands) without variance."""
    if var <= 0 or mean <= 0:
        return ()
    from scipy.special import ndtri

    sigma2 = math.log1p(var / mean**2)
    z = ndtri((np.arange(n) + 0.5) / n)
    return tuple((mean * np.exp(math.sqrt(sigma2) * z - sigma2 / 2) + shift).tolist())


def _constants(d: Demand) -> tuple:
    """What a demand costs, without where: legs whose demands agree on this share a group."""
    return (
        d.op,
        str(d.hop),
        d.cpu_s,
        d.proxy,
        d.handshake_s,
        d.after_s,
        d.latency_s,
        d.wakeup_s,
        d.cpu_cv,
        d.relation,
        d.wire_mean_s,
        d.serialise_s,
    )


def fork_join(branches: list[tuple[float, np.ndarray, np.ndarray, int]]) -> tuple[Any, Any]:
    """Mean and variance (arrays over pods) of a step of parallel calls: branch i is present
    with probability p_i and is count_i calls in a row; the step ends with its last branch.
    Each branch's CDF is the regularized incomplete gamma function (what ``stats.gamma.cdf``
    computes, without its argument checks: shape and scale are positive here)."""
    from scipy.special import gammainc

    present = [(p, c * m, c * v) for p, m, v, c in branches if p > 0 and np.any(m > 0)]
    if not present:
        return 0.0, 0.0
    if len(present) == 1:
        p, m, v = present[0]
        mean = p * m
        return mean, np.maximum(p * (v + m * m) - mean * mean, 0.0)
    upper = np.max([m + 12 * np.sqrt(v) for _, m, v in present], axis=0)
    t = np.linspace(0.0, 1.0, GRID_POINTS)[None, :] * upper[:, None]
    cdf = np.ones_like(t)
    for p, m, v in present:
        m, v = m[:, None], v[:, None]
        point = v <= 1e-18 * m * m
        safe_v = np.where(point, 1.0, v)
        shape = np.where(point, 1.0, m * m / safe_v)
        scale = np.where(point, 1.0, safe_v / np.where(m > 0, m, 1.0))
        g = np.where(point, (t >= m).astype(float), gammainc(shape, t / scale))
        cdf *= 1 - p + p * g
    tail = 1 - cdf
    mean = np.trapezoid(tail, t, axis=1)
    second = np.trapezoid(2 * t * tail, t, axis=1)
    return mean, np.maximum(second - mean * mean, 0.0)


# --- the entry point ------------------------------------------------------------------------


def solve(loaded: LoadedScenario) -> Solution:
    """The scenario in its own mode: open loop at its rate, fortio's closed loop at the rate
    its pacing and the latency it meets allow."""
    if loaded.scenario.events:
        raise ScenarioError(
            "the analytic engine solves steady state: a scenario with events needs the DES "
            "(--engine des)",
            loaded.source,
            None,
            "events",
        )
    net = Network(loaded)
    gen = loaded.scenario.workload.generator
    if not isinstance(gen, Fortio):
        return net.solve(gen.rate_rps)
    return closed_loop(net, gen)


def closed_loop(net: Network, gen: Fortio) -> Solution:
    """fortio: C connections, each a closed loop paced at qps / C. With catch-up (fortio's
    default) a late connection sends back to back until it is on schedule, so it carries
    min(qps, C / R); without, a late slot is skipped and its cycle is E[max(period, R)]. The
    rate X solves X = carried(R(X)) by bisection."""
    period = gen.connections / gen.qps if gen.qps else 0.0

    def carried(rate: float) -> float:
        sol = net.solve(rate)
        if sol.saturated:
            return 0.0
        mean, var = sol.latency.mean, sol.latency.variance
        if gen.catchup or not period or var <= 0:
            cycle = max(period, mean)
        else:
            cycle = period + _gamma_excess(mean, var, period)
        return gen.connections / cycle if cycle > 0 else math.inf

    hi = gen.qps or 1.0
    if not gen.qps:
        while carried(hi) >= hi and hi < 1e9:
            hi *= 2
    if carried(hi) >= hi:
        rate = hi
    else:
        lo = 0.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if carried(mid) >= mid:
                lo = mid
            else:
                hi = mid
            if hi - lo <= 1e-4 * hi:
                break
        rate = lo
    sol = net.solve(rate)
    sol.closed_loop = {"connections": gen.connections, "period_s": period, "carried_rps": rate}
    return sol


def _gamma_excess(mean: float, var: float, t: float) -> float:
    """E[(R - t)+] for R gamma with this mean and variance."""
    from scipy.special import gammaincc  # scipy.stats.gamma.sf, without importing scipy.stats

    shape, scale = mean * mean / var, var / mean
    if t <= 0:
        return mean - t
    return float(mean * gammaincc(shape + 1, t / scale) - t * gammaincc(shape, t / scale))
