"""The SimPy model: load generators, apps, proxies, kernels and the node CPUs they share.

One ``Engine`` runs one replication of one scenario. A call walks the route the topology builds
for it, compiled once per (caller node, callee node, waypoint node, service) into *legs*: flat
tuples of steps whose CPU demand comes from the component cost model (``components.py``, where
every cost is defined). Every CPU burst (app, proxy, kernel) queues for a core of its node, so
co-located components contend; a proxy also holds one of its worker threads while it works,
and keeps it after the response for telemetry. Calls run as small state machines driven by
event callbacks (``calls.py``), not as nested generators: that is both the speed of the engine
and why a call chain of any depth fits on the stack. Observation goes to a ``RunRecorder``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from typing import Any

import simpy

from meshsim.balancing import Balancer, Balancing, candidates
from meshsim.calls import (
    CALLEE,
    CALLER,
    FIXED,
    MAX_NESTING,
    WAYPOINT,
    Call,
    Legs,
    Parent,
    Proxy,
    Root,
    Step,
)
from meshsim.components import (
    KERNEL,
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
from meshsim.recorder import HOP_BLOCK, OBJECTIVE_MISSED, RunRecorder
from meshsim.scenario import Fortio, OpenLoop
from meshsim.slo import Slo
from meshsim.topology import Pod

Proc = Generator[simpy.Event, object, None]
POD_PROXIES = (Kind.SIDECAR, Kind.LINKERD_PROXY, Kind.WAYPOINT)  # one per pod: bound per call


class Engine:
    """One replication: ``Engine(loaded, replication).run()`` returns its RunRecorder. With an
    ``objective`` the run stops as soon as the objective is certainly missed (``_watch``)."""

    call_class: type[Call] = Call

    def __init__(
        self, loaded: LoadedScenario, replication: int = 0, objective: Slo | None = None
    ) -> None:
        from meshsim.topology import Topology

        self.objective = objective  # stop once it is certainly missed (capacity searches)
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
        self.wakeup_s = cluster.wakeup_latency_us * S_PER_US
        self.idle_after_s = cluster.idle_after_us * S_PER_US
        self.components = self.topo.components()
        self.recorder = RunRecorder(self.env, [c.name for c in self.components])
        self.usage = self.recorder.usage
        # every proxy, app and kernel: its usage, activity and workers
        self.proxies: dict[str, Proxy] = {}
        for c in self.components:
            threads = worker_threads(self.sc, self.params, self.topo, c)
            workers = Pool(self.env, threads, c.name) if threads is not None else None
            self.proxies[c.name] = Proxy(c.name, self.usage[c.name], workers=workers)
        # by pod name: its app, and its own proxy (sidecar, linkerd-proxy, waypoint)
        self.apps = {
            c.pod: self.proxies[c.name] for c in self.components if c.kind == Kind.APP and c.pod
        }
        self.pod_proxy = {
            c.pod: self.proxies[c.name]
            for c in self.components
            if c.kind in POD_PROXIES and c.pod is not None
        }
        services = self.sc.services
        self.app_cap = {name: app_cpu_cap_s(svc) for name, svc in services.items()}
        self.blocking = {name: svc.blocking_calls for name, svc in services.items()}
        self.service_time = {
            name: self.streams.sampler(f"service.{name}.service_time", svc.service_time.draw())
            for name, svc in services.items()
        }
        # by service: its call steps, each a list of (service, count, probability, draw)
        self.plans = {
            name: [
                [
                    (
                        call.service,
                        call.count,
                        call.probability,
                        self.streams.uniform(f"service.{name}.calls.{i}.{j}")
                        if call.probability < 1.0
                        else None,
                    )
                    for j, call in enumerate(step)
                ]
                for i, step in enumerate(svc.calls)
            ]
            for name, svc in services.items()
        }
        self.balancing = Balancing(self.sc, self.streams, lambda: self.env.now)
        self._legs: dict[tuple[object, ...], Legs] = {}
        self._hop_stats = self.recorder.hop_buffers
        self.app_stats = self.recorder.hop_buffer(Hop.APP)
        net = self.sc.network
        self._wire = {
            relation: self.streams.sampler(f"network.{relation}", dist.draw())
            for relation, dist in (
                ("same_node", net.same_node_ms),
                ("same_zone", net.same_zone_ms),
                ("cross_zone", net.cross_zone_ms),
            )
        }
        self.new_connection = self.streams.uniform("mesh.connections")
        self.requests_per_connection = self.sc.mesh.requests_per_connection
        self.client_cpu_s = client_cpu_s(self.sc.workload)
        self._client_usage = self.usage[component_name(self.topo.client.name, Kind.APP)]
        self._nesting = 0
        self.ops: Any = None  # the scenario's events (meshsim.operations), if it has any
        if self.sc.events:
            from meshsim.operations import Operations

            self.ops = Operations(self)
            # calls go through the operations' path: readiness, failures, retries
            self.call_class = self.ops.call_class
            self.root_class = self.ops.root_class
        else:
            self.root_class = Root

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
        bound, that has drained, or (with an objective) whose objective is certainly missed.
        Bins the per-hop figures gathered since the last tick."""
        rec = self.recorder
        warmup = self.sc.workload.warmup_s
        if warmup > 0:
            yield self.env.timeout(warmup)
        rec.start_window()
        interval = max(1e-3, (self.sc.workload.duration_s or 1.0) / 200)
        objective = self.objective
        most = self.most_measured() if objective is not None else None
        while not rec.done.triggered:
            rec.flush_hops(HOP_BLOCK)
            if rec.in_flight > self.sc.sim.max_in_flight:
                rec.stop("saturated")
                return
            if (
                objective is not None
                and most is not None
                and objective.certainly_missed(rec.latency, most)
            ):
                rec.stop(OBJECTIVE_MISSED)
                return
            if rec.arrivals_done_at is not None:
                if rec.in_flight == 0:
                    rec.stop("complete")
                    return
                if self.env.now - rec.arrivals_done_at > self.sc.sim.drain_timeout_s:
                    rec.stop("drain timeout")
                    return
            yield self.env.timeout(interval)

    def most_measured(self) -> float | None:
        """An upper bound on the requests the measurement window can take in (None: no bound,
        a fortio loop at full speed): the window's length at the asked-for rate, plus 8
        standard deviations of a Poisson count (exceeded with probability below 1e-14), or
        two slots a fortio connection for jitter and the window's edges."""
        load = self.sc.workload
        bounds = [float(load.requests)] if load.requests is not None else []
        if load.duration_s is not None:
            window = load.duration_s - load.warmup_s
            gen = load.generator
            if isinstance(gen, OpenLoop):
                mean = gen.rate_rps * window
                spread = 8 * math.sqrt(mean) if gen.arrivals == "poisson" else 0.0
                bounds.append(mean + spread + 1)
            elif gen.qps:
                bounds.append(gen.qps * window + 2 * gen.connections)
        return min(bounds) if bounds else None

    def run_soon(self, start: Callable[[], None]) -> None:
        """Run ``start`` now, or from the event queue at this same instant when calls already
        nest ``MAX_NESTING`` deep (a chain of calls that cost nothing must not recurse)."""
        if self._nesting < MAX_NESTING:
            self._nesting += 1
            start()
            self._nesting -= 1
        else:
            self.env.timeout(0).callbacks.append(lambda _event: start())  # type: ignore[union-attr]

    # --- load generators ---------------------------------------------------------------

    def _load(self) -> Proc:
        gen = self.sc.workload.generator
        if isinstance(gen, OpenLoop):
            yield from self._open_loop(gen)
        else:
            conns = [Connection(self, gen, i) for i in range(gen.connections)]
            for conn in conns:
                conn.start()
            yield simpy.AllOf(self.env, [conn.ended for conn in conns])
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
            self.root_class(self, None).start()
            sent += 1

    def client_work(self, then: Callable[..., None]) -> None:
        """The load generator's own work, then ``then``. Like fortio's timer, the clock starts
        after it: a generator that waits for a core sends late, and does not see that wait."""
        cores = self.cores[self.topo.client.node]

        def done(_event: object) -> None:
            cores.release()
            self._client_usage.cpu_s += self.client_cpu_s
            then()

        def run(_event: object = None) -> None:
            self.env.timeout(self.client_cpu_s).callbacks.append(done)  # type: ignore[union-attr]

        granted = cores.acquire()
        if granted is None:
            run()
        else:
            granted.callbacks.append(run)  # type: ignore[union-attr]

    # --- calls -------------------------------------------------------------------------

    def call(self, caller: Pod, service: str, measured: Any, parent: Parent, repeat: int) -> Call:
        return self.call_class(self, caller, service, measured, parent, repeat)

    def pick(self, caller: Pod, service: str, waypoint: Pod | None) -> tuple[Pod, Balancer]:
        svc = self.sc.services[service]
        pods = self.topo.pods[service]
        if svc.prefer_same_zone:
            pods = candidates(self.topo, svc, pods, waypoint or caller)
        balancer = self.balancing.for_call(caller, service, waypoint)
        return balancer.pick(pods), balancer

    def waypoint(self, caller: Pod, service: str) -> Pod | None:
        name = self.topo.waypoint_of.get(service)
        if name is None or not caller.in_mesh:
            return None
        return self.balancing.for_waypoint(caller, name).pick(self.topo.waypoints[name])

    # --- legs: the path, compiled ------------------------------------------------------

    def legs(self, caller: Pod, callee: Pod, waypoint: Pod | None, service: str) -> Legs:
        """The request and response legs of a call, compiled once per (nodes, service): what a
        route costs depends on the nodes it crosses and the proxies' kinds, not on the pods."""
        key = (
            caller.node,
            caller.in_mesh,
            callee.node,
            callee.in_mesh,
            None if waypoint is None else waypoint.node,
            service,
        )
        legs = self._legs.get(key)
        if legs is None:
            legs = self._legs[key] = self._compile(caller, callee, waypoint, service)
        return legs

    def _compile(self, caller: Pod, callee: Pod, waypoint: Pod | None, service: str) -> Legs:
        """The request leg and the response leg of a route, with their costs from the
        component cost model and the cores, workers and streams that carry them out; a
        pod's own proxy is named by its role, to be bound per call."""
        route = self.topo.route(caller, callee, waypoint)
        request, response = route_demands(
            self.params, self.sc.network, route, self.sc.services[service]
        )
        roles = {component_name(caller.name, k): CALLER for k in POD_PROXIES}
        roles.update({component_name(callee.name, k): CALLEE for k in POD_PROXIES})
        if waypoint is not None:
            roles[component_name(waypoint.name, Kind.WAYPOINT)] = WAYPOINT
        return (
            tuple(self._step(d, roles) for d in request),
            tuple(self._step(d, roles) for d in response),
        )

    def _step(self, d: Demand, roles: dict[str, int]) -> Step:
        cores = self.cores[d.node]
        stats = self.recorder.hop_buffer(d.hop)
        if d.op == WIRE:
            return Step(
                WIRE, d.hop, cores, stats, wire=self._wire[d.relation], serialise_s=d.serialise_s
            )
        if d.op == KERNEL:
            usage = self.usage[d.component]
            return Step(
                KERNEL, d.hop, cores, stats, usage=usage, cpu_s=d.cpu_s, component=d.component
            )
        role = roles.get(d.component, FIXED)
        return Step(
            d.op,
            d.hop,
            cores,
            stats,
            proxy=self.proxies[d.component] if role == FIXED else None,
            role=role,
            kind=d.proxy,
            component=d.component if role == FIXED else "",
            cpu_s=d.cpu_s,
            handshake_s=d.handshake_s,
            wakeup_s=d.wakeup_s,
            variation=self._variation(d.proxy, d.cpu_cv),
            after_s=d.after_s,
            latency_s=d.latency_s,
        )

    def _variation(self, kind: str, cv: float) -> Sampler | None:
        """Lognormal factors of mean 1 for a proxy kind's CPU per message (one stream per kind,
        so the other modes' streams are untouched)."""
        if cv <= 0:
            return None
        sigma2 = math.log1p(cv * cv)
        mu, sigma = -sigma2 / 2, math.sqrt(sigma2)
        return self.streams.sampler(f"proxy.{kind}.cpu", lambda rng, n: rng.lognormal(mu, sigma, n))


