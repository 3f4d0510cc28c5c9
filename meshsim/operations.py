"""A scenario's events carried out inside one replication: rollouts, node failures, pushes.

Used only when a scenario has ``events:`` (the engine then runs its calls as ``OpsCall`` and
its requests as ``OpsRoot``, the engine's own call machinery with the checks below hooked in);
without events the engine's own path runs and nothing here is touched.

The model, kept small on purpose (``meshsim/events.py`` cites the behaviour it follows):

- A **slot** is a pod (its app and, in sidecar mode, its sidecar: they restart together), a
  waypoint pod, or a node's ztunnel. Its **instances** replace one another: the current one
  takes new connections once ready; a replaced one drains (serves what it holds, takes nothing
  new) and is killed at its deadline, failing every request it still holds.
- A surged replacement starts while the old instance serves, and takes over once ready; an
  unsurged one starts as the old one is told to stop, leaving the slot unready meanwhile. The
  extra pod of a surge uses no CPU here (start-up CPU is not modelled).
- Callers pick among *listed* pods: ready ones, and for ``endpoint_propagation_ms`` after a pod
  stops being ready, that pod too (its new connections are then refused).
- Connections: a caller keeps using the instance it is connected to (ztunnel's old instance
  keeps its connections until killed; a draining Envoy closes them, so callers move); a request
  that needs a new connection pays the handshake CPU on that proxy.
- An attempt fails with ``connect-failure`` (nothing ready, or refused) or ``reset`` (the
  instance it went through was killed before the response came back through it). The last live
  Envoy before the failure on the request's path (a sidecar's outbound side, a waypoint) retries
  it under ``operations.retries`` on another pod; a failure with no Envoy before it, or not in
  ``retry_on``, or past the attempts, fails the request. A downstream failure makes the calling
  app's response an error that is not retried further up (an app's 500, not a proxy's 503).
- Every attempt ends once: served, failed or retried; every request once: served or failed.

Length: the SimPy side of every event kind (rollouts, failures, drains, pushes) and the retry
path share one state (slots, instances, connections), so they stay together.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from typing import Any

import simpy

from meshsim.calls import FIXED, Call, Parent, Root, Step
from meshsim.components import visible_config
from meshsim.domain import MS_PER_S, S_PER_US, Hop, Kind, Mode, component_name
from meshsim.events import (
    ConfigPush,
    Drain,
    NodeDrain,
    NodeFailure,
    RollingUpdate,
    resolve,
)
from meshsim.recorder import TimeSeries, Token
from meshsim.topology import Pod

Proc = Generator[simpy.Event, object, Any]

CONNECT, RESET = "connect-failure", "reset"
ENVOY_DRAIN_S = 5.0  # Istio's terminationDrainDuration default
EXIT_POLL_S = 1.0  # pilot-agent checks active connections every second
_ENVOY_HOPS = {str(Hop.SIDECAR_OUT), str(Hop.WAYPOINT)}


@dataclass(eq=False, slots=True)
class Instance:
    """One run of a slot's process(es)."""

    gen: int
    ready: bool = False
    accepting: bool = False
    alive: bool = True
    active: int = 0  # attempts it holds


@dataclass(eq=False)
class Slot:
    """What instances replace one another in: a pod, a waypoint pod, a node's ztunnel."""

    name: str
    kind: str  # app (a pod, with its sidecar in sidecar mode), waypoint, ztunnel, client
    deployment: str  # service, waypoint name, or "ztunnel"
    node: str
    keeps_connections: bool  # ztunnel: the old instance keeps its connections while draining
    current: Instance = field(default_factory=lambda: Instance(0, True, True))
    listed_until: float = -math.inf  # still in callers' endpoints until then, though unready
    blackhole: bool = False  # its node died and nobody knows yet
    restarts: int = 0

    def listed(self, now: float) -> bool:
        return self.current.ready or now < self.listed_until


