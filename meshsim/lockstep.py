"""fortio's lockstep batch: the waits of B requests sent at the same instant.

fortio's connections are paced at the same period and, unless ``-uniform`` or ``-jitter``,
start together and stay in step: every period B requests (one per connection) leave at once.
A renewal-stream (M/G/c, QNA) view misses what that batch does: it queues at the first station,
leaves it c at a time, and builds queues again wherever its spread is shorter than a station's
work for it (a proxy that serves the batch's requests and its responses interleaved, a database
that all of them reach). Between batches the network drains, so at utilisation below 1 nearly
all queueing is within a batch.

The batch's waits come from its *mean-value trace*: the B members walk their paths through the
stations in time order, the whole call tree (a callee's calls step by step, the calls of one
step in parallel), each station a FIFO multi-server queue in the DES's order (a proxy takes a
worker, then a core; telemetry after the response keeps the worker; a blocking app keeps its
worker through its calls). With every time at its mean this is the batch's exact sample path:
at one c-server station the k-th of B simultaneous arrivals (k = 0..B-1) waits floor(k / c)
service times, the D^B/D/c queue of bulk-arrival theory (Chaudhry & Templeton, "A First Course
in Bulk Queues", Wiley 1983, ch. 3), and the departure times it gives are the next stations'
arrival times, as in Kiefer & Wolfowitz's workload recursion for FIFO multi-server queues
(Trans. AMS 78, 1955). What is random per request is dealt over the batch by descriptive
sampling (Saliby, J. Oper. Res. Soc. 41(12), 1990): a random duration (a wire, an app's
service, a proxy's CPU) as its B quantiles, a call of probability p to a share p of the
members, a callee pod to each member in proportion to its weight, each in a golden-ratio order
unrelated to the member's place in the batch. That spreads the batch as random delays do,
without sampling noise, and keeps the trace deterministic. A member's *wait* is its traced
latency less its own work and delays (its queueing, including a parallel step's longer
maximum); the caller (``meshsim.analytic``) adds the rest of the path's variability and takes
latency percentiles from the mixture over places in the batch.

The trace costs O(B x visits x log) and does not depend on the load; batches overlap only when
one batch has not finished before the next leaves, and then the trace runs consecutive batches
at the pacing period (``MAX_BATCHES`` at most).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

MAX_BATCHES = 8  # consecutive batches traced when one batch outlasts the pacing period
GOLDEN = (math.sqrt(5) - 1) / 2
SILVER = math.sqrt(2) - 1


@dataclass(frozen=True, slots=True)
class Visit:
    """One step of a batch member's path: optionally a worker (``pool``, a station index,
    -1 none) taken first, then a core (``core``) for ``cpu_s``; after the core, ``after_s`` more
    CPU while the worker is still held (telemetry: the member moves on), then ``held_s`` of
    delay still holding the worker (kept after the visit if ``keep``: an app blocking through
    its calls), then ``delay_s`` of delay without it (a wire, a proxy's non-CPU latency)."""

    core: int = -1
    cpu_s: float = 0.0
    pool: int = -1
    after_s: float = 0.0
    held_s: float = 0.0
    delay_s: float = 0.0
    hop: str = ""
    # a random duration: the batch's members take these values (its quantiles) in turn, as
    # CPU up to ``cap_s`` (none without a core) and the rest held; ``key`` names the step
    draws: tuple[float, ...] = ()
    cap_s: float = math.inf
    key: int = 0
    keep: bool = False


@dataclass(frozen=True, slots=True)
class Release:
    """The end of a blocking app's calls: its worker is free."""

    pool: int


@dataclass(frozen=True, slots=True)
class Fanout:
    """One step of a callee's calls, in parallel: branch (probability, count, edge) is made
    with that probability, as ``count`` calls in a row, each along a leg of ``edge`` from pod
    ``caller`` that the router picks; the step ends with its last branch."""

    branches: tuple[tuple[float, int, int], ...]
    caller: int
    key: int


Step = Visit | Release | Fanout
Path = list[Step]
Router = Callable[[int, int, float], Path]  # (edge, caller pod, u in [0, 1)) -> a call's path
Command = tuple[str, Any]  # ("wait", s) | ("get", station) | ("put", station) | ("join", _Join)
Member = Generator[Command, None, Any]


class _Join:
    """Parallel branches of one member: the member goes on when the last one ends."""

    __slots__ = ("left", "parent")

    def __init__(self) -> None:
        self.left = 0
        self.parent: Member | None = None


class _Trace:
    """Generators walking stations in time order: a tiny FIFO multi-server event loop."""

    def __init__(self, servers: list[int], route: Router | None) -> None:
        self.free = list(servers)
        self.queue: list[deque[Member]] = [deque() for _ in servers]
        self.events: list[tuple[float, int, Member]] = []
        self.now = 0.0
        self.seq = 0
        self.reached: dict[int, int] = {}  # members that have reached each random step
        self.route = route

    def spot(self, key: int) -> float:
        """A number in [0, 1) for the next member to reach step ``key``: the ranks are dealt
        in a Kronecker (golden-ratio) order, offset per step, so that a member's draws are
        unrelated to its place in the batch and to each other (descriptive sampling: Saliby,
        J. Oper. Res. Soc. 41(12), 1990), with no sampling noise."""
        rank = self.reached.get(key, 0)
        self.reached[key] = rank + 1
        return ((rank + 1) * GOLDEN + key * SILVER) % 1.0

    def draw(self, v: Visit) -> float:
        """The value of a random step for the next member to reach it (one of its quantiles)."""
        return v.draws[int(self.spot(v.key) * len(v.draws))]

    def start(self, at: float, member: Member) -> None:
        heapq.heappush(self.events, (at, self.seq, member))
        self.seq += 1

    def run(self) -> None:
        while self.events:
            self.now, _, member = heapq.heappop(self.events)
            self._advance(member)

    def _advance(self, member: Member) -> None:
        for op, arg in member:
            if op == "wait":
                if arg > 0:
                    self.start(self.now + arg, member)
                    return
            elif op == "get":
                if self.free[arg] > 0:
                    self.free[arg] -= 1
                else:
                    self.queue[arg].append(member)
                    return
            elif op == "put":  # hand the server to the longest waiter, at this instant
                if self.queue[arg]:
                    self.start(self.now, self.queue[arg].popleft())
                else:
                    self.free[arg] += 1
            else:  # join: wait for the member's parallel branches
                if arg.left:
                    arg.parent = member
                    return

    def done(self, join: _Join) -> None:
        join.left -= 1
        if not join.left and join.parent is not None:
            self.start(self.now, join.parent)


Batch = list[Path]  # a batch: one path per member
Outcome = tuple[list[float], list[dict[str, list[float]]]]  # per member: wait, waits per hop


def batch_waits(
    clean: Batch,
    servers: list[int],
    period_s: float,
    before: Batch | None = None,
    cache: dict | None = None,
    first: Batch | None = None,
    route: Router | None = None,
    catchup: bool = True,
) -> list[Outcome]:
    """The waits of batches sent ``period_s`` apart: per member, how much longer its
    request took than its own work and delays (its queueing, and a parallel step's longer
    maximum), and per hop kind the sum and the sum of squares of its waits there (one per
    visit). ``before[k]`` is work done before member k's clock starts (the load generator's
    own CPU), traced but not counted; ``route`` gives the path of each downstream call. Each
    member is one connection of a closed loop: it sends its next request at its next slot,
    or when its reply comes if that is later (``catchup``, fortio's default), else at the
    first slot after the reply.

    Without ``first``: one outcome, a batch of ``clean`` in the steady state (after the
    clean batches that still overlap it). With ``first``: that batch sent among clean ones
    (a member opening a connection), and the clean batches after it that start before it
    has finished (which it may still delay): one outcome per batch. ``cache`` keeps
    single-batch traces, which do not depend on the load, between calls (the caller keys it
    on whatever else the paths depend on)."""
    alone = _alone(clean, servers, before, cache, route)
    warm = _overlapping(alone, period_s)
    if first is None:
        if not warm:
            return [_outcome(alone)]
        sequence = [clean] * (warm + 1)
        return [_outcome(_trace(sequence, servers, period_s, before, route, catchup)[-1])]
    after = _overlapping(_alone(first, servers, before, cache, route), period_s)
    if not warm and not after:
        return [_outcome(_alone(first, servers, before, cache, route))]
    sequence = [clean] * warm + [first] + [clean] * after
    traced = _trace(sequence, servers, period_s, before, route, catchup)
    return [_outcome(b) for b in traced[warm:]]


Traced = list[tuple[float, float, dict[str, list[float]]]]  # per member: end, wait, per hop


def _alone(
    batch: Batch,
    servers: list[int],
    before: Batch | None,
    cache: dict | None,
    route: Router | None,
) -> Traced:
    """One batch sent into an empty network (cached by its content)."""
    distinct = {id(p): p for p in batch}  # members on one leg share their path's object
    key = (
        tuple(tuple(p) for p in distinct.values()),
        tuple(list(distinct).index(id(p)) for p in batch),
        tuple(servers),
        tuple(tuple(b) for b in before or ()),
    )
    found = cache.get(key) if cache is not None else None
    if found is None:
        found = _trace([batch], servers, 0.0, before, route)[0]
        if cache is not None:
            cache[key] = found
    return found


def _overlapping(traced: Traced, period_s: float) -> int:
    """How many later batches start before this one has finished (at most MAX_BATCHES)."""
    span = max(end for end, _, _ in traced)
    if period_s <= 0 or span <= period_s:
        return 0
    return min(MAX_BATCHES, math.ceil(span / period_s) - 1)


def _outcome(traced: Traced) -> Outcome:
    return [w for _, w, _ in traced], [h for _, _, h in traced]


def _trace(
    batches: list[Batch],
    servers: list[int],
    period_s: float,
    before: Batch | None,
    route: Router | None,
    catchup: bool = True,
) -> list[Traced]:
    """(completion time, wait, waits per hop) of each member of each batch, the batches due
    ``period_s`` apart (a member sends when its previous request is done, if later)."""
    trace = _Trace(servers, route)
    out: list[Traced] = [[(0.0, 0.0, {})] * len(paths) for paths in batches]

    def member(b: int, k: int) -> Member:
        for v in before[k] if before else ():
            yield from _visit(trace, v, {})
        started = trace.now
        waits: dict[str, list[float]] = {}
        own = yield from _walk(trace, batches[b][k], waits)
        out[b][k] = (trace.now - b * period_s, trace.now - started - own, waits)
        if b + 1 < len(batches):  # the connection's next request
            due = (b + 1) * period_s
            if trace.now > due:
                due = trace.now if catchup else math.ceil(trace.now / period_s) * period_s
            trace.start(due, member(b + 1, k))

    for k in range(len(batches[0])):
        trace.start(0.0, member(0, k))
    trace.run()
    return out


def _walk(trace: _Trace, path: Path, waits: dict[str, list[float]]) -> Member:
    """A path's steps in turn; returns the time they take without queueing."""
    own = 0.0
    for step in path:
        if isinstance(step, Visit):
            own += yield from _visit(trace, step, waits)
        elif isinstance(step, Release):
            yield ("put", step.pool)
        else:
            own += yield from _fanout(trace, step, waits)
    return own


def _fanout(trace: _Trace, f: Fanout, waits: dict[str, list[float]]) -> Member:
    """One step of parallel calls; returns the longest branch's time without queueing."""
    made = [
        (i, count, edge)
        for i, (p, count, edge) in enumerate(f.branches)
        if trace.spot(f.key + 2 * i) < p
    ]
    if len(made) == 1:  # one branch: walked in line
        i, count, edge = made[0]
        return (yield from _calls(trace, f, i, count, edge, waits))
    join, owns = _Join(), []
    for i, count, edge in made:
        join.left += 1
        trace.start(trace.now, _branch(trace, f, i, count, edge, waits, join, owns))
    yield ("join", join)
    return max(owns, default=0.0)


def _branch(
    trace: _Trace,
    f: Fanout,
    i: int,
    count: int,
    edge: int,
    waits: dict[str, list[float]],
    join: _Join,
    owns: list[float],
) -> Member:
    owns.append((yield from _calls(trace, f, i, count, edge, waits)))
    trace.done(join)


def _calls(
    trace: _Trace, f: Fanout, i: int, count: int, edge: int, waits: dict[str, list[float]]
) -> Member:
    """``count`` calls in a row along legs the router picks."""
    assert trace.route is not None
    own = 0.0
    for _ in range(count):
        path = trace.route(edge, f.caller, trace.spot(f.key + 2 * i + 1))
        own += yield from _walk(trace, path, waits)
    return own


def _visit(trace: _Trace, v: Visit, waits: dict[str, list[float]]) -> Member:
    """One visit, in the DES's order (``engine._walk``, ``engine._handle``); returns its
    time without queueing."""
    asked = trace.now
    cpu, held = v.cpu_s, v.held_s
    if v.draws:
        duration = trace.draw(v)
        cpu = min(duration, v.cap_s) if v.core >= 0 else 0.0
        held += duration - cpu
    if v.pool >= 0:
        yield ("get", v.pool)
    if v.core >= 0 and cpu > 0:
        yield ("get", v.core)
        waited = trace.now - asked
        yield ("wait", cpu)
        yield ("put", v.core)
    else:
        waited = trace.now - asked
    if waited > 0:
        tally = waits.setdefault(v.hop, [0.0, 0.0])
        tally[0] += waited
        tally[1] += waited * waited
    if v.pool >= 0 and v.after_s > 0:
        trace.start(trace.now, _after(v))
    else:
        yield ("wait", held)
        if v.pool >= 0 and not v.keep:
            yield ("put", v.pool)
    yield ("wait", v.delay_s)
    return (cpu if v.core >= 0 else 0.0) + held + v.delay_s


def _after(v: Visit) -> Member:
    """Telemetry after the response: a core for ``after_s``, then the worker is free."""
    yield ("get", v.core)
    yield ("wait", v.after_s)
    yield ("put", v.core)
    yield ("put", v.pool)
