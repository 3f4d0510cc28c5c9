"""Sweep speed-up: the same sweep on 1 worker process and on 2, wall clock, from scratch.

Each measurement runs ``meshsim.sweep.run_sweep`` with the local executor into a fresh
directory (so nothing is skipped), and includes starting the worker processes. The two tables
must be identical apart from wall time, or the benchmark fails. A control measures the same
pool on a pure-Python CPU loop: on a machine shared with other work, it shows how much
parallelism the machine had to give at that moment. Run on demand::

    .venv/bin/python benchmarks/bench_sweep.py
    .venv/bin/python benchmarks/bench_sweep.py --duration-s 1 --out /tmp/sweep.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

import meshsim
from meshsim.sweep import build_sweep, run_sweep

ROOT = Path(__file__).resolve().parent.parent
GRIDS = ["mesh.mode=none,sidecar,ambient,waypoint", "workload.generator.connections=1,4,16,64"]
UNITS = {
    "wall_s": "wall-clock seconds for the whole sweep, including starting worker processes",
    "tasks": "(point, replication) simulations in the sweep",
    "speedup": "wall_s with 1 worker / wall_s with N workers (best of the repeats)",
    "control_wall_s": "wall seconds of 16 equal pure-Python CPU loops on the same pool sizes",
    "control_speedup": "control_wall_s with 1 worker / with N workers (best of the repeats)",
    "load_average_1min": "the machine's 1-minute load average just before each measurement",
    "workers_cpu_s": "CPU seconds the worker processes used (user + system)",
    "parallelism": "workers_cpu_s / wall_s: cores the sweep kept busy on average",
}


def _burn(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def control(workers: int, tasks: int = 16, size: int = 2_000_000) -> float:
    """Wall seconds for ``tasks`` equal CPU-bound loops on a pool of ``workers`` processes."""
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(_burn, [size] * tasks))
    return time.perf_counter() - started


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # reaped worker processes
    return usage.ru_utime + usage.ru_stime


def measure(workers: int, args: argparse.Namespace) -> tuple[float, float, pd.DataFrame]:
    sweep = build_sweep(
        args.scenario,
        GRIDS,
        [f"workload.duration_s={args.duration_s}", "workload.warmup_s=0.1"],
        replications=1,
    )
    with tempfile.TemporaryDirectory() as out:
        cpu = _children_cpu_s()
        started = time.perf_counter()
        table = run_sweep(sweep, out, "local", workers=workers, progress=False)
        wall = time.perf_counter() - started
        return wall, _children_cpu_s() - cpu, table.drop(columns=["wall_time_s"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "fortio-2pod.yaml"))
    ap.add_argument("--duration-s", type=float, default=4.0, help="simulated seconds per task")
    ap.add_argument("--workers", type=int, default=2, help="compared against 1 worker")
    ap.add_argument("--repeat", type=int, default=1, help="alternate runs; keep the fastest")
    ap.add_argument("--out", help="write the figures, units and provenance as JSON here")
    args = ap.parse_args()
    walls: dict[int, list[float]] = {1: [], args.workers: []}
    loads: dict[int, list[float]] = {1: [], args.workers: []}
    cpus: dict[int, list[float]] = {1: [], args.workers: []}
    controls: dict[int, list[float]] = {1: [], args.workers: []}
    tables = {}
    for _ in range(args.repeat):
        for n in walls:
            loads[n].append(round(os.getloadavg()[0], 2))
            controls[n].append(control(n))
            wall, cpu, tables[n] = measure(n, args)
            walls[n].append(wall)
            cpus[n].append(cpu)
            print(
                f"workers={n}: {wall:.2f} s for {len(tables[n])} tasks, workers' CPU {cpu:.2f} s, "
                f"parallelism {cpu / wall:.2f} (load average before: {loads[n][-1]}); "
                f"control {controls[n][-1]:.2f} s",
                flush=True,
            )
    pd.testing.assert_frame_equal(tables[1], tables[args.workers])
    best = {n: min(w) for n, w in walls.items()}
    speedup = best[1] / best[args.workers]
    control_speedup = min(controls[1]) / min(controls[args.workers])
    print(
        f"speed-up on {args.workers} workers vs 1: {speedup:.2f}x (identical tables); "
        f"control (pure CPU loop): {control_speedup:.2f}x"
    )
    if args.out:
        doc = {
            "benchmark": "bench_sweep",
            "units": UNITS,
            "provenance": {
                "scenario": args.scenario,
                "meshsim": str(Path(meshsim.__file__).parent),
                "grid": GRIDS,
                "duration_s": args.duration_s,
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
            "tasks": len(tables[1]),
            "wall_s": {str(n): [round(w, 3) for w in ws] for n, ws in walls.items()},
            "load_average_1min": {str(n): ls for n, ls in loads.items()},
            "workers_cpu_s": {str(n): [round(c, 3) for c in cs] for n, cs in cpus.items()},
            "parallelism": {
                str(n): [round(c / w, 3) for c, w in zip(cpus[n], walls[n], strict=True)]
                for n in walls
            },
            "speedup": round(speedup, 3),
            "control_wall_s": {str(n): [round(c, 3) for c in cs] for n, cs in controls.items()},
            "control_speedup": round(control_speedup, 3),
        }
        Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
