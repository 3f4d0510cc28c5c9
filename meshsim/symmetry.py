"""Symmetry: a fleet of N identical copies simulated as N/k copies on 1/k of the cluster.

A scenario whose ``fleets:`` expanded into N copies of a namespace (``shop-0`` ...
``shop-99``, services ``frontend-shop-0`` ...) behind shared services (a gateway) can be
simulated as m = N/k copies: every node pool's count, every shared service's replicas, the
load (open-loop rate, fortio qps and connections, a request count) and ``sim.max_in_flight``
divided by k, each zone keeping its share of the nodes and of every shared service's pods.
k is the largest factor of N that divides all of them (``reduce``; or the user's number of
copies). Results are scaled back (``scale``): latency distributions as they are; counts, CPU
and memory times k (``SCALED_FIELDS``, recorded with the result); proxy memory that grows with
the cluster (configuration: visible services, workloads, pods) recomputed for the full one.

A call into the fleet keeps its expanded form: the N calls of a step (``shop/frontend``, each
with probability p/N) stay N calls, call i going to copy i mod m. The number of copies a
request calls is then the same in distribution as in the full run (Binomial(N, p/N): for
p = 1 and N = 100, none 37 % of the time, two 18 %), and each copy receives 1/N of the calls.

Exact in distribution when the full cluster is k independent shares, each like the reduced
run: Poisson arrivals (a random split of a Poisson stream is Poisson), shared services picked
at random (a shared pod sees the same Poisson stream among G or G/k pods), and placement that
keeps each share's pods on its own nodes in the same pattern. meshsim's ``spread`` placement
does not do the last: in the full cluster every service spreads over all nodes, so the copies
share nodes and a call finds its callee on its own node about 1 time in (nodes per zone); on
1/k of the nodes, k times as often. Same-node calls cost less kernel CPU and wire time, so the
reduced run is an approximation biased that way; ``Reduction.approximations`` names the ones
that apply to a scenario (placement; least-request picks over fewer shared pods; two calls of
one request reaching one copy; constant or closed-loop arrivals; the load generator's CPU on
its node), the output states them, and the README's fleet section gives measured differences.

Refused (one line, ``NotSymmetric``): no fleet of N >= 2 identical copies; copies that differ,
call each other or another fleet; the load entering one copy; more than one fleet; services
or the load generator pinned to nodes; scenario events; explicit waypoints; Cilium L7 services;
the load generator in the mesh (its one proxy carries every copy's requests); in waypoint mode,
shared services called from inside the mesh (their namespace's one waypoint); shared services
calling the copies unevenly; and no factor k > 1 that divides everything above and keeps the
zones' shares (a shared service's pods per zone divisible by k).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from meshsim.domain import Kind, Mode
from meshsim.errors import ScenarioError
from meshsim.fleet import copy_name
from meshsim.scenario import Fortio, OpenLoop, Scenario, check_references

if TYPE_CHECKING:
    from meshsim.loader import LoadedScenario
    from meshsim.results import Replication, Result

OFF = "off"
AUTO = "auto"

SCALED_FIELDS = (
    "requests.arrived",
    "requests.completed",
    "requests.in_flight_at_end",
    "requests.measured",
    "requests.errors",
    "throughput_rps",
    "throughput_rps_ci95",
    "requested_rps",
    "resources_by_kind.vcpu",
    "resources_by_kind.memory_mib",
    "replications.throughput_rps",
    "replications.littles_law.mean_in_flight",
    "replications.littles_law.arrival_rate_rps",
    "replications.littles_law.rate_times_latency",
    "replications.conservation (counts and integrals)",
    "hops.csv visits",
    "resources.csv cpu_s, vcpu, memory_mib (each row: the simulated component and the k-1 "
    "it stands for)",
    "compare.csv throughput_rps, vcpu_*, memory_mib_*",
)
"""Fields multiplied by k. Not scaled: latency (mean, percentiles, intervals), hop waits and
service times, visits per request, utilisation, the verdict and its bottleneck."""

_COPY_NAMESPACE = re.compile(r"^(?P<fleet>[a-z0-9]([-a-z0-9]*[a-z0-9])?)-(?P<index>0|[1-9]\d*)$")


class NotSymmetric(ValueError):
    """Why a scenario cannot be simulated as fewer copies (one line)."""


@dataclass(frozen=True)
class Reduction:
    """The reduced scenario and how its results scale back to the full one."""

    full: LoadedScenario
    reduced: LoadedScenario
    fleet: str
    copies_total: int
    copies_simulated: int
    approximations: tuple[str, ...]

    @property
    def factor(self) -> int:
        return self.copies_total // self.copies_simulated

    def statement(self) -> str:
        """One sentence for the text output and the report."""
        k = self.factor
        how = (
            "exact in distribution"
            if not self.approximations
            else "approximate: " + "; ".join(self.approximations)
        )
        return (
            f"symmetry: simulated {self.copies_simulated} of {self.copies_total} copies of "
            f"fleet {self.fleet} on 1/{k} of the nodes and load; counts, CPU and memory "
            f"scaled x{k}, latency as simulated; {how}"
        )

    def record(self) -> dict[str, Any]:
        """The provenance block (summary.json ``provenance.symmetry``)."""
        return {
            "copies_simulated": self.copies_simulated,
            "copies_total": self.copies_total,
            "fleet": self.fleet,
            "factor": self.factor,
            "scaled_fields": list(SCALED_FIELDS),
            "exact": not self.approximations,
            "approximations": list(self.approximations),
            "statement": self.statement(),
        }


def not_reduced(reason: str) -> dict[str, Any]:
    """The provenance block of a run that asked for symmetry and simulated every copy."""
    return {
        "copies_simulated": None,
        "copies_total": None,
        "scaled_fields": [],
        "note": f"symmetry: every copy simulated: {reason}",
    }


def decide(
    loaded: LoadedScenario,
    request: str | int,
    engine: str = "des",
    modes: tuple[str, ...] | None = None,
) -> tuple[Reduction | None, str]:
    """The reduction ``--symmetry`` asks for, or None and why not.

    ``request``: ``off``; ``auto`` (the largest reduction; else the full run and a note); or
    a number of copies to simulate (refused with ScenarioError if it cannot be done). With
    ``modes`` (a comparison) the reduction must hold in every mode."""
    if request == OFF:
        return None, ""
    explicit = request != AUTO
    try:
        if engine != "des":
            raise NotSymmetric(f"the {engine} engine solves every copy; symmetry reduces the DES")
        first, *rest = modes or (loaded.scenario.mesh.mode,)
        base = _in_mode(loaded, first)
        if explicit and int(request) == len(_the_fleet(base.scenario)[1]):
            return None, ""  # every copy: the full run, as asked
        reduction = reduce(base, int(request) if explicit else None)
        for mode in rest:  # a comparison: the same reduction must hold in every mode
            reduce(_in_mode(loaded, mode), reduction.copies_simulated)
        return reduction, ""
    except NotSymmetric as exc:
        if explicit:
            raise ScenarioError(f"cannot simulate {request} copies: {exc}", "--symmetry") from None
        return None, str(exc)


def _in_mode(loaded: LoadedScenario, mode: str) -> LoadedScenario:
    if mode == loaded.scenario.mesh.mode:
        return loaded
    return loaded.replace(mesh={"mode": mode})


# --- the reduced scenario -------------------------------------------------------------------


def reduce(loaded: LoadedScenario, copies: int | None = None) -> Reduction:
    """The scenario as ``copies`` copies (default: as few as divide evenly). Raises
    NotSymmetric with a one-line reason."""
    sc = loaded.scenario
    fleet, members = _the_fleet(sc)
    n = len(members)
    _check_copies(sc, fleet, members)
    shared = [name for name in sc.services if not _in_fleet(name, members)]
    _check_shared(sc, fleet, members, shared)
    factors = _divisible(sc, n, shared)
    if copies is None:
        common = math.gcd(*(value for _, value in factors))
        if common == 1:
            raise NotSymmetric(_no_factor(n, factors))
        fits = [d for d in range(common, 1, -1) if common % d == 0 and not _zones(sc, shared, d)]
        if not fits:
            raise NotSymmetric(_zones(sc, shared, min(_divisors(common))))
        k = fits[0]
    else:
        if copies < 1 or n % copies:
            raise NotSymmetric(f"{copies} does not divide the {n} copies of fleet {fleet}")
        k = n // copies
        stuck = [what for what, value in factors if value % k]
        if stuck:
            raise NotSymmetric(f"{', '.join(stuck)} not divisible by {k}")
        if why := _zones(sc, shared, k):
            raise NotSymmetric(why)
    m = n // k
    reduced = _reduced_scenario(sc, fleet, members, k)
    return Reduction(
        full=loaded,
        reduced=dataclasses.replace(loaded, scenario=reduced),
        fleet=fleet,
        copies_total=n,
        copies_simulated=m,
        approximations=tuple(_approximations(sc, fleet, shared, n, k)),
    )


def _the_fleet(sc: Scenario) -> tuple[str, list[list[str]]]:
    """The one fleet of the scenario: its name, and per copy (0..N-1) its services."""
    by_namespace: dict[str, list[str]] = {}
    for name, svc in sc.services.items():
        by_namespace.setdefault(svc.namespace, []).append(name)
    fleets: dict[str, dict[int, list[str]]] = {}
    for namespace, names in by_namespace.items():
        match = _COPY_NAMESPACE.match(namespace)
        if match and all(n.endswith(f"-{namespace}") and n != f"-{namespace}" for n in names):
            fleets.setdefault(match["fleet"], {})[int(match["index"])] = names
    fleets = {f: copies for f, copies in fleets.items() if len(copies) > 1}
    if not fleets:
        raise NotSymmetric("no fleet of two or more copies (namespaces FLEET-0, FLEET-1, ...)")
    if len(fleets) > 1:
        raise NotSymmetric(
            f"several fleets ({', '.join(sorted(fleets))}); one is reduced, not more"
        )
    fleet, copies = next(iter(fleets.items()))
    if sorted(copies) != list(range(len(copies))):
        raise NotSymmetric(f"the copies of fleet {fleet} are not numbered 0..{len(copies) - 1}")
    return fleet, [copies[i] for i in range(len(copies))]


def _in_fleet(name: str, members: list[list[str]]) -> bool:
    return any(name in copy for copy in members)


def _owners(members: list[list[str]]) -> dict[str, int]:
    """The copy each fleet service belongs to."""
    return {name: i for i, copy in enumerate(members) for name in copy}


def _called(sc: Scenario) -> set[str]:
    """Every service some service calls (inside the mesh, unlike the load generator's entry)."""
    return {c.service for s in sc.services.values() for step in s.calls for c in step}


def _nodes_per_zone(sc: Scenario) -> dict[str, int]:
    per_zone: dict[str, int] = {}
    for pool in sc.cluster.nodes:
        per_zone[pool.zone] = per_zone.get(pool.zone, 0) + pool.count
    return per_zone


def _template(name: str, fleet: str, index: int) -> str:
    return name.removesuffix(f"-{fleet}-{index}")


def _check_copies(sc: Scenario, fleet: str, members: list[list[str]]) -> None:
    """Every copy the same as copy 0, once its names are its template's."""
    templates = sorted(_template(n, fleet, 0) for n in members[0])
    owner = _owners(members)
    first: dict[str, dict[str, Any]] = {}
    for i, copy in enumerate(members):
        if sorted(_template(n, fleet, i) for n in copy) != templates:
            raise NotSymmetric(f"copy {fleet}-{i} has other services than copy {fleet}-0")
        for t in templates:
            svc = sc.services[copy_name(t, fleet, i)]
            if svc.nodes is not None:
                raise NotSymmetric(f"{copy_name(t, fleet, i)} is pinned to nodes")
            doc = svc.model_dump(mode="json", exclude={"namespace", "calls"})
            calls = []
            for step in svc.calls:
                for call in step:
                    target = owner.get(call.service)
                    if target is not None and target != i:
                        raise NotSymmetric(
                            f"copies call each other ({copy_name(t, fleet, i)} calls "
                            f"{call.service})"
                        )
                    name = _template(call.service, fleet, i) if target == i else call.service
                    calls.append((name, target == i, call.probability, call.count))
                calls.append(("|", False, 0.0, 0))  # the end of a step
            doc["calls"] = calls
            if i == 0:
                first[t] = doc
            elif doc != first[t]:
                differ = sorted(key for key in doc if doc[key] != first[t].get(key))
                raise NotSymmetric(
                    f"copy {fleet}-{i} differs from copy {fleet}-0 ({t}: {', '.join(differ)})"
                )


def _check_shared(sc: Scenario, fleet: str, members: list[list[str]], shared: list[str]) -> None:
    """Shared services call every copy alike, the load enters a shared service, and nothing
    that cannot be divided carries every copy's traffic."""
    if sc.workload.entry not in shared:
        raise NotSymmetric(f"the load enters one copy ({sc.workload.entry})")
    if sc.events:
        raise NotSymmetric("the scenario has events (operations over time)")
    if sc.mesh.waypoints:
        raise NotSymmetric("mesh.waypoints are listed (explicit waypoints are not divided)")
    if sc.mesh.cilium.l7_services:
        raise NotSymmetric("mesh.cilium.l7_services are listed")
    if sc.workload.client.node is not None:
        raise NotSymmetric("the load generator is pinned to a node")
    if sc.workload.client.in_mesh and sc.mesh.mode != Mode.NONE:
        raise NotSymmetric(
            "the load generator is in the mesh: its one proxy carries every copy's requests"
        )
    owner = _owners(members)
    called = _called(sc)
    for name in shared:
        svc = sc.services[name]
        if svc.nodes is not None:
            raise NotSymmetric(f"{name} is pinned to nodes")
        if sc.mesh.mode == Mode.WAYPOINT and name in called:
            raise NotSymmetric(
                f"{name} is shared and called inside the mesh: the one waypoint of its "
                "namespace carries every copy's calls"
            )
        for s, step in enumerate(svc.calls):
            per_copy: list[Counter] = [Counter() for _ in members]
            for call in step:
                i = owner.get(call.service)
                if i is not None:
                    key = (_template(call.service, fleet, i), call.probability, call.count)
                    per_copy[i][key] += 1
            if any(c != per_copy[0] for c in per_copy[1:]):
                raise NotSymmetric(f"{name} calls the copies of fleet {fleet} unevenly (step {s})")


def _divisible(sc: Scenario, n: int, shared: list[str]) -> list[tuple[str, int]]:
    """Everything that must divide by k, named: the copies first."""
    out = [(f"the {n} copies", n)]
    out += [(f"node pool {p.name} ({p.count} nodes)", p.count) for p in sc.cluster.nodes]
    out += [(f"{s} ({sc.services[s].replicas} replicas)", sc.services[s].replicas) for s in shared]
    if sc.cluster.shared_cores is not None:
        out.append((f"cluster.shared_cores ({sc.cluster.shared_cores})", sc.cluster.shared_cores))
    gen = sc.workload.generator
    if isinstance(gen, Fortio):
        out.append((f"fortio connections ({gen.connections})", gen.connections))
    if sc.workload.requests is not None:
        out.append((f"workload.requests ({sc.workload.requests})", sc.workload.requests))
    return out


def _divisors(n: int) -> list[int]:
    return [d for d in range(2, n + 1) if n % d == 0]


def _zones(sc: Scenario, shared: list[str], k: int) -> str:
    """Why 1/k of each shared service would not split over the zones as the whole does, or
    "". ``spread`` places a service's pods over zones in proportion to their nodes (fewest
    pods per node first), so a shared service of R pods has R x (zone's nodes / nodes) in a
    zone: each must divide by k. Where the whole split is uneven already, 1/k must still keep
    a pod per zone."""
    per_zone = _nodes_per_zone(sc)
    nodes = sum(per_zone.values())
    for name in shared:
        replicas = sc.services[name].replicas
        split = [replicas * count / nodes for count in per_zone.values()]
        if all(c.is_integer() for c in split):
            if any(int(c) % k for c in split):
                shown = ", ".join(f"{c:g}" for c in split)
                return (
                    f"{name}'s pods per zone ({shown}) do not divide by {k}: the load "
                    "generator and other callers would cross zones in other proportions"
                )
        elif replicas // k < len(per_zone):
            return f"1/{k} of {name}'s {replicas} pods leaves a zone without one"
    return ""


def _no_factor(n: int, factors: list[tuple[str, int]]) -> str:
    """Which fields leave no common factor with the copies, in one line."""
    common, blocking = n, []
    for what, value in factors[1:]:
        reduced = math.gcd(common, value)
        if reduced < common:
            blocking.append(what)
            common = reduced
    return (
        f"the {n} copies, {' and '.join(blocking)} have no common factor > 1 (node pools, "
        "shared services' replicas and the load must divide by it)"
    )


def _reduced_scenario(sc: Scenario, fleet: str, members: list[list[str]], k: int) -> Scenario:
    m = len(members) // k
    raw = sc.model_dump(mode="json", exclude_unset=True)
    owner = _owners(members)
    services = {}
    for name, svc in raw["services"].items():
        i = owner.get(name)
        if i is not None and i >= m:
            continue
        if i is None:
            svc["replicas"] = sc.services[name].replicas // k
            svc["calls"] = [
                [{**c, "service": _to_copy(c["service"], owner, fleet, m)} for c in step]
                for step in svc.get("calls", [])
            ]
        services[name] = svc
    raw["services"] = services
    for pool, spec in zip(raw["cluster"]["nodes"], sc.cluster.nodes, strict=True):
        pool["count"] = spec.count // k
    if sc.cluster.shared_cores is not None:
        raw["cluster"]["shared_cores"] = sc.cluster.shared_cores // k
    workload, gen = raw["workload"], sc.workload.generator
    if isinstance(gen, OpenLoop):
        workload["generator"]["rate_rps"] = gen.rate_rps / k
    else:
        workload["generator"]["connections"] = gen.connections // k
        if gen.qps is not None:
            workload["generator"]["qps"] = gen.qps / k
    if sc.workload.requests is not None:
        workload["requests"] = sc.workload.requests // k
    raw.setdefault("sim", {})["max_in_flight"] = max(1, math.ceil(sc.sim.max_in_flight / k))
    if sc.cost.target_rate_rps is not None:
        raw.setdefault("cost", {})["target_rate_rps"] = sc.cost.target_rate_rps / k
    reduced = Scenario.model_validate(raw)
    check_references(reduced)
    return reduced


def _to_copy(service: str, owner: dict[str, int], fleet: str, m: int) -> str:
    """A shared service's call to copy i, sent to copy i mod m."""
    i = owner.get(service)
    if i is None:
        return service
    return copy_name(_template(service, fleet, i), fleet, i % m)


def _approximations(sc: Scenario, fleet: str, shared: list[str], n: int, k: int) -> list[str]:
    """What keeps the reduced run from being the full run in distribution, in words."""
    out = []
    per_zone = _nodes_per_zone(sc)
    nodes = sum(per_zone.values())
    zoned = any(s.prefer_same_zone for s in sc.services.values())
    fewest = min(per_zone.values())
    among = fewest if zoned else nodes
    out.append(
        f"placement: {sc.cluster.placement} puts the copies on shared nodes in the full "
        f"cluster ({nodes}); here a share has 1/{k} of them, so a call finds its callee on its "
        f"own node about {k}x as often (about 1 in {max(1, among // k)} in place of 1 in "
        f"{among}{' within a zone' if zoned else ''})"
    )
    uneven = [s for s in shared if (sc.services[s].replicas * fewest / nodes) % 1]
    if uneven:
        out.append(
            f"{', '.join(uneven)}: the pods do not split evenly over the zones, so 1/{k} of "
            "them split in other proportions"
        )
    called_inside = _called(sc)
    picked = [s for s in shared if s in called_inside]
    if picked:
        out.append(
            f"shared services called inside the mesh ({', '.join(picked)}) run 1/{k} of their "
            "pods: least-request and peak-EWMA picks pool fewer pods (random picks are exact)"
        )
    spreads = any(
        sum(c.service not in shared for c in step) > 1
        for s in shared
        for step in sc.services[s].calls
    )
    if spreads:
        out.append(
            f"the parallel calls of one request into fleet {fleet} go to {n // k} of {n} "
            "copies: as many calls in distribution, but two may reach the same copy"
        )
    gen = sc.workload.generator
    if isinstance(gen, Fortio):
        out.append(f"fortio's closed loop runs 1/{k} of its connections")
    elif gen.arrivals == "constant":
        out.append("constant arrivals: a share of an evenly spaced stream is not evenly spaced")
    if sc.workload.client.cpu_per_request_us > 0:
        out.append(f"the load generator's own CPU: 1/{k} of it on its node")
    return out


# --- scaling results back --------------------------------------------------------------------


def scale(result: Result, reduction: Reduction) -> Result:
    """The reduced run's result as the full scenario's: counts and totals times k, latency as
    simulated, proxy configuration memory recomputed for the full cluster."""
    k = reduction.factor
    full = reduction.full
    if result.mode != full.scenario.mesh.mode:
        full = full.replace(mesh={"mode": result.mode})
    extra, once = _components(result.loaded, full, reduction.fleet)
    reps = [_scale_replication(r, k, extra, once) for r in result.replications]
    return dataclasses.replace(result, loaded=full, replications=reps, symmetry=reduction.record())


def _components(
    reduced: LoadedScenario, full: LoadedScenario, fleet: str
) -> tuple[dict[str, float], set[str]]:
    """Per simulated component, the memory (MiB) its configuration adds in the full cluster
    (visible services, workloads, pods), by the component cost model; and the components the
    full cluster has once, not k times (the waypoints of the shared services' namespaces,
    which carry no fleet traffic: ``reduce`` refuses them otherwise)."""
    from meshsim.components import memory_mib
    from meshsim.topology import Topology

    small = Topology(reduced.scenario, reduced.params)
    big = Topology(full.scenario, full.params)

    def role(topo: Topology, component: Any) -> tuple[str, str | None]:
        pod = topo.pod_by_name.get(component.pod) if component.pod else None
        return component.kind, (pod.service if pod is not None else None)

    like: dict[tuple[str, str | None], Any] = {}
    for c in big.components():
        like.setdefault(role(big, c), c)
    extra = {}
    for c in small.components():
        twin = like.get(role(small, c))
        if twin is None:
            continue
        grown = memory_mib(full.scenario, full.params, big, twin, 0.0)
        extra[c.name] = grown - memory_mib(reduced.scenario, reduced.params, small, c, 0.0)
    copy_waypoint = re.compile(rf"waypoint-{re.escape(fleet)}-\d+")
    once = {
        c.name
        for c in small.components()
        if c.kind == Kind.WAYPOINT
        and not copy_waypoint.fullmatch(small.pod_by_name[str(c.pod)].service)
    }
    return extra, once


def _scale_replication(
    r: Replication, k: int, extra: dict[str, float], once: set[str]
) -> Replication:
    from meshsim.stats import HopStats

    resources = r.resources.copy()
    times = resources["component"].map(lambda name: 1 if name in once else k)
    memory = resources["memory_mib"].astype(float)
    memory = memory + resources["component"].map(extra).fillna(0.0)
    resources["memory_mib"] = memory * times
    resources["cpu_s"] = resources["cpu_s"] * times
    resources["vcpu"] = resources["vcpu"] * times
    hops = {
        kind: HopStats(h.wait.times(k), h.service.times(k), h.total.times(k))
        for kind, h in r.hops.items()
    }
    law = dict(r.littles_law)
    for key in ("mean_in_flight", "arrival_rate_rps", "rate_times_latency"):
        law[key] = law[key] * k
    return dataclasses.replace(
        r,
        hops=hops,
        resources=resources,
        arrived=r.arrived * k,
        completed=r.completed * k,
        in_flight=r.in_flight * k,
        measured_completed=r.measured_completed * k,
        littles_law=law,
        conservation={key: value * k for key, value in r.conservation.items()},
        requested_rps=None if r.requested_rps is None else r.requested_rps * k,
        failed=r.failed * k,
    )


def needed_factor(copies: int, over: float) -> int | None:
    """The smallest factor of ``copies`` at least ``over`` (how many times too much work a
    full run is), or None if even one copy is too much."""
    return next((k for k in range(max(2, math.ceil(over)), copies + 1) if copies % k == 0), None)


def advice(loaded: LoadedScenario, over: float) -> str:
    """What reduction would bring a full run ``over`` times too large within the limits."""
    try:
        _, members = _the_fleet(loaded.scenario)
    except NotSymmetric:
        return ""
    n = len(members)
    k = needed_factor(n, over)
    if k is None:
        return f"even one of the {n} copies is over the limit"
    for factor in (f for f in range(k, n + 1) if n % f == 0):  # the most copies that divide
        try:
            reduce(loaded, n // factor)
        except NotSymmetric:
            continue
        return f"--symmetry {n // factor} fits (or --symmetry auto)"
    return f"--symmetry {n // k} would fit, with node pools and shared replicas divisible by {k}"
