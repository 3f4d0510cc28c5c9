"""One call as a small state machine, advanced from SimPy event callbacks.

Why not generators: a call walked as nested generators (connection -> request -> call -> leg,
and handler -> repeat -> call per level of the call graph) resumes every frame of that chain
on every event, and a chain a few hundred services deep overflows Python's stack. Here a call
is one object: each event it waits for (a core or worker granted, a CPU burst or delay over)
calls one of its methods, which does the step's bookkeeping and schedules the next event. A
downstream call is a new object that tells its parent when it is done, so depth costs nothing.
Work that finishes without waiting is run directly, up to ``MAX_NESTING`` nested calls, then
handed to the event queue, so no chain of zero-cost calls can recurse without bound.

A leg is a flat tuple of compiled ``Step``s (``Engine.legs``): one per (nodes, service), not per
pod pair; a step of a pod's own proxy (a sidecar, a waypoint pod) names its *role* (caller,
callee, waypoint) and the call binds the pod's ``Proxy`` (workers, usage, activity) when it
starts. Per-hop statistics go to a plain list per hop kind (wait, service pairs) that the
recorder bins in blocks (``RunRecorder.flush_hops``).

The cheapest SimPy event is no new object: a call (or telemetry) *is* the event it waits for.
``Waiter.sleep`` sets its ``callbacks`` to a constant one-item list naming what runs next and
puts it on the event queue with ``Environment.schedule``, as ``Timeout`` does; a pool grants a
waiting one by calling its ``succeed``. SimPy's loop needs nothing more of an event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import simpy

from meshsim.components import KERNEL, WIRE
from meshsim.pool import Pool
from meshsim.random import Sampler
from meshsim.recorder import Token, Usage

if TYPE_CHECKING:
    from meshsim.topology import Pod

Engine = Any  # meshsim.engine.Engine (not imported: the engine imports this module)

MAX_NESTING = 32  # calls started or finished directly inside one another before deferring
FIXED, CALLER, CALLEE, WAYPOINT = -1, 0, 1, 2  # whose proxy a step runs in


@dataclass(slots=True)
class Activity:
    """Whether a component is working now, for the wake-up delay of an idle one."""

    active: int = 0  # messages it is working on now
    idle_since: float = float("-inf")


@dataclass(slots=True)
class Proxy:
    """The per-pod (or per-node) state of a proxy or app that steps bind at call time."""

    name: str
    usage: Usage
    activity: Activity = field(default_factory=Activity)
    workers: Pool | None = None


class Step:
    """One step of a leg, with everything the hot loop needs resolved in advance."""

    __slots__ = (
        "after_s",
        "component",
        "cores",
        "cpu_s",
        "handshake_s",
        "hop",
        "kind",
        "latency_s",
        "op",
        "proxy",
        "role",
        "serialise_s",
        "stats",
        "usage",
        "variation",
        "wakeup_s",
        "wire",
    )

    def __init__(
        self,
        op: int,
        hop: str,
        cores: Pool,
        stats: list[float],
        *,
        usage: Usage | None = None,
        proxy: Proxy | None = None,
        role: int = FIXED,
        kind: str = "",
        component: str = "",
        cpu_s: float = 0.0,
        handshake_s: float = 0.0,
        after_s: float = 0.0,
        latency_s: float = 0.0,
        wakeup_s: float = 0.0,
        variation: Sampler | None = None,
        wire: Sampler | None = None,
        serialise_s: float = 0.0,
    ) -> None:
        self.op, self.hop, self.cores, self.stats = op, hop, cores, stats
        self.usage, self.proxy, self.role, self.kind = usage, proxy, role, kind
        self.component = component  # a fixed proxy's or kernel's name ("" for a role)
        self.cpu_s, self.handshake_s, self.after_s = cpu_s, handshake_s, after_s
        self.latency_s, self.wakeup_s, self.variation = latency_s, wakeup_s, variation
        self.wire, self.serialise_s = wire, serialise_s


Legs = tuple[tuple[Step, ...], tuple[Step, ...]]


class Parent:
    """What waits for calls: an app's handler, or a root request."""

    __slots__ = ()

    def child_done(self) -> None:
        raise NotImplementedError


