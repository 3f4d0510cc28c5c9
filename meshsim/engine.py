"""The SimPy model: load generators, apps, proxies, kernels and the node CPUs they share.

One ``Engine`` runs one replication of one scenario. A call walks the route the topology builds
for it, compiled once per (route, service) into *legs*: flat lists of steps whose CPU demand
comes from the component cost model (``components.py``, where every cost is defined). Every
CPU burst (app, proxy, kernel) queues for a core of its node, so co-located components contend;
a proxy also holds one of its worker threads while it works, and keeps it after the response
for telemetry. Observation goes to a ``RunRecorder``.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass

import simpy

from meshsim.balancing import Balancer, Balancing, candidates
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
from meshsim.domain import S_PER_US, Hop, Kind, component_name
from meshsim.loader import LoadedScenario
from meshsim.pool import Pool
from meshsim.random import Sampler, Streams
from meshsim.recorder import RunRecorder, Usage
from meshsim.scenario import Fortio, OpenLoop, Service
from meshsim.topology import Pod, Stage

Proc = Generator[simpy.Event, object, None]


@dataclass(slots=True)
class Activity:
    """Whether a component is working now, for the wake-up delay of an idle one."""

    active: int = 0  # messages it is working on now
    idle_since: float = -math.inf


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a leg, with everything the hot loop needs resolved in advance."""

    op: int
    hop: str
    cores: Pool
    usage: Usage
    activity: Activity
    cpu_s: float = 0.0
    workers: Pool | None = None
    handshake_s: float = 0.0
    after_s: float = 0.0  # proxy work after the response (telemetry)
    latency_s: float = 0.0  # proxy delay that is not CPU
    wakeup_s: float = 0.0  # proxy CPU when an idle worker picks the message up
    variation: Sampler | None = None  # multiplies cpu_s, mean 1
    wire: Sampler | None = None
    wire_mean_s: float = 0.0
    serialise_s: float = 0.0
    component: str = ""


