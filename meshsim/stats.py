"""Statistics collected while a simulation runs, in bounded memory.

``Histogram`` is a log-bucketed, mergeable histogram (the DDSketch idea, vectorised with
numpy): any quantile it returns is within ``RELATIVE_ERROR`` of a value in the right rank, and
its size does not grow with the number of values. Values are buffered and binned in blocks so a
``record`` is one list append.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from meshsim.errors import ScenarioError

RELATIVE_ERROR = 0.005
_GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
_LOG_GAMMA = math.log(_GAMMA)
_MIN = 1e-9  # seconds: values below count as zero
_OFFSET = math.ceil(math.log(_MIN) / _LOG_GAMMA)
_BUCKETS = math.ceil(math.log(1e6) / _LOG_GAMMA) - _OFFSET + 2  # up to ~11 days
_FLUSH = 4096


class Histogram:
    """Counts of values in log-spaced buckets, plus exact count, sum, min and max."""

    __slots__ = ("_buffer", "counts", "maximum", "minimum", "n", "total")

    def __init__(self) -> None:
        self.counts = np.zeros(_BUCKETS, dtype=np.int64)
        self._buffer: list[float] = []
        self.n = 0
        self.total = 0.0
        self.minimum = math.inf
        self.maximum = -math.inf

    def record(self, value: float) -> None:
        self._buffer.append(value)
        if len(self._buffer) >= _FLUSH:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        values = np.asarray(self._buffer)
        self._buffer = []
        self.record_array(values)

    def record_array(self, values: np.ndarray) -> None:
        """Record many values at once (a block gathered elsewhere)."""
        if values.size == 0:
            return
        self.n += values.size
        self.total += float(values.sum())
        self.minimum = min(self.minimum, float(values.min()))
        self.maximum = max(self.maximum, float(values.max()))
        self.counts += np.bincount(_bucket(values), minlength=_BUCKETS)

    def merge(self, other: Histogram) -> Histogram:
        self._flush()
        other._flush()
        self.counts += other.counts
        self.n += other.n
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        return self

    def times(self, k: int) -> Histogram:
        """A new histogram of the same distribution with every count ``k`` times (for a run
        that stands for k like it: ``meshsim.symmetry``)."""
        self._flush()
        out = Histogram()
        out.counts = self.counts * k
        out.n, out.total = self.n * k, self.total * k
        out.minimum, out.maximum = self.minimum, self.maximum
        return out

    @property
    def count(self) -> int:
        self._flush()
        return self.n

    def sum(self) -> float:
        """The sum of the values so far (the buffer summed apart, without binning it)."""
        return self.total + math.fsum(self._buffer)

    def mean(self) -> float:
        self._flush()
        return self.total / self.n if self.n else math.nan

    def count_beyond(self, value: float) -> int:
        """How many values lie in buckets wholly above ``value``'s own: each of them is above
        ``value``, and so is every quantile ``quantiles`` reads from one of those buckets.
        Read without binning the buffer, so asking changes no later figure, not even the
        rounding of ``total``."""
        index = int(_bucket(np.array([value]))[0])
        buffered = _bucket(np.asarray(self._buffer)) if self._buffer else np.zeros(0, np.int64)
        return int(self.counts[index + 1 :].sum()) + int((buffered > index).sum())

    def buckets(self) -> list[tuple[float, float, int]]:
        """The non-empty buckets as ``(lower, upper, count)``, values in ``]lower, upper]``;
        the outer edges narrowed to the exact minimum and maximum (for exporters)."""
        self._flush()
        out = []
        for i in np.flatnonzero(self.counts):
            lower = 0.0 if i == 0 else max(_GAMMA ** (i - 1 + _OFFSET), self.minimum)
            upper = min(_GAMMA ** (i + _OFFSET), self.maximum)
            out.append((float(min(lower, upper)), float(upper), int(self.counts[i])))
        return out

    def quantiles(self, qs: list[float]) -> list[float]:
        """Quantiles (0..1), interpolated linearly within the bucket that holds the rank (the
        bucket's edges narrowed to the exact minimum and maximum), so they move smoothly with
        the data instead of jumping from one bucket value to the next; each lies in the bucket
        of the value of that rank, so within one bucket width (about 2 * RELATIVE_ERROR)."""
        self._flush()
        if self.n == 0:
            return [math.nan] * len(qs)
        cumulative = np.cumsum(self.counts)
        out = []
        for q in qs:
            rank = min(float(self.n), max(0.0, q * self.n))
            i = int(np.searchsorted(cumulative, rank))
            i = min(i, _BUCKETS - 1)
            while self.counts[i] == 0:  # rank 0 sits before the first value
                i += 1
            if i == 0:
                out.append(0.0)
                continue
            lower = max(_GAMMA ** (i - 1 + _OFFSET), self.minimum)
            upper = min(_GAMMA ** (i + _OFFSET), self.maximum)
            before = float(cumulative[i - 1])
            fraction = (rank - before) / float(self.counts[i])
            out.append(lower + (upper - lower) * fraction)
        return out


def _bucket(values: np.ndarray) -> np.ndarray:
    """The bucket of each value: values in ]GAMMA^(i-1), GAMMA^i] (offset), zero below _MIN."""
    index = np.zeros(values.size, dtype=np.int64)
    positive = values > _MIN
    index[positive] = np.ceil(np.log(values[positive]) / _LOG_GAMMA).astype(np.int64) - _OFFSET
    np.clip(index, 0, _BUCKETS - 1, out=index)
    return index


@dataclass
class HopStats:
    """Queue wait and service time of every visit to one kind of hop."""

    wait: Histogram = field(default_factory=Histogram)
    service: Histogram = field(default_factory=Histogram)
    total: Histogram = field(default_factory=Histogram)

    def record(self, wait: float, service: float) -> None:
        wait = max(wait, 0.0)  # elapsed less busy time: a rounding error can make it -1e-17
        self.wait.record(wait)
        self.service.record(service)
        self.total.record(wait + service)

    def record_pairs(self, pairs: list[float]) -> None:
        """Record visits given as a flat list ``[wait, service, wait, service, ...]``."""
        values = np.asarray(pairs, dtype=float).reshape(-1, 2)
        wait, service = np.maximum(values[:, 0], 0.0), values[:, 1]  # no rounding below 0
        self.wait.record_array(wait)
        self.service.record_array(service)
        self.total.record_array(wait + service)


DEFAULT_PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)
MAX_PERCENTILES = 20


def percentile_key(percentile: float) -> str:
    """The column name of a percentile: 50 -> p50, 99.9 -> p999."""
    return "p" + f"{percentile:g}".replace(".", "")


def parse_percentiles(text: str) -> tuple[float, ...]:
    """``--percentiles 50,90,95,99,99.9``: sorted, unique, each strictly between 0 and 100."""
    values = set()
    for part in (p.strip() for p in text.split(",")):
        try:
            value = float(part)
        except ValueError:
            raise ScenarioError(f"not a number: {part!r}", field="--percentiles") from None
        if not 0 < value < 100:
            raise ScenarioError(f"{part} is not between 0 and 100", field="--percentiles")
        values.add(value)
    if not values or len(values) > MAX_PERCENTILES:
        raise ScenarioError(f"give 1 to {MAX_PERCENTILES} percentiles", field="--percentiles")
    keys = [percentile_key(v) for v in values]
    if len(set(keys)) < len(keys):
        raise ScenarioError("two percentiles share a column name", field="--percentiles")
    return tuple(sorted(values))


def confidence_interval(values: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean and a Student-t confidence interval over independent replications."""
    arr = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if arr.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(arr.mean())
    if arr.size < 2:
        return mean, math.nan, math.nan
    from scipy.special import stdtrit  # scipy.stats.t.ppf, without importing scipy.stats

    half = float(stdtrit(arr.size - 1, (1 + level) / 2) * arr.std(ddof=1) / math.sqrt(arr.size))
    return mean, mean - half, mean + half
