"""Closed-form queueing results that the simulator must reproduce (and the capacity search
can start from). Rates are per second, times in seconds."""

from __future__ import annotations

import math


def _stable(lam: float, capacity: float) -> None:
    if lam <= 0 or lam >= capacity:
        raise ValueError(f"unstable or empty queue: arrival rate {lam} vs capacity {capacity}")


def mm1_sojourn_mean(lam: float, mu: float) -> float:
    """Mean time in an M/M/1 system: 1 / (mu - lambda)."""
    _stable(lam, mu)
    return 1.0 / (mu - lam)


def mm1_sojourn_quantile(lam: float, mu: float, q: float) -> float:
    """M/M/1 time in system is exponential with rate mu - lambda (FCFS)."""
    _stable(lam, mu)
    return -math.log(1.0 - q) / (mu - lam)


def erlang_c(servers: int, offered: float) -> float:
    """Probability that an arrival waits in M/M/c, offered load a = lambda / mu (Erlang C)."""
    if offered >= servers:
        return 1.0
    term, total = 1.0, 1.0
    for k in range(1, servers):
        term *= offered / k
        total += term
    last = term * offered / servers / (1 - offered / servers)
    return last / (total + last)


def mmc_sojourn_mean(lam: float, mu: float, servers: int) -> float:
    """Mean time in an M/M/c system: 1/mu + C(c, a) / (c mu - lambda)."""
    _stable(lam, servers * mu)
    return 1.0 / mu + erlang_c(servers, lam / mu) / (servers * mu - lam)


def tandem_sojourn_mean(lam: float, mus: list[float]) -> float:
    """Jackson tandem of M/M/1 stations: the sum of the stations' mean sojourns."""
    return sum(mm1_sojourn_mean(lam, mu) for mu in mus)
