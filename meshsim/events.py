"""Operations over time in the scenario language: rollouts, node failures, configuration pushes.

A scenario's ``events:`` list says *what happens when*; ``operations:`` says how the mesh reacts
(retry policy, endpoint propagation, the time-series window). ``meshsim.operations`` carries the
events out inside the simulation. Every field is strict and finite, and a scenario holds at most
``MAX_EVENTS`` events, so the cost of reading one is bounded.

Defaults and where they come from (read 2026; where a behaviour is not documented it is a
parameter, and says so):

- Envoy drain: on SIGTERM pilot-agent drains for ``terminationDrainDuration`` (default 5 s),
  then Envoy exits; during the drain it accepts no new inbound connections and serves the
  requests it holds (istio/istio#34855 lists the four settings and their defaults; Alibaba Cloud
  ASM, "Why do long-running requests fail after a sidecar is injected"). With
  ``EXIT_ON_ZERO_ACTIVE_CONNECTIONS`` (Istio >= 1.12) it exits once its active connections reach
  zero, checked every second, bounded by the grace period.
- Pod grace period: ``terminationGracePeriodSeconds`` defaults to 30 s, then SIGKILL
  (kubernetes.io, "Termination of Pods").
- Rolling updates: a Deployment's ``maxSurge``/``maxUnavailable`` default 25 %, surge rounded
  up and unavailable down, and 1 unavailable if both come to 0 (Kubernetes Deployment docs).
  Waypoints are Deployments with their own strategy. Rolling updates do not go through the
  eviction API, so PodDisruptionBudgets do not limit them; they limit node drains.
- ztunnel: a DaemonSet; Istio's chart rolls it with ``maxSurge: 1, maxUnavailable: 0``
  (istio/istio ``manifests/charts/ztunnel/templates/daemonset.yaml``). An upgrade touches a
  whole node at a time; the old instance keeps its connections until its grace period ends,
  then resets them (istio.io "Upgrade with Helm" for ambient; ambientmesh.io "Upgrading":
  "any connections active on the old instance will be terminated with a TCP RST").
- Retries: Istio's default route retry policy is 2 retries on
  ``connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes`` (503), to a
  different host (the ``previous_hosts`` predicate), seen in a proxy's config dump. Only an Envoy
  retries (a sidecar's outbound side, a waypoint); ztunnel does not retry requests.
- Unknown, so parameters: how long endpoint removal takes to reach callers
  (``endpoint_propagation_ms``), pod start-up and readiness times, and the CPU a proxy spends per
  configuration item on a push.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from meshsim.distributions import Constant, Distribution

MAX_EVENTS = 100
MAX_EVENT_TIME_S = 86_400.0

_PERCENT = re.compile(r"^(100|[1-9]?[0-9])%$")


def _count(value: int | str) -> int | str:
    pods = isinstance(value, int) and value >= 0
    if pods or (isinstance(value, str) and _PERCENT.match(value)):
        return value
    raise ValueError(f"a number of pods (0, 1, ...) or a percentage (0% to 100%), not {value!r}")


Count = Annotated[int | str, AfterValidator(_count)]
"""A number of pods, or a percentage of the replicas (``25%``) as Kubernetes writes it."""

RetryOn = Literal[
    "connect-failure",
    "refused-stream",
    "unavailable",
    "cancelled",
    "retriable-status-codes",
    "reset",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


def resolve(value: int | str, replicas: int, round_up: bool) -> int:
    """A count or percentage of ``replicas`` as a number of pods (Kubernetes rounds surge up
    and unavailability down)."""
    if isinstance(value, int):
        return value
    share = int(value[:-1]) * replicas / 100
    return math.ceil(share) if round_up else math.floor(share)


class Drain(_Strict):
    """How a component that is told to stop finishes what it holds."""

    termination_drain_s: float | None = Field(
        None,
        ge=0,
        le=3600,
        description="Envoy: terminationDrainDuration (Istio default 5 s); ztunnel: its drain "
        "before resetting connections (default: the grace period). null = the default",
    )
    grace_period_s: float = Field(
        30.0, ge=0, le=3600, description="terminationGracePeriodSeconds (Kubernetes default 30)"
    )
    exit_on_zero_active_connections: bool = Field(
        False, description="Envoy exits once it holds no request (checked every second)"
    )


class _Event(_Strict):
    at_s: float = Field(ge=0, le=MAX_EVENT_TIME_S, description="when it starts, s of sim time")


class RollingUpdate(_Event):
    """Replace every pod of a component kind, Kubernetes style.

    ``envoy``: in sidecar mode every app pod carrying a sidecar (the app restarts with it),
    Deployment by Deployment; in waypoint mode the waypoint Deployments; nothing in ambient
    without waypoints or in mode none. ``ztunnel``: the DaemonSet, node by node (ambient and
    waypoint modes). ``app``: one Deployment (``deployment``), in any mode.
    """

    type: Literal["rolling_update"] = "rolling_update"
    component: Literal["envoy", "ztunnel", "app"]
    deployment: str | None = Field(None, description="the app Deployment (component app)")
    max_surge: Count | None = Field(
        None, description="extra pods during the update; null = 25% (ztunnel: 1, its chart)"
    )
    max_unavailable: Count | None = Field(
        None, description="pods below the replicas; null = 25% (ztunnel: 0, its chart)"
    )
    parallel_deployments: int = Field(
        1, ge=1, le=1000, description="Deployments updated at once (envoy in sidecar mode)"
    )
    startup_ms: Distribution = Field(
        default_factory=lambda: Constant(value_ms=3000.0),
        description="from pod creation to its containers running (assumption: 3 s)",
    )
    readiness_ms: Distribution = Field(
        default_factory=lambda: Constant(value_ms=2000.0),
        description="from running to the readiness probe passing (assumption: 2 s)",
    )
    drain: Drain = Field(default_factory=Drain)


class NodeFailure(_Event):
    """A node stops: what runs on it dies at once. Callers keep sending to its pods until the
    node is marked NotReady (``detection_s``: kube-controller-manager's node-monitor grace period,
    40 s by default) and wait ``operations.connect_timeout_s`` for each such connection."""

    type: Literal["node_failure"] = "node_failure"
    node: str
    detection_s: float = Field(40.0, ge=0, le=3600)
    down_s: float = Field(60.0, gt=0, le=MAX_EVENT_TIME_S, description="until it is back")
    startup_ms: Distribution = Field(default_factory=lambda: Constant(value_ms=5000.0))


class NodeDrain(_Event):
    """``kubectl drain``: evict the node's app and waypoint pods through the eviction API, so a
    PodDisruptionBudget limits how many of a Deployment are down at once. The replacements
    start elsewhere in a real cluster; here each takes its old pod's place (placement is not
    re-run), so the drained node's CPU is still used by them."""

    type: Literal["node_drain"] = "node_drain"
    node: str
    pdb_max_unavailable: Count = Field(1, description="the PDB of every Deployment on the node")
    startup_ms: Distribution = Field(default_factory=lambda: Constant(value_ms=3000.0))
    readiness_ms: Distribution = Field(default_factory=lambda: Constant(value_ms=2000.0))
    drain: Drain = Field(default_factory=Drain)


