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

meshsim picks per request (connections are not modelled one by one), so a random choice per
connection becomes a random choice per request, and one balancer stands for all of an Envoy's
worker threads (each worker has its own round-robin index; active requests are shared).

A service's ``load_balancing`` left unset means "as Istio does": least request where an Envoy
picks, random where ztunnel or kube-proxy picks. Set explicitly, it applies to every pick of
that service's pods (a what-if for ztunnel and kube-proxy, which have no such setting). Each
balancer belongs to one picker (a caller pod, or a waypoint pod) and draws from its own named
random stream, so runs are reproducible and the modes of a comparison draw the same numbers
wherever they pick the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from meshsim.random import Streams
from meshsim.scenario import Scenario, Service
from meshsim.topology import Pod, Topology

Policy = Literal["least_request", "round_robin", "random"]
Picker = Literal["envoy", "ztunnel", "kube-proxy"]

DEFAULT_POLICY: dict[Picker, Policy] = {
    "envoy": "least_request",
    "ztunnel": "random",
    "kube-proxy": "random",
}
CHOICE_COUNT = 2  # Envoy's least_request default


class Balancer:
    """One picker's balancer for one service: ``pick`` a pod, ``release`` it when the request
    ends (only least request keeps count)."""

    def __init__(self, streams: Streams, stream: str) -> None:
        self._draw = streams.uniform(stream)

    def pick(self, pods: Sequence[Pod]) -> Pod:
        raise NotImplementedError

    def release(self, pod: Pod) -> None:
        """A request sent to ``pod`` has completed."""


class Random(Balancer):
    def pick(self, pods: Sequence[Pod]) -> Pod:
        return pods[int(self._draw() * len(pods))] if len(pods) > 1 else pods[0]


class RoundRobin(Balancer):
    """Envoy's unweighted round robin: the next pod in order, from a random first index."""

    def __init__(self, streams: Streams, stream: str) -> None:
        super().__init__(streams, stream)
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

    def __init__(self, streams: Streams, stream: str) -> None:
        super().__init__(streams, stream)
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

    def release(self, pod: Pod) -> None:
        self._active[pod.name] -= 1


def candidates(topo: Topology, service: Service, pods: Sequence[Pod], picker: Pod) -> list[Pod]:
    """The pods a picker chooses among: with ``prefer_same_zone``, those in the zone of the
    proxy that picks (the waypoint if there is one, else the caller), when there are any.
    Every policy spreads calls evenly over them in expectation, which is what the cost model
    and the analytic views assume."""
    if not service.prefer_same_zone:
        return list(pods)
    zone = topo.nodes[picker.node].zone
    return [p for p in pods if topo.nodes[p.node].zone == zone] or list(pods)


BALANCERS: dict[Policy, type[Balancer]] = {
    "least_request": LeastRequest,
    "round_robin": RoundRobin,
    "random": Random,
}


def policy(service: Service, picker: Picker) -> Policy:
    """The policy a picker applies to a service: the one set, or the picker's default."""
    if "load_balancing" in service.model_fields_set:
        return service.load_balancing
    return DEFAULT_POLICY[picker]


class Balancing:
    """Every balancer of one replication, created on first use, one per (picker pod, target)."""

    def __init__(self, scenario: Scenario, streams: Streams) -> None:
        self._scenario = scenario
        self._mode = scenario.mesh.mode
        self._streams = streams
        self._balancers: dict[tuple[str, str], Balancer] = {}

    def for_call(self, caller: Pod, service: str, waypoint: Pod | None) -> Balancer:
        """The balancer that picks the pod of ``service`` for a call from ``caller``: the
        waypoint's Envoy when there is one, else the caller's sidecar, ztunnel or kube-proxy."""
        owner = waypoint.name if waypoint is not None else caller.name
        balancer = self._balancers.get((owner, service))
        if balancer is None:
            picker = "envoy" if waypoint is not None else self._picker(caller)
            chosen = policy(self._scenario.services[service], picker)
            balancer = self._get(owner, service, chosen)
        return balancer

    def for_waypoint(self, caller: Pod, waypoint: str) -> Balancer:
        """ztunnel's choice of a pod of the waypoint serving a call (random)."""
        return self._get(caller.name, waypoint, DEFAULT_POLICY["ztunnel"])

    def _picker(self, caller: Pod) -> Picker:
        if self._mode == "none" or not caller.in_mesh:
            return "kube-proxy"
        return "envoy" if self._mode == "sidecar" else "ztunnel"

    def _get(self, owner: str, target: str, chosen: Policy) -> Balancer:
        key = (owner, target)
        balancer = self._balancers.get(key)
        if balancer is None:
            stream = f"lb.{owner}.{target}"
            balancer = self._balancers[key] = BALANCERS[chosen](self._streams, stream)
        return balancer