class Request:
    """One root request's context, passed where the engine passes ``measured`` (it is truthy
    when measured): whether it failed, and which instance of each pod is handling it."""

    __slots__ = ("app_gen", "failed", "measured")

    def __init__(self, measured: bool) -> None:
        self.measured = measured
        self.failed = False
        self.app_gen: dict[str, Instance] = {}

    def __bool__(self) -> bool:
        return self.measured


class OpsCall(Call):
    """One attempt of a call through the events' path: the engine's call, with the instance
    checks, failures and the caller's retry policy (each attempt ends served, failed or
    retried). It schedules exactly what the engine's call does while nothing fails."""

    __slots__ = ("app_instance", "held", "passed", "retries", "tried", "waypoint")

    def __init__(
        self,
        e: Any,
        caller: Pod,
        service: str,
        measured: Any,
        parent: Parent,
        repeat: int,
        tried: list[Pod] | None = None,
        retries: int = 0,
    ) -> None:
        super().__init__(e, caller, service, measured, parent, repeat)
        self.tried = [] if tried is None else tried
        self.retries = retries
        self.balancer = None
        self.held: dict[str, Instance] = {}
        self.passed: list[tuple[str, Instance]] = []  # (hop, instance) in request order

    def start(self) -> None:
        e, ops, caller, service = self.e, self.e.ops, self.caller, self.service
        ops.attempts["started"] += 1
        svc = e.sc.services[service]
        waypoint = None
        name = e.topo.waypoint_of.get(service)
        if name is not None and caller.in_mesh:
            listed = ops._listed(e.topo.waypoints[name])
            if not listed:
                self.fail(CONNECT, False)
                return
            waypoint = e.balancing.for_waypoint(caller, name).pick(listed)
        pods = e.topo.pods[service]
        if svc.prefer_same_zone:
            zone = e.topo.nodes[(waypoint or caller).node].zone
            pods = [p for p in pods if e.topo.nodes[p.node].zone == zone] or pods
        listed = ops._listed(pods)
        fresh = [p for p in listed if p not in self.tried]  # Envoy's previous_hosts predicate
        if not listed:
            self.fail(CONNECT, False)  # no healthy upstream
            return
        self.balancer = e.balancing.for_call(caller, service, waypoint)
        self.callee = self.balancer.pick(fresh or listed)
        self.tried.append(self.callee)
        self.waypoint = waypoint
        self.begin(waypoint)

    def _component(self, s: Step) -> str:
        if s.role == FIXED:
            return s.component
        pod = (self.caller, self.callee, self.waypoint)[s.role]
        return component_name(pod.name, s.kind)  # type: ignore[union-attr]

    def enter_proxy(self, s: Step, new_conn: bool) -> None:
        component = self._component(s)
        if self.response:
            instance = self.held[component]
            if not instance.alive:
                at = next(i for i, (_, inst) in enumerate(self.passed) if inst is instance)
                self.fail(RESET, Operations._retrier(self.passed[:at]))
                return
            super().enter_proxy(s, new_conn)
            return
        got = self.e.ops.enter(component, s.hop, self.caller, self.measured, new_conn)
        if not isinstance(got, tuple):
            self.refused(got)
            return
        instance, handshake = got
        self.held[component] = instance
        self.passed.append((s.hop, instance))
        super().enter_proxy(s, new_conn or handshake)

    def refused(self, got: str | float) -> None:
        if isinstance(got, float):  # a black-holed node: the connection times out
            self.sleep(got, _CONNECT_FAILED)
        else:
            self.fail(got, Operations._retrier(self.passed))

    def connect_failed(self) -> None:
        self.fail(CONNECT, Operations._retrier(self.passed))

    def handle(self) -> None:
        app = component_name(self.callee.name, Kind.APP)
        got = self.e.ops.enter(app, str(Hop.APP), self.caller, self.measured, False)
        if not isinstance(got, tuple):
            self.refused(got)
            return
        instance = self.held[app] = self.app_instance = got[0]
        self.passed.append((str(Hop.APP), instance))
        self.measured.app_gen[self.callee.name] = instance
        super().handle()

    def respond(self) -> None:
        if not self.app_instance.alive:
            self.fail(RESET, Operations._retrier(self.passed[:-1]))
            return
        super().respond()

    def _release(self) -> None:
        for instance in self.held.values():
            instance.active -= 1
        if self.balancer is not None:
            self.balancer.release(self.callee, self.env.now - self.sent)

    def finish(self) -> None:
        self._release()
        self.e.ops.attempts["served"] += 1
        self.done()

    def fail(self, kind: str, retrier: bool) -> None:
        """The attempt failed: retry it on another pod if the policy lets the retrier, else
        the request fails (and this call is over)."""
        self._release()
        ops = self.e.ops
        policy = ops.ops.retries
        if retrier and self.retries < policy.attempts and kind in ops.retry_on:
            ops.attempts["retried"] += 1
            ops.series.at(self.env.now).retried += 1
            again = OpsCall(
                self.e,
                self.caller,
                self.service,
                self.measured,
                self.parent,
                self.repeat,
                self.tried,
                self.retries + 1,
            )
            self.e.run_soon(again.start)
            return
        ops.attempts["failed"] += 1
        self.measured.failed = True
        self.done()


