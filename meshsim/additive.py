"""The additive baseline: what a load-independent model predicts from the same parameters.

Earlier work predicts mesh overhead as a per-hop cost linear in message size, summed along the
critical path, with no queueing or contention (for example MeshInsight, Zhu et al., SoCC 2023).
This module computes that model from the same per-step demands the engine queues
(``components.route_demands``), so the two differ only in
what meshsim adds: queueing for cores and workers, bursts, shared per-node proxies, and CPU
per request that falls as load rises. It gives one latency for every percentile.
"""

from __future__ import annotations

from collections import defaultdict

from meshsim.components import KERNEL, PROXY, WIRE, Demand, app_cpu_s, route_demands
from meshsim.loader import LoadedScenario
from meshsim.scenario import Fortio
from meshsim.topology import Pod, Topology


def _leg_time(leg: list[Demand], handshake_share: float) -> float:
    total = 0.0
    for s in leg:
        if s.op == WIRE:
            total += s.wire_mean_s + s.serialise_s
        elif s.op == KERNEL:
            total += s.cpu_s
        elif s.op == PROXY:
            total += s.cpu_s + s.wakeup_s + s.latency_s + s.handshake_s * handshake_share
    return total


class Additive:
    """Mean latency and CPU per request of a scenario, hop costs summed, nothing queued."""

    def __init__(self, loaded: LoadedScenario) -> None:
        self.sc = loaded.scenario
        self.params = loaded.params
        self.topo = Topology(self.sc, self.params)
        self.share = 1.0 / self.sc.mesh.requests_per_connection
        self.cpu_per_request: dict[str, float] = defaultdict(float)

    def _call(self, caller: Pod, service: str, weight: float) -> float:
        topo = self.topo
        svc = self.sc.services[service]
        callee = topo.pods[service][0]
        waypoint = None
        wp = topo.waypoint_of.get(service)
        if wp is not None and caller.in_mesh:
            waypoint = topo.waypoints[wp][0]
        route = topo.route(caller, callee, waypoint)
        request, response = route_demands(self.params, self.sc.network, route, svc)
        for s in (*request, *response):
            if s.op != WIRE:
                cpu = s.cpu_s + s.wakeup_s + s.after_s + s.handshake_s * self.share
                self.cpu_per_request[s.component] += weight * cpu
        own = svc.service_time.mean_s
        self.cpu_per_request[f"{callee.name}.app"] += weight * app_cpu_s(svc, own)
        downstream = 0.0
        for step in svc.calls:
            branches = [
                call.count
                * self._call(callee, call.service, weight * call.probability * call.count)
                * call.probability
                for call in step
            ]
            downstream += max(branches, default=0.0)
        return _leg_time(request, self.share) + own + downstream + _leg_time(response, 0.0)

    def predict(self) -> tuple[float, dict[str, float]]:
        """(mean latency in seconds, mean vCPU per component at the offered rate)."""
        latency = self._call(self.topo.client, self.sc.workload.entry, 1.0)
        gen = self.sc.workload.generator
        rate = (gen.qps or 0.0) if isinstance(gen, Fortio) else gen.rate_rps
        return latency, {name: cpu * rate for name, cpu in self.cpu_per_request.items()}
