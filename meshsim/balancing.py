"""Which pod a call goes to: one home for every endpoint choice the simulated mesh makes.

Who picks, and how, as the real components do it (sources read in 2026):

- **Envoy** (a sidecar's outbound side, a waypoint) picks with the cluster's ``lb_policy``.
  Istio sets ``LEAST_REQUEST`` when a DestinationRule names no policy (istio/istio
  ``pilot/pkg/networking/core/cluster_traffic_policy.go``, ``defaultLBAlgorithm``). Envoy's least
  request draws ``choice_count`` hosts at random, with replacement (default 2), and keeps the one
  with fewer active requests, the first on a tie (envoyproxy/envoy
  ``source/extensions/load_balancing_policies/least_request/least_request_lb.cc``,
  ``unweightedHostPickNChoices``). Active requests are that Envoy's own (``rq_active`` of the host
  in its cluster): a sidecar knows only the requests it sent, a waypoint all that crossed it.
- Envoy's **round robin** starts each load balancer at a random index (``seed_`` drawn from the
  random generator in ``EdfLoadBalancerBase``; ``rr_indexes_`` start at it in
  ``round_robin_lb.h``), so independent callers do not move in step.
- **ztunnel** (ambient L4, no waypoint) and its choice of a **waypoint** pod: a random endpoint,
  weighted by workload capacity (1 unless set), per connection (istio/ztunnel ``src/state.rs``,
  ``ProxyState::load_balance``: ``choose_weighted`` over the endpoints). Its only setting is a
  locality preference istiod derives from the Service's ``trafficDistribution`` (istio/istio
  ``pilot/pkg/serviceregistry/ambient/services.go``); a DestinationRule's algorithm is not sent.
- **kube-proxy** (mode ``none``, or a caller outside the mesh), in its default iptables mode:
  DNAT rules with ``statistic --mode random``, a random endpoint per connection (IPVS mode
  would round-robin; not modelled).
- **linkerd-proxy** (mode ``linkerd``): power of two choices over peak-EWMA latency, per
  request for HTTP (tower's ``PeakEwma``: load = RTT estimate x (pending + 1); the estimate
  jumps to a slower response at once and decays towards faster ones with a time constant of
  10 s, starting from a default RTT of 30 ms; linkerd2-proxy
  ``linkerd/proxy/balance/src/lib.rs``, ``linkerd/app/outbound/src/http/logical/profile.rs``;
  docs/data-planes.md 3.3). The two candidates are distinct pods (tower samples two indices).
- **Cilium** (mode ``cilium``): socket LB at ``connect()``, a random backend per connection
  (``bpf-lb-algorithm`` random; Maglev optional, not modelled).

meshsim picks per request (connections are not modelled one by one), so a random choice per
connection becomes a random choice per request, and one balancer stands for all of an Envoy's
worker threads (each worker has its own round-robin index; active requests are shared).

A service's ``load_balancing`` left unset means "as Istio does": least request where an Envoy
picks, random where ztunnel or kube-proxy picks. Set explicitly, it applies to every pick of
that service's pods (a what-if for ztunnel and kube-proxy, which have no such setting). Each
balancer belongs to one picker (a caller pod, or a waypoint pod) and draws from its own named
random stream, so runs are reproducible and the modes of a comparison draw the same numbers
wherever they pick the same way.

Memory stays O(pods + services x nodes) in a fleet: the pickers of one node draw from one
stream per target (``lb.<node>.<target>``; a stream holds a generator and a block of draws,
about 34 KB), interleaved in the run's deterministic event order, so every picker still gets
independent uniform draws and a run is reproducible; a random balancer has no state, so one
serves every picker of a node; the others keep only their own counts (least request: the
pods with requests in flight, forgotten when they reach zero).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal

from meshsim.random import Streams
from meshsim.scenario import Scenario, Service
from meshsim.topology import Pod, Topology

Clock = Callable[[], float]  # the simulation's clock, in seconds

Policy = Literal["least_request", "round_robin", "random", "peak_ewma"]
Picker = Literal["envoy", "ztunnel", "kube-proxy", "linkerd", "cilium"]

DEFAULT_POLICY: dict[Picker, Policy] = {
    "envoy": "least_request",
    "ztunnel": "random",
    "kube-proxy": "random",
    "linkerd": "peak_ewma",
    "cilium": "random",
}
CHOICE_COUNT = 2  # Envoy's least_request default
EWMA_DEFAULT_RTT_S = 0.030  # linkerd2-proxy's default_rtt
EWMA_DECAY_S = 10.0  # linkerd2-proxy's decay


class Balancer:
    """One picker's balancer for one service: ``pick`` a pod, ``release`` it when the request
    ends (only least request keeps count)."""

    def __init__(self, streams: Streams, stream: str, clock: Clock = lambda: 0.0) -> None:
        self._draw = streams.uniform(stream)
        self._clock = clock

    def pick(self, pods: Sequence[Pod]) -> Pod:
        raise NotImplementedError

    def release(self, pod: Pod, rtt_s: float = 0.0) -> None:
        """A request sent to ``pod`` has completed after ``rtt_s`` seconds."""


class Random(Balancer):
    def pick(self, pods: Sequence[Pod]) -> Pod:
        return pods[int(self._draw() * len(pods))] if len(pods) > 1 else pods[0]


class RoundRobin(Balancer):
    """Envoy's unweighted round robin: the next pod in order, from a random first index."""

    def __init__(self, streams: Streams, stream: str, clock: Clock = lambda: 0.0) -> None:
        super().__init__(streams, stream, clock)
        self._next: int | None = None

    def pick(self, pods: Sequence[Pod]) -> Pod:
        if self._next is None:
            self._next = int(self._draw() * len(pods))
        pod = pods[self._next % len(pods)]
        self._next += 1
        return pod


