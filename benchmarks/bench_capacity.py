"""Capacity search: DES-only against hybrid (analytic bracket, DES confirmation), one process.

The same ``meshsim.capacity.capacity`` call as ``meshsim capacity SCENARIO`` (every mode, the
scenario's ``cost.slo``, 2,000 requests per DES run, tolerance 2 %), timed three ways one
after the other: DES-only, hybrid in this process, hybrid on ``--workers`` worker processes.
The two hybrid runs must give identical answers (the search is deterministic), or the
benchmark fails. Besides wall time it counts what does not depend on the machine's load: DES
runs and simulated requests (warm-up included) per mode. Run on demand::

    .venv/bin/python benchmarks/bench_capacity.py
    .venv/bin/python benchmarks/bench_capacity.py --modes none,sidecar --out /tmp/cap.json
    .venv/bin/python benchmarks/bench_capacity.py --before /work/wt/e5-before --repeat 3

``--before DIR`` measures instead the command itself against another checkout's (e.g.
``git worktree add /work/wt/e5-before 7956e50``, the DES-only search on the old engine):
``meshsim capacity SCENARIO`` as that checkout has it (its default modes and options) and as
this one has it, restricted to the same modes, each in a subprocess (interpreter start and
imports included, as a user would pay them), alternating, ``--repeat`` rounds, the best wall
time of each kept. Both searches are deterministic: their answers must not change between
rounds, or the benchmark fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import meshsim
from meshsim.capacity import TOLERANCE, capacity
from meshsim.domain import MODES
from meshsim.loader import LoadedScenario

ROOT = Path(__file__).resolve().parent.parent
MESHSIM = "import sys; from meshsim.cli import main; sys.exit(main())"  # `meshsim` of PYTHONPATH
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


def command_run(src: Path, scenario: str, modes: list[str] | None) -> dict:
    """``meshsim capacity SCENARIO`` with checkout ``src``'s meshsim, timed in a subprocess;
    its answers read back from the ``capacity.csv`` it writes."""
    import pandas as pd

    with tempfile.TemporaryDirectory() as out:
        argv = ["capacity", scenario, "--quiet", "--out", out]
        argv += ["--modes", ",".join(modes)] if modes else []
        load = round(os.getloadavg()[0], 2)
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", MESHSIM, *argv],
            env={**os.environ, "PYTHONPATH": str(src)},
            cwd=src,
            capture_output=True,
            text=True,
            check=True,
        )
        wall = time.perf_counter() - started
        table = pd.read_csv(Path(out) / "capacity.csv", comment="#")
    return {
        "wall_s": round(wall, 3),
        "load_average_1min": load,
        "max_rate_rps": dict(zip(table["mode"], table["max_rate_rps"].astype(float), strict=True)),
        "runs": dict(zip(table["mode"], table["runs"].astype(int), strict=True)),
    }


def before_main(args: argparse.Namespace) -> int:
    """This checkout's ``meshsim capacity`` against ``args.before``'s, alternating rounds."""
    before_src = Path(args.before).resolve()
    scenario = str(Path(args.scenario).resolve().relative_to(ROOT))
    rounds: dict[str, list[dict]] = {"before": [], "after": []}
    modes: list[str] | None = None
    for k in range(args.repeat):
        order = ("before", "after") if k % 2 == 0 else ("after", "before")
        for name in order:
            src = before_src if name == "before" else ROOT
            run = command_run(src, scenario, None if name == "before" else modes)
            modes = modes or list(run["max_rate_rps"])
            rounds[name].append(run)
            print(
                f"round {k + 1} {name:6s} {run['wall_s']:7.2f} s "
                f"(load average {run['load_average_1min']})",
                flush=True,
            )
    for name, runs in rounds.items():
        for run in runs[1:]:
            assert run["max_rate_rps"] == runs[0]["max_rate_rps"], f"{name}: answers moved"
    best = {name: min(runs, key=lambda r: r["wall_s"]) for name, runs in rounds.items()}
    old, new = best["before"], best["after"]
    diff = {m: new["max_rate_rps"][m] / r - 1 for m, r in old["max_rate_rps"].items() if r}
    speedup = old["wall_s"] / new["wall_s"]
    print("mode       before rps  after rps  difference  runs")
    for m, r in old["max_rate_rps"].items():
        print(
            f"{m:10s} {r:10,.1f} {new['max_rate_rps'][m]:10,.1f} {diff.get(m, 0):+10.1%}"
            f"  {old['runs'][m]:>3} -> {new['runs'][m]}"
        )
    print(
        f"best of {args.repeat}: before {old['wall_s']:.2f} s, after {new['wall_s']:.2f} s: "
        f"{speedup:.2f}x faster; largest answer difference "
        f"{max(abs(d) for d in diff.values()):.1%}"
    )
    if args.out:
        doc = {
            "benchmark": "bench_capacity --before",
            "units": {
                **UNITS,
                "wall_s": "wall-clock seconds of the whole command in a subprocess (best of "
                "the rounds), interpreter start and imports included",
                "speedup": "before wall_s / after wall_s, best of each, alternating rounds",
                "relative_difference": "after max_rate_rps / before max_rate_rps - 1, per mode",
                "runs": "DES (or analytic-confirmed DES) runs per mode, from capacity.csv",
            },
            "provenance": {
                "scenario": scenario,
                "command": f"meshsim capacity {scenario} (after: --modes {','.join(modes or [])})",
                "before_commit": _commit(before_src),
                "after_commit": _commit(ROOT),
                "meshsim_version": meshsim.__version__,
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "nice": os.nice(0),
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
            "rounds": rounds,
            "before": old,
            "after": new,
            "relative_difference": diff,
            "speedup": round(speedup, 3),
        }
        Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


def agreement_main(args: argparse.Namespace) -> int:
    """The answers, not the time: per seed and mode, the DES-only search to the reference
    tolerance with every run to its end and with early stops (``stop_early``; the answers must
    be identical), and the hybrid to ``--tolerance`` (its answer must lie within that
    tolerance below the reference one: bisection nests)."""
    loaded = meshsim.load(args.scenario)
    slo = args.slo or loaded.scenario.cost.slo
    seed = loaded.scenario.sim.seed
    rows, failures = [], []
    print("seed mode      reference  early stops  hybrid   difference  simulated requests")
    for k in range(args.agreement):
        for mode in args.modes.split(","):
            scenario = loaded.replace(mesh={"mode": mode}, sim={"seed": seed + k})
            how = {"requests_per_point": args.requests_per_point, "workers": 1}
            runs = {}
            for name, engine, tol, early in (
                ("reference", "des", args.reference_tolerance, False),
                ("early_stops", "des", args.reference_tolerance, True),
                ("hybrid", "hybrid", args.tolerance, True),
            ):
                started = time.perf_counter()
                _, caps = capacity(
                    scenario, slo, [mode], rel_tol=tol, engine=engine, stop_early=early, **how
                )
                cap = caps[mode]
                runs[name] = {
                    "max_rate_rps": cap.max_rate_rps,
                    "first_failing_rps": cap.first_failing_rps,
                    "des_runs": len(cap.points),
                    "simulated_requests": cap.simulated_requests,
                    "wall_s": round(time.perf_counter() - started, 3),
                }
            ref, early, hybrid = (runs[n]["max_rate_rps"] for n in runs)
            diff = hybrid / ref - 1 if ref else 0.0
            answer = ("max_rate_rps", "first_failing_rps")
            if any(runs["early_stops"][key] != runs["reference"][key] for key in answer):
                failures.append(f"seed {seed + k} {mode}: early stops moved the answer")
            if not -args.tolerance <= diff <= 1e-12:
                failures.append(f"seed {seed + k} {mode}: hybrid {diff:+.1%} off the reference")
            print(
                f"{seed + k:4d} {mode:9s} {ref:9,.1f} {early:11,.1f} {hybrid:8,.1f} {diff:+10.1%}"
                f"  {runs['reference']['simulated_requests']:,} / "
                f"{runs['early_stops']['simulated_requests']:,} / "
                f"{runs['hybrid']['simulated_requests']:,}",
                flush=True,
            )
            rows.append({"seed": seed + k, "mode": mode, **runs, "relative_difference": diff})
    if args.out:
        doc = {
            "benchmark": "bench_capacity --agreement",
            "units": {
                **UNITS,
                "relative_difference": "hybrid max_rate_rps / reference max_rate_rps - 1",
                "wall_s": "wall-clock seconds of one mode's search, one process",
            },
            "provenance": {
                "scenario": args.scenario,
                "seeds": [seed + k for k in range(args.agreement)],
                "profile": loaded.scenario.mesh.profile,
                "slo": slo,
                "requests_per_point": args.requests_per_point,
                "reference_tolerance": args.reference_tolerance,
                "hybrid_tolerance": args.tolerance,
                "meshsim_version": meshsim.__version__,
                "commit": _commit(),
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            },
            "searches": rows,
        }
        Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {args.out}")
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


def _commit(root: Path = ROOT) -> str:
    proc = subprocess.run(
        ["git", "-C", str(root), "describe", "--always", "--dirty"],
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
    ap.add_argument("--tolerance", type=float, default=TOLERANCE)
    ap.add_argument(
        "--agreement",
        type=int,
        metavar="SEEDS",
        help="check answers instead of timing: DES-only to --reference-tolerance (runs to the "
        "end, then with early stops) against the hybrid, seeds seed.. seed+SEEDS-1",
    )
    ap.add_argument("--reference-tolerance", type=float, default=0.02)
    ap.add_argument("--workers", type=int, default=2, help="the parallel hybrid run's (1: none)")
    ap.add_argument("--out", help="write the figures, units and provenance as JSON here")
    ap.add_argument("--before", help="another checkout's root: time the command against it")
    ap.add_argument("--repeat", type=int, default=3, help="--before: rounds, best kept")
    args = ap.parse_args()
    if args.before:
        return before_main(args)
    if args.agreement:
        return agreement_main(args)
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
