"""The analytic engine against the DES, measured in one run: wall time per scenario, the fleet
comparison's wall time and peak memory, and hybrid against DES-only capacity searches.

    python benchmarks/bench_analytic.py [--skip-capacity] [--out benchmarks/results/analytic.json]

- **speed**: ``simulate`` of fortio-2pod and quickstart (sidecar, the scenario's own
  replications and duration) with each engine; the analytic time is the median of 5 solves
  (imports warmed by one solve first);
- **fleet**: ``meshsim compare scenarios/fleet.yaml --engine analytic --modes
  none,sidecar,ambient,waypoint`` in a child process under ``/usr/bin/time -v`` (wall time
  and maximum resident set size);
- **capacity**: ``meshsim.capacity.capacity`` on quickstart.yaml in every mode, DES-only then
  hybrid, with the answers and their ratio.

Figures go to benchmarks/README.md; the machine is shared, so run under ``nice`` and read
the wall times as upper ends.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"


def speed(name: str) -> dict:
    import meshsim

    loaded = meshsim.load(SCENARIOS / name)
    meshsim.simulate(loaded, engine="analytic")  # warm the imports
    times = []
    for _ in range(5):
        started = time.perf_counter()
        meshsim.simulate(loaded, engine="analytic")
        times.append(time.perf_counter() - started)
    started = time.perf_counter()
    meshsim.simulate(loaded)
    des = time.perf_counter() - started
    analytic = statistics.median(times)
    return {"des_s": des, "analytic_s": analytic, "ratio": des / analytic}


def fleet() -> dict:
    cmd = [
        "/usr/bin/time",
        "-v",
        sys.executable,
        "-m",
        "meshsim.cli",
        "compare",
        str(SCENARIOS / "fleet.yaml"),
        "--engine",
        "analytic",
        "--modes",
        "none,sidecar,ambient,waypoint",
        "--quiet",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    assert wall is not None
    hours, minutes, seconds = int(wall.group(1) or 0), int(wall.group(2)), float(wall.group(3))
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    user = re.search(r"User time \(seconds\): ([\d.]+)", proc.stderr)
    system = re.search(r"System time \(seconds\): ([\d.]+)", proc.stderr)
    assert rss and user and system
    return {
        "wall_s": hours * 3600 + minutes * 60 + seconds,
        "cpu_s": float(user.group(1)) + float(system.group(1)),
        "peak_rss_mib": int(rss.group(1)) / 1024,
        "table": proc.stdout,
    }


def capacity() -> dict:
    import meshsim
    from meshsim.capacity import capacity as search

    loaded = meshsim.load(SCENARIOS / "quickstart.yaml")
    slo = loaded.scenario.cost.slo
    out = {}
    for engine in ("des", "hybrid"):
        started = time.perf_counter()
        table, caps = search(loaded, slo, engine=engine)
        out[engine] = {
            "wall_s": time.perf_counter() - started,
            "max_rate_rps": dict(zip(table["mode"], table["max_rate_rps"], strict=True)),
            "des_runs": {m: len(c.points) for m, c in caps.items()},
            "analytic_rps": {m: c.analytic_rps for m, c in caps.items()},
        }
    out["speedup"] = out["des"]["wall_s"] / out["hybrid"]["wall_s"]
    out["answer_ratio"] = {
        m: out["hybrid"]["max_rate_rps"][m] / out["des"]["max_rate_rps"][m]
        for m in out["des"]["max_rate_rps"]
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/analytic.json"))
    ap.add_argument("--skip-capacity", action="store_true")
    ap.add_argument("--only", choices=["speed", "fleet", "capacity"], help="one part alone")
    args = ap.parse_args()
    out = Path(args.out)
    results: dict = json.loads(out.read_text()) if args.only and out.exists() else {}
    if args.only in (None, "speed"):
        results["speed"] = {}
    for name in ("fortio-2pod.yaml", "quickstart.yaml") if args.only in (None, "speed") else ():
        results["speed"][name] = speed(name)
        r = results["speed"][name]
        print(
            f"{name}: DES {r['des_s']:.2f} s, analytic {r['analytic_s'] * 1e3:.1f} ms, "
            f"{r['ratio']:.0f}x",
            flush=True,
        )
    if args.only in (None, "fleet"):
        results["fleet"] = fleet()
        f = results["fleet"]
        print(
            f"fleet compare (4 modes, analytic): {f['wall_s']:.1f} s wall, "
            f"{f['cpu_s']:.1f} s CPU, peak {f['peak_rss_mib']:.0f} MiB",
            flush=True,
        )
    if args.only == "capacity" or (args.only is None and not args.skip_capacity):
        results["capacity"] = capacity()
        c = results["capacity"]
        print(
            f"capacity quickstart: DES {c['des']['wall_s']:.1f} s, hybrid "
            f"{c['hybrid']['wall_s']:.1f} s ({c['speedup']:.1f}x); answers hybrid/DES "
            + ", ".join(f"{m} {v:.3f}" for m, v in c["answer_ratio"].items()),
            flush=True,
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