class LeastRequest(Balancer):
    """Envoy's least request: the fewer-active of ``CHOICE_COUNT`` random draws (with
    replacement, the first on a tie), counting only this picker's own active requests."""

    def __init__(self, streams: Streams, stream: str, clock: Clock = lambda: 0.0) -> None:
        super().__init__(streams, stream, clock)
        self._active: dict[str, int] = {}

    def pick(self, pods: Sequence[Pod]) -> Pod:
        n, draw, active = len(pods), self._draw, self._active
        best = pods[int(draw() * n)] if n > 1 else pods[0]
        for _ in range(CHOICE_COUNT - 1 if n > 1 else 0):
            other = pods[int(draw() * n)]
            if active.get(other.name, 0) < active.get(best.name, 0):
                best = other
        active[best.name] = active.get(best.name, 0) + 1
        return best

    def release(self, pod: Pod, rtt_s: float = 0.0) -> None:
        active = self._active
        n = active[pod.name] - 1
        if n:
            active[pod.name] = n
        else:
            del active[pod.name]  # only pods with requests in flight are kept


def candidates(topo: Topology, service: Service, pods: Sequence[Pod], picker: Pod) -> list[Pod]:
    """The pods a picker chooses among: with ``prefer_same_zone``, those in the zone of the
    proxy that picks (the waypoint if there is one, else the caller), when there are any.
    Every policy spreads calls evenly over them in expectation, which is what the cost model
    and the analytic views assume."""
    if not service.prefer_same_zone:
        return list(pods)
    zone = topo.nodes[picker.node].zone
    return [p for p in pods if topo.nodes[p.node].zone == zone] or list(pods)