class Root(Parent):
    """One request of the load generator: its own work, then the entry call, then done."""

    __slots__ = ("e", "then", "token")

    def __init__(self, e: Engine, then: Callable[[], None] | None) -> None:
        self.e = e
        self.then = then

    def start(self) -> None:
        if self.e.client_cpu_s > 0:
            self.e.client_work(self.send)
        else:
            self.send()

    def send(self) -> None:
        e = self.e
        self.token = e.recorder.arrive()
        e.call(e.topo.client, e.sc.workload.entry, self.measured(self.token), self, 0).start()

    def measured(self, token: Token) -> Any:
        return token.measured

    def child_done(self) -> None:
        self.e.recorder.depart(self.token)
        if self.then is not None:
            self.then()


class Waiter:
    """Something that is its own SimPy event while it waits (see the module docstring)."""

    __slots__ = ("callbacks", "env")
    _ok = True  # what SimPy's loop checks of a processed event

    def sleep(self, delay: float, then: list[Any]) -> None:
        """Run ``then[0](self)`` after ``delay`` seconds (0: later at this instant)."""
        self.callbacks = then
        self.env.schedule(self, NORMAL, delay)

    def succeed(self) -> None:
        """Granted by a pool (``Pool.take``): run the callbacks already set."""
        self.env.schedule(self, NORMAL, 0)


NORMAL = simpy.events.NORMAL


