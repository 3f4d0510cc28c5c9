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
  time); the throughput X solves X = C / cycle(R(X)) by bisection (``closed_loop``);
- **saturation** exactly: a station at utilisation >= 1 saturates the run, and is named.

The work is vectorised over every (caller pod, waypoint pod, callee pod) *leg* of a call-graph
edge: the route of one representative leg per kind of leg (which endpoints share a node or a
zone) gives the demands, and each demand's station is looked up per leg by its role (the
caller's, the waypoint's or the callee's pod or node).

Not modelled (the DES has them): the wake-up delay of idle components
(``cluster.wakeup_latency_us``), least request's preference for the less busy pod (an even
split here), fortio's synchronised connection starts (a smooth stream here).
"""

from __future__ import annotations

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
from meshsim.scenario import Fortio
from meshsim.topology import Pod, Topology

if TYPE_CHECKING:
    from meshsim.loader import LoadedScenario

MAX_CALLEES = 16  # callee pods one caller pod weighs (work.ANALYTIC_CALLEES)
GRID_POINTS = 256  # the grid on which the maximum of parallel branches is integrated
QNA_PASSES = 3  # passes of load, waits and path times (variability and blocking settle)
FLOAT = np.float64


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

    def add(self, idx: np.ndarray, rate: np.ndarray, mean: Any, second: Any, ca2: Any) -> None:
        """Arrivals at stations ``idx`` (-1: none) with their holding time's two moments."""
        keep = idx >= 0
        if not keep.all():
            idx, rate = idx[keep], rate[keep]
            mean, second, ca2 = (np.broadcast_to(a, keep.shape)[keep] for a in (mean, second, ca2))
        n = len(self.names)
        self.rate += np.bincount(idx, rate, n)
        self.busy += np.bincount(idx, rate * mean, n)
        self.second += np.bincount(idx, rate * second, n)
        self.ca2_in += np.bincount(idx, rate * ca2, n)

    def solve(self) -> None:
        """Allen-Cunneen waits at this load, and QNA's variability of the departures."""
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
    """The legs of one edge that share a route shape: the demands of a representative leg,
    and per demand and leg the station and component that carry it."""

    legs: np.ndarray  # indices into the edge's leg arrays
    request: list[Demand]
    response: list[Demand]
    core: np.ndarray  # (steps, legs) core station per step (-1 for a wire)
    pool: np.ndarray  # (steps, legs) worker station, -1 for none
    comp: np.ndarray  # (steps, legs) component, -1 for a wire


