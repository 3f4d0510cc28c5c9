"""Peak memory of one long run, at two sizes: does memory stay flat as requests grow?

Statistics are streamed into bounded histograms while the simulation runs, so a run of
1,000,000 requests should need about what a run of 100,000 needs. Each size runs in a fresh
subprocess, so one run's peak cannot hide another's. Reported: the process's peak resident set
(``ru_maxrss``), the resident set after imports and loading (the baseline), and their
difference (what the run itself added). Run on demand, never in the test suite::

    .venv/bin/python benchmarks/bench_memory.py                      # 100k and 1M requests
    .venv/bin/python benchmarks/bench_memory.py --sizes 10000 100000 --out /tmp/memory.json

``--pods 8 32 128`` instead measures what the engine compiles as pods grow: a front service
calling a back service, each with that many replicas on 8 nodes, in sidecar mode, 20,000
requests; reported per size are the compiled legs, cached routes, random streams and
balancers, and the Python heap the engine still holds after the run (tracemalloc).
``--src DIR`` runs those children against another checkout's meshsim (before/after).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SCENARIO = ROOT / "scenarios" / "fortio-2pod.yaml"
KIB_PER_MIB = 1024
UNITS = {
    "requests": "requests the load generator sends (workload.requests)",
    "baseline_rss_mib": "MiB resident after imports and loading, before the run",
    "peak_rss_mib": "MiB, peak resident set of the process (getrusage ru_maxrss)",
    "run_added_mib": "MiB, peak_rss_mib - baseline_rss_mib",
    "tracemalloc_peak_mib": "MiB, peak Python heap traced during the run (only with --tracemalloc)",
    "wall_s": "wall-clock seconds of the run",
}


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KIB_PER_MIB  # Linux: KiB


def child(scenario: str, requests: int, mode: str, trace: bool) -> dict[str, Any]:
    """One run in this process; returns its figures."""
    import tracemalloc

    from meshsim.loader import load_scenario
    from meshsim.simulate import run_replication

    loaded = load_scenario(
        scenario,
        [
            "workload.duration_s=null",
            f"workload.requests={requests}",
            "workload.warmup_s=0",
            f"mesh.mode={mode}",
            "sim.replications=1",
        ],
    )
    baseline = _peak_rss_mib()
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    rep = run_replication(loaded, 0)
    wall = time.perf_counter() - started
    traced = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
    peak = _peak_rss_mib()
    return {
        "requests": requests,
        "completed": rep.completed,
        "baseline_rss_mib": round(baseline, 1),
        "peak_rss_mib": round(peak, 1),
        "run_added_mib": round(peak - baseline, 1),
        "tracemalloc_peak_mib": None if traced is None else round(traced, 1),
        "wall_s": round(wall, 1),
        "latency_p99_ms": round(rep.latency_ms()["p99"], 4),
    }


def pods_child(replicas: int) -> dict[str, Any]:
    """One run of the two-tier scenario with ``replicas`` pods per service, in this process."""
    import tempfile
    import tracemalloc

    from meshsim.engine import Engine
    from meshsim.loader import load_scenario

    text = (
        "cluster: {nodes: [{name: node, count: 8, cores: 16}]}\n"
        "services:\n"
        f"  front: {{replicas: {replicas}, calls: [{{service: back}}]}}\n"
        f"  back: {{replicas: {replicas}}}\n"
        "workload: {entry: front, generator: {type: open, rate_rps: 4000}, requests: 20000,"
        " warmup_s: 0}\n"
        "mesh: {mode: sidecar}\nsim: {replications: 1}\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "two-tier.yaml"
        path.write_text(text)
        loaded = load_scenario(path)
    tracemalloc.start()
    engine = Engine(loaded, 0)
    rec = engine.run()
    held = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    samplers = getattr(engine.streams, "_samplers", {})
    return {
        "replicas": replicas,
        "completed": rec.completed,
        "legs": len(engine._legs),
        "routes": len(engine.topo._routes),
        "streams": len(samplers),
        "balancers": len(engine.balancing._balancers),
        "engine_heap_mib": round(held, 2),
    }


def pods_main(sizes: list[int], src: str | None) -> None:
    env = {**__import__("os").environ, **({"PYTHONPATH": src} if src else {})}
    print(f"meshsim from {src or ROOT}")
    for size in sizes:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--pods-child", str(size)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env, cwd="/")
        print(done.stdout.strip().splitlines()[-1], flush=True)


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=str(DEFAULT_SCENARIO))
    ap.add_argument("--mode", default="sidecar", help="mesh.mode for the run")
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--tracemalloc", action="store_true", help="also trace the Python heap")
    ap.add_argument("--out", help="write the figures, units and provenance as JSON here")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--pods", type=int, nargs="+", help="replicas per service, one run each")
    ap.add_argument("--src", help="with --pods: another checkout's root")
    ap.add_argument("--pods-child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.pods_child is not None:
        print(json.dumps(pods_child(args.pods_child)))
        return 0
    if args.pods:
        pods_main(args.pods, args.src)
        return 0
    if args.child is not None:
        print(json.dumps(child(args.scenario, args.child, args.mode, args.tracemalloc)))
        return 0
    rows = []
    for size in args.sizes:
        cmd = [sys.executable, __file__, "--child", str(size), "--scenario", args.scenario]
        cmd += ["--mode", args.mode] + (["--tracemalloc"] if args.tracemalloc else [])
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(json.dumps(row), flush=True)
    small, large = rows[0], rows[-1]
    ratios = {
        "peak_rss_ratio": round(large["peak_rss_mib"] / small["peak_rss_mib"], 3),
        "run_added_ratio": (
            round(large["run_added_mib"] / small["run_added_mib"], 3)
            if small["run_added_mib"] > 0
            else None
        ),
        "requests_ratio": large["requests"] / small["requests"],
    }
    print(
        f"peak RSS: {small['peak_rss_mib']} MiB at {small['requests']:,} requests, "
        f"{large['peak_rss_mib']} MiB at {large['requests']:,}: "
        f"ratio {ratios['peak_rss_ratio']} (the run itself added {small['run_added_mib']} "
        f"and {large['run_added_mib']} MiB)"
    )
    if args.out:
        doc = {
            "benchmark": "bench_memory",
            "units": UNITS,
            "provenance": {
                "scenario": str(Path(args.scenario).resolve().relative_to(ROOT))
                if Path(args.scenario).resolve().is_relative_to(ROOT)
                else args.scenario,
                "mode": args.mode,
                "git_commit": _git_commit(),
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cpus": __import__("os").cpu_count(),
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
            "runs": rows,
            "ratios": ratios,
        }
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
