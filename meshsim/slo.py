"""A latency objective, e.g. ``p99<=10ms``: read from ``--slo`` or a scenario's ``cost.slo``."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from meshsim.errors import ScenarioError

if TYPE_CHECKING:  # a run's histogram; the command line reads objectives without numpy
    from meshsim.stats import Histogram

_SLO = re.compile(
    r"^\s*(?P<stat>p50|p90|p99|p999|mean)\s*(?P<op><=|<)\s*"
    r"(?P<value>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(?P<unit>ms|us|s)\s*$"
)
_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3}
_QUANTILE = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "p999": 0.999}
_MARGIN = 1.02  # certainly_missed compares with 1.02 times the threshold


@dataclass(frozen=True)
class Slo:
    """A latency objective on one end-to-end statistic, e.g. ``p99<=10ms``."""

    statistic: str  # mean, p50, p90, p99, p999
    strict: bool  # '<' rather than '<='
    threshold_ms: float

    @classmethod
    def parse(cls, text: str, where: str = "--slo") -> Slo:
        """Read an objective; raises a ScenarioError naming ``where`` (the option)."""
        try:
            return cls.read(text)
        except ValueError as exc:
            raise ScenarioError(str(exc), where) from None

    @classmethod
    def read(cls, text: str) -> Slo:
        """Read an objective; raises ValueError (for a pydantic field validator)."""
        m = _SLO.match(text)
        if not m:
            raise ValueError(
                f"cannot read SLO {text!r}: expected STAT<=VALUE UNIT with STAT one of "
                "p50, p90, p99, p999, mean, and UNIT one of us, ms, s (e.g. p99<=10ms)"
            )
        threshold = float(m["value"]) * _UNIT_MS[m["unit"]]
        if not 0 < threshold < math.inf:
            raise ValueError(f"SLO threshold must be positive and finite: {text!r}")
        return cls(m["stat"], m["op"] == "<", threshold)

    def met(self, value_ms: float) -> bool:
        if math.isnan(value_ms):
            return False
        return value_ms < self.threshold_ms if self.strict else value_ms <= self.threshold_ms

    def certainly_missed(self, latency: Histogram, most: float) -> bool:
        """Is the objective missed by a run that has measured ``latency`` (seconds) so far and
        will measure at most ``most`` requests in all, whatever the rest of them take?

        A quantile q is missed once (1 - q) * ``most`` + 1 values lie above the threshold: the
        value of rank q * n then lies above it too, whatever the rounding of q * n (and the
        threshold has a margin of 2 %, so a bucket's edges cannot tip it either). The mean is
        missed once the sum so far exceeds ``most`` times the threshold. So a run stopped here
        fails as the whole run would."""
        threshold_s = self.threshold_ms / 1e3 * _MARGIN
        if self.statistic == "mean":
            return latency.sum() > threshold_s * most
        beyond = latency.count_beyond(threshold_s)
        return beyond >= (1 - _QUANTILE[self.statistic]) * most + 1

    def __str__(self) -> str:
        return f"{self.statistic}{'<' if self.strict else '<='}{self.threshold_ms:g}ms"