class Connection:
    """One fortio connection: a closed loop paced at qps/connections (fortio's runOne)."""

    __slots__ = ("e", "ended", "gen", "jitter", "period", "quota", "sent", "started")

    def __init__(self, e: Engine, gen: Fortio, index: int) -> None:
        self.e = e
        self.gen = gen
        limit = e.sc.workload.requests
        self.quota = None
        if limit is not None:
            self.quota = limit // gen.connections + (limit % gen.connections if index == 0 else 0)
        self.period = gen.connections / gen.qps if gen.qps else 0.0
        self.jitter = e.streams.uniform(f"workload.connection.{index}.jitter")
        self.ended = simpy.Event(e.env)
        self.sent = 0
        self.started = 0.0
        if gen.uniform and self.period:
            self.started = self.period * index / gen.connections

    def start(self) -> None:
        if self.started > 0:
            self.e.env.timeout(self.started).callbacks.append(self.send)  # type: ignore[union-attr]
        else:
            self.send()

    def send(self, _event: object = None) -> None:
        e = self.e
        duration = e.sc.workload.duration_s
        if (duration is not None and e.env.now > duration) or (
            self.quota is not None and self.sent >= self.quota
        ):
            self.ended.succeed()
            return
        e.root_class(e, self.answered).start()

    def answered(self) -> None:
        e, gen = self.e, self.gen
        self.sent += 1
        if not self.period:
            e.run_soon(self.send)
            return
        now = e.env.now
        target = self.started + self.sent * self.period
        if not gen.catchup:
            while target < now:  # skip the slots that are already late
                self.sent += 1
                target = self.started + self.sent * self.period
        sleep = target - now
        if gen.jitter and sleep > 0:
            sleep += (2 * self.jitter() - 1) * sleep / 10
        if sleep > 0:
            e.env.timeout(sleep).callbacks.append(self.send)  # type: ignore[union-attr]
        else:
            e.run_soon(self.send)
