"""Distributions of durations, written in milliseconds in a scenario, in seconds inside.

Like ciw's distributions, each one both samples and knows its mean and variance, so the same
object drives the simulation and the analytic checks (utilisation = rate x mean service time).
A plain number in YAML means a constant number of milliseconds; a duration (``2ms``,
``250us``) a constant of that length.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    model_validator,
)

from meshsim import quantity
from meshsim.domain import S_PER_MS

if TYPE_CHECKING:  # numpy is imported where a distribution is drawn, not to read a scenario
    import numpy as np

    from meshsim.random import Draw


class _Dist(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        allow_inf_nan=False,
        json_schema_extra=quantity.schema_spellings,
    )

    @model_validator(mode="wrap")
    @classmethod
    def _quantities(cls, data: object, handler: ModelWrapValidatorHandler) -> object:
        """``mean: 2ms`` for ``mean_ms: 2`` (see ``meshsim.quantity``)."""
        return quantity.spelled_as_quantities(data, cls, handler)

    @property
    def mean_s(self) -> float:
        raise NotImplementedError

    @property
    def variance_s2(self) -> float:
        raise NotImplementedError

    def draw(self) -> Draw:
        """A vectorised draw in seconds: (rng, n) -> array of n samples."""
        raise NotImplementedError


class Constant(_Dist):
    """Always the same duration."""

    type: Literal["constant"] = "constant"
    value_ms: float = Field(ge=0, description="the duration, ms")

    @property
    def mean_s(self) -> float:
        return self.value_ms * S_PER_MS

    @property
    def variance_s2(self) -> float:
        return 0.0

    def draw(self) -> Draw:
        import numpy as np

        value = self.mean_s
        return lambda rng, n: np.full(n, value)


class Exponential(_Dist):
    """Memoryless durations (coefficient of variation 1): the M in M/M/1."""

    type: Literal["exponential"] = "exponential"
    mean_ms: float = Field(gt=0, description="mean duration, ms")

    @property
    def mean_s(self) -> float:
        return self.mean_ms * S_PER_MS

    @property
    def variance_s2(self) -> float:
        return self.mean_s**2

    def draw(self) -> Draw:
        mean = self.mean_s
        return lambda rng, n: rng.exponential(mean, n)


class LogNormal(_Dist):
    """Right-skewed durations given by their mean and coefficient of variation."""

    type: Literal["lognormal"] = "lognormal"
    mean_ms: float = Field(gt=0, description="mean duration, ms")
    cv: float = Field(
        gt=0, le=1e6, description="coefficient of variation (standard deviation / mean)"
    )

    @property
    def mean_s(self) -> float:
        return self.mean_ms * S_PER_MS

    @property
    def variance_s2(self) -> float:
        return (self.cv * self.mean_s) ** 2

    def draw(self) -> Draw:
        sigma2 = math.log1p(self.cv**2)
        mu = math.log(self.mean_s) - sigma2 / 2
        sigma = math.sqrt(sigma2)
        return lambda rng, n: rng.lognormal(mu, sigma, n)


class Empirical(_Dist):
    """Durations from a measured histogram: bucket upper edges and counts, uniform inside."""

    type: Literal["empirical"] = "empirical"
    edges_ms: list[float] = Field(
        min_length=2, description="bucket edges, ms, increasing: n+1 edges for n buckets"
    )
    counts: list[float] = Field(min_length=1, description="samples (or weights) per bucket")

    @model_validator(mode="after")
    def _check(self) -> Empirical:
        if len(self.edges_ms) != len(self.counts) + 1:
            raise ValueError("edges_ms needs exactly one more entry than counts")
        if any(b <= a for a, b in zip(self.edges_ms, self.edges_ms[1:], strict=False)):
            raise ValueError("edges_ms must increase")
        if self.edges_ms[0] < 0 or any(c < 0 for c in self.counts) or sum(self.counts) <= 0:
            raise ValueError("edges must be >= 0 and counts >= 0 with a positive total")
        if not math.isfinite(sum(self.counts)):
            raise ValueError("counts must have a finite total")
        return self

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        import numpy as np

        edges = np.asarray(self.edges_ms) * S_PER_MS
        weights = np.asarray(self.counts, dtype=float)
        return edges[:-1], edges[1:], weights / weights.sum()

    @property
    def mean_s(self) -> float:
        lo, hi, p = self._arrays()
        return float((p * (lo + hi) / 2).sum())

    @property
    def variance_s2(self) -> float:
        lo, hi, p = self._arrays()
        second = (p * (lo**2 + lo * hi + hi**2) / 3).sum()
        return float(second - self.mean_s**2)

    def draw(self) -> Draw:
        lo, hi, p = self._arrays()
        cdf = p.cumsum()
        cdf[-1] = 1.0

        def draw(rng: np.random.Generator, n: int) -> np.ndarray:
            i = cdf.searchsorted(rng.random(n), side="right")
            return lo[i] + (hi[i] - lo[i]) * rng.random(n)

        return draw


def _number_is_constant(value: object) -> object:
    """A number is a constant in ms; a duration (``2ms``, ``250us``) a constant too."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"type": "constant", "value_ms": value}
    if isinstance(value, str):
        return {"type": "constant", "value_ms": quantity.in_unit(value, "_ms")}
    return value


_Tagged = Annotated[Constant | Exponential | LogNormal | Empirical, Field(discriminator="type")]
Distribution = Annotated[
    _Tagged,
    BeforeValidator(_number_is_constant, json_schema_input_type=float | str | _Tagged),
]
