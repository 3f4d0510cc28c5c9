"""Per-process CPU and memory from /proc, and how busy the rest of the machine was.

CPU is utime+stime of the process (all threads) in clock ticks, differenced over the measured
window and expressed in millicores. Memory is VmRSS, sampled every `interval` s (max and mean).
Background CPU = the summed CPU time of every other process (kernel threads included) alive at
both ends of the window. Per-process times come from exact runtime; /proc/stat's machine-wide
counters are tick-sampled and undercount bursty network work (on this VM they reported less
busy time than our own processes used), so they are kept only as `machine_busy_mcores`.
On a shared machine background CPU is recorded with every run so noisy points can be
recognised, not silently trusted. Processes that start and end inside the window are missed.
"""

from __future__ import annotations

import os
import platform
import socket
import threading
import time
from dataclasses import dataclass, field

HZ = os.sysconf("SC_CLK_TCK")


def proc_ticks(pid: int) -> int | None:
    """utime + stime of a process (all its threads), in clock ticks; None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            data = fh.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def proc_rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def all_proc_ticks() -> dict[int, tuple[str, int]]:
    """pid -> (command name, utime+stime ticks) for every process on the machine."""
    out: dict[int, tuple[str, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                data = fh.read()
        except OSError:
            continue
        comm = data[data.index("(") + 1:data.rindex(")")]
        f = data[data.rindex(")") + 2:].split()
        out[int(entry.name)] = (comm, int(f[11]) + int(f[12]))
    return out


def machine_busy_ticks() -> tuple[int, int]:
    """(busy, total) ticks over all CPUs from the first line of /proc/stat."""
    with open("/proc/stat") as fh:
        vals = [int(v) for v in fh.readline().split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    total = sum(vals[:8])
    return total - idle, total


def busy_millicores(seconds: float = 1.0) -> float:
    """CPU used by every process on the machine except this one over the next `seconds`.

    Summed from per-process times, which the kernel derives from exact runtime; the machine-wide
    /proc/stat counters are tick-sampled and badly undercount short bursts (network servers).
    """
    me = os.getpid()
    a0, t0 = all_proc_ticks(), time.monotonic()
    time.sleep(seconds)
    a1, dt = all_proc_ticks(), time.monotonic() - t0
    ticks = sum(t - a0[p][1] for p, (_c, t) in a1.items() if p in a0 and p != me)
    return ticks / HZ / dt * 1000.0


def group_ticks(pids: list[int]) -> int | None:
    """Summed utime + stime of a group of processes; None if any of them is gone."""
    total = 0
    for pid in pids:
        t = proc_ticks(pid)
        if t is None:
            return None
        total += t
    return total


@dataclass
class Window:
    """CPU and memory of `pids` (name -> pid, or list of pids summed as one component) between
    `start()` and `stop()`."""

    pids: dict[str, int | list[int]]
    interval: float = 0.5
    cpu_mcores: dict[str, float] = field(default_factory=dict)
    rss_max: dict[str, float] = field(default_factory=dict)
    rss_mean: dict[str, float] = field(default_factory=dict)
    background_mcores: float = 0.0
    machine_mcores: float = 0.0
    top_others: list[tuple[str, float]] = field(default_factory=list)
    cpu_by_pid: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.groups = {n: ([p] if isinstance(p, int) else list(p)) for n, p in self.pids.items()}

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._ticks0 = {n: group_ticks(g) for n, g in self.groups.items()}
        self._pid_ticks0 = {p: proc_ticks(p) for g in self.groups.values() for p in g}
        self._busy0, _ = machine_busy_ticks()
        self._all0 = all_proc_ticks()
        self._rss: dict[str, list[float]] = {n: [] for n in self.groups}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            for n, g in self.groups.items():
                rss = [proc_rss_mib(p) for p in g]
                if all(r is not None for r in rss):
                    self._rss[n].append(sum(r for r in rss if r is not None))
            self._stop.wait(self.interval)

    def stop(self) -> None:
        dt = time.monotonic() - self._t0
        busy1, _ = machine_busy_ticks()
        all1 = all_proc_ticks()
        for n, g in self.groups.items():
            t0, t1 = self._ticks0.get(n), group_ticks(g)
            if t0 is not None and t1 is not None:
                self.cpu_mcores[n] = (t1 - t0) / HZ / dt * 1000.0
        for p, t0 in self._pid_ticks0.items():
            t1 = proc_ticks(p)
            if t0 is not None and t1 is not None:
                self.cpu_by_pid[p] = (t1 - t0) / HZ / dt * 1000.0
        self._stop.set()
        self._thread.join()
        for n, vals in self._rss.items():
            if vals:
                self.rss_max[n] = max(vals)
                self.rss_mean[n] = sum(vals) / len(vals)
        mine = {p for g in self.groups.values() for p in g} | {os.getpid()}  # driver included
        others: dict[str, int] = {}
        for pid, (comm, ticks) in all1.items():
            if pid in mine or pid not in self._all0:
                continue
            others[comm] = others.get(comm, 0) + ticks - self._all0[pid][1]
        self.top_others = [(c, round(t / HZ / dt * 1000.0, 1)) for c, t in
                           sorted(others.items(), key=lambda kv: -kv[1])[:5] if t > 0]
        self.background_mcores = sum(others.values()) / HZ / dt * 1000.0
        self.machine_mcores = (busy1 - self._busy0) / HZ / dt * 1000.0


def host_facts() -> dict[str, object]:
    model = None
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"hostname": socket.gethostname(), "cpu_model": model, "cores": os.cpu_count(),
            "kernel": platform.release()}