class ConfigPush(_Event):
    """istiod restarts or pushes new configuration: every proxy spends CPU in proportion to the
    configuration it holds (``components.visible_config``)."""

    type: Literal["config_push"] = "config_push"
    istiod_restart: bool = Field(
        False,
        description="a restart rather than a push (recorded; proxies keep serving on their "
        "last configuration, so only the push's CPU is modelled)",
    )
    cpu_us_per_item: float = Field(
        50.0, ge=0, le=1e6, description="proxy CPU per service/workload it holds (assumption)"
    )
    cpu_us_base: float = Field(1000.0, ge=0, le=1e7, description="proxy CPU per push (assumption)")


Event = Annotated[RollingUpdate | NodeFailure | NodeDrain | ConfigPush, Field(discriminator="type")]


class RetryPolicy(_Strict):
    """What an Envoy (a sidecar's outbound side, a waypoint) does with a failed attempt."""

    attempts: int = Field(2, ge=0, le=10, description="retries after the first try (Istio: 2)")
    per_try_timeout_s: float | None = Field(
        None, gt=0, le=3600, description="caps a try's wait on an unresponsive peer; null = none"
    )
    retry_on: list[RetryOn] = Field(
        default_factory=lambda: [
            "connect-failure",
            "refused-stream",
            "unavailable",
            "cancelled",
            "retriable-status-codes",
        ],
        description="Istio's default; add 'reset' to retry requests cut in flight",
    )


class Operations(_Strict):
    """How the mesh reacts to events, and how the time series is cut."""

    retries: RetryPolicy = Field(default_factory=RetryPolicy)
    endpoint_propagation_ms: float = Field(
        500.0,
        ge=0,
        le=600_000,
        description="from a pod's termination to callers no longer picking it (assumption); "
        "meanwhile its new connections are refused",
    )
    connect_timeout_s: float = Field(10.0, gt=0, le=3600, description="Istio connectTimeout")
    window_s: float = Field(1.0, ge=0.01, le=3600, description="time-series window")


def check_events(events: list[object], nodes: set[str], services: set[str]) -> None:
    """Cross-field rules: known nodes and Deployments; raises IndexedError."""
    for i, event in enumerate(events):
        if isinstance(event, (NodeFailure, NodeDrain)) and event.node not in nodes:
            raise IndexedError(i, "node", f"unknown node {event.node!r}")
        if isinstance(event, RollingUpdate):
            if event.component == "app" and event.deployment not in services:
                raise IndexedError(i, "deployment", f"unknown Deployment {event.deployment!r}")
            if event.component != "app" and event.deployment is not None:
                raise IndexedError(i, "deployment", "only a rolling update of an app names one")


class IndexedError(ValueError):
    def __init__(self, index: int, field: str, message: str) -> None:
        super().__init__(message)
        self.loc = ("events", index, field)