class PeakEwma(Balancer):
    """Linkerd's balancer: of two distinct random pods, the one with the lower peak-EWMA RTT
    times (pending + 1), the first on a tie (tower ``p2c`` over ``PeakEwma``)."""

    def __init__(self, streams: Streams, stream: str, clock: Clock = lambda: 0.0) -> None:
        super().__init__(streams, stream, clock)
        self._pending: dict[str, int] = {}
        self._rtt: dict[str, tuple[float, float]] = {}  # pod -> (estimate s, updated at s)

    def _estimate(self, name: str, rtt_s: float) -> float:
        """The estimate after observing ``rtt_s`` now (0 to let it decay): a slower RTT is
        taken at once (the peak), a faster one blended in by how long since the last update."""
        now = self._clock()
        estimate, at = self._rtt.get(name, (EWMA_DEFAULT_RTT_S, now))
        if rtt_s > estimate:
            estimate = rtt_s
        else:
            decay = math.exp(-(now - at) / EWMA_DECAY_S)
            estimate = estimate * decay + rtt_s * (1 - decay)
        self._rtt[name] = (estimate, now)
        return estimate

    def load(self, pod: Pod) -> float:
        return self._estimate(pod.name, 0.0) * (self._pending.get(pod.name, 0) + 1)

    def pick(self, pods: Sequence[Pod]) -> Pod:
        n = len(pods)
        if n == 1:
            best = pods[0]
        else:
            i = int(self._draw() * n)
            j = int(self._draw() * (n - 1))
            j += j >= i  # a second, distinct pod
            a, b = pods[i], pods[j]
            best = b if self.load(b) < self.load(a) else a
        self._pending[best.name] = self._pending.get(best.name, 0) + 1
        return best

    def release(self, pod: Pod, rtt_s: float = 0.0) -> None:
        self._pending[pod.name] -= 1
        self._estimate(pod.name, rtt_s)


BALANCERS: dict[Policy, type[Balancer]] = {
    "least_request": LeastRequest,
    "round_robin": RoundRobin,
    "random": Random,
    "peak_ewma": PeakEwma,
}


def policy(service: Service, picker: Picker) -> Policy:
    """The policy a picker applies to a service: the one set, or the picker's default."""
    if "load_balancing" in service.model_fields_set:
        return service.load_balancing
    return DEFAULT_POLICY[picker]


class Balancing:
    """Every balancer of one replication, created on first use, one per (picker pod, target)."""

    def __init__(self, scenario: Scenario, streams: Streams, clock: Clock = lambda: 0.0) -> None:
        self._scenario = scenario
        self._mode = scenario.mesh.mode
        self._streams = streams
        self._clock = clock
        self._balancers: dict[tuple[str, str], Balancer] = {}

    def for_call(self, caller: Pod, service: str, waypoint: Pod | None) -> Balancer:
        """The balancer that picks the pod of ``service`` for a call from ``caller``: the
        waypoint's Envoy when there is one, else the caller's sidecar, ztunnel or kube-proxy."""
        owner = waypoint if waypoint is not None else caller
        balancer = self._balancers.get((owner.name, service))
        if balancer is None:
            picker = "envoy" if waypoint is not None else self._picker(caller)
            chosen = policy(self._scenario.services[service], picker)
            balancer = self._get(owner, service, chosen)
        return balancer

    def for_waypoint(self, caller: Pod, waypoint: str) -> Balancer:
        """ztunnel's choice of a pod of the waypoint serving a call (random)."""
        balancer = self._balancers.get((caller.name, waypoint))
        return balancer or self._get(caller, waypoint, DEFAULT_POLICY["ztunnel"])

    def _picker(self, caller: Pod) -> Picker:
        if self._mode == "none" or not caller.in_mesh:
            return "kube-proxy"
        pickers: dict[str, Picker] = {"sidecar": "envoy", "linkerd": "linkerd", "cilium": "cilium"}
        return pickers.get(self._mode, "ztunnel")

    def _get(self, owner: Pod, target: str, chosen: Policy) -> Balancer:
        """The balancer of ``owner`` for ``target``: its own (least request, round robin and
        peak EWMA keep per-picker counts), or its node's (random keeps none); either way
        drawing from its node's stream for that target."""
        shared = (f"{owner.node}\0node", target) if chosen == "random" else None
        balancer = self._balancers.get(shared) if shared else None
        if balancer is None:
            stream = f"lb.{owner.node}.{target}"
            balancer = BALANCERS[chosen](self._streams, stream, self._clock)
            if shared:
                self._balancers[shared] = balancer
        self._balancers[(owner.name, target)] = balancer
        return balancer
