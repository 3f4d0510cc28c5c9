"""The streaming histogram: bounded memory, mergeable, quantiles within its error bound."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meshsim.stats import RELATIVE_ERROR, Histogram, HopStats, confidence_interval


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.floats(min_value=1e-6, max_value=100.0), min_size=1, max_size=3000),
    q=st.sampled_from([0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0]),
)
def test_quantile_within_relative_error_of_the_exact_rank(values, q) -> None:
    h = Histogram()
    for v in values:
        h.record(v)
    (got,) = h.quantiles([q])
    exact = float(np.quantile(np.asarray(values), q, method="inverted_cdf"))
    assert got == pytest.approx(exact, rel=2 * RELATIVE_ERROR)
    assert h.count == len(values)
    assert h.mean() == pytest.approx(np.mean(values))


def test_merge_equals_recording_everything_in_one() -> None:
    rng = np.random.default_rng(3)
    a, b, both = Histogram(), Histogram(), Histogram()
    for i, v in enumerate(rng.lognormal(-6, 1, 20_000)):
        (a if i % 2 else b).record(v)
        both.record(v)
    a.merge(b)
    assert a.quantiles([0.5, 0.99]) == both.quantiles([0.5, 0.99])
    assert a.count == both.count


def test_memory_does_not_grow_with_values() -> None:
    h = Histogram()
    size = h.counts.nbytes
    for v in np.random.default_rng(1).exponential(0.01, 50_000):
        h.record(v)
    assert h.counts.nbytes == size
    assert len(h._buffer) < 4096


def test_confidence_interval_covers_mean() -> None:
    mean, lo, hi = confidence_interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and lo < 2.0 < hi
    assert np.isnan(confidence_interval([1.0])[1])


def test_a_hop_wait_is_never_below_zero() -> None:
    """A wait is elapsed time less busy time; float rounding can leave -1e-17 of it, which a
    table must not show as a negative wait."""
    stats = HopStats()
    stats.record_pairs([-7.9e-17, 1e-3, 2e-4, 1e-3])
    stats.record(-1e-18, 1e-3)
    assert stats.wait.minimum == 0.0
    assert stats.wait.mean() == pytest.approx(2e-4 / 3)
    assert stats.total.minimum == pytest.approx(1e-3)


def test_times_keeps_the_distribution_and_multiplies_the_counts() -> None:
    h = Histogram()
    for v in (1e-3, 2e-3, 5e-3, 5e-3):
        h.record(v)
    k = h.times(25)
    assert k.count == 100 and k.total == pytest.approx(25 * h.total)
    assert k.quantiles([0.5, 0.99]) == h.quantiles([0.5, 0.99])
    assert (k.minimum, k.maximum) == (h.minimum, h.maximum)
    assert h.count == 4  # the original is unchanged
