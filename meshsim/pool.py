"""A pool of identical servers (CPU cores, worker threads) with a first-come-first-served queue.

It behaves as ``simpy.Resource`` does, but a grant that needs no waiting costs no event at all,
and a release hands the server straight to the next waiter. The engine makes several of these
grants per hop, so this is where most of the speed is won (see benchmarks/).
"""

from __future__ import annotations

from collections import deque

import simpy


class Pool:
    __slots__ = ("busy", "capacity", "env", "name", "waiting")

    def __init__(self, env: simpy.Environment, capacity: int, name: str = "") -> None:
        if capacity < 1:
            raise ValueError("a pool needs at least one server")
        self.env = env
        self.capacity = capacity
        self.name = name
        self.busy = 0
        self.waiting: deque[simpy.Event] = deque()

    def acquire(self) -> simpy.Event | None:
        """Take a server: None when one was free, else an event that fires when granted."""
        if self.busy < self.capacity:
            self.busy += 1
            return None
        granted = simpy.Event(self.env)
        self.waiting.append(granted)
        return granted

    def take(self, waiter: simpy.Event) -> bool:
        """Take a server for ``waiter``: True when one was free, else False and the waiter's
        ``succeed()`` is called when it is granted (``calls.Waiter``: no Event to create)."""
        if self.busy < self.capacity:
            self.busy += 1
            return True
        self.waiting.append(waiter)
        return False

    def release(self) -> None:
        """Give the server back, or straight to the longest waiter."""
        if self.waiting:
            self.waiting.popleft().succeed()
        else:
            self.busy -= 1
