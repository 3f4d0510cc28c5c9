"""Bounded work: what a command would cost, estimated from its scenarios before it runs.

A scenario is small text, but ``duration_s: 1e308`` or ``replicas: 1000000`` asks for more
simulation than any machine has. Each command estimates its work first and refuses, in one
line that gives the estimate and the flag that raises the limit, what is over a limit:

- **events**: SimPy events over the whole command, about requests x calls per request x
  ``EVENTS_PER_CALL`` per replication, plus the run's watchdog ticks (``--max-events``);
- **components**: simulated processes held in memory at once, about pods x 2 (app and
  sidecar) + nodes (kernel, ztunnel) + waypoints + load-generator connections
  (``--max-components``);
- **tasks**: (point, replication) pairs of a sweep, counted before any point is built
  (``--max-tasks``).

The estimates are upper-end, not exact: they exist to refuse what cannot finish, not to
predict run times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from meshsim.errors import ScenarioError
from meshsim.scenario import Fortio, Scenario

EVENTS_PER_CALL = 32
"""SimPy events per call, measured: quickstart.yaml, waypoint mode, 31.8 (sidecar 26.6)."""
EVENTS_PER_SECOND = 400_000
"""Events one core simulates per second, measured on quickstart.yaml (for the message only)."""
MIN_REQUEST_S = 20e-6
"""A closed loop without a rate (fortio ``qps: null``) sends at most one request per this
long per connection."""
CAPACITY_RUNS_PER_MODE = 24  # capacity.search's max_runs

DEFAULT_MAX_EVENTS = 1_000_000_000  # about 40 minutes on one core
DEFAULT_MAX_COMPONENTS = 100_000
DEFAULT_MAX_TASKS = 10_000


@dataclass(frozen=True)
class Limits:
    """The limits a command runs under (``--max-events``, ``--max-components``, ...)."""

    max_events: float = DEFAULT_MAX_EVENTS
    max_components: float = DEFAULT_MAX_COMPONENTS
    max_tasks: float = DEFAULT_MAX_TASKS


def calls_per_request(sc: Scenario) -> float:
    """Expected calls per root request (the entry call included), from the call graph."""
    callers = {name: 0 for name in sc.services}
    for svc in sc.services.values():
        for step in svc.calls:
            for call in step:
                callers[call.service] += 1
    ready = [name for name, n in callers.items() if n == 0]
    visits = {name: 0.0 for name in sc.services}
    visits[sc.workload.entry] = 1.0
    while ready:  # topological order (Kahn): the graph is acyclic once validated
        name = ready.pop()
        for step in sc.services[name].calls:
            for call in step:
                visits[call.service] += visits[name] * call.probability * call.count
                callers[call.service] -= 1
                if callers[call.service] == 0:
                    ready.append(call.service)
    return sum(visits.values())


def requests(sc: Scenario) -> float:
    """Root requests one replication sends."""
    wl = sc.workload
    if wl.requests is not None:
        return float(wl.requests)
    return _rate_rps(sc) * (wl.duration_s or 0.0)


def _rate_rps(sc: Scenario) -> float:
    gen = sc.workload.generator
    if isinstance(gen, Fortio):
        return gen.qps if gen.qps is not None else gen.connections / MIN_REQUEST_S
    return gen.rate_rps


def replication_events(sc: Scenario, root_requests: float | None = None) -> float:
    """SimPy events of one replication: the calls, and the watchdog's ticks."""
    n = requests(sc) if root_requests is None else root_requests
    wl = sc.workload
    simulated_s = wl.duration_s if wl.duration_s is not None else n / _rate_rps(sc)
    tick_s = max(1e-3, (wl.duration_s or 1.0) / 200)  # engine.Engine._watch
    ticks = (simulated_s + sc.sim.drain_timeout_s) / tick_s
    return n * (calls_per_request(sc) * EVENTS_PER_CALL + 4) + ticks