class Call(Waiter, Parent):
    """One call from ``caller`` to a pod of ``service``: request leg, the callee's handler (its
    own work, then its downstream calls, step by step), response leg. ``repeat`` more calls to
    the same service follow it before ``parent`` hears."""

    __slots__ = (
        "app",
        "app_arrived",
        "app_cpu",
        "app_got",
        "app_wake",
        "arrived",
        "asked",
        "balancer",
        "callee",
        "caller",
        "calls_at",
        "cpu",
        "duration",
        "e",
        "got_worker",
        "i",
        "leg",
        "legs",
        "measured",
        "new_conn",
        "parent",
        "pending",
        "proxies",
        "proxy",
        "repeat",
        "response",
        "sent",
        "service",
        "step",
        "waited",
        "wake",
    )

    def __init__(
        self, e: Engine, caller: Pod, service: str, measured: Any, parent: Parent, repeat: int
    ) -> None:
        self.e = e
        self.env = e.env
        self.caller = caller
        self.service = service
        self.measured = measured
        self.parent = parent
        self.repeat = repeat

    # --- the call ----------------------------------------------------------------------

    def start(self) -> None:
        e = self.e
        waypoint = e.waypoint(self.caller, self.service)
        self.callee, self.balancer = e.pick(self.caller, self.service, waypoint)
        self.begin(waypoint)

    def begin(self, waypoint: Pod | None) -> None:
        """Bind the legs and proxies of the chosen pods and send the request."""
        e, caller, callee = self.e, self.caller, self.callee
        self.legs = e.legs(caller, callee, waypoint, self.service)
        pods = e.pod_proxy
        self.proxies = (
            pods.get(caller.name),
            pods.get(callee.name),
            pods.get(waypoint.name) if waypoint is not None else None,
        )
        self.new_conn = e.new_connection() * e.requests_per_connection < 1.0
        self.sent = self.env.now
        self.leg = self.legs[0]
        self.i = 0
        self.response = False
        self.walk()

    def finish(self) -> None:
        """The response is back at the caller."""
        self.balancer.release(self.callee, self.env.now - self.sent)
        self.done()

    def done(self) -> None:
        e = self.e
        if self.repeat:
            following = e.call(
                self.caller, self.service, self.measured, self.parent, self.repeat - 1
            )
            e.run_soon(following.start)
        else:
            e.run_soon(self.parent.child_done)

    # --- legs --------------------------------------------------------------------------

    def walk(self) -> None:
        """Start the next step of the current leg (wire steps with no delay run through);
        ``i`` is then the step after it, where the step's last callback resumes the walk."""
        leg, env = self.leg, self.env
        i = self.i
        while i < len(leg):
            s = leg[i]
            i += 1
            op = s.op
            if op == WIRE:
                delay = s.wire() + s.serialise_s  # type: ignore[misc]
                if self.measured:
                    stats = s.stats
                    stats.append(0.0)
                    stats.append(delay)
                if delay > 0:
                    self.i = i
                    self.callbacks = _WALK
                    env.schedule(self, NORMAL, delay)
                    return
                continue
            self.i = i
            self.step = s
            self.arrived = env.now
            if op == KERNEL:
                self.cpu = s.cpu_s
                if s.cores.take(self):
                    self.callbacks = _KERNEL_DONE
                    env.schedule(self, NORMAL, s.cpu_s)
                else:
                    self.callbacks = _KERNEL_GRANTED
                return
            self.enter_proxy(s, self.new_conn and not self.response)
            return
        self.i = i
        if self.response:
            self.finish()
        else:
            self.handle()

    def enter_proxy(self, s: Step, new_conn: bool) -> None:
        proxy = s.proxy if s.role < 0 else self.proxies[s.role]
        self.proxy = proxy
        cpu = s.cpu_s * s.variation() if s.variation is not None else s.cpu_s
        if new_conn:
            cpu += s.handshake_s
        if proxy.workers.take(self):  # type: ignore[union-attr]
            self.cpu = cpu + s.wakeup_s  # an idle worker woke up for this message alone
            self.proxy_worker()
        else:
            self.cpu = cpu  # handed over by a busy worker: no new wake-up
            self.callbacks = _PROXY_WORKER

    def kernel_granted(self) -> None:
        self.callbacks = _KERNEL_DONE
        self.env.schedule(self, NORMAL, self.cpu)

    def kernel_done(self) -> None:
        s = self.step
        s.cores.release()
        s.usage.cpu_s += self.cpu  # type: ignore[union-attr]
        if self.measured:
            stats = s.stats
            stats.append(self.env.now - self.arrived - self.cpu)
            stats.append(self.cpu)
        self.walk()

    def proxy_worker(self) -> None:
        e = self.e
        now = self.env.now
        self.got_worker = now
        activity = self.proxy.activity
        if activity.active == 0 and now - activity.idle_since >= e.idle_after_s:
            self.wake = e.wakeup_s
        else:
            self.wake = 0.0
        activity.active += 1
        if self.step.cores.take(self):
            self.callbacks = _PROXY_DONE
            self.env.schedule(self, NORMAL, self.cpu + self.wake)
        else:
            self.callbacks = _PROXY_GRANTED

    def proxy_granted(self) -> None:
        self.callbacks = _PROXY_DONE
        self.env.schedule(self, NORMAL, self.cpu + self.wake)

    def proxy_done(self) -> None:
        s, proxy = self.step, self.proxy
        s.cores.release()
        usage = proxy.usage
        usage.cpu_s += self.cpu
        activity = proxy.activity
        activity.active -= 1
        now = self.env.now
        if activity.active == 0:
            activity.idle_since = now
        if s.after_s > 0:
            Telemetry(self.env, s.cores, proxy, s.after_s, self.got_worker).start()
        else:
            proxy.workers.release()  # type: ignore[union-attr]
            usage.busy_s += now - self.got_worker
        if s.latency_s > 0:
            self.callbacks = _PROXY_LEFT
            self.env.schedule(self, NORMAL, s.latency_s)
        else:
            self.proxy_left()

    def proxy_left(self) -> None:
        s = self.step
        now = self.env.now
        self.proxy.usage.residence_s += now - self.arrived
        if self.measured:
            busy = self.cpu + self.wake + s.latency_s
            stats = s.stats
            stats.append(now - self.arrived - busy)
            stats.append(busy)
        self.walk()

    # --- the callee's handler ----------------------------------------------------------

    def handle(self) -> None:
        """The app's own work, then its downstream calls, step by step."""
        self.app_arrived = self.env.now
        app = self.app = self.e.apps[self.callee.name]
        if app.workers is None or app.workers.take(self):
            self.app_worker()
        else:
            self.callbacks = _APP_WORKER

    def app_worker(self) -> None:
        e = self.e
        now = self.env.now
        self.app_got = now
        duration = e.service_time[self.service]()
        cap = e.app_cap[self.service]
        cpu = duration if duration <= cap else cap  # components.app_cpu_s, inlined
        self.duration, self.app_cpu = duration, cpu
        self.app_wake = self.waited = 0.0
        if cpu > 0:
            self.asked = now
            activity = self.app.activity
            if activity.active == 0 and now - activity.idle_since >= e.idle_after_s:
                self.app_wake = e.wakeup_s
            activity.active += 1
            if e.cores[self.callee.node].take(self):
                self.callbacks = _APP_CPU_DONE
                self.env.schedule(self, NORMAL, cpu + self.app_wake)
            else:
                self.callbacks = _APP_GRANTED
            return
        self.app_after_cpu()

    def app_granted(self) -> None:
        self.waited = self.env.now - self.asked
        self.callbacks = _APP_CPU_DONE
        self.env.schedule(self, NORMAL, self.app_cpu + self.app_wake)

    def app_cpu_done(self) -> None:
        self.e.cores[self.callee.node].release()
        app = self.app
        app.usage.cpu_s += self.app_cpu
        activity = app.activity
        activity.active -= 1
        if activity.active == 0:
            activity.idle_since = self.env.now
        self.app_after_cpu()

    def app_after_cpu(self) -> None:
        if self.duration > self.app_cpu:
            self.callbacks = _APP_DONE
            self.env.schedule(self, NORMAL, self.duration - self.app_cpu)
        else:
            self.app_done()

    def app_done(self) -> None:
        e, app = self.e, self.app
        if app.workers is not None and not e.blocking[self.service]:
            app.workers.release()
            app.usage.busy_s += self.env.now - self.app_got
        if self.measured:
            stats = e.app_stats
            stats.append(self.app_got - self.app_arrived + self.waited)
            stats.append(self.duration + self.app_wake)
        self.calls_at = 0
        self.next_calls()

    def next_calls(self) -> None:
        """Start the next step of the callee's calls (its branches in parallel), or respond."""
        e = self.e
        plan = e.plans[self.service]
        while self.calls_at < len(plan):
            branches = [
                (service, count)
                for service, count, probability, draw in plan[self.calls_at]
                if draw is None or draw() < probability
            ]
            self.calls_at += 1
            if branches:
                self.pending = len(branches)
                callee, measured = self.callee, self.measured
                for service, count in branches:
                    e.run_soon(e.call(callee, service, measured, self, count - 1).start)
                return
        app = self.app
        if app.workers is not None and e.blocking[self.service]:
            app.workers.release()
            app.usage.busy_s += self.env.now - self.app_got
        self.respond()

    def child_done(self) -> None:
        self.pending -= 1
        if self.pending == 0:
            self.next_calls()

    def respond(self) -> None:
        self.leg = self.legs[1]
        self.i = 0
        self.response = True
        self.walk()