@dataclass
class Edge:
    """Calls from the pods of one caller (a service, or the load generator) to one service."""

    caller: str
    service: str
    times: float  # expected calls per request of the caller
    callers: np.ndarray  # caller pod per leg
    callees: np.ndarray  # callee pod per leg
    weight: np.ndarray  # probability of the leg given a call from its caller
    groups: list[Group] = field(default_factory=list)


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
    component_cpu: dict[str, float]  # vCPU per component
    component_utilisation: dict[str, float]
    component_concurrency: dict[str, float]  # mean messages held (Little's law)
    node_vcpu: dict[str, float]
    hops: dict[str, HopTally]
    closed_loop: dict[str, Any] = field(default_factory=dict)


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
        # -jitter): they send in batches of C at the same instants
        self.batch = (
            gen.connections if isinstance(gen, Fortio) and not gen.uniform and not gen.jitter else 1
        )
        if isinstance(gen, Fortio):
            self.root_ca2 = 1.0 if gen.jitter else 0.0
        else:
            self.root_ca2 = 0.0 if gen.arrivals == "constant" else 1.0
        self.order = self._topological()
        self.edges = self._edges()
        self.visits = self._visit_rates()

    # --- structure -------------------------------------------------------------------

    def _stations(self, loaded: LoadedScenario) -> None:
        sc, topo = self.sc, self.topo
        names: list[str] = []
        servers: list[int] = []
        shared = sc.cluster.shared_cores
        if shared:
            names.append("host")
            servers.append(shared)
            self.core_of_node = np.zeros(len(topo.nodes), dtype=np.int64)
        else:
            self.core_of_node = np.arange(len(topo.nodes), dtype=np.int64)
            for name, node in topo.nodes.items():
                names.append(name)
                servers.append(node.cores)
        self.components = topo.components()
        self.comp_ix = {c.name: i for i, c in enumerate(self.components)}
        n_pods, n_nodes = len(self.pods), len(topo.nodes)
        self.pool_by = {k: np.full(n, -1, dtype=np.int64) for k, n in self._role_sizes().items()}
        self.comp_by = {k: np.full(n, -1, dtype=np.int64) for k, n in self._role_sizes().items()}
        self.comp_pool = np.full(len(self.components), -1, dtype=np.int64)
        for i, c in enumerate(self.components):
            key = Kind(c.kind) if c.kind != Kind.CLIENT else Kind.APP
            where = self.node_ix[c.node] if c.pod is None else self.pod_ix[c.pod]
            self.comp_by[key][where] = i
            threads = worker_threads(sc, self.params, topo, c)
            if threads is not None:
                self.comp_pool[i] = len(names)
                self.pool_by[key][where] = len(names)
                names.append(c.name)
                servers.append(threads)
        assert n_pods and n_nodes
        self.st = Stations(names, servers)
        self.station_component = {
            int(self.comp_pool[i]): c.name for i, c in enumerate(self.components)
        }

    def _role_sizes(self) -> dict[Kind, int]:
        n_pods, n_nodes = len(self.pods), len(self.topo.nodes)
        return {
            Kind.APP: n_pods,
            Kind.SIDECAR: n_pods,
            Kind.WAYPOINT: n_pods,
            Kind.ZTUNNEL: n_nodes,
            Kind.KERNEL: n_nodes,
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
        edges = {}
        entry = self.sc.workload.entry
        edges[(CLIENT, entry)] = self._edge(CLIENT, [self.topo.client], entry, 1.0)
        for name in self.order:
            times: dict[str, float] = {}
            for step in self.sc.services[name].calls:
                for call in step:
                    times[call.service] = times.get(call.service, 0.0) + (
                        call.probability * call.count
                    )
            for service, t in times.items():
                edges[(name, service)] = self._edge(name, self.topo.pods[name], service, t)
        return edges

    def _edge(self, caller: str, pods: list[Pod], service: str, times: float) -> Edge:
        """Every leg of calls from ``pods`` to ``service``: waypoint pod and callee pod."""
        topo, svc = self.topo, self.sc.services[service]
        wp_name = topo.waypoint_of.get(service)
        callee_pods = topo.pods[service]
        targets = np.array([self.pod_ix[p.name] for p in callee_pods], dtype=np.int64)
        rows: list[tuple[np.ndarray, ...]] = []
        for rank, pod in enumerate(pods):
            waypoints = topo.waypoints[wp_name] if wp_name is not None and pod.in_mesh else [None]
            for wp in waypoints:
                chosen = targets
                if svc.prefer_same_zone:
                    picker = self.pod_node[self.pod_ix[(wp or pod).name]]
                    local = targets[
                        self.node_zone[self.pod_node[targets]] == self.node_zone[picker]
                    ]
                    chosen = local if len(local) else targets
                if len(chosen) > MAX_CALLEES:  # rotated: every callee gets an equal share
                    start = (rank * MAX_CALLEES) % len(chosen)
                    chosen = chosen[(start + np.arange(MAX_CALLEES)) % len(chosen)]
                n = len(chosen)
                w_ix = self.pod_ix[wp.name] if wp is not None else -1
                rows.append(
                    (
                        np.full(n, self.pod_ix[pod.name]),
                        chosen,
                        np.full(n, w_ix),
                        np.full(n, 1.0 / (len(waypoints) * n)),
                    )
                )
        callers, callees, wps, weight = (np.concatenate(c) for c in zip(*rows, strict=True))
        edge = Edge(caller, service, times, callers, callees, weight)
        edge.groups = self._groups(callers, callees, wps, service)
        return edge

    def _relation(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """0 same node, 1 same zone, 2 across zones, between the nodes of pods a and b."""
        na, nb = self.pod_node[a], self.pod_node[b]
        return np.where(na == nb, 0, np.where(self.node_zone[na] == self.node_zone[nb], 1, 2))

    def _groups(
        self, callers: np.ndarray, callees: np.ndarray, wps: np.ndarray, service: str
    ) -> list[Group]:
        has_wp = wps >= 0
        w = np.where(has_wp, wps, callers)
        key = self._relation(callers, callees) * 9 + self._relation(callers, w) * 3
        key = key + self._relation(w, callees)
        groups = []
        svc = self.sc.services[service]
        for k in np.unique(key):
            legs = np.flatnonzero(key == k)
            i = legs[0]
            p0, q0 = self.pods[callers[i]], self.pods[callees[i]]
            w0 = self.pods[wps[i]] if wps[i] >= 0 else None
            route = self.topo.route(p0, q0, w0)
            request, response = route_demands(self.params, self.sc.network, route, svc)
            roles = {"P": callers[legs], "Q": callees[legs], "W": wps[legs]}
            core, pool, comp = [], [], []
            for d in (*request, *response):
                c, p, m = self._resolve(d, p0, w0, q0, roles)
                core.append(c)
                pool.append(p)
                comp.append(m)
            shape = (len(core), len(legs))
            groups.append(
                Group(
                    legs,
                    request,
                    response,
                    np.array(core, dtype=np.int64).reshape(shape),
                    np.array(pool, dtype=np.int64).reshape(shape),
                    np.array(comp, dtype=np.int64).reshape(shape),
                )
            )
        return groups

    def _resolve(
        self, d: Demand, p0: Pod, w0: Pod | None, q0: Pod, roles: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per leg: the core station, worker station and component of demand ``d``, found by
        the role its node or pod plays in the representative leg (p0, w0, q0)."""
        n = len(roles["P"])
        none = np.full(n, -1, dtype=np.int64)
        if d.op == WIRE:
            return none, none, none
        role = next(r for r, pod in (("P", p0), ("W", w0), ("Q", q0)) if pod and pod.node == d.node)
        nodes = self.pod_node[roles[role]]
        core = self.core_of_node[nodes]
        if d.op == KERNEL:
            return core, none, self.comp_by[Kind.KERNEL][nodes]
        kind = Kind(d.proxy)
        if kind == Kind.ZTUNNEL:
            return core, self.pool_by[kind][nodes], self.comp_by[kind][nodes]
        owner = "W" if kind == Kind.WAYPOINT else "P"
        if kind == Kind.SIDECAR and d.component != component_name(p0.name, Kind.SIDECAR):
            owner = "Q"
        pods = roles[owner]
        return core, self.pool_by[kind][pods], self.comp_by[kind][pods]

    def _visit_rates(self) -> np.ndarray:
        """Arrivals per second at each pod's app per root request per second."""
        visits = np.zeros(len(self.pods))
        visits[self.pod_ix[self.topo.client.name]] = 1.0
        for edge in self.edges.values():  # in topological order of the callers
            flow = visits[edge.callers] * edge.times * edge.weight
            visits += np.bincount(edge.callees, flow, len(self.pods))
        visits[self.pod_ix[self.topo.client.name]] = 0.0
        return visits

    # --- one step's CPU and the apps ------------------------------------------------------

    def step_cpu(self, d: Demand, request: bool, pool: np.ndarray) -> tuple[Any, Any]:
        """Mean and variance of the CPU of one kernel or proxy step (before any queueing):
        the cost model's demand, a handshake on a new connection, a wake-up of an idle
        worker."""
        cpu: Any = d.cpu_s
        var: Any = (d.cpu_s * d.cpu_cv) ** 2
        if request and d.handshake_s:
            q = self.new_conn
            cpu += q * d.handshake_s
            var += d.handshake_s**2 * q * (1 - q)
        if d.wakeup_s:
            free = 1 - np.where(pool >= 0, self.st.p_wait[pool], 0.0)
            cpu = cpu + free * d.wakeup_s
            var = var + d.wakeup_s**2 * free * (1 - free)
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
        for _ in range(QNA_PASSES):
            self._load(rate)
            st.solve()
            if (st.rho >= 1).any():
                break
            self._paths()
        return self._solution(rate)

    def _load(self, rate: float) -> None:
        st = self.st
        root_ca2 = self.root_ca2
        wait_m, wait_2 = st.wait_mean, st.wait_second
        st.reset()
        client = client_cpu_s(self.sc.workload)
        if client > 0:
            core = self.core_of_node[[self.pod_node[self.pod_ix[self.topo.client.name]]]]
            st.add(core, np.array([rate]), client, client * client, root_ca2)
        for edge in self.edges.values():
            flow = rate * self.visits[edge.callers] * edge.times * edge.weight
            if edge.caller == CLIENT:
                flow = rate * edge.times * edge.weight
            for g in edge.groups:
                lam = flow[g.legs]
                before: Any = np.full(len(lam), root_ca2 if edge.caller == CLIENT else 1.0)
                if edge.caller != CLIENT:  # the caller's app hands the message on
                    before = self._app_departures(edge.callers[g.legs])
                steps = [(True, d) for d in g.request] + [(False, d) for d in g.response]
                for j, (request, d) in enumerate(steps):
                    if j == len(g.request):
                        before = self._load_app(edge.callees[g.legs], lam, before)
                    if d.op == WIRE:
                        continue
                    core, pool = g.core[j], g.pool[j]
                    cpu, var = self.step_cpu(d, request, pool)
                    st.add(core, lam, cpu, var + cpu * cpu, before)
                    if d.op != PROXY:
                        before = st.ca2_out[core]
                        continue
                    cw, cw2 = wait_m[core], wait_2[core]
                    hold = cw + cpu
                    second = cw2 + var + cpu * cpu + 2 * cw * cpu
                    if not request and d.after_s > 0:
                        st.add(core, lam, d.after_s, d.after_s**2, before)
                        extra = cw + d.after_s
                        second = second + 2 * hold * extra + cw2 + 2 * cw * d.after_s
                        second = second + d.after_s**2
                        hold = hold + extra
                    st.add(pool, lam, hold, second, before)
                    before = st.ca2_out[pool]
                if not steps or len(g.request) == len(steps):
                    self._load_app(edge.callees[g.legs], lam, before)

    def _load_app(self, pods: np.ndarray, lam: np.ndarray, ca2: Any) -> np.ndarray:
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
        return self._app_departures(pods)

    def _app_departures(self, pods: np.ndarray) -> np.ndarray:
        """The variability of what leaves an app: its workers' departures, else its cores'."""
        pool = self.app_pool[pods]
        core = self.core_of_node[self.pod_node[pods]]
        return self.st.ca2_out[np.where(pool >= 0, pool, core)]

    # --- paths ---------------------------------------------------------------------------

    def step_time(
        self, d: Demand, request: bool, core: np.ndarray, pool: np.ndarray
    ) -> tuple[Any, Any, Any, Any]:
        """(wait mean, wait second moment, service mean, service variance) of one step."""
        st = self.st
        if d.op == WIRE:
            dist = getattr(self.sc.network, f"{d.relation}_ms")
            return 0.0, 0.0, d.wire_mean_s + d.serialise_s, dist.variance_s2
        cpu, var = self.step_cpu(d, request, pool)
        wm, w2 = st.wait_mean[core], st.wait_second[core]
        if d.op == PROXY:
            pm, p2 = st.wait_mean[pool], st.wait_second[pool]
            w2 = w2 + p2 + 2 * pm * wm
            wm = wm + pm
        return wm, w2, cpu + d.latency_s, var

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

    def leg_times(self, edge: Edge) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of each leg's messages both ways (no callee time)."""
        n = len(edge.callees)
        mean, var = np.zeros(n), np.zeros(n)
        for g in edge.groups:
            m = np.zeros(len(g.legs))
            v = np.zeros(len(g.legs))
            steps = [(True, d) for d in g.request] + [(False, d) for d in g.response]
            for j, (request, d) in enumerate(steps):
                wm, w2, sm, sv = self.step_time(d, request, g.core[j], g.pool[j])
                m = m + wm + sm
                v = v + (w2 - np.square(wm)) + sv
            mean[g.legs], var[g.legs] = m, v
        return mean, var

    def call_time(self, edge: Edge, at_mean: np.ndarray, at_var: np.ndarray) -> tuple[Any, Any]:
        """Per caller pod: mean and variance of one call along this edge (mixed over legs)."""
        lm, lv = self.leg_times(edge)
        m = lm + at_mean[edge.callees]
        second = lv + at_var[edge.callees] + m * m
        n = len(self.pods)
        mean = np.bincount(edge.callers, edge.weight * m, n)
        sec = np.bincount(edge.callers, edge.weight * second, n)
        return mean, np.maximum(sec - mean * mean, 0.0)

    def _paths(self) -> None:
        """Bottom-up: the time from a request reaching each app pod to its response leaving."""
        n = len(self.pods)
        at_mean, at_var = np.zeros(n), np.zeros(n)
        down_mean, down_second = np.zeros(n), np.zeros(n)
        for name in reversed(self.order):
            svc = self.sc.services[name]
            pods = np.array([self.pod_ix[p.name] for p in self.topo.pods[name]], dtype=np.int64)
            wm, w2, sm, sv = self.app_time(pods)
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
            at_var[pods] = (w2 - wm**2) + sv + calls_v
        self.at = (at_mean, at_var)
        self.downstream = (down_mean, down_second)

    # --- the answer ------------------------------------------------------------------------

    def _solution(self, rate: float) -> Solution:
        st = self.st
        worst = int(np.argmax(st.rho))
        saturated = bool(st.rho[worst] >= 1)
        if saturated:
            latency = Moments(math.inf, math.inf)
        else:
            self._paths()
            edge = self.edges[(CLIENT, self.sc.workload.entry)]
            mean, var = self.call_time(edge, *self.at)
            c = self.pod_ix[self.topo.client.name]
            m, v = float(mean[c]), float(var[c])
            extra = self.batch_wait(rate)
            m, v = m + extra, v + extra**2 / 3
            latency = Moments(m, v + m * m)
        cpu, conc, hops = self._usage(rate, saturated)
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
            component_cpu=cpu,
            component_utilisation=util,
            component_concurrency=conc,
            node_vcpu=node_vcpu,
            hops=hops,
        )

    def batch_wait(self, rate: float) -> float:
        """The mean extra wait of a request sent in a batch of C at once (fortio's
        connections in step): the batch leaves its slowest station one by one, c at a time,
        D apart (D: that station's holding time per root request), so a request waits
        D (C / c - 1) / 2 on average, uniformly spread (the stations' own waits assume a
        smooth stream)."""
        if self.batch <= 1 or rate <= 0:
            return 0.0
        st = self.st
        per_root = st.busy / rate
        spread = per_root * np.maximum(self.batch / st.servers - 1, 0.0) / 2
        return float(spread.max())

    def _usage(
        self, rate: float, saturated: bool
    ) -> tuple[dict[str, float], dict[str, float], dict[str, HopTally]]:
        """vCPU and mean messages held per component, and the hop tallies per root request."""
        n = len(self.components)
        cpu, conc = np.zeros(n), np.zeros(n)
        tallies: dict[str, np.ndarray] = {}  # visits, wait m/2, service m/2 (rate-weighted)
        client = client_cpu_s(self.sc.workload)
        cpu[self.comp_ix[component_name(CLIENT, Kind.APP)]] += rate * client

        def tally(kind: str, lam: np.ndarray, wm: Any, w2: Any, sm: Any, sv: Any) -> None:
            if saturated:
                return
            acc = tallies.setdefault(kind, np.zeros(7))
            wm, w2, sm, sv = (np.broadcast_to(a, lam.shape) for a in (wm, w2, sm, sv))
            s2 = sv + sm * sm
            acc += [
                lam.sum(),
                (lam * wm).sum(),
                (lam * w2).sum(),
                (lam * sm).sum(),
                (lam * s2).sum(),
                (lam * (wm + sm)).sum(),
                (lam * (w2 + s2 + 2 * wm * sm)).sum(),
            ]

        for edge in self.edges.values():
            scale = 1.0 if edge.caller == CLIENT else self.visits[edge.callers]
            flow = rate * scale * edge.times * edge.weight
            for g in edge.groups:
                lam = flow[g.legs]
                steps = [(True, d) for d in g.request] + [(False, d) for d in g.response]
                for j, (request, d) in enumerate(steps):
                    wm, w2, sm, sv = self.step_time(d, request, g.core[j], g.pool[j])
                    if d.op == WIRE:
                        tally(str(Hop.NETWORK), lam, wm, w2, sm, sv)
                        continue
                    step_cpu, _ = self.step_cpu(d, request, g.pool[j])
                    after = d.after_s if not request else 0.0
                    cpu += np.bincount(g.comp[j], lam * (step_cpu + after), n)
                    if d.op == PROXY:
                        conc += np.bincount(g.comp[j], lam * (wm + sm), n)
                    tally(str(d.hop), lam, wm, w2, sm, sv)
                callees = edge.callees[g.legs]
                app = self.comp_by[Kind.APP][callees]
                cpu += np.bincount(app, lam * self.app_cpu[callees], n)
                tally(str(Hop.APP), lam, *self.app_time(callees))
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


def fork_join(branches: list[tuple[float, np.ndarray, np.ndarray, int]]) -> tuple[Any, Any]:
    """Mean and variance (arrays over pods) of a step of parallel calls: branch i is present
    with probability p_i and is count_i calls in a row; the step ends with its last branch."""
    from scipy import stats

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
        g = np.where(point, (t >= m).astype(float), stats.gamma.cdf(t, shape, scale=scale))
        cdf *= 1 - p + p * g
    tail = 1 - cdf
    mean = np.trapezoid(tail, t, axis=1)
    second = np.trapezoid(2 * t * tail, t, axis=1)
    return mean, np.maximum(second - mean * mean, 0.0)


# --- the entry point ------------------------------------------------------------------------


def solve(loaded: LoadedScenario) -> Solution:
    """The scenario in its own mode: open loop at its rate, fortio's closed loop at the rate
    its pacing and the latency it meets allow."""
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
    from scipy import stats

    shape, scale = mean * mean / var, var / mean
    return float(
        mean * stats.gamma.sf(t, shape + 1, scale=scale) - t * stats.gamma.sf(t, shape, scale=scale)
    )