class Engine:
    """One replication: ``Engine(loaded, replication).run()`` returns its RunRecorder."""

    def __init__(self, loaded: LoadedScenario, replication: int = 0) -> None:
        from meshsim.topology import Topology

        self.loaded = loaded
        self.sc = loaded.scenario
        self.params = loaded.params
        self.env = simpy.Environment()
        self.topo = Topology(self.sc, self.params)
        self.streams = Streams(self.sc.sim.seed, replication)
        cluster = self.sc.cluster
        host = Pool(self.env, cluster.shared_cores, "host") if cluster.shared_cores else None
        self.cores = {
            name: host or Pool(self.env, node.cores, name) for name, node in self.topo.nodes.items()
        }
        self._wakeup_s = cluster.wakeup_latency_us * S_PER_US
        self._idle_after_s = cluster.idle_after_us * S_PER_US
        self.components = self.topo.components()
        self.recorder = RunRecorder(self.env, [c.name for c in self.components])
        self.usage = self.recorder.usage
        self.activity = {c.name: Activity() for c in self.components}
        self.workers: dict[str, Pool] = {}
        for c in self.components:
            threads = worker_threads(self.sc, self.params, self.topo, c)
            if threads is not None:
                self.workers[c.name] = Pool(self.env, threads, c.name)
        # per app pod: its usage counters, activity, workers and CPU cap, looked up once per
        # request
        self._apps = {
            c.pod: (
                self.usage[c.name],
                self.activity[c.name],
                self.workers.get(c.name),
                app_cpu_cap_s(self.sc.services[self.topo.pod_by_name[c.pod].service]),
            )
            for c in self.components
            if c.kind == Kind.APP
        }
        self.balancing = Balancing(self.sc, self.streams, lambda: self.env.now)
        self._legs: dict[tuple[tuple[Stage, ...], str], tuple[list[Step], list[Step]]] = {}
        self._service_time = {
            name: self.streams.sampler(f"service.{name}.service_time", svc.service_time.draw())
            for name, svc in self.sc.services.items()
        }
        net = self.sc.network
        self._wire = {
            relation: self.streams.sampler(f"network.{relation}", dist.draw())
            for relation, dist in (
                ("same_node", net.same_node_ms),
                ("same_zone", net.same_zone_ms),
                ("cross_zone", net.cross_zone_ms),
            )
        }
        self._new_connection = self.streams.uniform("mesh.connections")
        self._client_cpu = client_cpu_s(self.sc.workload)
        self._client_usage = self.usage[component_name(self.topo.client.name, Kind.APP)]
        self.ops = None  # the scenario's events (meshsim.operations), if it has any
        if self.sc.events:
            from meshsim.operations import Operations

            self.ops = Operations(self)
            # calls go through the operations' path: readiness, failures, retries
            self._root, self._call = self.ops.root, self.ops.call  # type: ignore[method-assign]

    # --- running -----------------------------------------------------------------------

    def run(self) -> RunRecorder:
        rec = self.recorder
        self.env.process(self._load())
        self.env.process(self._watch())
        if self.ops is not None:
            self.ops.start()
        self.env.run(until=rec.done)
        rec.finish()
        return rec

    def _watch(self) -> Proc:
        """Open the measurement window after warm-up; stop a run whose backlog grows without
        bound, or that has drained."""
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
            conns = [self.env.process(self._connection(gen, i)) for i in range(gen.connections)]
            yield simpy.AllOf(self.env, conns)
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
        client = self.topo.client
        if self._client_cpu > 0:
            yield from self._client_work()
        token = rec.arrive()
        yield from self._call(client, self.sc.workload.entry, token.measured)
        rec.depart(token)

    def _client_work(self) -> Proc:
        """The load generator's own work. Like fortio's timer, the clock starts after it: a
        generator that waits for a core sends late, and does not see that wait."""
        cores = self.cores[self.topo.client.node]
        granted = cores.acquire()
        if granted is not None:
            yield granted
        yield self.env.timeout(self._client_cpu)
        cores.release()
        self._client_usage.cpu_s += self._client_cpu

    # --- calls and apps ----------------------------------------------------------------

    def _pick(self, caller: Pod, service: str, waypoint: Pod | None) -> tuple[Pod, Balancer]:
        svc = self.sc.services[service]
        pods = self.topo.pods[service]
        if svc.prefer_same_zone:
            pods = candidates(self.topo, svc, pods, waypoint or caller)
        balancer = self.balancing.for_call(caller, service, waypoint)
        return balancer.pick(pods), balancer

    def _waypoint(self, caller: Pod, service: str) -> Pod | None:
        name = self.topo.waypoint_of.get(service)
        if name is None or not caller.in_mesh:
            return None
        return self.balancing.for_waypoint(caller, name).pick(self.topo.waypoints[name])

    def _call(self, caller: Pod, service: str, measured: bool) -> Proc:
        svc = self.sc.services[service]
        waypoint = self._waypoint(caller, service)
        callee, balancer = self._pick(caller, service, waypoint)
        route = self.topo.route(caller, callee, waypoint)
        legs = self._legs.get((route, service))
        if legs is None:
            legs = self._legs[(route, service)] = self._compile(route, svc)
        new_conn = self._new_connection() * self.sc.mesh.requests_per_connection < 1.0
        sent = self.env.now
        yield from self._walk(legs[0], measured, new_conn)
        yield from self._handle(callee, svc, measured)
        yield from self._walk(legs[1], measured, False)
        balancer.release(callee, self.env.now - sent)

    def _handle(self, pod: Pod, svc: Service, measured: bool) -> Proc:
        """The app's own work, then its downstream calls, step by step."""
        usage, activity, workers, cap = self._apps[pod.name]
        env = self.env
        arrived = env.now
        if workers is not None:
            granted = workers.acquire()
            if granted is not None:
                yield granted
        got_worker = env.now
        duration = self._service_time[pod.service]()
        cpu = duration if duration <= cap else cap  # components.app_cpu_s, inlined
        waited_core = wake = 0.0
        if cpu > 0:
            cores = self.cores[pod.node]
            wake = self._wake(activity)
            granted = cores.acquire()
            if granted is not None:
                asked = env.now
                yield granted
                waited_core = env.now - asked
            yield env.timeout(cpu + wake)
            cores.release()
            usage.cpu_s += cpu
            self._rest(activity)
        if duration > cpu:
            yield env.timeout(duration - cpu)
        if workers is not None and not svc.blocking_calls:
            workers.release()
            usage.busy_s += env.now - got_worker
        if measured:
            self.recorder.hop(Hop.APP, got_worker - arrived + waited_core, duration + wake)
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
                yield simpy.AllOf(env, [env.process(b) for b in branches])
        if workers is not None and svc.blocking_calls:
            workers.release()
            usage.busy_s += env.now - got_worker

    def _repeat(self, pod: Pod, service: str, count: int, measured: bool) -> Proc:
        for _ in range(count):
            yield from self._call(pod, service, measured)

    # --- legs: the path, compiled ------------------------------------------------------

    def _compile(self, route: tuple[Stage, ...], svc: Service) -> tuple[list[Step], list[Step]]:
        """The request leg and the response leg of a route, with their costs from the
        component cost model and the cores, workers and streams that carry them out."""
        request, response = route_demands(self.params, self.sc.network, route, svc)
        return [self._step(d) for d in request], [self._step(d) for d in response]

    def _step(self, d: Demand) -> Step:
        cores = self.cores[d.node]
        if d.op == WIRE:
            return Step(
                WIRE,
                Hop.NETWORK,
                cores,
                self.usage[component_name(d.node, Kind.KERNEL)],
                self.activity[component_name(d.node, Kind.KERNEL)],
                wire=self._wire[d.relation],
                wire_mean_s=d.wire_mean_s,
                serialise_s=d.serialise_s,
            )
        usage, activity = self.usage[d.component], self.activity[d.component]
        hop = d.hop
        if d.op == KERNEL:
            return Step(KERNEL, hop, cores, usage, activity, cpu_s=d.cpu_s, component=d.component)
        return Step(
            PROXY,
            hop,
            cores,
            usage,
            activity,
            cpu_s=d.cpu_s,
            workers=self.workers[d.component],
            handshake_s=d.handshake_s,
            wakeup_s=d.wakeup_s,
            variation=self._variation(d.proxy, d.cpu_cv),
            after_s=d.after_s,
            latency_s=d.latency_s,
            component=d.component,
        )

    def _variation(self, kind: str, cv: float) -> Sampler | None:
        """Lognormal factors of mean 1 for a proxy kind's CPU per message (one stream per kind,
        so the other modes' streams are untouched)."""
        if cv <= 0:
            return None
        sigma2 = math.log1p(cv * cv)
        mu, sigma = -sigma2 / 2, math.sqrt(sigma2)
        return self.streams.sampler(f"proxy.{kind}.cpu", lambda rng, n: rng.lognormal(mu, sigma, n))

    def _walk(self, leg: list[Step], measured: bool, new_conn: bool) -> Proc:
        env = self.env
        hop = self.recorder.hop if measured else None
        for s in leg:
            if s.op == WIRE:
                delay = s.wire() + s.serialise_s
                if delay > 0:
                    yield env.timeout(delay)
                if hop:
                    hop(Hop.NETWORK, 0.0, delay)
                continue
            arrived = env.now
            workers = s.workers
            cpu = s.cpu_s * s.variation() if s.variation else s.cpu_s
            if new_conn:
                cpu += s.handshake_s
            if workers is not None:
                granted = workers.acquire()
                if granted is None:
                    cpu += s.wakeup_s  # an idle worker woke up for this message alone
                else:
                    yield granted  # handed over by a busy worker: no new wake-up
            got_worker = env.now
            wake = self._wake(s.activity) if workers is not None else 0.0
            granted = s.cores.acquire()
            if granted is not None:
                yield granted
            yield env.timeout(cpu + wake)
            s.cores.release()
            usage = s.usage
            usage.cpu_s += cpu
            if workers is not None:
                self._rest(s.activity)
            if workers is not None:
                if s.after_s > 0:
                    env.process(self._after_response(s, got_worker))
                else:
                    workers.release()
                    usage.busy_s += env.now - got_worker
                if s.latency_s > 0:
                    yield env.timeout(s.latency_s)
                usage.residence_s += env.now - arrived
            if hop:
                busy = cpu + wake + s.latency_s
                hop(s.hop, env.now - arrived - busy, busy)

    def _wake(self, activity: Activity) -> float:
        """The wake-up delay of an app or proxy starting on a message, and mark it active."""
        wake = 0.0
        if activity.active == 0 and self.env.now - activity.idle_since >= self._idle_after_s:
            wake = self._wakeup_s
        activity.active += 1
        return wake

    def _rest(self, activity: Activity) -> None:
        activity.active -= 1
        if activity.active == 0:
            activity.idle_since = self.env.now

    def _after_response(self, s: Step, got_worker: float) -> Proc:
        """Telemetry after the response went out: the worker stays busy (Istio docs)."""
        s.activity.active += 1
        granted = s.cores.acquire()
        if granted is not None:
            yield granted
        yield self.env.timeout(s.after_s)
        s.cores.release()
        s.usage.cpu_s += s.after_s
        self._rest(s.activity)
        assert s.workers is not None
        s.workers.release()
        s.usage.busy_s += self.env.now - got_worker
