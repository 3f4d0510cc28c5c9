"""What one replication observed, gathered while it runs (kept out of the model code).

The engine reports arrivals, departures and hop visits; the recorder keeps bounded-memory
statistics, the in-flight integral for Little's law, and usage snapshots that bracket the
measurement window [end of warm-up, end of arrivals].
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import simpy

from meshsim.stats import Histogram, HopStats

if TYPE_CHECKING:
    from meshsim.engine import Engine, Usage


@dataclass(frozen=True, slots=True)
class Token:
    started: float
    measured: bool


class RunRecorder:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.env = engine.env
        self.done = simpy.Event(self.env)
        self.stop_reason = ""
        self.latency = Histogram()
        self.hops: dict[str, HopStats] = {}
        self.arrived = 0
        self.completed = 0
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

    def hop(self, kind: str, wait: float, service: float) -> None:
        stats = self.hops.get(kind)
        if stats is None:
            stats = self.hops[kind] = HopStats()
        stats.record(wait, service)

    def start_window(self) -> None:
        self._advance()
        self.window_start = self.env.now
        self._usage_start = {k: replace(v) for k, v in self.engine.usage.items()}

    def arrivals_ended(self) -> None:
        self._advance()
        self.arrivals_done_at = self.env.now
        if self.window_start is None:  # the run was shorter than its warm-up
            self.start_window()
        self.window_end = self.env.now
        self._usage_end = {k: replace(v) for k, v in self.engine.usage.items()}

    def stop(self, reason: str) -> None:
        if not self.done.triggered:
            self.stop_reason = reason
            self.done.succeed()

    def finish(self) -> None:
        self._advance()
        self.end_time = self.env.now
        if self.window_start is None:
            self.start_window()
        if self.window_end is None:  # stopped before arrivals ended (saturation)
            self.window_end = self.env.now
            self._usage_end = {k: replace(v) for k, v in self.engine.usage.items()}

    # --- derived -----------------------------------------------------------------------

    @property
    def window_s(self) -> float:
        assert self.window_start is not None and self.window_end is not None
        return self.window_end - self.window_start

    def usage_in_window(self) -> dict[str, Usage]:
        from meshsim.engine import Usage

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
