"""The SimPy model: load generators, apps, proxies, kernels and the node CPUs they share.

One ``Engine`` runs one replication of one scenario. It walks the routes the topology builds;
every CPU burst (app, proxy, kernel) queues for a core of its node, so co-located components
contend. A proxy also holds one of its worker threads while it works, and keeps it after the
response for telemetry. Observation goes to a ``RunRecorder``; the engine only reports events.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import simpy

from meshsim.loader import LoadedScenario
from meshsim.random import Streams
from meshsim.recorder import RunRecorder
from meshsim.scenario import Fortio, OpenLoop, ProxyParams, Service
from meshsim.topology import Pod, ProxyHop, Topology, Transit

US = 1e-6
KIB_BITS = 8 * 1024

Proc = Generator[simpy.Event, object, None]


@dataclass
class Usage:
    """What one component consumed: CPU seconds, and worker-held seconds if it has workers."""

    cpu_s: float = 0.0
    busy_s: float = 0.0
    residence_s: float = 0.0


class Engine:
    """One replication: ``Engine(loaded, replication).run()`` returns its RunRecorder."""

    def __init__(self, loaded: LoadedScenario, replication: int = 0) -> None:
        self.loaded = loaded
        self.sc = loaded.scenario
        self.params = loaded.params
        self.env = simpy.Environment()
        self.topo = Topology(self.sc, self.params)
        self.streams = Streams(self.sc.sim.seed, replication)
        self.cores = {
            name: simpy.Resource(self.env, capacity=node.cores)
            for name, node in self.topo.nodes.items()
        }
        self.components = self.topo.components()
        self.usage = {c.name: Usage() for c in self.components}
        self.workers: dict[str, simpy.Resource] = {}
        for c in self.components:
            if c.kind in ("sidecar", "ztunnel", "waypoint"):
                n = self._proxy_params(c.kind).workers
                self.workers[c.name] = simpy.Resource(self.env, capacity=n)
            elif c.kind == "app":
                service = self.topo.pod_by_name[c.pod].service
                concurrency = self.sc.services[service].concurrency
                if concurrency is not None:
                    self.workers[c.name] = simpy.Resource(self.env, capacity=concurrency)
        self.recorder = RunRecorder(self)
        self._rr: dict[tuple[str, str], int] = {}
        self._in_flight_at: dict[str, int] = {}
        self._service_time = {
            name: self.streams.sampler(f"service.{name}.service_time", svc.service_time.draw())
            for name, svc in self.sc.services.items()
        }
        self._latency = {
            relation: self.streams.sampler(f"network.{relation}", dist.draw())
            for relation, dist in (
                ("same_node", self.sc.network.same_node_ms),
                ("same_zone", self.sc.network.same_zone_ms),
                ("cross_zone", self.sc.network.cross_zone_ms),
            )
        }
        self._new_connection = self.streams.uniform("mesh.connections")
        self._bytes_per_s = self.sc.network.bandwidth_gbps * 1e9 / 8

    def _proxy_params(self, kind: str) -> ProxyParams:
        return getattr(self.params, kind)

    # --- running -----------------------------------------------------------------------

    def run(self) -> RunRecorder:
        rec = self.recorder
        self.env.process(self._load())
        self.env.process(self._watch())
        self.env.run(until=rec.done)
        rec.finish()
        return rec

    def _watch(self) -> Proc:
        """Snapshot usage at the end of warm-up; stop a run whose backlog grows without bound."""
        rec = self.recorder
        warmup = self.sc.workload.warmup_s
        if warmup > 0:
            yield self.env.timeout(warmup)
        rec.start_window()
        interval = max(1e-3, (self.sc.workload.duration_s or 1.0) / 200)
        while not rec.done.triggered:
            if rec.in_flight > self.sc.sim.max_in_flight:
                rec.stop("saturated")
                return
            if rec.arrivals_done_at is not None:
                if rec.in_flight == 0:
                    rec.stop("complete")
                    return
                if self.env.now - rec.arrivals_done_at > self.sc.sim.drain_timeout_s:
                    rec.stop("drain timeout")
                    return
            yield self.env.timeout(interval)

    # --- load generators ---------------------------------------------------------------

    def _load(self) -> Proc:
        gen = self.sc.workload.generator
        if isinstance(gen, OpenLoop):
            yield from self._open_loop(gen)
        else:
            connections = [
                self.env.process(self._connection(gen, i)) for i in range(gen.connections)
            ]
            yield simpy.AllOf(self.env, connections)
        self.recorder.arrivals_ended()

    def _open_loop(self, gen: OpenLoop) -> Proc:
        mean_gap = 1.0 / gen.rate_rps
        if gen.arrivals == "poisson":
            gap = self.streams.sampler(
                "workload.arrivals", lambda rng, n: rng.exponential(mean_gap, n)
            )
        else:

            def gap() -> float:
                return mean_gap

        duration, limit = self.sc.workload.duration_s, self.sc.workload.requests
        sent = 0
        while True:
            yield self.env.timeout(gap())
            if (duration is not None and self.env.now > duration) or (limit and sent >= limit):
                return
            self.env.process(self._root())
            sent += 1

    def _connection(self, gen: Fortio, index: int) -> Proc:
        """One fortio connection: a closed loop paced at qps/connections (fortio's runOne)."""
        duration, limit = self.sc.workload.duration_s, self.sc.workload.requests
        quota = None
        if limit is not None:
            quota = limit // gen.connections + (limit % gen.connections if index == 0 else 0)
        period = gen.connections / gen.qps if gen.qps else 0.0
        if gen.uniform and period:
            yield self.env.timeout(period * index / gen.connections)
        start = self.env.now
        jitter = self.streams.uniform(f"workload.connection.{index}.jitter")
        sent = 0
        while True:
            if duration is not None and self.env.now > duration:
                return
            if quota is not None and sent >= quota:
                return
            yield from self._root()
            sent += 1
            if not period:
                continue
            target = start + sent * period
            if not gen.catchup:
                while target < self.env.now:  # skip the slots that are already late
                    sent += 1
                    target = start + sent * period
            sleep = target - self.env.now
            if gen.jitter and sleep > 0:
                sleep += (2 * jitter() - 1) * sleep / 10
            if sleep > 0:
                yield self.env.timeout(sleep)

    def _root(self) -> Proc:
        rec = self.recorder
        token = rec.arrive()
        yield from self._call(self.topo.client, self.sc.workload.entry, token.measured)
        rec.depart(token)

    # --- calls and apps ----------------------------------------------------------------

    def _pick(self, caller: Pod, service: str) -> Pod:
        svc = self.sc.services[service]
        pods = self.topo.pods[service]
        if svc.prefer_same_zone:
            zone = self.topo.nodes[caller.node].zone
            local = [p for p in pods if self.topo.nodes[p.node].zone == zone]
            pods = local or pods
        if len(pods) == 1:
            return pods[0]
        key = (caller.name, service)
        if svc.load_balancing == "round_robin":
            i = self._rr.get(key, 0)
            self._rr[key] = i + 1
            return pods[i % len(pods)]
        draw = self.streams.uniform(f"lb.{caller.name}.{service}")
        if svc.load_balancing == "random":
            return pods[int(draw() * len(pods))]
        a, b = pods[int(draw() * len(pods))], pods[int(draw() * len(pods))]  # two choices
        return a if self._in_flight_at.get(a.name, 0) <= self._in_flight_at.get(b.name, 0) else b

    def _waypoint(self, caller: Pod, service: str) -> Pod | None:
        name = self.topo.waypoint_of.get(service)
        if name is None or not caller.in_mesh:
            return None
        return self._pick_waypoint(caller, name)

    def _pick_waypoint(self, caller: Pod, name: str) -> Pod:
        pods = self.topo.waypoints[name]
        key = (caller.name, name)
        i = self._rr.get(key, 0)
        self._rr[key] = i + 1
        return pods[i % len(pods)]

    def _call(self, caller: Pod, service: str, measured: bool) -> Proc:
        svc = self.sc.services[service]
        callee = self._pick(caller, service)
        route = self.topo.route(caller, callee, self._waypoint(caller, service))
        new_conn = self._new_connection() * self.sc.mesh.requests_per_connection < 1.0
        self._in_flight_at[callee.name] = self._in_flight_at.get(callee.name, 0) + 1
        for stage in route:
            yield from self._stage(stage, svc.request_kib, True, new_conn, measured)
        yield from self._handle(callee, svc, measured)
        for stage in reversed(route):
            yield from self._stage(stage, svc.response_kib, False, False, measured)
        self._in_flight_at[callee.name] -= 1

    def _handle(self, pod: Pod, svc: Service, measured: bool) -> Proc:
        """The app's own work, then its downstream calls, step by step."""
        name = f"{pod.name}.app"
        workers = self.workers.get(name)
        arrived = self.env.now
        held = workers.request() if workers is not None else None
        if held is not None:
            yield held
        got_worker = self.env.now
        duration = self._service_time[pod.service]()
        cpu = (
            duration
            if svc.cpu_per_request_ms is None
            else min(duration, svc.cpu_per_request_ms / 1e3)
        )
        waited_core = yield from self._cpu(pod.node, cpu, name)
        if duration > cpu:
            yield self.env.timeout(duration - cpu)
        if held is not None and not svc.blocking_calls:
            workers.release(held)
            self.usage[name].busy_s += self.env.now - got_worker
        if measured:
            self.recorder.hop("app", got_worker - arrived + waited_core, duration)
        for i, step in enumerate(svc.calls):
            branches = []
            for j, call in enumerate(step):
                if call.probability < 1.0:
                    draw = self.streams.uniform(f"service.{pod.service}.calls.{i}.{j}")
                    if draw() >= call.probability:
                        continue
                branches.append(self._repeat(pod, call.service, call.count, measured))
            if len(branches) == 1:
                yield from branches[0]
            elif branches:
                yield simpy.AllOf(self.env, [self.env.process(b) for b in branches])
        if held is not None and svc.blocking_calls:
            workers.release(held)
            self.usage[name].busy_s += self.env.now - got_worker

    def _repeat(self, pod: Pod, service: str, count: int, measured: bool) -> Proc:
        for _ in range(count):
            yield from self._call(pod, service, measured)

    # --- the path's stages -------------------------------------------------------------

    def _cpu(
        self, node: str, seconds: float, component: str
    ) -> Generator[simpy.Event, object, float]:
        """Run ``seconds`` of CPU on one of the node's cores; returns the time spent queued."""
        if seconds <= 0:
            return 0.0
        core = self.cores[node]
        asked = self.env.now
        req = core.request()
        yield req
        waited = self.env.now - asked
        yield self.env.timeout(seconds)
        core.release(req)
        self.usage[component].cpu_s += seconds
        return waited

    def _stage(
        self, stage: ProxyHop | Transit, kib: float, request: bool, new_conn: bool, measured: bool
    ) -> Proc:
        if isinstance(stage, Transit):
            yield from self._transit(stage, kib, measured)
        else:
            yield from self._proxy(stage, kib, request, new_conn, measured)

    def _transit(self, t: Transit, kib: float, measured: bool) -> Proc:
        k = self.params.kernel
        if t.relation == "same_node":
            fixed = k.ebpf_redirect_cpu_us if t.ebpf else k.loopback_cpu_us
            cpu = (fixed + k.cpu_per_kib_us * kib) * US
            start = self.env.now
            waited = yield from self._cpu(t.src, cpu, f"{t.src}.kernel")
            if measured:
                self.recorder.hop(
                    "ebpf" if t.ebpf else "kernel", waited, self.env.now - start - waited
                )
            if not t.ebpf:
                yield from self._wire(t, kib, measured)
            return
        cpu = (k.traversal_cpu_us + k.cpu_per_kib_us * kib) * US
        start = self.env.now
        waited = yield from self._cpu(t.src, cpu, f"{t.src}.kernel")
        if measured:
            self.recorder.hop("kernel", waited, self.env.now - start - waited)
        yield from self._wire(t, kib, measured)
        start = self.env.now
        waited = yield from self._cpu(t.dst, cpu, f"{t.dst}.kernel")
        if measured:
            self.recorder.hop("kernel", waited, self.env.now - start - waited)

    def _wire(self, t: Transit, kib: float, measured: bool) -> Proc:
        delay = self._latency[t.relation]() + kib * KIB_BITS / 8 / self._bytes_per_s
        if delay > 0:
            yield self.env.timeout(delay)
        if measured:
            self.recorder.hop("network", 0.0, delay)

    def _proxy(
        self, hop: ProxyHop, kib: float, request: bool, new_conn: bool, measured: bool
    ) -> Proc:
        p = self._proxy_params(hop.proxy)
        us = (p.request_cpu_us if request else p.response_cpu_us) + kib * (
            p.cpu_per_kib_us + p.tls_cpu_per_kib_us * hop.tls_sides
        )
        if new_conn:
            us += p.handshake_cpu_us * hop.tls_sides
        arrived = self.env.now
        workers = self.workers[hop.component]
        held = workers.request()
        yield held
        got_worker = self.env.now
        waited_core = yield from self._cpu(hop.node, us * US, hop.component)
        done = self.env.now
        usage = self.usage[hop.component]
        if not request and p.post_response_cpu_us > 0:
            self.env.process(self._after_response(hop, held, got_worker, p.post_response_cpu_us))
        else:
            workers.release(held)
            usage.busy_s += done - got_worker
        if p.added_latency_us > 0:
            yield self.env.timeout(p.added_latency_us * US)
        usage.residence_s += self.env.now - arrived
        if measured:
            wait = got_worker - arrived + waited_core
            self.recorder.hop(hop.hop, wait, self.env.now - arrived - wait)

    def _after_response(
        self, hop: ProxyHop, held: simpy.Resource, got_worker: float, us: float
    ) -> Proc:
        """Telemetry after the response went out: the worker stays busy (Istio docs)."""
        yield from self._cpu(hop.node, us * US, hop.component)
        self.workers[hop.component].release(held)
        self.usage[hop.component].busy_s += self.env.now - got_worker
