"""Fixed-rate open-loop load with wrk + `open_loop.lua`, and the per-request results.

The driver picks a start instant on CLOCK_MONOTONIC (shared by every process on the machine),
hands it to the Lua script, and splits the schedule into warm-up (TLS handshakes, connection
set-up: excluded), the measured window, and a short tail that is discarded.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from real_bench.errors import BenchError


@dataclass
class Sample:
    thread: int
    intended_us: float
    sent_us: float
    done_us: float
    status: int


@dataclass
class LoadResult:
    samples: list[Sample]
    wrk_summary: dict[str, int] = field(default_factory=dict)


def lua_script() -> Path:
    return Path(str(resources.files("real_bench.local") / "open_loop.lua"))


def wrk_command(url: str, connections: int, duration_s: int, timeout_s: int = 5) -> list[str]:
    """One thread per connection: each Lua state then paces exactly one connection."""
    return ["wrk", "-t", str(connections), "-c", str(connections), "-d", f"{duration_s}s",
            "--timeout", f"{timeout_s}s", "-s", str(lua_script()), url]


def wrk_env(start_mono: float, rate: float, connections: int, out: Path,
            path: str) -> dict[str, str]:
    return {"RB_START": repr(start_mono), "RB_RATE": repr(float(rate)),
            "RB_CONNS": str(connections), "RB_OUT": str(out), "RB_PATH": path}


def plan_duration(lead_s: float, warmup_s: float, measure_s: float, tail_s: float) -> int:
    return math.ceil(lead_s + warmup_s + measure_s + tail_s)


def parse_output(path: Path) -> LoadResult:
    """Read the Lua script's per-request lines (see open_loop.lua)."""
    if not path.exists():
        raise BenchError(f"{path}: wrk wrote no results (see wrk.log beside it)")
    samples: list[Sample] = []
    summary: dict[str, int] = {}
    for line in path.read_text().splitlines():
        if line.startswith("# wrk"):
            for part in line.split()[2:]:
                k, v = part.split("=")
                summary[k] = int(v)
            continue
        f = line.split()
        samples.append(Sample(int(f[0]), float(f[2]), float(f[3]), float(f[4]), int(f[5])))
    return LoadResult(samples, summary)


def wait_until(t_mono: float) -> None:
    while (d := t_mono - time.monotonic()) > 0:
        time.sleep(min(d, 0.5))