def capacity_events(sc: Scenario, modes: int, replications: int, requests_per_point: int) -> float:
    """Events of a capacity search: every mode, up to ``CAPACITY_RUNS_PER_MODE`` short runs of
    about ``requests_per_point`` requests (a fortio run: 250 per connection at least)."""
    gen = sc.workload.generator
    n = requests_per_point
    if isinstance(gen, Fortio):
        n = max(n, 250 * gen.connections)
    per_run = n * (calls_per_request(sc) * EVENTS_PER_CALL + 4) + 400  # + the watchdog's ticks
    return modes * CAPACITY_RUNS_PER_MODE * replications * per_run


def replications(sc: Scenario, override: int | None = None) -> int:
    """Replications a run may take (up to max_replications with a precision rule)."""
    if override is not None:
        return override
    most = sc.sim.max_replications if sc.sim.precision_pct is not None else 0
    return max(sc.sim.replications, most)


def components(sc: Scenario) -> float:
    """Simulated components held in memory at once."""
    pods = sum(s.replicas for s in sc.services.values())
    waypoints = sum(w.replicas for w in sc.mesh.waypoints) or len(
        {s.namespace for s in sc.services.values()}
    )
    nodes = sum(pool.count for pool in sc.cluster.nodes)
    gen = sc.workload.generator
    connections = gen.connections if isinstance(gen, Fortio) else 0
    return 2 * pods + 2 * nodes + waypoints + connections


def analytic_legs(sc: Scenario) -> float:
    """Callee pods the analytic engine weighs, summed over caller pods and services: its
    work and memory grow with this (``meshsim.analytic``)."""
    pods = {name: s.replicas for name, s in sc.services.items()}
    waypoints = max([w.replicas for w in sc.mesh.waypoints] or [1])
    legs = float(pods[sc.workload.entry])
    for svc in sc.services.values():
        for step in svc.calls:
            for call in step:
                legs += svc.replicas * min(pods[call.service], ANALYTIC_CALLEES)
    return legs * waypoints


ANALYTIC_CALLEES = 8
"""The analytic engine weighs at most this many callee pods per caller pod and service."""
ANALYTIC_MAX_LEGS = 20_000_000
HYBRID_SHARE = 0.8
"""A hybrid capacity search runs about this share of the DES-only search's simulated requests
(measured on quickstart, 6 modes: 40 of 54 runs, 93,600 of 122,874 requests, 0.76;
benchmarks/README.md), rounded up: the estimate may be high, not low."""


def check(
    events: float, sc: Scenario, file: str, what: str, limits: Limits, engine: str = "des"
) -> None:
    """Refuse, in one line, a command whose estimated work is over a limit."""
    if engine == "analytic":
        legs = analytic_legs(sc)
        if legs > ANALYTIC_MAX_LEGS:
            raise ScenarioError(
                f"{what} would weigh about {legs:.3g} caller-callee pod pairs analytically, "
                f"over the limit of {ANALYTIC_MAX_LEGS:.3g}",
                file,
            )
        return
    parts = components(sc)
    if parts > limits.max_components:
        raise ScenarioError(
            f"{what} would hold about {parts:.3g} simulated components in memory, over the "
            f"limit of {limits.max_components:.3g}; use --engine analytic, or raise it with "
            "--max-components",
            file,
        )
    if not events <= limits.max_events:
        hours = events / EVENTS_PER_SECOND / 3600
        if math.isfinite(hours):
            estimate = f"about {events:.3g} events (roughly {hours:.3g} hours on one core)"
        else:
            estimate = "more events than a float can count"
        raise ScenarioError(
            f"{what} would simulate {estimate}, "
            f"over the limit of {limits.max_events:.3g}; use --engine analytic, shorten the "
            "run or raise the limit with --max-events",
            file,
        )


def check_tasks(tasks: float, file: str, limits: Limits) -> None:
    """Refuse a sweep of more (point, replication) tasks than the limit, before building any."""
    if tasks > limits.max_tasks:
        raise ScenarioError(
            f"the sweep has {tasks:.3g} tasks (points x replications), over the limit of "
            f"{limits.max_tasks:.3g}; raise it with --max-tasks",
            file,
        )