# what runs when a call's wait is over: constant lists, so waiting allocates nothing
_WALK = [Call.walk]
_KERNEL_GRANTED = [Call.kernel_granted]
_KERNEL_DONE = [Call.kernel_done]
_PROXY_WORKER = [Call.proxy_worker]
_PROXY_GRANTED = [Call.proxy_granted]
_PROXY_DONE = [Call.proxy_done]
_PROXY_LEFT = [Call.proxy_left]
_APP_WORKER = [Call.app_worker]
_APP_GRANTED = [Call.app_granted]
_APP_CPU_DONE = [Call.app_cpu_done]
_APP_DONE = [Call.app_done]


class Telemetry(Waiter):
    """A proxy's work after the response went out: its worker stays busy (Istio docs)."""

    __slots__ = ("after_s", "cores", "got_worker", "proxy")

    def __init__(
        self, env: simpy.Environment, cores: Pool, proxy: Proxy, after_s: float, got: float
    ) -> None:
        self.env, self.cores, self.proxy, self.after_s, self.got_worker = (
            env,
            cores,
            proxy,
            after_s,
            got,
        )

    def start(self) -> None:
        self.proxy.activity.active += 1
        if self.cores.take(self):
            self.sleep(self.after_s, _TELEMETRY_DONE)
        else:
            self.callbacks = _TELEMETRY_GRANTED

    def granted(self) -> None:
        self.sleep(self.after_s, _TELEMETRY_DONE)

    def done(self) -> None:
        self.cores.release()
        proxy = self.proxy
        usage = proxy.usage
        usage.cpu_s += self.after_s
        activity = proxy.activity
        activity.active -= 1
        now = self.env.now
        if activity.active == 0:
            activity.idle_since = now
        proxy.workers.release()  # type: ignore[union-attr]
        usage.busy_s += now - self.got_worker


_TELEMETRY_GRANTED = [Telemetry.granted]
_TELEMETRY_DONE = [Telemetry.done]
