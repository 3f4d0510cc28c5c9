"""What one replication observed, gathered while it runs (kept out of the model code).

The engine reports arrivals, departures and hop visits; the recorder keeps bounded-memory
statistics, the in-flight integral for Little's law, and the usage counters of every
component with snapshots that bracket the measurement window [end of warm-up, end of arrivals].
The engine adds to a component's counters as it works (a plain ``+=`` on a ``Usage`` it was
handed: the cheapest probe there is), and knows nothing else of the recorder's state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import simpy

from meshsim.stats import Histogram, HopStats

HOP_BLOCK = 8192  # values a hop buffer gathers before the engine's watchdog bins them
OBJECTIVE_MISSED = "objective missed"  # the stop reason of a run that cannot meet its objective


@dataclass(slots=True)
class Usage:
    """What one component consumed: CPU seconds, worker-held seconds, and time requests spent
    inside it (for its mean concurrency, by Little's law)."""

    cpu_s: float = 0.0
    busy_s: float = 0.0
    residence_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Token:
    started: float
    measured: bool


class RunRecorder:
    """Observes one replication in ``env``; ``components`` are the names usage is kept for."""

    def __init__(self, env: simpy.Environment, components: Iterable[str]) -> None:
        self.env = env
        self.usage = {name: Usage() for name in components}
        self.done = simpy.Event(self.env)
        self.stop_reason = ""
        self.latency = Histogram()
        self.hops: dict[str, HopStats] = {}
        self.hop_buffers: dict[str, list[float]] = {}  # (wait, service) pairs, not yet binned
        self.arrived = 0
        self.completed = 0
        self.failed = 0  # requests that ended in an error (events only: meshsim.operations)
        self.measured_arrived = 0
        self.measured_completed = 0
        self.in_flight = 0
        self._area = 0.0  # integral of requests in flight over the whole run
        self._window_area = 0.0
        self._last = 0.0
        self.latency_sum = 0.0  # of every request, for the exact conservation check
        self.window_start: float | None = None
        self.window_end: float | None = None
        self.arrivals_done_at: float | None = None
        self._usage_start: dict[str, Usage] = {}
        self._usage_end: dict[str, Usage] = {}
        self.end_time = 0.0

    # --- events from the engine --------------------------------------------------------

    def _advance(self) -> None:
        now = self.env.now
        span = (now - self._last) * self.in_flight
        self._area += span
        if self.window_start is not None and self.window_end is None:
            self._window_area += span
        self._last = now

    def arrive(self) -> Token:
        self._advance()
        self.in_flight += 1
        self.arrived += 1
        measured = self.window_start is not None and self.window_end is None
        if measured:
            self.measured_arrived += 1
        return Token(self.env.now, measured)

    def depart(self, token: Token) -> None:
        self._advance()
        self.in_flight -= 1
        self.completed += 1
        elapsed = self.env.now - token.started
        self.latency_sum += elapsed
        if token.measured:
            self.measured_completed += 1
            self.latency.record(elapsed)

    def fail(self, token: Token) -> None:
        """A request that ended in an error: out of flight, not in the latency histogram."""
        self._advance()
        self.in_flight -= 1
        self.failed += 1
        self.latency_sum += self.env.now - token.started

    def hop(self, kind: str, wait: float, service: float) -> None:
        buffer = self.hop_buffer(kind)
        buffer.append(wait)
        buffer.append(service)

    def hop_buffer(self, kind: str) -> list[float]:
        """The list a step of this hop kind appends its (wait, service) pairs to, in seconds:
        two appends are the cheapest record there is; ``flush_hops`` bins them in blocks."""
        buffer = self.hop_buffers.get(kind)
        if buffer is None:
            buffer = self.hop_buffers[kind] = []
        return buffer

    def flush_hops(self, at_least: int = 0) -> None:
        """Bin the pairs gathered since the last flush into each hop kind's histograms (only
        the buffers holding ``at_least`` values: binning has a fixed cost per block)."""
        for kind, buffer in self.hop_buffers.items():
            if buffer and len(buffer) >= at_least:
                stats = self.hops.get(kind)
                if stats is None:
                    stats = self.hops[kind] = HopStats()
                stats.record_pairs(buffer)
                buffer.clear()

    def start_window(self) -> None:
        self._advance()
        self.window_start = self.env.now
        self._usage_start = {k: replace(v) for k, v in self.usage.items()}

    def arrivals_ended(self) -> None:
        self._advance()
        self.arrivals_done_at = self.env.now
        if self.window_start is None:  # the run was shorter than its warm-up
            self.start_window()
        self.window_end = self.env.now
        self._usage_end = {k: replace(v) for k, v in self.usage.items()}

    def stop(self, reason: str) -> None:
        if not self.done.triggered:
            self.stop_reason = reason
            self.done.succeed()

    def finish(self) -> None:
        self.flush_hops()
        self._advance()
        self.end_time = self.env.now
        if self.window_start is None:
            self.start_window()
        if self.window_end is None:  # stopped before arrivals ended (saturation)
            self.window_end = self.env.now
            self._usage_end = {k: replace(v) for k, v in self.usage.items()}

    # --- derived -----------------------------------------------------------------------

    @property
    def window_s(self) -> float:
        assert self.window_start is not None and self.window_end is not None
        return self.window_end - self.window_start

    def usage_in_window(self) -> dict[str, Usage]:
        return {
            name: Usage(
                cpu_s=end.cpu_s - self._usage_start[name].cpu_s,
                busy_s=end.busy_s - self._usage_start[name].busy_s,
                residence_s=end.residence_s - self._usage_start[name].residence_s,
            )
            for name, end in self._usage_end.items()
        }

    @property
    def area(self) -> float:
        return self._area

    @property
    def window_area(self) -> float:
        return self._window_area


@dataclass(slots=True)
class Window:
    """What one time-series window saw: outcomes of requests that ended in it, and of attempts."""

    served: int = 0
    failed: int = 0
    retried: int = 0  # attempts that failed and were tried again
    latencies: list[float] = field(default_factory=list)  # served requests, s


class TimeSeries:
    """Per-window counts over the whole run (kept only when a scenario has events); the states
    (pods ready, proxies restarting, CPU by kind) are sampled at each window's end."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.windows: list[Window] = []
        self.states: list[dict[str, float]] = []

    def at(self, now: float) -> Window:
        index = int(now / self.window_s)
        while len(self.windows) <= index:
            self.windows.append(Window())
        return self.windows[index]

    def sample(self, state: dict[str, float]) -> None:
        self.states.append(state)