_CONNECT_FAILED = [OpsCall.connect_failed]


class OpsRoot(Root):
    """A root request through the events' path: it ends served or failed, and is counted in
    its time-series window."""

    __slots__ = ("req",)

    def measured(self, token: Token) -> Request:
        self.req = Request(token.measured)
        return self.req

    def child_done(self) -> None:
        e, token = self.e, self.token
        rec, now = e.recorder, e.env.now
        window = e.ops.series.at(now)
        if self.req.failed:
            rec.fail(token)
            window.failed += 1
        else:
            rec.depart(token)
            window.served += 1
            window.latencies.append(now - token.started)
        if self.then is not None:
            self.then()


class Operations:
    """The events of one replication, and what they did."""

    def __init__(self, engine: Any) -> None:
        self.e = engine
        sc = engine.sc
        self.env: simpy.Environment = engine.env
        self.ops = sc.operations
        self.retry_on = set(self.ops.retries.retry_on)
        self.propagation_s = self.ops.endpoint_propagation_ms / MS_PER_S
        self.series = TimeSeries(self.ops.window_s)
        topo = engine.topo
        self.mode = topo.mode
        self.sidecars = self.mode == Mode.SIDECAR
        self.slots: dict[str, Slot] = {}  # by slot name
        self.slot_of: dict[str, Slot] = {}  # by component name
        for c in engine.components:
            if c.kind in (Kind.APP, Kind.SIDECAR, Kind.CLIENT, Kind.WAYPOINT):
                pod = topo.pod_by_name[c.pod]
                kind = {Kind.WAYPOINT: "waypoint", Kind.CLIENT: "client"}.get(c.kind, "app")
                if c.kind == Kind.SIDECAR and pod.name == topo.client.name:
                    kind = "client"
                slot = self.slots.get(pod.name) or Slot(
                    pod.name, kind, pod.service, pod.node, False
                )
            elif c.kind == Kind.ZTUNNEL:
                slot = Slot(c.name, "ztunnel", "ztunnel", c.node, True)
            else:
                continue
            self.slots[slot.name] = slot
            self.slot_of[c.name] = slot
        self.conns: dict[tuple[str, str], Instance] = {}
        self.reopened = 0  # connections re-established because their instance went away
        self.attempts = {"started": 0, "served": 0, "failed": 0, "retried": 0}
        self.restarted: dict[str, int] = {"app_pods": 0, "sidecar": 0, "ztunnel": 0, "waypoint": 0}
        self.restarting: dict[str, int] = {"sidecar": 0, "ztunnel": 0, "waypoint": 0}
        self.replicas = {name: len(pods) for name, pods in topo.pods.items()}
        self.ready = dict(self.replicas)  # ready pods per Deployment
        self.lowest_ready = {name: 1.0 for name in self.replicas}  # share, exact over time
        self.started_at: float | None = None
        self.ended_at: float | None = None  # the last event done (every new pod ready)
        self.settled_at: float | None = None  # the last replaced instance gone
        self._pending = len(sc.events)
        self.draining = 0  # replaced instances not yet gone
        self._busy = 0  # rollout operations under way
        self._kinds = {c.name: str(c.kind) for c in engine.components}
        self._cpu_last: dict[str, float] = {}
        self._streams = engine.streams
        self.call_class = OpsCall
        self.root_class = OpsRoot

    # --- running -----------------------------------------------------------------------

    def start(self) -> None:
        for i, event in enumerate(self.e.sc.events):
            self.env.process(self._event(i, event))
        self.env.process(self._sample())

    def _event(self, index: int, event: object) -> Proc:
        yield self.env.timeout(event.at_s)  # type: ignore[attr-defined]
        self._begin()
        if isinstance(event, RollingUpdate):
            yield from self._rolling_update(index, event)
        elif isinstance(event, NodeFailure):
            yield from self._node_failure(index, event)
        elif isinstance(event, NodeDrain):
            yield from self._node_drain(index, event)
        elif isinstance(event, ConfigPush):
            yield from self._config_push(event)
        self._end()

    def _begin(self) -> None:
        if self.started_at is None:
            self.started_at = self.env.now
        self._busy += 1

    def _end(self) -> None:
        self._busy -= 1
        self._pending -= 1
        self.ended_at = self.env.now

    def _gone(self) -> None:
        self.settled_at = max(self.settled_at or 0.0, self.env.now)

    # --- the request path --------------------------------------------------------------

    def _listed(self, pods: Iterable[Pod]) -> list[Pod]:
        now = self.env.now
        return [p for p in pods if self.slots[p.name].listed(now)]

    def enter(
        self, component: str, hop: str, caller: Pod, req: Request, new_conn: bool
    ) -> tuple[Instance, bool] | str | float:
        """The instance of ``component`` an attempt goes through (and whether it opens a new
        connection to it), why it cannot (a failure kind), or how long it waits for a
        connection that will fail (a black-holed node: seconds, then ``connect-failure``)."""
        slot = self.slot_of[component]
        if hop == str(Hop.SIDECAR_OUT):  # the caller's own sidecar: its pod's instance
            instance = req.app_gen.get(caller.name)
            if instance is None:  # the load generator's pod
                instance = slot.current
                if not instance.ready:
                    return CONNECT
            if not instance.alive:
                return RESET
            instance.active += 1
            return instance, False
        if slot.blackhole:
            wait = self.ops.connect_timeout_s
            if self.ops.retries.per_try_timeout_s is not None:
                wait = min(wait, self.ops.retries.per_try_timeout_s)
            return float(wait)
        key = (caller.name, component)
        sticky = self.conns.get(key)
        current = slot.current
        if sticky is None and current.accepting:
            self.conns[key] = sticky = current  # connected before the events began
        if (
            sticky is not None
            and sticky.alive
            and not new_conn
            and (sticky.accepting or slot.keeps_connections)
        ):
            sticky.active += 1
            return sticky, False
        if not current.accepting:
            return CONNECT
        handshake = sticky is not current
        self.reopened += handshake
        self.conns[key] = current
        current.active += 1
        return current, handshake

    @staticmethod
    def _retrier(passed: list[tuple[str, Instance]]) -> bool:
        """Is there a live Envoy on the path before the failure that can retry?"""
        return any(hop in _ENVOY_HOPS and inst.alive for hop, inst in passed)

    # --- instances come and go ---------------------------------------------------------

    def _duration(self, key: str, dists: Iterable[Any]) -> float:
        """A start-up time: the sum of one draw of each distribution, from streams named by
        the event, so every mode of a comparison draws the same times."""
        return sum(self._streams.sampler(f"ops.{key}.{i}", d.draw())() for i, d in enumerate(dists))

    def _set_ready(self, slot: Slot, ready: bool) -> None:
        was = slot.current.ready
        slot.current.ready = ready
        if slot.kind == "app" and was != ready:
            self.ready[slot.deployment] += 1 if ready else -1
            share = self.ready[slot.deployment] / self.replicas[slot.deployment]
            self.lowest_ready[slot.deployment] = min(self.lowest_ready[slot.deployment], share)

    def _proxy_kinds(self, slot: Slot) -> list[str]:
        if slot.kind == "app":
            return ["sidecar"] if self.sidecars else []
        return [slot.kind] if slot.kind in ("ztunnel", "waypoint") else []

    def _replace(self, slot: Slot, surge: bool, key: str, dists: list[Any], drain: Drain) -> Proc:
        """Replace a slot's instance by a new one (a pod restart)."""
        old = slot.current
        new = Instance(old.gen + 1)
        for kind in self._proxy_kinds(slot):
            self.restarting[kind] += 1
        if surge:
            yield self.env.timeout(self._duration(key, dists))
            slot.current = new
            new.ready, new.accepting = True, True
            self.env.process(self._terminate(slot, old, drain))
        else:
            self._set_ready(slot, False)
            slot.listed_until = self.env.now + self.propagation_s
            slot.current = new
            self.env.process(self._terminate(slot, old, drain))
            yield self.env.timeout(self._duration(key, dists))
            new.accepting = True
            self._set_ready(slot, True)
        self._count_restart(slot)
        for kind in self._proxy_kinds(slot):
            self.restarting[kind] -= 1

    def _terminate(self, slot: Slot, old: Instance, drain: Drain) -> Proc:
        """SIGTERM: take nothing new, serve what it holds until the deadline, then die."""
        old.accepting = False
        old.ready = False
        self.draining += 1
        envoy = slot.kind == "waypoint" or (slot.kind == "app" and self.sidecars)
        grace = drain.grace_period_s
        if envoy:
            drain_s = (
                ENVOY_DRAIN_S if drain.termination_drain_s is None else drain.termination_drain_s
            )
            deadline = grace if drain.exit_on_zero_active_connections else min(drain_s, grace)
            early = drain.exit_on_zero_active_connections
        elif slot.kind == "ztunnel":
            drain_s = grace if drain.termination_drain_s is None else drain.termination_drain_s
            deadline, early = min(drain_s, grace), False
        else:  # an app without a sidecar: it finishes what it holds, then exits (assumption)
            deadline, early = grace, True
        start = self.env.now
        while early and old.active > 0 and self.env.now - start < deadline:
            yield self.env.timeout(min(EXIT_POLL_S, deadline - (self.env.now - start)))
        if not early:
            yield self.env.timeout(deadline)
        old.alive = False
        self.draining -= 1
        self._gone()

    def _kill(self, slot: Slot) -> None:
        """The node died: every instance of the slot stops at once."""
        old = slot.current
        old.alive = old.accepting = False
        self._gone()
        self._set_ready(slot, False)
        slot.current = Instance(old.gen + 1)

    # --- the events --------------------------------------------------------------------

    def rollout_slots(self, event: RollingUpdate) -> list[list[Slot]]:
        """The Deployments (or the DaemonSet) an update replaces, each a list of slots."""
        topo = self.e.topo
        if event.component == "ztunnel":
            return (
                [[s for s in self.slots.values() if s.kind == "ztunnel"]]
                if self.mode
                in (
                    Mode.AMBIENT,
                    Mode.WAYPOINT,
                )
                else []
            )
        if event.component == "app":
            return [[self.slots[p.name] for p in topo.pods[event.deployment or ""]]]
        if self.sidecars:
            return [[self.slots[p.name] for p in pods] for pods in topo.pods.values()]
        return [[self.slots[p.name] for p in pods] for pods in topo.waypoints.values()]

    def _rolling_update(self, index: int, event: RollingUpdate) -> Proc:
        groups = [g for g in self.rollout_slots(event) if g]
        daemonset = event.component == "ztunnel"
        gate = simpy.Resource(self.env, capacity=1 if daemonset else event.parallel_deployments)
        dists = [event.startup_ms, event.readiness_ms]

        def one(group: list[Slot]) -> Proc:
            with gate.request() as turn:
                yield turn
                n = len(group)
                default_surge, default_unavailable = (1, 0) if daemonset else ("25%", "25%")
                surge = resolve(
                    default_surge if event.max_surge is None else event.max_surge, n, True
                )
                unavailable = resolve(
                    default_unavailable if event.max_unavailable is None else event.max_unavailable,
                    n,
                    False,
                )
                if surge == 0 and unavailable == 0:
                    unavailable = 1  # as Kubernetes resolves it
                yield from self._roll(
                    group, surge, unavailable, f"event{index}", dists, event.drain
                )

        yield simpy.AllOf(self.env, [self.env.process(one(g)) for g in groups])

    def _roll(
        self,
        group: list[Slot],
        surge: int,
        unavailable: int,
        key: str,
        dists: list[Any],
        drain: Drain,
    ) -> Proc:
        """Replace every slot, never more than ``surge`` extra nor ``unavailable`` missing."""
        pending = list(group)
        running: dict[simpy.Process, bool] = {}
        used = {True: 0, False: 0}
        limit = {True: surge, False: unavailable}
        while pending or running:
            while pending and (used[True] < surge or used[False] < unavailable):
                with_surge = used[True] < limit[True]
                used[with_surge] += 1
                slot = pending.pop(0)
                proc = self.env.process(self._replace(slot, with_surge, key, dists, drain))
                running[proc] = with_surge
            yield simpy.AnyOf(self.env, list(running))
            for proc in [p for p in running if p.triggered]:
                used[running.pop(proc)] -= 1

    def _node_failure(self, index: int, event: NodeFailure) -> Proc:
        on_node = [s for s in self.slots.values() if s.node == event.node]
        for slot in on_node:
            self._kill(slot)
            slot.blackhole = True
            slot.listed_until = self.env.now + event.detection_s
        yield self.env.timeout(min(event.detection_s, event.down_s))
        for slot in on_node:
            slot.blackhole = False
        if event.down_s > event.detection_s:
            yield self.env.timeout(event.down_s - event.detection_s)
        starts = []
        for slot in on_node:
            starts.append(
                self.env.process(self._come_back(slot, f"event{index}", event.startup_ms))
            )
        yield simpy.AllOf(self.env, starts)

    def _come_back(self, slot: Slot, key: str, startup: Any) -> Proc:
        yield self.env.timeout(self._duration(key, [startup]))
        slot.current.accepting = True
        self._set_ready(slot, True)
        self._count_restart(slot)

    def _count_restart(self, slot: Slot) -> None:
        """A slot's replacement is up: count the app pod and the proxies restarted with it."""
        slot.restarts += 1
        if slot.kind == "app":
            self.restarted["app_pods"] += 1
        for kind in self._proxy_kinds(slot):
            self.restarted[kind] += 1

    def _node_drain(self, index: int, event: NodeDrain) -> Proc:
        by_deployment: dict[str, list[Slot]] = {}
        for slot in self.slots.values():
            if slot.node == event.node and slot.kind in ("app", "waypoint"):
                by_deployment.setdefault(slot.deployment, []).append(slot)
        dists = [event.startup_ms, event.readiness_ms]

        def evict(deployment: str, slots: list[Slot]) -> Proc:
            total = len(self.e.topo.pods.get(deployment) or self.e.topo.waypoints[deployment])
            budget = max(1, resolve(event.pdb_max_unavailable, total, False))
            yield from self._roll(slots, 0, budget, f"event{index}", dists, event.drain)

        yield simpy.AllOf(
            self.env, [self.env.process(evict(d, s)) for d, s in by_deployment.items()]
        )

    def _config_push(self, event: ConfigPush) -> Proc:
        e = self.e
        work = []
        for c in e.components:
            if c.kind in (Kind.SIDECAR, Kind.ZTUNNEL, Kind.WAYPOINT):
                items = visible_config(e.sc, e.topo, c)
                cpu = (event.cpu_us_base + event.cpu_us_per_item * items) * S_PER_US
                work.append(self.env.process(self._burn(c.name, c.node, cpu)))
        yield simpy.AllOf(self.env, work)

    def _burn(self, component: str, node: str, cpu_s: float) -> Proc:
        cores = self.e.cores[node]
        granted = cores.acquire()
        if granted is not None:
            yield granted
        yield self.env.timeout(cpu_s)
        cores.release()
        self.e.usage[component].cpu_s += cpu_s

    # --- observing ---------------------------------------------------------------------

    def _sample(self) -> Proc:
        done = self.e.recorder.done
        while not done.triggered:
            yield self.env.timeout(self.ops.window_s)
            self.series.sample(self._state())

    def _state(self) -> dict[str, float]:
        cpu: dict[str, float] = {}
        for name, usage in self.e.usage.items():
            kind = self._kinds[name]
            cpu[kind] = cpu.get(kind, 0.0) + usage.cpu_s - self._cpu_last.get(name, 0.0)
            self._cpu_last[name] = usage.cpu_s
        state = {
            "pods_ready": float(sum(self.ready.values())),
            "pods_ready_pct": 100.0 * sum(self.ready.values()) / sum(self.replicas.values()),
            "proxies_restarting": float(sum(self.restarting.values())),
            "rollout_active": float(self._busy > 0),
        }
        for kind in ("app", "sidecar", "ztunnel", "waypoint", "kernel"):
            state[f"vcpu_{kind}"] = cpu.get(kind, 0.0) / self.ops.window_s
        return state

    # --- what it did -------------------------------------------------------------------

    def timeseries(self) -> list[dict[str, float]]:
        """One row per window: outcomes of the requests that ended in it, latency of those
        served, and the state at its end."""
        import numpy as np

        width = self.series.window_s
        rows = []
        for i, window in enumerate(self.series.windows):
            ended = window.served + window.failed
            if window.latencies:
                p50, p99 = np.percentile(window.latencies, [50, 99]) * MS_PER_S
            else:
                p50 = p99 = math.nan
            row = {
                "t_start_s": i * width,
                "t_end_s": (i + 1) * width,
                "served": float(window.served),
                "failed": float(window.failed),
                "retried": float(window.retried),
                "throughput_rps": window.served / width,
                "errors_rps": window.failed / width,
                "error_pct": 100.0 * window.failed / ended if ended else 0.0,
                "p50_ms": float(p50),
                "p99_ms": float(p99),
            }
            state = self.series.states[i] if i < len(self.series.states) else {}
            rows.append({**row, **state})
        return rows

    def rollout(self, rows: list[dict[str, float]]) -> dict[str, Any]:
        """The summary of what the events did (the ``rollout`` block of summary.json)."""
        rec = self.e.recorder
        start = self.started_at
        end = self.ended_at if self._pending == 0 else None
        settled = None  # still draining when the run ended
        if end is not None and self.draining == 0:
            settled = max(self.settled_at or 0.0, end)
        during = [
            r
            for r in rows
            if start is not None
            and r["t_end_s"] > start
            and r["t_start_s"] < (settled if settled is not None else math.inf)
        ]
        before = [
            r
            for r in rows
            if start is not None and r["t_end_s"] <= start and not math.isnan(r["p99_ms"])
        ]
        p99s = [r["p99_ms"] for r in during if not math.isnan(r["p99_ms"])]
        lowest = {k: 100.0 * v for k, v in self.lowest_ready.items()}
        return {
            "complete": end is not None,
            "started_s": start,
            "duration_s": None if end is None or start is None else end - start,
            "settled_s": None if settled is None or start is None else settled - start,
            "app_pods_restarted": self.restarted["app_pods"],
            "proxies_restarted": {k: v for k, v in self.restarted.items() if k != "app_pods"},
            "requests_failed": rec.failed,
            "attempts": dict(self.attempts),
            "connections_reopened": self.reopened,
            "worst_window_p99_ms": max(p99s) if p99s else None,
            "median_window_p99_before_ms": (
                statistics.median(r["p99_ms"] for r in before) if before else None
            ),
            "lowest_ready_pct": min(lowest.values()) if lowest else 100.0,
            "lowest_ready_pct_by_deployment": lowest,
        }
