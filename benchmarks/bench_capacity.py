"""Capacity search: DES-only against hybrid (analytic bracket, DES confirmation), one process.

The same ``meshsim.capacity.capacity`` call as ``meshsim capacity SCENARIO`` (every mode, the
scenario's ``cost.slo``, 2,000 requests per DES run, tolerance 2 %), timed three ways one
after the other: DES-only, hybrid in this process, hybrid on ``--workers`` worker processes.
The two hybrid runs must give identical answers (the search is deterministic), or the
benchmark fails. Besides wall time it counts what does not depend on the machine's load: DES
runs and simulated requests (warm-up included) per mode. Run on demand::

    .venv/bin/python benchmarks/bench_capacity.py
    .venv/bin/python benchmarks/bench_capacity.py --modes none,sidecar --out /tmp/cap.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import meshsim
from meshsim.capacity import capacity
from meshsim.domain import MODES
from meshsim.loader import LoadedScenario

ROOT = Path(__file__).resolve().parent.parent
UNITS = {
    "wall_s": "wall-clock seconds for the whole search (every mode)",
    "speedup": "DES-only wall_s / hybrid wall_s, measured in this process",
    "max_rate_rps": "highest entry rate meeting the SLO, requests/s, per mode",
    "relative_difference": "hybrid max_rate_rps / DES-only max_rate_rps - 1, per mode",
    "des_runs": "DES simulations run, per mode",
    "simulated_requests": "requests the DES simulated (warm-up included), per mode",
    "analytic_rps": "the analytic engine's answer, requests/s, per mode (hybrid only)",
    "load_average_1min": "the machine's 1-minute load average just before the measurement",
}


def measure(loaded: LoadedScenario, args: argparse.Namespace, **how: object) -> dict:
    load = round(os.getloadavg()[0], 2)
    started = time.perf_counter()
    _, caps = capacity(
        loaded,
        args.slo or loaded.scenario.cost.slo,
        args.modes.split(","),
        requests_per_point=args.requests_per_point,
        rel_tol=args.tolerance,
        **how,  # type: ignore[arg-type]
    )
    wall = time.perf_counter() - started
    return {
        "wall_s": round(wall, 3),
        "load_average_1min": load,
        "max_rate_rps": {m: c.max_rate_rps for m, c in caps.items()},
        "first_failing_rps": {m: c.first_failing_rps for m, c in caps.items()},
        "des_runs": {m: len(c.points) for m, c in caps.items()},
        "simulated_requests": {m: c.simulated_requests for m, c in caps.items()},
        "analytic_rps": {m: c.analytic_rps for m, c in caps.items()},
    }


def _commit() -> str:
    proc = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() or "unknown"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "quickstart.yaml"))
    ap.add_argument("--slo", help="default: the scenario's cost.slo")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--requests-per-point", type=int, default=2000)
    ap.add_argument("--tolerance", type=float, default=0.02)
    ap.add_argument("--workers", type=int, default=2, help="the parallel hybrid run's (1: none)")
    ap.add_argument("--out", help="write the figures, units and provenance as JSON here")
    args = ap.parse_args()
    loaded = meshsim.load(args.scenario)
    runs = {
        "des": measure(loaded, args, engine="des"),
        "hybrid": measure(loaded, args, engine="hybrid"),
    }
    if args.workers > 1:
        parallel = measure(loaded, args, engine="hybrid", workers=args.workers)
        runs[f"hybrid_{args.workers}_workers"] = parallel
        for key in ("max_rate_rps", "first_failing_rps", "simulated_requests"):
            assert runs["hybrid"][key] == parallel[key], f"{key} differs on {args.workers} workers"
    des, hybrid = runs["des"], runs["hybrid"]
    diff = {m: hybrid["max_rate_rps"][m] / r - 1 for m, r in des["max_rate_rps"].items() if r}
    for name, run in runs.items():
        print(
            f"{name:18s} {run['wall_s']:7.2f} s (load average {run['load_average_1min']}), "
            f"{sum(run['des_runs'].values())} DES runs, "
            f"{sum(run['simulated_requests'].values()):,} simulated requests"
        )
    print("mode       DES-only rps  hybrid rps  difference  DES runs  simulated requests")
    for m, r in des["max_rate_rps"].items():
        print(
            f"{m:10s} {r:12,.1f} {hybrid['max_rate_rps'][m]:11,.1f} {diff.get(m, 0):+10.1%}"
            f"  {des['des_runs'][m]:>3} -> {hybrid['des_runs'][m]:<3}"
            f"  {des['simulated_requests'][m]:>7,} -> {hybrid['simulated_requests'][m]:,}"
        )
    speedup = des["wall_s"] / hybrid["wall_s"]
    parallel_speedup = des["wall_s"] / runs.get(f"hybrid_{args.workers}_workers", hybrid)["wall_s"]
    requests = sum(des["simulated_requests"].values()) / sum(hybrid["simulated_requests"].values())
    parallel_note = (
        f", hybrid on {args.workers} workers {parallel_speedup:.2f}x" if args.workers > 1 else ""
    )
    print(
        f"speed-up: hybrid {speedup:.2f}x{parallel_note}; simulated requests {requests:.2f}x "
        f"fewer; largest answer difference {max(abs(d) for d in diff.values()):.1%}"
    )
    if args.out:
        doc = {
            "benchmark": "bench_capacity",
            "units": UNITS,
            "provenance": {
                "scenario": args.scenario,
                "seed": loaded.scenario.sim.seed,
                "profile": loaded.scenario.mesh.profile,
                "slo": args.slo or loaded.scenario.cost.slo,
                "requests_per_point": args.requests_per_point,
                "tolerance": args.tolerance,
                "meshsim_version": meshsim.__version__,
                "commit": _commit(),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
            **runs,
            "relative_difference": diff,
            "speedup": round(speedup, 3),
            **(
                {f"speedup_{args.workers}_workers": round(parallel_speedup, 3)}
                if args.workers > 1
                else {}
            ),
            "simulated_requests_ratio": round(requests, 3),
        }
        Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
